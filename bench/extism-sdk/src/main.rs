//! The Extism Rust SDK running the same unmodified plugin wprof's hot path
//! runs, on the same input, timed the way wprof's uninstrumented batches
//! are: the median over batches of the mean call (input copy, the call,
//! output read). Not part of wprof's build: `scripts/extism-sdk-bench`.

use std::time::Instant;

use extism::{Manifest, Plugin, Wasm};

fn main() -> Result<(), extism::Error> {
    let mut args = std::env::args().skip(1);
    let wasm = args
        .next()
        .unwrap_or_else(|| "plugins/count-vowels/count-vowels.wasm".into());
    let export = args.next().unwrap_or_else(|| "count_vowels".into());
    let input = args.next().unwrap_or_else(|| "Hello, World!".into());
    let mut plugin = Plugin::new(Manifest::new([Wasm::file(&wasm)]), [], false)?;
    let first: String = plugin.call(&export, input.as_str())?;
    println!("{export}({input:?}) = {first}");
    const BATCH: usize = 1000;
    for _ in 0..10 * BATCH {
        let _: &[u8] = plugin.call(&export, input.as_str())?;
    }
    let mut batches = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        for _ in 0..BATCH {
            let _: &[u8] = plugin.call(&export, input.as_str())?;
        }
        batches.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
        // One timed call per batch too, for a per-call median.
        let start = Instant::now();
        let _: &[u8] = plugin.call(&export, input.as_str())?;
        calls.push(start.elapsed().as_nanos() as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "extism {}: median of 100 batch means of {BATCH} calls: {:.1} ns per call; median single call {:.1} ns",
        extism::extism_version(),
        median(&mut batches),
        median(&mut calls)
    );
    Ok(())
}
