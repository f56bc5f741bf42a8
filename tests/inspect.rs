//! `wprof inspect` on real modules: a bundled plugin, a plugin with host
//! imports, the component, a WASI command using the Sightglass bench
//! protocol, an Extism-style plugin; golden text with sizes normalised.

mod common;

use common::Sandbox;

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The text of `wprof inspect <path>`, with the path and the byte count
/// (which moves with any rebuild) normalised.
fn inspected(sb: &Sandbox, path: &str, shown: &str) -> String {
    let ran = sb.ok(&["inspect", path]);
    let text = ran.stdout.replace(path, shown);
    let (first, rest) = text.split_once('\n').unwrap();
    let first = match first.rsplit_once(", ") {
        Some((head, size)) if size.ends_with(" bytes") => format!("{head}, <size> bytes"),
        _ => first.to_owned(),
    };
    format!("{first}\n{rest}")
}

#[test]
fn a_wprof_plugin_is_recognised_with_its_command() {
    let sb = Sandbox::new();
    let text = inspected(
        &sb,
        &repo("plugins/drug-checker/drug-checker.wasm"),
        "drug-checker.wasm",
    );
    common::golden("inspect.drug-checker.txt", &text);
    // JSON carries the same, the exact size included.
    let ran = sb.ok(&[
        "inspect",
        &repo("plugins/drug-checker/drug-checker.wasm"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["kind"], "core module");
    assert_eq!(
        v["size_bytes"].as_u64().unwrap(),
        std::fs::metadata(repo("plugins/drug-checker/drug-checker.wasm"))
            .unwrap()
            .len()
    );
    assert_eq!(v["abis"][0]["name"], "wprof");
    assert_eq!(v["abis"][0]["supported"], true);
}

#[test]
fn host_imports_are_listed_with_who_supplies_them() {
    let sb = Sandbox::new();
    let text = inspected(
        &sb,
        &repo("plugins/transfer/transfer.wasm"),
        "transfer.wasm",
    );
    common::golden("inspect.transfer.txt", &text);
}

#[test]
fn a_component_shows_its_wit_signatures() {
    let sb = Sandbox::new();
    let text = inspected(
        &sb,
        &repo("plugins/transfer-component/transfer-component.wasm"),
        "transfer-component.wasm",
    );
    common::golden("inspect.component.txt", &text);
}

#[test]
fn a_wasi_command_with_the_bench_protocol_and_an_extism_plugin() {
    let sb = Sandbox::new();
    sb.write(
        "bench.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
            (import "bench" "start" (func))
            (import "bench" "end" (func))
            (memory (export "memory") 1)
            (func (export "_start")))"#,
    );
    let text = inspected(&sb, "bench.wat", "bench.wat");
    common::golden("inspect.wasi-bench.txt", &text);
    sb.write(
        "extism.wat",
        r#"(module
            (import "extism:host/env" "input_length" (func (result i64)))
            (import "extism:host/env" "input_load_u8" (func (param i64) (result i32)))
            (import "extism:host/env" "alloc" (func (param i64) (result i64)))
            (import "extism:host/env" "output_set" (func (param i64 i64)))
            (memory (export "memory") 1)
            (func (export "count_vowels") (result i32) i32.const 0))"#,
    );
    let text = inspected(&sb, "extism.wat", "extism.wat");
    common::golden("inspect.extism.txt", &text);
}

#[test]
fn bad_input_is_one_line() {
    let sb = Sandbox::new();
    sb.write("junk.wasm", "not wasm at all");
    for (path, want) in [
        (
            "missing.wasm",
            "missing.wasm: read: cannot read missing.wasm",
        ),
        ("junk.wasm", "junk.wasm: read: "),
    ] {
        let ran = sb.wprof(&["inspect", path]);
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
        assert!(
            ran.stderr.starts_with(&format!("wprof: error: {want}")),
            "{}",
            ran.stderr
        );
    }
}
