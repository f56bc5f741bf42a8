//! `wprof record host-functions`: the patient record passed in as JSON or
//! fetched through host functions, each analysis checked against native's.

mod common;

use common::Sandbox;

#[test]
fn json_and_host_functions_against_native() {
    let sb = Sandbox::new();
    sb.ok_line("record host-functions --record-size 64KB --time-per-variant 30ms -o out");
    let run = sb.json("out/host-functions.json");
    assert_eq!(run["scenario"], "host-functions");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    assert_eq!(run["settings"]["lab_values"], 8000);
    let names: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["native", "json", "host-fn"]);
    // The JSON way sends the record; the host-function way a small request.
    let json_in = common::variant(&run, "json")["facts"]["input_bytes"]
        .as_u64()
        .unwrap();
    let pull_in = common::variant(&run, "host-fn")["facts"]["input_bytes"]
        .as_u64()
        .unwrap();
    assert!(json_in > 64_000, "{json_in}");
    assert_eq!(pull_in, r#"{"patient_id":7}"#.len() as u64);
    assert_eq!(run["summary"]["rows"].as_array().unwrap().len(), 2);
    let verdicts = run["verdicts"].to_string();
    assert!(verdicts.contains("host functions remove "), "{verdicts}");
}

#[test]
fn a_record_too_large_for_the_memory_limit_is_refused() {
    let sb = Sandbox::new();
    let ran = sb.line("record host-functions --record-size 40MB --memory-limit 64 -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("a record of 40000000 bytes is too large for the 64 MiB linear-memory limit"),
        "{}",
        ran.stderr
    );
}
