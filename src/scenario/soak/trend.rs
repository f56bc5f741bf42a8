//! Whether memory grows over a soak: a least-squares line through the
//! readings, its 95 % confidence interval (Student's t), and a verdict
//! against a threshold.

use crate::run::{MemoryPoint, Trend};

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
pub(super) fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Cornish-Fisher expansion around the normal quantile: within 0.001
        // of the exact value beyond 30 degrees of freedom.
        _ => {
            let z: f64 = 1.959964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Least-squares slope of `y` over `x` and its standard error.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let se = (sse / (n - 2.0) / sxx).sqrt();
    Some((slope, se))
}

/// The trend of resident memory over the readings, after the first tenth of
/// the run (start-up settles there), with its verdict.
pub fn trend(points: &[MemoryPoint], threshold_kb_per_hour: f64) -> Option<Trend> {
    let end = points.last()?.t_ns;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.t_ns >= end / 10.0)
        .map(|p| (p.t_ns / 1e9, p.rss_bytes as f64))
        .collect();
    let (slope, se) = fit(&xy)?;
    let per_hour = |bytes_per_s: f64| bytes_per_s * 3600.0 / 1000.0;
    let half = t95(xy.len() - 2) * se;
    let (lo, hi) = (per_hour(slope - half), per_hour(slope + half));
    let verdict = if lo > threshold_kb_per_hour {
        "leak"
    } else if hi < threshold_kb_per_hour {
        "no leak"
    } else {
        "inconclusive"
    };
    Some(Trend {
        series: "rss".into(),
        samples: xy.len() as u64,
        slope_kb_per_hour: per_hour(slope),
        ci_low_kb_per_hour: lo,
        ci_high_kb_per_hour: hi,
        projected_week_kb: per_hour(slope) * 24.0 * 7.0,
        threshold_kb_per_hour,
        verdict: verdict.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(f: impl Fn(f64) -> f64) -> Vec<MemoryPoint> {
        (0..60)
            .map(|s| MemoryPoint {
                t_ns: s as f64 * 1e9,
                rss_bytes: f(s as f64) as u64,
                ..MemoryPoint::default()
            })
            .collect()
    }

    #[test]
    fn a_steady_climb_is_a_leak_and_a_flat_line_is_not() {
        // 1 KB a second, in whole 4 KiB pages: 3600 KB/hour.
        let leak = trend(
            &points(|s| 10e6 + (s * 1000.0 / 4096.0).floor() * 4096.0),
            1000.0,
        )
        .unwrap();
        assert_eq!(leak.verdict, "leak", "{leak:?}");
        assert!((leak.slope_kb_per_hour - 3600.0).abs() < 400.0, "{leak:?}");
        let flat = trend(&points(|_| 10e6), 1000.0).unwrap();
        assert_eq!(flat.verdict, "no leak", "{flat:?}");
        assert_eq!(flat.slope_kb_per_hour, 0.0);
        // One stray page in a minute stays under 1 MB/hour.
        let stray = trend(
            &points(|s| 10e6 + if s > 30.0 { 4096.0 } else { 0.0 }),
            1000.0,
        )
        .unwrap();
        assert_eq!(stray.verdict, "no leak", "{stray:?}");
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t95(1), 12.706);
        assert_eq!(t95(30), 2.042);
        assert!((t95(60) - 2.000).abs() < 0.002);
        assert!((t95(1000) - 1.962).abs() < 0.002);
    }
}
