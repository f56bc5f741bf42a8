//! The host designs `record concurrency` compares: how a server gets an
//! instance for each request, and the engine settings that go with it.

use std::fmt;

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How a host serves requests from many threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Design {
    /// The plugin's native build called on each thread: the baseline.
    Native,
    /// A new instance per request, default (mmap) allocator.
    Fresh,
    /// A new instance per request from `InstancePre`, pooling allocator,
    /// copy-on-write memory images.
    Pooled,
    /// As [`Design::Pooled`] without copy-on-write images: each instance's
    /// memory is initialised by copying the data segments.
    PooledNoCow,
    /// As [`Design::Pooled`], keeping up to [`KEEP_RESIDENT`] of each memory
    /// resident between instances (reset by memset, not madvise).
    PooledResident,
    /// As [`Design::Pooled`] on a Wizer snapshot: each request starts from
    /// memory `wprof_init` already set up.
    PooledWizer,
    /// One long-lived instance per thread.
    Reuse,
    /// A pool of instances shared by every thread (the reference study's
    /// GenServer pool): take one, call, give it back.
    SharedPool,
}

/// Bytes of linear memory [`Design::PooledResident`] keeps resident.
pub const KEEP_RESIDENT: usize = 4 << 20;

impl Design {
    /// Every design, the baseline first.
    pub const ALL: [Design; 8] = [
        Design::Native,
        Design::Fresh,
        Design::Pooled,
        Design::PooledNoCow,
        Design::PooledResident,
        Design::PooledWizer,
        Design::Reuse,
        Design::SharedPool,
    ];

    /// The design's name, as given to `--designs`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Design::Native => "native",
            Design::Fresh => "fresh",
            Design::Pooled => "pooled",
            Design::PooledNoCow => "pooled-no-cow",
            Design::PooledResident => "pooled-resident",
            Design::PooledWizer => "pooled-wizer",
            Design::Reuse => "reuse",
            Design::SharedPool => "shared-pool",
        }
    }

    /// What the design does, for the report.
    pub fn description(self, pool_size: usize) -> String {
        match self {
            Design::Native => "the plugin's native build, called on each thread (encode, function, decode)".into(),
            Design::Fresh => "a new instance per request (Linker::instantiate), the default mmap allocator; dropped after the call".into(),
            Design::Pooled => "a new instance per request from InstancePre, the pooling allocator with copy-on-write memory images".into(),
            Design::PooledNoCow => "as pooled, without copy-on-write images (memory_init_cow off: data segments copied in per instance)".into(),
            Design::PooledResident => format!("as pooled, keeping up to {} MiB of each linear memory resident between instances (linear_memory_keep_resident: reset by memset, not madvise)", KEEP_RESIDENT >> 20),
            Design::PooledWizer => "as pooled, on a Wizer snapshot taken after wprof_init ran: each request starts from initialised memory".into(),
            Design::Reuse => "one long-lived instance per thread, made before the thread's first request".into(),
            Design::SharedPool => format!("{pool_size} instances shared by every thread behind a mutex (the reference study's GenServer pool): take one, waiting while all are busy, call, give it back"),
        }
    }

    /// Whether each request makes its own instance.
    pub const fn per_request(self) -> bool {
        matches!(
            self,
            Design::Fresh
                | Design::Pooled
                | Design::PooledNoCow
                | Design::PooledResident
                | Design::PooledWizer
        )
    }

    /// Whether the design runs on the pooling allocator.
    pub const fn pooling(self) -> bool {
        matches!(
            self,
            Design::Pooled | Design::PooledNoCow | Design::PooledResident | Design::PooledWizer
        )
    }

    /// The engine settings of a wasm design whose pool holds `slots`
    /// instances at once; `profile` writes the perf map the host sampler
    /// names wasm frames from.
    pub fn config(self, slots: u32, profile: bool) -> Config {
        let mut config = Config::new();
        if profile {
            crate::measure::host_sampler::configure(&mut config);
        }
        if self.pooling() {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots);
            if self == Design::PooledResident {
                pool.linear_memory_keep_resident(KEEP_RESIDENT)
                    .table_keep_resident(KEEP_RESIDENT);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            config.memory_init_cow(self != Design::PooledNoCow);
        }
        config
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Design {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Design::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Design::ALL.iter().map(|d| d.as_str()).collect();
                format!(
                    "unknown design `{s}` (expected some of: {})",
                    all.join(", ")
                )
            })
    }
}
