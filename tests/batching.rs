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
    assert!(table.contains("20 items, median per iteration and per item:"));
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
