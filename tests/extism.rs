//! Unmodified Extism plugins on wprof's host of `extism:host/env`: the
//! bundled count-vowels plugin (built with extism-pdk from crates.io) under
//! `call`, `record hot-path`, `cold-start`, `memory` and `soak`, with
//! Extism's phases; config, vars, logs, errors and the HTTP refusal.

mod common;

use common::{Ran, Sandbox, notes, phases};
use wprof::driver::extism::Extism;
use wprof::driver::wasmtime::WasmtimeDriver;
use wprof::driver::{Driver, Instance, Limits};

fn plugin() -> String {
    format!(
        "{}/plugins/count-vowels/count-vowels.wasm",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `wprof call` on the plugin's `export` with `input`, then `extra`.
fn call(sb: &Sandbox, export: &str, input: &str, extra: &[&str]) -> Ran {
    let p = plugin();
    let mut args = vec!["call", "-p", &p, "-e", export, "--input", input];
    args.extend_from_slice(extra);
    sb.ok(&args)
}

#[test]
fn call_counts_vowels_with_config() {
    let sb = Sandbox::new();
    let ran = call(&sb, "count_vowels", "Hello, World!", &[]);
    assert_eq!(
        ran.stdout.trim(),
        r#"{"count":3,"total":3,"vowels":"aeiouAEIOU"}"#
    );
    // The config value reaches the plugin through config_get.
    let ran = call(
        &sb,
        "count_vowels",
        "Hello, World!",
        &["--config", "vowels=lo"],
    );
    assert_eq!(ran.stdout.trim(), r#"{"count":5,"total":5,"vowels":"lo"}"#);
    // An input that names a file is the file's bytes.
    sb.write("in.txt", "aaaa");
    let ran = call(&sb, "count_vowels", "in.txt", &[]);
    assert!(ran.stdout.starts_with(r#"{"count":4,"#), "{}", ran.stdout);
}

#[test]
fn vars_live_as_long_as_the_instance_and_kernel_memory_is_reused() {
    let bytes = std::fs::read(plugin()).unwrap();
    assert_eq!(wprof::kind::abi(&bytes), wprof::kind::Abi::Extism);
    let driver = WasmtimeDriver::<Extism>::default();
    let module = driver
        .load("count-vowels", &bytes, &mut Vec::new())
        .unwrap();
    let mut p = driver
        .instantiate(&module, "count_vowels", &Limits::default())
        .map_err(|e| e.error)
        .unwrap();
    let mut totals = Vec::new();
    for _ in 0..3 {
        let buf = p.copy_in(b"Hello, World!").unwrap();
        let packed = p.execute(buf).unwrap();
        let out = p.copy_out(packed).unwrap();
        let v: serde_json::Value = serde_json::from_slice(p.output()).unwrap();
        totals.push(v["total"].as_u64().unwrap());
        p.free(out).unwrap();
    }
    assert_eq!(totals, [3, 6, 9]);
}

#[test]
fn hot_path_shows_extisms_phases() {
    let sb = Sandbox::new();
    let p = plugin();
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &p,
        "--export",
        "count_vowels",
        "--input",
        "Hello, World!",
        "-n",
        "2000",
        "-w",
        "100",
        "--sample",
        "guest",
        "--sample-secs",
        "0.3",
        "--fuel",
        "-o",
        "out",
    ]);
    let run = sb.json("out/hot-path.json");
    let variants = run["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "no native build of an Extism plugin");
    let wasm = &variants[0];
    assert_eq!(
        phases(wasm),
        ["copy-in", "execute", "copy-out", "free", "call"]
    );
    assert!(
        wasm["description"]
            .as_str()
            .unwrap()
            .contains("extism:host/env"),
        "{}",
        wasm["description"]
    );
    assert_eq!(run["plugin"]["input_bytes"], 13);
    let out = r#"{"count":3,"total":3,"vowels":"aeiouAEIOU"}"#;
    assert_eq!(run["plugin"]["output_bytes"], out.len());
    let notes = notes(&run);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("native: not measured: wprof has no native build of an Extism")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("input: --input's text itself"))
    );
    // Execute is where the plugin runs: it dominates a call whose other
    // phases are host memcpys of 13 and 43 bytes.
    let p50 = |ph: &str| {
        wasm["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == ph)
            .unwrap()["stats"]["p50_ns"]
            .as_f64()
            .unwrap()
    };
    assert!(p50("execute") > p50("copy-in") && p50("execute") > p50("copy-out"));
    // Fuel is counted in execute only: copy-in, copy-out and free run no wasm.
    let fuel = &wasm["fuel"];
    let used = |ph: &str| {
        fuel["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == ph)
            .unwrap()["fuel"]
            .as_u64()
            .unwrap()
    };
    assert!(used("execute") > 1000, "{fuel}");
    assert_eq!(used("copy-in"), 0, "{fuel}");
    assert_eq!(used("execute"), used("call"), "{fuel}");
    // The guest sampler names the plugin's own function.
    let stacks = run["profiles"][0]["stacks"].to_string();
    assert!(stacks.contains("count_vowels"), "{stacks}");
}

#[test]
fn cold_start_memory_and_soak_run_it() {
    let sb = Sandbox::new();
    let p = plugin();
    let args = |scenario: &str, extra: &str| -> Vec<String> {
        let mut v: Vec<String> = vec!["record".into(), scenario.into(), "-p".into(), p.clone()];
        v.extend(["--export", "count_vowels", "--input", "Hello, World!"].map(String::from));
        v.extend(extra.split_whitespace().map(String::from));
        v
    };
    let run = |a: Vec<String>| sb.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(
        "cold-start",
        "--rungs cranelift,aot-mmap,pooling -n 3 -w 0 --counters none -o out",
    ));
    let cold = sb.json("out/cold-start.json");
    let rungs: Vec<&str> = cold["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(rungs, ["cranelift", "aot-mmap", "pooling"]);
    for v in cold["variants"].as_array().unwrap() {
        let ph = phases(v);
        assert!(ph.contains(&"instantiate".to_owned()), "{ph:?}");
        assert!(ph.contains(&"execute".to_owned()), "{ph:?}");
    }
    run(args(
        "memory",
        "--instances 3 --calls 10 --counters none -o out",
    ));
    let mem = sb.json("out/memory.json");
    assert!(!mem["variants"].as_array().unwrap().is_empty());
    assert!(
        notes(&mem)
            .iter()
            .any(|n| n.starts_with("an Extism plugin: its kernel memory")),
        "{:?}",
        notes(&mem)
    );
    run(args(
        "soak",
        "--duration 300ms --rate 500 --sample-every 100ms --counters none -o out",
    ));
    let soak = sb.json("out/soak.json");
    assert!(
        soak["iterations"].as_u64().unwrap() > 0,
        "{}",
        soak["iterations"]
    );
    // No SDK driver in this sandbox: the soak says so.
    assert_eq!(soak["variants"].as_array().unwrap().len(), 1);
    assert!(
        notes(&soak)
            .iter()
            .any(|n| n.starts_with("extism-sdk: not measured: the Extism SDK driver is not built")),
        "{:?}",
        notes(&soak)
    );
}

#[test]
fn logs_are_reported_at_the_chosen_level() {
    let sb = Sandbox::new();
    let p = plugin();
    let ran = call(&sb, "log_input", "hi", &["--log-level", "warn"]);
    assert_eq!(ran.stdout.trim(), "hi");
    let logs: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(
        logs,
        ["plugin log: warn: warn: hi", "plugin log: error: error: hi"]
    );
    // Off by default, as in Extism without a logger.
    let ran = call(&sb, "log_input", "hi", &[]);
    assert_eq!(ran.stderr, "");
    // In a recorded run, the first call's messages are notes.
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &p,
        "-e",
        "log_input",
        "--input",
        "hi",
        "--log-level",
        "error",
        "-n",
        "100",
        "-w",
        "0",
        "--counters",
        "none",
        "-o",
        "out",
    ]);
    let run = sb.json("out/hot-path.json");
    assert!(
        notes(&run).contains(&"plugin log (first call): error: error: hi".to_owned()),
        "{:?}",
        notes(&run)
    );
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let sb = Sandbox::new();
    let p = plugin();
    sb.write(
        "user.wat",
        r#"(module
            (import "extism:host/env" "output_set" (func (param i64 i64)))
            (import "extism:host/user" "lookup" (func (param i64) (result i64)))
            (memory (export "memory") 1)
            (func (export "run") (result i32) i32.const 0))"#,
    );
    sb.write(
        "silent.wat",
        r#"(module
            (import "extism:host/env" "output_set" (func (param i64 i64)))
            (memory (export "memory") 1)
            (func (export "run") (result i32) i32.const 7))"#,
    );
    for (args, want) in [
        (
            vec!["-e", "reject", "--input", "xyz"],
            r#"execute: the plugin returned an error (code 1): cannot count vowels in "xyz": rejected"#,
        ),
        (
            vec!["-e", "fetch", "--input", "https://example.com"],
            "execute: Extism host function http_request: refused: wprof makes no HTTP requests",
        ),
        (
            vec!["--input", "x"],
            "instantiate: cannot tell which Extism plugin function to call (count_vowels, fetch, log_input, reject): pass --export",
        ),
        (
            vec!["-e", "nope"],
            "instantiate: the module has no exported function `nope`",
        ),
    ] {
        let mut line = vec!["record", "hot-path", "-p", &p, "-n", "10", "-o", "out"];
        line.extend(args);
        let ran = sb.wprof(&line);
        assert_eq!(ran.code, Some(1), "{line:?}: {}", ran.stderr);
        let first = ran.stderr.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("wprof: error: {p}: {want}")),
            "{line:?}: {first}"
        );
        assert!(
            !sb.path("out").exists() || std::fs::read_dir(sb.path("out")).unwrap().next().is_none(),
            "{line:?} wrote files"
        );
    }
    let ran = sb.line("record hot-path -p user.wat -e run -n 10 -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("extism:host/user (lookup; host functions the Extism application defines: wprof cannot supply them)"),
        "{}",
        ran.stderr
    );
    let ran = sb.line("call -p silent.wat -e run");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("execute: the plugin returned code 7 without setting an error"),
        "{}",
        ran.stderr
    );
}

#[test]
fn inspect_says_how_to_run_it() {
    let sb = Sandbox::new();
    let p = plugin();
    let ran = sb.ok(&["inspect", &p]);
    let text = ran.stdout.replace(&p, "count-vowels.wasm");
    let (first, rest) = text.split_once('\n').unwrap();
    let (head, _) = first.rsplit_once(", ").unwrap();
    common::golden(
        "inspect.count-vowels.txt",
        &format!("{head}, <size> bytes\n{rest}"),
    );
}

#[test]
fn a_steady_call_allocates_nothing_on_the_host() {
    let sb = Sandbox::new();
    let p = plugin();
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &p,
        "-e",
        "count_vowels",
        "--input",
        "Hello, World!",
        "-n",
        "200",
        "-w",
        "0",
        "--counters",
        "none",
        "--heap",
        "--heap-calls",
        "200",
        "-o",
        "out",
    ]);
    let run = sb.json("out/hot-path.json");
    // Kernel memory and var buffers are reused: what little a call
    // allocates is the var's buffer growing as its number gains digits.
    let bytes = run["heap"]["wasm"]["bytes"].as_f64().unwrap();
    assert!(bytes < 16.0, "{}", run["heap"]);
    assert!(sb.path("out/hot-path.dhat.json").is_file());
}

/// Extism's own runtime (the Rust SDK driver, a build of its own) is timed
/// beside wprof's Extism host in the same rounds where it is built; where
/// it is not, the run says so and names the command that builds it.
/// `.ci/run` builds it and sets `WPROF_REQUIRE_EXTISM_SDK`.
#[test]
fn extisms_own_runtime_is_timed_beside_wprofs_host_or_the_run_says_why_not() {
    let p = plugin();
    let args = [
        "record",
        "hot-path",
        "-p",
        &p,
        "--export",
        "count_vowels",
        "--input",
        "Hello, World!",
        "-n",
        "5000",
        "-w",
        "200",
        "--rounds",
        "10",
        "--counters",
        "none",
        "-o",
        "out",
    ];
    let sb = Sandbox::new();
    sb.ok(&args);
    let run = sb.json("out/hot-path.json");
    assert_eq!(run["variants"].as_array().unwrap().len(), 1);
    let notes = notes(&run);
    assert!(
        notes.iter().any(|n| n
            .contains("extism-sdk: not measured: the Extism SDK driver is not built")
            && n.contains("scripts/build-extism-sdk-driver")),
        "{notes:?}"
    );

    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("drivers/extism-sdk/target/release/wprof-extism-sdk");
    if !built.is_file() {
        assert!(
            std::env::var_os("WPROF_REQUIRE_EXTISM_SDK").is_none(),
            "{} is not built: scripts/build-extism-sdk-driver",
            built.display()
        );
        return;
    }
    // libextism, which the same driver loads, fetched beside it.
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("drivers/extism-sdk/target/libextism/libextism_sys.so");
    assert!(
        lib.is_file() || std::env::var_os("WPROF_REQUIRE_EXTISM_SDK").is_none(),
        "{} is not there: scripts/build-extism-sdk-driver",
        lib.display()
    );
    let drivers: &[&str] = if lib.is_file() {
        &["extism-sdk", "libextism"]
    } else {
        &["extism-sdk"]
    };
    let sb = Sandbox::new().with_env("WPROF_EXTISM_SDK_DRIVER", built.to_str().unwrap());
    // 1 MiB for the echo, as the SDK's own benchmarks send.
    sb.write("mib.bin", vec![b'x'; 1 << 20]);
    let work = format!(
        "{}/plugins/extism-work/extism-work.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    // A plugin that uses WASI: Extism's `wasi: true` and allowed_paths.
    std::fs::create_dir(sb.path("data")).unwrap();
    sb.write("data/name.txt", "world");
    let wasi = format!(
        "{}/plugins/extism-wasi/extism-wasi.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let dir: &[&str] = &["--dir", "data::/data"];
    for (plugin, export, input, n, extra) in [
        (p.as_str(), "count_vowels", "Hello, World!", "5000", &[][..]),
        (work.as_str(), "allocate", "Hello, World!", "300", &[]),
        (work.as_str(), "echo", "mib.bin", "40", &[]),
        (wasi.as_str(), "read_file", "/data/name.txt", "500", dir),
    ] {
        let mut a = args.to_vec();
        a[3] = plugin;
        a[5] = export;
        a[7] = input;
        a[9] = n;
        a.extend_from_slice(extra);
        let ran = sb.ok(&a);
        let run = sb.json("out/hot-path.json");
        let variants = run["variants"].as_array().unwrap();
        let names: Vec<&str> = variants
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names[1..], *drivers, "{export}: {:?}", common::notes(&run));
        for (driver, engine) in drivers.iter().zip(["extism 1.30.0", "libextism 1.41"]) {
            let v = common::variant(&run, driver);
            assert_eq!(phases(v), ["call"], "{driver}: a call is one step");
            assert!(
                v["driver"]["engine"].as_str().unwrap().starts_with(engine),
                "{v}"
            );
            assert_eq!(v["phases"][0]["stats"]["n"].to_string(), n);
            let pair = run["pairs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["subject"] == *driver && p["baseline"] == "wasm")
                .expect("paired with wprof's host by round");
            let ratio = pair["ratio"]["ratio"].as_f64().unwrap();
            assert!(ratio.is_finite() && ratio > 0.0, "{pair}");
            assert!(
                ran.stdout.contains(&format!("{driver} / wasm: ")),
                "{}",
                ran.stdout
            );
        }
    }
    // Cold starts: Extism's three ways beside the rungs, paired with the
    // first rung as the rungs are.
    sb.ok(&[
        "record",
        "cold-start",
        "-p",
        &p,
        "--export",
        "count_vowels",
        "--input",
        "Hello",
        "-n",
        "3",
        "--rungs",
        "cranelift",
        "--counters",
        "none",
        "-o",
        "cold",
    ]);
    let run = sb.json("cold/cold-start.json");
    let names: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let mut want = vec![
        "cranelift",
        "extism-sdk",
        "extism-sdk-uncached",
        "extism-sdk-compiled",
    ];
    if lib.is_file() {
        want.extend(["libextism", "libextism-compiled"]);
    }
    assert_eq!(names, want);
    for v in &names[1..] {
        assert_eq!(
            common::variant(&run, v)["phases"][0]["stats"]["n"],
            3,
            "{v}"
        );
        assert!(
            run["pairs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["subject"] == *v && p["baseline"] == "cranelift"),
            "{v} is paired with the first rung"
        );
    }
    // Memory: the SDK's own process read as the modes are.
    sb.ok(&[
        "record",
        "memory",
        "-p",
        &p,
        "--export",
        "count_vowels",
        "--input",
        "Hello",
        "--instances",
        "5",
        "--calls",
        "10",
        "--counters",
        "none",
        "-o",
        "mem",
    ]);
    let run = sb.json("mem/memory.json");
    let points = common::variant(&run, "extism-sdk")["memory"]["points"]
        .as_array()
        .unwrap()
        .clone();
    let labels: Vec<&str> = points
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["1 instance", "calls", "module", "instances"]);
    assert!(points.iter().all(|p| p["rss_bytes"].as_u64().unwrap() > 0));
    assert_eq!(points[3]["instances"], 6);
    if lib.is_file() {
        let v = common::variant(&run, "libextism");
        assert_eq!(v["memory"]["points"].as_array().unwrap().len(), 4, "{v}");
    }
    assert!(
        common::notes(&run)
            .iter()
            .any(|n| n.starts_with("extism-sdk: 5 instances from one compiled plugin")),
        "{:?}",
        common::notes(&run)
    );
    // Soak: the SDK soaks the plugin in its own process at the same time,
    // its memory read and its trend fitted as wprof's own are.
    sb.ok(&[
        "record",
        "soak",
        "-p",
        &p,
        "--export",
        "count_vowels",
        "--input",
        "Hello",
        "--duration",
        "700ms",
        "--rate",
        "500",
        "--sample-every",
        "100ms",
        "--counters",
        "none",
        "-o",
        "soak",
    ]);
    let run = sb.json("soak/soak.json");
    let sdk = common::variant(&run, "extism-sdk");
    let points = sdk["memory"]["points"].as_array().unwrap();
    assert!(points.len() >= 4, "{points:?}");
    assert_eq!(points[0]["label"], "sample");
    assert_eq!(points.last().unwrap()["label"], "end");
    assert!(points.iter().all(|p| p["rss_bytes"].as_u64().unwrap() > 0));
    assert!(sdk["facts"]["calls"].as_u64().unwrap() > 0, "{sdk}");
    assert_eq!(phases(sdk), ["call"]);
    assert!(
        run["trends"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["series"] == "extism-sdk rss"),
        "{}",
        run["trends"]
    );
    let verdicts = run["verdicts"].to_string();
    for driver in drivers {
        assert!(
            verdicts.contains(&format!("{driver}: a call took")),
            "{verdicts}"
        );
    }
}

#[test]
fn a_cold_start_without_the_sdk_driver_says_so() {
    let sb = Sandbox::new();
    sb.ok(&[
        "record",
        "cold-start",
        "-p",
        &plugin(),
        "--export",
        "count_vowels",
        "--input",
        "Hello",
        "-n",
        "2",
        "--rungs",
        "cranelift",
        "--counters",
        "none",
        "-o",
        "cold",
    ]);
    let run = sb.json("cold/cold-start.json");
    assert_eq!(run["variants"].as_array().unwrap().len(), 1);
    assert!(
        notes(&run).iter().any(|n| n
            .starts_with("extism-sdk: not measured: the Extism SDK driver is not built")
            && n.contains("scripts/build-extism-sdk-driver")),
        "{:?}",
        notes(&run)
    );
}

/// An empty log message (Extism logs an empty line: `alloc(0)` is offset
/// 0) is an empty line, and `--input ''` is an empty input.
#[test]
fn an_empty_log_message_and_an_empty_input_are_empty() {
    let sb = Sandbox::new();
    sb.write(
        "log.wat",
        r#"(module
  (import "extism:host/env" "log_info" (func $log (param i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (call $log (call $alloc (i64.const 0)))
    (i32.const 0)))"#,
    );
    let ran = sb.ok(&["call", "-p", "log.wat", "--log-level", "info"]);
    assert!(
        ran.stderr.contains("plugin log: info: \n"),
        "{}",
        ran.stderr
    );
    let ran = call(&sb, "count_vowels", "", &[]);
    assert!(ran.stdout.contains(r#""count":0"#), "{}", ran.stdout);
}

/// The 1 MiB echo: the kernel calls one call makes to move its bytes are
/// counted on an instance of their own and named in a note; 1 MiB in and
/// 1 MiB out, 8 bytes a call, is 262 144 of them.
#[test]
fn a_large_echo_names_its_kernel_calls() {
    let sb = Sandbox::new();
    sb.write("mib.bin", vec![b'x'; 1 << 20]);
    let work = format!(
        "{}/plugins/extism-work/extism-work.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    sb.ok(&[
        "record",
        "hot-path",
        "-p",
        &work,
        "--export",
        "echo",
        "--input",
        "mib.bin",
        "-n",
        "10",
        "-w",
        "2",
        "--counters",
        "none",
        "--no-extism-sdk",
        "-o",
        "out",
    ]);
    let run = sb.json("out/hot-path.json");
    assert!(
        notes(&run)
            .iter()
            .any(|n| n
                .starts_with("extism kernel: one call moved its bytes with 262144 kernel calls")),
        "{:?}",
        notes(&run)
    );
}
