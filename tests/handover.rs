//! `record hot-path` on a module that is not a core-module plugin hands it
//! to the scenario for its kind; the plugin scenarios refuse such a module
//! on one line that names the kind and the command that runs it.

mod common;

use common::Sandbox;

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn notes(run: &serde_json::Value) -> Vec<String> {
    run["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
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
    assert!(
        notes[1].starts_with("--fuel: not applicable to a component run"),
        "{notes:?}"
    );
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
        "record", "hot-path", "-p", &c, "--sample", "guest", "-o", "out",
    ]);
    let run = sb.json("out/command.json");
    assert_eq!(run["scenario"], "command");
    let notes = notes(&run);
    assert!(
        notes[0].contains("is a WASI command, so `record command` ran it"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("--sample: not applicable to a WASI command run"),
        "{notes:?}"
    );
}

#[test]
fn plugin_scenarios_name_the_kind_and_the_command_for_it() {
    let sb = Sandbox::new();
    let component = repo("plugins/transfer-component/transfer-component.wasm");
    let command = repo("plugins/bench-command/bench-command.wasm");
    for scenario in ["cold-start", "memory", "soak"] {
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
