//! `--formats firefox` and `wprof export --format firefox`: the Firefox
//! Profiler's processed profile. Each file is read back and checked against
//! the format as the profiler's front end reads it (its processed-profile
//! types at preprocessedProfileVersion 55: every table's columns as long
//! as its `length`, every index inside the table it points into, stacks
//! whose prefixes come first, samples in time order, markers whose data
//! name a schema), then its call tree is rebuilt and compared with the
//! run's own stacks: a round trip.

mod common;

use std::collections::BTreeMap;

use common::{Sandbox, golden};
use serde_json::{Value, json};

/// `table.length`, after checking that every column of `table` (every
/// array but those named in `nested`) has that many entries.
fn table_len(table: &Value, what: &str) -> usize {
    let len = table["length"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no length"));
    for (key, col) in table.as_object().unwrap() {
        if let Some(col) = col.as_array() {
            assert_eq!(col.len() as u64, len, "{what}.{key}: {} entries", col.len());
        }
    }
    len as usize
}

/// An index column's entries: each null (where `nullable`) or below `bound`.
fn indexes(col: &Value, bound: usize, nullable: bool, what: &str) -> Vec<Option<usize>> {
    col.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|v| {
            if v.is_null() {
                assert!(nullable, "{what}: null");
                return None;
            }
            let i = v
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: {v} is no index")) as usize;
            assert!(i < bound, "{what}: {i} out of {bound}");
            Some(i)
        })
        .collect()
}

/// Checks `doc` as a processed profile and returns each thread's folded
/// stacks (`frame;frame`, outermost first) with their summed weights, and
/// its markers' names.
fn processed(doc: &Value) -> BTreeMap<String, (BTreeMap<String, i64>, Vec<String>)> {
    let meta = &doc["meta"];
    assert_eq!(meta["preprocessedProfileVersion"], 55);
    assert!(meta["interval"].as_f64().unwrap() > 0.0);
    assert!(meta["startTime"].is_number());
    assert!(meta["product"].is_string());
    let categories = meta["categories"].as_array().unwrap();
    assert!(
        categories.iter().any(|c| c["color"] == "grey"),
        "the front end needs a grey default category"
    );
    for c in categories {
        assert!(
            c["name"].is_string() && c["subcategories"].is_array(),
            "{c}"
        );
    }
    let schemas: Vec<&str> = meta["markerSchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s["display"].is_array() && s["fields"].is_array(), "{s}");
            s["name"].as_str().unwrap()
        })
        .collect();
    let mut out = BTreeMap::new();
    for t in doc["threads"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap().to_owned();
        assert!(t["pid"].is_string() || t["pid"].is_number(), "{name}: pid");
        assert!(t["registerTime"].is_number() && t["isMainThread"].is_boolean());
        let strings: Vec<&str> = t["stringArray"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let funcs = table_len(&t["funcTable"], "funcTable");
        let func_names = indexes(
            &t["funcTable"]["name"],
            strings.len(),
            false,
            "funcTable.name",
        );
        let frames = table_len(&t["frameTable"], "frameTable");
        let frame_func = indexes(&t["frameTable"]["func"], funcs, false, "frameTable.func");
        indexes(
            &t["frameTable"]["category"],
            categories.len(),
            true,
            "frameTable.category",
        );
        let stacks = table_len(&t["stackTable"], "stackTable");
        let frame_of = indexes(&t["stackTable"]["frame"], frames, false, "stackTable.frame");
        let prefix = indexes(
            &t["stackTable"]["prefix"],
            stacks,
            true,
            "stackTable.prefix",
        );
        for (i, p) in prefix.iter().enumerate() {
            assert!(
                p.is_none_or(|p| p < i),
                "{name}: stack {i}'s prefix comes after it"
            );
        }
        let folded = |mut s: usize| {
            let mut names = Vec::new();
            loop {
                let f = frame_of[s].unwrap();
                names.push(strings[func_names[frame_func[f].unwrap()].unwrap()]);
                match prefix[s] {
                    Some(p) => s = p,
                    None => break,
                }
            }
            names.reverse();
            names.join(";")
        };
        let samples = &t["samples"];
        let n = table_len(samples, "samples");
        assert!(
            ["samples", "tracing-ms", "bytes"].contains(&samples["weightType"].as_str().unwrap())
        );
        for d in samples["timeDeltas"].as_array().unwrap() {
            assert!(
                d.as_f64().unwrap() >= 0.0,
                "{name}: samples out of time order"
            );
        }
        let sample_stacks = indexes(&samples["stack"], stacks, true, "samples.stack");
        let mut weights: BTreeMap<String, i64> = BTreeMap::new();
        for i in 0..n {
            let w = samples["weight"][i].as_i64().unwrap();
            if let Some(s) = sample_stacks[i] {
                *weights.entry(folded(s)).or_default() += w;
            }
        }
        let markers = &t["markers"];
        let m = table_len(markers, "markers");
        let marker_names = indexes(&markers["name"], strings.len(), false, "markers.name");
        indexes(
            &markers["category"],
            categories.len(),
            false,
            "markers.category",
        );
        let mut names = Vec::new();
        for i in 0..m {
            let phase = markers["phase"][i].as_u64().unwrap();
            let (start, end) = (&markers["startTime"][i], &markers["endTime"][i]);
            if phase == 1 {
                // An interval: both ends, in order.
                assert!(start.as_f64().unwrap() <= end.as_f64().unwrap(), "{name}");
            }
            let data = &markers["data"][i];
            if !data.is_null() {
                let ty = data["type"].as_str().unwrap();
                assert!(
                    schemas.contains(&ty),
                    "{name}: marker type {ty} has no schema"
                );
            }
            names.push(strings[marker_names[i].unwrap()].to_owned());
        }
        out.insert(name, (weights, names));
    }
    out
}

/// A fake-clock hot-path run in `out/`, given samples of known stacks and
/// times (a fixture: the fake clock times calls, not samplers).
fn fake_run_with_samples(sb: &Sandbox) {
    sb.ok_line(
        "record hot-path -n 200 -w 5 --rounds 2 --trace-calls 1 --clock fake --counters none -o out -q",
    );
    let mut run = sb.json("out/hot-path.json");
    run["profiles"] = json!([
        {
            "sampler": "guest", "method": "fixture", "requested_hz": 1000.0,
            "achieved_hz": 1000.0, "samples": 4, "seconds": 0.004, "overhead_pct": null,
            "stacks": [
                {"frames": "hot-path;wasm;execute;check;lookup", "count": 2},
                {"frames": "hot-path;wasm;copy-in;[host]", "count": 1},
                {"frames": "hot-path;wasm;encode", "count": 1}
            ],
            "timed": [
                {"t_ns": 1.0e6, "stack": 0, "weight": 1},
                {"t_ns": 2.0e6, "stack": 2, "weight": 1},
                {"t_ns": 3.0e6, "stack": 0, "weight": 1},
                {"t_ns": 4.0e6, "stack": 1, "weight": 1}
            ],
            "segments": [{"label": "hot-path;wasm", "start_ns": 0.5e6, "end_ns": 4.5e6}]
        },
        {
            "sampler": "host", "method": "fixture", "requested_hz": 250.0,
            "achieved_hz": 250.0, "samples": 3, "seconds": 0.012, "overhead_pct": null,
            "stacks": [{"frames": "hot-path;wprof::main;check", "count": 3}],
            "timed": [{"t_ns": 6.0e6, "stack": 0, "weight": 3}],
            "segments": [{"label": "hot-path", "start_ns": 5.0e6, "end_ns": 17.0e6}]
        }
    ]);
    sb.write("out/hot-path.json", serde_json::to_vec(&run).unwrap());
}

#[test]
fn firefox_is_golden_and_reads_back_as_the_run_s_stacks() {
    let sb = Sandbox::new();
    fake_run_with_samples(&sb);
    let text = sb
        .ok(&["export", "--format", "firefox", "out/hot-path.json"])
        .stdout;
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let threads = processed(&doc);
    let guest = &threads["guest sampler"].0;
    assert_eq!(guest["hot-path;wasm;execute;check;lookup"], 2);
    assert_eq!(guest["hot-path;wasm;copy-in;[host]"], 1);
    assert_eq!(guest["hot-path;wasm;encode"], 1);
    assert_eq!(guest.len(), 3);
    assert_eq!(threads["host sampler"].0["hot-path;wprof::main;check"], 3);
    assert_eq!(threads["guest sampler"].1, ["sampled"]);
    // The timed calls' host phases, as markers: one call each.
    for track in ["timed calls · wasm", "timed calls · native"] {
        let markers = &threads[track].1;
        for phase in ["call", "encode", "execute", "decode"] {
            assert!(markers.iter().any(|m| m == phase), "{track}: {markers:?}");
        }
    }
    // Samples sit where they were taken: the guest's first at 1 ms.
    let guest_thread = doc["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "guest sampler")
        .unwrap();
    assert_eq!(guest_thread["samples"]["timeDeltas"][0], 1.0);
    // The start is the run's, which the fake clock does not fix.
    doc["meta"]["startTime"] = json!(0);
    golden(
        "fake.hot-path.firefox.json",
        &(serde_json::to_string_pretty(&doc).unwrap() + "\n"),
    );
}

#[test]
fn a_sampled_run_s_profile_holds_every_sample_on_the_run_s_timeline() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record hot-path -n 2000 -w 10 --rounds 2 --counters none --sample both --sample-secs 0.4 --formats json,firefox -o out -q",
    );
    let run = sb.json("out/hot-path.json");
    let doc = sb.json("out/hot-path.firefox.json");
    let threads = processed(&doc);
    for p in run["profiles"].as_array().unwrap() {
        let sampler = p["sampler"].as_str().unwrap();
        let (weights, markers) = &threads[&format!("{sampler} sampler")];
        // Every sample the run counted is in the profile, under its stack.
        let want: BTreeMap<String, i64> = p["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["frames"].as_str().unwrap().to_owned(),
                    s["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(weights, &want, "{sampler}");
        assert!(!want.is_empty(), "{sampler}: no samples");
        assert!(markers.iter().all(|m| m == "sampled") && !markers.is_empty());
        // Times fall inside the sampled segments, after the timing pass.
        let segments = p["segments"].as_array().unwrap();
        let last_span = run["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start_ns"].as_f64().unwrap())
            .fold(0.0, f64::max);
        for t in p["timed"].as_array().unwrap() {
            let t = t["t_ns"].as_f64().unwrap();
            assert!(
                t > last_span,
                "{sampler}: a sample at {t} ns, before the timing pass ended"
            );
            assert!(
                segments.iter().any(|s| {
                    s["start_ns"].as_f64().unwrap() <= t && t <= s["end_ns"].as_f64().unwrap()
                }),
                "{sampler}: a sample at {t} ns outside every sampled segment"
            );
        }
    }
    assert!(threads.contains_key("timed calls · wasm"));
}

#[test]
fn a_run_without_samples_is_refused_with_why() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record hot-path -n 200 -w 5 --rounds 2 --clock fake --counters none --formats json -o out -q",
    );
    let ran = sb.line("export --format firefox out/hot-path.json");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no samples (record it with --sample"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty());
    // Asked of a record that samples nothing: refused before it measures.
    let ran = sb.line("record hot-path -n 200 --formats json,firefox -o two -q");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("--formats firefox needs sampled stacks"),
        "{}",
        ran.stderr
    );
    assert!(!sb.path("two").exists());
    let ran = sb.line("record batching --formats firefox -o three -q");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("samples no stacks"), "{}", ran.stderr);
}
