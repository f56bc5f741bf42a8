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
use crate::run::{ClockInfo, Pair};
use crate::timing::pairing::{paired_ratio, round_figures};
use crate::timing::rounds::Recording;
use crate::timing::settle::{Track, spans};

/// The variant Extism's own runtime (the Rust SDK driver) is measured as.
pub const SDK: &str = "extism-sdk";

/// The variant Extism's runtime through its C API (libextism) is measured
/// as.
pub const LIB: &str = "libextism";

/// A driver in a child process, timed beside the in-process plugin.
pub(super) struct Kid {
    /// Its variant's name.
    pub(super) name: &'static str,
    /// Who it is, in the variant's description.
    who: &'static str,
    /// The running driver.
    pub(super) driver: ChildDriver,
}

/// Starts the drivers in child processes this run times beside the
/// plugin: wprof's own (`--driver-process`) and, for an Extism plugin,
/// Extism's own runtime where its driver is built. Each first call must
/// return what the in-process one did. wprof's own failing fails the run;
/// the SDK failing is a note, as the SDK not being built is.
pub(super) fn open_children(
    cfg: &HotPathConfig,
    plugin: &crate::source::PluginBytes,
    (export, extism): (&str, bool),
    (encoded, value): (&[u8], Option<&Value>),
    scratch: &tempfile::TempDir,
    expected: &[u8],
    notes: &mut Vec<String>,
) -> Result<Vec<Kid>, Error> {
    let mut kids = Vec::new();
    let sdk = (extism && cfg.extism_sdk).then(Program::extism_sdk);
    let lib = (extism && cfg.extism_sdk).then(Program::libextism);
    if !cfg.driver_process && sdk.is_none() {
        return Ok(kids);
    }
    let path = scratch.path().join("plugin.wasm");
    std::fs::write(&path, &plugin.bytes)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    let input = match value {
        Some(v) => Input::Json(v.clone()),
        None => Input::Bytes(base64::engine::general_purpose::STANDARD.encode(encoded)),
    };
    let open = |program: &Program| {
        let child = ChildDriver::open(
            program,
            &path,
            export,
            input.clone(),
            &cfg.limits,
            cfg.clock,
            cfg.iterations,
            cfg.rounds,
        )
        .map_err(|e| (Phase::Instantiate, format!("{e:#}")))?;
        if child.opened().output != expected {
            return Err((
                Phase::CopyOut,
                format!(
                    "its first call returned {} bytes that differ from the in-process call's {}",
                    child.opened().output.len(),
                    expected.len()
                ),
            ));
        }
        Ok(child)
    };
    if cfg.driver_process {
        let program = Program::wprof().map_err(|e| {
            Error::plugin(
                &plugin.name,
                Phase::Instantiate,
                format!("--driver-process: {e:#}"),
            )
        })?;
        let driver = open(&program).map_err(|(phase, why)| {
            Error::plugin(&plugin.name, phase, format!("--driver-process: {why}"))
        })?;
        kids.push(Kid {
            name: CHILD,
            who: "the wasm variant's driver",
            driver,
        });
    }
    match sdk {
        Some(Some(program)) => match open(&program) {
            Ok(driver) => kids.push(Kid {
                name: SDK,
                who: "Extism's own runtime, the Rust SDK (its kernel a wasm module with its own allocator)",
                driver,
            }),
            Err((phase, why)) => notes.push(format!(
                "{SDK}: not measured: Extism's own runtime failed in {phase}: {why}; the figures are wprof's Extism host alone"
            )),
        },
        Some(None) => notes.push(format!(
            "{SDK}: not measured: the Extism SDK driver is not built, so the figures are wprof's Extism host design (its kernel on the host side, a bump allocator), not Extism's own runtime; build it with scripts/build-extism-sdk-driver"
        )),
        None => {}
    }
    match lib {
        Some(Some(program)) => match open(&program) {
            Ok(driver) => kids.push(Kid {
                name: LIB,
                who: "Extism's runtime through libextism, its C API, the library every other Extism SDK wraps (its newest release)",
                driver,
            }),
            Err((phase, why)) => notes.push(format!(
                "{LIB}: not measured: libextism failed in {phase}: {why}"
            )),
        },
        Some(None) => notes.push(format!(
            "{LIB}: not measured: libextism (Extism's runtime through its C API, from the extism-sys wheel) is not there; scripts/build-extism-sdk-driver fetches it, with the Extism SDK driver that loads it"
        )),
        None => {}
    }
    Ok(kids)
}

/// The child's variant and its pair with the in-process wasm variant
/// (`wasm_figures`, its per-round times), with a note on whether they agree.
pub(super) fn beside(
    kid: &Kid,
    rec: &Recording,
    clock: (&ClockInfo, &ClockInfo),
    wasm_figures: &[f64],
    track: Track,
) -> Beside {
    let (name, c) = (kid.name, &kid.driver);
    let (mine, run) = clock;
    let ns_per_tick = mine.ns_per_tick;
    let opened = c.opened();
    let mut variant = summarise::summarise(
        name,
        format!(
            "{} ({}, {}) in a {}: it ran the same rounds there and sent its raw stamps back over the driver protocol v{}",
            kid.who,
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
            "driver process: {name} against wasm in process, uninstrumented per call, paired by round: {:.3}x (95 % interval {:.3} to {:.3}, {} rounds): {agree}",
            ratio.ratio, ratio.lo, ratio.hi, ratio.rounds
        )
    });
    Beside {
        variant,
        // Stamps on another clock than the run's land on its timeline only
        // where the track's origin was moved onto theirs (monotonic).
        spans: if mine.name == run.name
            || mine.name == <crate::timing::Monotonic as crate::timing::Clock>::NAME
        {
            spans(rec.rows(), &opened.phases, track)
        } else {
            Vec::new()
        },
        pair: ratio.map(|ratio| Pair {
            subject: name.to_owned(),
            baseline: "wasm".to_owned(),
            ratio,
        }),
        note,
    }
}

/// Why a host-side kernel loses on large inputs, when a call moved its
/// bytes with many kernel calls (`moves`, counted around the checked first
/// call): the report's reason, with the count.
pub(super) fn kernel_note(moves: u64) -> Option<String> {
    (moves >= 1000).then(|| format!(
        "extism kernel: one call moved its bytes with {moves} kernel calls (extism-pdk loads and stores kernel memory 8 bytes a call); on wprof's host each is a call from wasm into the host, in Extism's runtime a call into its kernel, itself a wasm module: a host-side kernel pays a host call per 8 bytes, which is where {SDK} gains on large inputs"
    ))
}
