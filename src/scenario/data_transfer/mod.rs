//! `wprof record data-transfer`: what crossing the host-guest boundary
//! costs as the payload grows (the reference study's Scenario 4), way by way.
//!
//! One processing function, a checksum of the payload (the bundled
//! `transfer` plugin, plugins/transfer), runs natively on the bytes in place
//! and in wasm behind each way of getting them across: raw bytes, JSON with
//! base64 (the reference study's way), MessagePack, and a host function the guest calls
//! to pull the bytes into its own memory. Beside each figure stands the
//! physical floor: one copy of the payload into linear memory, measured the
//! same way. Each (way, size) is its own variant with its own instance, so
//! its linear memory afterwards is the most that way needed.

mod verdicts;
mod ways;

use std::fmt;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::json;

use self::verdicts::{derive_facts, summary, variant, verdicts};
use self::ways::{ComponentWay, Floor, Wasm, WayCodec, component_way, encoded_len, phases_of};
use super::runner::{Native, Runner, Runs};
use crate::driver::wasmtime::WasmtimeDriver;
use crate::driver::wprof::Wprof;
use crate::driver::wprof_host::{HostData, linker};
use crate::driver::{Driver, Instance, Limits};
use crate::error::{Error, one_line};
use crate::phase::Phase;
use crate::run::Run;
use crate::timing::Clock;
use crate::timing::settle::project;
use crate::timing::target::Target;
use crate::units::size_label;

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "data-transfer";

/// The plugin every way calls (plugins/transfer).
pub const PLUGIN_WASM: &[u8] = include_bytes!("../../../plugins/transfer/transfer.wasm");

/// The same checksum as a component (plugins/transfer-component).
pub const COMPONENT_WASM: &[u8] =
    include_bytes!("../../../plugins/transfer-component/transfer-component.wasm");

/// A way of getting the payload across the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Way {
    /// The payload's bytes copied into linear memory as the input; the
    /// checksum back as 8 bytes.
    Raw,
    /// `{"data": "<base64>"}` in, `{"checksum": n}` out (the reference study's way).
    Json,
    /// The same records in MessagePack, the payload as a `bin`.
    Msgpack,
    /// The guest pulls the payload through the host function
    /// `wprof_host.read_input` into its own buffer; no codec.
    HostFn,
    /// The component model: the same checksum behind a WIT interface
    /// (`checksum: func(data: list<u8>) -> u64`), called through Wasmtime's
    /// component API; the canonical ABI lowers the list and lifts the u64.
    Component,
}

impl Way {
    /// Every way, in the order reported.
    pub const ALL: [Way; 5] = [
        Way::Raw,
        Way::Json,
        Way::Msgpack,
        Way::HostFn,
        Way::Component,
    ];

    fn export(self) -> &'static str {
        match self {
            Way::Raw => "checksum_raw",
            Way::Json => "checksum_json",
            Way::Msgpack => "checksum_msgpack",
            Way::HostFn => "checksum_pull",
            Way::Component => "checksum",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Way::Raw => {
                "raw bytes: wprof_alloc + one copy into linear memory, no codec; the checksum back as 8 bytes"
            }
            Way::Json => {
                "JSON with the payload in base64 (the reference study's way): encoded by the host, parsed and decoded by the guest; answer {\"checksum\": n}"
            }
            Way::Msgpack => {
                "MessagePack (rmp-serde), the payload as a bin: encoded by the host, parsed by the guest"
            }
            Way::HostFn => {
                "host function: called with the length only; the guest pulls the payload into its own buffer through wprof_host.read_input (the copy is inside execute), no codec"
            }
            Way::Component => {
                "component model: checksum(list<u8>) -> u64 behind a WIT interface (transfer-component.wasm, built for wasm32-wasip2), called through Wasmtime's typed component API; lower (cabi_realloc + copy of the list) and lift (the u64, then Wasmtime's post-return) split from execute by a call hook at the export's entry and exit"
            }
        }
    }
}

impl fmt::Display for Way {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Way::Raw => "raw",
            Way::Json => "json",
            Way::Msgpack => "msgpack",
            Way::HostFn => "host-fn",
            Way::Component => "component",
        })
    }
}

impl FromStr for Way {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Way::ALL
            .into_iter()
            .find(|w| w.to_string() == s)
            .ok_or_else(|| {
                format!("unknown way `{s}` (expected raw, json, msgpack, host-fn or component)")
            })
    }
}

/// Settings of `wprof record data-transfer`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTransferConfig {
    /// Payload sizes in bytes. Default: 100 B, 10 KB, 1 MB, 10 MB (the reference study's).
    pub sizes: Vec<u64>,
    /// Ways to measure. Default: all of [`Way::ALL`].
    pub ways: Vec<Way>,
    /// How long each (way, size) is measured, and on what clock. Default: 300 ms
    /// once there are 10 calls, at most 100 000, 5 traced.
    pub runs: Runs,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for DataTransferConfig {
    fn default() -> Self {
        DataTransferConfig {
            sizes: vec![100, 10_000, 1_000_000, 10_000_000],
            ways: Way::ALL.to_vec(),
            runs: Runs::new(300, 10, 100_000, 5),
            limits: Limits::default(),
        }
    }
}

/// The most linear memory a way needs, as a multiple of the payload (JSON:
/// the base64 input, 4/3, plus the decoded bytes, plus allocator slack).
const NEEDS_PER_BYTE: u64 = 3;

/// A payload of `n` bytes: the same pseudo-random bytes on every run.
pub fn payload(n: u64) -> Vec<u8> {
    let mut rng = crate::stats::Rng::new(0x5eed_da7a ^ n);
    let mut v = Vec::with_capacity(n as usize);
    while (v.len() as u64) < n {
        let x = rng.next_u64().to_le_bytes();
        let take = ((n as usize) - v.len()).min(8);
        v.extend_from_slice(&x[..take]);
    }
    v
}

super::runner::boundary!(DataTransferConfig, run_with);

fn run_with<C: Clock>(clock: C, cfg: &DataTransferConfig) -> Result<Run, Error> {
    let name = "transfer";
    if cfg.sizes.is_empty() || cfg.ways.is_empty() {
        return Err(Error::Config(
            "no payload sizes or no ways to measure".into(),
        ));
    }
    if let Some(limit) = cfg.limits.memory_bytes {
        for &size in &cfg.sizes {
            if size.saturating_mul(NEEDS_PER_BYTE) > limit as u64 {
                return Err(Error::Config(format!(
                    "payload size {} ({size} bytes) is too large for the {} MiB linear-memory limit: the JSON way needs up to {NEEDS_PER_BYTE}x the payload in linear memory (raise --memory-limit or give smaller --sizes)",
                    size_label(size),
                    limit >> 20
                )));
            }
        }
    }
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let driver = WasmtimeDriver::<Wprof>::default();
    let engine = driver.engine().clone();
    let mut setup = Vec::new();
    let module = driver.load(name, PLUGIN_WASM, &mut setup)?;
    let component = if cfg.ways.contains(&Way::Component) {
        Some(
            crate::driver::timed(&mut setup, Phase::Compile, || {
                wasmtime::component::Component::from_binary(&engine, COMPONENT_WASM)
            })
            .map_err(|e| {
                Error::plugin(
                    "transfer-component",
                    Phase::Compile,
                    one_line(&anyhow::Error::from(e)),
                )
            })?,
        )
    } else {
        None
    };

    let mut runner = Runner::new(&clock, cfg.runs.budget());
    // Native and the floor at each size, then each way.
    runner.plan(cfg.sizes.len() * (cfg.ways.len() + 2));
    let mut notes = Vec::new();
    let mut interrupted = false;
    'sizes: for &size in &cfg.sizes {
        let data: Arc<[u8]> = payload(size).into();
        let label = size_label(size);

        // Native: the checksum on the bytes in place, the reference.
        // black_box on the result too: the checksum is pure, and would
        // otherwise be free to move past the clock read.
        // Its own handle on the bytes: the runner keeps it to time between
        // the ways' rounds.
        let own = Arc::clone(&data);
        let native = Native::new(
            move || Ok(black_box(transfer::checksum(black_box(&own)))),
            |c: &u64| *c,
        );
        runner.reference(
            name,
            variant(
                format!("native {label}"),
                "native: the same checksum (the plugin's source, linked into wprof) on the payload in place",
                "native",
                size,
            ),
            native,
        )?;

        // The floor: one copy into linear memory, nothing to check.
        let host_data = HostData {
            payload: data.clone(),
            ..HostData::default()
        };
        runner.unchecked(
            variant(
                format!("floor {label}"),
                "the physical floor: one copy of the payload into a guest buffer (memory.write), nothing else",
                "floor",
                size,
            ),
            || {
                let link = linker(&engine, &host_data)?;
                let mut plugin = WasmtimeDriver::<Wprof>::instantiate_linked(
                    &link,
                    &module,
                    Way::Raw.export(),
                    &cfg.limits,
                )?;
                let buf = plugin.alloc(size as i32)?;
                Ok(Floor {
                    plugin,
                    buf,
                    data: &data,
                })
            },
        );

        for &way in &cfg.ways {
            if crate::interrupt::requested() {
                notes.push(crate::interrupt::note(&format!("before {way} {label}")));
                interrupted = true;
                break 'sizes;
            }
            let v = variant(
                format!("{way} {label}"),
                way.description(),
                &way.to_string(),
                size,
            );
            if let (Way::Component, Some(component)) = (way, &component) {
                runner.way(
                    v,
                    || component_way(&engine, component, clock, &data, cfg.limits.clone()),
                    |_: &ComponentWay, _| {},
                );
                continue;
            }
            let host_data = HostData {
                payload: data.clone(),
                ..HostData::default()
            };
            let initial = std::cell::Cell::new(0u64);
            runner.way(
                v,
                || {
                    let link = linker(&engine, &host_data)?;
                    let plugin = WasmtimeDriver::<Wprof>::instantiate_linked(
                        &link,
                        &module,
                        way.export(),
                        &cfg.limits,
                    )?;
                    let _ = host_data.memory.set(plugin.memory());
                    initial.set(plugin.linear_memory().map_or(0, |m| m.1) as u64);
                    Ok(Wasm {
                        instance: plugin,
                        codec: WayCodec {
                            way,
                            data: &data,
                            last: 0,
                        },
                        // Sized once, up front: a buffer grown by doubling
                        // would hold up to twice the input.
                        encoded: Vec::with_capacity(encoded_len(way, size)),
                    })
                },
                |w, r| {
                    debug_assert!(w.encoded.len() <= encoded_len(way, size));
                    let grown =
                        w.instance.linear_memory().map_or(0, |m| m.1) as u64 - initial.get();
                    let f = &mut r.variant.facts;
                    f.insert("linear_memory_growth_bytes".into(), json!(grown));
                    f.insert("host_buffer_bytes".into(), json!(w.encoded.capacity()));
                    f.insert("output_bytes".into(), json!(w.instance.output().len()));
                    let phases = phases_of(way);
                    r.stamps = project(&r.stamps, Target::phases(w), &phases);
                    r.phases = phases;
                },
            );
        }
    }
    notes.push("each (way, size) has its own fresh instance; linear_memory_growth_bytes is how far its linear memory grew over its calls (it never shrinks: the most that way needed), host_buffer_bytes the host's reused encode buffers".into());
    notes.push("encode is empty for raw and host-fn (nothing to encode); host-fn's copy of the payload happens inside execute, where the guest pulls it".into());
    if cfg.ways.contains(&Way::Component) {
        notes.push("component: its linear memory is not measured (Wasmtime's component API does not hand the host the component's core memory), so it has no memory figures; its call row includes its call hook's cost (two clock reads), which splits lower, execute and lift".into());
    }

    let mut run = super::new_run(NAME);
    let exports: Vec<&str> = cfg.ways.iter().map(|w| w.export()).collect();
    run.plugin = super::plugin_info(
        name,
        "bundled:transfer",
        PLUGIN_WASM,
        &exports.join(","),
        cfg.sizes.iter().copied().max().unwrap_or(0),
        8,
    );
    run.settings = super::settings([
        (
            "sizes",
            json!(cfg.sizes.iter().map(|s| size_label(*s)).collect::<Vec<_>>()),
        ),
        (
            "ways",
            json!(cfg.ways.iter().map(|w| w.to_string()).collect::<Vec<_>>()),
        ),
        ("memory_limit_bytes", json!(cfg.limits.memory_bytes)),
    ]);
    runner.finish_runs(&mut run, &cfg.runs, setup, |v| {
        (v.scaling.as_ref().map_or(0, |s| s.size_bytes), 8)
    });
    for v in &mut run.variants {
        if let Some(whole) = v.phases.last() {
            v.facts.insert("calls".into(), json!(whole.stats.n));
        }
    }
    derive_facts(&mut run.variants, &run.pairs);
    run.summary = summary(&run.variants, &cfg.sizes, &cfg.ways);
    run.verdicts = verdicts(&run.variants, &cfg.sizes, &cfg.ways);
    run.notes = notes;
    run.incomplete = interrupted;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_fixed_and_exact_in_length() {
        assert_eq!(payload(13).len(), 13);
        assert_eq!(payload(1000), payload(1000));
        assert_ne!(payload(16)[..8], payload(16)[8..]);
    }

    #[test]
    fn projection_drops_empty_phases_without_changing_the_whole() {
        let all = &Phase::WASM_CALL;
        let row: Vec<u64> = (0..all.len() as u64 + 1).map(|k| 10 * k).collect();
        let keep = phases_of(Way::HostFn);
        let p = project(&row, all, &keep);
        assert_eq!(p.len(), keep.len() + 1);
        assert_eq!(p.first(), row.first());
        assert_eq!(p.last(), row.last());
    }
}
