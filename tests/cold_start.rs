//! `wprof record cold-start`: every rung on both bundled plugins, the AOT
//! rungs really load precompiled code, the pooling rung really pools, bad
//! artifacts are refused, and a Wizer init trap fails only its own rung.

mod common;

use common::{Sandbox, variant};
use serde_json::Value;

const RUNGS: [&str; 8] = [
    "cranelift",
    "cranelift-opt-none",
    "winch",
    "aot",
    "aot-mmap",
    "wizer",
    "pooling",
    "pooling-wizer",
];

const FIRST_CALL: [&str; 4] = ["copy-in", "execute", "copy-out", "free"];

fn phases_of(rung: &str) -> Vec<&'static str> {
    let load: &[&str] = match rung {
        "cranelift" | "cranelift-opt-none" | "winch" => {
            &["read", "validate", "compile", "instantiate"]
        }
        "aot" => &["read", "deserialize", "instantiate"],
        "aot-mmap" | "wizer" => &["deserialize", "instantiate"],
        "pooling" | "pooling-wizer" => &["instantiate"],
        other => panic!("unknown rung {other}"),
    };
    let mut all = load.to_vec();
    all.extend(FIRST_CALL);
    all.push("cold-start");
    all
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

fn setup_phases(v: &Value) -> Vec<String> {
    v.get("setup").map_or_else(Vec::new, |s| names(s, "phase"))
}

/// A wprof-ABI plugin in text format whose `run` echoes its input. With
/// `init`, it also exports `wprof_init` with that body.
fn echo_plugin(init: Option<&str>) -> String {
    let init = init.map_or(String::new(), |body| {
        format!(r#"(func (export "wprof_init") {body})"#)
    });
    format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "wprof_alloc") (param i32) (result i32) i32.const 16)
  (func (export "wprof_free") (param i32 i32))
  (func (export "run") (param i32 i32) (result i64)
    local.get 0 i64.extend_i32_u i64.const 32 i64.shl
    local.get 1 i64.extend_i32_u i64.or)
  {init})"#
    )
}

#[test]
fn every_rung_has_every_phase_on_both_bundled_plugins() {
    let sb = Sandbox::new();
    let ran = sb.ok_line("record cold-start -n 3 -w 0 --out-dir out");
    for plugin in ["drug-checker", "redactor"] {
        for ext in ["json", "txt", "trace.json", "svg"] {
            let f = format!("out/cold-start.{plugin}.{ext}");
            assert!(sb.path(&f).is_file(), "{f} missing");
            assert!(
                ran.stdout.contains(&format!("wrote {f}")),
                "{f} not reported"
            );
        }
        let run = sb.json(&format!("out/cold-start.{plugin}.json"));
        assert_eq!(run["scenario"], "cold-start");
        assert_eq!(run["plugin"]["name"], plugin);
        assert_eq!(names(&run["variants"], "name"), RUNGS, "{plugin}");
        assert!(
            run.get("failures").is_none(),
            "{plugin}: {}",
            run["failures"]
        );
        for rung in RUNGS {
            let v = variant(&run, rung);
            let phases = names(&v["phases"], "phase");
            assert_eq!(phases, phases_of(rung), "{plugin} {rung}");
            let mut sum = 0.0;
            for p in v["phases"].as_array().unwrap() {
                assert_eq!(p["stats"]["n"], 3, "{plugin} {rung} {}", p["phase"]);
                assert!(p["stats"]["min_ns"].as_f64().unwrap() >= 0.0);
                if p["phase"] != "cold-start" {
                    sum += p["stats"]["mean_ns"].as_f64().unwrap();
                }
            }
            let whole = v["phases"][phases.len() - 1]["stats"]["mean_ns"]
                .as_f64()
                .unwrap();
            assert!(whole > 0.0);
            assert!(
                (sum - whole).abs() <= 1e-6 * whole,
                "{plugin} {rung}: phases add to {sum}, whole is {whole}"
            );
            assert!(v["compiled_bytes"].as_u64().unwrap() > 0, "{plugin} {rung}");
            assert_eq!(setup_phases(v)[0], "engine", "{plugin} {rung}");
        }
        // The ranking holds every rung, fastest first, against cranelift.
        let ranking = &run["ranking"];
        assert_eq!(ranking["baseline"], "cranelift");
        let rows = ranking["rows"].as_array().unwrap();
        assert_eq!(rows.len(), RUNGS.len());
        let p50s: Vec<f64> = rows.iter().map(|r| r["p50_ns"].as_f64().unwrap()).collect();
        assert!(
            p50s.windows(2).all(|w| w[0] <= w[1]),
            "not sorted: {p50s:?}"
        );
        let base = rows.iter().find(|r| r["variant"] == "cranelift").unwrap();
        assert_eq!(base["speedup"], 1.0);
        let verdicts = names_str(&run["verdicts"]);
        assert!(
            verdicts
                .iter()
                .any(|v| v.starts_with("cranelift: compile is")),
            "{verdicts:?}"
        );
        // Wizer really ran: the snapshot is a different, larger module,
        // and pooling-wizer pools instances of that same snapshot.
        let wizer = variant(&run, "wizer");
        assert!(setup_phases(wizer).contains(&"pre-init".to_owned()));
        assert_ne!(wizer["module_bytes"], run["plugin"]["size_bytes"]);
        let pooled = variant(&run, "pooling-wizer");
        assert!(setup_phases(pooled).contains(&"pre-init".to_owned()));
        assert_eq!(pooled["module_bytes"], wizer["module_bytes"]);
        assert!(
            pooled["facts"]["pool_instances_live_during_call"]
                .as_u64()
                .unwrap()
                >= 1
        );
        assert!(
            verdicts.iter().any(|v| v.starts_with("pooling-wizer: ")
                && v.contains("against")
                && v.contains("for pooling, the same path without the snapshot")),
            "{verdicts:?}"
        );
    }
    // The large plugin is large: compilation matters there.
    let small = sb.json("out/cold-start.drug-checker.json");
    let large = sb.json("out/cold-start.redactor.json");
    assert!(
        large["plugin"]["size_bytes"].as_u64().unwrap()
            > 5 * small["plugin"]["size_bytes"].as_u64().unwrap()
    );
    let table = std::fs::read_to_string(sb.path("out/cold-start.redactor.txt")).unwrap();
    assert!(table.contains("ranking by median cold-start (against cranelift)"));
    assert!(table.contains("verdict: "));
    assert!(
        table.contains("compiled "),
        "compiled size missing from the table"
    );
}

fn names_str(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn aot_rungs_load_precompiled_code_and_skip_compilation() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record cold-start -p drug-checker --rungs cranelift,aot,aot-mmap -n 2 -w 0 --out-dir out",
    );
    let run = sb.json("out/cold-start.json");
    let jit = variant(&run, "cranelift");
    for rung in ["aot", "aot-mmap"] {
        let v = variant(&run, rung);
        let phases = names(&v["phases"], "phase");
        assert!(
            !phases.contains(&"compile".to_owned()),
            "{rung}: {phases:?}"
        );
        assert!(
            !phases.contains(&"validate".to_owned()),
            "{rung}: {phases:?}"
        );
        assert!(
            phases.contains(&"deserialize".to_owned()),
            "{rung}: {phases:?}"
        );
        // Compiled once ahead of time, by the same settings as the JIT rung.
        assert_eq!(setup_phases(v), ["engine", "compile"], "{rung}");
        assert_eq!(v["compiled_bytes"], jit["compiled_bytes"], "{rung}");
    }

    // Given a .cwasm, the aot rungs compile nothing and load that file.
    let made = sb.ok_line("compile -p drug-checker -o dc.cwasm");
    assert!(
        made.stdout.starts_with("wrote dc.cwasm ("),
        "{}",
        made.stdout
    );
    let size = std::fs::metadata(sb.path("dc.cwasm")).unwrap().len();
    sb.ok_line("record cold-start -p drug-checker --rungs aot,aot-mmap --precompiled dc.cwasm -n 2 -w 0 --out-dir given");
    let run = sb.json("given/cold-start.json");
    assert_eq!(run["settings"]["precompiled"], "dc.cwasm");
    assert!(
        variant(&run, "aot")["description"]
            .as_str()
            .unwrap()
            .ends_with("the .cwasm is dc.cwasm, as given (not compiled by this run)")
    );
    for rung in ["aot", "aot-mmap"] {
        let v = variant(&run, rung);
        assert_eq!(setup_phases(v), ["engine"], "{rung}: nothing compiled");
        assert_eq!(v["compiled_bytes"], size, "{rung}");
    }

    // Proof that the file is what runs: another plugin's code does not
    // reproduce drug-checker's first call, and the rungs fail saying so.
    sb.ok_line("compile -p redactor -o other.cwasm");
    let ran = sb.line("record cold-start -p drug-checker --rungs aot --precompiled other.cwasm -n 1 -w 0 --out-dir other");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("wprof: error: drug-checker: instantiate: aot: "),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("check_interactions"), "{}", ran.stderr);
}

#[test]
fn pooling_rung_really_uses_the_pooling_allocator() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record cold-start -p drug-checker --rungs aot-mmap,pooling -n 3 -w 0 --out-dir out",
    );
    let run = sb.json("out/cold-start.json");
    let pool = variant(&run, "pooling");
    // Read from Wasmtime's pooling allocator metrics during each first call.
    assert_eq!(pool["facts"]["pool_instances_live_during_call"], 1);
    assert_eq!(pool["facts"]["pool_memories_live_during_call"], 1);
    assert_eq!(
        setup_phases(pool),
        ["engine", "compile", "deserialize", "link"]
    );
    // The default allocator has no pool to report.
    assert!(variant(&run, "aot-mmap").get("facts").is_none());
    assert_eq!(names(&pool["phases"], "phase"), phases_of("pooling"));
}

/// Runs cold-start with a precompiled file and checks the refusal.
fn refused(sb: &Sandbox, file: &str, cause: &str) {
    let ran = sb.wprof(&[
        "record",
        "cold-start",
        "-p",
        "drug-checker",
        "--precompiled",
        file,
        "-n",
        "1",
        "--out-dir",
        "out",
    ]);
    assert_eq!(ran.code, Some(1), "{file}: {}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("wprof: error: drug-checker: deserialize: "),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(cause),
        "{file}: {} lacks {cause:?}",
        ran.stderr
    );
    assert!(
        !sb.path("out/cold-start.json").exists(),
        "run written despite the refusal"
    );
}

#[test]
fn stale_or_foreign_precompiled_files_are_refused() {
    let sb = Sandbox::new();
    // Other settings: compiled by Winch, loaded by the Cranelift rungs.
    sb.ok_line("compile -p drug-checker --like winch -o winch.cwasm");
    refused(&sb, "winch.cwasm", "Winch");

    // Another Wasmtime version: the artifact's engine section records the
    // major version as a length-prefixed string after a format byte of 0.
    sb.ok_line("compile -p drug-checker -o dc.cwasm");
    let mut bytes = std::fs::read(sb.path("dc.cwasm")).unwrap();
    let major = env!("WPROF_WASMTIME_VERSION").split('.').next().unwrap();
    let mut needle = vec![0u8, major.len() as u8];
    needle.extend_from_slice(major.as_bytes());
    let at: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "engine section version not found once");
    let older = (major.parse::<u32>().unwrap() - 1).to_string();
    assert_eq!(older.len(), major.len());
    bytes[at[0] + 2..at[0] + 2 + major.len()].copy_from_slice(older.as_bytes());
    sb.write("old.cwasm", &bytes);
    refused(&sb, "old.cwasm", &format!("incompatible version '{older}'"));

    // Not an artifact at all.
    sb.write("plain.wasm", common::bundled_wasm());
    refused(&sb, "plain.wasm", "is not a module precompiled by Wasmtime");
    refused(&sb, "missing.cwasm", "cannot read missing.cwasm");
}

#[test]
fn a_wizer_init_trap_fails_its_rung_and_the_others_still_run() {
    let sb = Sandbox::new();
    sb.write("trapinit.wat", echo_plugin(Some("unreachable")));
    let ran = sb.line("record cold-start -p trapinit.wat --input-json {} --rungs cranelift,wizer,aot-mmap -n 2 -w 0 --out-dir out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("wprof: error: trapinit.wat: pre-init: wizer: `wprof_init` trapped: "),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("unreachable"), "{}", ran.stderr);
    // The other rungs were measured and everything was written.
    let run = sb.json("out/cold-start.json");
    assert_eq!(names(&run["variants"], "name"), ["cranelift", "aot-mmap"]);
    assert_eq!(run["failures"][0]["variant"], "wizer");
    assert_eq!(run["failures"][0]["phase"], "pre-init");
    let table = std::fs::read_to_string(sb.path("out/cold-start.txt")).unwrap();
    assert!(
        table.contains("FAILED wizer: pre-init: `wprof_init` trapped"),
        "{table}"
    );
    assert!(sb.path("out/cold-start.trace.json").is_file());
}

#[test]
fn without_an_init_export_wizer_says_why_it_did_not_run() {
    let sb = Sandbox::new();
    sb.write("echo.wat", echo_plugin(None));
    sb.ok_line("record cold-start -p echo.wat --input-json [1,2] --rungs cranelift,wizer,pooling -n 2 -w 0 --out-dir out");
    let run = sb.json("out/cold-start.json");
    assert_eq!(names(&run["variants"], "name"), ["cranelift", "pooling"]);
    let notes = names_str(&run["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("wizer: not run: echo.wat exports no `wprof_init`")),
        "{notes:?}"
    );
    // With an init that works, the wizer rung runs on the same plugin.
    sb.write("init.wat", echo_plugin(Some("nop")));
    sb.ok_line(
        "record cold-start -p init.wat --input-json [1,2] --rungs wizer -n 2 -w 0 --out-dir init",
    );
    let run = sb.json("init/cold-start.json");
    assert_eq!(names(&run["variants"], "name"), ["wizer"]);
}

#[test]
fn trace_and_flamegraph_contain_every_rung() {
    let sb = Sandbox::new();
    sb.ok_line("record cold-start -p drug-checker -n 3 -w 0 --trace-iterations 2 --out-dir out");
    let trace = sb.json("out/cold-start.trace.json");
    let events = trace["traceEvents"].as_array().unwrap();
    let thread = |rung: &str| {
        events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["args"]["name"] == rung)
            .unwrap_or_else(|| panic!("no track for {rung}"))["tid"]
            .clone()
    };
    for rung in RUNGS {
        let tid = thread(rung);
        let on: Vec<&Value> = events
            .iter()
            .filter(|e| e["ph"] == "X" && e["tid"] == tid)
            .collect();
        let wholes: Vec<&&Value> = on.iter().filter(|e| e["name"] == "cold-start").collect();
        assert_eq!(
            wholes.len(),
            2,
            "{rung}: one cold-start span per traced iteration"
        );
        for p in phases_of(rung) {
            assert!(on.iter().any(|e| e["name"] == p), "{rung}: no {p} span");
        }
        // Every phase lies inside its iteration's cold-start span.
        for e in &on {
            let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
            assert!(
                wholes.iter().any(|w| {
                    let (wts, wdur) = (w["ts"].as_f64().unwrap(), w["dur"].as_f64().unwrap());
                    ts >= wts && ts + dur <= wts + wdur + 1e-9
                }),
                "{rung}: {e} outside its cold start"
            );
        }
    }
    let svg = std::fs::read_to_string(sb.path("out/cold-start.svg")).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&svg, opts).expect("well-formed SVG");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    for rung in RUNGS {
        for p in phases_of(rung).into_iter().filter(|p| *p != "cold-start") {
            // inferno's hover text: "<frame> (<count> ns, <share>%)".
            assert!(
                titles.iter().any(|t| t.starts_with(&format!("{p} ("))),
                "no {p} frame"
            );
        }
        // A 10 µs rung beside a 60 ms one would be a sliver: every rung is
        // drawn at the same width, its mean in its name.
        let frame = titles
            .iter()
            .find(|t| t.starts_with(&format!("{rung} (mean ")))
            .unwrap_or_else(|| panic!("no {rung} frame"));
        let count: u64 = frame
            .split(") (")
            .nth(1)
            .and_then(|c| c.split(' ').next())
            .map(|c| c.replace(',', ""))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no width in {frame}"));
        assert!(count.abs_diff(1_000_000) <= 10, "{frame}");
    }
    let text: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        text.iter().any(|t| t.starts_with(
            "wprof cold-start: drug-checker, mean time per iteration by phase, each variant scaled to the same width, "
        )),
        "title: {:?}",
        &text[..text.len().min(5)]
    );
}

#[test]
fn bad_input_fails_before_any_rung() {
    let sb = Sandbox::new();
    let ran = sb.line("record cold-start -p nope.wasm --out-dir out");
    assert_eq!(ran.code, Some(1));
    assert_eq!(
        ran.stderr.lines().collect::<Vec<_>>(),
        [
            "wprof: error: nope.wasm: read: cannot read nope.wasm: No such file or directory (os error 2)"
        ]
    );
    sb.write(
        "trap.wat",
        echo_plugin(None).replace(
            "local.get 0 i64.extend_i32_u",
            "unreachable local.get 0 i64.extend_i32_u",
        ),
    );
    let ran = sb.line("record cold-start -p trap.wat --input-json {} --out-dir out");
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("wprof: error: trap.wat: execute: "),
        "{}",
        ran.stderr
    );
    assert!(!sb.path("out/cold-start.json").exists());

    let ran = sb.line("record cold-start --rungs cranelift,jit");
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("unknown rung `jit`"), "{}", ran.stderr);
}

#[test]
fn json_mode_prints_one_run_per_plugin() {
    let sb = Sandbox::new();
    let ran =
        sb.ok_line("record cold-start --rungs aot-mmap,pooling -n 1 -w 0 --json --out-dir out");
    let runs: Value = serde_json::from_str(&ran.stdout).expect("stdout is JSON");
    let plugins: Vec<&str> = runs
        .as_array()
        .expect("an array of runs")
        .iter()
        .map(|r| r["plugin"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(plugins, ["drug-checker", "redactor"]);
    assert_eq!(runs[1], sb.json("out/cold-start.redactor.json"));
}
