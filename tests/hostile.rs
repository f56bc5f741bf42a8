//! Hostile plugins: each case ends in one line naming the plugin, the phase
//! and the cause, exit 1, within the deadline, and no output file.

mod common;

use std::time::{Duration, Instant};

use common::Sandbox;

/// The wprof ABI's two helpers, for modules that then misbehave.
const ABI: &str = r#"
  (memory (export "memory") 1)
  (func (export "wprof_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "wprof_free") (param i32 i32))"#;

/// Records the hot path of `body` (inside a module with the ABI helpers)
/// and checks the one-line error: `<plugin>: <phase>: ...<cause>...`.
fn refused(body: &str, extra: &[&str], phase: &str, cause: &str) -> Duration {
    refused_in("hot-path", body, extra, phase, cause)
}

/// As [`refused`], for the `record` scenario given.
fn refused_in(scenario: &str, body: &str, extra: &[&str], phase: &str, cause: &str) -> Duration {
    let sb = Sandbox::new();
    // A whole module as given; else the body after the ABI helpers.
    let module = if body.trim_start().starts_with("(module") {
        body.to_owned()
    } else {
        format!("(module {ABI}\n{body})")
    };
    sb.write("p.wat", module);
    let mut args = vec![
        "record",
        scenario,
        "--plugin",
        "p.wat",
        "--input-json",
        "{}",
        "-o",
        "out",
    ];
    args.extend_from_slice(extra);
    let start = Instant::now();
    let ran = sb.wprof(&args);
    let took = start.elapsed();
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    // One line; a trap's wasm backtrace follows it, a function a line.
    let (lines, _frames): (Vec<&str>, Vec<&str>) =
        ran.stderr.lines().partition(|l| !l.starts_with("    at "));
    assert_eq!(lines.len(), 1, "one line: {}", ran.stderr);
    let line = lines[0];
    let prefix = format!("wprof: error: p.wat: {phase}: ");
    assert!(line.starts_with(&prefix), "{line}\n(expected {prefix}...)");
    assert!(line.contains(cause), "{line}\n(expected ...{cause}...)");
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    let written: Vec<_> = std::fs::read_dir(sb.path("out"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "files written: {written:?}");
    took
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let took = refused(
        r#"(func (export "spin") (param i32 i32) (result i64) (loop $l (br $l)) i64.const 0)"#,
        &["--deadline", "300ms"],
        "execute",
        "did not return within the 300ms deadline",
    );
    // The whole process, compile and start-up included: generous, so that
    // a loaded machine does not fail it; the deadline itself is kept to
    // milliseconds (see the README).
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Returns `{}` on its first two calls and never returns from the third: a
/// plugin whose state changes, which the one guard call cannot catch.
const LOOPS_ON_THIRD_CALL: &str = r#"(data (i32.const 0) "{}")
    (global $n (mut i32) (i32.const 0))
    (func (export "f") (param i32 i32) (result i64)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (if (i32.ge_u (global.get $n) (i32.const 3)) (then (loop $l (br $l))))
      i64.const 2)"#;

#[test]
fn a_later_call_that_never_returns_ends_the_run_at_the_deadline() {
    for scenario in ["hot-path", "soak"] {
        let took = refused_in(
            scenario,
            LOOPS_ON_THIRD_CALL,
            &["--deadline", "300ms", "--duration", "2s"][..if scenario == "soak" { 4 } else { 2 }],
            "execute",
            "a call did not return within the 300ms deadline (--deadline); the run was stopped and nothing was written",
        );
        assert!(took < Duration::from_secs(5), "{scenario} took {took:?}");
    }
}

#[test]
fn a_later_call_that_never_returns_fails_its_memory_variant() {
    let sb = Sandbox::new();
    sb.write("p.wat", format!("(module {ABI}\n{LOOPS_ON_THIRD_CALL})"));
    let ran = sb.line("record memory -p p.wat --input-json {} --deadline 300ms --instances 2 --calls 10 --counters none -q -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    let run = sb.json("out/memory.json");
    let failures = run["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "jit, aot, pooling: {failures:?}");
    for f in failures {
        assert_eq!(f["phase"], "execute");
        assert_eq!(
            f["cause"],
            "a call did not return within the 300ms deadline (--deadline); its process was stopped"
        );
    }
}

#[test]
fn wprof_call_keeps_the_deadline() {
    let sb = Sandbox::new();
    sb.write(
        "p.wat",
        format!("(module {ABI}\n(func (export \"f\") (param i32 i32) (result i64) (loop $l (br $l)) i64.const 0))"),
    );
    let ran = sb.line("call -p p.wat --input-json {} --deadline 200ms");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim(),
        "wprof: error: p.wat: execute: did not return within the 200ms deadline (--deadline)"
    );
}

#[test]
fn a_start_up_that_never_returns_fails_the_wizer_rung_and_the_others_go_on() {
    let sb = Sandbox::new();
    sb.write(
        "p.wat",
        format!(
            "(module {ABI}\n(data (i32.const 0) \"{{}}\")\n(func (export \"wprof_init\") (loop $l (br $l)))\n(func (export \"f\") (param i32 i32) (result i64) i64.const 2))"
        ),
    );
    let ran = sb.line("record cold-start -p p.wat --input-json {} --deadline 300ms --rungs aot-mmap,wizer -n 3 --counters none -q -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let run = sb.json("out/cold-start.json");
    assert_eq!(run["failures"][0]["variant"], "wizer");
    assert_eq!(run["failures"][0]["phase"], "pre-init");
    assert_eq!(
        run["failures"][0]["cause"],
        "did not return within the 300ms deadline (--deadline)"
    );
    assert_eq!(
        common::variant(&run, "aot-mmap")["phases"][0]["stats"]["n"],
        3
    );
}

#[test]
fn cold_start_takes_the_limits_too() {
    refused_in(
        "cold-start",
        r#"(func (export "f") (param i32 i32) (result i64)
             (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
             i64.const 0)"#,
        &["--memory-limit", "2"],
        "execute",
        "over the 2048 KiB limit (--memory-limit)",
    );
}

#[test]
fn an_infinite_loop_in_the_start_function_is_stopped_too() {
    refused(
        r#"(func $forever (loop $l (br $l))) (start $forever)
           (func (export "f") (param i32 i32) (result i64) i64.const 0)"#,
        &["--deadline", "200ms"],
        "instantiate",
        "did not return within the 200ms deadline",
    );
}

#[test]
fn a_trap_in_the_start_function() {
    refused(
        r#"(func $boom unreachable) (start $boom)
           (func (export "f") (param i32 i32) (result i64) i64.const 0)"#,
        &[],
        "instantiate",
        "unreachable",
    );
}

#[test]
fn unreachable_as_a_rust_panic_leaves_it() {
    refused(
        r#"(func $panic unreachable)
           (func $entry (export "f") (param i32 i32) (result i64) call $panic i64.const 0)"#,
        &[],
        "execute",
        "wasm `unreachable` instruction executed",
    );
    // The backtrace names the functions, innermost first, a line each.
    let sb = Sandbox::new();
    sb.write(
        "p.wat",
        format!(
            r#"(module {ABI} (func $panic unreachable)
                 (func $entry (export "f") (param i32 i32) (result i64) call $panic i64.const 0))"#
        ),
    );
    let ran = sb.line("record hot-path --plugin p.wat --input-json {}");
    assert!(
        ran.stderr
            .ends_with("executed\n    at panic\n    at entry\n"),
        "{}",
        ran.stderr
    );
}

#[test]
fn deep_recursion_exhausts_the_stack() {
    refused(
        r#"(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
           (func (export "f") (param i32 i32) (result i64) (drop (call $down (i32.const 0))) i64.const 0)"#,
        &[],
        "execute",
        "call stack exhausted",
    );
}

#[test]
fn a_memory_grow_bomb_meets_the_memory_limit() {
    refused(
        r#"(func (export "f") (param i32 i32) (result i64)
             (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
             i64.const 0)"#,
        &["--memory-limit", "64"],
        "execute",
        "linear memory limit reached: the plugin asked to grow from 64576 to 65600 KiB, over the 65536 KiB limit",
    );
}

#[test]
fn a_table_growth_bomb_meets_the_table_limit() {
    refused(
        r#"(table 1 funcref)
           (func (export "f") (param i32 i32) (result i64)
             (loop $l (br_if $l (i32.ne (table.grow (ref.null func) (i32.const 100)) (i32.const -1))))
             i64.const 0)"#,
        &["--table-limit", "1000"],
        "execute",
        "table limit reached: the plugin asked to grow a table from 901 to 1001 elements, over the 1000-element limit",
    );
}

#[test]
fn a_huge_but_legal_output_meets_the_output_limit() {
    // 2 MiB at address 0 of a 4 MiB memory: inside linear memory, over
    // a 1024 KiB limit.
    refused(
        r#"(func (export "f") (param i32 i32) (result i64)
             (drop (memory.grow (i32.const 63)))
             i64.const 2097152)"#,
        &["--output-limit", "1024"],
        "copy-out",
        "output of 2097152 bytes is over the 1024 KiB output limit",
    );
}

#[test]
fn imports_the_abi_does_not_supply_are_listed_with_their_abi() {
    refused(
        &format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "path_open" (func $again (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
                 (import "env" "host_fn" (func))
                 {ABI}
                 (func (export "f") (param i32 i32) (result i64) i64.const 0))"#
        ),
        &[],
        "instantiate",
        // Each import once, grouped by module, each group's advice once.
        "the module imports wasi_snapshot_preview1 (path_open, fd_write; WASI: a WASI command runs under `wprof record command`; the plugin ABI grants no file access); env (host_fn), and the wprof ABI supplies no imports",
    );
}

#[test]
fn wrong_magic_or_version() {
    let sb = Sandbox::new();
    for (name, bytes) in [
        ("magic.wasm", b"\0asn\x01\0\0\0".to_vec()),
        ("version.wasm", b"\0asm\x02\0\0\0".to_vec()),
    ] {
        sb.write(name, bytes);
        let ran = sb.wprof(&["record", "hot-path", "--plugin", name, "-o", "out"]);
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        let line = ran.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.starts_with(&format!("wprof: error: {name}: read: not a wasm module"))
                || line.starts_with(&format!("wprof: error: {name}: validate: ")),
            "{line}"
        );
    }
}

/// Starts wprof with `line` (split at whitespace), sends it SIGINT after
/// `ms` milliseconds, and waits: its output, and when the signal went.
fn interrupted(sb: &Sandbox, line: &str, ms: u64) -> (std::process::Output, Instant) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wprof"))
        .args(line.split_whitespace())
        .current_dir(sb.path("."))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let start = Instant::now();
    (child.wait_with_output().unwrap(), start)
}

#[test]
fn ctrl_c_stops_the_run_and_writes_it_marked_incomplete() {
    let sb = Sandbox::new();
    let (out, start) = interrupted(
        &sb,
        "record soak --duration 60s --rate 200 --sample-every 200ms -o out",
        1500,
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "it stopped promptly"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let run = sb.json("out/soak.json");
    assert_eq!(run["incomplete"], true);
    let notes = run["notes"].to_string();
    assert!(
        notes.contains("incomplete: interrupted (SIGINT) after"),
        "{notes}"
    );
    let calls = run["variants"][0]["facts"]["calls"].as_u64().unwrap();
    assert!(calls > 0 && calls < 60 * 200, "{calls}");
    for f in ["soak.txt", "soak.trace.json", "soak.svg"] {
        assert!(sb.path(&format!("out/{f}")).exists(), "{f}");
    }
}

#[test]
fn a_suite_goes_on_after_a_failing_plugin() {
    let sb = Sandbox::new();
    sb.write(
        "trap.wat",
        format!("(module {ABI}\n(func (export \"f\") (param i32 i32) (result i64) unreachable))"),
    );
    let ran = sb.line(
        "record cold-start -p trap.wat,drug-checker --rungs aot-mmap -n 3 --counters none -o out",
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    // It fails (here: no input for it), on its own line.
    assert!(
        lines[0].starts_with("wprof: error: trap.wat: "),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("1 of 2 plugins failed (each named above); the others were written"),
        "{}",
        ran.stderr
    );
    let run = sb.json("out/cold-start.json");
    assert_eq!(run["plugin"]["name"], "drug-checker");
    // --fail-fast stops at the first, and writes nothing.
    let ran = sb.line("record cold-start -p trap.wat,drug-checker --rungs aot-mmap -n 3 --counters none --fail-fast -o fast");
    assert_eq!(ran.code, Some(1));
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    // Not even the directory: a failed run leaves none behind.
    assert!(!sb.path("fast").exists());
}

#[test]
fn ctrl_c_inside_a_call_that_never_returns_exits_130_without_waiting_for_the_deadline() {
    let sb = Sandbox::new();
    sb.write("p.wat", format!("(module {ABI}\n{LOOPS_ON_THIRD_CALL})"));
    let (out, start) = interrupted(
        &sb,
        "record hot-path -p p.wat --input-json {} --deadline 60s -o out",
        1000,
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "not the 60 s deadline"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted (SIGINT) inside a call of p.wat that has not returned"),
        "{stderr}"
    );
    assert!(
        !sb.path("out").exists() || std::fs::read_dir(sb.path("out")).unwrap().next().is_none()
    );
}
