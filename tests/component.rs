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
