//! `wprof record component`: a real component's exports called with JSON
//! arguments, their results checked, lower/execute/lift split; bad
//! arguments refused on one line.

mod common;

use common::Sandbox;

fn phases(run: &serde_json::Value) -> Vec<String> {
    run["variants"][0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn records_in_and_records_out() {
    let sb = Sandbox::new();
    sb.ok_line("record component --time-per-variant 20ms -o out");
    let run = sb.json("out/component.json");
    assert_eq!(run["scenario"], "component");
    assert_eq!(phases(&run), ["lower", "execute", "lift", "free", "call"]);
    let results = &run["variants"][0]["facts"]["results"][0];
    assert_eq!(results.as_array().unwrap().len(), 3);
    assert_eq!(results[0]["drug-a"], "aspirin");
    assert_eq!(results[0]["drug-b"], "ibuprofen");
    assert_eq!(results[0]["severity"], "moderate");
}

#[test]
fn a_list_in_and_a_number_out_agree_with_native() {
    let sb = Sandbox::new();
    let data: Vec<u8> = (0..100).collect();
    let args = serde_json::to_string(&serde_json::json!([data])).unwrap();
    sb.ok(&[
        "record",
        "component",
        "--export",
        "checksum",
        "--args",
        &args,
        "--time-per-variant",
        "20ms",
        "-o",
        "out",
    ]);
    let run = sb.json("out/component.json");
    // No post-return for a u64: no free phase.
    assert_eq!(phases(&run), ["lower", "execute", "lift", "call"]);
    assert_eq!(
        run["variants"][0]["facts"]["results"][0].as_u64().unwrap(),
        transfer::checksum(&data)
    );
}

#[test]
fn bad_arguments_and_exports_are_one_line() {
    let sb = Sandbox::new();
    sb.write("dc.wasm", common::bundled_wasm());
    for (args, want) in [
        (vec!["--args", "[1,"], "--args is not JSON"),
        (
            vec!["--args", "[1, 2]"],
            "transfer-component: lower: `check-interactions` takes 1 arguments",
        ),
        (
            vec!["--export", "checksum", "--args", "[[1, 300]]"],
            "transfer-component: lower: data[1]: expected u8, got 300",
        ),
        (
            vec!["--args", r#"[{"meds": []}]"#],
            "transfer-component: lower: req: no field `meds`",
        ),
        (
            vec!["--export", "nope"],
            "transfer-component: instantiate: the component exports no function `nope` (its exports: checksum, check-interactions)",
        ),
        (
            vec!["--plugin", "dc.wasm"],
            "dc.wasm: compile: not a component",
        ),
    ] {
        let mut line = vec!["record", "component", "-o", "out"];
        line.extend(&args);
        let ran = sb.wprof(&line);
        assert_eq!(ran.code, Some(1), "{args:?}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
        assert!(
            ran.stderr.starts_with(&format!("wprof: error: {want}")),
            "{args:?}: {}",
            ran.stderr
        );
    }
}

/// The passes that look inside on a component's calls, each on the whole
/// call: counters (or every counter named unavailable), fuel the same on
/// every call, a guest profile in the component's own functions, a host
/// profile, and the heap per call.
#[test]
fn the_passes_look_inside_a_components_calls() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record component --time-per-variant 20ms --fuel --sample both --sample-secs 0.4 --heap --heap-calls 50 -o out",
    );
    let run = sb.json("out/component.json");
    let v = &run["variants"][0];
    if run["perf"]["counters"].as_array().unwrap().is_empty() {
        assert!(!run["perf"]["unavailable"].as_array().unwrap().is_empty());
    } else {
        let rows: Vec<&str> = v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(rows, ["execute", "call"], "{:#}", v["counters"]);
    }
    let fuel = &v["fuel"];
    assert_eq!(fuel["constant"], true, "{fuel:#}");
    assert!(
        fuel["phases"][0]["fuel"].as_u64().unwrap() > 100,
        "{fuel:#}"
    );
    let profiles = run["profiles"].as_array().unwrap();
    let guest = profiles.iter().find(|p| p["sampler"] == "guest").unwrap();
    // The drug checker's own code, under the export's variant.
    assert!(
        guest["stacks"].as_array().unwrap().iter().any(|s| {
            let f = s["frames"].as_str().unwrap();
            f.starts_with("component;check-interactions;execute;") && f.contains("cabi_")
        }),
        "{:#}",
        guest["stacks"]
    );
    assert!(profiles.iter().any(|p| p["sampler"] == "host"));
    assert_eq!(run["heap"]["calls"], 50);
    assert_eq!(run["heap"]["unit"], "call");
    assert!(sb.path("out/component.dhat.json").is_file());
}
