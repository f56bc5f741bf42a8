//! The fake clock (`--clock fake`), as hyperfine's MockExecutor: every
//! read moves time on by a fixed sequence of steps, so the statistics, the
//! verdicts and every exporter's output are the same on every machine and
//! every run. Only what is timed off that clock (setup, wall time) and
//! what describes the machine (its name, its load) are blanked before the golden comparison.

mod common;

use common::{Sandbox, golden};
use serde_json::Value;

/// The warning about the machine's load average.
const BUSY: &str = "warning: the machine looks busy";

/// A run's JSON with what the fake clock does not time blanked.
fn blank_unclocked(mut run: Value) -> String {
    for p in ["/started_at", "/wall_s", "/wprof_version", "/host"] {
        if let Some(x) = run.pointer_mut(p) {
            *x = Value::from("<blank>");
        }
    }
    // The machine's load is the machine's, not the clock's.
    if let Some(Value::Array(notes)) = run.pointer_mut("/notes") {
        notes.retain(|n| !n.as_str().is_some_and(|n| n.starts_with(BUSY)));
    }
    // Setup is timed once, on the monotonic clock, before any round.
    if let Some(Value::Array(setup)) = run.pointer_mut("/setup") {
        for s in setup {
            s["ns"] = Value::from("<blank>");
        }
    }
    serde_json::to_string_pretty(&run).unwrap() + "\n"
}

/// The table with its setup line's times and the written paths blanked.
fn blank_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("setup (once):") {
                "  setup (once): <blank>".to_owned()
            } else {
                l.to_owned()
            }
        })
        .filter(|l| {
            !l.starts_with("wrote ")
                && !l.starts_with(&format!("note: {BUSY}"))
                && !l.starts_with(BUSY)
        })
        .map(|l| l + "\n")
        .collect()
}

fn hot_path(sb: &Sandbox, dir: &str) -> String {
    let ran = sb.ok(&[
        "record",
        "hot-path",
        "-n",
        "200",
        "-w",
        "5",
        "--rounds",
        "2",
        "--trace-calls",
        "1",
        "--clock",
        "fake",
        "--counters",
        "none",
        "-o",
        dir,
    ]);
    ran.stdout
}

#[test]
fn hot_path_statistics_verdicts_and_exports_are_exact_on_the_fake_clock() {
    let sb = Sandbox::new();
    let text = hot_path(&sb, "a");
    // The terminal's compact view, its summary last; the .txt in full,
    // its summary first.
    golden("fake.hot-path.terminal.txt", &blank_text(&text));
    golden(
        "fake.hot-path.table.txt",
        &blank_text(&std::fs::read_to_string(sb.path("a/hot-path.txt")).unwrap()),
    );
    golden(
        "fake.hot-path.run.json",
        &blank_unclocked(sb.json("a/hot-path.json")),
    );
    // The Chrome trace's spans are all on the run's clock.
    let mut trace = sb.json("a/hot-path.trace.json");
    for p in ["/otherData/started_at", "/otherData/wprof_version"] {
        if let Some(x) = trace.pointer_mut(p) {
            *x = Value::from("<blank>");
        }
    }
    golden(
        "fake.hot-path.trace.json",
        &(serde_json::to_string_pretty(&trace).unwrap() + "\n"),
    );
    // A second run is the same to the byte, flamegraph included.
    let again = hot_path(&sb, "b");
    assert_eq!(blank_text(&text), blank_text(&again));
    assert_eq!(
        std::fs::read(sb.path("a/hot-path.svg")).unwrap(),
        std::fs::read(sb.path("b/hot-path.svg")).unwrap()
    );
    // And the comparison of the two finds no change anywhere.
    let ran = sb.ok(&["compare", "a/hot-path.json", "b/hot-path.json"]);
    golden("fake.compare.txt", &ran.stdout);
}

#[test]
fn batching_verdicts_are_exact_on_the_fake_clock() {
    let sb = Sandbox::new();
    let ran = sb.ok_line("record batching --items 5 --clock fake --time-per-variant 5us -o out");
    golden("fake.batching.terminal.txt", &blank_text(&ran.stdout));
    golden(
        "fake.batching.table.txt",
        &blank_text(&std::fs::read_to_string(sb.path("out/batching.txt")).unwrap()),
    );
    golden(
        "fake.batching.run.json",
        &blank_unclocked(sb.json("out/batching.json")),
    );
}
