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
use std::time::Instant;

use base64::Engine as _;
use extism::{Manifest, Plugin, Wasm};
use serde_json::{Value, json};
use wprof_driver_kit::{Session, error, now, one_line, reading, serve};

use self::libextism::{Lib, LibCompiled, LibPlugin};

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

fn open(runtime: Runtime, req: &Value) -> Result<(Open, Value), Value> {
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
        "protocol": wprof_driver_kit::PROTOCOL,
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

impl Session for Open {
    fn call(&mut self) -> Result<(), Value> {
        Open::call(self).map_err(|e| error("call", e))
    }

    fn marked(&mut self, stamps: &mut Vec<u64>) -> Result<(), Value> {
        stamps.push(now());
        Open::call(self).map_err(|e| error("call", e))?;
        stamps.push(now());
        Ok(())
    }

    fn stamps_per_call(&self) -> usize {
        2
    }

    fn cold_start(&mut self, way: &str) -> Result<Value, Value> {
        cold_start(self, way)
    }

    fn memory(&mut self, instances: u64, calls: u64) -> Result<Value, Value> {
        memory(self, instances, calls)
    }
}

fn main() {
    // `--libextism PATH`: the C API instead of the SDK.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match &args[..] {
        [] => Ok(Runtime::Sdk),
        [flag, path] if flag == "--libextism" => Lib::load(path).map(Runtime::Lib),
        _ => Err(format!(
            "unexpected arguments {args:?} (expected none, or --libextism PATH)"
        )),
    };
    serve("wprof-extism-sdk", |req| {
        runtime
            .clone()
            .map_err(|e| error("instantiate", e))
            .and_then(|r| open(r, req))
    });
}
