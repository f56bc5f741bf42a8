//! Arbitrary modules through wprof's host: reading (text or binary),
//! validating, compiling, choosing the export, instantiating and the
//! deadline-guarded call with its ABI decoding (result pointer and length
//! checked against linear memory, output limit). Raw bytes exercise the
//! parser and error paths; a first byte of 0xff turns the rest into a valid
//! module with wasm-smith, so the later phases run too. Any panic or hang
//! is a bug: every failure must be a one-line error.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wprof::driver::guard::guarded_call;
use wprof::driver::wasmtime::WasmtimeDriver;
use wprof::driver::{Driver, Limits};

/// Compiling is most of an execution's time: one thread (no pool hand-off
/// per tiny module) and no optimisation, so that millions of inputs fit in
/// minutes. The guarded call uses wprof's own engine, as in a real run.
static ENGINE: LazyLock<wasmtime::Engine> = LazyLock::new(|| {
    let mut config = wasmtime::Config::new();
    config.parallel_compilation(false);
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    wasmtime::Engine::new(&config).expect("a default engine")
});

fn module(data: &[u8]) -> Option<Vec<u8>> {
    match data.split_first() {
        Some((0xff, rest)) => {
            let mut u = arbitrary::Unstructured::new(rest);
            let mut cfg: wasm_smith::Config = u.arbitrary().ok()?;
            // Small modules: compiling is the slow part of an execution.
            cfg.max_funcs = cfg.max_funcs.min(4);
            cfg.max_instructions = cfg.max_instructions.min(60);
            cfg.max_memory32_bytes = cfg.max_memory32_bytes.min(1 << 24);
            cfg.export_everything = true;
            cfg.max_imports = 0;
            wasm_smith::Module::new(cfg, &mut u)
                .ok()
                .map(|m| m.to_bytes())
        }
        _ => Some(data.to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = module(data) else { return };
    let Ok(bytes) = wprof::source::to_binary(bytes) else {
        return;
    };
    // The driver for the module's calling convention, as a run picks it.
    match wprof::kind::abi(&bytes) {
        wprof::kind::Abi::Wprof => run::<wprof::driver::wprof::Wprof>(&bytes),
        wprof::kind::Abi::Extism => run::<wprof::driver::extism::Extism>(&bytes),
    }
});

fn run<A: wprof::driver::wasmtime::Abi>(bytes: &[u8]) {
    let driver = WasmtimeDriver::<A>::new(ENGINE.clone(), "cranelift");
    let Ok(module) = driver.load("fuzz", bytes, &mut Vec::new()) else {
        return;
    };
    let Ok(export) = driver.choose_export("fuzz", None, &module) else {
        return;
    };
    let limits = Limits {
        memory_bytes: Some(16 << 20),
        table_elements: Some(10_000),
        output_bytes: Some(1 << 20),
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    let _ = guarded_call::<A>(
        "fuzz",
        bytes,
        &export,
        b"{\"drugs\":[\"warfarin\"]}",
        &limits,
    );
}
