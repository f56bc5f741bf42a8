//! The child's side of the driver protocol for wprof's own Wasmtime
//! driver (`wprof __driver`): it opens the plugin as wprof would in
//! process, then answers warm-ups and rounds with the same timing loop
//! (`timing::rounds`) and clock discipline, and sends the raw stamps back.

use std::io::{BufRead, Write};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;

use super::protocol::{Input, Open, Request, Response, VERSION};
use crate::driver::call::{Json, Payload, PluginCall, Raw};
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Instance, Limits};
use crate::error::{CallError, one_line};
use crate::phase::Phase;
use crate::timing::rounds::{Recording, round, warm_up};
use crate::timing::{Clock, clock_info, with_clock};

/// Serves one plugin on standard input and output until `quit` or the end
/// of input.
pub fn serve() -> anyhow::Result<()> {
    // wprof stops its children between rounds; Ctrl-C is for wprof.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let stdin = std::io::stdin();
    let mut requests = stdin.lock().lines();
    let mut out = std::io::stdout().lock();
    let Some(first) = requests.next() else {
        return Ok(());
    };
    let Request::Open(open) =
        serde_json::from_str(&first?).context("the first request is not `open`")?
    else {
        bail!("the first request must be `open`");
    };
    let Open {
        protocol,
        plugin,
        export,
        input,
        limits,
        clock,
        iterations,
        rounds,
    } = *open;
    if protocol != VERSION {
        return answer(
            &mut out,
            &Response::Error {
                phase: Phase::Read,
                message: format!("this driver speaks protocol {VERSION}, not {protocol}"),
            },
        );
    }
    let (bytes, read) = match crate::source::read(&plugin, std::path::Path::new(&plugin)) {
        Ok(b) => b,
        Err(e) => {
            return answer(
                &mut out,
                &Response::Error {
                    phase: Phase::Read,
                    message: e.to_string(),
                },
            );
        }
    };
    let plan = Plan {
        name: plugin,
        bytes,
        setup: vec![read],
        export,
        limits,
        iterations: iterations as usize,
        rounds: rounds as usize,
    };
    let kind = clock.resolve().map_err(|e| anyhow!(e))?;
    crate::driver::with_abi!(crate::kind::abi(&plan.bytes), A => {
        with_clock!(kind, |c| match &input {
            Input::Json(v) => session::<A, _, _>(c, Json(v), plan, &mut requests, &mut out),
            Input::Bytes(b64) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .context("the input is not base64")?;
                session::<A, _, _>(c, Raw(&raw), plan, &mut requests, &mut out)
            }
        })
    })
}

/// What `open` asked for.
struct Plan {
    name: String,
    bytes: Vec<u8>,
    setup: Vec<crate::run::PhaseTime>,
    export: String,
    limits: Limits,
    iterations: usize,
    rounds: usize,
}

fn answer(out: &mut impl Write, r: &Response) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, r)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn failed(e: CallError) -> Response {
    Response::Error {
        phase: e.phase,
        message: one_line(&e.error),
    }
}

/// Opens the plugin, then answers requests until `quit`.
fn session<A: Abi, C: Clock, P: Payload>(
    clock: C,
    input: P,
    mut plan: Plan,
    requests: &mut impl Iterator<Item = std::io::Result<String>>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let driver = WasmtimeDriver::<A>::default();
    let opened = (|| -> Result<_, Box<Response>> {
        let module = driver
            .load(&plan.name, &plan.bytes, &mut plan.setup)
            .map_err(|e| {
                Box::new(Response::Error {
                    phase: Phase::Compile,
                    message: e.to_string(),
                })
            })?;
        let instance = crate::driver::timed(&mut plan.setup, Phase::Instantiate, || {
            driver.instantiate(&module, &plan.export, &plan.limits)
        })
        .map_err(|e| Box::new(failed(e)))?;
        let mut target = PluginCall::new(instance, input);
        crate::timing::target::Target::call(&mut target).map_err(|e| Box::new(failed(e)))?;
        Ok(target)
    })();
    let mut target = match opened {
        Ok(t) => t,
        Err(r) => return answer(out, &r),
    };
    let _watch = crate::watchdog::watch_child(&plan.name, plan.limits.deadline);
    let mut info = driver.info();
    info.process = format!("child process (pid {})", std::process::id());
    answer(
        out,
        &Response::Opened {
            protocol: VERSION,
            driver: info,
            phases: P::PHASES.to_vec(),
            setup: plan.setup,
            output: base64::engine::general_purpose::STANDARD.encode(target.instance.output()),
            clock: C::NAME.to_owned(),
        },
    )?;
    let mut rec = Recording::new(P::PHASES.len() + 1, plan.iterations, plan.rounds);
    for line in requests {
        let r = match serde_json::from_str::<Request>(&line?)? {
            Request::WarmUp { calls } => match warm_up(&clock, &mut target, calls) {
                Ok(()) => Response::Ok,
                Err(e) => failed(e),
            },
            Request::Round(plan) => {
                let r = rec.round_ends.len();
                match round(&clock, &mut target, &mut rec, plan) {
                    Ok(()) => Response::Round(rec.round(r)),
                    Err(e) => failed(e),
                }
            }
            Request::Clock => Response::Clock(clock_info(&clock)),
            Request::Quit => return Ok(()),
            Request::Memory { .. } => Response::Error {
                phase: Phase::Instantiate,
                message: "wprof's own driver reads memory in `record memory`'s probes, not over the protocol".into(),
            },
            Request::ColdStart { .. } => Response::Error {
                phase: Phase::Instantiate,
                message: "wprof's own driver times cold starts in `record cold-start`'s rungs, not over the protocol".into(),
            },
            Request::Soak { .. } => Response::Error {
                phase: Phase::Instantiate,
                message: "wprof's own driver soaks in `record soak` itself, not over the protocol".into(),
            },
            Request::Open(_) => Response::Error {
                phase: Phase::Read,
                message: "a plugin is already open".into(),
            },
        };
        answer(out, &r)?;
    }
    Ok(())
}
