//! Bad input: each case is one line naming the plugin, the phase and the
//! cause, exit code 1, no panic, and no run file.

mod common;

use common::Sandbox;

/// Runs `record hot-path` with `args` and checks the failure contract.
fn fails(sb: &Sandbox, args: &[&str], prefix: &str, cause: &str) {
    let mut all = vec![
        "record",
        "hot-path",
        "--out-dir",
        "out",
        "-n",
        "100",
        "-w",
        "0",
    ];
    all.extend_from_slice(args);
    let ran = sb.wprof(&all);
    assert_eq!(ran.code, Some(1), "{args:?}: {}", ran.stderr);
    // One line; a trap's wasm backtrace follows it, a function a line.
    let (lines, frames): (Vec<&str>, Vec<&str>) =
        ran.stderr.lines().partition(|l| !l.starts_with("    at "));
    assert_eq!(lines.len(), 1, "not one line: {}", ran.stderr);
    assert!(frames.iter().all(|f| f.len() > 7), "{}", ran.stderr);
    let line = lines[0];
    assert!(
        line.starts_with(&format!("wprof: error: {prefix}")),
        "{args:?}: {line}"
    );
    assert!(line.contains(cause), "{args:?}: {line} lacks {cause:?}");
    assert!(ran.stdout.is_empty());
    assert!(
        !sb.path("out/hot-path.json").exists(),
        "run file written despite the error"
    );
}

const ABI: &str = r#"(memory (export "memory") 1)
  (func (export "wprof_alloc") (param i32) (result i32) i32.const 16)
  (func (export "wprof_free") (param i32 i32))"#;

#[test]
fn missing_file() {
    let sb = Sandbox::new();
    fails(
        &sb,
        &["-p", "nope.wasm"],
        "nope.wasm: read: cannot read nope.wasm",
        "No such file",
    );
}

#[test]
fn a_mistyped_bundled_name_gets_a_suggestion() {
    let sb = Sandbox::new();
    fails(
        &sb,
        &["-p", "drug-chekcer"],
        "drug-chekcer: read: no such file, and no bundled plugin of that name",
        "did you mean the bundled `drug-checker`?",
    );
    // A name near none keeps the file error.
    fails(
        &sb,
        &["-p", "sqlite"],
        "sqlite: read: cannot read sqlite",
        "No such file",
    );
}

/// `--heap` without `wprof-heap` beside wprof fails before anything is
/// measured, not after.
#[test]
fn heap_without_its_binary_fails_before_measuring() {
    let sb = Sandbox::new();
    let alone = sb.path("wprof");
    std::fs::copy(env!("CARGO_BIN_EXE_wprof"), &alone).unwrap();
    let ran = std::process::Command::new(&alone)
        .args(["record", "hot-path", "--heap", "-o", "out"])
        .current_dir(sb.path("."))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("wprof: error: --heap: no ")
            && stderr.contains("wprof-heap next to wprof"),
        "{stderr}"
    );
    assert!(!sb.path("out").exists(), "it measured first");
}

#[test]
fn directory_instead_of_file() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("plug.wasm")).unwrap();
    fails(
        &sb,
        &["-p", "plug.wasm"],
        "plug.wasm: read: ",
        "is a directory",
    );
}

#[test]
fn not_wasm_and_empty() {
    let sb = Sandbox::new();
    sb.write("notes.txt", "hello world");
    fails(
        &sb,
        &["-p", "notes.txt"],
        "notes.txt: read: ",
        "no \\0asm magic (starts with 68 65 6c 6c)",
    );
    sb.write("empty.wasm", "");
    fails(
        &sb,
        &["-p", "empty.wasm"],
        "empty.wasm: read: ",
        "the file is empty",
    );
}

#[test]
fn truncated_module() {
    let sb = Sandbox::new();
    sb.write("cut.wasm", &common::bundled_wasm()[..1000]);
    fails(
        &sb,
        &["-p", "cut.wasm"],
        "cut.wasm: validate: ",
        "unexpected end-of-file",
    );
}

#[test]
fn missing_export() {
    let sb = Sandbox::new();
    sb.write("dc.wasm", common::bundled_wasm());
    fails(
        &sb,
        &["-p", "dc.wasm", "-e", "check_everything"],
        "dc.wasm: instantiate: ",
        "no exported function `check_everything`",
    );
    sb.write("noabi.wat", format!("(module {ABI})"));
    fails(
        &sb,
        &["-p", "noabi.wat", "--input-json", "{}"],
        "noabi.wat: instantiate: ",
        "pass --export",
    );
}

#[test]
fn export_with_wrong_signature() {
    let sb = Sandbox::new();
    sb.write(
        "sig.wat",
        format!(r#"(module {ABI} (func (export "run") (param i32) (result i32) i32.const 0))"#),
    );
    fails(
        &sb,
        &["-p", "sig.wat", "-e", "run", "--input-json", "{}"],
        "sig.wat: instantiate: ",
        "needs (i32, i32) -> i64",
    );
}

#[test]
fn input_that_is_not_json() {
    let sb = Sandbox::new();
    sb.write("in.json", r#"{"medications": ["aspirin""#);
    fails(
        &sb,
        &["-i", "in.json"],
        "drug-checker: encode: ",
        "input file in.json is not valid JSON",
    );
    fails(
        &sb,
        &["-i", "missing.json"],
        "drug-checker: encode: ",
        "cannot read input missing.json",
    );
}

#[test]
fn request_the_plugin_rejects() {
    let sb = Sandbox::new();
    fails(
        &sb,
        &["--input-json", r#"{"drugs":[]}"#],
        "drug-checker: execute: ",
        "missing field `medications`",
    );
}

#[test]
fn plugin_that_traps() {
    let sb = Sandbox::new();
    sb.write(
        "trap.wat",
        format!(
            r#"(module {ABI} (func $boom (export "run") (param i32 i32) (result i64) unreachable))"#
        ),
    );
    fails(
        &sb,
        &["-p", "trap.wat", "--input-json", "{}"],
        "trap.wat: execute: ",
        "wasm trap: wasm `unreachable` instruction executed",
    );
    let ran = sb.line("record hot-path -p trap.wat --input-json {}");
    assert!(
        ran.stderr.ends_with("executed\n    at boom\n"),
        "{}",
        ran.stderr
    );
}

#[test]
fn result_outside_linear_memory() {
    let sb = Sandbox::new();
    sb.write("oob.wat", format!(r#"(module {ABI} (func (export "run") (param i32 i32) (result i64) i64.const 0x0000fff0_00100000))"#));
    fails(
        &sb,
        &["-p", "oob.wat", "--input-json", "{}"],
        "oob.wat: copy-out: ",
        "outside linear memory",
    );
}

#[test]
fn unwritable_output_directory_is_caught_before_measuring() {
    let sb = Sandbox::new();
    sb.write("out", "a file where the directory should be");
    let ran = sb.line("record hot-path --out-dir out/x");
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("wprof: error: cannot write out/x"),
        "{}",
        ran.stderr
    );
}

#[test]
fn unknown_format_and_bad_clock() {
    let sb = Sandbox::new();
    let ran = sb.line("record hot-path --formats json,pdf");
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("unknown format `pdf`"),
        "{}",
        ran.stderr
    );
    let ran = sb.line("record hot-path --clock sundial");
    assert_eq!(ran.code, Some(2), "clap usage error");
    assert!(
        ran.stderr.contains("unknown clock `sundial`"),
        "{}",
        ran.stderr
    );
}
