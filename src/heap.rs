//! The heap pass behind `--heap`: the plugin's calls (wasm, then native)
//! under dhat, in the `wprof-heap` binary, which writes a dhat profile (for
//! valgrind's dh_view.html) and the bytes and blocks allocated per call.
//!
//! It is a separate pass, in a separate process: dhat slows allocation
//! several times over, so its timings would mean nothing, and it cannot see
//! wasm linear memory (Wasmtime maps that directly), only host allocations.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::driver::call::{Json, PluginCall, Raw, decode, encode};
use crate::driver::wasi::WasiOptions;
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Limits};
use crate::error::Error;
use crate::phase::Phase;
use crate::run::{HeapPerCall, HeapProfile};
use crate::scenario::command::CommandConfig;
use crate::scenario::component::ComponentConfig;
use crate::source::{InputSpec, PluginBytes, PluginSpec};
use crate::timing::target::Target;

/// Calls per side in the heap pass. Default of `--heap-calls`.
pub const DEFAULT_CALLS: u64 = 1000;

/// Runs of a command in the heap pass (each a fresh instance, often
/// milliseconds). Default of `--heap-calls` for a command.
pub const DEFAULT_RUNS: u64 = 20;

/// What the parent asks of `wprof-heap`.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    /// A bundled plugin's name or a module path; empty for a bundled
    /// command or component.
    plugin: String,
    /// What to profile in it.
    what: What,
    calls: u64,
    /// Where dhat writes its profile.
    out: PathBuf,
}

/// What `wprof-heap` profiles.
#[derive(Debug, Serialize, Deserialize)]
enum What {
    /// Calls of a plugin's export.
    Plugin {
        export: Option<String>,
        /// The input: JSON text, or for an Extism plugin the bytes it
        /// receives.
        input: Vec<u8>,
        /// Whether `input` is JSON, encoded and decoded in each call.
        json: bool,
        /// What an Extism plugin is handed (config, WASI), as in the
        /// timed passes.
        #[serde(default)]
        extism: crate::driver::extism::ExtismOptions,
    },
    /// Runs of a WASI command, given these.
    Command(WasiOptions),
    /// Calls of a component's export with these arguments (a JSON array).
    Component { export: String, args: Value },
}

/// What `wprof-heap` answers.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    wasm: HeapPerCall,
    native: Option<HeapPerCall>,
}

fn per_call(before: &dhat::HeapStats, after: &dhat::HeapStats, calls: u64) -> HeapPerCall {
    HeapPerCall {
        bytes: (after.total_bytes - before.total_bytes) as f64 / calls as f64,
        blocks: (after.total_blocks - before.total_blocks) as f64 / calls as f64,
    }
}

/// `wprof-heap`'s work: reads the request (argv[1]), profiles the calls,
/// prints the answer.
pub fn child() -> anyhow::Result<()> {
    let arg = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow!("wprof-heap is run by `wprof record ... --heap`"))?;
    let req: Request = serde_json::from_str(&arg).context("bad request")?;
    let (export, input, json, extism) = match &req.what {
        What::Plugin {
            export,
            input,
            json,
            extism,
        } => (export, input, *json, extism),
        What::Command(wasi) => return command_child(&req, wasi),
        What::Component { export, args } => return component_child(&req, export, args),
    };
    let plugin = PluginSpec::parse(&req.plugin).resolve()?;
    let call = (export.as_deref(), &input[..], json);
    let limits = Limits {
        extism: extism.clone(),
        ..Limits::default()
    };
    crate::driver::with_abi!(crate::kind::abi(&plugin.bytes), A => child_with::<A>(&req, &plugin, call, &limits))
}

fn child_with<A: Abi>(
    req: &Request,
    plugin: &PluginBytes,
    (export, raw, json): (Option<&str>, &[u8], bool),
    limits: &Limits,
) -> anyhow::Result<()> {
    let driver = WasmtimeDriver::<A>::default();
    let module = driver.load(&plugin.name, &plugin.bytes, &mut Vec::new())?;
    let given = export.or(plugin.bundled.map(|b| b.export));
    let export = driver.choose_export(&plugin.name, given, &module)?;
    let input: Option<Value> = json.then(|| serde_json::from_slice(raw)).transpose()?;
    // The default deadline: the timed passes made these same calls first,
    // under the one asked for, so this is only a backstop.
    let _watch = crate::watchdog::watch(&plugin.name, limits.deadline);
    let instance = driver
        .instantiate(&module, &export, limits)
        .map_err(|e| e.into_error(&plugin.name))?;
    match &input {
        Some(v) => profile(
            PluginCall::new(instance, Json(v)),
            req,
            plugin,
            input.as_ref(),
        ),
        None => profile(PluginCall::new(instance, Raw(raw)), req, plugin, None),
    }
}

/// Profiles `calls` runs of a command, each in a fresh instance, and prints
/// what each allocated.
fn command_child(req: &Request, wasi: &WasiOptions) -> anyhow::Result<()> {
    let cfg = CommandConfig {
        plugin: given_file(&req.plugin),
        wasi: wasi.clone(),
        ..CommandConfig::default()
    };
    let ready = crate::scenario::command::ready(&cfg)?;
    alone(req, ready.name(), cfg.limits.deadline, || Ok(ready.run()?))
}

/// Profiles `calls` calls of a component's export on one instance, and
/// prints what each allocated.
fn component_child(req: &Request, export: &str, args: &Value) -> anyhow::Result<()> {
    let cfg = ComponentConfig {
        plugin: given_file(&req.plugin),
        export: export.to_owned(),
        args: args.clone(),
        ..ComponentConfig::default()
    };
    let mut ready = crate::scenario::component::ready(&cfg)?;
    let name = ready.name().to_owned();
    alone(req, &name, cfg.limits.deadline, || Ok(ready.call()?))
}

/// The module's file, or `None` for the bundled one (an empty path).
fn given_file(plugin: &str) -> Option<PathBuf> {
    (!plugin.is_empty()).then(|| PathBuf::from(plugin))
}

/// Profiles `req.calls` calls of `one`, watched with `deadline`, and
/// prints what each allocated (there is no native side).
fn alone(
    req: &Request,
    name: &str,
    deadline: std::time::Duration,
    one: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let _watch = crate::watchdog::watch(name, deadline);
    let profiler = dhat::Profiler::builder().file_name(&req.out).build();
    let wasm = measured(req.calls, one)?;
    drop(profiler);
    serde_json::to_writer(std::io::stdout().lock(), &Answer { wasm, native: None })?;
    Ok(())
}

/// What `calls` calls of `one` allocate per call, after one call first, so
/// that one-off growth (buffers reaching their size) is not counted as
/// per-call. Runs under a dhat profiler.
fn measured(
    calls: u64,
    mut one: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<HeapPerCall> {
    one()?;
    let before = dhat::HeapStats::get();
    for _ in 0..calls {
        one()?;
    }
    Ok(per_call(&before, &dhat::HeapStats::get(), calls))
}

/// Profiles `calls` calls of `wasm`, then of the native build where there
/// is one, and prints what each allocated per call.
fn profile(
    mut wasm: impl Target,
    req: &Request,
    plugin: &PluginBytes,
    input: Option<&Value>,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let profiler = dhat::Profiler::builder().file_name(&req.out).build();
    let wasm = measured(req.calls, || {
        Ok(wasm.call().map_err(|e| e.into_error(&plugin.name))?)
    })?;
    let native = match (plugin.bundled, input) {
        (Some(b), Some(input)) => Some(measured(req.calls, || {
            encode(input, &mut buf)?;
            let out = (b.native)(&buf).map_err(|e| anyhow!("native build: {e}"))?;
            decode(&out)?;
            drop(out);
            Ok(())
        })?),
        _ => None,
    };
    drop(profiler);
    serde_json::to_writer(std::io::stdout().lock(), &Answer { wasm, native })?;
    Ok(())
}

/// Runs the heap pass for a plugin; its dhat profile joins `set` as
/// `dest` (in place when the set is committed, with the run's other files).
pub fn pass(
    plugin: &PluginSpec,
    export: Option<&str>,
    (input, extism): (&InputSpec, &crate::driver::extism::ExtismOptions),
    calls: u64,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let resolved = plugin.resolve()?;
    let json = crate::kind::abi(&resolved.bytes) == crate::kind::Abi::Wprof;
    let input_bytes = if json {
        input.load(&resolved)?.to_string().into_bytes()
    } else {
        input.raw(&resolved)?
    };
    let req = Request {
        plugin: match plugin {
            PluginSpec::Bundled(n) => (*n).to_owned(),
            PluginSpec::File(p) => p.display().to_string(),
        },
        what: What::Plugin {
            export: export.map(str::to_owned),
            input: input_bytes,
            json,
            extism: extism.clone(),
        },
        calls,
        out: PathBuf::new(),
    };
    spawn(&resolved.name, req, "call", dest, set)
}

/// Runs the heap pass for a WASI command (`calls` runs, each in a fresh
/// instance), as [`pass`] does for a plugin.
pub fn command_pass(
    cfg: &CommandConfig,
    calls: u64,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let what = What::Command(cfg.wasi.clone());
    file_pass(
        (&cfg.plugin, "bench-command"),
        what,
        ("run", calls),
        dest,
        set,
    )
}

/// Runs the heap pass for a component's export (`calls` calls on one
/// instance), as [`pass`] does for a plugin.
pub fn component_pass(
    cfg: &ComponentConfig,
    calls: u64,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let what = What::Component {
        export: cfg.export.clone(),
        args: cfg.args.clone(),
    };
    let module = (&cfg.plugin, "transfer-component");
    file_pass(module, what, ("call", calls), dest, set)
}

/// The heap pass of `what` in a module given by its file, or (`None`)
/// the bundled one of that name.
fn file_pass(
    (file, bundled): (&Option<PathBuf>, &str),
    what: What,
    (unit, calls): (&str, u64),
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let path = file.as_ref().map(|p| p.display().to_string());
    let req = Request {
        plugin: path.clone().unwrap_or_default(),
        what,
        calls,
        out: PathBuf::new(),
    };
    spawn(path.as_deref().unwrap_or(bundled), req, unit, dest, set)
}

/// The `wprof-heap` binary, next to wprof's; or why there is none. A
/// record command asks before it measures anything.
pub fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find wprof's binary: {e}"))?
        .with_file_name(format!("wprof-heap{}", std::env::consts::EXE_SUFFIX));
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!(
            "no {} next to wprof (cargo build --release builds it)",
            exe.display()
        ))
    }
}

/// Runs `wprof-heap` on `req`, its profile reserved in `set` as `dest`.
fn spawn(
    name: &str,
    mut req: Request,
    unit: &str,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let fail = |cause: String| Error::plugin(name, Phase::Execute, format!("heap pass: {cause}"));
    let exe = binary().map_err(fail)?;
    let tmp = set.reserve(dest)?;
    req.out = tmp.clone();
    let answer = (|| -> anyhow::Result<Answer> {
        let out = crate::interrupt::output(
            std::process::Command::new(&exe).arg(serde_json::to_string(&req)?),
        )
        .with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err.lines().last().unwrap_or("no message");
            bail!("{}", line.strip_prefix("wprof: error: ").unwrap_or(line));
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    })()
    .map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("{e:#}"))
    })?;
    set.adopt(tmp, dest);
    Ok(HeapProfile {
        file: dest.display().to_string(),
        calls: req.calls,
        unit: unit.to_owned(),
        wasm: answer.wasm,
        native: answer.native,
    })
}
