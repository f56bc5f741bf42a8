//! `--baseline`: another build of the plugin, timed in the same rounds as
//! the plugin itself. The change between the two builds is then one ratio
//! per round, which a machine that changes speed moves on both sides
//! alike: two runs in separate processes on a shared VM differ by 5 to
//! 15 % with nothing changed (scripts/noise-check), too much to see a
//! 10 % change reliably.

use serde_json::Value;

use super::{Beside, summarise};
use crate::driver::Limits;
use crate::driver::wasmtime::Abi;
use crate::error::Error;
use crate::phase::Phase;
use crate::run::{Pair, PhaseTime};
use crate::scenario::Prepared;
use crate::source::PluginSpec;
use crate::timing::pairing::paired_ratio;
use crate::timing::rounds::Recording;
use crate::timing::settle::{Track, spans};

/// The variant the baseline build is measured as.
pub const BASELINE: &str = "baseline";

/// Loads and instantiates the baseline build on the plugin's calling
/// convention, export and input, and proves with one guarded call that it
/// returns. A different output is a warning in `notes`, not an error: a new
/// build may answer differently on purpose.
pub(super) fn open<A: Abi>(
    spec: &PluginSpec,
    export: &str,
    (encoded, value): (&[u8], Option<&Value>),
    limits: &Limits,
    expected: &[u8],
    notes: &mut Vec<String>,
) -> Result<Prepared<A>, Error> {
    let plugin = spec.resolve().map_err(named)?;
    let abi = crate::kind::abi(&plugin.bytes);
    if abi != A::KIND {
        return Err(named(Error::plugin(
            &plugin.name,
            Phase::Validate,
            format!(
                "its calling convention is {abi:?}, the plugin's is {}: a baseline is another build of the same plugin",
                A::NAME
            ),
        )));
    }
    let p = crate::scenario::prepare_with::<A>(plugin, Some(export), limits, |_| {
        Ok((encoded.to_vec(), value.cloned()))
    })
    .map_err(named)?;
    if p.first.output != expected {
        notes.push(format!(
            "warning: the baseline ({}) returned {} bytes that differ from the plugin's {}: the builds do not do the same work",
            p.plugin.name,
            p.first.output.len(),
            expected.len()
        ));
    }
    Ok(p)
}

/// Says that a plugin's error is the baseline's.
fn named(e: Error) -> Error {
    match e {
        Error::Plugin {
            plugin,
            phase,
            cause,
            backtrace,
        } => Error::Plugin {
            plugin: format!("{plugin} (--baseline)"),
            phase,
            cause,
            backtrace,
        },
        other => other,
    }
}

/// How the report describes the baseline variant.
pub(super) fn description<A: Abi>(p: &Prepared<A>) -> String {
    format!(
        "the baseline build {} (sha256 {}), on the same engine, calling convention and input, timed in the same rounds",
        p.plugin.source,
        &crate::scenario::sha256(&p.plugin.bytes)[..12]
    )
}

/// The baseline's variant (`description` and load `setup` from [`open`])
/// and the plugin's pair with it (`figures`: the plugin's per-round times,
/// then the baseline's).
pub(super) fn beside(
    (description, setup): (&str, &[PhaseTime]),
    phases: &[Phase],
    rec: &Recording,
    ns_per_tick: f64,
    (wasm_figures, base_figures): (&[f64], &[f64]),
    track: Track,
) -> Beside {
    let mut variant =
        summarise::summarise(BASELINE, description.to_owned(), phases, rec, ns_per_tick);
    variant.setup = setup.to_vec();
    Beside {
        variant,
        spans: spans(rec.rows(), phases, track),
        pair: paired_ratio(wasm_figures, base_figures).map(|ratio| Pair {
            subject: "wasm".to_owned(),
            baseline: BASELINE.to_owned(),
            ratio,
        }),
        note: None,
    }
}
