//! The rungs of the cold-start ladder: each a way of getting from a module
//! file to a first call's result, with its phases and engine settings.

use std::fmt;

use wasmtime::{Config, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy};

use crate::measure::instrument::Instrument;
use crate::phase::Phase;

/// One way of getting from a module file to a first call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rung {
    /// Read, validate, compile with Cranelift (opt-level speed), instantiate,
    /// call: the reference study's path, and the baseline.
    Cranelift,
    /// As [`Rung::Cranelift`] with Cranelift's optimisations off.
    CraneliftOptNone,
    /// As [`Rung::Cranelift`], compiled by Winch, the baseline compiler.
    Winch,
    /// Precompiled once; each iteration reads the `.cwasm` and deserialises
    /// it from bytes.
    Aot,
    /// Precompiled once; each iteration maps the `.cwasm` (`deserialize_file`).
    AotMmap,
    /// Pre-initialised once by Wizer, precompiled, then as [`Rung::AotMmap`].
    Wizer,
    /// Loaded and linked once (`InstancePre`); each iteration instantiates
    /// from the pooling allocator (copy-on-write memory images) and calls.
    Pooling,
    /// As [`Rung::Pooling`], on the Wizer snapshot of [`Rung::Wizer`]:
    /// each instance starts from memory `wprof_init` already set up.
    PoolingWizer,
}

impl Rung {
    /// Every rung, naive first.
    pub const ALL: [Rung; 8] = [
        Rung::Cranelift,
        Rung::CraneliftOptNone,
        Rung::Winch,
        Rung::Aot,
        Rung::AotMmap,
        Rung::Wizer,
        Rung::Pooling,
        Rung::PoolingWizer,
    ];

    /// The rung's name, as given to `--rungs`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rung::Cranelift => "cranelift",
            Rung::CraneliftOptNone => "cranelift-opt-none",
            Rung::Winch => "winch",
            Rung::Aot => "aot",
            Rung::AotMmap => "aot-mmap",
            Rung::Wizer => "wizer",
            Rung::Pooling => "pooling",
            Rung::PoolingWizer => "pooling-wizer",
        }
    }

    /// What the rung does, for the report.
    pub const fn description(self) -> &'static str {
        match self {
            Rung::Cranelift => {
                "read the .wasm, validate, compile with Cranelift (opt-level speed), instantiate, first call: the reference study's path"
            }
            Rung::CraneliftOptNone => "as cranelift, with Cranelift's optimisations off",
            Rung::Winch => {
                "as cranelift, compiled by Winch, Wasmtime's single-pass baseline compiler"
            }
            Rung::Aot => {
                "precompiled once (Cranelift); each iteration reads the .cwasm and deserialises it from bytes"
            }
            Rung::AotMmap => {
                "precompiled once (Cranelift); each iteration maps the .cwasm (Module::deserialize_file)"
            }
            Rung::Wizer => {
                "Wizer ran wprof_init once and snapshotted the initialised module; precompiled; then as aot-mmap"
            }
            Rung::Pooling => {
                "precompiled, mapped and linked once (InstancePre); each iteration instantiates from the pooling allocator (copy-on-write memory images) and calls"
            }
            Rung::PoolingWizer => {
                "as pooling, on the Wizer snapshot (wprof_init ran once): each instance starts from initialised memory"
            }
        }
    }

    /// The phases of one iteration, in order.
    pub const fn phases(self) -> &'static [Phase] {
        use Phase::*;
        match self {
            Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch => &[
                Read,
                Validate,
                Compile,
                Instantiate,
                CopyIn,
                Execute,
                CopyOut,
                Free,
            ],
            Rung::Aot => &[
                Read,
                Deserialize,
                Instantiate,
                CopyIn,
                Execute,
                CopyOut,
                Free,
            ],
            Rung::AotMmap | Rung::Wizer => {
                &[Deserialize, Instantiate, CopyIn, Execute, CopyOut, Free]
            }
            Rung::Pooling | Rung::PoolingWizer => &[Instantiate, CopyIn, Execute, CopyOut, Free],
        }
    }

    /// Whether the rung runs on a Wizer snapshot (and so needs `wprof_init`).
    pub const fn snapshots(self) -> bool {
        matches!(self, Rung::Wizer | Rung::PoolingWizer)
    }

    /// Whether the rung instantiates from the pooling allocator.
    pub const fn pools(self) -> bool {
        matches!(self, Rung::Pooling | Rung::PoolingWizer)
    }

    /// The engine settings the rung compiles and runs with.
    pub fn config(self) -> Config {
        self.config_with(None)
    }

    /// The rung's engine settings, with an instrument for a pass that looks
    /// inside.
    pub fn config_with(self, instrument: Option<Instrument>) -> Config {
        let mut config = match instrument {
            Some(i) => crate::measure::instrument::config(i),
            None => Config::new(),
        };
        match self {
            Rung::CraneliftOptNone => {
                config.cranelift_opt_level(OptLevel::None);
            }
            Rung::Winch => {
                config.strategy(Strategy::Winch);
            }
            Rung::Pooling | Rung::PoolingWizer => {
                let mut pool = PoolingAllocationConfig::new();
                // One instance is live at a time; a few slots keep the
                // up-front virtual reservation modest (~6 GiB per memory slot).
                pool.total_core_instances(POOL_SLOTS)
                    .total_memories(POOL_SLOTS)
                    .total_tables(POOL_SLOTS);
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
                config.memory_init_cow(true);
            }
            _ => {}
        }
        config
    }
}

/// Slots in the pooling rung's pool.
pub(super) const POOL_SLOTS: u32 = 4;

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Rung {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rung::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Rung::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown rung `{s}` (expected some of: {})", all.join(", "))
            })
    }
}
