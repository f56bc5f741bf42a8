//! A way's overhead over the native reference it was timed beside: from
//! their paired ratio (each round's median against the reference timed
//! next to it), which a machine that changed speed during the run moves on
//! both sides alike; from the two medians only where no ratio was paired.

use crate::run::{Pair, Variant};
use crate::timing::settle::p50;

/// An overhead per whole iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Overhead {
    /// In nanoseconds: the paired ratio's excess over 1 times the
    /// baseline's median (else the difference of the medians).
    pub(crate) ns: f64,
    /// In percent of the baseline.
    pub(crate) pct: f64,
    /// Whether it comes from a paired ratio.
    pub(crate) paired: bool,
}

/// `subject`'s overhead over `baseline`, both variants of one run.
pub(crate) fn overhead(
    variants: &[Variant],
    pairs: &[Pair],
    subject: &str,
    baseline: &str,
) -> Option<Overhead> {
    let base = p50(variants, baseline)?;
    if base <= 0.0 {
        return None;
    }
    match pairs
        .iter()
        .find(|p| p.subject == subject && p.baseline == baseline)
    {
        Some(p) => Some(Overhead {
            ns: base * (p.ratio.ratio - 1.0),
            pct: 100.0 * (p.ratio.ratio - 1.0),
            paired: true,
        }),
        None => {
            let t = p50(variants, subject)?;
            Some(Overhead {
                ns: t - base,
                pct: 100.0 * (t / base - 1.0),
                paired: false,
            })
        }
    }
}

/// How a summary's title says where its overheads come from.
pub(crate) fn how(paired: bool) -> &'static str {
    if paired {
        "overhead paired by round (each round against native timed beside it)"
    } else {
        "overhead from the medians (unpaired)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::PairedRatio;

    fn variant(name: &str, p50_ns: f64) -> Variant {
        let mut v = crate::timing::settle::named(name, "");
        let stats = crate::stats::Stats::from_samples(&mut [p50_ns]).unwrap();
        v.phases.push(crate::run::PhaseStats {
            phase: crate::phase::Phase::Call,
            stats,
            share_pct: 100.0,
        });
        v
    }

    #[test]
    fn a_paired_ratio_wins_over_the_medians() {
        let vs = [variant("wasm", 300.0), variant("native", 100.0)];
        let unpaired = overhead(&vs, &[], "wasm", "native").unwrap();
        assert_eq!(
            (unpaired.ns, unpaired.pct, unpaired.paired),
            (200.0, 200.0, false)
        );
        let pair = Pair {
            subject: "wasm".into(),
            baseline: "native".into(),
            ratio: PairedRatio {
                ratio: 1.5,
                lo: 1.4,
                hi: 1.6,
                rounds: 20,
                per_round: Vec::new(),
            },
        };
        let paired = overhead(&vs, &[pair], "wasm", "native").unwrap();
        assert_eq!((paired.ns, paired.pct, paired.paired), (50.0, 50.0, true));
        assert!(overhead(&vs, &[], "wasm", "missing").is_none());
    }
}
