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
    /// A bundled plugin's name or a module path.
    plugin: String,
    export: Option<String>,
    /// The input: JSON text, or for an Extism plugin the bytes it receives.
    input: Vec<u8>,
    /// Whether `input` is JSON, encoded and decoded in each call.
    json: bool,
    calls: u64,
    /// Where dhat writes its profile.
    out: PathBuf,
    /// A WASI command to run instead of a plugin to call: `plugin` is its
    /// path, or empty for the bundled bench-command.
    #[serde(default)]
    command: Option<WasiOptions>,
    /// A component's export to call instead, with its arguments (a JSON
    /// array): `plugin` is its path, or empty for the bundled one.
    #[serde(default)]
    component: Option<(String, Value)>,
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
    if let Some(wasi) = &req.command {
        return command_child(&req, wasi);
    }
    if let Some((export, args)) = &req.component {
        return component_child(&req, export, args);
    }
    let plugin = PluginSpec::parse(&req.plugin).resolve()?;
    crate::driver::with_abi!(crate::kind::abi(&plugin.bytes), A => child_with::<A>(&req, &plugin))
}

fn child_with<A: Abi>(req: &Request, plugin: &PluginBytes) -> anyhow::Result<()> {
    let driver = WasmtimeDriver::<A>::default();
    let module = driver.load(&plugin.name, &plugin.bytes, &mut Vec::new())?;
    let given = req.export.as_deref().or(plugin.bundled.map(|b| b.export));
    let export = driver.choose_export(&plugin.name, given, &module)?;
    let input: Option<Value> = req
        .json
        .then(|| serde_json::from_slice(&req.input))
        .transpose()?;
    // The default deadline: the timed passes made these same calls first,
    // under the one asked for, so this is only a backstop.
    let limits = Limits::default();
    let _watch = crate::watchdog::watch(&plugin.name, limits.deadline);
    let instance = driver
        .instantiate(&module, &export, &limits)
        .map_err(|e| e.into_error(&plugin.name))?;
    match &input {
        Some(v) => profile(
            PluginCall::new(instance, Json(v)),
            req,
            plugin,
            input.as_ref(),
        ),
        None => profile(
            PluginCall::new(instance, Raw(&req.input)),
            req,
            plugin,
            None,
        ),
    }
}

/// Profiles `calls` runs of a command, each in a fresh instance, and prints
/// what each allocated.
fn command_child(req: &Request, wasi: &WasiOptions) -> anyhow::Result<()> {
    let cfg = CommandConfig {
        plugin: (!req.plugin.is_empty()).then(|| PathBuf::from(&req.plugin)),
        wasi: wasi.clone(),
        ..CommandConfig::default()
    };
    let ready = crate::scenario::command::ready(&cfg)?;
    let _watch = crate::watchdog::watch(ready.name(), cfg.limits.deadline);
    let profiler = dhat::Profiler::builder().file_name(&req.out).build();
    let wasm = measured(req.calls, || Ok(ready.run()?))?;
    drop(profiler);
    serde_json::to_writer(std::io::stdout().lock(), &Answer { wasm, native: None })?;
    Ok(())
}

/// Profiles `calls` calls of a component's export on one instance, and
/// prints what each allocated.
fn component_child(req: &Request, export: &str, args: &Value) -> anyhow::Result<()> {
    let cfg = ComponentConfig {
        plugin: (!req.plugin.is_empty()).then(|| PathBuf::from(&req.plugin)),
        export: export.to_owned(),
        args: args.clone(),
        ..ComponentConfig::default()
    };
    let mut ready = crate::scenario::component::ready(&cfg)?;
    let _watch = crate::watchdog::watch(ready.name(), cfg.limits.deadline);
    let profiler = dhat::Profiler::builder().file_name(&req.out).build();
    let wasm = measured(req.calls, || Ok(ready.call()?))?;
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
    input: &InputSpec,
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
        export: export.map(str::to_owned),
        input: input_bytes,
        json,
        calls,
        out: PathBuf::new(),
        command: None,
        component: None,
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
    let (plugin, name) = match &cfg.plugin {
        Some(p) => (p.display().to_string(), p.display().to_string()),
        None => (String::new(), "bench-command".to_owned()),
    };
    let req = Request {
        plugin,
        export: None,
        input: Vec::new(),
        json: false,
        calls,
        out: PathBuf::new(),
        command: Some(cfg.wasi.clone()),
        component: None,
    };
    spawn(&name, req, "run", dest, set)
}

/// Runs the heap pass for a component's export (`calls` calls on one
/// instance), as [`pass`] does for a plugin.
pub fn component_pass(
    cfg: &ComponentConfig,
    calls: u64,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<HeapProfile, Error> {
    let (plugin, name) = match &cfg.plugin {
        Some(p) => (p.display().to_string(), p.display().to_string()),
        None => (String::new(), "transfer-component".to_owned()),
    };
    let req = Request {
        plugin,
        export: None,
        input: Vec::new(),
        json: false,
        calls,
        out: PathBuf::new(),
        command: None,
        component: Some((cfg.export.clone(), cfg.args.clone())),
    };
    spawn(&name, req, "call", dest, set)
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
    let exe = std::env::current_exe()
        .map_err(|e| fail(format!("cannot find wprof's binary: {e}")))?
        .with_file_name(format!("wprof-heap{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() {
        return Err(fail(format!(
            "no {} next to wprof (cargo build --release builds it)",
            exe.display()
        )));
    }
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
