//! `wprof record compute`: the seed study's "when WASM is faster" case, a
//! Gaussian blur of a 1920x1080 image, as one Rust source (plugins/blur)
//! run natively, in wasm built with SIMD128 (plugins/blur-simd) and in wasm
//! without it. Every output is checked byte for byte against native's.

use std::time::Instant;

use serde_json::json;
use wasmtime::Engine;

use super::hot_path::{Marks, Target};
use super::timed::{Budget, Recorded, Timed, named, settle, time_target};
use crate::error::{Error, one_line};
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{Run, Variant};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "compute";

/// The blur built without SIMD.
pub const SCALAR_WASM: &[u8] = include_bytes!("../../plugins/blur/blur.wasm");
/// The same source built with SIMD128.
pub const SIMD_WASM: &[u8] = include_bytes!("../../plugins/blur-simd/blur-simd.wasm");

/// Settings of `wprof record compute`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeConfig {
    /// Image width in pixels. Default: 1920.
    pub width: u32,
    /// Image height in pixels. Default: 1080.
    pub height: u32,
    /// How long each variant is measured once it has `min_calls`.
    /// Default: 1 s.
    pub time_per_variant: std::time::Duration,
    /// Fewest measured calls per variant. Default: 5.
    pub min_calls: u64,
    /// Most measured calls per variant. Default: 1000.
    pub max_calls: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace. Default: 5.
    pub trace_calls: u64,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            width: 1920,
            height: 1080,
            time_per_variant: std::time::Duration::from_secs(1),
            min_calls: 5,
            max_calls: 1000,
            clock: ClockChoice::Auto,
            trace_calls: 5,
            limits: Limits::default(),
        }
    }
}

/// Parses `WIDTHxHEIGHT`, e.g. `1920x1080`.
pub fn parse_dimensions(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("image size `{s}`: expected WIDTHxHEIGHT, e.g. 1920x1080");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 || (w as u64) * (h as u64) > 100_000_000 {
        return Err(format!("image size `{s}`: from 1x1 to 100 megapixels"));
    }
    Ok((w, h))
}

/// An image: smooth gradients with noise, the same on every run.
pub fn image(w: u32, h: u32) -> Vec<u8> {
    let mut rng = crate::stats::Rng::new(0xb1u64 ^ ((w as u64) << 32 | h as u64));
    let mut v = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let noise = rng.next_u64();
            v.push(((x * 255 / w.max(1)) as u8).wrapping_add(noise as u8 & 0x1f));
            v.push(((y * 255 / h.max(1)) as u8).wrapping_add((noise >> 8) as u8 & 0x1f));
            v.push(((x + y) as u8).wrapping_add((noise >> 16) as u8 & 0x1f));
            v.push(255);
        }
    }
    v
}

struct Native<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl Target for Native<'_> {
    const PHASES: &'static [Phase] = &[Phase::Execute];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let out = blur::blur_bytes(std::hint::black_box(self.input))
            .map_err(|e| at(Phase::Execute)(anyhow::anyhow!("native: {e}")))?;
        m.mark(1);
        self.output = out;
        Ok(())
    }
}

struct Wasm<'a> {
    plugin: Plugin,
    input: &'a [u8],
}

impl Target for Wasm<'_> {
    const PHASES: &'static [Phase] = &[Phase::CopyIn, Phase::Execute, Phase::CopyOut, Phase::Free];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let buf = self.plugin.copy_in(self.input)?;
        m.mark(1);
        let packed = self.plugin.execute(buf)?;
        m.mark(2);
        let out = self.plugin.copy_out(packed)?;
        m.mark(3);
        self.plugin.free(out)?;
        m.mark(4);
        Ok(())
    }
}

/// Runs the compute scenario.
pub fn run(cfg: &ComputeConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock>(clock: C, cfg: &ComputeConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let name = "blur";
    let pixels = image(cfg.width, cfg.height);
    // Input, the blurred image and a scratch copy live in linear memory.
    let needs = 3 * pixels.len() as u64 + 8;
    if let Some(limit) = cfg.limits.memory_bytes
        && needs > limit as u64
    {
        return Err(Error::Config(format!(
            "a {}x{} image needs about {needs} bytes of linear memory, over the {} MiB limit (raise --memory-limit)",
            cfg.width,
            cfg.height,
            limit >> 20
        )));
    }
    let input = blur::encode(cfg.width, cfg.height, &pixels);
    let budget = Budget {
        min: cfg.min_calls,
        max: cfg.max_calls,
        time: cfg.time_per_variant,
    };
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);

    let mut recorded: Vec<Recorded> = Vec::new();
    let mut failures = Vec::new();
    let mut native = Native {
        input: &input,
        output: Vec::new(),
    };
    let t = time_target(&clock, &mut native, 2, budget).map_err(|e| e.into_error(name))?;
    recorded.push(Recorded::new(
        named(
            "native",
            "native: the blur source compiled for this CPU by rustc (x86-64 baseline, its SSE2 vectorised), on the image in place",
        ),
        t,
        Native::PHASES,
    ));
    let expected = native.output;

    let mut setup = Vec::new();
    for (label, bytes, description) in [
        (
            "wasm-simd",
            SIMD_WASM,
            "wasm with SIMD128 (blur-simd.wasm: the same source, its kernel compiled with simd128), Cranelift",
        ),
        (
            "wasm-scalar",
            SCALAR_WASM,
            "wasm without SIMD (blur.wasm), Cranelift",
        ),
    ] {
        let engine = Engine::default();
        let loaded = host::load(label, &engine, bytes, Vec::new())?;
        setup.extend(loaded.setup.iter().cloned());
        let result = (|| -> Result<Timed, CallError> {
            let plugin = Plugin::limited(&engine, &loaded.module, "blur", cfg.limits.clone())
                .map_err(at(Phase::Instantiate))?;
            let mut w = Wasm {
                plugin,
                input: &input,
            };
            let same = |w: &Wasm| -> Result<(), CallError> {
                if w.plugin.output == expected {
                    Ok(())
                } else {
                    Err(at(Phase::CopyOut)(anyhow::anyhow!(
                        "the blurred image differs from native's in {} of {} bytes",
                        w.plugin
                            .output
                            .iter()
                            .zip(&expected)
                            .filter(|(a, b)| a != b)
                            .count()
                            + w.plugin.output.len().abs_diff(expected.len()),
                        expected.len()
                    )))
                }
            };
            w.call()?;
            same(&w)?;
            let t = time_target(&clock, &mut w, Wasm::PHASES.len() + 1, budget)?;
            same(&w)?;
            Ok(t)
        })();
        match result {
            Ok(t) => {
                let mut v = named(label, description);
                v.module_bytes = Some(bytes.len() as u64);
                recorded.push(Recorded::new(v, t, Wasm::PHASES));
            }
            Err(e) => failures.push(crate::run::Failure {
                variant: label.to_owned(),
                phase: e.phase,
                cause: one_line(&e.error),
            }),
        }
    }

    let moved = (input.len() as u64, expected.len() as u64);
    let (variants, timeline) = settle(recorded, clock.ns_per_tick(), cfg.trace_calls, |_| moved);
    let (summary, verdicts) = conclude(&variants);

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(
        name,
        "bundled:blur, bundled:blur-simd",
        SIMD_WASM,
        "blur",
        input.len() as u64,
        expected.len() as u64,
    );
    run.plugin.outputs_identical = Some(failures.is_empty());
    run.settings = super::settings([
        ("image", json!(format!("{}x{}", cfg.width, cfg.height))),
        (
            "time_per_variant",
            json!(humantime::format_duration(cfg.time_per_variant).to_string()),
        ),
        ("min_calls", json!(cfg.min_calls)),
        ("max_calls", json!(cfg.max_calls)),
    ]);
    run.setup = setup;
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.summary = summary;
    run.verdicts = verdicts;
    run.failures = failures;
    run.notes.push(format!(
        "a separable 5-tap binomial blur ([1 4 6 4 1] / 16, rows then columns, integer, edges clamped) of a {}x{} RGBA image; each wasm output is compared with native's byte for byte, before and after timing",
        cfg.width, cfg.height
    ));
    Ok(run)
}

fn p50(variants: &[Variant], name: &str, phase: Phase) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)?
        .phase(phase)
        .map(|p| p.stats.p50_ns)
}

fn conclude(variants: &[Variant]) -> (Option<crate::run::Summary>, Vec<String>) {
    let fmt = super::super::export::fmt_ns;
    let Some(native) = p50(variants, "native", Phase::Execute) else {
        return (None, Vec::new());
    };
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for name in ["native", "wasm-simd", "wasm-scalar"] {
        let (Some(exec), Some(call)) = (
            p50(variants, name, Phase::Execute),
            p50(variants, name, Phase::Call),
        ) else {
            continue;
        };
        rows.push(vec![
            name.to_owned(),
            fmt(exec),
            fmt(call),
            format!("{:.2}x", exec / native),
        ]);
        if name != "native" {
            verdicts.push(format!(
                "{name}: the blur runs in {} against native's {}: {:.2}x native's time ({})",
                fmt(exec),
                fmt(native),
                exec / native,
                if exec < native { "faster" } else { "slower" }
            ));
        }
    }
    if let (Some(simd), Some(scalar)) = (
        p50(variants, "wasm-simd", Phase::Execute),
        p50(variants, "wasm-scalar", Phase::Execute),
    ) {
        verdicts.push(format!(
            "SIMD128 makes the wasm blur {:.2}x faster than without ({} against {}); the seed's 7.6x was wasm SIMD against pure Elixir, not against native Rust",
            scalar / simd,
            fmt(simd),
            fmt(scalar)
        ));
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: "median: the blur alone (execute), the whole call, and the blur against native's"
            .into(),
        columns: ["variant", "execute", "call", "execute / native"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    (summary, verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_parse_and_refuse_nonsense() {
        assert_eq!(parse_dimensions("1920x1080").unwrap(), (1920, 1080));
        assert_eq!(parse_dimensions("64X48").unwrap(), (64, 48));
        assert!(
            parse_dimensions("1920")
                .unwrap_err()
                .contains("WIDTHxHEIGHT")
        );
        assert!(parse_dimensions("0x10").unwrap_err().contains("from 1x1"));
        assert!(
            parse_dimensions("20000x20000")
                .unwrap_err()
                .contains("100 megapixels")
        );
    }
}
