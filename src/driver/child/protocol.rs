//! The driver protocol, version [`VERSION`]: how wprof drives a host that
//! runs in a child process with its own build (another Wasmtime, the
//! Extism SDK, Node for V8), and how that host sends back raw clock stamps
//! for wprof to turn into statistics.
//!
//! The child reads requests on its standard input and answers each with
//! one response on its standard output, one JSON object per line, each
//! with an `op` field. Its standard error is for people; wprof shows its
//! last line if the child dies. The child ignores SIGINT: wprof stops it
//! between rounds.
//!
//! | request | answer |
//! | --- | --- |
//! | `open`: protocol, plugin file, export, input, limits, clock, planned calls and rounds | `opened`: protocol, driver description, phases of a call, one-off setup phases, the first call's output, the clock chosen |
//! | `warm_up`: calls | `ok` |
//! | `round`: calls, instrumented first or not | `round`: the instrumented calls' stamps (phases + 1 a call, back to back), calls per instrumented batch, `[calls, ticks]` per uninstrumented batch |
//! | `clock` | `clock`: name, ns per tick, read cost, resolution |
//! | `quit` | (the child exits) |
//!
//! Any request may be answered `error` (phase, message) instead: a failed
//! call, with the phase it failed in. A round is timed as wprof's own
//! rounds are (`timing::rounds`): instrumented calls with a clock read at
//! each phase boundary, and as many uninstrumented calls in batches of
//! 1000 with one read around each, the TSC where it is invariant. Stamps
//! are the clock's raw ticks; on the TSC and `CLOCK_MONOTONIC` they share
//! wprof's own time base, so the child's calls land on the same timeline.
//!
//! A host answering `open` with another protocol number is refused.

use serde::{Deserialize, Serialize};

use crate::driver::Limits;
use crate::phase::Phase;
use crate::run::{ClockInfo, DriverInfo, PhaseTime};
use crate::timing::ClockChoice;
use crate::timing::rounds::{RoundData, RoundPlan};

/// The protocol's version: bumped on any incompatible change.
pub const VERSION: u32 = 1;

/// What a call sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A JSON value the host encodes on every call (the wprof ABI).
    Json(serde_json::Value),
    /// Bytes, base64 (Extism plugins).
    Bytes(String),
}

/// A request from wprof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Load the plugin, instantiate it, make one call.
    Open(Box<Open>),
    /// Unmeasured calls.
    WarmUp {
        /// How many.
        calls: u64,
    },
    /// One round.
    Round(RoundPlan),
    /// Describe the clock (at the end, when a calibrated clock knows best).
    Clock,
    /// One whole cold start in the driver, ending with the first call,
    /// timed there: `way` names how the plugin is made (the Extism SDK
    /// driver: `new`, from the manifest; `compiled`, from a plugin
    /// compiled once; the Node driver: `split`, each phase timed, in a
    /// module made new for it). Drivers without cold starts answer an error.
    ColdStart {
        /// How the plugin is made.
        way: String,
    },
    /// Memory readings of the driver's own process: the open plugin after
    /// `calls` calls, then `instances` more instances, each called once and
    /// kept alive. Drivers without it answer an error.
    Memory {
        /// Instances made and kept after the calls.
        instances: u64,
        /// Calls on the open plugin first.
        calls: u64,
    },
    /// A soak in the driver's own process: the open plugin called `rate`
    /// times a second for `duration_ns`, its memory read every
    /// `sample_every_ns` and at the end; the first `timed` calls stamped.
    /// Drivers without it answer an error.
    Soak {
        /// How long, in nanoseconds.
        duration_ns: u64,
        /// Calls a second.
        rate: f64,
        /// Nanoseconds between memory readings.
        sample_every_ns: u64,
        /// Calls whose stamps are sent back.
        timed: u64,
    },
    /// Exit.
    Quit,
}

/// What `open` asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Open {
    /// [`VERSION`].
    pub protocol: u32,
    /// The module file.
    pub plugin: String,
    /// The export to call.
    pub export: String,
    /// What each call sends.
    pub input: Input,
    /// The limits of the plugin's store.
    pub limits: Limits,
    /// The clock to stamp with.
    pub clock: ClockChoice,
    /// Instrumented calls planned in all (room is made up front).
    pub iterations: u64,
    /// Rounds planned.
    pub rounds: u64,
}

/// An answer from the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Response {
    /// The plugin is ready.
    Opened {
        /// [`VERSION`] as the child speaks it.
        protocol: u32,
        /// What the driver is.
        driver: DriverInfo,
        /// The phases of a call, in order.
        phases: Vec<Phase>,
        /// One-off phases timed once (validate, compile, instantiate).
        setup: Vec<PhaseTime>,
        /// The first call's output, base64.
        output: String,
        /// The clock chosen (`tsc`, `monotonic`).
        clock: String,
    },
    /// Done.
    Ok,
    /// One round's stamps.
    Round(RoundData),
    /// The clock.
    Clock(ClockInfo),
    /// One cold start's time.
    ColdStart {
        /// Nanoseconds, by the driver's clock.
        ns: u64,
        /// The same cold start split into its phases (`validate`,
        /// `compile`, `instantiate`, and `call` for the first call), where
        /// the driver splits it (way `split`); empty otherwise.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phases: Vec<PhaseTime>,
    },
    /// The memory readings, in the order taken.
    Memory {
        /// The readings.
        points: Vec<crate::run::MemoryPoint>,
    },
    /// A soak's readings.
    Soak {
        /// The memory readings, in the order taken (labels `sample`, then
        /// `end`), each with the time since the soak began and the calls
        /// made by then.
        points: Vec<crate::run::MemoryPoint>,
        /// Calls made.
        calls: u64,
        /// Before and after each of the first `timed` calls, by the
        /// driver's clock.
        stamps: Vec<u64>,
        /// Why the soak stopped early (a call failed), on one line; the
        /// readings so far are kept.
        failure: Option<String>,
    },
    /// A failure.
    Error {
        /// The phase it failed in.
        phase: Phase,
        /// Why, on one line.
        message: String,
    },
}

/// What a driver's soak found ([`Response::Soak`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Soaked {
    /// The memory readings, in order.
    pub points: Vec<crate::run::MemoryPoint>,
    /// Calls made.
    pub calls: u64,
    /// Before and after each of the first calls, by the driver's clock.
    pub stamps: Vec<u64>,
    /// Why it stopped early, if it did.
    pub failure: Option<String>,
}
