//! The guest heap pass behind `--guest-heap`: the plugin's own allocations,
//! inside its linear memory, where dhat cannot see.
//!
//! The plugin's allocator functions are found ([`find`]), a copy of the
//! module is rewritten so that each calls the host on entry and exit and
//! each `memory.grow` reports itself ([`rewrite`]), and the plugin's calls
//! are made again on that copy, untimed, after the timed passes. The hooks
//! record size, address and wasm stack of every block ([`record`]); the
//! pass writes `<scenario>.guest.dhat.json` for dh_view.html and the
//! per-call figures into the run.

mod find;
mod record;
mod rewrite;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use wasmtime::{Caller, Linker, Module, WasmBacktrace};

use find::Functions;
pub use find::Given;
use record::Recorder;
use rewrite::{HOOKS, Layout};

use crate::driver::call::{Json, PluginCall, Raw};
use crate::driver::wasmtime::{Abi, HostState, WasmtimeDriver};
use crate::driver::{Driver, Limits};
use crate::error::{Error, one_line};
use crate::phase::Phase;
use crate::run::{AllocFn, GuestHeap, GuestPerCall};
use crate::source::{InputSpec, PluginBytes, PluginSpec};
use crate::timing::target::Target;

/// Calls measured in the guest heap pass. Default of `--heap-calls`.
pub const DEFAULT_CALLS: u64 = 1000;

/// What the guest heap pass is asked.
#[derive(Debug, Clone)]
pub struct GuestHeapConfig {
    /// Calls measured, after one unmeasured call [default: 1000].
    pub calls: u64,
    /// The allocator named by `--guest-alloc` [default: none; found in
    /// the module].
    pub given: Option<Given>,
}

impl Default for GuestHeapConfig {
    fn default() -> Self {
        GuestHeapConfig {
            calls: DEFAULT_CALLS,
            given: None,
        }
    }
}

/// The note for a module whose allocator was not found.
pub fn no_allocator_note(plugin: &str, boundary: &[String]) -> String {
    let seen = if boundary.is_empty() {
        String::new()
    } else {
        format!(
            " (only the calling convention's {}, which the host calls for the input: the plugin's own allocations are not in the figures)",
            boundary.join(", ")
        )
    };
    format!(
        "guest heap: no allocator of its own found in {plugin}{seen}: no malloc/free export, and no __rust_alloc, dlmalloc or malloc/free in its name section (a stripped module has none); name it with --guest-alloc NAME,free=NAME,realloc=NAME"
    )
}

/// Finds `plugin`'s allocator as the pass will, so that a `--guest-alloc`
/// naming nothing fails before anything is measured.
pub fn check(plugin: &PluginSpec, cfg: &GuestHeapConfig) -> Result<(), Error> {
    found(plugin, cfg).map(drop)
}

/// The plugin, its functions and the allocator sites found in them; a
/// module that does not parse, or a `--guest-alloc` that names nothing,
/// fails at validate.
fn found(
    plugin: &PluginSpec,
    cfg: &GuestHeapConfig,
) -> Result<(crate::source::PluginBytes, Functions, Vec<find::Site>), Error> {
    let resolved = plugin.resolve()?;
    let fail = |cause: String| {
        Error::plugin(
            &resolved.name,
            Phase::Validate,
            format!("guest heap pass: {cause}"),
        )
    };
    let f = Functions::read(&resolved.bytes).map_err(|e| fail(format!("{e:#}")))?;
    let sites = find::find(&f, cfg.given.as_ref()).map_err(fail)?;
    Ok((resolved, f, sites))
}

/// Runs the guest heap pass on a plugin's export; its dhat file joins
/// `set` as `dest`. Answers `None` and a note when the module has no
/// allocator wprof can find; else the figures, and notes.
pub fn pass(
    plugin: &PluginSpec,
    export: Option<&str>,
    (input, extism): (&InputSpec, &crate::driver::extism::ExtismOptions),
    cfg: &GuestHeapConfig,
    dest: &Path,
    set: &mut crate::export::OutputSet,
) -> Result<(Option<GuestHeap>, Vec<String>), Error> {
    let (resolved, f, sites) = found(plugin, cfg)?;
    let name = resolved.name.clone();
    let fail = |phase: Phase, cause: String| {
        Error::plugin(&name, phase, format!("guest heap pass: {cause}"))
    };
    let boundary: Vec<String> = sites
        .iter()
        .filter(|s| s.boundary)
        .map(|s| s.name.clone())
        .collect();
    let own = sites.iter().any(|s| !s.boundary);
    let mut notes = Vec::new();
    if !own {
        notes.push(no_allocator_note(&name, &boundary));
        if sites.is_empty() {
            return Ok((None, notes));
        }
    }
    let (bytes, layout) = rewrite::rewrite(&resolved.bytes, &f, &sites)
        .map_err(|e| fail(Phase::Compile, format!("{e:#}")))?;
    let abi = crate::kind::abi(&resolved.bytes);
    let json = abi == crate::kind::Abi::Wprof;
    let input = if json {
        Input::Json(input.load(&resolved)?)
    } else {
        Input::Raw(input.raw(&resolved)?)
    };
    let names: Vec<String> = (0..f.types.len() as u32).map(|i| f.name(i)).collect();
    let hooked = Hooked {
        rec: Arc::new(Mutex::new(Recorder::new(&sites))),
        names: Arc::new(names),
        sites: Arc::new(sites.iter().map(|s| s.name.clone()).collect()),
        layout: Arc::new(layout),
    };
    let given = export.or(resolved.bundled.map(|b| b.export));
    let job = Job {
        plugin: &resolved,
        bytes: &bytes,
        export: given,
        input: &input,
        calls: cfg.calls,
        extism,
    };
    let ns_per_call = crate::driver::with_abi!(abi, A => run::<A>(&job, &hooked))?;
    let rec = hooked.rec.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = set.reserve(dest)?;
    let cmd = format!("wprof record --guest-heap: {name}");
    let written = std::fs::File::create(&tmp)
        .map_err(anyhow::Error::from)
        .and_then(|w| {
            Ok(serde_json::to_writer(
                std::io::BufWriter::new(w),
                &rec.dhat(&cmd),
            )?)
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Output {
            path: dest.to_owned(),
            cause: format!("{e:#}"),
        });
    }
    set.adopt(tmp, dest);
    let (before, after) = rec.span.expect("set by run");
    let per = |n: u64| n as f64 / cfg.calls.max(1) as f64;
    let (peak_bytes, peak_blocks) = rec.peak();
    if rec.unknown_frees > 0 {
        notes.push(format!(
            "guest heap: {} frees of blocks allocated before the hooks saw them (or by a function not hooked), not counted",
            rec.unknown_frees
        ));
    }
    let heap = GuestHeap {
        file: dest.display().to_string(),
        allocator: sites
            .iter()
            .map(|s| AllocFn {
                name: s.name.clone(),
                role: s.role.word().to_owned(),
                found_by: s.found_by.to_owned(),
            })
            .collect(),
        own,
        calls: cfg.calls,
        per_call: GuestPerCall {
            bytes: per(after.bytes - before.bytes),
            blocks: per(after.blocks - before.blocks),
            frees: per(after.frees - before.frees),
        },
        peak_bytes,
        peak_blocks,
        live_before_bytes: before.live_bytes,
        live_after_bytes: after.live_bytes,
        leaked_blocks_per_call: (after.live_blocks as f64 - before.live_blocks as f64)
            / cfg.calls.max(1) as f64,
        leaked_bytes_per_call: (after.live_bytes as f64 - before.live_bytes as f64)
            / cfg.calls.max(1) as f64,
        grows: rec.grows.clone(),
        ns_per_call,
    };
    Ok((Some(heap), notes))
}

/// The input each call sends.
enum Input {
    Json(Value),
    Raw(Vec<u8>),
}

/// What the hooks share with the pass.
struct Hooked {
    rec: Arc<Mutex<Recorder>>,
    /// The original module's function names, by index.
    names: Arc<Vec<String>>,
    /// Each site's name (site `k` is wrapper `k`).
    sites: Arc<Vec<String>>,
    layout: Arc<Layout>,
}

/// One pass's work.
struct Job<'a> {
    plugin: &'a PluginBytes,
    bytes: &'a [u8],
    export: Option<&'a str>,
    input: &'a Input,
    calls: u64,
    /// What an Extism plugin is handed, as in the timed passes.
    extism: &'a crate::driver::extism::ExtismOptions,
}

/// The wasm stack at a hook, innermost first, in the original module's
/// names: `top` (what the wrapper calls), then its callers. wprof's
/// wrappers are left out.
fn stack<T>(caller: &Caller<'_, T>, h: &Hooked, top: Option<&str>) -> Vec<String> {
    let trace = WasmBacktrace::capture(caller);
    let mut out: Vec<String> = top.map(str::to_owned).into_iter().collect();
    out.extend(
        trace
            .frames()
            .iter()
            .filter_map(|fr| h.layout.original(fr.func_index()))
            .map(|i| {
                h.names
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("wasm-function[{i}]"))
            }),
    );
    out
}

/// Adds the hooks to `linker`.
fn hooks<S: 'static>(linker: &mut Linker<HostState<S>>, h: &Hooked) -> wasmtime::Result<()> {
    let shared = || Hooked {
        rec: h.rec.clone(),
        names: h.names.clone(),
        sites: h.sites.clone(),
        layout: h.layout.clone(),
    };
    let on_enter = shared();
    linker.func_wrap(
        HOOKS,
        "enter",
        move |caller: Caller<'_, HostState<S>>, site: i32, a: i64, b: i64| {
            let site = site as usize;
            let mut rec = on_enter.rec.lock().unwrap_or_else(|e| e.into_inner());
            let stack = rec.wants_stack(site).then(|| {
                stack(
                    &caller,
                    &on_enter,
                    on_enter.sites.get(site).map(String::as_str),
                )
            });
            rec.enter(site, a as u64, b as u64, stack);
        },
    )?;
    let on_exit = shared();
    linker.func_wrap(HOOKS, "exit", move |site: i32, ret: i64| {
        let mut rec = on_exit.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.exit(site as usize, ret as u64);
    })?;
    let on_grow = shared();
    linker.func_wrap(
        HOOKS,
        "grow",
        move |caller: Caller<'_, HostState<S>>, _memory: i32, delta: i64, old: i64| {
            let stack = stack(&caller, &on_grow, Some("memory.grow"));
            let mut rec = on_grow.rec.lock().unwrap_or_else(|e| e.into_inner());
            rec.grew(delta as u64, old, stack);
        },
    )?;
    Ok(())
}

/// Instantiates the rewritten module on wprof's host for convention `A`,
/// makes one unmeasured call and `job.calls` measured ones; answers the
/// wall time per measured call in nanoseconds.
fn run<A: Abi>(job: &Job<'_>, h: &Hooked) -> Result<f64, Error> {
    let name = &job.plugin.name;
    let fail = |phase: Phase, cause: String| {
        Error::plugin(name, phase, format!("guest heap pass: {cause}"))
    };
    let driver = WasmtimeDriver::<A>::default();
    let module = Module::from_binary(driver.engine(), job.bytes)
        .map_err(|e| fail(Phase::Compile, one_line(&e.into())))?;
    let export = driver.choose_export(name, job.export, &module)?;
    let mut linker = Linker::new(driver.engine());
    A::add_to_linker(&mut linker, &module).map_err(|e| fail(Phase::Link, one_line(&e.into())))?;
    hooks(&mut linker, h).map_err(|e| fail(Phase::Link, one_line(&e.into())))?;
    // The default deadline: the timed passes made these calls first, under
    // the one asked for, so this is only a backstop.
    let limits = Limits {
        extism: job.extism.clone(),
        ..Limits::default()
    };
    let _watch = crate::watchdog::watch(name, limits.deadline);
    let instance = WasmtimeDriver::<A>::instantiate_linked(&linker, &module, &export, &limits)
        .map_err(|e| e.into_error(name))?;
    match job.input {
        Input::Json(v) => measured(PluginCall::new(instance, Json(v)), job, h),
        Input::Raw(r) => measured(PluginCall::new(instance, Raw(r)), job, h),
    }
}

/// One unmeasured call, then `job.calls` measured ones, the recorder's
/// totals taken between.
fn measured(mut call: impl Target, job: &Job<'_>, h: &Hooked) -> Result<f64, Error> {
    let name = &job.plugin.name;
    call.call().map_err(|e| e.into_error(name))?;
    let before = {
        let mut rec = h.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.measured = true;
        rec.totals()
    };
    let t0 = Instant::now();
    for _ in 0..job.calls {
        call.call().map_err(|e| e.into_error(name))?;
    }
    let ns = t0.elapsed().as_nanos() as f64 / job.calls.max(1) as f64;
    let mut rec = h.rec.lock().unwrap_or_else(|e| e.into_inner());
    rec.measured = false;
    let after = rec.totals();
    rec.span = Some((before, after));
    Ok(ns)
}
