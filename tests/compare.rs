//! `wprof compare`: the real binary on run files recorded by the real
//! binary, each test in its own temp dir.

mod common;

use common::{QUICK, Sandbox};
use serde_json::Value;

/// An ABI plugin whose `work` export runs `body` `n` times (a loop over
/// `$i`, with an i64 `$x` it may use and a `$sink` global to keep it in),
/// then returns its input.
fn looping(n: u32, body: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (global $sink (mut i64) (i64.const 0))
  (func (export "wprof_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (func (export "wprof_free") (param i32 i32))
  (func (export "work") (param $p i32) (param $len i32) (result i64)
    (local $i i32) (local $x i64)
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (loop $l
      {body}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
    (global.set $sink (local.get $x))
    (global.set $next (i32.const 1024))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $len)))))"#
    )
}

/// An ABI plugin whose `work` export spins `n` times: `n` sets its work.
fn spinner(n: u32) -> String {
    looping(n, "")
}

/// An ABI plugin whose `work` export runs `n` xorshift steps: a chain of
/// dependent shifts and xors whose speed, unlike a one-cycle loop's, does
/// not flip between processes on a shared VM (as scripts/noise-check's).
fn xorshift(n: u32) -> String {
    looping(
        n,
        "(local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))",
    )
}

fn record(sb: &Sandbox, dir: &str, extra: &[&str]) -> String {
    let mut args = vec!["record", "hot-path", "--counters", "none", "-o", dir];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    sb.ok(&args);
    format!("{dir}/hot-path.json")
}

#[test]
fn a_run_against_itself_changes_nothing_and_passes_the_gate() {
    let sb = Sandbox::new();
    let run = record(&sb, "a", &[]);
    let ran = sb.wprof(&["compare", &run, &run, "--format", "json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 7 + 5, "wasm and native, every phase");
    for p in phases {
        assert_eq!(p["verdict"], "no-change", "{p}");
        assert_eq!(p["change_pct"], 0.0, "{p}");
        assert!(p["ci_lo_pct"].as_f64().unwrap() <= 0.0 && p["ci_hi_pct"].as_f64().unwrap() >= 0.0);
    }
    assert!(report["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn more_work_in_execute_is_a_regression_that_fails_the_gate() {
    let sb = Sandbox::new();
    for d in ["before", "after"] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    sb.write("before/spin.wat", spinner(2000));
    // 4x the work: a one-cycle loop's speed flips up to 2x between
    // processes on a shared VM (the neighbour on its sibling hyperthread),
    // so a smaller step is not a change every run can see.
    sb.write("after/spin.wat", spinner(8000));
    let input = ["--input-json", "{}"];
    let base = {
        let mut a = vec!["--plugin", "before/spin.wat"];
        a.extend(input);
        record(&sb, "b", &a)
    };
    let new = {
        let mut a = vec!["--plugin", "after/spin.wat"];
        a.extend(input);
        record(&sb, "n", &a)
    };
    let ran = sb.wprof(&["compare", &base, &new, "--diff-flamegraph", "diff.svg"]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("regression beyond 5 %: wasm execute"),
        "{}",
        ran.stderr
    );
    let execute = ran
        .stdout
        .lines()
        .find(|l| l.contains(" execute "))
        .unwrap();
    assert!(
        execute.contains("regressed") && execute.contains("FAIL"),
        "{execute}"
    );
    assert!(ran.stdout.contains("the module changed"), "{}", ran.stdout);
    let svg = std::fs::read_to_string(sb.path("diff.svg")).unwrap();
    assert!(svg.contains("execute") && svg.contains("<svg"));
    // The other way round it is an improvement, and the gate passes.
    // Execute shrinks by 6000 loop iterations (microseconds);
    // the phases that did not change may move by tens on a shared machine.
    let ran = sb.wprof(&[
        "compare",
        &new,
        &base,
        "--format",
        "markdown",
        "--noise-ns",
        "100",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("| wasm | execute |"), "{}", ran.stdout);
    assert!(ran.stdout.contains("improved"), "{}", ran.stdout);
}

#[test]
fn a_build_against_its_baseline_in_the_same_rounds_is_judged_by_their_paired_ratio() {
    let sb = Sandbox::new();
    for d in ["old", "new"] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    sb.write("old/spin.wat", xorshift(300));
    // 20 % more steps: the whole call, with its fixed copies, grows by ~15 %.
    sb.write("new/spin.wat", xorshift(360));
    // QUICK's 4 rounds are too few pairs for an interval.
    let run = |plugin: &str, dir: &str| {
        sb.ok(&[
            "record",
            "hot-path",
            "--counters",
            "none",
            "-o",
            dir,
            "-n",
            "50000",
            "-w",
            "1000",
            "--rounds",
            "20",
            "--input-json",
            "{}",
            "--plugin",
            plugin,
            "--baseline",
            "old/spin.wat",
        ]);
        format!("{dir}/hot-path.json")
    };
    let changed = run("new/spin.wat", "changed");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path(&changed)).unwrap()).unwrap();
    let names: Vec<&str> = json["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wasm", "baseline"]);
    let ran = sb.wprof(&["compare", &changed]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("wasm/baseline paired ratio (+"),
        "{}",
        ran.stderr
    );
    let ratio = ran
        .stdout
        .lines()
        .find(|l| l.contains("paired ratio"))
        .unwrap();
    assert!(
        ratio.contains("regressed") && ratio.contains("FAIL"),
        "{ratio}"
    );
    // The same build on both sides: no change, and the ratio holds 1.
    let same = run("old/spin.wat", "same");
    let ran = sb.wprof(&["compare", &same, "--format", "json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let r = &report["ratios"][0];
    assert_eq!(r["verdict"], "no-change", "{r}");
    // Near 1, and well short of the changed build's +15 to +20 %; not
    // within the 5 % noise band's width, which a machine this busy (every
    // core compiling beside the test) has been seen to exceed on a point
    // estimate whose interval still held no change.
    assert!((r["new"].as_f64().unwrap() - 1.0).abs() < 0.10, "{r}");
    // A baseline that is not a build of the plugin is refused, named as
    // the baseline, before anything is timed.
    sb.write("old/bad.wasm", "not wasm");
    for (baseline, why) in [
        (
            "old/bad.wasm",
            "old/bad.wasm (--baseline): read: not a wasm module",
        ),
        (
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/plugins/count-vowels/count-vowels.wasm"
            ),
            "(--baseline): validate: its calling convention is Extism, the plugin's is wprof",
        ),
    ] {
        let ran = sb.wprof(&[
            "record",
            "hot-path",
            "--plugin",
            "new/spin.wat",
            "--input-json",
            "{}",
            "--baseline",
            baseline,
            "-o",
            "bad",
        ]);
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains(why), "{}", ran.stderr);
        assert!(!sb.path("bad").exists());
    }
    // A run recorded without a baseline has nothing to be judged against.
    let plain = record(&sb, "plain", &[]);
    let ran = sb.wprof(&["compare", &plain]);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("--baseline"), "{}", ran.stderr);
}

#[test]
fn fuel_is_compared_exactly() {
    let sb = Sandbox::new();
    let fuel = ["--fuel", "--sample-secs", "0.2"];
    let a = record(&sb, "a", &fuel);
    let b = record(&sb, "b", &fuel);
    // Only fuel is under test: two runs' timings on a shared machine may
    // differ by any amount (a copy-out median once moved +169 %, 20 ns; the
    // paired wasm/native ratio +705 % beside a CPU hog), so no timing change
    // counts here.
    let ran = sb.wprof(&[
        "compare",
        &a,
        &b,
        "--format",
        "json",
        "--noise",
        "50",
        "--noise-ns",
        "1000000000",
        "--threshold",
        "10000",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let fuel = report["fuel"].as_array().unwrap();
    assert_eq!(fuel.len(), 4, "copy-in, execute, free, call");
    for f in fuel {
        assert_eq!(f["base"], f["new"], "{f}");
    }
}

#[test]
fn runs_that_cannot_be_compared_are_refused_with_the_reason() {
    let sb = Sandbox::new();
    let hot = record(&sb, "h", &[]);
    sb.ok_line("record cold-start -p drug-checker --rungs aot-mmap -n 3 --counters none -o c");
    let ran = sb.wprof(&["compare", &hot, "c/cold-start.json"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("refused: the base run is of hot-path, the new one of cold-start"),
        "{}",
        ran.stderr
    );
    let other = record(&sb, "r", &["--plugin", "redactor"]);
    let ran = sb.wprof(&["compare", &hot, &other]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("refused: the base run measured drug-checker"),
        "{}",
        ran.stderr
    );

    // A truncated file: named, with the position.
    let text = std::fs::read_to_string(sb.path(&hot)).unwrap();
    sb.write("cut.json", &text[..text.len() / 2]);
    let ran = sb.wprof(&["compare", "cut.json", &hot]);
    assert_eq!(ran.code, Some(1));
    let line = ran.stderr.trim();
    assert!(
        line.starts_with("wprof: error: cut.json: not a wprof run file: line "),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");

    // A file from a newer wprof: the versions are named.
    let mut run: Value = serde_json::from_str(&text).unwrap();
    run["schema"] = Value::from(99);
    run["wprof_version"] = Value::from("9.9.9");
    sb.write("future.json", run.to_string());
    let ran = sb.wprof(&["compare", "future.json", &hot]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("written by wprof 9.9.9 in run format 99, newer than this wprof"),
        "{}",
        ran.stderr
    );
    let ran = sb.wprof(&["compare", "missing.json", &hot]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("missing.json: cannot read it"),
        "{}",
        ran.stderr
    );
}

/// `run` as if recorded on a machine `machine` times slower, its wasm
/// variant also `wasm` times slower than that.
fn slowed(run: &Value, machine: f64, wasm: f64) -> Value {
    let mut r = run.clone();
    let scale = |x: &mut Value, by: f64| *x = Value::from(x.as_f64().unwrap() * by);
    for v in r["variants"].as_array_mut().unwrap() {
        let by = machine * if v["name"] == "wasm" { wasm } else { 1.0 };
        for p in v["phases"].as_array_mut().unwrap() {
            let s = &mut p["stats"];
            for k in ["p50_ns", "mean_ns", "min_ns", "max_ns"] {
                scale(&mut s[k], by);
            }
            for x in s["kept"].as_array_mut().unwrap() {
                scale(x, by);
            }
        }
    }
    let d = &mut r["drift"];
    scale(&mut d["reference_p50_ns"], machine);
    for x in d["reference_ns"].as_array_mut().unwrap() {
        scale(x, machine);
    }
    for p in r["pairs"].as_array_mut().unwrap() {
        let ratio = &mut p["ratio"];
        for k in ["ratio", "lo", "hi"] {
            scale(&mut ratio[k], wasm);
        }
        for x in ratio["per_round"].as_array_mut().unwrap() {
            scale(x, wasm);
        }
    }
    r
}

#[test]
fn a_slower_machine_is_drift_and_passes_while_slower_wasm_on_it_fails() {
    let sb = Sandbox::new();
    // Rounds enough to pair: a ratio over QUICK's 4 rounds is known only
    // within tens of percent.
    // On the fake clock: the verdicts on these scaled copies are compare's
    // logic alone, the same on a busy machine as on a quiet one.
    sb.ok_line("record hot-path --counters none -n 4000 -w 100 --rounds 40 --trace-calls 5 --clock fake -o a");
    let base = "a/hot-path.json";
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path(base)).unwrap()).unwrap();
    assert!(
        run["drift"]["reference_ns"].as_array().unwrap().len() >= 2,
        "{}",
        run["drift"]
    );
    // Everything 60 % slower, the reference workload too: the machine
    // (60 %, so that the raw change lies beyond noise even in a short run
    // on a busy machine, and must be cleared as drift).
    sb.write("machine.json", slowed(&run, 1.6, 1.0).to_string());
    let ran = sb.wprof(&["compare", base, "machine.json", "--format", "json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let verdicts: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["verdict"].as_str().unwrap())
        .collect();
    assert!(verdicts.contains(&"drift"), "{verdicts:?}");
    assert!(!verdicts.contains(&"regressed"), "{verdicts:?}");
    assert!((report["machine"]["change_pct"].as_f64().unwrap() - 60.0).abs() < 0.01);
    assert_eq!(
        report["ratios"][0]["verdict"], "no-change",
        "{}",
        report["ratios"]
    );
    let text = sb.wprof(&["compare", base, "machine.json"]);
    assert!(
        text.stdout
            .contains("machine drift, not a change of the plugin"),
        "{}",
        text.stdout
    );
    // The same machine, wasm twice as slow on it (the fake clock's
    // per-round ratios spread widely): its ratio to native regressed and
    // fails the gate; native is drift.
    sb.write("wasm.json", slowed(&run, 1.6, 2.0).to_string());
    let ran = sb.wprof(&["compare", base, "wasm.json", "--format", "json"]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        report["ratios"][0]["verdict"], "regressed",
        "{}",
        report["ratios"]
    );
    let call = |variant: &str| {
        report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["variant"] == variant && p["phase"] == "call")
            .unwrap()["verdict"]
            .clone()
    };
    assert_eq!(call("native"), "drift");
    assert!(
        ran.stderr.contains("wasm/native paired ratio"),
        "{}",
        ran.stderr
    );
}
