//! `wprof record data-transfer`: what crossing the host-guest boundary
//! costs as the payload grows (the seed study's Scenario 4), way by way.
//!
//! One processing function, a checksum of the payload (the bundled
//! `transfer` plugin, plugins/transfer), runs natively on the bytes in place
//! and in wasm behind each way of getting them across: raw bytes, JSON with
//! base64 (the seed's way), MessagePack, and a host function the guest calls
//! to pull the bytes into its own memory. Beside each figure stands the
//! physical floor: one copy of the payload into linear memory, measured the
//! same way. Each (way, size) is its own variant with its own instance, so
//! its linear memory afterwards is the most that way needed.

use std::fmt;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmtime::{Caller, Engine, Linker, Memory, Module};

use super::hot_path::Target;
use super::timed::{Budget, NoMarks, Recorded, Timed, settle, time_target};
use crate::error::{Error, one_line};
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{Run, Variant};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "data-transfer";

/// The plugin every way calls (plugins/transfer).
pub const PLUGIN_WASM: &[u8] = include_bytes!("../../plugins/transfer/transfer.wasm");

/// The same checksum as a component (plugins/transfer-component).
pub const COMPONENT_WASM: &[u8] =
    include_bytes!("../../plugins/transfer-component/transfer-component.wasm");

/// A way of getting the payload across the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Way {
    /// The payload's bytes copied into linear memory as the input; the
    /// checksum back as 8 bytes.
    Raw,
    /// `{"data": "<base64>"}` in, `{"checksum": n}` out (the seed's way).
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
                "JSON with the payload in base64 (the seed's way): encoded by the host, parsed and decoded by the guest; answer {\"checksum\": n}"
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

/// Parses a payload size: a number of bytes with an optional unit, B, KB
/// (1000), MB, GB, KiB (1024), MiB or GiB, e.g. `100`, `10KB`, `1MiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let not_a_number = || format!("payload size `{s}` is not a number of bytes");
    if num.is_empty() {
        return Err(not_a_number());
    }
    let unit_bytes: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "payload size `{s}`: unknown unit (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let n: f64 = num.parse().map_err(|_| not_a_number())?;
    let bytes = (n * unit_bytes).round();
    if !(1.0..=u32::MAX as f64).contains(&bytes) {
        return Err(format!("payload size `{s}` must be from 1 B to 4 GiB"));
    }
    Ok(bytes as u64)
}

/// A size as the seed writes it: `100 B`, `10 KB`, `1 MB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{} MB", b / 1_000_000),
        b if b >= 1000 && b % 1000 == 0 => format!("{} KB", b / 1000),
        b => format!("{b} B"),
    }
}

/// Settings of `wprof record data-transfer`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTransferConfig {
    /// Payload sizes in bytes. Default: 100 B, 10 KB, 1 MB, 10 MB (the seed's).
    pub sizes: Vec<u64>,
    /// Ways to measure. Default: all of [`Way::ALL`].
    pub ways: Vec<Way>,
    /// How long each (way, size) is measured once it has `min_calls`.
    /// Default: 300 ms.
    pub time_per_variant: Duration,
    /// Fewest measured calls per (way, size). Default: 10.
    pub min_calls: u64,
    /// Most measured calls per (way, size). Default: 100 000.
    pub max_calls: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace. Default: 5.
    pub trace_calls: u64,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for DataTransferConfig {
    fn default() -> Self {
        DataTransferConfig {
            sizes: vec![100, 10_000, 1_000_000, 10_000_000],
            ways: Way::ALL.to_vec(),
            time_per_variant: Duration::from_millis(300),
            min_calls: 10,
            max_calls: 100_000,
            clock: ClockChoice::Auto,
            trace_calls: 5,
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

/// The native baseline: the checksum on the bytes in place.
struct Native<'a> {
    data: &'a [u8],
    last: u64,
}

impl Target for Native<'_> {
    const PHASES: &'static [Phase] = &[Phase::Execute];

    #[inline(always)]
    fn call_marked<M: super::hot_path::Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        // black_box on the result too: the checksum is pure, and would
        // otherwise be free to move past the clock read.
        self.last = black_box(transfer::checksum(black_box(self.data)));
        m.mark(1);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        self.last = black_box(transfer::checksum(black_box(self.data)));
        Ok(())
    }
}

/// The floor: one copy of the payload into a guest buffer kept between calls.
struct Floor<'a> {
    plugin: Plugin,
    buf: i32,
    data: &'a [u8],
}

impl Target for Floor<'_> {
    const PHASES: &'static [Phase] = &[Phase::CopyIn];

    #[inline(always)]
    fn call_marked<M: super::hot_path::Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.plugin.write_at(self.buf, self.data)?;
        m.mark(1);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        self.plugin.write_at(self.buf, self.data)
    }
}

/// The JSON way's input as the host writes it: the same bytes as
/// `transfer::JsonIn`, the base64 streamed into the JSON buffer instead of
/// built as a string first (which would hold the payload a third time).
#[derive(serde::Serialize)]
struct JsonOut<'a> {
    data: B64<'a>,
}

/// Bytes that serialise as a base64 string.
struct B64<'a>(&'a [u8]);

impl serde::Serialize for B64<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&base64::display::Base64Display::new(
            self.0,
            &base64::engine::general_purpose::STANDARD,
        ))
    }
}

/// One wasm way: its instance, the payload, and the host's reused buffers.
struct Wasm<'a> {
    way: Way,
    plugin: Plugin,
    data: &'a [u8],
    /// The encoded input, reused.
    encoded: Vec<u8>,
    /// The checksum the last call answered.
    last: u64,
}

impl Wasm<'_> {
    /// encode: the payload into the way's input format.
    #[inline(always)]
    fn encode(&mut self) -> anyhow::Result<()> {
        match self.way {
            Way::Json => {
                self.encoded.clear();
                serde_json::to_writer(
                    &mut self.encoded,
                    &JsonOut {
                        data: B64(self.data),
                    },
                )?;
            }
            Way::Msgpack => {
                self.encoded.clear();
                rmp_serde::encode::write_named(
                    &mut self.encoded,
                    &transfer::MsgpackIn { data: self.data },
                )?;
            }
            Way::Raw | Way::HostFn | Way::Component => {}
        }
        Ok(())
    }

    /// decode: the answer into the checksum.
    #[inline(always)]
    fn decode(&mut self) -> anyhow::Result<()> {
        let out = &self.plugin.output;
        self.last = match self.way {
            Way::Raw | Way::HostFn | Way::Component => u64::from_le_bytes(
                out.as_slice()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("expected 8 bytes, got {}", out.len()))?,
            ),
            Way::Json => serde_json::from_slice::<transfer::Out>(out)?.checksum,
            Way::Msgpack => rmp_serde::from_slice::<transfer::Out>(out)?.checksum,
        };
        Ok(())
    }
}

impl Target for Wasm<'_> {
    // Raw and host-fn have nothing to encode: their encode is empty, and
    // host-fn's copy-in happens inside execute (the guest pulls).
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;

    #[inline(always)]
    fn call_marked<M: super::hot_path::Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.encode().map_err(at(Phase::Encode))?;
        m.mark(1);
        let buf = match self.way {
            Way::Raw => self.plugin.copy_in(self.data)?,
            Way::HostFn | Way::Component => (0, self.data.len() as i32),
            Way::Json | Way::Msgpack => self.plugin.copy_in(&self.encoded)?,
        };
        m.mark(2);
        let packed = self.plugin.execute(buf)?;
        m.mark(3);
        let out = self.plugin.copy_out(packed)?;
        m.mark(4);
        self.decode().map_err(at(Phase::Decode))?;
        m.mark(5);
        self.plugin.free(out)?;
        m.mark(6);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        let mut skip = NoMarks;
        self.call_marked(&mut skip)
    }
}

/// The length of a way's encoded input for a payload of `n` bytes.
fn encoded_len(way: Way, n: u64) -> usize {
    let n = n as usize;
    match way {
        // {"data":"<base64>"}
        Way::Json => 4 * n.div_ceil(3) + 11,
        // A one-entry map, a 4-letter key, a bin header of up to 5 bytes.
        Way::Msgpack => n + 11,
        Way::Raw | Way::HostFn | Way::Component => 0,
    }
}

/// A component instance's store data: its limits, and where the call hook
/// last saw wasm entered and left.
pub(crate) struct Hooked {
    limits: Limits,
    /// When wasm was entered, the last two times (oldest first). After a
    /// call of a function without a post-return, the last is the export's
    /// entry (those before it are `cabi_realloc`'s, while lowering); with
    /// one, the last is the post-return's and the one before the export's.
    pub(crate) entered: [u64; 2],
    /// When wasm was left, the last two times, likewise.
    pub(crate) left: [u64; 2],
}

/// A store for a component whose every entry into and exit from wasm a
/// call hook stamps with `clock`, bounded by `limits`.
pub(crate) fn hooked_store<C: Clock + Copy + Send + Sync + 'static>(
    engine: &Engine,
    limits: Limits,
    clock: C,
) -> wasmtime::Store<Hooked> {
    let mut store = wasmtime::Store::new(
        engine,
        Hooked {
            limits,
            entered: [0; 2],
            left: [0; 2],
        },
    );
    store.limiter(|h| &mut h.limits);
    store.call_hook(move |mut ctx, kind| {
        let shift = |pair: &mut [u64; 2], t: u64| *pair = [pair[1], t];
        match kind {
            wasmtime::CallHook::CallingWasm => shift(&mut ctx.data_mut().entered, clock.now()),
            wasmtime::CallHook::ReturningFromWasm => shift(&mut ctx.data_mut().left, clock.now()),
            _ => {}
        }
        Ok(())
    });
    store
}

/// The component-model way: `checksum(list<u8>) -> u64` through Wasmtime's
/// typed component function.
struct ComponentWay<'a> {
    store: wasmtime::Store<Hooked>,
    func: wasmtime::component::TypedFunc<(&'a [u8],), (u64,)>,
    data: &'a [u8],
    last: u64,
}

impl ComponentWay<'_> {
    /// The phases: lowering ends where the export is entered (the last
    /// entry into wasm: the ones before it are `cabi_realloc`), lifting
    /// starts where it returns and ends when the call does.
    const PHASES: &'static [Phase] = &[Phase::Lower, Phase::Execute, Phase::Lift];
}

impl Target for ComponentWay<'_> {
    const PHASES: &'static [Phase] = ComponentWay::PHASES;

    #[inline(always)]
    fn call_marked<M: super::hot_path::Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let (sum,) = self
            .func
            .call(&mut self.store, (self.data,))
            .map_err(|e| at(Phase::Execute)(anyhow::Error::from(e)))?;
        m.mark(3);
        // `checksum` returns a u64: no post-return, so the last entry and
        // exit are the export's.
        let (entered, left) = (self.store.data().entered[1], self.store.data().left[1]);
        m.set(1, entered);
        m.set(2, left);
        self.last = sum;
        Ok(())
    }
}

/// A component instance of `component`, its calls into wasm stamped by a
/// call hook reading `clock`; its WASI imports (from the wasm32-wasip2
/// standard library, never called by `checksum`) trap if called.
fn component_way<'a, C: Clock + Copy + Send + Sync + 'static>(
    engine: &Engine,
    component: &wasmtime::component::Component,
    clock: C,
    data: &'a [u8],
    limits: Limits,
) -> Result<ComponentWay<'a>, CallError> {
    let err = |phase: Phase| move |e: wasmtime::Error| at(phase)(anyhow::Error::from(e));
    let mut linker = wasmtime::component::Linker::new(engine);
    linker
        .define_unknown_imports_as_traps(component)
        .map_err(err(Phase::Link))?;
    let mut store = hooked_store(engine, limits, clock);
    let instance = linker
        .instantiate(&mut store, component)
        .map_err(err(Phase::Instantiate))?;
    let func = instance
        .get_typed_func::<(&[u8],), (u64,)>(&mut store, Way::Component.export())
        .map_err(err(Phase::Instantiate))?;
    Ok(ComponentWay {
        store,
        func,
        data,
        last: 0,
    })
}

/// Which phases a way really has: raw and host-fn encode nothing, host-fn
/// copies nothing in before execute.
fn phases_of(way: Way) -> Vec<Phase> {
    Wasm::PHASES
        .iter()
        .copied()
        .filter(|p| {
            !matches!(
                (way, p),
                (Way::Raw | Way::HostFn, Phase::Encode) | (Way::HostFn, Phase::CopyIn)
            )
        })
        .collect()
}

/// What the transfer plugin's host functions hand out: the payload
/// (`read_input`) and a patient's lab values (`patient_len`,
/// `read_patient`), with the instance's memory once it exists.
#[derive(Clone, Default)]
pub(crate) struct HostData {
    /// The payload `read_input` copies.
    pub(crate) payload: Arc<[u8]>,
    /// The one patient's id and lab values `read_patient` copies.
    pub(crate) patient: (u32, Arc<[f64]>),
    /// The instance's linear memory, set right after instantiation.
    pub(crate) memory: Arc<OnceLock<Memory>>,
}

/// A linker that supplies the transfer plugin's imports from `data`.
pub(crate) fn linker(
    engine: &Engine,
    data: &HostData,
) -> Result<Linker<crate::host::HostState>, CallError> {
    let link = |e: wasmtime::Error| at(Phase::Link)(anyhow::Error::from(e));
    let mut linker = Linker::new(engine);
    let d = data.clone();
    linker
        .func_wrap(
            "wprof_host",
            "read_input",
            move |mut caller: Caller<'_, crate::host::HostState>, dst: i32, len: i32| -> i32 {
                let Some(memory) = d.memory.get() else {
                    return -1;
                };
                let n = (len.max(0) as usize).min(d.payload.len());
                match memory.write(&mut caller, dst as u32 as usize, &d.payload[..n]) {
                    Ok(()) => n as i32,
                    Err(_) => -1,
                }
            },
        )
        .map_err(link)?;
    let d = data.clone();
    linker
        .func_wrap("wprof_host", "patient_len", move |id: i32| -> i32 {
            if id as u32 == d.patient.0 {
                (d.patient.1.len() * 8) as i32
            } else {
                -1
            }
        })
        .map_err(link)?;
    let d = data.clone();
    linker
        .func_wrap(
            "wprof_host",
            "read_patient",
            move |mut caller: Caller<'_, crate::host::HostState>,
                  id: i32,
                  dst: i32,
                  len: i32|
                  -> i32 {
                let Some(memory) = d.memory.get() else {
                    return -1;
                };
                if id as u32 != d.patient.0 {
                    return -1;
                }
                // The values as they lie in host memory: little-endian f64s
                // on every host wprof builds for, the layout wasm reads.
                let labs: &[f64] = &d.patient.1;
                // SAFETY: any initialised f64 slice is also a byte slice of
                // 8 times its length.
                let bytes = unsafe {
                    std::slice::from_raw_parts(labs.as_ptr().cast::<u8>(), labs.len() * 8)
                };
                let n = (len.max(0) as usize).min(bytes.len());
                match memory.write(&mut caller, dst as u32 as usize, &bytes[..n]) {
                    Ok(()) => n as i32,
                    Err(_) => -1,
                }
            },
        )
        .map_err(link)?;
    Ok(linker)
}

/// Keeps the stamp columns of the phases `keep` (of `all`): a dropped phase
/// is empty (nothing ran between its stamps), so folding it into its
/// neighbour changes no time.
fn project(stamps: &[u64], all: &[Phase], keep: &[Phase]) -> Vec<u64> {
    let w = all.len() + 1;
    let cols: Vec<usize> = std::iter::once(0)
        .chain(
            all.iter()
                .enumerate()
                .filter(|(_, p)| keep.contains(p))
                .map(|(k, _)| k + 1),
        )
        .collect();
    let mut out = Vec::with_capacity(stamps.len() / w * cols.len());
    for row in stamps.chunks_exact(w) {
        out.extend(cols.iter().map(|&c| row[c]));
    }
    out
}

/// Runs the data-transfer scenario.
pub fn run(cfg: &DataTransferConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock + Copy + Send + Sync + 'static>(
    clock: C,
    cfg: &DataTransferConfig,
) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
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
    let budget = Budget {
        min: cfg.min_calls,
        max: cfg.max_calls,
        time: cfg.time_per_variant,
    };
    let engine = Engine::default();
    let loaded = host::load(name, &engine, PLUGIN_WASM, Vec::new())?;
    let module: &Module = &loaded.module;
    let mut setup = loaded.setup.clone();
    let component = if cfg.ways.contains(&Way::Component) {
        Some(
            host::timed(&mut setup, Phase::Compile, || {
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

    let mut measured: Vec<Recorded> = Vec::new();
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut interrupted = false;
    'sizes: for &size in &cfg.sizes {
        let data: Arc<[u8]> = payload(size).into();
        let expected = transfer::checksum(&data);
        let label = size_label(size);

        // Native: the checksum on the bytes in place.
        let mut native = Native {
            data: &data,
            last: 0,
        };
        let t = time_target(&clock, &mut native, 2, budget).map_err(|e| e.into_error(name))?;
        measured.push(Recorded {
            variant: variant(
                format!("native {label}"),
                "native: the same checksum (the plugin's source, linked into wprof) on the payload in place",
                "native",
                size,
                t.calls,
            ),
            stamps: t.stamps,
            phases: vec![Phase::Execute],
        });

        // The floor: one copy into linear memory.
        let host_data = HostData {
            payload: data.clone(),
            ..HostData::default()
        };
        let floor = (|| -> Result<Timed, CallError> {
            let link = linker(&engine, &host_data)?;
            let mut plugin = Plugin::linked(&link, module, Way::Raw.export(), cfg.limits.clone())
                .map_err(at(Phase::Instantiate))?;
            let buf = plugin.alloc(size as i32)?;
            let mut f = Floor {
                plugin,
                buf,
                data: &data,
            };
            time_target(&clock, &mut f, 2, budget)
        })();
        match floor {
            Ok(t) => measured.push(Recorded {
                variant: variant(
                    format!("floor {label}"),
                    "the physical floor: one copy of the payload into a guest buffer (memory.write), nothing else",
                    "floor",
                    size,
                    t.calls,
                ),
                stamps: t.stamps,
                phases: vec![Phase::CopyIn],
            }),
            Err(e) => failures.push(crate::run::Failure {
                variant: format!("floor {label}"),
                phase: e.phase,
                cause: one_line(&e.error),
            }),
        }

        for &way in &cfg.ways {
            if crate::interrupt::requested() {
                notes.push(crate::interrupt::note(&format!("before {way} {label}")));
                interrupted = true;
                break 'sizes;
            }
            if let (Way::Component, Some(component)) = (way, &component) {
                let result = (|| -> Result<Timed, CallError> {
                    let mut w =
                        component_way(&engine, component, clock, &data, cfg.limits.clone())?;
                    w.call()?;
                    if w.last != expected {
                        return Err(at(Phase::Lift)(anyhow::anyhow!(
                            "checksum {:#x}, but native says {expected:#x}",
                            w.last
                        )));
                    }
                    let t = time_target(&clock, &mut w, ComponentWay::PHASES.len() + 1, budget)?;
                    if w.last != expected {
                        return Err(at(Phase::Lift)(anyhow::anyhow!(
                            "checksum {:#x} after timing, but native says {expected:#x}",
                            w.last
                        )));
                    }
                    Ok(t)
                })();
                match result {
                    Ok(t) => measured.push(Recorded {
                        variant: variant(
                            format!("{way} {label}"),
                            way.description(),
                            &way.to_string(),
                            size,
                            t.calls,
                        ),
                        stamps: t.stamps,
                        phases: ComponentWay::PHASES.to_vec(),
                    }),
                    Err(e) => failures.push(crate::run::Failure {
                        variant: format!("{way} {label}"),
                        phase: e.phase,
                        cause: one_line(&e.error),
                    }),
                }
                continue;
            }
            let host_data = HostData {
                payload: data.clone(),
                ..HostData::default()
            };
            let result = (|| -> Result<(Timed, u64, u64, usize), CallError> {
                let link = linker(&engine, &host_data)?;
                let plugin = Plugin::linked(&link, module, way.export(), cfg.limits.clone())
                    .map_err(at(Phase::Instantiate))?;
                let _ = host_data.memory.set(plugin.memory());
                let initial = plugin.linear_memory().1 as u64;
                let mut w = Wasm {
                    way,
                    plugin,
                    data: &data,
                    // Sized once, up front: a buffer grown by doubling
                    // would hold up to twice the input.
                    encoded: Vec::with_capacity(encoded_len(way, size)),
                    last: 0,
                };
                // Checked before timing, and again after.
                w.call()?;
                if w.last != expected {
                    return Err(at(Phase::Decode)(anyhow::anyhow!(
                        "checksum {:#x}, but native says {expected:#x}",
                        w.last
                    )));
                }
                let t = time_target(&clock, &mut w, Wasm::PHASES.len() + 1, budget)?;
                if w.last != expected {
                    return Err(at(Phase::Decode)(anyhow::anyhow!(
                        "checksum {:#x} after timing, but native says {expected:#x}",
                        w.last
                    )));
                }
                debug_assert!(w.encoded.len() <= encoded_len(way, size));
                let grown = w.plugin.linear_memory().1 as u64 - initial;
                let host_bytes = w.encoded.capacity() as u64;
                Ok((t, grown, host_bytes, w.plugin.output.len()))
            })();
            match result {
                Ok((t, grown, host_bytes, out_len)) => {
                    let mut v = variant(
                        format!("{way} {label}"),
                        way.description(),
                        &way.to_string(),
                        size,
                        t.calls,
                    );
                    v.facts
                        .insert("linear_memory_growth_bytes".into(), json!(grown));
                    v.facts
                        .insert("host_buffer_bytes".into(), json!(host_bytes));
                    v.facts.insert("output_bytes".into(), json!(out_len));
                    let phases = phases_of(way);
                    measured.push(Recorded {
                        variant: v,
                        stamps: project(&t.stamps, Wasm::PHASES, &phases),
                        phases,
                    });
                }
                Err(e) => failures.push(crate::run::Failure {
                    variant: format!("{way} {label}"),
                    phase: e.phase,
                    cause: one_line(&e.error),
                }),
            }
        }
    }

    let (mut variants, timeline) = settle(measured, clock.ns_per_tick(), cfg.trace_calls, |v| {
        let payload = v.facts.get("payload_bytes").and_then(|b| b.as_u64());
        (payload.unwrap_or(0), 8)
    });
    derive_facts(&mut variants);
    let summary = summary(&variants, &cfg.sizes, &cfg.ways);
    let verdicts = verdicts(&variants, &cfg.sizes, &cfg.ways);
    notes.push("each (way, size) has its own fresh instance; linear_memory_growth_bytes is how far its linear memory grew over its calls (it never shrinks: the most that way needed), host_buffer_bytes the host's reused encode buffers".into());
    notes.push("encode is empty for raw and host-fn (nothing to encode); host-fn's copy of the payload happens inside execute, where the guest pulls it".into());
    if cfg.ways.contains(&Way::Component) {
        notes.push("component: its linear memory is not measured (Wasmtime's component API does not hand the host the component's core memory), so it has no memory figures; its call row includes its call hook's cost (two clock reads), which splits lower, execute and lift".into());
    }

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    let exports: Vec<&str> = cfg.ways.iter().map(|w| w.export()).collect();
    run.plugin = super::plugin_info(
        name,
        "bundled:transfer",
        PLUGIN_WASM,
        &exports.join(","),
        cfg.sizes.iter().copied().max().unwrap_or(0),
        8,
    );
    run.plugin.outputs_identical = Some(failures.is_empty());
    run.settings = super::settings([
        (
            "sizes",
            json!(cfg.sizes.iter().map(|s| size_label(*s)).collect::<Vec<_>>()),
        ),
        (
            "ways",
            json!(cfg.ways.iter().map(|w| w.to_string()).collect::<Vec<_>>()),
        ),
        (
            "time_per_variant",
            json!(humantime::format_duration(cfg.time_per_variant).to_string()),
        ),
        ("min_calls", json!(cfg.min_calls)),
        ("max_calls", json!(cfg.max_calls)),
        ("memory_limit_bytes", json!(cfg.limits.memory_bytes)),
    ]);
    run.setup = setup;
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.summary = summary;
    run.verdicts = verdicts;
    run.failures = failures;
    run.notes = notes;
    run.incomplete = interrupted;
    Ok(run)
}

/// A variant with the facts every (way, size) has.
fn variant(name: String, description: &str, way: &str, size: u64, calls: usize) -> Variant {
    let mut v = Variant {
        name,
        description: description.to_owned(),
        ..Variant::default()
    };
    v.facts.insert("way".into(), json!(way));
    v.facts.insert("payload_bytes".into(), json!(size));
    v.facts.insert("calls".into(), json!(calls));
    v
}

fn p50(v: &Variant) -> Option<f64> {
    v.phases.last().map(|p| p.stats.p50_ns)
}

fn find<'a>(variants: &'a [Variant], way: &str, size: u64) -> Option<&'a Variant> {
    variants.iter().find(|v| {
        v.facts.get("way").and_then(|w| w.as_str()) == Some(way)
            && v.facts.get("payload_bytes").and_then(|b| b.as_u64()) == Some(size)
    })
}

/// Throughput, overhead over native and over the floor, from the medians.
fn derive_facts(variants: &mut [Variant]) {
    let medians: Vec<(String, u64, f64)> = variants
        .iter()
        .filter_map(|v| {
            Some((
                v.facts.get("way")?.as_str()?.to_owned(),
                v.facts.get("payload_bytes")?.as_u64()?,
                p50(v)?,
            ))
        })
        .collect();
    let of = |way: &str, size: u64| {
        medians
            .iter()
            .find(|m| m.0 == way && m.1 == size)
            .map(|m| m.2)
    };
    for v in variants.iter_mut() {
        let (Some(way), Some(size), Some(t)) = (
            v.facts
                .get("way")
                .and_then(|w| w.as_str())
                .map(str::to_owned),
            v.facts.get("payload_bytes").and_then(|b| b.as_u64()),
            p50(v),
        ) else {
            continue;
        };
        if t > 0.0 {
            v.facts
                .insert("throughput_mb_s".into(), json!(size as f64 / t * 1e3));
        }
        if way == "native" || way == "floor" {
            continue;
        }
        if let Some(native) = of("native", size) {
            let over = t - native;
            v.facts.insert("overhead_ns".into(), json!(over));
            if native > 0.0 {
                v.facts
                    .insert("overhead_pct".into(), json!(100.0 * over / native));
            }
            if let Some(floor) = of("floor", size).filter(|f| *f > 0.0) {
                v.facts.insert("floor_ns".into(), json!(floor));
                v.facts
                    .insert("overhead_over_floor".into(), json!(over / floor));
            }
        }
    }
}

/// The seed's table: per size, native, the floor and each way's median
/// call, its overhead over native and its throughput.
fn summary(variants: &[Variant], sizes: &[u64], ways: &[Way]) -> Option<crate::run::Summary> {
    let fmt = super::super::export::fmt_ns;
    let mut rows = Vec::new();
    for &size in sizes {
        let native = find(variants, "native", size).and_then(p50);
        let floor = find(variants, "floor", size).and_then(p50);
        for way in ways {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let Some(t) = p50(v) else { continue };
            let over = native.map(|n| t - n);
            rows.push(vec![
                size_label(size),
                way.to_string(),
                fmt(t),
                native.map_or("-".into(), fmt),
                over.map_or("-".into(), |o| {
                    format!("{}{}", if o < 0.0 { "-" } else { "+" }, fmt(o.abs()))
                }),
                match (over, native) {
                    (Some(o), Some(n)) if n > 0.0 => format!("{:+.1} %", 100.0 * o / n),
                    _ => "-".into(),
                },
                floor.map_or("-".into(), fmt),
                match (over, floor) {
                    (Some(o), Some(f)) if f > 0.0 => format!("{:.1}x", o / f),
                    _ => "-".into(),
                },
                format!("{:.0}", size as f64 / t * 1e3),
            ]);
        }
    }
    (!rows.is_empty()).then(|| crate::run::Summary {
        title:
            "per call, median: each way against native and the floor (one copy into linear memory)"
                .into(),
        columns: [
            "payload",
            "way",
            "wasm",
            "native",
            "overhead",
            "overhead %",
            "floor",
            "overhead/floor",
            "MB/s",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// Lines the seed's conclusions can be checked against.
fn verdicts(variants: &[Variant], sizes: &[u64], ways: &[Way]) -> Vec<String> {
    let mut out = Vec::new();
    let fmt = super::super::export::fmt_ns;
    let pct = |way: &str, size: u64| {
        find(variants, way, size)
            .and_then(|v| v.facts.get("overhead_pct"))
            .and_then(|p| p.as_f64())
    };
    if ways.contains(&Way::Json) && sizes.len() > 1 {
        let series: Vec<String> = sizes
            .iter()
            .filter_map(|&s| pct("json", s).map(|p| format!("{p:+.0} % at {}", size_label(s))))
            .collect();
        if !series.is_empty() {
            out.push(format!(
                "json+base64 overhead over native by size: {} (the seed: +11 % at 100 B to +36 % at 10 MB)",
                series.join(", ")
            ));
        }
    }
    for &size in sizes.iter().filter(|&&s| s >= 1_000_000) {
        for way in [Way::Raw, Way::HostFn] {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let (Some(over), Some(floor)) = (
                v.facts.get("overhead_ns").and_then(|x| x.as_f64()),
                v.facts.get("floor_ns").and_then(|x| x.as_f64()),
            ) else {
                continue;
            };
            let bound = 1.5 * floor + 1000.0;
            out.push(format!(
                "{way} {}: {} over native, floor {}: {} the 1.5x floor + 1 µs bound ({})",
                size_label(size),
                fmt(over.max(0.0)),
                fmt(floor),
                if over <= bound { "within" } else { "beyond" },
                fmt(bound)
            ));
        }
    }
    // The seed's guesses: MessagePack saves 40 % and the component model
    // 60 % of JSON's overhead.
    for (way, guess) in [(Way::Msgpack, 40), (Way::Component, 60)] {
        if !(ways.contains(&way) && ways.contains(&Way::Json)) {
            continue;
        }
        for &size in sizes {
            let (Some(j), Some(m)) = (
                find(variants, "json", size).and_then(|v| v.facts.get("overhead_ns")?.as_f64()),
                find(variants, &way.to_string(), size)
                    .and_then(|v| v.facts.get("overhead_ns")?.as_f64()),
            ) else {
                continue;
            };
            if j > 0.0 {
                out.push(format!(
                    "{way} {}: {:+.0} % of json's overhead ({} against {}; the seed guessed -{guess} %)",
                    size_label(size),
                    100.0 * (m - j) / j,
                    fmt(m),
                    fmt(j)
                ));
            }
        }
    }
    for &size in sizes {
        for way in ways {
            let Some(v) = find(variants, &way.to_string(), size) else {
                continue;
            };
            let (Some(grown), Some(host)) = (
                v.facts
                    .get("linear_memory_growth_bytes")
                    .and_then(|x| x.as_u64()),
                v.facts.get("host_buffer_bytes").and_then(|x| x.as_u64()),
            ) else {
                continue;
            };
            if size >= 10_000_000 {
                let ratio = (grown + host) as f64 / size as f64;
                out.push(format!(
                    "{way} {}: memory for the call {:.1}x the payload (linear memory grew {:.1} MB, host buffers {:.1} MB): {} 4x",
                    size_label(size),
                    ratio,
                    grown as f64 / 1e6,
                    host as f64 / 1e6,
                    if ratio <= 4.0 { "within" } else { "beyond" }
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("2.5k").unwrap(), 2500);
        assert!(
            parse_size("ten")
                .unwrap_err()
                .contains("`ten` is not a number")
        );
        assert!(parse_size("10XB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("0").unwrap_err().contains("from 1 B to 4 GiB"));
        assert!(parse_size("5GB").unwrap_err().contains("from 1 B to 4 GiB"));
        assert_eq!(size_label(10_000_000), "10 MB");
        assert_eq!(size_label(10_000), "10 KB");
        assert_eq!(size_label(1234), "1234 B");
    }

    #[test]
    fn payloads_are_fixed_and_exact_in_length() {
        assert_eq!(payload(13).len(), 13);
        assert_eq!(payload(1000), payload(1000));
        assert_ne!(payload(16)[..8], payload(16)[8..]);
    }

    #[test]
    fn projection_drops_empty_phases_without_changing_the_whole() {
        let all = Wasm::PHASES;
        let row: Vec<u64> = (0..all.len() as u64 + 1).map(|k| 10 * k).collect();
        let keep = phases_of(Way::HostFn);
        let p = project(&row, all, &keep);
        assert_eq!(p.len(), keep.len() + 1);
        assert_eq!(p.first(), row.first());
        assert_eq!(p.last(), row.last());
    }
}
