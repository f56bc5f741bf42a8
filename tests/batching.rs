//! `wprof record batching`: separate calls against one batch, in wasm and
//! natively, with per-item figures consistent with the totals.

mod common;

use common::Sandbox;

#[test]
fn separate_and_batched_per_item_and_the_overhead_removed() {
    let sb = Sandbox::new();
    sb.ok_line("record batching --items 20 --time-per-variant 30ms -o out");
    let run = sb.json("out/batching.json");
    assert_eq!(run["scenario"], "batching");
    assert_eq!(run["plugin"]["output_bytes"], 306);
    for (name, calls) in [
        ("wasm separate", 20),
        ("native separate", 20),
        ("wasm batched", 1),
        ("native batched", 1),
    ] {
        let v = common::variant(&run, name);
        assert_eq!(v["facts"]["items"], 20, "{name}");
        assert_eq!(v["facts"]["calls"], calls, "{name}");
        let phases = v["phases"].as_array().unwrap();
        let call = &phases.last().unwrap()["stats"];
        assert!(call["n"].as_u64().unwrap() >= 10, "{name}");
        // Per item is the iteration over the items.
        let per_item = v["facts"]["per_item_ns"].as_f64().unwrap();
        let p50 = call["p50_ns"].as_f64().unwrap();
        assert!((per_item * 20.0 - p50).abs() < 1e-6 * p50, "{name}");
        // The separate way's phases are sums over its calls: they add up
        // to the call row exactly, iteration by iteration (means too).
        let sum: f64 = phases[..phases.len() - 1]
            .iter()
            .map(|p| p["stats"]["mean_ns"].as_f64().unwrap())
            .sum();
        let mean = call["mean_ns"].as_f64().unwrap();
        assert!((sum - mean).abs() < 1e-6 * mean, "{name}: {sum} vs {mean}");
    }
    assert_eq!(run["summary"]["rows"].as_array().unwrap().len(), 2);
    let verdicts = run["verdicts"].to_string();
    assert!(
        verdicts.contains("overhead over native per item: "),
        "{verdicts}"
    );
    assert!(
        verdicts.contains("batching 20 items removes "),
        "{verdicts}"
    );
    let table = std::fs::read_to_string(sb.path("out/batching.txt")).unwrap();
    assert!(
        table.contains(
            "20 items, median per iteration and per item; overhead paired by round (each round against native timed beside it):"
        ),
        "{table}"
    );
    // The overhead quoted is the paired ratio's, not the medians'.
    let pair = run["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["subject"] == "wasm separate" && p["baseline"] == "native separate")
        .expect("wasm separate is paired with native separate");
    let ratio = pair["ratio"]["ratio"].as_f64().unwrap();
    let separate = &run["summary"]["rows"][0];
    assert_eq!(separate[0], "separate");
    assert_eq!(separate[6], format!("{:+.1} %", 100.0 * (ratio - 1.0)));
}

#[test]
fn zero_items_or_heap_are_refused() {
    let sb = Sandbox::new();
    let ran = sb.line("record batching --items 0 -o out");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("--items"), "{}", ran.stderr);
    let ran = sb.line("record batching --heap -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("--heap does not apply to batching"));
}

/// A WAT string literal of `bytes`.
fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A plugin with the drug checker's two exports that answers a separate
/// call right (`one`, copied from the native build) and a batch with
/// `batch`, whatever it is sent.
fn canned(one: &[u8], batch: &[u8]) -> String {
    let at = 1024 + one.len();
    format!(
        r#"(module
  (memory (export "memory") 2)
  (data (i32.const 1024) "{one_wat}")
  (data (i32.const {at}) "{batch_wat}")
  (global $next (mut i32) (i32.const 65536))
  (func (export "wprof_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (func (export "wprof_free") (param i32 i32)
    (global.set $next (i32.const 65536)))
  (func (export "check_interactions") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {one_len})))
  (func (export "check_batch") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const {at}) (i64.const 32)) (i64.const {batch_len}))))"#,
        one_wat = wat_bytes(one),
        batch_wat = wat_bytes(batch),
        one_len = one.len(),
        batch_len = batch.len(),
    )
}

#[test]
fn a_wrong_batch_answer_fails_the_run_naming_the_item() {
    let sb = Sandbox::new();
    let input = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/drug-checker/input.json"),
    )
    .unwrap();
    let one = drug_checker::check_json(&input).unwrap();
    let one_text = String::from_utf8(one.clone()).unwrap();
    // Three items: the middle answer is an empty list.
    let right = format!("[{one_text},{one_text},{one_text}]");
    let wrong = format!("[{one_text},[],{one_text}]");

    // The canned plugin with every answer right passes: the check is on
    // the answers, not on the plugin.
    sb.write("right.wat", canned(&one, right.as_bytes()));
    sb.ok_line("record batching --plugin right.wat --items 3 --time-per-variant 20ms -o ok");
    let run = sb.json("ok/batching.json");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    assert_eq!(run["failures"].as_array().map_or(0, Vec::len), 0);

    sb.write("wrong.wat", canned(&one, wrong.as_bytes()));
    let ran =
        sb.line("record batching --plugin wrong.wat --items 3 --time-per-variant 20ms -o out");
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    let first = ran.stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("wprof: error: wrong.wat: decode: wasm batched: item 1 answered [], where native answered ["),
        "{}",
        ran.stderr
    );
    let run = sb.json("out/batching.json");
    assert_eq!(run["plugin"]["outputs_identical"], false);
    let failures = run["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["variant"], "wasm batched");
    // The separate way, answered right, is still timed.
    assert!(common::variant(&run, "wasm separate")["phases"].is_array());
}
