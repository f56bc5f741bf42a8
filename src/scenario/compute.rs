//! `wprof record compute`: the reference study's "when WASM is faster" case, a
//! Gaussian blur of a 1920x1080 image, as one Rust source (plugins/blur)
//! run natively, in wasm built with SIMD128 (plugins/blur-simd) and in wasm
//! without it. Every output is checked byte for byte against native's.

use serde_json::json;

use super::runner::{Native, Runner, Runs};
use crate::driver::call::{PluginCall, Raw};
use crate::driver::wasmtime::WasmtimeDriver;
use crate::driver::wprof::Wprof;
use crate::driver::{Driver, Limits};
use crate::error::{Error, at};
use crate::phase::Phase;
use crate::run::{Run, Variant};
use crate::timing::Clock;
use crate::timing::settle::named;

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "compute";

/// Where the two builds come from, as the run names them.
const SOURCES: &str = "bundled:blur, bundled:blur-simd";

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
    /// How long each variant is measured, and on what clock. Default: 1 s once
    /// there are 5 calls, at most 1000, 5 traced.
    pub runs: Runs,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            width: 1920,
            height: 1080,
            runs: Runs::new(1000, 5, 1000, 5),
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

super::runner::boundary!(ComputeConfig, run_with);

fn run_with<C: Clock>(clock: C, cfg: &ComputeConfig) -> Result<Run, Error> {
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
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let mut runner = Runner::new(&clock, cfg.runs.budget());
    let native = Native::new(
        || {
            blur::blur_bytes(std::hint::black_box(&input))
                .map_err(|e| at(Phase::Execute)(anyhow::anyhow!("native: {e}")))
        },
        Vec::clone,
    );
    runner.reference(
        name,
        named(
            "native",
            "native: the blur source compiled for this CPU by rustc (x86-64 baseline, its SSE2 vectorised), on the image in place",
        ),
        native,
    )?;
    let out_len = runner.expected().map_or(0, |o| o.len() as u64);

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
        let driver = WasmtimeDriver::<Wprof>::default();
        let module = driver.load(label, bytes, &mut setup)?;
        let mut v = named(label, description);
        v.module_bytes = Some(bytes.len() as u64);
        runner.way(
            v,
            || {
                let instance = driver.instantiate(&module, "blur", &cfg.limits)?;
                Ok(PluginCall::new(instance, Raw(&input)))
            },
            |_, _| {},
        );
    }

    let mut run = super::new_run(NAME);
    let in_len = input.len() as u64;
    run.plugin = super::plugin_info(name, SOURCES, SIMD_WASM, "blur", in_len, out_len);
    run.settings = super::settings([("image", json!(format!("{}x{}", cfg.width, cfg.height)))]);
    let moved = (input.len() as u64, out_len);
    runner.finish_runs(&mut run, &cfg.runs, setup, |_| moved);
    let (summary, verdicts) = conclude(&run.variants, &run.pairs, (cfg.width, cfg.height));
    run.summary = summary;
    run.verdicts = verdicts;
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

fn conclude(
    variants: &[Variant],
    pairs: &[crate::run::Pair],
    image: (u32, u32),
) -> (Option<crate::run::Summary>, Vec<String>) {
    let fmt = crate::units::fmt_ns;
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
        // The whole call is what rounds pair: a phase has no paired ratio.
        let paired = pairs
            .iter()
            .find(|p| p.subject == name && p.baseline == "native")
            .map(|p| p.ratio.ratio);
        rows.push(vec![
            name.to_owned(),
            fmt(exec),
            fmt(call),
            format!("{:.2}x", exec / native),
            paired.map_or("-".into(), |r| format!("{r:.2}x")),
        ]);
        if name != "native" {
            verdicts.push(format!(
                "{name}: the blur runs in {} against native's {}: {:.2}x native's time ({}){}",
                fmt(exec),
                fmt(native),
                exec / native,
                if exec < native { "faster" } else { "slower" },
                paired.map_or(String::new(), |r| format!(
                    "; the whole call {r:.2}x native's, paired by round"
                ))
            ));
        }
    }
    if let (Some(simd), Some(scalar)) = (
        p50(variants, "wasm-simd", Phase::Execute),
        p50(variants, "wasm-scalar", Phase::Execute),
    ) {
        verdicts.push(format!(
            "SIMD128 makes the wasm blur {:.2}x faster than without ({} against {}){}",
            scalar / simd,
            fmt(simd),
            fmt(scalar),
            // The study blurred a 1920x1080 image: its figure is quoted for one.
            if image == crate::study::BLUR_IMAGE {
                format!(
                    "; {}'s {}x was wasm SIMD against pure Elixir, not against native Rust",
                    crate::study::NAME,
                    crate::study::BLUR_WASM_OVER_ELIXIR
                )
            } else {
                String::new()
            }
        ));
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: "median: the blur alone (execute), the whole call, and the blur against native's"
            .into(),
        columns: [
            "variant",
            "execute",
            "call",
            "execute / native",
            "call / native, paired",
        ]
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
