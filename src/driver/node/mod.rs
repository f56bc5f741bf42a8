//! V8 through Node, as a driver in a child process: Node runs `host.mjs`
//! (part of wprof, passed to `node -e`), which loads the plugin with the
//! WebAssembly JS API, times the same phases with `process.hrtime.bigint()`
//! (CLOCK_MONOTONIC, wprof's own time base) in the same rounds and batches
//! as wprof's loop, and sends the raw stamps back over the driver protocol.

use std::path::PathBuf;

use anyhow::anyhow;

use super::child::Program;
use super::engine::{Engine, Job, Opened};
use crate::error::{CallError, at};
use crate::phase::Phase;

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
        super::engine::open_child(&program, job)
    }
}
