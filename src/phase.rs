//! The one closed list of phases that every part of wprof names: trace
//! events, flamegraph frames, JSON rows and table columns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A phase of loading or calling a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Create the Wasmtime `Engine` a rung runs on (once per rung).
    Engine,
    /// Run Wizer: execute the plugin's `wprof_init` and snapshot the
    /// initialised instance into a new module (once, ahead of time).
    PreInit,
    /// Read the module's bytes from disk (and turn text format into binary).
    Read,
    /// Validate the module (type-check the bytecode).
    Validate,
    /// Compile the module to machine code.
    Compile,
    /// Load a precompiled module (`Module::deserialize` from bytes, or
    /// `Module::deserialize_file`, which maps the file).
    Deserialize,
    /// Resolve a module's imports once ahead of instantiation (`InstancePre`).
    Link,
    /// Create an instance: link imports, allocate memory, run the start function.
    Instantiate,
    /// Take an instance from a pool that every thread shares, waiting while
    /// all of them are busy.
    Acquire,
    /// Serialise the host's input (e.g. to JSON).
    Encode,
    /// Allocate a guest buffer and copy the encoded input into linear memory.
    CopyIn,
    /// Component model: lower the arguments into the component (the
    /// canonical ABI: `cabi_realloc`, then copy each value in).
    Lower,
    /// Run the plugin's function (the wasm export or the native function).
    Execute,
    /// Component model: lift the results out of the component into host
    /// values (the canonical ABI, read from linear memory).
    Lift,
    /// Copy the result out of linear memory into a host buffer.
    CopyOut,
    /// Deserialise the result in the host.
    Decode,
    /// Release the result buffer (the guest's `wprof_free`, or a native drop).
    Free,
    /// End a request's hold on its instance: drop it (its memory unmapped,
    /// or handed back to the pooling allocator), or give it back to the
    /// shared pool and wake a waiting thread.
    Release,
    /// One whole call, enclosing its phases.
    Call,
    /// One whole cold start, from loading the module to the first call's
    /// result, enclosing its phases.
    ColdStart,
    /// One whole request under concurrency, enclosing its phases: getting
    /// an instance, the call, releasing the instance.
    Request,
}

impl Phase {
    /// Every phase, in the order they happen.
    pub const ALL: [Phase; 21] = [
        Phase::Engine,
        Phase::PreInit,
        Phase::Read,
        Phase::Validate,
        Phase::Compile,
        Phase::Deserialize,
        Phase::Link,
        Phase::Instantiate,
        Phase::Acquire,
        Phase::Encode,
        Phase::CopyIn,
        Phase::Lower,
        Phase::Execute,
        Phase::Lift,
        Phase::CopyOut,
        Phase::Decode,
        Phase::Free,
        Phase::Release,
        Phase::Call,
        Phase::ColdStart,
        Phase::Request,
    ];

    /// The phases of one call into a core-module plugin through the wprof
    /// ABI, in order (the whole, [`Phase::Call`], not among them).
    pub const WASM_CALL: [Phase; 6] = [
        Phase::Encode,
        Phase::CopyIn,
        Phase::Execute,
        Phase::CopyOut,
        Phase::Decode,
        Phase::Free,
    ];

    /// The phase's name as written everywhere (kebab-case).
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Engine => "engine",
            Phase::PreInit => "pre-init",
            Phase::Read => "read",
            Phase::Validate => "validate",
            Phase::Compile => "compile",
            Phase::Deserialize => "deserialize",
            Phase::Link => "link",
            Phase::Instantiate => "instantiate",
            Phase::Acquire => "acquire",
            Phase::Encode => "encode",
            Phase::CopyIn => "copy-in",
            Phase::Lower => "lower",
            Phase::Execute => "execute",
            Phase::Lift => "lift",
            Phase::CopyOut => "copy-out",
            Phase::Decode => "decode",
            Phase::Free => "free",
            Phase::Release => "release",
            Phase::Call => "call",
            Phase::ColdStart => "cold-start",
            Phase::Request => "request",
        }
    }

    /// Whether this phase is a whole that encloses the others (a call, a
    /// cold start) rather than a part of one.
    pub const fn is_whole(self) -> bool {
        matches!(self, Phase::Call | Phase::ColdStart | Phase::Request)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The name given is not a phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase `{0}` (expected one of: {list})", list = Phase::ALL.map(Phase::as_str).join(", "))]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order() {
        // Samplers pass a phase across threads as `phase as u8` and read it
        // back as `ALL[i]`.
        for (i, p) in Phase::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "{p}");
        }
    }

    #[test]
    fn names_round_trip_through_display_fromstr_and_serde() {
        for p in Phase::ALL {
            assert_eq!(p.to_string().parse::<Phase>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Phase>(&json).unwrap(), p);
        }
        assert!("copyin".parse::<Phase>().is_err());
    }
}
