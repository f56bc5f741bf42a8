//! The bundled plugins: wasm and native builds agree, the reference study's semantics
//! hold, and the committed wasm keeps its name section and start-up export.

mod common;

use common::Sandbox;
use serde_json::Value;

fn call(sb: &Sandbox, input: &str, native: bool) -> String {
    let mut args = vec!["call", "--input-json", input];
    if native {
        args.push("--native");
    }
    sb.ok(&args).stdout
}

#[test]
fn wasm_and_native_outputs_are_identical() {
    let sb = Sandbox::new();
    let common = [
        "aspirin",
        "ibuprofen",
        "warfarin",
        "metformin",
        "lisinopril",
    ];
    let hundred: Vec<&str> = (0..100).map(|i| common[i % common.len()]).collect();
    let cases: Vec<(String, usize)> = vec![
        (r#"{"medications":[]}"#.into(), 0),
        (r#"{"medications":["aspirin"]}"#.into(), 0),
        (
            r#"{"medications":["aspirin","aspirin","warfarin"]}"#.into(),
            2,
        ),
        (
            r#"{"medications":["tylenol","Aspirin","WARFARIN"]}"#.into(),
            0,
        ),
        (
            r#"{"medications":["warfarin","ibuprofen","aspirin"]}"#.into(),
            3,
        ),
        (serde_json::json!({ "medications": hundred }).to_string(), {
            // 20 copies each of the three interacting drugs: every cross pair.
            3 * 20 * 20
        }),
    ];
    for (input, pairs) in cases {
        let wasm = call(&sb, &input, false);
        let native = call(&sb, &input, true);
        assert_eq!(wasm, native, "outputs differ for {input}");
        let out: Value = serde_json::from_str(&wasm).unwrap();
        assert_eq!(out.as_array().unwrap().len(), pairs, "pairs for {input}");
    }
}

#[test]
fn reference_study_table_in_either_order() {
    let sb = Sandbox::new();
    let out: Value = serde_json::from_str(&call(
        &sb,
        r#"{"medications":["warfarin","ibuprofen","aspirin"]}"#,
        false,
    ))
    .unwrap();
    assert_eq!(
        out,
        serde_json::json!([
            {"drug_a":"warfarin","drug_b":"ibuprofen","severity":"high","description":"Increased bleeding risk"},
            {"drug_a":"warfarin","drug_b":"aspirin","severity":"high","description":"Increased bleeding risk"},
            {"drug_a":"ibuprofen","drug_b":"aspirin","severity":"moderate","description":"May increase GI bleeding"}
        ])
    );
}

#[test]
fn outputs_identical_is_recorded_for_a_large_input() {
    let sb = Sandbox::new();
    let meds: Vec<String> = (0..100)
        .map(|i| ["aspirin", "warfarin", "x"][i % 3].to_owned())
        .collect();
    sb.write(
        "in.json",
        serde_json::json!({ "medications": meds }).to_string(),
    );
    sb.ok_line("record hot-path -i in.json -n 50 -w 0 --out-dir o -q");
    let run = sb.json("o/hot-path.json");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    assert!(run["plugin"]["output_bytes"].as_u64().unwrap() > 10_000);
}

#[test]
fn committed_wasm_keeps_the_name_section() {
    let wasm = common::bundled_wasm();
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        if let wasmparser::Payload::CustomSection(c) = payload.unwrap()
            && let wasmparser::KnownCustom::Name(reader) = c.as_known()
        {
            for n in reader {
                if let wasmparser::Name::Function(map) = n.unwrap() {
                    names.extend(map.into_iter().map(|n| n.unwrap().name.to_owned()));
                }
            }
        }
    }
    assert!(
        names.iter().any(|n| n == "check_interactions"),
        "no name for check_interactions"
    );
    assert!(
        names.iter().any(|n| n.contains("find_interactions")),
        "guest functions are unnamed"
    );
}

#[test]
fn redactor_wasm_and_native_outputs_are_identical() {
    let sb = Sandbox::new();
    let long = "Mail ana@example.com or call +44 20 7946 0958. ".repeat(200);
    let cases = [
        serde_json::json!({ "text": "" }),
        serde_json::json!({ "text": "nothing to hide here" }),
        serde_json::json!({ "text": "jörg.müller@beispiel.de, 4111 1111 1111 1111, 4111 1111 1111 1112" }),
        serde_json::json!({ "text": long }),
    ];
    for input in cases {
        let input = input.to_string();
        let run = |native: bool| {
            let mut args = vec!["call", "-p", "redactor", "--input-json", &input];
            if native {
                args.push("--native");
            }
            sb.ok(&args).stdout
        };
        let (wasm, native) = (run(false), run(true));
        assert_eq!(wasm, native, "outputs differ for {input}");
        let out: Value = serde_json::from_str(&wasm).unwrap();
        assert!(out["text"].is_string(), "{out}");
    }
    // The default input has something of every kind.
    let out: Value = serde_json::from_str(&sb.ok(&["call", "-p", "redactor"]).stdout).unwrap();
    let kinds: Vec<&str> = out["redactions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        kinds,
        ["CARD", "EMAIL", "IBAN", "IPV4", "PHONE", "SSN", "URL"]
    );
}

#[test]
fn committed_plugins_export_their_start_up_work() {
    for plugin in ["drug-checker", "redactor"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("plugins/{plugin}/{plugin}.wasm"));
        let wasm = std::fs::read(path).unwrap();
        let exports: Vec<String> = wasmparser::Parser::new(0)
            .parse_all(&wasm)
            .filter_map(|p| match p.unwrap() {
                wasmparser::Payload::ExportSection(r) => Some(
                    r.into_iter()
                        .map(|e| e.unwrap().name.to_owned())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        for name in ["memory", "wprof_alloc", "wprof_free", "wprof_init"] {
            assert!(
                exports.iter().any(|e| e == name),
                "{plugin} lacks {name}: {exports:?}"
            );
        }
    }
}
