//! Chrome Trace Event Format (object form), for Chrome DevTools' Performance
//! panel, Perfetto and speedscope: one thread per track, an `X` event per
//! sampled call with its phases nested inside, and `C` events for counters
//! read over time and for each variant's memory readings.
//!
//! An event's name is its phase alone, and its `args` hold only what every
//! call of that phase shares (bytes in and out): speedscope names a frame
//! by name and args together, so a per-call argument (the iteration) would
//! make every call a frame of its own and nothing would merge.
//!
//! Written directly rather than through tracing-chrome: that crate records
//! live spans as B/E pairs at ~1 µs each, which would swamp a ~2 µs call. The
//! spans here were timed with the run's own cheap clock and are written after
//! the fact.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use super::Exporter;
use crate::run::{Run, Span};

/// Rounding noise between edges that the clock saw as one instant: a
/// phase's end and its whole's end are sums of different floats
/// (`start_ns + dur_ns`), and may round one step apart.
const SNAP_STEPS: i64 = 4;

/// Each span's edges in steps, with rounding repaired so that viewers nest
/// what was measured as nested: a phase starts no earlier than the previous
/// phase of its call ends, and ends no later than its whole (a phase one step
/// past its `request` made DevTools drop it from the call tree). Only
/// differences within [`SNAP_STEPS`] are moved: anything larger was measured.
fn edges(timeline: &[Span]) -> Vec<(i64, i64)> {
    // Per track: the current whole's end, and where its last phase ended.
    let mut open: HashMap<&str, (i64, i64)> = HashMap::new();
    timeline
        .iter()
        .map(|s| {
            let mut start = steps(s.start_ns);
            let mut end = steps(s.start_ns + s.dur_ns);
            if s.phase.is_whole() {
                open.insert(&s.track, (end, start));
            } else if let Some((whole_end, last)) = open.get_mut(s.track.as_str()) {
                if start < *last && *last - start <= SNAP_STEPS {
                    start = *last;
                }
                if end > *whole_end && end - *whole_end <= SNAP_STEPS {
                    end = *whole_end;
                }
                *last = (*last).max(end);
            }
            (start, end)
        })
        .collect()
}

/// `profiles/<scenario>.trace.json`.
pub struct ChromeTrace;

const PID: u64 = 1;

#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    cat: &'a str,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u64,
    tid: u64,
    // None rather than `{}`: speedscope writes args after a frame's name.
    #[serde(skip_serializing_if = "no_args")]
    args: serde_json::Value,
}

fn no_args(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(serde_json::Map::is_empty)
}

/// Steps of 2^-16 µs (~0.015 ns) per nanosecond. Span edges are rounded to
/// whole steps, which are exact binary fractions: `ts + dur` of one phase then
/// equals the next phase's `ts` exactly in every viewer. Decimal microseconds
/// (`ns / 1000.0`) are not exact, and their ~1e-15 overlaps made DevTools drop
/// ~12 % of the spans and speedscope mis-nest them.
const STEPS_PER_NS: f64 = 65.536;
const STEPS_PER_US: f64 = 65_536.0;

fn steps(ns: f64) -> i64 {
    (ns * STEPS_PER_NS).round() as i64
}

impl Exporter for ChromeTrace {
    fn applies(&self, run: &Run) -> bool {
        !run.timeline.is_empty()
            || !run.counters.is_empty()
            || !run.failures.is_empty()
            || run.variants.iter().any(|v| v.memory.is_some())
    }

    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut tids: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &run.timeline {
            let next = tids.len() as u64 + 1;
            tids.entry(&s.track).or_insert(next);
        }
        let process = format!("wprof {}: {}", run.scenario, run.plugin.name);
        let mut events = vec![Event {
            name: "process_name",
            cat: "__metadata",
            ph: "M",
            ts: 0.0,
            dur: None,
            pid: PID,
            tid: 0,
            args: json!({ "name": process }),
        }];
        for (track, &tid) in &tids {
            for (name, args) in [
                ("thread_name", json!({ "name": track })),
                ("thread_sort_index", json!({ "sort_index": tid })),
            ] {
                events.push(Event {
                    name,
                    cat: "__metadata",
                    ph: "M",
                    ts: 0.0,
                    dur: None,
                    pid: PID,
                    tid,
                    args,
                });
            }
        }
        let phase_names: Vec<String> = run.timeline.iter().map(|s| s.phase.to_string()).collect();
        for ((s, name), (start, end)) in run
            .timeline
            .iter()
            .zip(&phase_names)
            .zip(edges(&run.timeline))
        {
            // A span the clock saw as zero-length cannot be drawn, and viewers
            // would nest it inside its neighbour: leave it out.
            if end <= start {
                continue;
            }
            let mut args = json!({});
            if let Some(b) = s.bytes_in {
                args["bytes_in"] = json!(b);
            }
            if let Some(b) = s.bytes_out {
                args["bytes_out"] = json!(b);
            }
            events.push(Event {
                name,
                cat: &run.scenario,
                ph: "X",
                ts: start as f64 / STEPS_PER_US,
                dur: Some((end - start) as f64 / STEPS_PER_US),
                pid: PID,
                tid: tids[s.track.as_str()],
                args,
            });
        }
        // Counters (memory over time) as "C" events: one track per name.
        for c in &run.counters {
            events.push(Event {
                name: &c.name,
                cat: &run.scenario,
                ph: "C",
                ts: steps(c.t_ns) as f64 / STEPS_PER_US,
                dur: None,
                pid: PID,
                tid: 0,
                args: json!({ "value": c.value }),
            });
        }
        // Memory readings, one counter track per variant: times are since
        // that variant started (each ran on its own), so the tracks overlap.
        let readings: Vec<(String, f64, f64)> = run
            .variants
            .iter()
            .filter_map(|v| Some((v, v.memory.as_ref()?)))
            .flat_map(|(v, m)| {
                m.points
                    .iter()
                    .map(move |p| (memory_counter(&v.name), p.t_ns, p.rss_bytes as f64 / 1000.0))
            })
            .collect();
        for (name, t_ns, kb) in &readings {
            events.push(Event {
                name,
                cat: &run.scenario,
                ph: "C",
                ts: steps(*t_ns) as f64 / STEPS_PER_US,
                dur: None,
                pid: PID,
                tid: 0,
                args: json!({ "value": kb }),
            });
        }
        let doc = json!({
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": {
                "wprof_version": run.wprof_version,
                "scenario": run.scenario,
                "plugin": run.plugin.name,
                "started_at": run.started_at,
                "clock": run.clock.name,
            },
        });
        serde_json::to_writer(&mut *out, &doc)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

/// The counter track of `variant`'s memory readings: resident memory in KB.
pub fn memory_counter(variant: &str) -> String {
    format!("rss (KB) ({variant})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Phase;

    fn span(phase: Phase, start_ns: f64, dur_ns: f64) -> Span {
        Span {
            track: "t".into(),
            phase,
            start_ns,
            dur_ns,
            iteration: 0,
            bytes_in: None,
            bytes_out: None,
        }
    }

    #[test]
    fn a_phase_rounded_past_its_whole_is_nested_again() {
        let step = 1.0 / STEPS_PER_NS;
        let t = [
            span(Phase::Request, 1000.0, 100.0),
            span(Phase::Acquire, 1000.0, 40.0),
            // Starts a step early and ends a step late: rounding, not timing.
            span(Phase::Execute, 1040.0 - step, 60.0 + 2.0 * step),
        ];
        let e = edges(&t);
        assert_eq!(e[2].0, e[1].1, "the phase starts where the previous ends");
        assert_eq!(e[2].1, e[0].1, "the phase ends with its whole");
    }

    #[test]
    fn a_measured_overhang_is_left_as_measured() {
        let t = [
            span(Phase::Request, 1000.0, 100.0),
            span(Phase::Execute, 1000.0, 101.0),
        ];
        let e = edges(&t);
        assert_eq!(e[1].1, steps(1101.0));
        assert!(e[1].1 > e[0].1);
    }
}
