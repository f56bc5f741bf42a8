//! `record engines`: one plugin under every engine wprof can drive
//! (Wasmtime with Cranelift, Winch and Pulley; wasmi; V8 through Node),
//! on one harness: the same input, the same phases, the same clock
//! discipline and rounds, each engine's output checked against native's
//! first. It answers "which runtime?": each engine's cold start split, its
//! call paired against native and Cranelift, its memory per instance, its
//! no-op call (the floor), and the break-even between an engine that
//! starts fast and one that runs fast.

mod measure;
mod report;
mod subject;

use std::time::Duration;

pub use subject::Subject;

use crate::driver::Limits;
use crate::driver::engine::{Engine, Job, Opened};
use crate::error::Error;
use crate::phase::Phase;
use crate::run::{Failure, Run, Unavailable};
use crate::source::InputSpec;
use crate::timing::ClockChoice;

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "engines";

/// What `record engines` runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EnginesConfig {
    /// The plugin. Default: the bundled drug-checker.
    pub subject: Subject,
    /// The export to call. Default: the plugin's only candidate.
    pub export: Option<String>,
    /// The input. Default: the bundled plugin's own.
    pub input: InputSpec,
    /// The engines, by name, in order. Default: every one
    /// ([`crate::driver::engine_names`]).
    pub engines: Vec<String>,
    /// Time each engine is called for, over all rounds, split evenly
    /// between instrumented and uninstrumented calls. Default: 1 s.
    pub duration_per_engine: Duration,
    /// Rounds: every engine once a round, in a rotating order, so that a
    /// machine that slows down moves them alike. Default: 10.
    pub rounds: u64,
    /// Cold starts per engine, interleaved. Default: 10.
    pub cold_starts: u64,
    /// Instances made, each called once and kept, to read memory per
    /// instance. Default: 20.
    pub instances: u64,
    /// The clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Store limits and the per-call deadline. Default: [`Limits::default`].
    pub limits: Limits,
}

impl Default for EnginesConfig {
    fn default() -> Self {
        EnginesConfig {
            subject: Subject::default(),
            export: None,
            input: InputSpec::Default,
            engines: crate::driver::engine_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            duration_per_engine: Duration::from_secs(1),
            rounds: 10,
            cold_starts: 10,
            instances: 20,
            clock: ClockChoice::Auto,
            limits: Limits::default(),
        }
    }
}

/// An engine that opened the module, ready to time.
pub(crate) struct Open<'a> {
    /// Its name.
    pub(crate) name: &'static str,
    /// The opened module.
    pub(crate) opened: Box<dyn Opened + 'a>,
}

/// Runs `record engines`.
pub fn run(cfg: &EnginesConfig) -> Result<Run, Error> {
    super::stamped(|| {
        let mut wanted = Vec::new();
        let all = crate::driver::engines();
        for name in &cfg.engines {
            match all.iter().position(|e| e.name() == name) {
                Some(i) => wanted.push(i),
                None => {
                    return Err(Error::Config(format!(
                        "--engines: unknown engine `{name}` (expected {})",
                        crate::driver::engine_names().join(", ")
                    )));
                }
            }
        }
        let subject = subject::prepare(cfg)?;
        let _watch = crate::watchdog::watch(&subject.name, cfg.limits.deadline);
        let scratch = super::scratch_dir("wprof-engines-")?;
        let write = |file: &str, bytes: &[u8]| {
            let path = scratch.path().join(file);
            std::fs::write(&path, bytes)
                .map(|()| path)
                .map_err(|e| Error::Config(format!("cannot write a scratch file: {e}")))
        };
        // Named after the plugin: a child's messages name the file.
        let stem: String = std::path::Path::new(&subject.name)
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
                    .collect()
            })
            .filter(|s: &String| !s.is_empty() && s != "noop")
            .unwrap_or_else(|| "plugin".into());
        let path = write(&format!("{stem}.wasm"), &subject.bytes)?;
        let noop_bytes = wat::parse_str(NOOP_WAT)
            .map_err(|e| Error::Config(format!("the no-op plugin does not build: {e}")))?;
        let noop_path = write("noop.wasm", &noop_bytes)?;
        let iterations = 1000 * cfg.rounds;
        let job = Job {
            name: &subject.name,
            path: &path,
            bytes: &subject.bytes,
            export: &subject.export,
            input: &subject.input,
            limits: &cfg.limits,
            clock: cfg.clock,
            iterations,
            rounds: cfg.rounds,
        };
        let noop_job = Job {
            name: "noop",
            path: &noop_path,
            bytes: &noop_bytes,
            export: "noop",
            input: &[],
            ..job
        };
        let mut open = Vec::new();
        let mut unavailable = Vec::new();
        let mut failures = Vec::new();
        let mut noops = Vec::new();
        {
            let _stage = crate::stages::stage("open each engine", 0, 0);
            for &i in &wanted {
                let e: &dyn Engine = all[i].as_ref();
                match opened(e, &job, &subject, &mut unavailable, &mut failures) {
                    Some(o) => {
                        noops.push(e.open(&noop_job).ok());
                        open.push(Open {
                            name: e.name(),
                            opened: o,
                        });
                    }
                    None => continue,
                }
            }
        }
        let m = crate::timing::with_clock!(cfg.clock.resolve().map_err(Error::Config)?, |clock| {
            measure::measure(clock, cfg, &subject, &mut open, &mut noops)
        })?;
        failures.extend(m.failures.iter().cloned());
        Ok(report::assemble(
            cfg,
            &subject,
            &open,
            m,
            unavailable,
            failures,
        ))
    })
}

/// `e` opened on `job`, its output checked; `None` with why in
/// `unavailable` (not here, or not for this module) or `failures`.
fn opened<'a>(
    e: &'a dyn Engine,
    job: &Job<'a>,
    subject: &subject::Plugin,
    unavailable: &mut Vec<Unavailable>,
    failures: &mut Vec<Failure>,
) -> Option<Box<dyn Opened + 'a>> {
    if let Some(reason) = e.unavailable() {
        unavailable.push(Unavailable {
            name: e.name().to_owned(),
            reason,
        });
        return None;
    }
    match e.open(job) {
        Ok(o) if o.output() == subject.reference.as_slice() => Some(o),
        Ok(o) => {
            failures.push(Failure {
                variant: e.name().to_owned(),
                phase: Phase::CopyOut,
                cause: format!(
                    "its first output ({} bytes) differs from {}'s ({} bytes): not timed",
                    o.output().len(),
                    subject.reference_name,
                    subject.reference.len()
                ),
            });
            None
        }
        // A module an engine cannot load or link is not for it: a
        // proposal it lacks, an import it cannot supply.
        Err(err) if err.phase <= Phase::Instantiate => {
            unavailable.push(Unavailable {
                name: e.name().to_owned(),
                reason: format!(
                    "not applicable to {}: {}: {}",
                    crate::text::Esc(&subject.name),
                    err.phase,
                    crate::error::one_line(&err.error)
                ),
            });
            None
        }
        Err(err) => {
            failures.push(err.failure(e.name()));
            None
        }
    }
}

/// The no-op plugin (plugins/noop).
const NOOP_WAT: &str = include_str!("../../../plugins/noop/noop.wat");
