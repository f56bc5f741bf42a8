//! `--driver-process`: the wasm variant's driver run again in a child
//! process, over the driver protocol, timed there by the same loop in the
//! same rounds, its raw stamps sent back.

use base64::Engine as _;
use serde_json::Value;

use super::{Beside, CHILD, HotPathConfig, summarise};
use crate::driver::child::protocol::Input;
use crate::driver::child::{ChildDriver, Program};
use crate::error::Error;
use crate::phase::Phase;
use crate::run::Pair;
use crate::timing::pairing::{paired_ratio, round_figures};
use crate::timing::rounds::Recording;
use crate::timing::settle::{Track, spans};

/// Starts wprof's own driver in a child process on the same plugin and
/// input, and checks that its first call returned what the in-process one
/// did, before anything is timed.
pub(super) fn open_child(
    cfg: &HotPathConfig,
    plugin: &crate::source::PluginBytes,
    export: &str,
    encoded: &[u8],
    value: Option<&Value>,
    scratch: &tempfile::TempDir,
    expected: &[u8],
) -> Result<ChildDriver, Error> {
    let fail = |e: anyhow::Error| {
        Error::plugin(
            &plugin.name,
            Phase::Instantiate,
            format!("--driver-process: {e:#}"),
        )
    };
    let path = scratch.path().join("plugin.wasm");
    std::fs::write(&path, &plugin.bytes)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    let input = match value {
        Some(v) => Input::Json(v.clone()),
        None => Input::Bytes(base64::engine::general_purpose::STANDARD.encode(encoded)),
    };
    let child = ChildDriver::open(
        &Program::wprof().map_err(fail)?,
        &path,
        export,
        input,
        &cfg.limits,
        cfg.clock,
        cfg.iterations,
        cfg.rounds,
    )
    .map_err(fail)?;
    if child.opened().output != expected {
        return Err(Error::plugin(
            &plugin.name,
            Phase::CopyOut,
            format!(
                "--driver-process: the child's first call returned {} bytes that differ from the in-process call's {}",
                child.opened().output.len(),
                expected.len()
            ),
        ));
    }
    Ok(child)
}

/// The child's variant and its pair with the in-process wasm variant
/// (`wasm_figures`, its per-round times), with a note on whether they agree.
pub(super) fn beside(
    c: &ChildDriver,
    rec: &Recording,
    ns_per_tick: f64,
    wasm_figures: &[f64],
    track: Track,
) -> Beside {
    let opened = c.opened();
    let mut variant = summarise::summarise(
        CHILD,
        format!(
            "the wasm variant's driver ({}, {}) in a {}: it ran the same rounds there and sent its raw stamps back over the driver protocol v{}",
            opened.driver.engine,
            opened.driver.abi,
            opened.driver.process,
            crate::driver::child::protocol::VERSION
        ),
        &opened.phases,
        rec,
        ns_per_tick,
    );
    variant.driver = Some(opened.driver.clone());
    variant.setup = opened.setup.clone();
    let ratio = paired_ratio(&round_figures(rec, ns_per_tick), wasm_figures);
    let note = ratio.as_ref().map(|ratio| {
        let agree = if (ratio.lo..=ratio.hi).contains(&1.0) {
            "they agree within noise (the interval holds 1)"
        } else {
            "they differ beyond noise"
        };
        format!(
            "driver process: {CHILD} against wasm in process, uninstrumented per call, paired by round: {:.3}x (95 % interval {:.3} to {:.3}, {} rounds): {agree}",
            ratio.ratio, ratio.lo, ratio.hi, ratio.rounds
        )
    });
    Beside {
        variant,
        spans: spans(rec.rows(), &opened.phases, track),
        pair: ratio.map(|ratio| Pair {
            subject: CHILD.to_owned(),
            baseline: "wasm".to_owned(),
            ratio,
        }),
        note,
    }
}
