//! From raw clock stamps to a variant's statistics and timeline spans: the
//! one place where ticks become nanoseconds, for every scenario and every
//! driver (stamps from a child process settle here too).

use super::budget::Timed;
use crate::phase::Phase;
use crate::run::{PhaseStats, Span, Variant};
use crate::stats::Stats;

/// Per-phase statistics from clock stamps: `rows` holds one row per
/// iteration of `phases.len() + 1` stamps (one before the first phase and
/// one after each). The row for `whole`, first stamp to last, comes last.
pub fn phase_stats(
    rows: &[u64],
    phases: &[Phase],
    whole: Phase,
    ns_per_tick: f64,
) -> Vec<PhaseStats> {
    let w = phases.len() + 1;
    let n = rows.len() / w;
    let mut samples = vec![0.0f64; n];
    let mut stats_of = |k0: usize, k1: usize| {
        for (s, row) in samples.iter_mut().zip(rows.chunks_exact(w)) {
            *s = row[k1].saturating_sub(row[k0]) as f64 * ns_per_tick;
        }
        Stats::from_samples(&mut samples)
    };
    let Some(total) = stats_of(0, w - 1) else {
        return Vec::new();
    };
    let share = |s: &Stats| {
        if total.mean_ns > 0.0 {
            100.0 * s.mean_ns / total.mean_ns
        } else {
            0.0
        }
    };
    let mut out: Vec<PhaseStats> = Vec::with_capacity(w);
    // A driver that sees no phases inside a call names its one phase the
    // whole: it is counted once, as the whole.
    for (k, &phase) in phases.iter().enumerate().filter(|(_, p)| **p != whole) {
        if let Some(stats) = stats_of(k, k + 1) {
            out.push(PhaseStats {
                phase,
                share_pct: share(&stats),
                stats,
            });
        }
    }
    out.push(PhaseStats {
        phase: whole,
        share_pct: 100.0,
        stats: total,
    });
    out
}

/// How to draw a variant's iterations on the timeline.
#[derive(Debug, Clone, Copy)]
pub struct Track<'a> {
    /// The timeline row (the variant's name).
    pub name: &'a str,
    /// The whole that encloses the phases ([`Phase::Call`], [`Phase::ColdStart`]).
    pub whole: Phase,
    /// Iterations to draw, spread evenly over those measured.
    pub count: u64,
    /// The tick the timeline starts at.
    pub origin: u64,
    /// Nanoseconds per tick.
    pub ns_per_tick: f64,
    /// Bytes in and out, labelling the spans that move the input or output.
    pub bytes: (u64, u64),
}

/// Timeline spans of `track.count` iterations spread evenly over `rows`
/// (laid out as for [`phase_stats`]): each iteration's whole, then its phases.
pub fn spans(rows: &[u64], phases: &[Phase], track: Track) -> Vec<Span> {
    let w = phases.len() + 1;
    let n = rows.len() / w;
    let count = (track.count as usize).min(n);
    let mut out = Vec::with_capacity(count * w);
    let ns = |t: u64| t.saturating_sub(track.origin) as f64 * track.ns_per_tick;
    for j in 0..count {
        let i = j * n / count;
        let row = &rows[i * w..(i + 1) * w];
        let span = |phase: Phase, a: u64, b: u64| Span {
            track: track.name.to_owned(),
            phase,
            start_ns: ns(a),
            dur_ns: b.saturating_sub(a) as f64 * track.ns_per_tick,
            iteration: i as u64,
            bytes_in: (phase.is_whole() || matches!(phase, Phase::Encode | Phase::CopyIn))
                .then_some(track.bytes.0),
            bytes_out: (phase.is_whole() || matches!(phase, Phase::CopyOut | Phase::Decode))
                .then_some(track.bytes.1),
        };
        out.push(span(track.whole, row[0], row[w - 1]));
        for (k, &phase) in phases
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != track.whole)
        {
            out.push(span(phase, row[k], row[k + 1]));
        }
    }
    out
}

/// One measured variant before statistics: `phases.len() + 1` stamps a call.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The variant, its phases not yet filled.
    pub variant: Variant,
    /// Its stamps, in ticks.
    pub stamps: Vec<u64>,
    /// Its phases.
    pub phases: Vec<Phase>,
}

impl Recorded {
    /// A variant measured as `timed`, with `phases`.
    pub fn new(variant: Variant, timed: Timed, phases: &[Phase]) -> Recorded {
        Recorded {
            variant,
            stamps: timed.stamps,
            phases: phases.to_vec(),
        }
    }
}

/// Each variant's phase statistics (the `whole` row last), and
/// `trace_calls` calls of each as timeline spans, labelled with the bytes `bytes` says
/// the variant moves (in, out).
pub fn settle(
    recorded: Vec<Recorded>,
    whole: Phase,
    ns_per_tick: f64,
    trace_calls: u64,
    bytes: impl Fn(&Variant) -> (u64, u64),
) -> (Vec<Variant>, Vec<Span>) {
    let origin = recorded
        .iter()
        .filter_map(|r| r.stamps.first().copied())
        .min()
        .unwrap_or(0);
    let mut variants = Vec::with_capacity(recorded.len());
    let mut timeline = Vec::new();
    for r in recorded {
        let mut v = r.variant;
        v.phases = phase_stats(&r.stamps, &r.phases, whole, ns_per_tick);
        timeline.extend(spans(
            &r.stamps,
            &r.phases,
            Track {
                name: &v.name,
                whole,
                count: trace_calls,
                origin,
                ns_per_tick,
                bytes: bytes(&v),
            },
        ));
        variants.push(v);
    }
    (variants, timeline)
}

/// The fewest calls any variant was measured for.
pub fn fewest_calls(variants: &[Variant]) -> u64 {
    variants
        .iter()
        .filter_map(|v| v.phases.last().map(|p| p.stats.n))
        .min()
        .unwrap_or(0)
}

/// The median of `name`'s whole iteration.
pub fn p50(variants: &[Variant], name: &str) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)?
        .phases
        .last()
        .map(|p| p.stats.p50_ns)
}

/// A variant with a name and a description, nothing measured yet.
pub fn named(name: &str, description: &str) -> Variant {
    Variant {
        name: name.to_owned(),
        description: description.to_owned(),
        ..Variant::default()
    }
}

/// Keeps the stamp columns of the phases `keep` (of `all`): a dropped phase
/// is empty (nothing ran between its stamps), so folding it into its
/// neighbour changes no time.
pub fn project(stamps: &[u64], all: &[Phase], keep: &[Phase]) -> Vec<u64> {
    let w = all.len() + 1;
    let cols: Vec<usize> = std::iter::once(0)
        .chain(
            all.iter()
                .enumerate()
                .filter(|(_, p)| keep.contains(p))
                .map(|(k, _)| k + 1),
        )
        .collect();
    columns(stamps, w, &cols)
}

/// Keeps stamp columns `cols` of rows `width` wide.
pub fn columns(stamps: &[u64], width: usize, cols: &[usize]) -> Vec<u64> {
    let mut out = Vec::with_capacity(stamps.len() / width * cols.len());
    for row in stamps.chunks_exact(width) {
        out.extend(cols.iter().map(|&c| row[c]));
    }
    out
}
