//! `wprof record hot-path` end to end: the real binary on the bundled plugin.

mod common;

use common::{QUICK, Sandbox, golden, normalise_run, normalise_text};
use serde_json::Value;

const WASM_PHASES: &[&str] = &[
    "encode", "copy-in", "execute", "copy-out", "decode", "free", "call",
];
const NATIVE_PHASES: &[&str] = &["encode", "execute", "decode", "free", "call"];

fn record(sb: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["record", "hot-path", "--out-dir", "out"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    sb.ok(&args);
    sb.json("out/hot-path.json")
}

fn phases(variant: &Value) -> Vec<&str> {
    variant["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect()
}

#[test]
fn run_json_has_every_phase_with_n_equal_to_iterations() {
    let sb = Sandbox::new();
    let run = record(&sb, &[]);
    assert_eq!(run["scenario"], "hot-path");
    assert_eq!(run["iterations"], 2000);
    assert_eq!(run["plugin"]["name"], "drug-checker");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    let variants = run["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for (v, want) in variants.iter().zip([WASM_PHASES, NATIVE_PHASES]) {
        assert_eq!(phases(v), want, "phases of {}", v["name"]);
        let mut sum_of_means = 0.0;
        for p in v["phases"].as_array().unwrap() {
            let s = &p["stats"];
            assert_eq!(s["n"], 2000, "n of {} {}", v["name"], p["phase"]);
            let f = |k: &str| s[k].as_f64().unwrap();
            assert!(
                f("min_ns") <= f("p50_ns") && f("p50_ns") <= f("p95_ns"),
                "{s}"
            );
            assert!(
                f("p95_ns") <= f("p99_ns") && f("p99_ns") <= f("max_ns"),
                "{s}"
            );
            assert!(
                f("min_ns") <= f("mean_ns") && f("mean_ns") <= f("max_ns"),
                "{s}"
            );
            if p["phase"] != "call" {
                sum_of_means += f("mean_ns");
            }
        }
        // Phases are contiguous: their means add up to the whole call's.
        let call = v["phases"].as_array().unwrap().last().unwrap()["stats"]["mean_ns"]
            .as_f64()
            .unwrap();
        assert!(call > 0.0);
        assert!(
            (sum_of_means - call).abs() < 1e-6 * call,
            "{sum_of_means} vs {call}"
        );
        let u = &v["uninstrumented"];
        assert_eq!(u["calls"], 2000);
        assert_eq!(
            u["batches"], 4,
            "one batch per round: 500 calls is under a batch"
        );
        assert_eq!(u["batch_calls"], 1000);
        assert!(u["mean_ns"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(variants[0]["name"], "wasm");
    assert_eq!(variants[1]["name"], "native");
    let c = &run["comparison"];
    assert_eq!(
        (c["subject"].as_str(), c["baseline"].as_str()),
        (Some("wasm"), Some("native"))
    );
    let wasm = variants[0]["uninstrumented"]["median_ns"].as_f64().unwrap();
    let native = variants[1]["uninstrumented"]["median_ns"].as_f64().unwrap();
    // The figure to quote is paired by round; the run's medians' ratio is
    // supporting detail.
    assert!((c["unpaired_ratio"].as_f64().unwrap() - wasm / native).abs() < 1e-9);
    let paired = run["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["subject"] == "wasm" && p["baseline"] == "native")
        .expect("wasm paired with native");
    assert_eq!(c["ratio"], paired["ratio"]["ratio"]);
    assert_eq!(c["rounds"], 4);
    assert_eq!(paired["ratio"]["per_round"].as_array().unwrap().len(), 4);
    let deltas: Vec<&str> = c["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, &WASM_PHASES[..6]);
    assert_eq!(
        run["setup"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["validate", "compile", "instantiate"]
    );
}

#[test]
fn default_outputs_go_to_profiles_and_flamegraphs() {
    let sb = Sandbox::new();
    let mut args = vec!["record", "hot-path"];
    args.extend_from_slice(QUICK);
    let ran = sb.ok(&args);
    for f in [
        "profiles/hot-path.json",
        "profiles/hot-path.trace.json",
        "profiles/hot-path.txt",
        "flamegraphs/hot-path.svg",
    ] {
        assert!(sb.path(f).is_file(), "{f} missing");
        assert!(ran.stdout.contains(&format!("wrote {f}")), "{}", ran.stdout);
    }
    // The summary that ends the terminal's output opens the .txt.
    let txt = std::fs::read_to_string(sb.path("profiles/hot-path.txt")).unwrap();
    let summary = txt.split("\n\n").next().unwrap();
    assert!(summary.starts_with("summary: hot-path"), "{txt}");
    assert!(ran.stdout.trim_end().ends_with(summary), "{}", ran.stdout);
    // No temporary files left behind.
    for d in ["profiles", "flamegraphs"] {
        for e in std::fs::read_dir(sb.path(d)).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                !name.to_string_lossy().starts_with(".wprof"),
                "{name:?} left in {d}"
            );
        }
    }
}

#[test]
fn chrome_trace_is_valid_trace_event_format() {
    let sb = Sandbox::new();
    record(&sb, &[]);
    let trace = sb.json("out/hot-path.trace.json");
    let events = trace["traceEvents"]
        .as_array()
        .expect("object form with traceEvents");
    for e in events {
        for k in ["name", "ph", "ts", "pid", "tid"] {
            assert!(e.get(k).is_some(), "event without {k}: {e}");
        }
        if e["ph"] == "X" {
            assert!(e["dur"].as_f64().is_some(), "X without dur: {e}");
        }
    }
    let meta = |name: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == name)
            .count()
    };
    assert_eq!(meta("process_name"), 1);
    assert_eq!(meta("thread_name"), 2);
    let x: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let calls: Vec<&&Value> = x.iter().filter(|e| e["name"] == "call").collect();
    assert_eq!(calls.len(), 10, "5 sampled calls per variant");
    // Phases tile their call exactly: times are whole 2^-16 µs steps (exact
    // binary fractions, so `ts + dur` of one phase is the next one's `ts` to
    // the bit in a viewer; decimal µs overlap by ~1e-15 and get mis-nested).
    // serde_json's default float parsing is not correctly rounded, hence the
    // comparison in steps.
    let step = |x: f64| {
        let s = x * 65536.0;
        assert!((s - s.round()).abs() < 1e-3, "{x} µs is not a whole step");
        s.round() as i64
    };
    let end = |e: &Value| step(e["ts"].as_f64().unwrap()) + step(e["dur"].as_f64().unwrap());
    for c in &calls {
        let mut kids: Vec<&&Value> = x
            .iter()
            .filter(|e| {
                e["name"] != "call"
                    && e["tid"] == c["tid"]
                    && step(e["ts"].as_f64().unwrap()) >= step(c["ts"].as_f64().unwrap())
                    && end(e) <= end(c)
            })
            .collect();
        kids.sort_by(|a, b| {
            a["ts"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["ts"].as_f64().unwrap())
        });
        assert!(!kids.is_empty(), "call without phases: {c}");
        assert_eq!(kids[0]["ts"], c["ts"], "first phase starts with its call");
        for pair in kids.windows(2) {
            assert_eq!(
                end(pair[0]),
                step(pair[1]["ts"].as_f64().unwrap()),
                "{} then {}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(
            end(kids[kids.len() - 1]),
            end(c),
            "last phase ends with its call"
        );
        for k in &kids {
            assert!(WASM_PHASES.contains(&k["name"].as_str().unwrap()), "{k}");
            assert!(k["dur"].as_f64().unwrap() > 0.0, "zero-length span: {k}");
        }
    }
    // speedscope names a frame by its name and args together: every call
    // of a phase on a track must share both, or no two calls merge.
    for e in &x {
        let name = e["name"].as_str().unwrap();
        assert!(WASM_PHASES.contains(&name), "not a bare phase name: {e}");
        let first = x
            .iter()
            .find(|f| f["tid"] == e["tid"] && f["name"] == e["name"])
            .unwrap();
        assert_eq!(e["args"], first["args"], "per-call args on {name}");
    }
    for c in &calls {
        assert!(c["dur"].as_f64().unwrap() > 0.0);
        assert_eq!(c["args"]["bytes_in"], 50);
        assert!(c["args"]["bytes_out"].as_u64().unwrap() > 0);
    }
}

#[test]
fn flamegraph_svg_is_well_formed_and_names_every_phase() {
    let sb = Sandbox::new();
    record(&sb, &[]);
    let svg = std::fs::read_to_string(sb.path("out/hot-path.svg")).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&svg, opts).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let text: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    let all = text.join("\n");
    let today = &humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10];
    assert!(
        all.contains(&format!(
            "wprof hot-path: drug-checker, mean time per iteration by phase, {today}"
        )),
        "title missing"
    );
    for frame in ["hot-path", "wasm", "native"]
        .iter()
        .chain(&WASM_PHASES[..6])
    {
        assert!(
            doc.descendants().any(|n| n.has_tag_name("title")
                && n.text()
                    .is_some_and(|t| t.starts_with(&format!("{frame} (")))),
            "no frame {frame}"
        );
    }
}

#[test]
fn table_and_run_json_match_golden_files() {
    let sb = Sandbox::new();
    let ran = sb.ok(&[
        "record",
        "hot-path",
        "--out-dir",
        "out",
        "-n",
        "500",
        "-w",
        "10",
        "--rounds",
        "2",
        "--trace-calls",
        "1",
        "--clock",
        "monotonic",
        // Software counters only: what every Linux with perf events grants,
        // so the golden files hold on machines with and without a PMU.
        "--counters",
        "task-clock,page-faults",
    ]);
    golden("hot-path.terminal.txt", &normalise_text(&ran.stdout));
    golden(
        "hot-path.table.txt",
        &normalise_text(&std::fs::read_to_string(sb.path("out/hot-path.txt")).unwrap()),
    );
    // The default view fits a terminal, its summary last. A noisy machine
    // adds a warning line or two; the rest is fixed.
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let quiet = lines.iter().filter(|l| !l.starts_with("warning:")).count();
    assert!(
        quiet <= 26 && lines.len() <= 32,
        "{} lines:\n{}",
        lines.len(),
        ran.stdout
    );
    let tail = lines
        .iter()
        .rposition(|l| l.starts_with("summary: hot-path"))
        .unwrap();
    assert!(
        lines[tail + 1].starts_with("  wasm takes "),
        "{}",
        ran.stdout
    );
    let run = normalise_run(&sb.json("out/hot-path.json"));
    golden(
        "hot-path.run.json",
        &(serde_json::to_string_pretty(&run).unwrap() + "\n"),
    );
}

#[test]
fn json_flag_prints_the_run_and_formats_select_files() {
    let sb = Sandbox::new();
    let mut args = vec![
        "record",
        "hot-path",
        "--out-dir",
        "out",
        "--json",
        "--formats",
        "json,flamegraph",
    ];
    args.extend_from_slice(QUICK);
    let ran = sb.ok(&args);
    let printed: Value = serde_json::from_str(&ran.stdout).expect("stdout is the run JSON");
    assert_eq!(printed, sb.json("out/hot-path.json"));
    assert!(sb.path("out/hot-path.svg").is_file());
    assert!(!sb.path("out/hot-path.trace.json").exists());
    assert!(!sb.path("out/hot-path.txt").exists());
}

#[test]
fn both_clocks_work_and_are_recorded() {
    let sb = Sandbox::new();
    let run = record(&sb, &["--clock", "monotonic"]);
    assert_eq!(run["clock"]["name"], "monotonic");
    assert_eq!(run["clock"]["ns_per_tick"], 1.0);
    assert!(run["clock"]["read_cost_ns"].as_f64().unwrap() > 0.0);
    let auto = record(&sb, &[]);
    assert!(["tsc", "monotonic"].contains(&auto["clock"]["name"].as_str().unwrap()));
}

#[test]
fn a_module_file_without_a_native_build_is_measured_alone_and_says_so() {
    let sb = Sandbox::new();
    sb.write(
        "echo.wat",
        r#"(module
             (memory (export "memory") 1)
             (global $next (mut i32) (i32.const 1024))
             (func (export "wprof_alloc") (param $len i32) (result i32)
               (local $p i32)
               (local.set $p (global.get $next))
               (global.set $next (i32.add (global.get $next) (local.get $len)))
               (local.get $p))
             (func (export "wprof_free") (param i32 i32))
             (func (export "echo") (param $p i32) (param $len i32) (result i64)
               (global.set $next (i32.const 1024))
               (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $len)))))"#,
    );
    let run = record(
        &sb,
        &["--plugin", "echo.wat", "--input-json", r#"{"a":[1,2,3]}"#],
    );
    assert_eq!(
        run["plugin"]["export"], "echo",
        "the only ABI export is picked"
    );
    assert_eq!(run["plugin"]["output_bytes"], run["plugin"]["input_bytes"]);
    assert_eq!(run["variants"].as_array().unwrap().len(), 1);
    assert!(run["comparison"].is_null());
    assert!(
        run["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("native: not measured")
    );
    assert_eq!(run["plugin"]["outputs_identical"], Value::Null);
    assert_eq!(run["setup"][0]["phase"], "read");
}

#[test]
fn a_copy_of_the_bundled_wasm_keeps_its_native_baseline() {
    let sb = Sandbox::new();
    sb.write("copy.wasm", common::bundled_wasm());
    let run = record(&sb, &["--plugin", "copy.wasm"]);
    assert_eq!(run["variants"][1]["name"], "native");
    assert_eq!(run["plugin"]["export"], "check_interactions");
}

#[test]
fn uninstrumented_calls_are_timed_in_batches_of_a_thousand() {
    let sb = Sandbox::new();
    sb.ok_line("record hot-path -o out -q -n 5000 -w 0 --rounds 2");
    let run = sb.json("out/hot-path.json");
    for v in run["variants"].as_array().unwrap() {
        let u = &v["uninstrumented"];
        assert_eq!(u["calls"], 5000);
        // 2500 calls a round: batches of 1000, 1000 and 500, twice.
        assert_eq!(u["batches"], 6);
        let f = |k: &str| u[k].as_f64().unwrap();
        assert!(f("batch_min_ns") <= f("median_ns") && f("median_ns") <= f("batch_max_ns"));
        assert!((f("per_sec") - 1e9 / f("median_ns")).abs() < 1e-6);
    }
}

#[test]
fn a_reader_that_leaves_early_is_not_an_error() {
    let sb = Sandbox::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wprof"))
        .args(["record", "hot-path", "-n", "1000", "-w", "10", "-o", "out"])
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before wprof prints anything, as `| head -0`
    // would: its first write to stdout fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.path("out/hot-path.json").is_file());
}

#[test]
fn a_child_process_driver_times_the_same_call_as_the_in_process_one() {
    let sb = Sandbox::new();
    let mut args = vec![
        "record",
        "hot-path",
        "--driver-process",
        "--counters",
        "none",
        "-o",
        "out",
    ];
    args.extend_from_slice(QUICK);
    sb.ok(&args);
    let run = sb.json("out/hot-path.json");
    let wasm = common::variant(&run, "wasm");
    let child = common::variant(&run, "wasm-child");
    // The same call, phase by phase, as many times, from another process.
    assert_eq!(common::phases(child), common::phases(wasm));
    let n = |v: &Value| v["phases"].as_array().unwrap().last().unwrap()["stats"]["n"].clone();
    assert_eq!(n(child), n(wasm));
    let driver = &child["driver"];
    assert!(
        driver["process"]
            .as_str()
            .unwrap()
            .starts_with("child process (pid "),
        "{driver}"
    );
    assert!(driver["engine"].as_str().unwrap().starts_with("wasmtime "));
    assert!(child["uninstrumented"]["median_ns"].as_f64().unwrap() > 0.0);
    // Paired round by round with the in-process driver: rounds alternate,
    // so a busy machine slows both alike.
    let pair = run["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["subject"] == "wasm-child")
        .expect("the child paired");
    assert_eq!(pair["baseline"], "wasm");
    let r = &pair["ratio"];
    let (ratio, lo, hi) = (
        r["ratio"].as_f64().unwrap(),
        r["lo"].as_f64().unwrap(),
        r["hi"].as_f64().unwrap(),
    );
    assert_eq!(r["rounds"], 4);
    assert!(0.0 < lo && lo <= ratio && ratio <= hi, "{r}");
    // Generous: the same build doing the same work is not 3x apart.
    assert!((1.0 / 3.0..3.0).contains(&ratio), "{r}");
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.starts_with("driver process: wasm-child against wasm in process")),
        "{:?}",
        common::notes(&run)
    );
}
