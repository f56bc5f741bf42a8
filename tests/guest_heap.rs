//! `--guest-heap`: the plugin's own allocations inside linear memory, from
//! a rewritten copy of the module whose allocator calls wprof. Exact
//! counts on a plugin whose allocations are known (plugins/c-heap, a C
//! plugin's malloc and free by name), a leak flagged, Rust's allocator
//! found in drug-checker and an Extism plugin's, and a clear note where a
//! module has no allocator of its own.

mod common;

use common::{Sandbox, notes, strs};
use serde_json::Value;

fn plugin(rel: &str) -> String {
    format!("{}/plugins/{rel}", env!("CARGO_MANIFEST_DIR"))
}

const CALLS: u64 = 200;

/// A quick hot-path run of `export` in `wat` with the guest heap pass.
fn record(sb: &Sandbox, args: &str) -> Value {
    sb.ok_line(&format!(
        "record hot-path {args} -n 2000 -w 0 --rounds 2 --heap-calls {CALLS} --guest-heap -o out -q"
    ));
    sb.json("out/hot-path.json")
}

/// The program point whose innermost frames are `frames`.
fn point<'a>(dhat: &'a Value, frames: &[&str]) -> &'a Value {
    let ftbl = strs(&dhat["ftbl"]);
    dhat["pps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pp| {
            let fs: Vec<&str> = pp["fs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| ftbl[i.as_u64().unwrap() as usize])
                .collect();
            fs.starts_with(frames)
        })
        .unwrap_or_else(|| panic!("no program point at {frames:?} in {ftbl:?}"))
}

#[test]
fn a_c_plugin_s_allocations_are_counted_exactly_with_their_stacks() {
    let sb = Sandbox::new();
    let input = plugin("c-heap/input.json");
    let run = record(
        &sb,
        &format!(
            "--plugin {} --export work --input {input}",
            plugin("c-heap/c-heap.wat")
        ),
    );
    let g = &run["guest_heap"];
    assert_eq!(g["own"], true, "{g}");
    let found: Vec<(&str, &str)> = g["allocator"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["found_by"].as_str().unwrap()))
        .collect();
    assert!(found.contains(&("malloc", "name section")), "{found:?}");
    assert!(found.contains(&("free", "name section")), "{found:?}");
    assert!(found.contains(&("wprof_alloc", "export")), "{found:?}");
    // The input `{"n":3}` (7 bytes, wprof_alloc calling malloc: one
    // block), 16 + 32 + 64 in build_list, the 11-byte output.
    let per = &g["per_call"];
    assert_eq!(per["blocks"], 5.0, "{g}");
    assert_eq!(per["bytes"], (7 + 16 + 32 + 64 + 11) as f64, "{g}");
    assert_eq!(per["frees"], 5.0, "{g}");
    assert_eq!(g["leaked_blocks_per_call"], 0.0, "{g}");
    assert_eq!(g["calls"], CALLS);
    assert!(g["ns_per_call"].as_f64().unwrap() > 0.0);

    let dhat = sb.json("out/hot-path.guest.dhat.json");
    assert_eq!(dhat["dhatFileVersion"], 2);
    assert_eq!(dhat["mode"], "rust-heap");
    let list = point(&dhat, &["malloc", "build_list", "run", "work"]);
    // The measured calls and the unmeasured first one.
    assert_eq!(list["tbk"], 3 * (CALLS + 1), "{list}");
    assert_eq!(list["tb"], 112 * (CALLS + 1), "{list}");
    assert_eq!(list["eb"], 0, "all freed: {list}");
    let out = point(&dhat, &["malloc", "write_output", "run", "work"]);
    assert_eq!(out["tb"], 11 * (CALLS + 1), "{out}");
    let input_pp = point(&dhat, &["wprof_alloc"]);
    assert_eq!(input_pp["tbk"], CALLS + 1, "{input_pp}");

    // The text report says it, and names the profile.
    let txt = std::fs::read_to_string(sb.path("out/hot-path.txt")).unwrap();
    assert!(
        txt.contains("guest heap: 130 B in 5.0 blocks a call"),
        "{txt}"
    );
    assert!(txt.contains("hot-path.guest.dhat.json"), "{txt}");
    let html = std::fs::read_to_string(sb.path("out/hot-path.html")).unwrap();
    assert!(
        html.contains("allocated per call"),
        "no heap table in the page"
    );
}

#[test]
fn a_leak_of_one_block_a_call_is_flagged_and_the_heap_grows() {
    let sb = Sandbox::new();
    let input = plugin("c-heap/input.json");
    let run = record(
        &sb,
        &format!(
            "--plugin {} --export leak --input {input}",
            plugin("c-heap/c-heap.wat")
        ),
    );
    let g = &run["guest_heap"];
    assert_eq!(g["leaked_blocks_per_call"], 1.0, "{g}");
    assert_eq!(g["leaked_bytes_per_call"], 1000.0, "{g}");
    assert!(
        g["live_after_bytes"].as_u64().unwrap()
            >= g["live_before_bytes"].as_u64().unwrap() + 1000 * CALLS,
        "{g}"
    );
    let headline = strs(&run["headline"]);
    assert!(
        headline
            .iter()
            .any(|l| l.starts_with("LEAK: 1.00 blocks (1000 B) a call")),
        "{headline:?}"
    );
    // A KB a call from one 64 KiB page: memory grows, in measured calls,
    // from the leaking function's malloc.
    let grows = g["grows"].as_array().unwrap();
    let measured = grows
        .iter()
        .find(|g| g["in_measured_call"] == true)
        .unwrap_or_else(|| panic!("no memory.grow in a measured call: {grows:?}"));
    let stack = strs(&measured["stack"]);
    assert_eq!(
        stack[..4],
        ["memory.grow", "malloc", "leak_node", "build_list"],
        "{stack:?}"
    );
    let dhat = sb.json("out/hot-path.guest.dhat.json");
    let leaked = point(&dhat, &["malloc", "leak_node"]);
    assert_eq!(
        leaked["ebk"],
        CALLS + 1,
        "every leaked block still live: {leaked}"
    );
}

#[test]
fn drug_checker_s_rust_allocator_is_found_and_set_beside_native() {
    let sb = Sandbox::new();
    let run = record(&sb, "");
    let g = &run["guest_heap"];
    assert_eq!(g["own"], true, "{g}");
    let names: Vec<&str> = g["allocator"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("__rust_alloc")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("__rust_dealloc")),
        "{names:?}"
    );
    assert!(g["per_call"]["blocks"].as_f64().unwrap() >= 2.0, "{g}");
    assert_eq!(g["leaked_blocks_per_call"], 0.0, "{g}");
    // dlmalloc grows linear memory: its first growth is on record, with
    // the allocator's stack.
    let grows = g["grows"].as_array().unwrap();
    assert!(!grows.is_empty(), "{g}");
    assert_eq!(grows[0]["stack"][0], "memory.grow");
    // Native's figure is the host pass's (dhat), and the line quotes the
    // reference study beside it.
    assert!(run["heap"]["native"]["bytes"].as_f64().unwrap() > 0.0);
    let headline = run["headline"].to_string();
    assert!(
        headline.contains("allocated a call, wasm (guest")
            && headline.contains("the reference study: 0.12 KB against 0.09 KB"),
        "{headline}"
    );
    let dhat = sb.json("out/hot-path.guest.dhat.json");
    let ftbl = dhat["ftbl"].to_string();
    assert!(
        ftbl.contains("drug_checker::"),
        "no drug_checker frame: {ftbl}"
    );
}

#[test]
fn an_extism_plugin_s_heap_is_seen() {
    let sb = Sandbox::new();
    let run = record(
        &sb,
        &format!(
            "--plugin {} --export allocate --input-json 50",
            plugin("extism-work/extism-work.wasm")
        ),
    );
    let g = &run["guest_heap"];
    assert_eq!(g["own"], true, "{g}");
    let found = g["allocator"].to_string();
    assert!(found.contains("dlmalloc"), "{found}");
    // `allocate` makes at least 1000 small strings a call.
    assert!(g["per_call"]["blocks"].as_f64().unwrap() >= 1000.0, "{g}");

    // An Extism plugin with WASI: wasi-libc's malloc, found by name, and
    // the WASI environment handed to both heap passes as to the timed one.
    let sb = Sandbox::new();
    let run = record(
        &sb,
        &format!(
            "--plugin {} --export env_var --input HOME --env HOME=/x",
            plugin("extism-wasi/extism-wasi.wasm")
        ),
    );
    let g = &run["guest_heap"];
    let found = g["allocator"].to_string();
    assert!(found.contains(r#""name":"malloc""#), "{found}");
    assert!(g["per_call"]["blocks"].as_f64().unwrap() >= 1.0, "{g}");
    assert!(run["heap"]["wasm"].is_object(), "the host pass ran too");
}

#[test]
fn a_module_without_an_allocator_of_its_own_gets_a_clear_note() {
    let sb = Sandbox::new();
    // The wprof ABI and nothing else: one fixed buffer, the output `0`.
    sb.write(
        "bare.wat",
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 2048) "0")
          (func (export "wprof_alloc") (param i32) (result i32) i32.const 1024)
          (func (export "wprof_free") (param i32 i32))
          (func (export "run") (param i32 i32) (result i64) i64.const 8796093022209))"#,
    );
    let run = record(&sb, "--plugin bare.wat --export run --input-json 0");
    let n = notes(&run).join("\n");
    assert!(
        n.contains("guest heap: no allocator of its own found in bare")
            && n.contains("--guest-alloc NAME,free=NAME,realloc=NAME"),
        "{n}"
    );
    assert_eq!(run["guest_heap"]["own"], false);
}

#[test]
fn a_given_allocator_is_used_and_a_wrong_one_refused() {
    let sb = Sandbox::new();
    let input = plugin("c-heap/input.json");
    let wat = plugin("c-heap/c-heap.wat");
    sb.ok_line(&format!(
        "record hot-path --plugin {wat} --export work --input {input} -n 2000 -w 0 --rounds 2 --heap-calls 20 --guest-alloc malloc,free=free -o out -q"
    ));
    let run = sb.json("out/hot-path.json");
    let found = run["guest_heap"]["allocator"].to_string();
    assert!(
        found.contains("--guest-alloc") && !found.contains("wprof_alloc"),
        "{found}"
    );
    // Without wprof_alloc hooked, its malloc is the outermost call: the
    // same five blocks a call.
    assert_eq!(run["guest_heap"]["per_call"]["blocks"], 5.0);
    let ran = sb.line(&format!(
        "record hot-path --plugin {wat} --export work --input {input} -n 2000 --guest-alloc nosuch -o out2 -q"
    ));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("c-heap") && ran.stderr.contains("no function `nosuch`"),
        "{}",
        ran.stderr
    );
    assert!(!sb.path("out2").exists(), "a half-written set");
}
