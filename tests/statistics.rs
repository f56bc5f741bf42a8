//! Statistics in the real binary's runs: adaptive sampling, histograms
//! past the stamped calls, intervals and outliers in the table, and the
//! progress line.

mod common;

use common::Sandbox;

fn calls(sb: &Sandbox, extra: &[&str]) -> (u64, Vec<String>) {
    let mut args = vec![
        "record",
        "hot-path",
        "-n",
        "20000",
        "--rounds",
        "10",
        "-w",
        "100",
        "--counters",
        "none",
        "-o",
        "out",
    ];
    args.extend_from_slice(extra);
    sb.ok(&args);
    let run = sb.json("out/hot-path.json");
    let notes = run["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    (run["iterations"].as_u64().unwrap(), notes)
}

#[test]
fn a_reached_target_interval_stops_the_run_early_and_says_so() {
    let sb = Sandbox::new();
    // Within +/-50 %: any second round gets there.
    let (n, notes) = calls(&sb, &["--target-ci", "50"]);
    assert_eq!(n, 4000, "two rounds of 2000 calls");
    assert!(
        notes.iter().any(|n| n.starts_with("stopped after round 2 of 10 (4000 calls a variant): every median call's 95 % interval within ±50 %")),
        "{notes:?}"
    );
    // Without a target, every round runs.
    let (n, notes) = calls(&sb, &[]);
    assert_eq!(n, 20000);
    assert!(!notes.iter().any(|n| n.starts_with("stopped")), "{notes:?}");
}

#[test]
fn a_time_cap_stops_the_run_after_the_round_that_passes_it() {
    let sb = Sandbox::new();
    let (n, notes) = calls(&sb, &["--max-time", "1ms"]);
    assert_eq!(n, 4000);
    assert!(
        notes.iter().any(|n| n.contains("--max-time 1ms reached")),
        "{notes:?}"
    );
}

/// Runs `wprof args` under `script`, which gives it a terminal; `None`
/// where `script` is missing.
fn on_a_terminal(sb: &Sandbox, args: &str) -> Option<String> {
    let log = sb.path("typescript");
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_wprof"));
    let status = std::process::Command::new("script")
        .args(["-qec", &cmd])
        .arg(&log)
        .current_dir(sb.path("."))
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    assert!(status.success(), "{cmd}");
    Some(String::from_utf8_lossy(&std::fs::read(log).unwrap()).into_owned())
}

#[test]
fn long_runs_on_a_terminal_show_progress_and_quiet_ones_do_not() {
    let sb = Sandbox::new();
    let soak = "record soak --duration 3s --rate 100 --sample-every 500ms --counters none -o out";
    let Some(shown) = on_a_terminal(&sb, soak) else {
        // No `script` here: progress only shows on a terminal, which this
        // test cannot make without it.
        return;
    };
    assert!(shown.contains("wprof: recording soak · 2s"), "{shown}");
    let quiet = on_a_terminal(&sb, &format!("{soak} -q")).unwrap();
    assert!(!quiet.contains("wprof: recording"), "{quiet}");
    // Not a terminal (captured output): no progress line either.
    let piped = sb.ok(&soak.split(' ').collect::<Vec<_>>());
    assert!(
        !piped.stderr.contains("wprof: recording"),
        "{}",
        piped.stderr
    );
}

#[test]
fn a_long_soak_counts_every_call_through_histograms() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record soak --duration 3s --rate 50000 --sample-every 500ms --counters none -o out",
    );
    let run = sb.json("out/soak.json");
    let v = &run["variants"][0];
    let calls = v["facts"]["calls"].as_u64().unwrap();
    assert!(
        calls > 100_000,
        "the machine made only {calls} calls in 3 s"
    );
    for p in v["phases"].as_array().unwrap() {
        assert_eq!(p["stats"]["n"].as_u64(), Some(calls), "{}", p["phase"]);
        assert_eq!(p["stats"]["kept"].as_array().unwrap().len(), 1000);
    }
    let notes = run["notes"].to_string();
    assert!(
        notes.contains(&format!("phase statistics cover all {calls} calls")),
        "{notes}"
    );
}

#[test]
fn the_table_gives_each_phase_its_interval_and_outliers() {
    let sb = Sandbox::new();
    // -v: the full table, with every column.
    let ran = sb.ok_line("record hot-path -n 5000 -w 100 --counters none -o out -v");
    let header = ran
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("phase"))
        .unwrap();
    assert!(
        header.contains("±95%") && header.contains("outliers"),
        "{header}"
    );
    assert!(
        ran.stdout
            .contains("outliers (Tukey, counted, not dropped)"),
        "{}",
        ran.stdout
    );
    let run = sb.json("out/hot-path.json");
    let call = &run["variants"][0]["phases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["stats"];
    let ci = &call["ci"];
    let (lo, p50, hi) = (
        ci["median_lo_ns"].as_f64().unwrap(),
        call["p50_ns"].as_f64().unwrap(),
        ci["median_hi_ns"].as_f64().unwrap(),
    );
    // The interval resamples the kept samples (every k-th call), so the
    // median of all calls lies in it or within a hair of it.
    assert!(0.0 < lo && lo <= hi, "{ci}");
    assert!(
        0.95 * lo <= p50 && p50 <= 1.05 * hi,
        "p50 {p50} against {ci}"
    );
    assert_eq!(ci["level"], 0.95);
    let o = &call["outliers"];
    for k in ["low_severe", "low_mild", "high_mild", "high_severe"] {
        assert!(o[k].is_u64(), "{k}");
    }
}
