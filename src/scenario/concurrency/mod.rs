//! `wprof record concurrency`: a plugin's requests from N threads at once,
//! under several host designs (a fresh instance per request, the pooling
//! allocator with and without copy-on-write, a Wizer snapshot, one
//! instance per thread, a shared pool) against the native build on the
//! same threads. Every design at every thread count runs once per round,
//! in a rotating order; throughput, latency, efficiency against the fewest
//! threads and the per-request counters behind them (page faults, context
//! switches, mmap and friends, TLB shootdowns) name where each design
//! stops scaling, and why.

mod counters;
mod design;
mod hosts;
mod knee;
mod report;
mod slice;
mod workers;

use std::collections::BTreeMap;
use std::time::Duration;

pub use design::Design;
pub use knee::knees;

use crate::driver::Limits;
use crate::driver::call::{Json, Payload, Raw};
use crate::driver::wasmtime::Abi;
use crate::error::{Error, one_line};
use crate::inside::InsideConfig;
use crate::run::Run;
use crate::source::{InputSpec, PluginSpec};
use crate::timing::{Clock, ClockChoice, with_clock};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "concurrency";

/// The most threads a point may have.
pub const MAX_THREADS: u64 = 1024;

/// The most instances the shared pool may hold.
pub const MAX_POOL: usize = 1024;

/// Requests whose stamps are kept per design and thread count, over all
/// rounds and threads: enough for p99, bounded whatever the rate.
const ROWS_PER_POINT: usize = 20_000;

/// Settings of `record concurrency`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json.
    pub input: InputSpec,
    /// Thread counts, ascending. Default (empty): 1, 2, 4, ... up to twice
    /// the CPUs.
    pub threads: Vec<u64>,
    /// How long each design runs at each thread count, over all rounds.
    /// Default: 1 s.
    pub duration_per_point: Duration,
    /// Rounds the time is split into. Default: 5.
    pub rounds: u64,
    /// Designs to compare, in report order. Default: all of them.
    pub designs: Vec<Design>,
    /// Instances in the shared pool. Default: 10 (the reference study's).
    pub pool_size: usize,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Requests per thread drawn into the Chrome trace, from each point's
    /// last round. Default: 10.
    pub trace_calls: u64,
    /// What each store may grow to, and the per-request deadline.
    /// Default: [`Limits::default`].
    pub limits: Limits,
    /// `--sample host`: the host sampler over one more round at the most
    /// threads. Default: no sampling.
    pub inside: InsideConfig,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        ConcurrencyConfig {
            plugin: PluginSpec::default(),
            export: None,
            input: InputSpec::Default,
            threads: Vec::new(),
            duration_per_point: Duration::from_secs(1),
            rounds: 5,
            designs: Design::ALL.to_vec(),
            pool_size: 10,
            clock: ClockChoice::Auto,
            trace_calls: 10,
            limits: Limits::default(),
            inside: InsideConfig {
                counters: crate::inside::CounterChoice::None,
                ..InsideConfig::default()
            },
        }
    }
}

/// 1, 2, 4, ... up to twice `cpus` (which is included).
pub fn default_threads(cpus: u64) -> Vec<u64> {
    let top = (2 * cpus).clamp(1, MAX_THREADS);
    let mut t: Vec<u64> = std::iter::successors(Some(1u64), |t| Some(t * 2))
        .take_while(|&t| t < top)
        .collect();
    t.push(top);
    t
}

/// Parses `--threads`: comma-separated counts from 1 to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let n: u64 = part
            .parse()
            .map_err(|_| format!("`{part}` is not a thread count"))?;
        if n == 0 {
            return Err("a thread count must be at least 1".into());
        }
        if n > MAX_THREADS {
            return Err(format!("{n} threads is over the cap of {MAX_THREADS}"));
        }
        out.push(n);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Runs the scenario.
pub fn run(cfg: &ConcurrencyConfig) -> Result<Run, Error> {
    super::run_plugin(cfg)
}

impl super::OnePlugin for ConcurrencyConfig {
    super::asked_from_fields!();

    fn check(&self) -> Result<(), Error> {
        if self.designs.is_empty() {
            return Err(Error::Config("--designs names no design".into()));
        }
        if self.pool_size == 0 || self.pool_size > MAX_POOL {
            return Err(Error::Config(format!(
                "--pool-size {} must be from 1 to {MAX_POOL}",
                self.pool_size
            )));
        }
        if self.inside.sample.guest {
            return Err(Error::Config(
                "record concurrency samples the host only (--sample host): the guest sampler's epoch ticks would be shared by every thread".into(),
            ));
        }
        self.clock.resolve().map(drop).map_err(Error::Config)
    }

    fn run_prepared<A: Abi>(&self, p: super::Prepared<A>) -> Result<Run, Error> {
        let kind = self.clock.resolve().map_err(Error::Config)?;
        let value = p.value.clone();
        with_clock!(kind, |clock| match &value {
            Some(v) => measure::<A, _, _>(self, &p, Json(v), clock),
            None => measure::<A, _, _>(self, &p, Raw(&p.input), clock),
        })
    }
}

/// The whole run on clock `C`, each request sending `input`.
fn measure<A: Abi, P: Payload + Sync, C: Clock>(
    cfg: &ConcurrencyConfig,
    p: &super::Prepared<A>,
    input: P,
    clock: C,
) -> Result<Run, Error> {
    let name = &p.plugin.name;
    let cpus = super::host_info().cpus;
    let threads = if cfg.threads.is_empty() {
        default_threads(cpus)
    } else {
        cfg.threads.clone()
    };
    let top = threads.last().copied().unwrap_or(1);
    let mut notes = Vec::new();
    let hosts = {
        let _stage = crate::stages::stage("set up the designs", 0, 0);
        hosts::set_up::<A>(cfg, p, top as u32, &mut notes)?
    };
    let plan = counters::Plan::probe();
    let stateful = hosts::stateful(p, input, cfg)?;
    if stateful {
        notes.push(format!(
            "{name} keeps state between calls (a second call on one instance answered differently): reuse's outputs are checked on each thread's first request only, shared-pool's not at all; a new instance per request is checked as usual"
        ));
    }
    let base = slice::Slice {
        plugin: name,
        clock,
        threads: 1,
        duration: cfg.duration_per_point / cfg.rounds.max(1) as u32,
        keep: 64,
        counters: &plan,
        expected: &p.first.output,
        check: (true, true),
        deadline: cfg.limits.deadline,
    };
    let origin = clock.now();
    // The same instant on the monotonic clock, for the samplers' times.
    let origin_instant = std::time::Instant::now();
    let mut acc: BTreeMap<(usize, usize), report::Acc> = BTreeMap::new();
    let mut incomplete = false;
    let slices = (threads.len() * hosts.len()) as u64;
    'rounds: for r in 0..cfg.rounds as usize {
        let _round = crate::stages::stage("round", r as u64 + 1, cfg.rounds);
        let mut j = 0;
        for (ti, &t) in threads.iter().enumerate() {
            for k in 0..hosts.len() {
                // Rotated each round: no design always runs first or
                // right after another.
                let hi = (k + r) % hosts.len();
                let h = &hosts[hi];
                j += 1;
                let _step = crate::stages::step(&format!("{} x{t}", h.design), j, slices);
                let s = h.checked(
                    slice::Slice {
                        threads: t as usize,
                        keep: (ROWS_PER_POINT / (cfg.rounds as usize * t as usize)).max(64),
                        ..base
                    },
                    stateful,
                );
                let ran = hosts::slice(h, &s, input, p, cfg).map_err(|f| {
                    Error::plugin(
                        name,
                        f.error.phase,
                        format!(
                            "{} at {t} thread{}: thread {} of {t}, request {}: {}",
                            h.design,
                            if t == 1 { "" } else { "s" },
                            f.thread + 1,
                            f.request + 1,
                            one_line(&f.error.error)
                        ),
                    )
                })?;
                acc.entry((hi, ti)).or_default().add(ran, r);
                if crate::interrupt::requested() {
                    incomplete = true;
                    break 'rounds;
                }
            }
        }
    }
    let profiles = if cfg.inside.sample.host && !incomplete {
        let base = slice::Slice {
            threads: top as usize,
            ..base
        };
        vec![hosts::sample(
            &hosts,
            cfg,
            p,
            input,
            base,
            stateful,
            origin_instant,
        )?]
    } else {
        Vec::new()
    };
    let mut run = report::assemble(report::Measured {
        cfg,
        plugin: p,
        hosts: &hosts,
        threads: &threads,
        cpus,
        acc,
        plan: &plan,
        clock_info: crate::timing::clock_info(&clock),
        ns_per_tick: clock.ns_per_tick(),
        origin,
    });
    run.notes.extend(notes);
    run.profiles = profiles;
    run.incomplete = incomplete;
    Ok(run)
}
