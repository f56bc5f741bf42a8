//! From `record engines`' measurements to a run: a variant per engine
//! (its call's phases), each engine's row (cold start split, call, paired
//! ratios, memory, no-op call), the break-evens and the summary table.

use super::measure::{Measured, NATIVE_PHASES, Timed};
use super::subject::Plugin;
use super::{EnginesConfig, NAME, Open};
use crate::phase::Phase;
use crate::run::{
    BreakEven, EngineRow, Engines, Failure, Pair, PairedRatio, PhaseTime, Run, Summary,
    Unavailable, Variant, break_even,
};
use crate::scenario::hot_path::summarise::summarise;
use crate::stats::median_of;
use crate::timing::pairing::{paired_ratio, round_figures};
use crate::units::{fmt_bytes, fmt_ns};

/// The engine every other is weighed against.
const CRANELIFT: &str = "cranelift";

/// The run `record engines` made.
pub(super) fn assemble(
    cfg: &EnginesConfig,
    plugin: &Plugin,
    open: &[Open<'_>],
    m: Measured,
    unavailable: Vec<Unavailable>,
    mut failures: Vec<Failure>,
) -> Run {
    let mut run = crate::scenario::new_run(NAME);
    let figures = |t: &Timed| round_figures(&t.rec, t.clock.ns_per_tick);
    let native_figures = m.native.as_ref().map(figures);
    let cranelift = open
        .iter()
        .zip(&m.engines)
        .find(|(o, _)| o.name == CRANELIFT)
        .and_then(|(_, t)| t.as_ref());
    let cranelift_figures = cranelift.map(figures);
    let cranelift_cold = open
        .iter()
        .position(|o| o.name == CRANELIFT)
        .map(|i| wholes(&m.cold[i]));
    let mut rows = Vec::new();
    if let Some(n) = &m.native {
        let v = summarise(
            "native",
            "the plugin's native build (the same source compiled for this CPU by rustc), linked into wprof, on the same input bytes".into(),
            &NATIVE_PHASES,
            &n.rec,
            n.clock.ns_per_tick,
        );
        rows.push(EngineRow {
            engine: "native".into(),
            call_ns: call_ns(&v),
            vs_cranelift: cranelift_figures
                .as_ref()
                .and_then(|c| paired_ratio(&figures(n), c)),
            clock_read_ns: n.clock.read_cost_ns,
            output_matches: plugin.reference_name == "native" || plugin.reference.is_empty(),
            ..EngineRow::default()
        });
        run.clock = n.clock.clone();
        run.variants.push(v);
    }
    for (i, (o, t)) in open.iter().zip(&m.engines).enumerate() {
        let Some(t) = t else { continue };
        let info = o.opened.info();
        let mut v = summarise(
            o.name,
            format!(
                "{} ({}), {}, {}",
                info.engine, info.compiler, info.abi, info.process
            ),
            o.opened.phases(),
            &t.rec,
            t.clock.ns_per_tick,
        );
        v.setup = o.opened.setup();
        v.driver = Some(info.clone());
        let mine = figures(t);
        let cold = wholes(&m.cold[i]);
        let (memory, memory_note) = match &m.memory[i] {
            Ok(p) => (Some(*p), None),
            Err(why) => (None, Some(why.clone())),
        };
        if let Err(why) = &m.noop[i] {
            run.notes
                .push(format!("{}: no-op call not measured: {why}", o.name));
        }
        rows.push(EngineRow {
            engine: o.name.into(),
            driver: Some(info),
            cold_start: phase_medians(&m.cold[i]),
            cold_start_ns: (!cold.is_empty()).then(|| median_of(&mut cold.clone())),
            cold_vs_cranelift: cranelift_cold
                .as_ref()
                .filter(|_| o.name != CRANELIFT)
                .and_then(|c| paired_ratio(&cold, c)),
            call_ns: call_ns(&v),
            vs_native: native_figures.as_ref().and_then(|n| paired_ratio(&mine, n)),
            vs_cranelift: cranelift_figures
                .as_ref()
                .filter(|_| o.name != CRANELIFT)
                .and_then(|c| paired_ratio(&mine, c)),
            memory_per_instance_bytes: memory.map(|p| p.rss_bytes),
            virtual_per_instance_bytes: memory.map(|p| p.virtual_bytes),
            memory_note,
            noop_call_ns: m.noop[i].as_ref().ok().copied(),
            clock_read_ns: t.clock.read_cost_ns,
            output_matches: true,
        });
        if run.clock.name.is_empty() {
            run.clock = t.clock.clone();
        }
        run.variants.push(v);
    }
    for r in &rows {
        for (ratio, baseline) in [(&r.vs_native, "native"), (&r.vs_cranelift, CRANELIFT)] {
            if let Some(ratio) = ratio {
                run.pairs.push(Pair {
                    subject: r.engine.clone(),
                    baseline: baseline.into(),
                    ratio: ratio.clone(),
                });
            }
        }
    }
    // The ranking: by the paired ratio against native (or Cranelift, 1 for
    // itself), so that a machine that slows down moves every engine alike.
    let rank = |r: &EngineRow| {
        r.vs_native.as_ref().or(r.vs_cranelift.as_ref()).map_or(
            if r.engine == CRANELIFT {
                1.0
            } else {
                f64::INFINITY
            },
            |p| p.ratio,
        )
    };
    rows.sort_by(|a, b| {
        (a.engine != "native")
            .cmp(&(b.engine != "native"))
            .then(rank(a).total_cmp(&rank(b)))
    });
    let breaks = break_evens(&rows, &plugin.name);
    run.summary = Some(summary(&rows, &unavailable));
    run.plugin = crate::scenario::plugin_info(
        &plugin.name,
        &plugin.source,
        &plugin.bytes,
        &plugin.export,
        plugin.input.len() as u64,
        plugin.reference.len() as u64,
    );
    run.plugin.output_checked = Some(true);
    run.plugin.outputs_identical = Some(failures.iter().all(|f| f.phase != Phase::CopyOut));
    run.iterations = m
        .engines
        .iter()
        .flatten()
        .map(|t| t.rec.calls as u64)
        .max()
        .unwrap_or(0);
    run.settings = crate::scenario::settings([
        ("engines", serde_json::json!(cfg.engines)),
        (
            "duration_per_engine_s",
            serde_json::json!(cfg.duration_per_engine.as_secs_f64()),
        ),
        ("rounds", serde_json::json!(cfg.rounds)),
        ("cold_starts", serde_json::json!(cfg.cold_starts)),
        ("instances", serde_json::json!(cfg.instances)),
        ("clock", serde_json::json!(cfg.clock.to_string())),
    ]);
    run.notes.extend(plugin.notes.iter().cloned());
    run.notes.extend(
        unavailable
            .iter()
            .map(|u| format!("{}: not measured: {}", u.name, u.reason)),
    );
    run.notes.push(format!(
        "harness: every engine's call is the same four phases (copy-in, execute, copy-out, free) on the same {}-byte input, timed by one loop: in this process for Wasmtime and wasmi (one clock read, {}), in a child process for V8 (Node's process.hrtime.bigint()) and Wasmer (its own build, CLOCK_MONOTONIC), their read cost in their rows' figures; the no-op column is each engine's floor, harness included",
        plugin.input.len(),
        fmt_ns(run.clock.read_cost_ns)
    ));
    run.notes.push(format!(
        "cold start: a module made again from its bytes each time (validate, compile or translate, instantiate, first call), {} per engine, interleaved across engines; the engine itself (Wasmtime's Engine, the Node process, Wasmer's Engine) is made outside the timing and not counted. V8 compiles lazily: much of its compiling falls in the first call",
        cfg.cold_starts
    ));
    if let Some(s) = &m.stopped {
        run.notes.push(s.clone());
        run.incomplete = true;
    }
    failures.sort_by(|a, b| a.variant.cmp(&b.variant));
    run.failures = failures;
    run.engines = Some(Engines {
        reference: plugin.reference_name.into(),
        cold_starts: cfg.cold_starts,
        instances: cfg.instances,
        rows,
        break_even: breaks,
        unavailable,
    });
    run.headline = crate::run::headline::headline(&run);
    run
}

/// A variant's uninstrumented median per call.
fn call_ns(v: &Variant) -> f64 {
    v.uninstrumented.as_ref().map_or(f64::NAN, |u| u.median_ns)
}

/// Each cold start's whole time (its phases' sum).
fn wholes(samples: &[Vec<PhaseTime>]) -> Vec<f64> {
    samples
        .iter()
        .map(|s| s.iter().map(|p| p.ns).sum())
        .collect()
}

/// The median of each phase over the cold starts, in the first one's order.
fn phase_medians(samples: &[Vec<PhaseTime>]) -> Vec<PhaseTime> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|p| {
            let mut v: Vec<f64> = samples
                .iter()
                .filter_map(|s| s.iter().find(|q| q.phase == p.phase).map(|q| q.ns))
                .collect();
            PhaseTime {
                phase: p.phase,
                ns: median_of(&mut v),
            }
        })
        .collect()
}

/// A factor, as people say it: `40x`, `2.3x`; `1.04x` under 1.1.
fn times(x: f64) -> String {
    if x < 1.1 {
        format!("{x:.2}x")
    } else if x >= 10.0 {
        format!("{x:.0}x")
    } else {
        format!("{x:.1}x")
    }
}

/// A count of calls, rounded as a person would quote it.
fn calls(n: f64) -> String {
    let n = n.ceil();
    if n >= 100.0 {
        let step = 10f64.powi(n.log10().floor() as i32 - 1);
        format!("{:.0}", (n / step).round() * step)
    } else {
        format!("{n:.0}")
    }
}

/// Each engine weighed against Cranelift: who starts faster, who runs
/// faster, and when compiling first pays off.
fn break_evens(rows: &[EngineRow], plugin: &str) -> Vec<BreakEven> {
    let Some(c) = rows.iter().find(|r| r.engine == CRANELIFT) else {
        return Vec::new();
    };
    let Some(c_cold) = c.cold_start_ns else {
        return Vec::new();
    };
    // The file's name: a sentence reads badly with a whole path in it.
    let short = std::path::Path::new(plugin)
        .file_name()
        .map_or(plugin.into(), |f| f.to_string_lossy());
    let plugin = crate::text::Esc(&short);
    rows.iter()
        .filter(|r| r.engine != CRANELIFT && r.engine != "native")
        .filter_map(|r| {
            let cold = r.cold_start_ns?;
            // Paired where the pairs are there (cold start by cold start,
            // round by round), else the medians' ratio.
            let starts = r
                .cold_vs_cranelift
                .as_ref()
                .map_or(c_cold / cold, |p| 1.0 / p.ratio);
            let runs = r
                .vs_cranelift
                .as_ref()
                .map_or(r.call_ns / c.call_ns, |p| p.ratio);
            if !(starts.is_finite() && runs.is_finite()) {
                return None;
            }
            let e = &r.engine;
            // A paired interval that holds 1: neither runs faster.
            let level = r
                .vs_cranelift
                .as_ref()
                .is_some_and(|p| p.lo <= 1.0 && 1.0 <= p.hi);
            let (n, sentence) = match (starts >= 1.0, runs >= 1.0) {
                _ if level => (None, format!(
                    "{e} starts {} {} than Cranelift and runs {plugin} as fast, within noise (paired interval {:.2}x to {:.2}x): no break-even",
                    times(if starts >= 1.0 { starts } else { 1.0 / starts }),
                    if starts >= 1.0 { "faster" } else { "slower" },
                    r.vs_cranelift.as_ref().map_or(1.0, |p| p.lo),
                    r.vs_cranelift.as_ref().map_or(1.0, |p| p.hi),
                )),
                (true, true) => {
                    let n = break_even((cold, r.call_ns), (c_cold, c.call_ns));
                    (n, format!(
                        "{e} starts {} faster than Cranelift and runs {plugin} {} slower; break-even at ~{} calls per instance",
                        times(starts),
                        times(runs),
                        n.map_or("?".into(), calls)
                    ))
                }
                (true, false) => (None, format!(
                    "{e} starts {} faster than Cranelift and runs {plugin} {} faster: no break-even, it wins from the first call",
                    times(starts),
                    times(1.0 / runs)
                )),
                (false, false) => {
                    let n = break_even((c_cold, c.call_ns), (cold, r.call_ns));
                    (n, format!(
                        "{e} starts {} slower than Cranelift but runs {plugin} {} faster; it pays back after ~{} calls per instance",
                        times(1.0 / starts),
                        times(1.0 / runs),
                        n.map_or("?".into(), calls)
                    ))
                }
                (false, true) => (None, format!(
                    "{e} starts {} slower and runs {plugin} {} slower than Cranelift: Cranelift wins from the first call",
                    times(1.0 / starts),
                    times(runs)
                )),
            };
            Some(BreakEven {
                engine: e.clone(),
                against: CRANELIFT.into(),
                starts_faster: starts,
                runs_slower: runs,
                calls: n,
                sentence,
            })
        })
        .collect()
}

/// A paired ratio as a cell: `1.84x ±0.02`.
fn ratio_cell(r: &Option<PairedRatio>) -> String {
    r.as_ref().map_or("-".into(), |r| {
        format!("{:.2}x ±{:.2}", r.ratio, (r.hi - r.lo) / 2.0)
    })
}

/// The table: one row per engine, then the engines that did not run.
fn summary(rows: &[EngineRow], unavailable: &[Unavailable]) -> Summary {
    let phase = |r: &EngineRow, p: Phase| {
        r.cold_start
            .iter()
            .find(|q| q.phase == p)
            .map_or("-".into(), |q| fmt_ns(q.ns))
    };
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.engine.clone(),
                r.cold_start_ns.map_or("-".into(), fmt_ns),
                phase(r, Phase::Validate),
                phase(r, Phase::Compile),
                phase(r, Phase::Instantiate),
                phase(r, Phase::Call),
                fmt_ns(r.call_ns),
                ratio_cell(&r.vs_native),
                ratio_cell(&r.vs_cranelift),
                r.noop_call_ns.map_or("-".into(), fmt_ns),
                r.memory_per_instance_bytes
                    .map_or("-".into(), |b| fmt_bytes(b.max(0.0))),
            ]
        })
        .collect();
    table.extend(unavailable.iter().map(|u| {
        let mut row = vec![u.name.clone(), "not run (see notes)".into()];
        row.resize(11, String::new());
        row
    }));
    Summary {
        title: "each engine: cold start (median, split), call (uninstrumented median), paired ratios, no-op call, memory per instance".into(),
        columns: [
            "engine",
            "cold start",
            "validate",
            "compile",
            "instantiate",
            "first call",
            "call",
            "x native",
            "x cranelift",
            "no-op call",
            "mem/instance",
        ]
        .map(String::from)
        .to_vec(),
        rows: table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_calls_are_rounded_to_two_figures() {
        assert_eq!(calls(7.2), "8");
        assert_eq!(calls(1234.0), "1200");
        assert_eq!(calls(98765.0), "99000");
    }

    #[test]
    fn an_interpreter_that_starts_fast_and_runs_slow_has_a_break_even() {
        let row = |engine: &str, cold: f64, call: f64| EngineRow {
            engine: engine.into(),
            cold_start_ns: Some(cold),
            call_ns: call,
            ..EngineRow::default()
        };
        let rows = [
            row("cranelift", 40e6, 2e3),
            row("wasmi", 1e6, 18e3),
            row("winch", 80e6, 4e3),
        ];
        let b = break_evens(&rows, "p");
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0].sentence,
            "wasmi starts 40x faster than Cranelift and runs p 9.0x slower; break-even at ~2400 calls per instance"
        );
        assert_eq!(b[0].calls, Some(39e6 / 16e3));
        assert_eq!(
            b[1].sentence,
            "winch starts 2.0x slower and runs p 2.0x slower than Cranelift: Cranelift wins from the first call"
        );
    }
}
