//! `wprof export` and `record --formats` in the formats CI reads: Bencher's
//! BMF, github-action-benchmark, CSV, markdown and Sightglass's rows. Each
//! is a golden file on a fake-clock run, plus a check of its shape against
//! what its consumer reads; a run that lacks what a format needs is refused
//! with why.

mod common;

use common::{Sandbox, golden};
use serde_json::Value;

/// A fake-clock hot-path run in `out/`: the same figures on every machine.
fn fake_run(sb: &Sandbox) {
    sb.ok_line(
        "record hot-path -n 200 -w 5 --rounds 2 --trace-calls 1 --clock fake --counters none -o out -q",
    );
}

fn export(sb: &Sandbox, format: &str) -> String {
    sb.ok(&["export", "--format", format, "out/hot-path.json"])
        .stdout
}

/// The machine's architecture is the machine's: blanked for the golden.
fn blank_arch(text: &str) -> String {
    text.replace(std::env::consts::ARCH, "<arch>")
}

#[test]
fn bmf_is_golden_and_matches_bencher_s_schema() {
    let sb = Sandbox::new();
    fake_run(&sb);
    let text = export(&sb, "bmf");
    golden("fake.hot-path.bmf.json", &text);
    // Bencher's BMF: an object of benchmarks, each an object of measures,
    // each {value, lower_value?, upper_value?} numbers, lower <= value <= upper.
    let doc: Value = serde_json::from_str(&text).unwrap();
    // Bencher's published JSON Schema, then what the schema cannot say.
    let schema: Value = serde_json::from_str(include_str!("schemas/bencher-bmf.json")).unwrap();
    common::schema::validate(&schema, &doc).unwrap();
    let benchmarks = doc.as_object().unwrap();
    assert!(
        benchmarks.contains_key("hot-path/drug-checker/wasm/call"),
        "{text}"
    );
    for (name, measures) in benchmarks {
        assert_eq!(
            name.split('/').count(),
            4,
            "scenario/plugin/variant/phase: {name}"
        );
        // Bencher's limits: a benchmark name up to 1024 characters, a
        // measure's (its slug) up to 64.
        assert!(name.chars().count() <= 1024, "{name}");
        let measures = measures.as_object().unwrap();
        assert!(measures.contains_key("latency"), "{name}");
        for (measure, m) in measures {
            assert!(measure.len() <= 64, "{measure}");
            let m = m.as_object().unwrap();
            for k in m.keys() {
                assert!(
                    ["value", "lower_value", "upper_value"].contains(&k.as_str()),
                    "{name}/{measure}: {k}"
                );
            }
            let v = m["value"].as_f64().unwrap();
            if let (Some(lo), Some(hi)) = (m.get("lower_value"), m.get("upper_value")) {
                let (lo, hi) = (lo.as_f64().unwrap(), hi.as_f64().unwrap());
                assert!(lo <= v && v <= hi, "{name}/{measure}: {lo} {v} {hi}");
            }
        }
    }
    // The whole call carries its throughput.
    assert!(
        doc["hot-path/drug-checker/wasm/call"]["throughput"]["value"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn github_action_benchmark_is_golden_and_the_action_s_shape() {
    let sb = Sandbox::new();
    fake_run(&sb);
    let text = export(&sb, "github-action-benchmark");
    golden("fake.hot-path.benchmark.json", &text);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let entries = doc.as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(e["name"].is_string() && e["unit"] == "ns", "{e}");
        assert!(e["value"].is_number(), "{e}");
        if let Some(r) = e.get("range") {
            assert!(r.as_str().unwrap().starts_with("± "), "{e}");
        }
    }
}

#[test]
fn csv_and_markdown_are_golden_and_well_formed() {
    let sb = Sandbox::new();
    fake_run(&sb);
    let csv = export(&sb, "csv");
    golden("fake.hot-path.csv", &csv);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let width = header.split(',').count();
    assert!(
        header.starts_with("scenario,plugin,variant,phase,n,"),
        "{header}"
    );
    for l in lines {
        assert_eq!(l.split(',').count(), width, "{l}");
    }
    let md = export(&sb, "markdown");
    golden("fake.hot-path.md", &md);
    assert!(
        md.starts_with("### wprof hot-path: drug-checker\n\n- "),
        "{md}"
    );
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    let cells = |l: &str| l.matches(" | ").count();
    assert!(table.len() > 2);
    assert!(table.iter().all(|l| cells(l) == cells(table[0])), "{md}");
}

#[test]
fn sightglass_rows_are_golden_and_in_sightglass_s_columns() {
    let sb = Sandbox::new();
    fake_run(&sb);
    let text = export(&sb, "sightglass");
    golden("fake.hot-path.sightglass.csv", &blank_arch(&text));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("arch,engine,wasm,process,iteration,phase,event,count")
    );
    let mut phases = std::collections::BTreeSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 8, "{l}");
        assert!(
            ["Compilation", "Instantiation", "Execution"].contains(&f[5]),
            "{l}"
        );
        assert_eq!(f[6], "nanoseconds");
        f[7].parse::<u64>().unwrap();
        phases.insert(f[5]);
    }
    assert!(phases.contains("Execution"), "{phases:?}");
}

#[test]
fn record_writes_a_format_asked_for_and_several_runs_export_as_one() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record hot-path -n 200 -w 5 --rounds 2 --clock fake --counters none --formats json,bmf,markdown -o out -q",
    );
    assert!(sb.path("out/hot-path.bmf.json").is_file());
    assert!(sb.path("out/hot-path.md").is_file());
    assert!(
        !sb.path("out/hot-path.csv").exists(),
        "only what was asked for"
    );
    sb.ok_line("record hot-path -n 200 -w 5 --rounds 2 --clock fake --counters none --formats json -o two -q");
    sb.ok_line("export --format bmf out/hot-path.json two/hot-path.json -o both.json");
    let both = sb.json("both.json");
    assert!(both["hot-path/drug-checker/native/call"].is_object());
    let md = sb
        .ok_line("export --format markdown out/hot-path.json two/hot-path.json")
        .stdout;
    assert_eq!(md.matches("### wprof hot-path").count(), 2, "{md}");
}

#[test]
fn a_run_without_what_a_format_needs_is_refused_with_why() {
    let sb = Sandbox::new();
    // A memory run has readings, no timed phases.
    sb.ok_line("record memory --instances 2 --calls 5 -o out -q --formats json");
    for format in ["sightglass", "bmf"] {
        let ran = sb.line(&format!("export --format {format} out/memory.json"));
        assert_eq!(ran.code, Some(1), "{format}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
        assert!(
            ran.stderr.contains(&format!(
                "{format} cannot show the memory run of drug-checker"
            )),
            "{}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "half an export: {}", ran.stdout);
    }
    let ran = sb.line("export --format bmf nosuch.json");
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("nosuch.json"), "{}", ran.stderr);
    let ran = sb.line("export --format yaml out/memory.json");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
}

#[test]
fn the_schema_checker_catches_what_the_schema_forbids() {
    let schema = serde_json::json!({
        "type": "object",
        "patternProperties": {".+": {"type": "object", "properties": {"value": {"type": "number"}}, "required": ["value"]}}
    });
    assert!(common::schema::validate(&schema, &serde_json::json!({"a": {"value": 1.5}})).is_ok());
    assert!(common::schema::validate(&schema, &serde_json::json!({"a": {"value": "1"}})).is_err());
    assert!(
        common::schema::validate(&schema, &serde_json::json!({"a": {"lower_value": 1}})).is_err()
    );
    assert!(common::schema::validate(&schema, &serde_json::json!([1])).is_err());
    let odd = serde_json::json!({"minimum": 1});
    assert!(common::schema::validate(&odd, &serde_json::json!(1)).is_err());
}
