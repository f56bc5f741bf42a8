//! What data-transfer concludes: throughput and overheads as facts of each
//! variant, the table by size and way, and the verdicts.

use serde_json::json;

use super::Way;
use crate::run::{ScalingPoint, Variant};
use crate::study;
use crate::units::size_label;

/// A variant with the facts every (way, size) has.
pub(super) fn variant(name: String, description: &str, way: &str, size: u64) -> Variant {
    let mut v = Variant {
        name,
        description: description.to_owned(),
        scaling: Some(ScalingPoint {
            series: way.to_owned(),
            size_bytes: size,
        }),
        ..Variant::default()
    };
    v.facts.insert("way".into(), json!(way));
    v.facts.insert("payload_bytes".into(), json!(size));
    v
}

pub(super) fn p50(v: &Variant) -> Option<f64> {
    v.phases.last().map(|p| p.stats.p50_ns)
}

pub(super) fn find<'a>(variants: &'a [Variant], way: &str, size: u64) -> Option<&'a Variant> {
    variants.iter().find(|v| {
        v.scaling
            .as_ref()
            .is_some_and(|s| s.series == way && s.size_bytes == size)
    })
}

/// Throughput, and the overhead over native (paired by round where it was,
/// else from the medians) and over the floor.
pub(super) fn derive_facts(variants: &mut [Variant], pairs: &[crate::run::Pair]) {
    let overheads: Vec<Option<(f64, bool)>> = variants
        .iter()
        .map(|v| {
            let s = v.scaling.as_ref()?;
            if s.series == "native" || s.series == "floor" {
                return None;
            }
            let native = find(variants, "native", s.size_bytes)?;
            let o = crate::scenario::overhead::overhead(variants, pairs, &v.name, &native.name)?;
            Some((o.ns, o.paired))
        })
        .collect();
    let floors: Vec<Option<f64>> = variants
        .iter()
        .map(|v| {
            let s = v.scaling.as_ref()?;
            find(variants, "floor", s.size_bytes)
                .and_then(p50)
                .filter(|f| *f > 0.0)
        })
        .collect();
    let natives: Vec<Option<f64>> = variants
        .iter()
        .map(|v| find(variants, "native", v.scaling.as_ref()?.size_bytes).and_then(p50))
        .collect();
    for (i, v) in variants.iter_mut().enumerate() {
        let (Some(s), Some(t)) = (v.scaling.clone(), p50(v)) else {
            continue;
        };
        if t > 0.0 {
            v.facts.insert(
                "throughput_mb_s".into(),
                json!(s.size_bytes as f64 / t * 1e3),
            );
        }
        let Some((over, paired)) = overheads[i] else {
            continue;
        };
        v.facts.insert("overhead_ns".into(), json!(over));
        v.facts.insert("overhead_paired".into(), json!(paired));
        if let Some(native) = natives[i].filter(|n| *n > 0.0) {
            v.facts
                .insert("overhead_pct".into(), json!(100.0 * over / native));
        }
        if let Some(floor) = floors[i] {
            v.facts.insert("floor_ns".into(), json!(floor));
            v.facts
                .insert("overhead_over_floor".into(), json!(over / floor));
        }
    }
}

/// The reference study's table: per size, native, the floor and each way's median
/// call, its overhead over native and its throughput.
pub(super) fn summary(
    variants: &[Variant],
    sizes: &[u64],
    ways: &[Way],
) -> Option<crate::run::Summary> {
    let fmt = crate::units::fmt_ns;
    let mut rows = Vec::new();
    let mut all_paired = true;
    for &size in sizes {
        let native = find(variants, "native", size).and_then(p50);
        let floor = find(variants, "floor", size).and_then(p50);
        for way in ways {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let Some(t) = p50(v) else { continue };
            // From derive_facts: paired by round where it was.
            let over = v.facts.get("overhead_ns").and_then(|o| o.as_f64());
            all_paired &= v.facts.get("overhead_paired") == Some(&json!(true));
            rows.push(vec![
                size_label(size),
                way.to_string(),
                fmt(t),
                native.map_or("-".into(), fmt),
                over.map_or("-".into(), |o| {
                    format!("{}{}", if o < 0.0 { "-" } else { "+" }, fmt(o.abs()))
                }),
                match (over, native) {
                    (Some(o), Some(n)) if n > 0.0 => format!("{:+.1} %", 100.0 * o / n),
                    _ => "-".into(),
                },
                floor.map_or("-".into(), fmt),
                match (over, floor) {
                    (Some(o), Some(f)) if f > 0.0 => format!("{:.1}x", o / f),
                    _ => "-".into(),
                },
                format!("{:.0}", size as f64 / t * 1e3),
            ]);
        }
    }
    (!rows.is_empty()).then(|| crate::run::Summary {
        title: format!(
            "per call, median: each way against native and the floor (one copy into linear memory); {}",
            crate::scenario::overhead::how(all_paired)
        ),
        columns: [
            "payload",
            "way",
            "wasm",
            "native",
            "overhead",
            "overhead %",
            "floor",
            "overhead/floor",
            "MB/s",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// Lines the reference study's conclusions can be checked against.
pub(super) fn verdicts(variants: &[Variant], sizes: &[u64], ways: &[Way]) -> Vec<String> {
    let mut out = Vec::new();
    let fmt = crate::units::fmt_ns;
    let pct = |way: &str, size: u64| {
        find(variants, way, size)
            .and_then(|v| v.facts.get("overhead_pct"))
            .and_then(|p| p.as_f64())
    };
    if ways.contains(&Way::Json) && sizes.len() > 1 {
        let series: Vec<String> = sizes
            .iter()
            .filter_map(|&s| {
                let p = pct("json", s)?;
                Some(match study::transfer_json_overhead_pct(s) {
                    Some(q) => format!(
                        "{p:+.0} % at {} ({}: {q:+.1} %)",
                        size_label(s),
                        study::NAME
                    ),
                    None => format!("{p:+.0} % at {}", size_label(s)),
                })
            })
            .collect();
        if !series.is_empty() {
            out.push(format!(
                "json+base64 overhead over native by size: {}",
                series.join(", ")
            ));
        }
    }
    for &size in sizes.iter().filter(|&&s| s >= 1_000_000) {
        for way in [Way::Raw, Way::HostFn] {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let (Some(over), Some(floor)) = (
                v.facts.get("overhead_ns").and_then(|x| x.as_f64()),
                v.facts.get("floor_ns").and_then(|x| x.as_f64()),
            ) else {
                continue;
            };
            let bound = 1.5 * floor + 1000.0;
            out.push(format!(
                "{way} {}: {} over native, floor {}: {} the 1.5x floor + 1 µs bound ({})",
                size_label(size),
                fmt(over.max(0.0)),
                fmt(floor),
                if over <= bound { "within" } else { "beyond" },
                fmt(bound)
            ));
        }
    }
    // The reference study's guesses: MessagePack saves 40 % and the
    // component model 60 % of JSON's overhead.
    for (way, guess) in [
        (Way::Msgpack, study::MSGPACK_GUESS_PCT),
        (Way::Component, study::COMPONENT_GUESS_PCT),
    ] {
        if !(ways.contains(&way) && ways.contains(&Way::Json)) {
            continue;
        }
        for &size in sizes {
            let (Some(j), Some(m)) = (
                find(variants, "json", size).and_then(|v| v.facts.get("overhead_ns")?.as_f64()),
                find(variants, &way.to_string(), size)
                    .and_then(|v| v.facts.get("overhead_ns")?.as_f64()),
            ) else {
                continue;
            };
            if j > 0.0 {
                out.push(format!(
                    "{way} {}: {:+.0} % of json's overhead ({} against {}; {} guessed -{guess} %)",
                    size_label(size),
                    100.0 * (m - j) / j,
                    fmt(m),
                    fmt(j),
                    study::NAME
                ));
            }
        }
    }
    for &size in sizes {
        for way in ways {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let (Some(grown), Some(host)) = (
                v.facts
                    .get("linear_memory_growth_bytes")
                    .and_then(|x| x.as_u64()),
                v.facts.get("host_buffer_bytes").and_then(|x| x.as_u64()),
            ) else {
                continue;
            };
            if size >= 10_000_000 {
                let ratio = (grown + host) as f64 / size as f64;
                out.push(format!(
                    "{way} {}: memory for the call {:.1}x the payload (linear memory grew {:.1} MB, host buffers {:.1} MB): {} 4x",
                    size_label(size),
                    ratio,
                    grown as f64 / 1e6,
                    host as f64 / 1e6,
                    if ratio <= 4.0 { "within" } else { "beyond" }
                ));
            }
        }
    }
    out
}
