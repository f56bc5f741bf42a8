//! What the cold-start ladder concludes: the rungs ranked against the
//! baseline, and one sentence per finding, each from measured numbers.

use crate::phase::Phase;
use crate::run::{Rank, Ranking, Variant};
use crate::study;
use crate::units::fmt_ns;

use super::Rung;

/// Variants fastest first by median cold start, against the first one.
pub(super) fn rank(variants: &[Variant]) -> Option<Ranking> {
    fn p(v: &Variant) -> Option<&crate::stats::Stats> {
        v.phase(Phase::ColdStart).map(|s| &s.stats)
    }
    let base = p(variants.first()?)?.p50_ns;
    let mut rows: Vec<Rank> = variants
        .iter()
        .filter_map(|v| {
            let s = p(v)?;
            Some(Rank {
                variant: v.name.clone(),
                p50_ns: s.p50_ns,
                p95_ns: s.p95_ns,
                speedup: base / s.p50_ns,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.p50_ns.total_cmp(&b.p50_ns));
    Some(Ranking {
        baseline: variants[0].name.clone(),
        phase: Phase::ColdStart,
        rows,
    })
}

/// A difference between medians smaller than this share is not called a
/// saving.
const NOISE: f64 = 0.05;

/// One sentence per finding, each from measured numbers.
pub(super) fn verdicts(
    ranking: &Ranking,
    variants: &[Variant],
    module_bytes: u64,
    plugin: &str,
) -> Vec<String> {
    let by_name = |n: &str| variants.iter().find(|v| v.name == n);
    let p50 = |v: &Variant, phase: Phase| v.phase(phase).map(|s| s.stats.p50_ns);
    let mut out = Vec::new();
    let (Some(best), Some(base)) = (ranking.rows.first(), by_name(&ranking.baseline)) else {
        return out;
    };
    let base_p50 = p50(base, Phase::ColdStart).unwrap_or(f64::NAN);
    if best.variant != ranking.baseline {
        // The study's figure is of its drug checker: quoted for that one.
        let quoted = if plugin == study::PLUGIN {
            format!(
                " ({:.0}x faster than {}'s {})",
                study::COLD_START_P50_NS / best.p50_ns,
                study::NAME,
                fmt_ns(study::COLD_START_P50_NS)
            )
        } else {
            String::new()
        };
        out.push(format!(
            "{} wins: {} p50 cold start against {} for {}, {:.0}x faster{quoted}",
            best.variant,
            fmt_ns(best.p50_ns),
            fmt_ns(base_p50),
            ranking.baseline,
            best.speedup,
        ));
    }
    if let Some(loading) = ranking.rows.iter().find(|r| {
        by_name(&r.variant).is_some_and(|v| {
            v.phase(Phase::Read)
                .or(v.phase(Phase::Deserialize))
                .is_some()
        })
    }) && loading.variant != best.variant
    {
        out.push(format!(
            "{} is the fastest that loads the module on every iteration: {} p50, {:.0}x faster than {}",
            loading.variant,
            fmt_ns(loading.p50_ns),
            loading.speedup,
            ranking.baseline
        ));
    }
    if let Some(c) = base.phase(Phase::Compile) {
        out.push(format!(
            "{}: compile is {:.1} % of the cold start ({} p50 for a {} KB module)",
            base.name,
            c.share_pct,
            fmt_ns(c.stats.p50_ns),
            module_bytes / 1024
        ));
    }
    for fast in [Rung::CraneliftOptNone, Rung::Winch] {
        if let (Some(v), Some(b)) = (
            by_name(fast.as_str()).and_then(|v| p50(v, Phase::Compile)),
            p50(base, Phase::Compile),
        ) && base.name != fast.as_str()
        {
            out.push(format!(
                "{fast}: compiles {:.1}x faster than {} ({} vs {} p50)",
                b / v,
                base.name,
                fmt_ns(v),
                fmt_ns(b)
            ));
        }
    }
    if let (Some(a), Some(m)) = (by_name(Rung::Aot.as_str()), by_name(Rung::AotMmap.as_str()))
        && let (Some(a_total), Some(m_total)) = (p50(a, Phase::ColdStart), p50(m, Phase::ColdStart))
    {
        out.push(format!(
            "aot-mmap: mapping the .cwasm takes the cold start to {} p50, against {} reading and deserialising it from bytes",
            fmt_ns(m_total),
            fmt_ns(a_total)
        ));
    }
    // A snapshot rung against the same path without the snapshot.
    for (snap, plain) in [
        (Rung::Wizer, Rung::AotMmap),
        (Rung::PoolingWizer, Rung::Pooling),
    ] {
        if let (Some(w), Some(m)) = (by_name(snap.as_str()), by_name(plain.as_str()))
            && let (Some(wt), Some(mt)) = (p50(w, Phase::ColdStart), p50(m, Phase::ColdStart))
        {
            let first_call = |v: &Variant| -> f64 {
                crate::driver::call::BYTES_CALL
                    .iter()
                    .filter_map(|&ph| v.phase(ph))
                    .map(|s| s.stats.mean_ns)
                    .sum()
            };
            out.push(format!(
                "{snap}: {} p50 cold start against {} for {plain}, the same path without the snapshot; first call {} against {} (means): {}",
                fmt_ns(wt),
                fmt_ns(mt),
                fmt_ns(first_call(w)),
                fmt_ns(first_call(m)),
                if wt < mt * (1.0 - NOISE) {
                    format!("the snapshot saves {} of start-up work", fmt_ns(mt - wt))
                } else if wt > mt * (1.0 + NOISE) {
                    format!("the snapshot is {} slower: no saving", fmt_ns(wt - mt))
                } else {
                    format!("no difference beyond {:.0} % noise", NOISE * 100.0)
                }
            ));
        }
    }
    if let Some(p) = by_name(Rung::Pooling.as_str())
        && let Some(i) = p50(p, Phase::Instantiate)
    {
        let other = by_name(Rung::AotMmap.as_str()).and_then(|v| p50(v, Phase::Instantiate));
        out.push(match other {
            Some(o) => format!(
                "pooling: instantiate {} p50 from the pool against {} with the default allocator (aot-mmap)",
                fmt_ns(i),
                fmt_ns(o)
            ),
            None => format!("pooling: instantiate {} p50 from the pool", fmt_ns(i)),
        });
    }
    out
}
