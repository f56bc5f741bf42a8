//! The native side of the hot path: the bundled plugin's own source linked
//! into wprof, called the way the host calls the wasm build (encode, the
//! function, decode), without the boundary.

use std::hint::black_box;

use anyhow::anyhow;
use serde_json::Value;

use crate::bundled::NativeFn;
use crate::driver::call::{decode, encode};
use crate::error::{CallError, at};
use crate::phase::Phase;
use crate::timing::target::{Marks, Target};

/// The phases of a native call.
pub const PHASES: [Phase; 4] = [Phase::Encode, Phase::Execute, Phase::Decode, Phase::Free];

/// A native call of a bundled plugin's function.
pub struct NativeTarget<'a> {
    /// The function.
    pub func: NativeFn,
    /// Its input, as a host value.
    pub input: &'a Value,
    /// The encoded input, reused.
    pub encoded: Vec<u8>,
}

impl NativeTarget<'_> {
    /// execute: the function on the encoded input.
    #[inline(always)]
    pub fn execute(&self) -> anyhow::Result<Vec<u8>> {
        (self.func)(&self.encoded).map_err(|e| anyhow!("the native build returned an error: {e}"))
    }

    /// One call's output (encoded, then the function).
    pub fn output(&mut self) -> Result<Vec<u8>, CallError> {
        encode(self.input, &mut self.encoded).map_err(at(Phase::Encode))?;
        self.execute().map_err(at(Phase::Execute))
    }
}

impl Target for NativeTarget<'_> {
    fn phases(&self) -> &'static [Phase] {
        &PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        encode(self.input, &mut self.encoded).map_err(at(Phase::Encode))?;
        m.mark(1);
        let out = self.execute().map_err(at(Phase::Execute))?;
        m.mark(2);
        decode(&out).map_err(at(Phase::Decode))?;
        m.mark(3);
        drop(black_box(out));
        m.mark(4);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        encode(self.input, &mut self.encoded).map_err(at(Phase::Encode))?;
        let out = self.execute().map_err(at(Phase::Execute))?;
        decode(&out).map_err(at(Phase::Decode))?;
        drop(black_box(out));
        Ok(())
    }
}
