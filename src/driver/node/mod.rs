//! V8 through Node, as a driver in a child process: Node runs `host.mjs`
//! (part of wprof, passed to `node -e`), which loads the plugin with the
//! WebAssembly JS API, times the same phases with `process.hrtime.bigint()`
//! (CLOCK_MONOTONIC, wprof's own time base) in the same rounds and batches
//! as wprof's loop, and sends the raw stamps back over the driver protocol.

use std::path::PathBuf;

use anyhow::anyhow;
use base64::Engine as _;

use super::child::protocol::Input;
use super::child::{ChildDriver, Program, Refused};
use super::engine::{Engine, Job, Opened, PerInstance, per_instance};
use crate::error::{CallError, at};
use crate::phase::Phase;
use crate::run::{ClockInfo, DriverInfo, PhaseTime};
use crate::timing::rounds::{Recording, RoundPlan, Rounds};

/// The host script Node runs.
pub const SCRIPT: &str = include_str!("host.mjs");

/// What installs Node where it is missing.
pub const INSTALL: &str = "install Node.js (`apt-get install nodejs` on Debian and Ubuntu, `dnf install nodejs` on Fedora), or point $WPROF_NODE at a node binary";

/// The oldest Node whose WebAssembly API passes i64 as BigInt.
const OLDEST: u32 = 16;

/// V8, through Node, as engine `v8`.
pub struct Node;

/// The node binary: `$WPROF_NODE` when set (empty: none), else `node` or
/// `nodejs` on the PATH; with its version, or why it cannot be used.
pub fn find() -> Result<(PathBuf, String), String> {
    let given = std::env::var_os("WPROF_NODE");
    let candidates: Vec<PathBuf> = match &given {
        Some(g) if g.is_empty() => Vec::new(),
        Some(g) => vec![PathBuf::from(g)],
        None => std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .flat_map(|d| [d.join("node"), d.join("nodejs")])
                    .collect()
            })
            .unwrap_or_default(),
    };
    let Some(exe) = candidates.into_iter().find(|p| p.is_file()) else {
        let which = match given {
            Some(g) if !g.is_empty() => format!("$WPROF_NODE ({}) is no file", g.display()),
            Some(_) => "$WPROF_NODE is empty".to_owned(),
            None => "no `node` on the PATH".to_owned(),
        };
        return Err(format!("Node is not installed here: {which}; {INSTALL}"));
    };
    let out = std::process::Command::new(&exe)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} does not run: {e}; {INSTALL}", exe.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major: Option<u32> = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    match major {
        Some(m) if out.status.success() && m >= OLDEST => Ok((exe, version)),
        _ => Err(format!(
            "{} --version answered `{}`: Node {OLDEST} or newer is needed; {INSTALL}",
            exe.display(),
            crate::text::Esc(&version)
        )),
    }
}

impl Engine for Node {
    fn name(&self) -> &'static str {
        "v8"
    }

    fn unavailable(&self) -> Option<String> {
        find().err()
    }

    fn open<'a>(&'a self, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError> {
        super::engine::wprof_abi_only(job.bytes, "the Node driver")?;
        let (exe, _) = find().map_err(|e| at(Phase::Engine)(anyhow!(e)))?;
        let program = Program {
            exe,
            args: vec!["--input-type=module".into(), "-e".into(), SCRIPT.into()],
        };
        let input = Input::Bytes(base64::engine::general_purpose::STANDARD.encode(job.input));
        let child = ChildDriver::open(
            &program,
            job.path,
            job.export,
            input,
            job.limits,
            job.clock,
            job.iterations,
            job.rounds,
        )
        .map_err(|e| match e.downcast_ref::<Refused>() {
            Some(r) => at(r.phase)(anyhow!(r.message.clone())),
            None => at(Phase::Instantiate)(anyhow!("{e:#}")),
        })?;
        Ok(Box::new(InNode { child }))
    }
}

/// A module open in a Node process.
struct InNode {
    child: ChildDriver,
}

impl Rounds for InNode {
    fn phases(&self) -> &[Phase] {
        self.child.phases()
    }

    fn warm_up(&mut self, calls: u64) -> Result<(), CallError> {
        self.child.warm_up(calls)
    }

    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError> {
        self.child.round(rec, plan)
    }

    fn clock(&mut self) -> Result<ClockInfo, CallError> {
        Rounds::clock(&mut self.child)
    }
}

impl Opened for InNode {
    fn info(&self) -> DriverInfo {
        self.child.opened().driver.clone()
    }

    fn setup(&self) -> Vec<PhaseTime> {
        self.child.opened().setup.clone()
    }

    fn output(&self) -> &[u8] {
        &self.child.opened().output
    }

    fn cold_start(&mut self) -> Result<Vec<PhaseTime>, CallError> {
        self.child.cold_start_split()
    }

    fn per_instance(&mut self, instances: u64) -> Result<PerInstance, CallError> {
        let points = self.child.memory(instances, 0)?;
        let at_label = |l: &str| points.iter().find(|p| p.label == l);
        match (at_label("module"), at_label("instances")) {
            (Some(before), Some(after)) => Ok(per_instance(before, after, instances)),
            _ => Err(at(Phase::Instantiate)(anyhow!(
                "the Node driver's memory readings lack `module` or `instances`"
            ))),
        }
    }
}
