//! From the slices' raw counts and stamps to the run: each design at each
//! thread count as a point (throughput, efficiency, counters, footprint)
//! and as a variant (its request's phases), the knees, the summary table.

use std::collections::BTreeMap;

use serde_json::json;

use super::ConcurrencyConfig;
use super::counters::Plan;
use super::design::Design;
use super::hosts::Host;
use super::slice::SliceRun;
use crate::driver::wasmtime::Abi;
use crate::measure::interrupts;
use crate::phase::Phase;
use crate::run::{ClockInfo, Concurrency, Point, Run, Variant};
use crate::scenario::Prepared;
use crate::timing::pairing::paired_ratio;
use crate::timing::settle::{Track, phase_stats, spans};
use crate::units::fmt_bytes;

/// One design at one thread count, over the rounds so far.
/// One round's slice, summed over its threads.
#[derive(Debug, Clone, Copy)]
struct Round {
    requests: u64,
    ticks: u64,
    ran_ns: u64,
    waited_ns: u64,
}

pub struct Acc {
    /// Per round: requests, the window's ticks, and the threads' time on a
    /// CPU and waiting for one (ns; zero where unreadable).
    per_round: Vec<Option<Round>>,
    phases: &'static [Phase],
    /// Kept stamps, every round's and thread's.
    rows: Vec<u64>,
    counts: Vec<u64>,
    /// System-wide interrupts; none once a slice could not read them.
    irq: Option<[u64; 2]>,
    /// The largest growth of virtual and resident memory in a slice.
    grew: (i64, i64),
    pool: BTreeMap<String, u64>,
    /// The last round's stamps, thread by thread, for the trace.
    last: Vec<Vec<u64>>,
}

impl Default for Acc {
    /// Nothing yet; no slice has failed to read the interrupts.
    fn default() -> Acc {
        Acc {
            per_round: Vec::new(),
            phases: &[],
            rows: Vec::new(),
            counts: Vec::new(),
            irq: Some([0, 0]),
            grew: (0, 0),
            pool: BTreeMap::new(),
            last: Vec::new(),
        }
    }
}

impl Acc {
    /// Adds round `r`'s slice.
    pub fn add(&mut self, ran: SliceRun, r: usize) {
        let first = ran.threads.iter().map(|t| t.span.0).min().unwrap_or(0);
        let last = ran.threads.iter().map(|t| t.span.1).max().unwrap_or(0);
        let requests = ran.threads.iter().map(|t| t.requests).sum();
        if self.per_round.len() <= r {
            self.per_round.resize(r + 1, None);
        }
        let sched = ran.threads.iter().filter_map(|t| t.sched);
        let (ran_ns, waited_ns) = sched.fold((0, 0), |(a, b), (r, w)| (a + r, b + w));
        self.per_round[r] = Some(Round {
            requests,
            ticks: last.saturating_sub(first),
            ran_ns,
            waited_ns,
        });
        self.irq = self
            .irq
            .zip(ran.interrupts)
            .map(|(a, b)| [a[0] + b[0], a[1] + b[1]]);
        if let Some((v, res)) = ran.grew {
            self.grew = (self.grew.0.max(v), self.grew.1.max(res));
        }
        self.pool = ran.pool;
        self.last.clear();
        for t in ran.threads {
            self.phases = t.phases;
            if self.counts.len() < t.counts.len() {
                self.counts.resize(t.counts.len(), 0);
            }
            for (c, d) in self.counts.iter_mut().zip(&t.counts) {
                *c += d;
            }
            self.rows.extend_from_slice(&t.rows);
            self.last.push(t.rows);
        }
    }

    fn requests(&self) -> u64 {
        self.per_round.iter().flatten().map(|r| r.requests).sum()
    }

    /// The share of the threads' runnable time they waited for a CPU, in %.
    fn waited_pct(&self) -> Option<f64> {
        let (r, w) = self
            .per_round
            .iter()
            .flatten()
            .fold((0u64, 0u64), |(a, b), x| (a + x.ran_ns, b + x.waited_ns));
        (r + w > 0).then(|| 100.0 * w as f64 / (r + w) as f64)
    }

    /// Each round's requests per second (NaN for a round not run).
    fn rps(&self, rounds: usize, ns_per_tick: f64) -> Vec<f64> {
        (0..rounds)
            .map(|r| match self.per_round.get(r).copied().flatten() {
                Some(x) if x.ticks > 0 => x.requests as f64 / (x.ticks as f64 * ns_per_tick / 1e9),
                _ => f64::NAN,
            })
            .collect()
    }
}

/// Everything measured, for [`assemble`].
pub struct Measured<'a, A: Abi> {
    pub cfg: &'a ConcurrencyConfig,
    pub plugin: &'a Prepared<A>,
    pub hosts: &'a [Host<A>],
    pub threads: &'a [u64],
    pub cpus: u64,
    pub acc: BTreeMap<(usize, usize), Acc>,
    pub plan: &'a Plan,
    pub clock_info: ClockInfo,
    pub ns_per_tick: f64,
    pub origin: u64,
}

/// The run.
pub fn assemble<A: Abi>(m: Measured<'_, A>) -> Run {
    let cfg = m.cfg;
    let rounds = cfg.rounds as usize;
    let names = m.plan.names();
    let ideal = |t: u64| t.min(m.cpus.max(1)) as f64;
    let mut run = crate::scenario::new_run(super::NAME);
    let mut points = Vec::new();
    let native = m.hosts.iter().position(|h| h.design == Design::Native);
    let p = m.plugin;
    for (hi, h) in m.hosts.iter().enumerate() {
        for (ti, &t) in m.threads.iter().enumerate() {
            let Some(a) = m.acc.get(&(hi, ti)) else {
                continue;
            };
            let rps = a.rps(rounds, m.ns_per_tick);
            let requests = a.requests();
            let ticks: u64 = a.per_round.iter().flatten().map(|r| r.ticks).sum();
            let seconds = ticks as f64 * m.ns_per_tick / 1e9;
            let base = m.acc.get(&(hi, 0));
            let efficiency = base.filter(|_| ti > 0).and_then(|b| {
                let t0 = m.threads[0];
                let scaled: Vec<f64> = rps.iter().map(|r| r / (ideal(t) / ideal(t0))).collect();
                paired_ratio(&scaled, &b.rps(rounds, m.ns_per_tick))
            });
            let vs_native = native
                .filter(|&n| n != hi)
                .and_then(|n| m.acc.get(&(n, ti)))
                .and_then(|n| {
                    let inv = |v: Vec<f64>| v.into_iter().map(|r| 1.0 / r).collect::<Vec<_>>();
                    paired_ratio(&inv(rps.clone()), &inv(n.rps(rounds, m.ns_per_tick)))
                });
            let mut per_request: BTreeMap<String, f64> = BTreeMap::new();
            let per = |n: u64| n as f64 / requests.max(1) as f64;
            for (name, &c) in names.iter().zip(&a.counts) {
                per_request.insert((*name).to_owned(), per(c));
            }
            if let Some(irq) = a.irq.filter(|_| m.plan.interrupts) {
                for (name, c) in interrupts::NAMES.iter().zip(irq) {
                    per_request.insert((*name).to_owned(), per(c));
                }
            }
            let phases = phase_stats(&a.rows, a.phases, Phase::Request, m.ns_per_tick);
            let name = format!("{} x{t}", h.design);
            for (i, rows) in a.last.iter().enumerate() {
                run.timeline.extend(spans(
                    rows,
                    a.phases,
                    Track {
                        name: &format!("{name} · thread {}", i + 1),
                        whole: Phase::Request,
                        count: cfg.trace_calls,
                        origin: m.origin,
                        ns_per_tick: m.ns_per_tick,
                        bytes: (p.input.len() as u64, p.first.output.len() as u64),
                    },
                ));
            }
            let point = Point {
                design: h.design.to_string(),
                threads: t,
                requests,
                requests_per_s: if seconds > 0.0 {
                    requests as f64 / seconds
                } else {
                    0.0
                },
                per_round: rps,
                latency: phases.last().map(|w| w.stats.clone()),
                efficiency,
                vs_native,
                per_request,
                reserved_bytes: (h.footprint.0 + a.grew.0).max(0) as u64,
                resident_bytes: (h.footprint.1 + a.grew.1).max(0) as u64,
                pool: a.pool.clone(),
                waited_pct: a.waited_pct(),
            };
            run.variants.push(Variant {
                name,
                description: format!("{} ({t} threads)", h.design.description(cfg.pool_size)),
                phases,
                setup: if ti == 0 { h.setup.clone() } else { Vec::new() },
                module_bytes: h.module_bytes,
                facts: [
                    ("requests".to_owned(), json!(point.requests)),
                    ("requests_per_s".to_owned(), json!(point.requests_per_s)),
                    ("threads".to_owned(), json!(t)),
                ]
                .into_iter()
                .chain(
                    point
                        .pool
                        .iter()
                        .map(|(k, v)| (format!("pool_{k}"), json!(v))),
                )
                .collect(),
                ..Variant::default()
            });
            points.push(point);
        }
    }
    run.notes.extend(waited_warning(&points, m.cpus));
    let knees = super::knees(&points);
    // The designs that scale first: the answer a reader looks for, then
    // where each of the others stops, and why.
    let mut order: Vec<&crate::run::Knee> = knees.iter().collect();
    order.sort_by_key(|k| k.knee.is_some());
    run.verdicts = order.iter().map(|k| k.sentence.clone()).collect();
    run.summary = Some(summary(&points, &names, m.plan.interrupts));
    run.notes.extend(notes(m.plan, cfg, rounds));
    run.iterations = points.iter().map(|p| p.requests).max().unwrap_or(0);
    run.plugin = crate::scenario::info_of(
        &p.plugin,
        &p.export,
        p.input.len() as u64,
        p.first.output.len() as u64,
    );
    run.plugin.outputs_identical = m.hosts.iter().find_map(|h| {
        (h.design == Design::Native).then(|| h.expected.as_deref() == Some(&p.first.output[..]))
    });
    run.setup = p.setup.clone();
    run.clock = m.clock_info;
    run.settings = crate::scenario::settings([
        ("threads", json!(m.threads)),
        (
            "duration_per_point_s",
            json!(cfg.duration_per_point.as_secs_f64()),
        ),
        ("rounds", json!(cfg.rounds)),
        (
            "designs",
            json!(
                m.hosts
                    .iter()
                    .map(|h| h.design.as_str())
                    .collect::<Vec<_>>()
            ),
        ),
        ("pool_size", json!(cfg.pool_size)),
        ("cpus", json!(m.cpus)),
    ]);
    run.concurrency = Some(Concurrency {
        threads: m.threads.to_vec(),
        cpus: m.cpus,
        rounds: cfg.rounds,
        points,
        knees,
        unavailable: m.plan.unavailable.clone(),
    });
    run
}

/// The table the run sums up in: one row per design and thread count.
fn summary(points: &[Point], names: &[&str], irq: bool) -> crate::run::Summary {
    let mut counters: Vec<&str> = names.to_vec();
    if irq {
        counters.extend(interrupts::NAMES);
    }
    let mut columns: Vec<String> = [
        "design",
        "threads",
        "requests/s",
        "p50",
        "p99",
        "efficiency",
        "vs native",
    ]
    .map(String::from)
    .to_vec();
    // Short headings: the title says they are per request.
    columns.extend(counters.iter().map(|&c| {
        match c {
            "page-faults" => "faults",
            "context-switches" => "ctx-sw",
            "tlb-shootdowns" => "TLB*",
            "function-call-ipis" => "IPI*",
            other => other,
        }
        .to_owned()
    }));
    columns.extend(["reserved".to_owned(), "resident".to_owned()]);
    let ratio = |r: &Option<crate::run::PairedRatio>, pct: bool| match r {
        Some(r) if pct => format!(
            "{:.0} % ({:.0}-{:.0})",
            100.0 * r.ratio,
            100.0 * r.lo,
            100.0 * r.hi
        ),
        Some(r) => format!("{:.2}x", r.ratio),
        None => "—".to_owned(),
    };
    let rows = points
        .iter()
        .map(|p| {
            let lat = |f: fn(&crate::stats::Stats) -> f64| {
                p.latency
                    .as_ref()
                    .map_or("—".to_owned(), |s| crate::units::fmt_ns(f(s)))
            };
            let mut row = vec![
                p.design.clone(),
                p.threads.to_string(),
                format!("{:.0}", p.requests_per_s),
                lat(|s| s.p50_ns),
                lat(|s| s.p99_ns),
                ratio(&p.efficiency, true),
                ratio(&p.vs_native, false),
            ];
            row.extend(counters.iter().map(|c| {
                p.per_request
                    .get(*c)
                    .map_or("—".to_owned(), |v| format!("{v:.3}"))
            }));
            row.push(fmt_bytes(p.reserved_bytes as f64));
            row.push(fmt_bytes(p.resident_bytes as f64));
            row
        })
        .collect();
    crate::run::Summary {
        title: "each design at each thread count (efficiency: against the fewest threads, over min(threads, CPUs), paired, 95 %; counters per request, * system-wide)".into(),
        columns,
        rows,
    }
}

/// Share of their runnable time the worker threads may wait for a CPU,
/// with no more threads than CPUs, before another process's load is said
/// to be in the figures.
const WAITED_PCT: f64 = 10.0;

/// A warning where, with no more threads than CPUs, the worker threads
/// waited for a CPU: another process wanted them, and the efficiencies
/// hold its load.
fn waited_warning(points: &[Point], cpus: u64) -> Option<String> {
    let waited: Vec<(&Point, f64)> = points
        .iter()
        .filter(|p| p.threads <= cpus)
        .filter_map(|p| Some((p, p.waited_pct?)))
        .filter(|(_, w)| *w > WAITED_PCT)
        .collect();
    let (p, w) = waited.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(format!(
        "warning: the worker threads waited for a CPU (runnable, not running) up to {w:.0} % of the time ({} x{}; {} of {} points with no more threads than CPUs over {WAITED_PCT:.0} %): another process wanted these CPUs, so throughput and efficiency hold its load; rerun on a quiet machine to quote them",
        p.design,
        p.threads,
        waited.len(),
        points.iter().filter(|p| p.threads <= cpus).count()
    ))
}

/// What a reader must know about how the figures were taken.
fn notes(plan: &Plan, cfg: &ConcurrencyConfig, rounds: usize) -> Vec<String> {
    // Counters refused for one reason share a line.
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for u in &plan.unavailable {
        match by_reason.iter_mut().find(|(r, _)| *r == u.reason) {
            Some((_, names)) => names.push(&u.name),
            None => by_reason.push((&u.reason, vec![&u.name])),
        }
    }
    let mut notes: Vec<String> = by_reason
        .into_iter()
        .map(|(why, names)| format!("not measured: {}: {why}", names.join(", ")))
        .collect();
    notes.push("counters per request: faults = page faults and ctx-sw = context switches (perf software counters), mmap, munmap, madvise and mprotect (syscall tracepoints), all of the worker threads; TLB* = TLB shootdowns and IPI* = function-call interrupts, system-wide (/proc/interrupts: every process on the machine) over each round's window".into());
    notes.push(format!(
        "latency: each thread keeps the stamps of its last requests in each of the {rounds} rounds (about {} per design and thread count); throughput counts every request",
        super::ROWS_PER_POINT
    ));
    notes.push("memory: reserved and resident are what the design's setup took (engine, pool, shared instances) plus the growth from before the threads started to halfway through a round (their instances live, thread stacks included), the largest over rounds".into());
    if cfg.inside.sample.host {
        notes.push("--sample host: the engines write a perf map so that the sampler can name wasm frames (compile time only)".into());
    }
    notes
}
