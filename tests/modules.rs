//! Modules of every kind a user brings, each under the commands that take
//! it: a WasmGC plugin and command (hand-written WAT), a `wasi:cli/run`
//! component and the same `wc` as a core command reading a file by a
//! relative path (plugins/wc-command, plugins/wc-component), and an
//! Extism plugin that uses WASI (plugins/extism-wasi).

mod common;

use common::Sandbox;
use serde_json::Value;

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// How many runs the variant `name` measured.
fn runs(run: &Value, name: &str) -> u64 {
    let v = common::variant(run, name);
    v["phases"].as_array().unwrap().last().unwrap()["stats"]["n"]
        .as_u64()
        .unwrap()
}

/// A sandbox with `input.txt` (2 lines, 5 words, 24 bytes) and
/// `data/name.txt`.
fn files() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("input.txt", "one two\nthree four five\n");
    std::fs::create_dir(sb.path("data")).unwrap();
    sb.write("data/name.txt", "world");
    sb
}

#[test]
fn a_wasm_gc_module_runs_as_a_plugin_a_cold_start_and_a_command() {
    let sb = Sandbox::new();
    let plugin = repo("plugins/wasm-gc/wasm-gc.wat");
    // The input is JSON-encoded: `"hello"`, quotes included, sums to 600.
    let ran = sb.ok(&[
        "call",
        "-p",
        &plugin,
        "--export",
        "sum_bytes",
        "--input-json",
        "\"hello\"",
    ]);
    assert_eq!(ran.stdout.trim(), "600");
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &plugin,
        "--export",
        "sum_bytes",
        "--input-json",
        "\"hello\"",
        "-n",
        "200",
        "--rounds",
        "2",
        "-w",
        "10",
        "-o",
        "hot",
    ]);
    let run = sb.json("hot/hot-path.json");
    assert!(runs(&run, "wasm") >= 200);
    sb.ok(&[
        "record",
        "cold-start",
        "-p",
        &plugin,
        "--export",
        "sum_bytes",
        "--input-json",
        "\"hello\"",
        "-n",
        "2",
        "--rungs",
        "cranelift,winch",
        "-o",
        "cold",
    ]);
    let run = sb.json("cold/cold-start.json");
    assert_eq!(runs(&run, "cranelift"), 2);
    // Winch compiles no GC: said so, not failed.
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.starts_with("winch: not run:") && n.contains("WasmGC")),
        "{:?}",
        common::notes(&run)
    );
    assert!(run["failures"].as_array().is_none_or(|f| f.is_empty()));
    sb.ok(&[
        "record",
        "command",
        "-p",
        &repo("plugins/wasm-gc/wasm-gc-command.wat"),
        "--max-runs",
        "5",
        "-o",
        "cmd",
    ]);
    let run = sb.json("cmd/command.json");
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.contains("stdout of the last run") && n.ends_with("sum 49995000")),
        "{:?}",
        common::notes(&run)
    );
}

#[test]
fn a_wasi_cli_run_component_runs_as_a_command_and_a_cold_start() {
    let sb = files();
    let c = repo("plugins/wc-component/wc-component.wasm");
    sb.ok(&[
        "record",
        "command",
        "-p",
        &c,
        "--dir",
        ".::.",
        "--arg",
        "input.txt",
        "--min-runs",
        "5",
        "--max-runs",
        "5",
        "--cold-runs",
        "2",
        "-o",
        "cmd",
    ]);
    let run = sb.json("cmd/command.json");
    assert_eq!(run["plugin"]["export"], "wasi:cli/run");
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.ends_with(": 2 5 24 input.txt")),
        "{:?}",
        common::notes(&run)
    );
    // Compile includes validation for a component.
    assert_eq!(
        common::phases(common::variant(&run, "cold-start")),
        ["compile", "link", "instantiate", "execute", "call"]
    );
    // Handed over by cold-start, with -n honoured for cold and warm runs.
    sb.ok(&[
        "record",
        "cold-start",
        "-p",
        &c,
        "--dir",
        ".::.",
        "-n",
        "3",
        "-o",
        "cold",
    ]);
    let run = sb.json("cold/command.json");
    assert_eq!(runs(&run, "cold-start"), 3);
    assert_eq!(runs(&run, "run"), 3);
    // Its stdout is checked as a core command's is.
    sb.write("want.txt", "2 5 24 input.txt\n");
    sb.write("wrong.txt", "3 5 24 input.txt\n");
    sb.ok(&[
        "record",
        "command",
        "-p",
        &c,
        "--dir",
        ".::.",
        "--expect-stdout",
        "want.txt",
        "--min-runs",
        "3",
        "--max-runs",
        "3",
        "-o",
        "checked",
    ]);
    let bad = sb.wprof(&[
        "record",
        "command",
        "-p",
        &c,
        "--dir",
        ".::.",
        "--expect-stdout",
        "wrong.txt",
        "--min-runs",
        "3",
        "--max-runs",
        "3",
        "-o",
        "wrong",
    ]);
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert!(bad.stderr.contains("stdout differs"), "{}", bad.stderr);
    // inspect says what it is, and that wprof runs it.
    let ran = sb.ok(&["inspect", &c, "--json"]);
    let seen: Value = serde_json::from_str(&ran.stdout).unwrap();
    let abis = seen["abis"].as_array().unwrap();
    assert_eq!(abis[0]["name"], "wasi-cli-command");
    assert_eq!(abis[0]["supported"], true);
    assert!(
        seen["run_with"]
            .as_str()
            .unwrap()
            .starts_with("wprof record command")
    );
}

#[test]
fn a_c_style_command_reads_its_file_by_a_relative_path_given_a_dir() {
    let sb = files();
    let c = repo("plugins/wc-command/wc-command.wasm");
    // Handed over by hot-path, -n honoured.
    sb.ok(&[
        "record", "hot-path", "-p", &c, "--dir", ".::.", "-n", "4", "-o", "hot",
    ]);
    let run = sb.json("hot/command.json");
    assert_eq!(runs(&run, "run"), 4);
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.ends_with(": 2 5 24 input.txt"))
    );
    // Without --dir: the trap names the plugin, the phase, the command's
    // own stderr, whole, and the flag that is missing.
    for scenario in ["hot-path", "cold-start", "memory"] {
        let ran = sb.wprof(&["record", scenario, "-p", &c, "-n", "2", "-o", "no"]);
        let ran = if scenario == "memory" {
            sb.wprof(&["record", scenario, "-p", &c, "-o", "no"])
        } else {
            ran
        };
        assert_eq!(ran.code, Some(1), "{scenario}: {}", ran.stderr);
        let line = ran.stderr.trim();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains("wc-command.wasm: execute: exited with code 1"),
            "{line}"
        );
        assert!(line.contains("stderr: wc: cannot open input.txt"), "{line}");
        assert!(line.contains("hint:") && line.contains("--dir"), "{line}");
    }
}

#[test]
fn an_extism_plugin_that_imports_wasi_gets_dirs_and_env_as_under_extism() {
    let sb = files();
    let p = repo("plugins/extism-wasi/extism-wasi.wasm");
    let ran = sb.ok(&[
        "call",
        "-p",
        &p,
        "--export",
        "read_file",
        "--input",
        "/data/name.txt",
        "--dir",
        "data::/data",
    ]);
    assert_eq!(ran.stdout.trim(), "world");
    let ran = sb.ok(&[
        "call",
        "-p",
        &p,
        "--export",
        "env_var",
        "--input",
        "GREETING",
        "--env",
        "GREETING=hello",
    ]);
    assert_eq!(ran.stdout.trim(), "hello");
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &p,
        "--export",
        "read_file",
        "--input",
        "/data/name.txt",
        "--dir",
        "data::/data",
        "-n",
        "200",
        "--rounds",
        "2",
        "-w",
        "10",
        "-o",
        "hot",
    ]);
    let run = sb.json("hot/hot-path.json");
    assert_eq!(run["plugin"]["output_bytes"], 5);
    // Without the directory: the plugin's own error, named.
    let ran = sb.wprof(&[
        "call",
        "-p",
        &p,
        "--export",
        "read_file",
        "--input",
        "/data/name.txt",
    ]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("execute") && ran.stderr.contains("cannot read /data/name.txt"),
        "{}",
        ran.stderr
    );
    // inspect: WASI is supplied for an Extism plugin.
    let ran = sb.ok(&["inspect", &p, "--json"]);
    let seen: Value = serde_json::from_str(&ran.stdout).unwrap();
    let extism = &seen["abis"][0];
    assert_eq!(extism["name"], "extism");
    assert_eq!(extism["supported"], true);
    assert!(
        extism["evidence"]
            .as_str()
            .unwrap()
            .contains("WASI preview 1 functions (linked as Extism's `wasi: true` does)"),
        "{extism}"
    );
    assert!(seen["run_with"].as_str().unwrap().contains("--dir"));
}

/// Checks the passes that look inside on a command's run JSON and table:
/// counters per phase (or every counter named unavailable), fuel per run
/// the same on every run, a guest profile whose stacks reach `function`
/// in the command's name section, a host profile, and the heap per run.
fn looked_inside(sb: &Sandbox, dir: &str, function: &str) {
    let run = sb.json(&format!("{dir}/command.json"));
    let v = common::variant(&run, "run");
    let measured = run["perf"]["counters"].as_array().unwrap();
    if measured.is_empty() {
        assert!(!run["perf"]["unavailable"].as_array().unwrap().is_empty());
    } else {
        let phases: Vec<&str> = v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(
            phases,
            ["instantiate", "execute", "call"],
            "{:#}",
            v["counters"]
        );
    }
    let fuel = &v["fuel"];
    assert_eq!(fuel["unit"], "run");
    assert_eq!(fuel["constant"], true, "{fuel:#}");
    let execute = fuel["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "execute")
        .unwrap()["fuel"]
        .as_u64()
        .unwrap();
    assert!(execute > 1000, "{fuel:#}");
    let profiles = run["profiles"].as_array().unwrap();
    let guest = profiles.iter().find(|p| p["sampler"] == "guest").unwrap();
    assert!(
        guest["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["frames"]
                .as_str()
                .unwrap()
                .starts_with("command;run;execute;")
                && s["frames"].as_str().unwrap().contains(function)),
        "{:#}",
        guest["stacks"]
    );
    assert!(profiles.iter().any(|p| p["sampler"] == "host"));
    let heap = &run["heap"];
    assert_eq!(heap["unit"], "run");
    assert_eq!(heap["calls"], 5);
    assert!(heap["wasm"]["bytes"].as_f64().unwrap() > 0.0, "{heap:#}");
    assert!(heap["native"].is_null());
    assert!(sb.path(&format!("{dir}/command.dhat.json")).is_file());
    assert!(sb.path(&format!("{dir}/command.guest.svg")).is_file());
    let table = std::fs::read_to_string(sb.path(&format!("{dir}/command.txt"))).unwrap();
    assert!(
        table.contains("fuel per run (run, a separate pass of 5 runs, each a fresh instance)"),
        "{table}"
    );
    assert!(
        table.contains("heap per run (dhat, a separate untimed pass of 5 runs)"),
        "{table}"
    );
    assert!(!table.contains("not applicable to a"), "{table}");
}

#[test]
fn the_passes_look_inside_a_command_and_a_component_command() {
    let sb = files();
    // Enough work a run (a 20 000-line file) for the samplers to land in
    // wc's own code.
    let text: String = (0..20_000).map(|i| format!("word{i} and more\n")).collect();
    sb.write("input.txt", text);
    let passes = [
        "--dir",
        ".::.",
        "--fuel",
        "--sample",
        "both",
        "--sample-secs",
        "0.4",
        "--heap",
        "--heap-calls",
        "5",
    ];
    let mut args = vec!["record", "command", "-p"];
    let c = repo("plugins/wc-command/wc-command.wasm");
    args.push(&c);
    args.extend_from_slice(&passes);
    args.extend_from_slice(&["--max-runs", "20", "-o", "core"]);
    sb.ok(&args);
    looked_inside(&sb, "core", "wc_command::run");
    // A component command, handed over by hot-path with the same options.
    let mut args = vec!["record", "hot-path", "-p"];
    let c = repo("plugins/wc-component/wc-component.wasm");
    args.push(&c);
    args.extend_from_slice(&passes);
    args.extend_from_slice(&["-n", "20", "-o", "component"]);
    sb.ok(&args);
    looked_inside(&sb, "component", "wc_command::run");
}
