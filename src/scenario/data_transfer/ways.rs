//! The ways data-transfer times: the native checksum, the physical floor
//! (one copy into linear memory), each core-module way and the component.

use wasmtime::Engine;

use super::Way;
use crate::driver::Limits;
use crate::driver::call::{Codec, Coded, Sent};
use crate::driver::component::{Hooked, hooked_store};
use crate::driver::wprof::WprofInstance;
use crate::error::{CallError, at};
use crate::phase::Phase;
use crate::scenario::runner::way;
use crate::timing::Clock;
use crate::timing::target::{Marks, Target};

/// The floor: one copy of the payload into a guest buffer kept between calls.
pub(super) struct Floor<'a> {
    pub(super) plugin: WprofInstance,
    pub(super) buf: i32,
    pub(super) data: &'a [u8],
}

impl Target for Floor<'_> {
    fn phases(&self) -> &'static [Phase] {
        &[Phase::CopyIn]
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
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

/// One wasm way's codec: the payload, and the checksum last answered.
pub(super) struct WayCodec<'a> {
    pub(super) way: Way,
    pub(super) data: &'a [u8],
    /// The checksum the last call answered.
    pub(super) last: u64,
}

impl Codec for WayCodec<'_> {
    /// encode: the payload into the way's input format (nothing for raw,
    /// host-fn and the component's core module).
    #[inline(always)]
    fn encode(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        match self.way {
            Way::Json => serde_json::to_writer(
                buf,
                &JsonOut {
                    data: B64(self.data),
                },
            )?,
            Way::Msgpack => {
                rmp_serde::encode::write_named(buf, &transfer::MsgpackIn { data: self.data })?
            }
            Way::Raw | Way::HostFn | Way::Component => {}
        }
        Ok(())
    }

    // host-fn's copy-in happens inside execute: the guest pulls.
    #[inline(always)]
    fn sent<'b>(&'b self, encoded: &'b [u8]) -> Sent<'b> {
        match self.way {
            Way::Raw => Sent::Copied(self.data),
            Way::HostFn | Way::Component => Sent::Pulled((0, self.data.len() as i32)),
            Way::Json | Way::Msgpack => Sent::Copied(encoded),
        }
    }

    /// decode: the answer into the checksum.
    #[inline(always)]
    fn decode(&mut self, out: &[u8]) -> anyhow::Result<()> {
        self.last = match self.way {
            Way::Raw | Way::HostFn | Way::Component => u64::from_le_bytes(
                out.try_into()
                    .map_err(|_| anyhow::anyhow!("expected 8 bytes, got {}", out.len()))?,
            ),
            Way::Json => serde_json::from_slice::<transfer::Out>(out)?.checksum,
            Way::Msgpack => rmp_serde::from_slice::<transfer::Out>(out)?.checksum,
        };
        Ok(())
    }
}

/// One wasm way: its instance called through the way's codec.
pub(super) type Wasm<'a> = Coded<WprofInstance, WayCodec<'a>>;

way!(Wasm<'_> => u64, Decode, |w| w.codec.last);

/// The length of a way's encoded input for a payload of `n` bytes.
pub(super) fn encoded_len(way: Way, n: u64) -> usize {
    let n = n as usize;
    match way {
        // {"data":"<base64>"}
        Way::Json => 4 * n.div_ceil(3) + 11,
        // A one-entry map, a 4-letter key, a bin header of up to 5 bytes.
        Way::Msgpack => n + 11,
        Way::Raw | Way::HostFn | Way::Component => 0,
    }
}

/// The component-model way: `checksum(list<u8>) -> u64` through Wasmtime's
/// typed component function.
pub(super) struct ComponentWay<'a> {
    store: wasmtime::Store<Hooked>,
    func: wasmtime::component::TypedFunc<(&'a [u8],), (u64,)>,
    data: &'a [u8],
    last: u64,
}

impl Target for ComponentWay<'_> {
    /// Lowering ends where the export is entered (the last entry into
    /// wasm: the ones before it are `cabi_realloc`), lifting starts where
    /// it returns and ends when the call does.
    fn phases(&self) -> &'static [Phase] {
        &[Phase::Lower, Phase::Execute, Phase::Lift]
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
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

way!(ComponentWay<'_> => u64, Lift, |w| w.last);

/// A component instance of `component`, its calls into wasm stamped by a
/// call hook reading `clock`; its WASI imports (from the wasm32-wasip2
/// standard library, never called by `checksum`) trap if called.
pub(super) fn component_way<'a, C: Clock>(
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
pub(super) fn phases_of(way: Way) -> Vec<Phase> {
    Phase::WASM_CALL
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
