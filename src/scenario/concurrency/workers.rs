//! One thread's requests, each design's as a [`Target`] whose phases end
//! with the whole request: get an instance (make one, take one from the
//! shared pool, or use the thread's own), call it, release it.

use std::sync::{Condvar, Mutex};

use wasmtime::{InstancePre, Linker, Module};

use crate::driver::call::{Payload, PluginCall};
use crate::driver::wasmtime::{Abi, HostState, WasmtimeDriver};
use crate::driver::{Instance, Limits};
use crate::error::CallError;
use crate::phase::Phase;
use crate::scenario::hot_path::native::NativeTarget;
use crate::timing::target::{Marks, Shifted, Target};

/// A request a thread can also make outside the timed window, keeping its
/// output for the check against the reference.
pub trait Request: Target {
    /// One request, its output copied out.
    fn checked(&mut self) -> Result<Vec<u8>, CallError>;
}

use Phase::*;

/// Phases of a request that makes its own instance, JSON payload.
const MADE_JSON: [Phase; 8] = [
    Instantiate,
    Encode,
    CopyIn,
    Execute,
    CopyOut,
    Decode,
    Free,
    Release,
];
/// The same, plain bytes.
const MADE_RAW: [Phase; 6] = [Instantiate, CopyIn, Execute, CopyOut, Free, Release];
/// Phases of a request served from the shared pool, JSON payload.
const SHARED_JSON: [Phase; 8] = [
    Acquire, Encode, CopyIn, Execute, CopyOut, Decode, Free, Release,
];
/// The same, plain bytes.
const SHARED_RAW: [Phase; 6] = [Acquire, CopyIn, Execute, CopyOut, Free, Release];

/// The call part of a request: the host's encode, the four phases in the
/// plugin, decode.
pub struct Call<P> {
    input: P,
    encoded: Vec<u8>,
    /// Set for a checked request: the output is copied here.
    keep: Option<Vec<u8>>,
}

impl<P: Payload> Call<P> {
    /// A call sending `input`.
    pub fn new(input: P) -> Self {
        Call {
            input,
            encoded: Vec::new(),
            keep: None,
        }
    }

    /// The call on `instance`, marking `m` from 0.
    #[inline(always)]
    fn on<I: Instance, M: Marks + ?Sized>(
        &mut self,
        instance: &mut I,
        m: &mut M,
    ) -> Result<(), CallError> {
        let mut call = PluginCall {
            instance,
            input: self.input,
            encoded: std::mem::take(&mut self.encoded),
        };
        let done = call.call_marked(m);
        if let Some(keep) = &mut self.keep {
            keep.clear();
            keep.extend_from_slice(call.instance.output());
        }
        self.encoded = call.encoded;
        done
    }
}

/// A request of a wasm design, its output copied out.
fn checked<T: Target, P>(
    t: &mut T,
    call: impl Fn(&mut T) -> &mut Call<P>,
) -> Result<Vec<u8>, CallError> {
    call(t).keep = Some(Vec::new());
    let done = t.call();
    let out = call(t).keep.take().unwrap_or_default();
    done.map(|()| out)
}

/// How a request of a per-request design makes its instance.
pub enum Make<'h, A: Abi> {
    /// Through a linker (the default allocator).
    Linked(&'h Linker<HostState<A::State>>, &'h Module),
    /// From a pre-linked module (the pooling allocator).
    Pre(&'h InstancePre<HostState<A::State>>),
}

impl<A: Abi> Make<'_, A> {
    /// A new instance for `export`, its store bounded by `limits`.
    #[inline(always)]
    pub fn instance(&self, export: &str, limits: &Limits) -> Result<A::Instance, CallError> {
        match self {
            Make::Linked(linker, module) => {
                WasmtimeDriver::<A>::instantiate_linked(linker, module, export, limits)
            }
            Make::Pre(pre) => WasmtimeDriver::<A>::instantiate_pre(pre, export, limits),
        }
    }
}

/// A new instance per request, dropped after the call.
pub struct PerRequest<'h, A: Abi, P> {
    /// How the instance is made.
    pub make: Make<'h, A>,
    /// The export called.
    pub export: &'h str,
    /// Each store's limits.
    pub limits: &'h Limits,
    /// The call.
    pub call: Call<P>,
}

impl<A: Abi, P: Payload> Target for PerRequest<'_, A, P> {
    fn phases(&self) -> &'static [Phase] {
        if P::ENCODED { &MADE_JSON } else { &MADE_RAW }
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let mut instance = self.make.instance(self.export, self.limits)?;
        m.mark(1);
        self.call.on(
            &mut instance,
            &mut Shifted {
                inner: &mut *m,
                by: 1,
            },
        )?;
        drop(instance);
        m.mark(P::PHASES.len() + 2);
        Ok(())
    }
}

impl<A: Abi, P: Payload> Request for PerRequest<'_, A, P> {
    fn checked(&mut self) -> Result<Vec<u8>, CallError> {
        checked(self, |t| &mut t.call)
    }
}

/// The thread's own instance, made before its first request.
pub struct Reuse<I, P> {
    /// The instance.
    pub instance: I,
    /// The call.
    pub call: Call<P>,
}

impl<I: Instance, P: Payload> Target for Reuse<I, P> {
    fn phases(&self) -> &'static [Phase] {
        P::PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        self.call.on(&mut self.instance, m)
    }
}

impl<I: Instance, P: Payload> Request for Reuse<I, P> {
    fn checked(&mut self) -> Result<Vec<u8>, CallError> {
        checked(self, |t| &mut t.call)
    }
}

/// Instances every thread shares: taken for a request, given back after.
pub struct Pool<I> {
    free: Mutex<Vec<I>>,
    returned: Condvar,
}

impl<I> Pool<I> {
    /// A pool of `instances`.
    pub fn new(instances: Vec<I>) -> Self {
        Pool {
            free: Mutex::new(instances),
            returned: Condvar::new(),
        }
    }

    /// Takes an instance, waiting while every one is busy.
    #[inline(always)]
    fn take(&self) -> I {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(i) = free.pop() {
                return i;
            }
            free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Gives `instance` back (its place was kept: no allocation) and wakes
    /// one waiting thread.
    #[inline(always)]
    fn give(&self, instance: I) {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(instance);
        self.returned.notify_one();
    }
}

/// A request served by an instance of the shared pool.
pub struct Shared<'h, I, P> {
    /// The pool.
    pub pool: &'h Pool<I>,
    /// The call.
    pub call: Call<P>,
}

impl<I: Instance, P: Payload> Target for Shared<'_, I, P> {
    fn phases(&self) -> &'static [Phase] {
        if P::ENCODED {
            &SHARED_JSON
        } else {
            &SHARED_RAW
        }
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let mut instance = self.pool.take();
        m.mark(1);
        let done = self.call.on(
            &mut instance,
            &mut Shifted {
                inner: &mut *m,
                by: 1,
            },
        );
        self.pool.give(instance);
        m.mark(P::PHASES.len() + 2);
        done
    }
}

impl<I: Instance, P: Payload> Request for Shared<'_, I, P> {
    fn checked(&mut self) -> Result<Vec<u8>, CallError> {
        checked(self, |t| &mut t.call)
    }
}

impl Request for NativeTarget<'_> {
    fn checked(&mut self) -> Result<Vec<u8>, CallError> {
        self.output()
    }
}
