//! `wprof record engines`: one plugin under every engine (Cranelift,
//! Winch, Pulley, wasmi, V8 through Node, Wasmer's two backends in their
//! own build) on one harness: every engine
//! runs or is named unavailable with why, every output matches native's,
//! every engine's no-op call is reported, and a module an engine cannot
//! run is not applicable there while the others still run.

mod common;

use common::{Sandbox, notes};
use serde_json::Value;

const ENGINES: [&str; 5] = ["cranelift", "winch", "pulley", "wasmi", "v8"];

/// Whether `node` is on the PATH (where it is, the V8 driver must run), or
/// CI installed it and requires it ($WPROF_REQUIRE_NODE).
fn node_here() -> bool {
    std::env::var_os("WPROF_REQUIRE_NODE").is_some()
        || std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

/// Checks each engine row that ran: its output, its call, its cold start
/// split, its no-op call and its memory.
fn check_rows(run: &Value, native: bool) {
    let e = &run["engines"];
    for row in e["rows"].as_array().unwrap() {
        let name = row["engine"].as_str().unwrap();
        assert_eq!(row["output_matches"], true, "{name}");
        assert!(row["call_ns"].as_f64().unwrap() > 0.0, "{name}");
        if name == "native" {
            continue;
        }
        let split: Vec<&str> = row["cold_start"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(
            split,
            ["validate", "compile", "instantiate", "call"],
            "{name}"
        );
        assert!(row["cold_start_ns"].as_f64().unwrap() > 0.0, "{name}");
        assert!(
            row["noop_call_ns"].as_f64().unwrap() > 0.0,
            "{name}: no no-op call"
        );
        assert!(row["clock_read_ns"].as_f64().unwrap() > 0.0, "{name}");
        assert!(
            row["memory_per_instance_bytes"].is_number() || row["memory_note"].is_string(),
            "{name}: memory neither measured nor explained"
        );
        assert!(row["driver"]["engine"].is_string(), "{name}");
        if native {
            assert!(row["vs_native"]["ratio"].as_f64().unwrap() > 0.0, "{name}");
        }
        if name != "cranelift" {
            assert!(
                row["vs_cranelift"]["ratio"].as_f64().unwrap() > 0.0,
                "{name}"
            );
        }
        // The call's phases, as every driver times them.
        let phases = common::phases(common::variant(run, name));
        assert_eq!(
            phases,
            ["copy-in", "execute", "copy-out", "free", "call"],
            "{name}"
        );
    }
}

#[test]
fn every_engine_runs_drug_checker_or_is_named_unavailable_and_outputs_are_identical() {
    let sb = Sandbox::new();
    let ran = sb.ok_line(
        "record engines --duration-per-engine 150ms --rounds 3 --cold-starts 2 --instances 3 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    let e = &run["engines"];
    assert_eq!(e["reference"], "native");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    let ran_names = names(&e["rows"], "engine");
    let unavailable = names(&e["unavailable"], "name");
    assert_eq!(ran_names[0], "native");
    for name in ENGINES {
        let here = ran_names.iter().any(|n| n == name);
        let named = unavailable.iter().any(|n| n == name);
        assert!(
            here != named,
            "{name}: ran {here}, named unavailable {named}"
        );
    }
    for u in e["unavailable"].as_array().unwrap() {
        assert!(!u["reason"].as_str().unwrap().is_empty());
    }
    // Every engine of Wasmtime is built in, and wasmi where its feature is:
    // only V8 may be missing, and only where Node is.
    for name in ["cranelift", "winch", "pulley"] {
        assert!(ran_names.iter().any(|n| n == name), "{name} did not run");
    }
    assert_eq!(
        ran_names.iter().any(|n| n == "wasmi"),
        cfg!(feature = "wasmi"),
        "{ran_names:?}"
    );
    if node_here() {
        assert!(
            ran_names.iter().any(|n| n == "v8"),
            "node is here, v8 did not run: {:?}",
            notes(&run)
        );
    } else {
        assert!(
            notes(&run)
                .iter()
                .any(|n| n.starts_with("v8: not measured: Node is not installed")),
            "{:?}",
            notes(&run)
        );
    }
    check_rows(&run, true);
    // One break-even (or its absence, said) per engine against Cranelift.
    let weighed = names(&e["break_even"], "engine");
    let others: Vec<&String> = ran_names
        .iter()
        .filter(|n| *n != "native" && *n != "cranelift")
        .collect();
    assert_eq!(weighed.iter().collect::<Vec<_>>(), others);
    for b in e["break_even"].as_array().unwrap() {
        let s = b["sentence"].as_str().unwrap();
        assert!(s.contains("Cranelift"), "{s}");
        if b["calls"].is_number() {
            assert!(s.contains("calls per instance"), "{s}");
        }
    }
    // The answer comes first in the .txt and last in the terminal.
    let txt = std::fs::read_to_string(sb.path("out/engines.txt")).unwrap();
    let headline = run["headline"].as_array().unwrap();
    assert!(!headline.is_empty());
    let first = headline[0].as_str().unwrap();
    assert!(txt.contains(first));
    assert!(ran.stdout.trim_end().lines().any(|l| l.trim() == first));
}

#[test]
fn the_blur_runs_on_each_engine_against_native() {
    let sb = Sandbox::new();
    sb.ok_line(
        "record engines --plugin blur --image 16x8 --engines cranelift,wasmi,pulley --duration-per-engine 100ms --rounds 3 --cold-starts 2 --instances 2 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    assert_eq!(run["engines"]["reference"], "native");
    // Native first, then the engines ranked by their paired ratio to it.
    let mut rows = names(&run["engines"]["rows"], "engine");
    assert_eq!(rows[0], "native");
    let ratios: Vec<f64> = run["engines"]["rows"].as_array().unwrap()[1..]
        .iter()
        .map(|r| r["vs_native"]["ratio"].as_f64().unwrap())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    rows.sort();
    if cfg!(feature = "wasmi") {
        assert_eq!(rows, ["cranelift", "native", "pulley", "wasmi"]);
    } else {
        assert_eq!(rows, ["cranelift", "native", "pulley"]);
    }
    check_rows(&run, true);
}

/// In a build without the `wasmi` feature (the default), wasmi is named
/// unavailable with the command that builds it in, and the rest still run.
#[cfg(not(feature = "wasmi"))]
#[test]
fn without_its_feature_wasmi_is_named_unavailable_with_the_command_that_builds_it_in() {
    let sb = Sandbox::new();
    let ran = sb.ok_line(
        "record engines --engines cranelift,wasmi --duration-per-engine 60ms --rounds 2 --cold-starts 1 --instances 2 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    let u = &run["engines"]["unavailable"][0];
    assert_eq!(u["name"], "wasmi");
    let why = u["reason"].as_str().unwrap();
    assert!(
        why.contains("not built into this wprof")
            && why.contains("cargo build --release --features wasmi"),
        "{why}"
    );
    assert_eq!(
        names(&run["engines"]["rows"], "engine"),
        ["native", "cranelift"]
    );
    // The terminal's table says it was not run; the text report gives why.
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("wasmi ") && l.contains("not run")),
        "{}",
        ran.stdout
    );
    let txt = std::fs::read_to_string(sb.path("out/engines.txt")).unwrap();
    assert!(
        txt.contains("wasmi") && txt.contains("cargo build --release --features wasmi"),
        "{txt}"
    );
}

#[test]
fn without_node_v8_is_named_unavailable_with_the_command_that_installs_it() {
    let sb = Sandbox::new().with_env("WPROF_NODE", "/nonexistent/node");
    sb.ok_line(
        "record engines --engines cranelift,v8 --duration-per-engine 60ms --rounds 2 --cold-starts 1 --instances 2 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    let u = &run["engines"]["unavailable"][0];
    assert_eq!(u["name"], "v8");
    let why = u["reason"].as_str().unwrap();
    assert!(
        why.contains("Node is not installed") && why.contains("apt-get install nodejs"),
        "{why}"
    );
    assert_eq!(
        names(&run["engines"]["rows"], "engine"),
        ["native", "cranelift"]
    );
}

#[test]
fn a_module_an_engine_cannot_run_is_not_applicable_there_and_the_others_still_run() {
    let sb = Sandbox::new();
    let gc = format!("{}/plugins/wasm-gc/wasm-gc.wat", env!("CARGO_MANIFEST_DIR"));
    sb.ok(&[
        "record",
        "engines",
        "--plugin",
        &gc,
        "--input-json",
        "[1,2,3]",
        "--engines",
        "cranelift,winch,wasmi",
        "--duration-per-engine",
        "60ms",
        "--rounds",
        "2",
        "--cold-starts",
        "1",
        "--instances",
        "2",
        "--out-dir",
        "out",
    ]);
    let run = sb.json("out/engines.json");
    let e = &run["engines"];
    // No native build: ranked against Cranelift, outputs checked against its.
    assert_eq!(e["reference"], "cranelift");
    assert_eq!(names(&e["rows"], "engine"), ["cranelift"]);
    // wasmi is not applicable where it is built in (else it is not built).
    let cannot: &[&str] = if cfg!(feature = "wasmi") {
        &["winch", "wasmi"]
    } else {
        &["winch"]
    };
    for (name, u) in cannot.iter().zip(e["unavailable"].as_array().unwrap()) {
        assert_eq!(u["name"], *name);
        let why = u["reason"].as_str().unwrap();
        assert!(
            why.starts_with("not applicable to ") && why.contains("wasm-gc.wat"),
            "{why}"
        );
    }
    check_rows(&run, false);
}

#[test]
fn an_unknown_engine_is_refused_on_one_line() {
    let sb = Sandbox::new();
    let ran = sb.wprof(&["record", "engines", "--engines", "cranelift,spidermonkey"]);
    assert_ne!(ran.code, Some(0));
    assert_eq!(ran.stderr.trim().lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown engine `spidermonkey`"),
        "{}",
        ran.stderr
    );
    assert!(!sb.path("profiles").exists());
}

/// Whether the Wasmer driver is built (where it is, or CI built it and
/// requires it, $WPROF_REQUIRE_WASMER, both Wasmer engines must run).
fn wasmer_here() -> bool {
    std::env::var_os("WPROF_REQUIRE_WASMER").is_some()
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("drivers/wasmer/target/release/wprof-wasmer")
            .is_file()
}

/// Wasmer runs in a child process with a build of its own: built, it runs
/// drug-checker on both its backends with native's output, each call split
/// into the same four phases, in that child process. (CI builds it and
/// requires it: $WPROF_REQUIRE_WASMER.)
#[test]
fn wasmer_runs_drug_checker_on_both_backends_in_its_own_build() {
    if !wasmer_here() {
        eprintln!("the Wasmer driver is not built here (scripts/build-wasmer-driver): not run");
        return;
    }
    let sb = Sandbox::new();
    sb.ok_line(
        "record engines --engines cranelift,wasmer,wasmer-singlepass --duration-per-engine 100ms --rounds 3 --cold-starts 2 --instances 2 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    let e = &run["engines"];
    let mut ran = names(&e["rows"], "engine");
    ran.sort();
    assert_eq!(
        ran,
        ["cranelift", "native", "wasmer", "wasmer-singlepass"],
        "{:?}",
        notes(&run)
    );
    for row in e["rows"].as_array().unwrap() {
        if row["engine"].as_str().unwrap().starts_with("wasmer") {
            assert_eq!(row["driver"]["engine"], "Wasmer 7.4.2");
            let process = row["driver"]["process"].as_str().unwrap();
            assert!(process.starts_with("child process"), "{process}");
        }
    }
    check_rows(&run, true);
}

/// Not built, both Wasmer engines are named unavailable with the command
/// that builds the driver, and the others still run.
#[test]
fn without_its_driver_wasmer_is_named_unavailable_with_the_command_that_builds_it() {
    let sb = Sandbox::new().with_env("WPROF_WASMER_DRIVER", "/nonexistent/wprof-wasmer");
    sb.ok_line(
        "record engines --engines cranelift,wasmer,wasmer-singlepass --duration-per-engine 60ms --rounds 2 --cold-starts 1 --instances 2 --out-dir out",
    );
    let run = sb.json("out/engines.json");
    let e = &run["engines"];
    assert_eq!(names(&e["rows"], "engine"), ["native", "cranelift"]);
    assert_eq!(
        names(&e["unavailable"], "name"),
        ["wasmer", "wasmer-singlepass"]
    );
    for u in e["unavailable"].as_array().unwrap() {
        let why = u["reason"].as_str().unwrap();
        assert!(
            why.contains("not built") && why.contains("scripts/build-wasmer-driver"),
            "{why}"
        );
    }
}
