//! The knee: from each design's points, the thread count where its
//! efficiency falls below [`KNEE_EFFICIENCY`], and the per-request
//! counters that grew most there. Pure: figures in, sentences out.

use crate::run::{Growth, KNEE_EFFICIENCY, Knee, Point};

/// Growth below this factor is not named as a cause.
const NAMED_GROWTH: f64 = 1.2;

/// A counter smaller than this per request (one in twenty) is not named
/// as a cause.
const NAMED_FLOOR: f64 = 0.05;

/// One knee per design, in the order the designs first appear in `points`.
pub fn knees(points: &[Point]) -> Vec<Knee> {
    let mut designs: Vec<&str> = Vec::new();
    for p in points {
        if !designs.contains(&p.design.as_str()) {
            designs.push(&p.design);
        }
    }
    designs
        .into_iter()
        .map(|d| {
            let mut mine: Vec<&Point> = points.iter().filter(|p| p.design == d).collect();
            mine.sort_by_key(|p| p.threads);
            knee(d, &mine)
        })
        .collect()
}

/// The knee of one design, its points by thread count.
fn knee(design: &str, points: &[&Point]) -> Knee {
    let mut k = Knee {
        design: design.to_owned(),
        ..Knee::default()
    };
    let Some(base) = points.first() else {
        k.sentence = format!("{design}: nothing measured");
        return k;
    };
    let scaled: Vec<(&Point, f64)> = points
        .iter()
        .skip(1)
        .filter_map(|p| Some((*p, p.efficiency.as_ref()?.ratio)))
        .collect();
    if scaled.is_empty() {
        k.sentence = format!(
            "{design}: {} thread{} only; nothing to scale against",
            base.threads,
            plural(base.threads)
        );
        return k;
    }
    for &(p, e) in &scaled {
        if e >= KNEE_EFFICIENCY {
            k.scales_to = Some(p.threads);
            k.scales_to_efficiency = Some(e);
        } else {
            k.knee = Some(p.threads);
            k.knee_efficiency = Some(e);
            k.grew = growth(base, p);
            break;
        }
    }
    let scales = k
        .scales_to
        .zip(k.scales_to_efficiency)
        .map(|(t, e)| format!("scales to {t} threads at {:.0} %", 100.0 * e));
    let falls = k.knee.zip(k.knee_efficiency).map(|(t, e)| {
        format!(
            "falls to {:.0} % at {t} threads, {}",
            100.0 * e,
            causes(&k.grew, base.threads)
        )
    });
    k.sentence = match (scales, falls) {
        (Some(s), Some(f)) => format!("{design} {s}, then {f}"),
        (Some(s), None) => format!("{design} {s}"),
        (None, Some(f)) => format!("{design} {f}"),
        (None, None) => format!("{design}: no efficiency measured"),
    };
    k
}

/// Every counter both points have, largest growth first.
fn growth(base: &Point, at: &Point) -> Vec<Growth> {
    let mut grew: Vec<Growth> = at
        .per_request
        .iter()
        .filter_map(|(name, &to)| {
            Some(Growth {
                counter: name.clone(),
                from: *base.per_request.get(name)?,
                to,
            })
        })
        .collect();
    grew.sort_by(|a, b| {
        b.factor()
            .total_cmp(&a.factor())
            .then(b.to.total_cmp(&a.to))
    });
    grew
}

/// The counters that grew enough to name, in words.
fn causes(grew: &[Growth], base_threads: u64) -> String {
    let named: Vec<String> = grew
        .iter()
        .filter(|g| g.to >= NAMED_FLOOR && g.factor() >= NAMED_GROWTH)
        .take(2)
        .map(|g| {
            let name = g.counter.replace('-', " ");
            if g.factor().is_finite() {
                format!("{name} per request {:.1}x", g.factor())
            } else {
                format!("{name} per request from 0 to {:.2}", g.to)
            }
        })
        .collect();
    if named.is_empty() {
        format!(
            "with no per-request counter {:.0} % above {base_threads} thread{}'s",
            100.0 * (NAMED_GROWTH - 1.0),
            plural(base_threads)
        )
    } else {
        format!("with {}", named.join(" and "))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::PairedRatio;

    fn point(design: &str, threads: u64, eff: Option<f64>, counters: &[(&str, f64)]) -> Point {
        Point {
            design: design.into(),
            threads,
            efficiency: eff.map(|ratio| PairedRatio {
                ratio,
                lo: ratio,
                hi: ratio,
                rounds: 5,
                per_round: vec![ratio; 5],
            }),
            per_request: counters.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            ..Point::default()
        }
    }

    #[test]
    fn names_the_knee_and_the_counters_that_grew_there() {
        let points = [
            point("pooled", 1, None, &[("page-faults", 1.0)]),
            point("pooled", 2, Some(0.97), &[("page-faults", 1.0)]),
            point(
                "fresh",
                1,
                None,
                &[
                    ("page-faults", 10.0),
                    ("tlb-shootdowns", 0.05),
                    ("context-switches", 0.001),
                ],
            ),
            point(
                "fresh",
                2,
                Some(0.61),
                &[
                    ("page-faults", 80.0),
                    ("tlb-shootdowns", 2.0),
                    ("context-switches", 0.004),
                ],
            ),
            point("fresh", 4, Some(0.40), &[("page-faults", 90.0)]),
        ];
        let k = knees(&points);
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].sentence, "pooled scales to 2 threads at 97 %");
        assert_eq!(k[0].knee, None);
        assert_eq!(k[1].knee, Some(2));
        assert_eq!(k[1].scales_to, None);
        assert_eq!(
            k[1].sentence,
            "fresh falls to 61 % at 2 threads, with tlb shootdowns per request 40.0x and page faults per request 8.0x"
        );
    }

    #[test]
    fn a_design_that_scales_then_falls_says_both() {
        let points = [
            point("reuse", 1, None, &[("context-switches", 0.0)]),
            point("reuse", 2, Some(0.95), &[("context-switches", 0.0)]),
            point("reuse", 4, Some(0.5), &[("context-switches", 0.3)]),
        ];
        let k = &knees(&points)[0];
        assert_eq!(
            k.sentence,
            "reuse scales to 2 threads at 95 %, then falls to 50 % at 4 threads, with context switches per request from 0 to 0.30"
        );
    }

    #[test]
    fn no_growth_is_said_and_one_thread_count_is_nothing_to_scale() {
        let points = [
            point("native", 1, None, &[("page-faults", 0.0)]),
            point("native", 2, Some(0.7), &[("page-faults", 0.0)]),
            point("fresh", 1, None, &[]),
        ];
        let k = knees(&points);
        assert_eq!(
            k[0].sentence,
            "native falls to 70 % at 2 threads, with no per-request counter 20 % above 1 thread's"
        );
        assert_eq!(
            k[1].sentence,
            "fresh: 1 thread only; nothing to scale against"
        );
    }
}
