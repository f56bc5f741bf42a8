//! A wprof host driver: Extism's own runtime (its kernel is a wasm module
//! with its own allocator), run by wprof in a child process over the
//! driver protocol v1 (see wprof's `src/driver/child/protocol.rs`): one
//! JSON request a line on stdin, one answer a line on stdout. Through the
//! Extism Rust SDK by default; with `--libextism PATH`, through libextism,
//! the runtime's C API, loaded from PATH (see [`libextism`]).
//!
//! Either's call (`Plugin::call`, `extism_plugin_call`) copies the input
//! in, calls, and hands the output back in one step, so a call is one
//! phase (`call`); the others are reported unseen. Stamps are `CLOCK_MONOTONIC` nanoseconds, the time
//! base every process of the machine shares.
//!
//! The round below is the protocol's, as wprof's own driver times it: the
//! instrumented calls one stamp before and after each, and as many plain
//! calls in batches of 1000 with one stamp around each. It is written here
//! again because this program cannot link wprof (a second Wasmtime): the
//! protocol, not the code, is what drivers share, as a driver in another
//! language would.

mod libextism;

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::time::Instant;

use base64::Engine as _;
use extism::{Manifest, Plugin, Wasm};
use serde_json::{Value, json};

use self::libextism::{Lib, LibCompiled, LibPlugin};

/// The protocol this driver speaks.
const PROTOCOL: u64 = 1;
/// Plain calls between two clock reads.
const BATCH: u64 = 1000;

fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec and CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The runtime the plugins run on.
#[derive(Clone, Copy)]
enum Runtime {
    /// The Extism Rust SDK, linked in.
    Sdk,
    /// libextism, loaded at run time.
    Lib(&'static Lib),
}

/// A plugin, on either runtime.
enum Inst {
    Sdk(Box<Plugin>),
    Lib(LibPlugin),
}

/// A compiled plugin, on either runtime, to make plugins from.
enum Compiled {
    Sdk(Box<extism::CompiledPlugin>),
    Lib(LibCompiled),
}

fn sdk_error(e: extism::Error) -> String {
    one_line(&e.to_string())
}

impl Runtime {
    /// A plugin from `manifest`, as the runtime makes one by default
    /// (Wasmtime's compilation cache on, as Extism turns it on).
    fn plugin(self, manifest: &Manifest, wasi: bool) -> Result<Inst, String> {
        match self {
            Runtime::Sdk => Plugin::new(manifest, [], wasi)
                .map(|p| Inst::Sdk(Box::new(p)))
                .map_err(sdk_error),
            Runtime::Lib(lib) => lib
                .plugin(&manifest_json(manifest), wasi)
                .map(Inst::Lib)
                .map_err(|e| one_line(&e)),
        }
    }

    /// A plugin from `manifest` with the compilation cache off.
    fn uncached(self, manifest: &Manifest, wasi: bool) -> Result<Inst, String> {
        match self {
            Runtime::Sdk => extism::PluginBuilder::new(manifest.clone())
                .with_wasi(wasi)
                .with_cache_disabled()
                .build()
                .map(|p| Inst::Sdk(Box::new(p)))
                .map_err(sdk_error),
            Runtime::Lib(_) => {
                Err("libextism's C API has no switch for the compilation cache".to_owned())
            }
        }
    }

    /// `manifest` compiled once.
    fn compile(self, manifest: &Manifest, wasi: bool) -> Result<Compiled, String> {
        match self {
            Runtime::Sdk => extism::PluginBuilder::new(manifest.clone())
                .with_wasi(wasi)
                .compile()
                .map(|c| Compiled::Sdk(Box::new(c)))
                .map_err(sdk_error),
            Runtime::Lib(lib) => lib
                .compile(&manifest_json(manifest), wasi)
                .map(Compiled::Lib)
                .map_err(|e| one_line(&e)),
        }
    }

    /// The driver's name and engine, for the report.
    fn describe(self) -> (String, String) {
        match self {
            Runtime::Sdk => (
                "extism (Rust SDK)".to_owned(),
                "extism 1.30.0 (wasmtime 43)".to_owned(),
            ),
            Runtime::Lib(lib) => (
                "extism (libextism, its C API)".to_owned(),
                format!("libextism {}", lib.version),
            ),
        }
    }
}

/// A manifest as the C API takes it: JSON.
fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    serde_json::to_vec(manifest).unwrap_or_default()
}

impl Compiled {
    /// A plugin from it (instantiation only).
    fn plugin(&self) -> Result<Inst, String> {
        match self {
            Compiled::Sdk(c) => Plugin::new_from_compiled(c)
                .map(|p| Inst::Sdk(Box::new(p)))
                .map_err(sdk_error),
            Compiled::Lib(c) => c.plugin().map(Inst::Lib).map_err(|e| one_line(&e)),
        }
    }
}

impl Inst {
    /// One call of `export` (`c_export` as C takes it) on `input`; its
    /// output.
    fn call(&mut self, export: &str, c_export: &CString, input: &[u8]) -> Result<&[u8], String> {
        match self {
            Inst::Sdk(p) => p.call::<&[u8], &[u8]>(export, input).map_err(sdk_error),
            Inst::Lib(p) => p.call(c_export, input).map_err(|e| one_line(&e)),
        }
    }
}

/// The plugin and what each call sends, and how it was made (for cold
/// starts).
struct Open {
    runtime: Runtime,
    plugin: Inst,
    export: String,
    c_export: CString,
    input: Vec<u8>,
    manifest: Manifest,
    wasi: bool,
    /// Compiled once, for the `compiled` cold starts.
    compiled: Option<Compiled>,
}

impl Open {
    fn call(&mut self) -> Result<(), String> {
        self.plugin
            .call(&self.export, &self.c_export, &self.input)
            .map(drop)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn error(phase: &str, message: String) -> Value {
    json!({"op": "error", "phase": phase, "message": message})
}

fn open(runtime: Runtime, req: &Value) -> Result<(Open, Value), Value> {
    let protocol = req["protocol"].as_u64().unwrap_or(0);
    if protocol != PROTOCOL {
        return Err(error(
            "instantiate",
            format!("wprof speaks protocol {protocol}, this driver {PROTOCOL}: rebuild it"),
        ));
    }
    let path = req["plugin"].as_str().unwrap_or_default().to_owned();
    let export = req["export"].as_str().unwrap_or_default().to_owned();
    let input = match &req["input"] {
        Value::Object(o) if o.contains_key("bytes") => base64::engine::general_purpose::STANDARD
            .decode(o["bytes"].as_str().unwrap_or_default())
            .map_err(|e| error("copy-in", format!("the input is not base64: {e}")))?,
        Value::Object(o) if o.contains_key("json") => {
            serde_json::to_vec(&o["json"]).unwrap_or_default()
        }
        other => return Err(error("copy-in", format!("no input in {other}"))),
    };
    let mut manifest = Manifest::new([Wasm::file(&path)]);
    if let Some(bytes) = req["limits"]["memory_bytes"].as_u64() {
        // Extism counts memory in 64 KiB pages.
        manifest = manifest.with_memory_max((bytes / 65536).max(1) as u32);
    }
    // What wprof gives a WASI plugin; Extism's manifest carries only the
    // directories (allowed_paths).
    let wasi_opts = &req["limits"]["extism"]["wasi"];
    if let Some(dirs) = wasi_opts["dirs"].as_array() {
        for d in dirs {
            if let (Some(host), Some(guest)) = (d[0].as_str(), d[1].as_str()) {
                manifest = manifest.with_allowed_path(host.to_owned(), guest);
            }
        }
    }
    let given = |k: &str| match &wasi_opts[k] {
        Value::Array(a) => !a.is_empty(),
        Value::Null => false,
        _ => true,
    };
    let unsupported: Vec<&str> = [("env", "--env"), ("args", "--arg"), ("stdin", "--stdin")]
        .into_iter()
        .filter(|(k, _)| given(k))
        .map(|(_, flag)| flag)
        .collect();
    // Extism links WASI only when asked (`wasi: true`); a plugin that
    // imports it fails to link without, and is opened again with it, the
    // failed attempt left out of the time.
    let mut started = Instant::now();
    let mut wasi = false;
    let plugin = match runtime.plugin(&manifest, false) {
        Err(e) if e.contains("wasi_snapshot_preview1") => {
            if !unsupported.is_empty() {
                return Err(error(
                    "instantiate",
                    format!(
                        "the plugin imports WASI, and Extism gives a WASI plugin only directories (its manifest's allowed_paths): {} cannot reach it here",
                        unsupported.join(", ")
                    ),
                ));
            }
            started = Instant::now();
            wasi = true;
            runtime.plugin(&manifest, true)
        }
        other => other,
    }
    .map_err(|e| error("instantiate", e))?;
    let new_ns = started.elapsed().as_nanos() as f64;
    let c_export = CString::new(export.clone())
        .map_err(|_| error("instantiate", "the export's name holds a NUL".to_owned()))?;
    let mut o = Open {
        runtime,
        plugin,
        export,
        c_export,
        input,
        manifest,
        wasi,
        compiled: None,
    };
    let output = o
        .plugin
        .call(&o.export, &o.c_export, &o.input)
        .map_err(|e| error("execute", e))?
        .to_vec();
    let how = match runtime {
        Runtime::Sdk => "the SDK's Plugin::call",
        Runtime::Lib(_) => "libextism's extism_plugin_call",
    };
    let unseen = |phase: &str| json!({"phase": phase, "why": format!("{how} copies the input in, runs the export and reads the output in one step")});
    let (name, engine) = runtime.describe();
    let opened = json!({
        "op": "opened",
        "protocol": PROTOCOL,
        "driver": {
            "name": name,
            "engine": engine,
            "compiler": "cranelift",
            "abi": "extism",
            "process": format!("child process (pid {})", std::process::id()),
            "unseen": [unseen("copy-in"), unseen("execute"), unseen("copy-out")],
        },
        "phases": ["call"],
        // Making a plugin reads, validates, compiles and instantiates in one step.
        "setup": [{"phase": "instantiate", "ns": new_ns}],
        "output": base64::engine::general_purpose::STANDARD.encode(&output),
        "clock": "monotonic",
    });
    Ok((o, opened))
}

/// One round: `calls` instrumented calls and as many plain ones in
/// batches, in the order asked.
fn round(o: &mut Open, calls: u64, instrumented_first: bool) -> Result<Value, Value> {
    let mut stamps = Vec::with_capacity(2 * calls as usize);
    let mut batches = Vec::new();
    let fail = |e: String| error("call", e);
    for instrumented in [instrumented_first, !instrumented_first] {
        if instrumented {
            for _ in 0..calls {
                let t0 = now();
                o.call().map_err(fail)?;
                stamps.push(t0);
                stamps.push(now());
            }
        } else {
            let mut left = calls;
            while left > 0 {
                let n = left.min(BATCH);
                let t0 = now();
                for _ in 0..n {
                    o.call().map_err(fail)?;
                }
                batches.push(json!([n, now() - t0]));
                left -= n;
            }
        }
    }
    Ok(json!({"op": "round", "stamps": stamps, "timed_batches": [calls], "batches": batches}))
}

/// One whole cold start, ending with the first call: `new`,
/// `Plugin::new` from the manifest (read, validate, compile, instantiate),
/// with Wasmtime's on-disk compilation cache that Extism turns on by
/// default; `uncached`, the same with the cache off; `compiled`, `Plugin::new_from_compiled` from a plugin compiled once,
/// before the first (instantiate only). Nanoseconds by CLOCK_MONOTONIC.
fn cold_start(o: &mut Open, way: &str) -> Result<Value, Value> {
    if way == "compiled" && o.compiled.is_none() {
        o.compiled = Some(
            o.runtime
                .compile(&o.manifest, o.wasi)
                .map_err(|e| error("compile", e))?,
        );
    }
    let t0 = now();
    let mut p = match (way, &o.compiled) {
        ("new", _) => o.runtime.plugin(&o.manifest, o.wasi),
        ("uncached", _) => o.runtime.uncached(&o.manifest, o.wasi),
        ("compiled", Some(c)) => c.plugin(),
        _ => return Err(error("instantiate", format!("no cold start {way:?}"))),
    }
    .map_err(|e| error("instantiate", e))?;
    p.call(&o.export, &o.c_export, &o.input)
        .map_err(|e| error("execute", e))?;
    let ns = now() - t0;
    drop(p);
    Ok(json!({"op": "cold_start", "ns": ns}))
}

/// A reading of this process's memory, as wprof's `MemoryPoint`: resident
/// and proportional set from /proc/self/smaps_rollup, virtual size from
/// /proc/self/status; the heap is not read here (no `mallinfo2` binding).
fn reading(label: &str, t0: Instant, instances: u64, calls: u64) -> Value {
    let field = |file: &str, key: &str| -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    json!({
        "label": label,
        "t_ns": t0.elapsed().as_nanos() as f64,
        "rss_bytes": field("/proc/self/smaps_rollup", "Rss:").unwrap_or(0),
        "pss_bytes": field("/proc/self/smaps_rollup", "Pss:"),
        "virtual_bytes": field("/proc/self/status", "VmSize:").unwrap_or(0),
        "heap_bytes": null,
        "instances": instances,
        "calls": calls,
    })
}

/// Memory as Extism's runtime holds the plugin: the open plugin after
/// `calls` calls, then a CompiledPlugin, then `instances` more plugins
/// from it, each called once and kept alive.
fn memory(o: &mut Open, instances: u64, calls: u64) -> Result<Value, Value> {
    let t0 = Instant::now();
    let mut points = vec![reading("1 instance", t0, 1, 1)];
    for _ in 0..calls {
        o.call().map_err(|e| error("call", e))?;
    }
    points.push(reading("calls", t0, 1, 1 + calls));
    let compiled = o
        .runtime
        .compile(&o.manifest, o.wasi)
        .map_err(|e| error("compile", e))?;
    points.push(reading("module", t0, 1, 1 + calls));
    let mut kept = Vec::with_capacity(instances as usize);
    for _ in 0..instances {
        let mut p = compiled.plugin().map_err(|e| error("instantiate", e))?;
        p.call(&o.export, &o.c_export, &o.input)
            .map_err(|e| error("execute", e))?;
        kept.push(p);
    }
    points.push(reading(
        "instances",
        t0,
        1 + instances,
        1 + calls + instances,
    ));
    drop(kept);
    Ok(json!({"op": "memory", "points": points}))
}

/// A soak: the open plugin called `rate` times a second for
/// `duration_ns`, this process's memory read every `sample_every_ns` and at
/// the end, the first `timed` calls stamped; as wprof's own soak paces and
/// reads, so that the two trends compare. A failed call ends it, the
/// readings so far kept.
fn soak(o: &mut Open, req: &Value) -> Value {
    let ns = |k: &str| std::time::Duration::from_nanos(req[k].as_u64().unwrap_or(0));
    let (duration, every) = (ns("duration_ns"), ns("sample_every_ns"));
    let rate = req["rate"].as_f64().unwrap_or(1.0).max(1e-3);
    let timed = req["timed"].as_u64().unwrap_or(0) as usize;
    let every = every.max(std::time::Duration::from_millis(1));
    let mut stamps: Vec<u64> = Vec::with_capacity(2 * timed);
    let mut points = Vec::new();
    let period = std::time::Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut next_sample = std::time::Duration::ZERO;
    let mut calls: u64 = 0;
    let mut failure = Value::Null;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        if elapsed >= next_sample {
            points.push(reading("sample", start, 1, calls));
            next_sample += every;
        }
        let due = period.mul_f64(calls as f64);
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(next_sample.saturating_sub(elapsed)));
            continue;
        }
        let t0 = now();
        if let Err(e) = o.call() {
            failure = json!(format!(
                "{e} (after {calls} calls, {:.1} s)",
                start.elapsed().as_secs_f64()
            ));
            break;
        }
        if stamps.len() < 2 * timed {
            stamps.push(t0);
            stamps.push(now());
        }
        calls += 1;
    }
    points.push(reading("end", start, 1, calls));
    json!({"op": "soak", "points": points, "calls": calls, "stamps": stamps, "failure": failure})
}

fn main() {
    // wprof stops the driver between rounds; a Ctrl-C is wprof's to handle.
    // SAFETY: ignoring a signal has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // A soak runs for as long as asked: should wprof end without asking
    // this driver to quit (a second Ctrl-C), the driver ends with it.
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number, no pointer.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // `--libextism PATH`: the C API instead of the SDK.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match &args[..] {
        [] => Ok(Runtime::Sdk),
        [flag, path] if flag == "--libextism" => Lib::load(path).map(Runtime::Lib),
        _ => Err(format!(
            "unexpected arguments {args:?} (expected none, or --libextism PATH)"
        )),
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut plugin: Option<Open> = None;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let req: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("wprof-extism-sdk: not a request: {e}");
                break;
            }
        };
        let answer = match (req["op"].as_str(), plugin.as_mut()) {
            (Some("open"), _) => match runtime
                .clone()
                .map_err(|e| error("instantiate", e))
                .and_then(|r| open(r, &req))
            {
                Ok((o, opened)) => {
                    plugin = Some(o);
                    opened
                }
                Err(e) => e,
            },
            (Some("warm_up"), Some(o)) => {
                let mut r = json!({"op": "ok"});
                for _ in 0..req["calls"].as_u64().unwrap_or(0) {
                    if let Err(e) = o.call() {
                        r = error("call", e);
                        break;
                    }
                }
                r
            }
            (Some("round"), Some(o)) => round(
                o,
                req["calls"].as_u64().unwrap_or(0),
                req["instrumented_first"].as_bool().unwrap_or(true),
            )
            .unwrap_or_else(|e| e),
            (Some("cold_start"), Some(o)) => {
                cold_start(o, req["way"].as_str().unwrap_or_default()).unwrap_or_else(|e| e)
            }
            (Some("memory"), Some(o)) => memory(
                o,
                req["instances"].as_u64().unwrap_or(0),
                req["calls"].as_u64().unwrap_or(0),
            )
            .unwrap_or_else(|e| e),
            (Some("soak"), Some(o)) => soak(o, &req),
            (Some("clock"), _) => {
                // The cost of a read, measured; a nanosecond clock's step.
                let t0 = now();
                for _ in 0..1000 {
                    std::hint::black_box(now());
                }
                json!({"op": "clock", "name": "monotonic", "ns_per_tick": 1.0,
                       "read_cost_ns": (now() - t0) as f64 / 1000.0, "resolution_ns": 1.0})
            }
            (Some("quit"), _) => break,
            (op, _) => error("instantiate", format!("unexpected request {op:?}")),
        };
        if writeln!(out, "{answer}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}
