//! `wprof record codecs`: the drug check through JSON, MessagePack and a
//! real component, against the check on host values.

mod common;

use common::Sandbox;

#[test]
fn json_msgpack_and_the_component_model_in_one_table() {
    let sb = Sandbox::new();
    sb.ok_line("record codecs --time-per-variant 30ms -o out");
    let run = sb.json("out/codecs.json");
    assert_eq!(run["scenario"], "codecs");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    assert!(run["failures"].as_array().is_none_or(|f| f.is_empty()));
    let phases = |name: &str| -> Vec<String> {
        common::variant(&run, name)["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(phases("native"), ["execute", "call"]);
    for core in ["json", "msgpack"] {
        assert_eq!(
            phases(core),
            [
                "encode", "copy-in", "execute", "copy-out", "decode", "free", "call"
            ]
        );
    }
    assert_eq!(
        phases("component"),
        ["lower", "execute", "lift", "free", "call"]
    );
    // MessagePack's answer is smaller than JSON's: the codec really changed.
    let out = |n: &str| {
        common::variant(&run, n)["facts"]["output_bytes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(out("json"), 306);
    assert!(out("msgpack") < out("json"));
    // Lowering three strings and lifting three records cost something.
    let p50 = |n: &str, i: usize| {
        common::variant(&run, n)["phases"][i]["stats"]["p50_ns"]
            .as_f64()
            .unwrap()
    };
    assert!(p50("component", 0) > 0.0 && p50("component", 2) > 0.0);
    let rows = run["summary"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][5], "-40 %");
    assert_eq!(rows[2][5], "-60 %");
    let verdicts = run["verdicts"].to_string();
    assert!(verdicts.contains("component: "), "{verdicts}");
    assert!(
        verdicts.contains("the reference study guessed -60 %"),
        "{verdicts}"
    );
}
