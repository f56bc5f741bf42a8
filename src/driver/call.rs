//! A plugin call as a host application makes it: encode its input (JSON,
//! for the wprof ABI), copy it in, execute, copy the output out, decode it,
//! free the call's buffers. [`PluginCall`] is that call over any driver's
//! [`Instance`], as a [`Target`] the timing core times phase by phase.

use std::hint::black_box;

use serde_json::Value;

use super::Instance;
use crate::error::{CallError, at};
use crate::phase::Phase;
use crate::timing::target::{Marks, Target};

/// The phases of a call whose input is plain bytes (no encode or decode).
pub const BYTES_CALL: [Phase; 4] = [Phase::CopyIn, Phase::Execute, Phase::CopyOut, Phase::Free];

/// encode: the host's input to JSON, into a reused buffer.
#[inline(always)]
pub fn encode(input: &Value, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, input)?;
    Ok(())
}

/// decode: JSON output to a host value, which is then used and dropped.
#[inline(always)]
pub fn decode(bytes: &[u8]) -> anyhow::Result<()> {
    let value: Value = serde_json::from_slice(bytes)?;
    drop(black_box(value));
    Ok(())
}

/// What a call sends and receives: JSON, which the host encodes and
/// decodes as part of the call (a wprof plugin), or plain bytes (an Extism
/// plugin, whose input and output are bytes).
pub trait Payload: Copy {
    /// The call's phases.
    const PHASES: &'static [Phase];
    /// Whether the call has encode and decode phases.
    const ENCODED: bool;
    /// encode, into a reused buffer (nothing for plain bytes).
    fn encode(&self, buf: &mut Vec<u8>) -> anyhow::Result<()>;
    /// What copy-in writes: the encoded buffer, or the bytes themselves.
    fn bytes<'b>(&'b self, encoded: &'b [u8]) -> &'b [u8];
}

/// A host value sent as JSON.
#[derive(Clone, Copy)]
pub struct Json<'a>(pub &'a Value);

impl Payload for Json<'_> {
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;
    const ENCODED: bool = true;
    #[inline(always)]
    fn encode(&self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        encode(self.0, buf)
    }
    #[inline(always)]
    fn bytes<'b>(&'b self, encoded: &'b [u8]) -> &'b [u8] {
        encoded
    }
}

/// Plain bytes.
#[derive(Clone, Copy)]
pub struct Raw<'a>(pub &'a [u8]);

impl Payload for Raw<'_> {
    const PHASES: &'static [Phase] = &BYTES_CALL;
    const ENCODED: bool = false;
    #[inline(always)]
    fn encode(&self, _: &mut Vec<u8>) -> anyhow::Result<()> {
        Ok(())
    }
    #[inline(always)]
    fn bytes<'b>(&'b self, _: &'b [u8]) -> &'b [u8] {
        self.0
    }
}

/// One plugin call on an instance, with the host's encode and decode.
pub struct PluginCall<I, P> {
    /// The instance called.
    pub instance: I,
    /// What each call sends.
    pub input: P,
    /// The encoded input, reused.
    pub encoded: Vec<u8>,
}

impl<I: Instance, P: Payload> PluginCall<I, P> {
    /// A call of `instance` sending `input`.
    pub fn new(instance: I, input: P) -> Self {
        PluginCall {
            instance,
            input,
            encoded: Vec::new(),
        }
    }

    /// The input as copy-in writes it (encoded first, for JSON).
    pub fn input_bytes(&mut self) -> Result<&[u8], CallError> {
        self.input
            .encode(&mut self.encoded)
            .map_err(at(Phase::Encode))?;
        Ok(self.input.bytes(&self.encoded))
    }
}

impl<I: Instance, P: Payload> Target for PluginCall<I, P> {
    fn phases(&self) -> &'static [Phase] {
        P::PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        // `P::ENCODED` is a constant: each build of this has only its own
        // phases, and the marks' indices fold to constants.
        let e = usize::from(P::ENCODED);
        m.mark(0);
        if P::ENCODED {
            self.input
                .encode(&mut self.encoded)
                .map_err(at(Phase::Encode))?;
            m.mark(1);
        }
        let buf = self.instance.copy_in(self.input.bytes(&self.encoded))?;
        m.mark(e + 1);
        let packed = self.instance.execute(buf)?;
        m.mark(e + 2);
        let out = self.instance.copy_out(packed)?;
        m.mark(e + 3);
        if P::ENCODED {
            decode(self.instance.output()).map_err(at(Phase::Decode))?;
            m.mark(e + 4);
        }
        self.instance.free(out)?;
        m.mark(2 * e + 4);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        if P::ENCODED {
            self.input
                .encode(&mut self.encoded)
                .map_err(at(Phase::Encode))?;
        }
        let buf = self.instance.copy_in(self.input.bytes(&self.encoded))?;
        let packed = self.instance.execute(buf)?;
        let out = self.instance.copy_out(packed)?;
        if P::ENCODED {
            decode(self.instance.output()).map_err(at(Phase::Decode))?;
        }
        self.instance.free(out)
    }
}

/// What copy-in hands to execute.
pub enum Sent<'b> {
    /// These bytes, copied into linear memory.
    Copied(&'b [u8]),
    /// This buffer as it stands, with no copy: the guest pulls its input
    /// itself, inside execute.
    Pulled(super::Buf),
}

/// The host's side of a call with typed values: what it encodes before
/// copy-in and decodes after copy-out. [`Coded`] makes the call.
pub trait Codec {
    /// encode: the host's value into `buf` (cleared first).
    fn encode(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()>;
    /// What copy-in writes, given the encoded input.
    #[inline(always)]
    fn sent<'b>(&'b self, encoded: &'b [u8]) -> Sent<'b> {
        Sent::Copied(encoded)
    }
    /// decode: the output into the host's value, kept for the answer check.
    fn decode(&mut self, out: &[u8]) -> anyhow::Result<()>;
}

/// A call with the host's own codec, over any driver's [`Instance`]: the
/// six phases of [`Phase::WASM_CALL`].
pub struct Coded<I, C> {
    /// The instance called.
    pub instance: I,
    /// The host's encode and decode, and what it last decoded.
    pub codec: C,
    /// The encoded input, reused.
    pub encoded: Vec<u8>,
}

impl<I, C> Coded<I, C> {
    /// A call of `instance` through `codec`.
    pub fn new(instance: I, codec: C) -> Self {
        Coded {
            instance,
            codec,
            encoded: Vec::new(),
        }
    }
}

impl<I: Instance, C: Codec> Target for Coded<I, C> {
    fn phases(&self) -> &'static [Phase] {
        &Phase::WASM_CALL
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.encoded.clear();
        self.codec
            .encode(&mut self.encoded)
            .map_err(at(Phase::Encode))?;
        m.mark(1);
        let buf = match self.codec.sent(&self.encoded) {
            Sent::Copied(bytes) => self.instance.copy_in(bytes)?,
            Sent::Pulled(buf) => buf,
        };
        m.mark(2);
        let packed = self.instance.execute(buf)?;
        m.mark(3);
        let out = self.instance.copy_out(packed)?;
        m.mark(4);
        self.codec
            .decode(self.instance.output())
            .map_err(at(Phase::Decode))?;
        m.mark(5);
        self.instance.free(out)?;
        m.mark(6);
        Ok(())
    }
}
