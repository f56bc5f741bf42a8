//! A driver in a child process: wprof starts it, sends it the plugin and
//! the plan, and drives it round by round over the [`protocol`]; the child
//! runs the timing loop itself and sends its raw stamps back, which wprof
//! settles into statistics as it does its own. [`server`] is wprof's own
//! Wasmtime driver on the child's side (`wprof __driver`).

pub mod protocol;
pub mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;

use self::protocol::{Input, Request, Response, VERSION};
use crate::error::{CallError, at};
use crate::phase::Phase;
use crate::run::{ClockInfo, DriverInfo, PhaseTime};
use crate::timing::rounds::{Recording, RoundPlan, Rounds};

/// The hidden subcommand that runs [`server`].
pub const SUBCOMMAND: &str = "__driver";

/// How to start a driver process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The executable.
    pub exe: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Program {
    /// wprof's own Wasmtime driver: this binary, run as `wprof __driver`.
    pub fn wprof() -> anyhow::Result<Program> {
        Ok(Program {
            exe: std::env::current_exe().context("cannot find wprof's own binary")?,
            args: vec![SUBCOMMAND.to_owned()],
        })
    }

    /// Extism's own runtime, the Rust SDK driver (`drivers/extism-sdk`, a
    /// build of its own), where it is built: see [`Program::built`].
    pub fn extism_sdk() -> Option<Program> {
        Self::built("wprof-extism-sdk", "WPROF_EXTISM_SDK_DRIVER", "extism-sdk")
    }

    /// The driver `name` of `drivers/<dir>` (a build of its own), where it
    /// is built: `$<var>` when set (empty: none), else `name` beside wprof's
    /// binary, else that crate's release build in the checkout wprof was
    /// built from.
    pub fn built(name: &str, var: &str, dir: &str) -> Option<Program> {
        let candidates = match std::env::var_os(var) {
            Some(given) => vec![PathBuf::from(given)],
            None => {
                let beside = std::env::current_exe()
                    .ok()
                    .and_then(|e| Some(e.parent()?.join(name)));
                let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("drivers")
                    .join(dir)
                    .join("target/release")
                    .join(name);
                beside.into_iter().chain([checkout]).collect()
            }
        };
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .map(|exe| Program {
                exe,
                args: Vec::new(),
            })
    }
}

/// The note where libextism is not there (the Extism SDK driver, which
/// loads it, is).
pub fn lib_not_there() -> String {
    "libextism: not measured: libextism (Extism's runtime through its C API, from the extism-sys wheel) is not there; scripts/build-extism-sdk-driver fetches it".to_owned()
}

impl Program {
    /// libextism, Extism's runtime through its C API, loaded by the Extism
    /// SDK driver (`--libextism`), where both are found: the library at
    /// `$WPROF_LIBEXTISM` when set (empty: none), else where
    /// `scripts/build-extism-sdk-driver` puts it (from the `extism-sys`
    /// wheel) in the checkout wprof was built from.
    pub fn libextism() -> Option<Program> {
        let sdk = Self::extism_sdk()?;
        let lib = match std::env::var_os("WPROF_LIBEXTISM") {
            Some(given) => PathBuf::from(given),
            None => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("drivers/extism-sdk/target/libextism/libextism_sys.so"),
        };
        lib.is_file().then(|| Program {
            exe: sdk.exe,
            args: vec!["--libextism".to_owned(), lib.display().to_string()],
        })
    }
}

/// The driver's `error` answer to `open`: the phase it failed in, and why
/// (shown as `phase: why`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{phase}: {message}")]
pub struct Refused {
    /// The phase.
    pub phase: Phase,
    /// Why, on one line.
    pub message: String,
}

/// What the child said when it opened the plugin.
#[derive(Debug, Clone)]
pub struct Opened {
    /// What the driver is.
    pub driver: DriverInfo,
    /// The phases of a call.
    pub phases: Vec<Phase>,
    /// Its one-off phases.
    pub setup: Vec<PhaseTime>,
    /// The first call's output.
    pub output: Vec<u8>,
}

/// The note where the Extism SDK driver is not built: `figures` (e.g.
/// `the figures are`) are then wprof's Extism host design alone.
pub fn sdk_not_built(figures: &str) -> String {
    format!(
        "extism-sdk: not measured: the Extism SDK driver is not built, so {figures} wprof's Extism host design alone; build it with scripts/build-extism-sdk-driver"
    )
}

/// A running driver process.
pub struct ChildDriver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The child's standard error, kept (its last lines) to explain a death.
    stderr: Arc<Mutex<Vec<u8>>>,
    opened: Opened,
}

/// Most bytes of a child's standard error kept.
const STDERR_KEPT: usize = 64 << 10;

impl ChildDriver {
    /// Starts `program` and opens `plugin` in it.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        program: &Program,
        plugin: &Path,
        export: &str,
        input: Input,
        limits: &crate::driver::Limits,
        clock: crate::timing::ClockChoice,
        iterations: u64,
        rounds: u64,
    ) -> anyhow::Result<ChildDriver> {
        let mut child = Command::new(&program.exe)
            .args(&program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the driver {}", program.exe.display()))?;
        let stdin = child.stdin.take().context("the driver's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the driver's stdout")?);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                    k.extend_from_slice(&buf[..n]);
                    let over = k.len().saturating_sub(STDERR_KEPT);
                    k.drain(..over);
                }
            });
        }
        let mut d = ChildDriver {
            child,
            stdin,
            stdout,
            stderr,
            opened: Opened {
                driver: DriverInfo::default(),
                phases: Vec::new(),
                setup: Vec::new(),
                output: Vec::new(),
            },
        };
        let answer = d.ask(&Request::Open(Box::new(protocol::Open {
            protocol: VERSION,
            plugin: plugin.display().to_string(),
            export: export.to_owned(),
            input,
            limits: limits.clone(),
            clock,
            iterations,
            rounds,
        })))?;
        match answer {
            Response::Opened {
                protocol,
                driver,
                phases,
                setup,
                output,
                ..
            } => {
                if protocol != VERSION {
                    bail!(
                        "the driver speaks protocol {protocol}, wprof speaks {VERSION}: rebuild it"
                    );
                }
                d.opened = Opened {
                    driver,
                    phases,
                    setup,
                    output: base64::engine::general_purpose::STANDARD
                        .decode(output)
                        .context("the driver's first output is not base64")?,
                };
                Ok(d)
            }
            Response::Error { phase, message } => {
                Err(anyhow::Error::new(Refused { phase, message }))
            }
            other => bail!("the driver answered open with {other:?}"),
        }
    }

    /// As [`ChildDriver::open`], for one-off requests rather than rounds
    /// (cold starts, memory): `input`'s bytes as they are, one call
    /// planned, stamps on CLOCK_MONOTONIC.
    pub fn open_once(
        program: &Program,
        plugin: &Path,
        export: &str,
        input: &[u8],
        limits: &crate::driver::Limits,
    ) -> anyhow::Result<ChildDriver> {
        let input = Input::Bytes(base64::engine::general_purpose::STANDARD.encode(input));
        let clock = crate::timing::ClockChoice::Monotonic;
        Self::open(program, plugin, export, input, limits, clock, 1, 1)
    }

    /// What it said when it opened the plugin.
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// One whole cold start in the driver, `way` as it names them; its
    /// time in nanoseconds, by the driver's clock.
    pub fn cold_start(&mut self, way: &str) -> Result<u64, CallError> {
        let req = Request::ColdStart {
            way: way.to_owned(),
        };
        self.call(&req, Phase::Instantiate, |r| match r {
            Response::ColdStart { ns, .. } => Some(ns),
            _ => None,
        })
    }

    /// One cold start in the driver, split into its phases (way `split`).
    pub fn cold_start_split(&mut self) -> Result<Vec<PhaseTime>, CallError> {
        let req = Request::ColdStart {
            way: "split".to_owned(),
        };
        self.call(&req, Phase::Instantiate, |r| match r {
            Response::ColdStart { phases, .. } if !phases.is_empty() => Some(phases),
            _ => None,
        })
    }

    /// The driver's process's memory: after `calls` calls on the open
    /// plugin, then with `instances` more instances alive.
    pub fn memory(
        &mut self,
        instances: u64,
        calls: u64,
    ) -> Result<Vec<crate::run::MemoryPoint>, CallError> {
        let req = Request::Memory { instances, calls };
        self.call(&req, Phase::Instantiate, |r| match r {
            Response::Memory { points } => Some(points),
            _ => None,
        })
    }

    /// Starts a soak in the driver's process (see [`Request::Soak`]): the
    /// request is sent and the driver left to run it while the caller
    /// does its own; [`ChildDriver::soaked`] reads the answer.
    pub fn soak(
        &mut self,
        duration: std::time::Duration,
        rate: f64,
        sample_every: std::time::Duration,
        timed: u64,
    ) -> Result<(), CallError> {
        self.send(&Request::Soak {
            duration_ns: duration.as_nanos() as u64,
            rate,
            sample_every_ns: sample_every.as_nanos() as u64,
            timed,
        })
        .map_err(at(Phase::Call))
    }

    /// The answer to [`ChildDriver::soak`], waited for.
    pub fn soaked(&mut self) -> Result<protocol::Soaked, CallError> {
        self.answer(Phase::Call, |r| match r {
            Response::Soak {
                points,
                calls,
                stamps,
                failure,
            } => Some(protocol::Soaked {
                points,
                calls,
                stamps,
                failure,
            }),
            _ => None,
        })
    }

    /// Ends the driver's process now, whatever it is doing (a soak that
    /// wprof's interrupted run no longer waits for).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Sends `req`, answered later.
    fn send(&mut self, req: &Request) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        let sent = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush());
        sent.map_err(|_| anyhow!("the driver process exited{}", self.last_words()))
    }

    /// Sends `req` and reads the answer.
    fn ask(&mut self, req: &Request) -> anyhow::Result<Response> {
        self.send(req)?;
        self.receive()
    }

    /// Reads the next answer.
    fn receive(&mut self) -> anyhow::Result<Response> {
        let mut answer = String::new();
        let read = self.stdout.read_line(&mut answer);
        match read {
            Ok(n) if n > 0 => serde_json::from_str(&answer).with_context(|| {
                format!(
                    "the driver answered something that is not the protocol: {}",
                    answer.trim_end().chars().take(200).collect::<String>()
                )
            }),
            _ => Err(anyhow!("the driver process exited{}", self.last_words())),
        }
    }

    /// The last line the child wrote on its standard error, if any.
    fn last_words(&mut self) -> String {
        let _ = self.child.wait();
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&kept);
        match text.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(l) => format!(": {}", l.trim()),
            None => String::new(),
        }
    }

    /// Sends `req`, expecting `ok`-like answers to come back through `f`.
    fn call<T>(
        &mut self,
        req: &Request,
        phase: Phase,
        f: impl FnOnce(Response) -> Option<T>,
    ) -> Result<T, CallError> {
        self.send(req).map_err(at(phase))?;
        self.answer(phase, f)
    }

    /// Reads an answer, expecting it to come back through `f`.
    fn answer<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(Response) -> Option<T>,
    ) -> Result<T, CallError> {
        match self.receive().map_err(at(phase))? {
            Response::Error { phase, message } => Err(at(phase)(anyhow!(message))),
            other => {
                let shown = format!("{other:?}");
                f(other).ok_or_else(|| {
                    at(phase)(anyhow!(
                        "the driver answered {}",
                        shown.chars().take(80).collect::<String>()
                    ))
                })
            }
        }
    }
}

impl Rounds for ChildDriver {
    fn phases(&self) -> &[Phase] {
        &self.opened.phases
    }

    fn warm_up(&mut self, calls: u64) -> Result<(), CallError> {
        self.call(&Request::WarmUp { calls }, Phase::Execute, |r| {
            matches!(r, Response::Ok).then_some(())
        })
    }

    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError> {
        let data = self.call(&Request::Round(plan), Phase::Execute, |r| match r {
            Response::Round(d) => Some(d),
            _ => None,
        })?;
        rec.push_round(&data)
            .map_err(|e| at(Phase::Execute)(anyhow!(e)))
    }

    fn clock(&mut self) -> Result<ClockInfo, CallError> {
        self.call(&Request::Clock, Phase::Execute, |r| match r {
            Response::Clock(c) => Some(c),
            _ => None,
        })
    }
}

impl Drop for ChildDriver {
    fn drop(&mut self) {
        let _ = self
            .stdin
            .write_all(b"{\"op\":\"quit\"}\n")
            .and_then(|()| self.stdin.flush());
        let _ = self.child.wait();
    }
}
