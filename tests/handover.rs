//! `record hot-path`, `record cold-start` and `record memory` on a module
//! that is not a core-module plugin hand it to the scenario for its kind
//! (with that scenario's cold-start variant, or its memory readings); what
//! cannot apply (soak; memory of a component) is refused on one line that
//! names the kind and the command that runs it.

mod common;

use common::{Sandbox, notes, phases};

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn hot_path_hands_a_component_to_record_component() {
    let sb = Sandbox::new();
    let c = repo("plugins/transfer-component/transfer-component.wasm");
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &c,
        "--export",
        "checksum",
        "--input-json",
        "[[1,2,3]]",
        "--fuel",
        "-o",
        "out",
    ]);
    let run = sb.json("out/component.json");
    assert_eq!(run["scenario"], "component");
    assert_eq!(
        run["variants"][0]["facts"]["results"][0].as_u64().unwrap(),
        transfer::checksum(&[1, 2, 3])
    );
    let notes = notes(&run);
    assert!(
        notes[0].contains("is a component, so `record component` ran it"),
        "{notes:?}"
    );
    // --fuel is handed over: fuel per call, the whole call as execute.
    assert!(
        !notes.iter().any(|n| n.contains("not applicable to a")),
        "{notes:?}"
    );
    let fuel = &run["variants"][0]["fuel"];
    assert_eq!(fuel["constant"], true, "{fuel:#}");
    assert_eq!(fuel["phases"][0]["phase"], "execute", "{fuel:#}");
    assert!(fuel["phases"][0]["fuel"].as_u64().unwrap() > 0, "{fuel:#}");
    // Without an export: told what to pass.
    let ran = sb.wprof(&["record", "hot-path", "-p", &c, "-o", "out2"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is a component: pass --export NAME"),
        "{}",
        ran.stderr
    );
}

#[test]
fn hot_path_hands_a_wasi_command_to_record_command() {
    let sb = Sandbox::new();
    let c = repo("plugins/bench-command/bench-command.wasm");
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &c,
        "--sample",
        "guest",
        "--sample-secs",
        "0.3",
        "-o",
        "out",
    ]);
    let run = sb.json("out/command.json");
    assert_eq!(run["scenario"], "command");
    let notes = notes(&run);
    assert!(
        notes[0].contains("is a WASI command, so `record command` ran it"),
        "{notes:?}"
    );
    // The sampler is handed over too: a command's runs have the passes.
    assert!(
        !notes.iter().any(|n| n.contains("not applicable to a")),
        "{notes:?}"
    );
    let guest = run["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sampler"] == "guest")
        .expect("a guest profile");
    assert!(
        guest["stacks"]
            .to_string()
            .contains("command;run;execute;_start"),
        "{guest:#}"
    );
}

#[test]
fn plugin_scenarios_name_the_kind_and_the_command_for_it() {
    let sb = Sandbox::new();
    let component = repo("plugins/transfer-component/transfer-component.wasm");
    let command = repo("plugins/bench-command/bench-command.wasm");
    for scenario in ["soak"] {
        for (module, want) in [
            (
                &component,
                "validate: a component, not a core-module plugin: `wprof record component`",
            ),
            (
                &command,
                "instantiate: a WASI command (it exports _start), not a plugin: `wprof record command`",
            ),
        ] {
            let ran = sb.wprof(&["record", scenario, "-p", module, "-o", "out"]);
            assert_eq!(ran.code, Some(1), "{scenario}: {}", ran.stderr);
            assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
            assert!(
                ran.stderr
                    .starts_with(&format!("wprof: error: {module}: {want}")),
                "{scenario}: {}",
                ran.stderr
            );
        }
    }
}

fn cold_variant(run: &serde_json::Value) -> &serde_json::Value {
    run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "cold-start")
        .expect("a cold-start variant")
}

#[test]
fn cold_start_of_a_command_and_of_a_component() {
    let sb = Sandbox::new();
    let c = repo("plugins/bench-command/bench-command.wasm");
    sb.ok(&["record", "cold-start", "-p", &c, "-n", "2", "-o", "out"]);
    let run = sb.json("out/command.json");
    let cold = cold_variant(&run);
    assert_eq!(
        phases(cold),
        [
            "validate",
            "compile",
            "link",
            "instantiate",
            "execute",
            "call"
        ]
    );
    assert_eq!(cold["phases"][0]["stats"]["n"], 2);
    let notes = notes(&run);
    assert!(
        notes[0].contains("is a WASI command, so `record command` ran it"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("the rungs (winch, aot, pooling, wizer): not applicable"),
        "{notes:?}"
    );
    // Compiling is most of a cold start, and it is timed each time.
    let p50 = |name: &str| {
        cold["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == name)
            .unwrap()["stats"]["p50_ns"]
            .as_f64()
            .unwrap()
    };
    assert!(p50("compile") > p50("link"), "{cold}");

    let comp = repo("plugins/transfer-component/transfer-component.wasm");
    sb.ok(&[
        "record",
        "cold-start",
        "-p",
        &comp,
        "--export",
        "checksum",
        "--input-json",
        "[[7]]",
        "-n",
        "2",
        "-o",
        "out",
    ]);
    let run = sb.json("out/component.json");
    assert_eq!(
        phases(cold_variant(&run)),
        ["compile", "link", "instantiate", "execute", "call"]
    );
    assert_eq!(
        run["variants"][0]["facts"]["results"][0].as_u64().unwrap(),
        transfer::checksum(&[7])
    );
}

#[test]
fn memory_of_a_command_and_not_of_a_component() {
    let sb = Sandbox::new();
    let c = repo("plugins/bench-command/bench-command.wasm");
    sb.ok(&[
        "record",
        "memory",
        "-p",
        &c,
        "--instances",
        "5",
        "-o",
        "out",
    ]);
    let run = sb.json("out/command.json");
    let v = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "run")
        .unwrap();
    let per = &v["memory"]["per_instance"];
    assert_eq!(per["instances"], 5);
    // The sieve's 200 000 flags live in each instance's linear memory,
    // and a kept instance holds them resident.
    assert!(
        per["linear_resident_bytes"].as_f64().unwrap() >= 195_000.0,
        "{per}"
    );
    assert!(
        per["linear_size_bytes"].as_f64().unwrap()
            >= per["linear_resident_bytes"].as_f64().unwrap()
    );
    assert!(
        notes(&run)[0].contains("5 instances are kept alive"),
        "{:?}",
        notes(&run)
    );

    let comp = repo("plugins/transfer-component/transfer-component.wasm");
    let ran = sb.wprof(&[
        "record", "memory", "-p", &comp, "--export", "checksum", "-o", "out2",
    ]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.starts_with(&format!(
            "wprof: error: {comp}: instantiate: a component: record memory does not apply"
        )),
        "{}",
        ran.stderr
    );
}
