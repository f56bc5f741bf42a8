//! `wprof record data-transfer` on the bundled transfer plugin: every size
//! and way measured, checksums agreeing with native, the floor beside each
//! figure, and bad sizes refused before anything runs.

mod common;

use common::Sandbox;
use serde_json::Value;

fn facts<'a>(run: &'a Value, name: &str) -> &'a Value {
    &common::variant(run, name)["facts"]
}

#[test]
fn every_size_and_way_is_measured_against_native_and_the_floor() {
    let sb = Sandbox::new();
    let ran = sb.ok_line(
        "record data-transfer --sizes 100,10KB,1MB --time-per-variant 20ms --min-runs 5 -o out",
    );
    let run = sb.json("out/data-transfer.json");
    assert_eq!(run["scenario"], "data-transfer");
    assert!(
        run["failures"].as_array().is_none_or(|f| f.is_empty()),
        "{ran:?}",
        ran = ran.stdout
    );
    assert_eq!(run["plugin"]["outputs_identical"], true);
    let mut names = Vec::new();
    for size in ["100 B", "10 KB", "1 MB"] {
        for way in [
            "native",
            "floor",
            "raw",
            "json",
            "msgpack",
            "host-fn",
            "component",
        ] {
            names.push(format!("{way} {size}"));
        }
    }
    let got: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, names);
    for name in &names {
        let v = common::variant(&run, name);
        let call = v["phases"].as_array().unwrap().last().unwrap();
        assert_eq!(call["phase"], "call", "{name}");
        assert!(call["stats"]["n"].as_u64().unwrap() >= 5, "{name}");
        assert!(call["stats"]["p50_ns"].as_f64().unwrap() > 0.0, "{name}");
        assert!(
            v["facts"]["throughput_mb_s"].as_f64().unwrap() > 0.0,
            "{name}"
        );
    }
    // Each wasm way: overhead against native, and the floor beside it.
    for way in ["raw", "json", "msgpack", "host-fn", "component"] {
        let f = facts(&run, &format!("{way} 1 MB"));
        let native = common::variant(&run, "native 1 MB")["phases"][0]["stats"]["p50_ns"]
            .as_f64()
            .unwrap();
        let call = common::variant(&run, &format!("{way} 1 MB"))["phases"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["stats"]["p50_ns"]
            .as_f64()
            .unwrap();
        let over = f["overhead_ns"].as_f64().unwrap();
        // Paired by round with native: the ratio's excess times native's
        // median, not the difference of the two medians.
        assert_eq!(f["overhead_paired"], true, "{way}");
        let ratio = run["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["subject"] == format!("{way} 1 MB") && p["baseline"] == "native 1 MB")
            .expect("each way is paired with native")["ratio"]["ratio"]
            .as_f64()
            .unwrap();
        assert!(call > 0.0);
        assert!(
            (over - native * (ratio - 1.0)).abs() < 1e-6 * native,
            "{way}"
        );
        assert!(f["floor_ns"].as_f64().unwrap() > 0.0, "{way}");
    }
    // The phases each way really has.
    let phases = |name: &str| -> Vec<String> {
        common::variant(&run, name)["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        phases("json 10 KB"),
        [
            "encode", "copy-in", "execute", "copy-out", "decode", "free", "call"
        ]
    );
    assert_eq!(
        phases("raw 10 KB"),
        ["copy-in", "execute", "copy-out", "decode", "free", "call"]
    );
    assert_eq!(
        phases("host-fn 10 KB"),
        ["execute", "copy-out", "decode", "free", "call"]
    );
    assert_eq!(phases("floor 10 KB"), ["copy-in", "call"]);
    // Through a real component: lowering copies the list in, so at 1 MB it
    // costs about what the floor's one copy does, far above lifting a u64.
    assert_eq!(
        phases("component 1 MB"),
        ["lower", "execute", "lift", "call"]
    );
    let component = common::variant(&run, "component 1 MB");
    let lower = component["phases"][0]["stats"]["p50_ns"].as_f64().unwrap();
    let lift = component["phases"][2]["stats"]["p50_ns"].as_f64().unwrap();
    let floor = facts(&run, "component 1 MB")["floor_ns"].as_f64().unwrap();
    assert!(
        lower > 0.5 * floor && lower > 10.0 * lift,
        "lower {lower}, lift {lift}, floor {floor}"
    );
    // The codec ways move more than the payload; raw's linear memory grew
    // by at least the payload on the 1 MB calls.
    let json = facts(&run, "json 1 MB");
    assert!(json["host_buffer_bytes"].as_u64().unwrap() >= 1_333_336);
    assert!(
        facts(&run, "raw 1 MB")["linear_memory_growth_bytes"]
            .as_u64()
            .unwrap()
            >= 1_000_000
    );
    // The reference study's table, and the text and HTML that show it.
    let summary = &run["summary"];
    assert_eq!(summary["rows"].as_array().unwrap().len(), 15);
    assert_eq!(summary["columns"][7], "overhead/floor");
    let table = std::fs::read_to_string(sb.path("out/data-transfer.txt")).unwrap();
    assert!(table.contains("per call, median: each way against native and the floor"));
    assert!(table.contains("verdict: json+base64 overhead over native by size: "));
    let html = std::fs::read_to_string(sb.path("out/data-transfer.html")).unwrap();
    assert!(html.contains("median call against payload size, by way (log-log)"));
    assert!(!html.contains("payload scaling: not applicable"));
    // Trace spans carry the payload size.
    let trace = sb.json("out/data-transfer.trace.json");
    assert!(
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["args"]["bytes_in"] == 1_000_000)
    );
}

#[test]
fn one_way_and_one_size() {
    let sb = Sandbox::new();
    sb.ok_line("record data-transfer --sizes 4KiB --ways host-fn --time-per-variant 10ms -o out");
    let run = sb.json("out/data-transfer.json");
    let names: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["native 4096 B", "floor 4096 B", "host-fn 4096 B"]);
    assert_eq!(facts(&run, "host-fn 4096 B")["payload_bytes"], 4096);
}

#[test]
fn bad_sizes_and_ways_are_refused_before_anything_runs() {
    let sb = Sandbox::new();
    // Refused by the argument parser (exit 2), or before the run (exit 1).
    for (line, code, want) in [
        (
            "record data-transfer --sizes ten -o out",
            2,
            "payload size `ten` is not a number of bytes",
        ),
        (
            "record data-transfer --sizes 10XB -o out",
            2,
            "payload size `10XB`: unknown unit",
        ),
        (
            "record data-transfer --ways raw,smoke-signals -o out",
            2,
            "unknown way `smoke-signals`",
        ),
        (
            "record data-transfer --heap -o out",
            1,
            "--heap does not apply to data-transfer",
        ),
    ] {
        let ran = sb.line(line);
        assert_eq!(ran.code, Some(code), "{line}: {}", ran.stderr);
        assert!(ran.stderr.contains(want), "{line}: {}", ran.stderr);
    }
    // Too large for the memory limit: the size and the limit named.
    let ran = sb.line("record data-transfer --sizes 100,50MB --memory-limit 64 -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "payload size 50 MB (50000000 bytes) is too large for the 64 MiB linear-memory limit"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        !sb.path("out").exists() || std::fs::read_dir(sb.path("out")).unwrap().next().is_none()
    );
}
