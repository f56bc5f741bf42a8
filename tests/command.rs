//! `wprof record command`: a real WASI command (plugins/bench-command) with
//! arguments, environment, stdin and a preopened directory, its stdout
//! checked; the Sightglass bench span; and each bad case on one line.

mod common;

use common::Sandbox;

#[test]
fn a_wasi_command_with_its_inputs_and_the_bench_span() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("data")).unwrap();
    sb.write("data/in.txt", "twelve bytes");
    sb.write("stdin.txt", "hello, stdin");
    sb.write(
        "want.txt",
        "t: 17984 primes below 200000; stdin 12 bytes\n/data/in.txt: 12 bytes\n",
    );
    sb.write("empty.txt", "");
    sb.ok_line(
        "record command --arg 200000 --env BENCH_LABEL=t --env INPUT_FILE=/data/in.txt \
         --stdin stdin.txt --dir data::/data --expect-stdout want.txt --expect-stderr empty.txt \
         --time-per-variant 50ms -o out",
    );
    let run = sb.json("out/command.json");
    assert_eq!(run["scenario"], "command");
    assert_eq!(run["plugin"]["name"], "bench-command");
    // The expected files were matched: a field of its own, not a
    // comparison with a native build.
    assert_eq!(run["plugin"]["output_checked"], true);
    assert!(run["plugin"]["outputs_identical"].is_null());
    assert_eq!(run["plugin"]["input_bytes"], 12);
    let names: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["instantiate", "run", "bench"]);
    let p50 = |n: &str| {
        common::variant(&run, n)["phases"][0]["stats"]["p50_ns"]
            .as_f64()
            .unwrap()
    };
    // The span lies inside the run.
    assert!(p50("bench") > 0.0 && p50("bench") < p50("run"));
    // wprof's clock and Instant, read in the same host functions, agree.
    let diff = common::variant(&run, "bench")["facts"]["instant_diff_pct"]
        .as_f64()
        .unwrap();
    assert!(diff.abs() < 5.0, "{diff}");
    assert!(
        run["notes"]
            .to_string()
            .contains("t: 17984 primes below 200000")
    );
}

#[test]
fn a_command_without_the_bench_protocol_has_no_span() {
    let sb = Sandbox::new();
    sb.write(
        "plain.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    sb.ok_line("record command --plugin plain.wat --time-per-variant 20ms -o out");
    let run = sb.json("out/command.json");
    assert_eq!(run["variants"].as_array().unwrap().len(), 2);
    assert!(run["notes"].to_string().contains("bench: not applicable"));
}

#[test]
fn bad_commands_are_one_line_each() {
    let sb = Sandbox::new();
    sb.write("want.txt", "something else\n");
    sb.write("dc.wasm", common::bundled_wasm());
    std::fs::create_dir(sb.path("data")).unwrap();
    sb.write("data/in.txt", "x");
    sb.write(
        "exit3.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 3))))"#,
    );
    sb.write(
        "trap.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    );
    sb.write(
        "twice.wat",
        r#"(module
            (import "bench" "start" (func $s)) (import "bench" "end" (func $e))
            (memory (export "memory") 1)
            (func (export "_start") (call $s) (call $s) (call $e)))"#,
    );
    sb.write(
        "never.wat",
        r#"(module
            (import "bench" "start" (func $s)) (import "bench" "end" (func $e))
            (memory (export "memory") 1)
            (func (export "_start")))"#,
    );
    for (line, want) in [
        (
            "record command --expect-stdout want.txt -o out",
            "bench-command: execute: stdout differs from want.txt at byte 0",
        ),
        (
            "record command --env INPUT_FILE=/data/in.txt --dir data::/data --expect-stderr want.txt -o out",
            "bench-command: execute: stderr differs from want.txt at byte 0 (0 bytes printed, 15 expected)",
        ),
        (
            "record command --env INPUT_FILE=/nowhere -o out",
            "bench-command: execute: exited with code 2; stderr: cannot read /nowhere",
        ),
        (
            "record command --plugin exit3.wat -o out",
            "exit3.wat: execute: exited with code 3",
        ),
        (
            "record command --plugin trap.wat -o out",
            "trap.wat: execute: ",
        ),
        (
            "record command --plugin twice.wat -o out",
            "twice.wat: execute: ",
        ),
        (
            "record command --plugin never.wat -o out",
            "never.wat: execute: imports the Sightglass bench protocol but called bench.start 0 and bench.end 0 times",
        ),
        (
            "record command --plugin dc.wasm -o out",
            "dc.wasm: instantiate: exports no `_start`: not a WASI command",
        ),
        (
            "record command --dir nowhere -o out",
            "--dir nowhere: not a directory",
        ),
    ] {
        let ran = sb.line(line);
        assert_eq!(ran.code, Some(1), "{line}: {}", ran.stderr);
        let first = ran.stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("wprof: error: {want}")),
            "{line}:\n{}",
            ran.stderr
        );
        let written = std::fs::read_dir(sb.path("out"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(written, 0, "{line}: something was written");
    }
    // Two starts name the protocol's rule.
    let ran = sb.line("record command --plugin twice.wat -o out");
    assert!(
        ran.stderr.contains("one bench.start a run"),
        "{}",
        ran.stderr
    );
}

/// A command that prints two lines to stderr after failing to open a file,
/// then traps in a function with a Rust-mangled name.
const FAILS_TO_OPEN: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "reading input.txt\ncannot open input.txt: No such file or directory\n")
  (func $_ZN5hello4fail17h0123456789abcdefE
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 67))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable)
  (func $main (export "_start") (call $_ZN5hello4fail17h0123456789abcdefE)))"#;

#[test]
fn a_trap_shows_stderr_by_whole_lines_a_dir_hint_and_demangled_frames() {
    let sb = Sandbox::new();
    sb.write("fail.wat", FAILS_TO_OPEN);
    let ran = sb.line("record command --plugin fail.wat -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "wprof: error: fail.wat: execute: wasm trap: wasm `unreachable` instruction executed; stderr: reading input.txt | cannot open input.txt: No such file or directory; hint: it has no directories: a command sees only those given with --dir HOST[::GUEST]",
            "    at hello::fail",
            "    at main",
        ]
    );
    assert!(!sb.path("out").exists());
    // With a directory given, no hint.
    std::fs::create_dir(sb.path("data")).unwrap();
    let ran = sb.line("record command --plugin fail.wat --dir data -o out");
    assert_eq!(ran.code, Some(1));
    assert!(!ran.stderr.contains("hint"), "{}", ran.stderr);
}
