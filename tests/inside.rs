//! The passes that look inside calls: perf counters, fuel, and the guest and
//! host samplers, run through the real binary on the bundled plugin.

mod common;

use std::collections::BTreeSet;

use common::{QUICK, Sandbox, bundled_wasm, variant};
use pprof::protos::Message as _;
use serde_json::Value;

/// Every function name in the bundled plugin's name section, demangled as
/// wprof shows them.
fn plugin_function_names() -> BTreeSet<String> {
    let wasm = bundled_wasm();
    let mut names = BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        if let Ok(wasmparser::Payload::CustomSection(c)) = payload
            && let wasmparser::KnownCustom::Name(reader) = c.as_known()
        {
            for sub in reader {
                if let Ok(wasmparser::Name::Function(map)) = sub {
                    for n in map.into_iter().flatten() {
                        names.insert(wprof::measure::frame_name(n.name));
                    }
                }
            }
        }
    }
    assert!(!names.is_empty(), "the bundled plugin has a name section");
    names
}

fn record(sb: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["record", "hot-path", "--out-dir", "out"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    sb.ok(&args);
    sb.json("out/hot-path.json")
}

fn profile<'a>(run: &'a Value, sampler: &str) -> &'a Value {
    run["profiles"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["sampler"] == sampler))
        .unwrap_or_else(|| panic!("no {sampler} profile in {:#}", run["profiles"]))
}

#[test]
fn every_counter_is_measured_or_named_unavailable_with_its_reason() {
    let sb = Sandbox::new();
    let run = record(&sb, &[]);
    let perf = &run["perf"];
    let measured: Vec<&str> = perf["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let unavailable: Vec<(&str, &str)> = perf["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["reason"].as_str().unwrap()))
        .collect();
    for name in wprof::measure::perf::all_names() {
        let m = measured.contains(&name);
        let u = unavailable.iter().any(|(n, _)| *n == name);
        assert!(m ^ u, "{name}: measured {m}, unavailable {u}");
    }
    for (name, reason) in &unavailable {
        assert!(!reason.is_empty(), "{name} has no reason");
    }
    let table = std::fs::read_to_string(sb.path("out/hot-path.txt")).unwrap();
    for (name, reason) in &unavailable {
        assert!(
            table.contains(&format!("{name}: not measured: {reason}")),
            "{name} is not named as unavailable in the table:\n{table}"
        );
    }
    assert_eq!(perf["iterations"], 2000);
    for v in ["wasm", "native"] {
        let rows = variant(&run, v)["counters"].as_array().unwrap();
        let phases: Vec<&str> = rows.iter().map(|r| r["phase"].as_str().unwrap()).collect();
        assert_eq!(phases.last(), Some(&"call"), "{v}: {phases:?}");
        for r in rows {
            let keys: Vec<&str> = r["values"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut want = measured.clone();
            want.sort_unstable();
            assert_eq!(
                keys, want,
                "{v} {}: only measured counters have values",
                r["phase"]
            );
        }
        if measured.contains(&"task-clock") {
            // Work happened: the whole call and its execute phase took CPU time.
            for phase in ["call", "execute"] {
                let row = rows.iter().find(|r| r["phase"] == phase).unwrap();
                let ns = row["values"]["task-clock"].as_f64().unwrap();
                assert!(ns > 100.0, "{v} {phase}: task-clock {ns} ns per call");
            }
        }
    }
    if measured.is_empty() {
        return;
    }
    // The per-batch readings are counter tracks in the Chrome trace.
    let trace = sb.json("out/hot-path.trace.json");
    let tracks: BTreeSet<&str> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in &measured {
        assert!(
            tracks.contains(format!("{name} per call (wasm)").as_str()),
            "no counter track for {name}: {tracks:?}"
        );
    }
}

#[test]
fn no_counter_pass_with_counters_none() {
    let sb = Sandbox::new();
    let run = record(&sb, &["--counters", "none"]);
    assert!(run.get("perf").is_none(), "{:#}", run["perf"]);
    assert!(variant(&run, "wasm").get("counters").is_none());
}

#[test]
fn fuel_is_the_same_on_two_runs_and_its_cost_is_reported() {
    let sb = Sandbox::new();
    let fuel = |dir: &str| {
        sb.ok(&[
            "record",
            "hot-path",
            "--out-dir",
            dir,
            "-n",
            "500",
            "-w",
            "10",
            "--counters",
            "none",
            "--fuel",
            "--sample-secs",
            "0.2",
        ]);
        sb.json(&format!("{dir}/hot-path.json"))["variants"][0]["fuel"].clone()
    };
    let (a, b) = (fuel("a"), fuel("b"));
    let phases = |f: &Value| f["phases"].clone();
    assert_eq!(phases(&a), phases(&b), "fuel differs between two runs");
    assert_eq!(a["first_call"], b["first_call"]);
    assert_eq!(a["constant"], true);
    let by_phase = |p: &str| {
        a["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["phase"] == p)
            .and_then(|r| r["fuel"].as_u64())
            .unwrap()
    };
    assert!(by_phase("execute") > 1000, "{a:#}");
    assert_eq!(
        by_phase("call"),
        by_phase("copy-in") + by_phase("execute") + by_phase("free"),
        "phases add up to the call"
    );
    assert!(a["slowdown_pct"].is_number());
    let table = std::fs::read_to_string(sb.path("a/hot-path.txt")).unwrap();
    assert!(table.contains("fuel per call (wasm"), "{table}");
    assert!(table.contains("metering costs"), "{table}");
}

/// The stacks of a profile under `prefix`.
fn stacks_under<'a>(p: &'a Value, prefix: &str) -> Vec<&'a str> {
    p["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["frames"].as_str().unwrap())
        .filter(|f| f.starts_with(prefix))
        .collect()
}

#[test]
fn the_guest_sampler_names_the_plugins_own_functions_under_execute() {
    let sb = Sandbox::new();
    let run = record(
        &sb,
        &[
            "--counters",
            "none",
            "--sample",
            "guest",
            "--sample-secs",
            "0.6",
        ],
    );
    let p = profile(&run, "guest");
    assert!(p["samples"].as_u64().unwrap() > 50, "{p:#}");
    assert!(p["achieved_hz"].as_f64().unwrap() > 100.0, "{p:#}");
    assert!(p["overhead_pct"].is_number());
    // Samples fall to phases as time does: a tick is filed under the phase
    // it came in, even when the wasm reaches its next epoch check only in
    // a later phase (free is a few % of a call; filing by the phase at the
    // check once gave it a third of the samples).
    let share = |prefix: &str| {
        let n: u64 = p["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["frames"].as_str().unwrap().starts_with(prefix))
            .map(|s| s["count"].as_u64().unwrap())
            .sum();
        n as f64 / p["samples"].as_f64().unwrap()
    };
    let phase_share = |phase: &str| {
        let rows = variant(&run, "wasm")["phases"].as_array().unwrap();
        let pct = |ph: &str| {
            rows.iter()
                .find(|r| r["phase"] == ph)
                .and_then(|r| r["share_pct"].as_f64())
                .unwrap()
        };
        pct(phase) / 100.0
    };
    assert!(
        share("hot-path;wasm;free") < 3.0 * phase_share("free") + 0.05,
        "free: {:.3} of samples for {:.3} of the time",
        share("hot-path;wasm;free"),
        phase_share("free")
    );
    let names = plugin_function_names();
    let execute = stacks_under(p, "hot-path;wasm;execute;check_interactions");
    assert!(!execute.is_empty(), "no stack under execute: {p:#}");
    let inside: BTreeSet<&str> = execute.iter().flat_map(|s| s.split(';').skip(3)).collect();
    for f in &inside {
        assert!(
            names.contains(*f),
            "`{f}` is not in the plugin's name section"
        );
    }
    assert!(
        inside.contains("drug_checker::check_json"),
        "the plugin's own check_json is never seen: {inside:?}"
    );
    // The SVG and the pprof file carry the same names.
    let svg = std::fs::read_to_string(sb.path("out/hot-path.guest.svg")).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(&svg, opts).expect("the SVG is well-formed XML");
    assert!(svg.contains("drug_checker::check_json"), "not in the SVG");
    let pb = std::fs::read(sb.path("out/hot-path.guest.pb")).unwrap();
    let prof = pprof::protos::Profile::decode(pb.as_slice()).expect("a pprof protobuf");
    let fnames: BTreeSet<&str> = prof
        .function
        .iter()
        .map(|f| prof.string_table[f.name as usize].as_str())
        .collect();
    assert!(fnames.contains("check_interactions"), "{fnames:?}");
    assert!(fnames.contains("drug_checker::check_json"), "{fnames:?}");
    let total: i64 = prof.sample.iter().map(|s| s.value[0]).sum();
    assert_eq!(total as u64, p["samples"].as_u64().unwrap());
}

#[test]
fn the_host_sampler_names_jit_frames_from_the_perf_map() {
    let sb = Sandbox::new();
    let run = record(
        &sb,
        &[
            "--counters",
            "none",
            "--sample",
            "host",
            "--sample-secs",
            "1",
        ],
    );
    let p = profile(&run, "host");
    assert!(p["samples"].as_u64().unwrap() > 10, "{p:#}");
    assert!(p["requested_hz"] == 250.0);
    assert!(p["overhead_pct"].is_number());
    // A wasm frame can only be named from Wasmtime's perf map: the JIT code
    // is in no symbol table.
    let all: Vec<&str> = stacks_under(p, "hot-path;");
    assert!(
        all.iter().any(|s| s.contains(";check_interactions;")),
        "no wasm frame named: {:#}",
        p["stacks"]
    );
    let pb = std::fs::read(sb.path("out/hot-path.host.pb")).unwrap();
    pprof::protos::Profile::decode(pb.as_slice()).expect("a pprof protobuf");
    assert!(sb.path("out/hot-path.host.svg").exists());
    assert!(
        !sb.path("out/hot-path.guest.svg").exists(),
        "only the sampler asked for runs"
    );
}

/// A plugin whose call does nothing: the host's own work and Wasmtime's
/// trampolines fill the call, so host samples often land in a trampoline's
/// prologue or epilogue, where the unwind tables Cranelift registers are
/// wrong (after `pop rbp`, they still say the frame is at rbp + 16).
const NOOP: &str = r#"(module (memory (export "memory") 1)
  (data (i32.const 0) "0")
  (func (export "wprof_alloc") (param i32) (result i32) i32.const 16)
  (func (export "wprof_free") (param i32 i32))
  (func (export "run") (param i32 i32) (result i64) i64.const 1))"#;

#[test]
fn the_host_sampler_survives_samples_inside_trampolines_and_keeps_whole_stacks() {
    let sb = Sandbox::new();
    sb.write("noop.wat", NOOP);
    // libgcc's unwinder, pprof-rs's default, followed those tables and
    // segfaulted about once in twelve hot-path runs; on this plugin nearly
    // every run met such a sample.
    for _ in 0..3 {
        sb.ok_line(
            "record hot-path --plugin noop.wat --export run --input-json 0 -n 20000 \
             --counters none --sample host --sample-secs 2 --out-dir out",
        );
    }
    let run = sb.json("out/hot-path.json");
    let p = profile(&run, "host");
    let stacks = p["stacks"].as_array().unwrap();
    let count = |pred: &dyn Fn(&str) -> bool| -> u64 {
        stacks
            .iter()
            .filter(|s| pred(s["frames"].as_str().unwrap()))
            .map(|s| s["count"].as_u64().unwrap())
            .sum()
    };
    let total = p["samples"].as_u64().unwrap();
    // Unwound from the interrupted instruction to the program's entry, not
    // cut short at the first frame without tables.
    let whole = count(&|f| f.starts_with("hot-path;_start;") && f.contains(";main;"));
    assert!(
        whole * 10 >= total * 9,
        "{whole} of {total} stacks whole: {p:#}"
    );
    // Every instruction named: the interrupted one is looked up as itself
    // (a sample on a function's first byte found no symbol when it was taken
    // for a return address, about one sample in twenty here).
    let unnamed = count(&|f| f.split(';').any(|n| n.starts_with("0x")));
    assert!(
        unnamed * 50 <= total,
        "{unnamed} of {total} stacks with an unnamed frame: {p:#}"
    );
    // Through JIT code into the host that called it: the sampler pass
    // (frames are named from the symbol table, so an inlined function is
    // its caller's frame).
    let through =
        count(&|f| f.contains(";wprof::inside::run;") && f.contains(";array_to_wasm_trampoline["));
    assert!(through > 0, "no stack through a trampoline: {p:#}");
}

#[test]
fn unknown_counters_and_samplers_are_refused_before_running() {
    let sb = Sandbox::new();
    let ran = sb.line("record hot-path --counters cycels");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown counter `cycels`"),
        "{}",
        ran.stderr
    );
    let ran = sb.line("record hot-path --sample sideways");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown sampler `sideways`"),
        "{}",
        ran.stderr
    );
}

fn rows(v: &Value) -> Vec<(&str, &Value)> {
    v["counters"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| (r["phase"].as_str().unwrap(), &r["values"]))
                .collect()
        })
        .unwrap_or_default()
}

fn measured_counters(run: &Value) -> Vec<String> {
    run["perf"]["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn cold_start_counts_each_rung_and_samples_each_rung_under_its_name() {
    let sb = Sandbox::new();
    sb.ok_line("record cold-start -p drug-checker --rungs cranelift,pooling -n 3 --fuel --sample both --sample-secs 1 --out-dir out");
    let run = sb.json("out/cold-start.json");
    let measured = measured_counters(&run);
    for v in ["cranelift", "pooling"] {
        let r = rows(variant(&run, v));
        assert_eq!(r.last().map(|r| r.0), Some("cold-start"), "{v}: {r:?}");
        assert!(r.iter().any(|r| r.0 == "instantiate"), "{v}: {r:?}");
    }
    if measured.iter().any(|c| c == "task-clock") {
        // The counter pass compiles on the counting thread: its compile
        // phase must hold the compile's whole CPU time, not the sliver the
        // calling thread spends waiting for Wasmtime's compile threads
        // (about 1 % of the wall). CPU time against wall time: a busy
        // neighbour stretches the wall, so the bound is a fifth, not a half.
        let cl = variant(&run, "cranelift");
        let counted = rows(cl)
            .iter()
            .find(|r| r.0 == "compile")
            .and_then(|r| r.1["task-clock"].as_f64())
            .unwrap();
        let timed = cl["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == "compile")
            .and_then(|p| p["stats"]["p50_ns"].as_f64())
            .unwrap();
        assert!(
            counted > 0.2 * timed,
            "compile: task-clock {counted} ns against a {timed} ns median"
        );
    }
    let guest = profile(&run, "guest");
    assert!(
        !stacks_under(guest, "cold-start;cranelift;compile").is_empty(),
        "{guest:#}"
    );
    assert!(
        !stacks_under(guest, "cold-start;pooling;execute;check_interactions").is_empty(),
        "no wasm stack under the pooling rung's execute: {guest:#}"
    );
    assert!(guest["overhead_pct"].is_number());
    let host = profile(&run, "host");
    assert!(
        stacks_under(host, "cold-start;cranelift;")
            .iter()
            .any(|s| s.contains("cranelift_codegen")),
        "the compiler's own frames are not named: {host:#}"
    );
    assert!(sb.path("out/cold-start.guest.pb").exists());
    assert!(sb.path("out/cold-start.host.svg").exists());
    // Both rungs run the same module: the same first call, to the unit.
    let fuel = |v: &str| variant(&run, v)["fuel"].clone();
    assert_eq!(
        fuel("cranelift")["first_call"],
        fuel("pooling")["first_call"]
    );
    assert!(fuel("cranelift")["slowdown_pct"].is_number());
    assert_counter_tracks(
        &sb.json("out/cold-start.trace.json"),
        &measured,
        "per cold start (pooling)",
    );
}

/// Every measured counter has a `C` track named `<counter> <suffix>`.
fn assert_counter_tracks(trace: &Value, measured: &[String], suffix: &str) {
    let tracks: BTreeSet<&str> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .filter_map(|e| e["name"].as_str())
        .collect();
    for c in measured {
        let want = format!("{c} {suffix}");
        assert!(
            tracks.contains(want.as_str()),
            "no track {want}: {tracks:?}"
        );
    }
}

#[test]
fn soak_counts_its_calls_and_its_fuel_matches_the_hot_paths() {
    let sb = Sandbox::new();
    sb.ok_line("record soak --duration 1s --rate 500 --sample-every 200ms --fuel --sample guest --sample-secs 0.4 --out-dir out");
    let soak = sb.json("out/soak.json");
    let wasm = variant(&soak, "wasm");
    let phases: Vec<&str> = rows(wasm).iter().map(|r| r.0).collect();
    assert_eq!(phases, ["copy-in", "execute", "copy-out", "free", "call"]);
    let guest = profile(&soak, "guest");
    assert!(
        !stacks_under(guest, "soak;wasm;execute;check_interactions").is_empty(),
        "{guest:#}"
    );
    assert_counter_tracks(
        &sb.json("out/soak.trace.json"),
        &measured_counters(&soak),
        "per call (wasm)",
    );
    // Fuel is a property of the plugin, input and Wasmtime, not of the
    // scenario: the hot path's ABI call spends exactly the same.
    let hot = record(
        &sb,
        &["--counters", "none", "--fuel", "--sample-secs", "0.2"],
    );
    assert_eq!(
        wasm["fuel"]["phases"],
        variant(&hot, "wasm")["fuel"]["phases"]
    );
}

#[test]
fn memory_counts_each_step_in_its_own_process_and_can_be_sampled() {
    let sb = Sandbox::new();
    sb.ok_line("record memory --instances 3 --calls 10 --sample host --out-dir out");
    let run = sb.json("out/memory.json");
    let measured = measured_counters(&run);
    let jit: Vec<&str> = rows(variant(&run, "jit")).iter().map(|r| r.0).collect();
    assert_eq!(jit, ["engine", "compile", "call", "instantiate"]);
    let aot: Vec<&str> = rows(variant(&run, "aot")).iter().map(|r| r.0).collect();
    assert_eq!(aot, ["engine", "deserialize", "call", "instantiate"]);
    if measured.iter().any(|c| c == "page-faults") {
        let compile = rows(variant(&run, "jit"))[1].1["page-faults"]
            .as_f64()
            .unwrap();
        assert!(compile > 0.0, "compiling a module touches new pages");
    }
    assert_counter_tracks(&sb.json("out/memory.trace.json"), &measured, "(jit)");
    let host = profile(&run, "host");
    assert!(!stacks_under(host, "memory;jit;").is_empty(), "{host:#}");
    assert!(host["overhead_pct"].is_number());
}
