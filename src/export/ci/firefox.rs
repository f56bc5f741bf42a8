//! The Firefox Profiler's processed profile format, the one samply and
//! Wasmtime's GuestProfiler write, through their crate,
//! fxprof-processed-profile. One process per run; in it a thread per
//! sampler, whose samples sit where they were taken on the run's timeline,
//! and a thread per timing-pass track carrying the host phases of its
//! timed calls as markers, so that guest stacks, host stacks and the
//! phases share one view (the GuestProfiler sees wasm frames only).
//!
//! Samples carry no CPU deltas (none was measured, as the GuestProfiler
//! passes none): the call tree and stack chart count them; the activity
//! graph does not. The host sampler's samples are those of pprof-rs, which
//! keeps only the first time a stack was seen in each ~100 ms sampled
//! segment: that sample carries the segment's count as its weight.

use std::io::Write;

use fxprof_processed_profile::{
    CategoryColor, CategoryHandle, CpuDelta, Frame, FrameFlags, FrameInfo, MarkerFieldFlags,
    MarkerFieldFormat, MarkerTiming, Profile, ReferenceTimestamp, SamplingInterval,
    StaticSchemaMarker, StaticSchemaMarkerField, StringHandle, ThreadHandle, Timestamp,
};

use super::Format;
use crate::phase::Phase;
use crate::run::{Profile as Sampled, Run, Span};

/// `firefox`: `<stem>.firefox.json`.
pub struct Firefox;

impl Format for Firefox {
    fn lacks(&self, run: &Run) -> Option<String> {
        if run.profiles.iter().any(|p| !p.timed.is_empty()) {
            None
        } else if run.profiles.is_empty() {
            Some("it has no samples (record it with --sample guest, host or both)".to_owned())
        } else {
            Some("its samples carry no times (record memory samples in child processes, whose clocks are not the run's; runs written before wprof kept sample times have none)".to_owned())
        }
    }

    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        let profile = build(runs)?;
        serde_json::to_writer(&mut *out, &profile)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

/// When a run started, in milliseconds since the Unix epoch.
fn started_ms(run: &Run) -> anyhow::Result<f64> {
    let t = humantime::parse_rfc3339_weak(&run.started_at).map_err(|e| {
        anyhow::anyhow!(
            "the {} run's start `{}` is no RFC 3339 time: {e}",
            run.scenario,
            run.started_at
        )
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3))
}

/// Categories frames and markers are drawn in.
struct Categories {
    /// wprof's own labels: scenario, variant, phase.
    label: CategoryHandle,
    /// Wasm functions (the guest sampler's frames).
    wasm: CategoryHandle,
    /// The whole process's frames (the host sampler's), and host time the
    /// guest sampler saw (`[host]`, host-only phases).
    host: CategoryHandle,
    /// The host phases of timed calls.
    phase: CategoryHandle,
}

fn build(runs: &[&Run]) -> anyhow::Result<Profile> {
    let first = runs
        .first()
        .ok_or_else(|| anyhow::anyhow!("no run to export"))?;
    let base_ms = started_ms(first)?;
    let hz = first
        .profiles
        .iter()
        .find(|p| !p.timed.is_empty())
        .map_or(1000.0, |p| p.requested_hz.max(1.0));
    let mut profile = Profile::new(
        &format!("wprof {}", first.scenario),
        ReferenceTimestamp::from_millis_since_unix_epoch(base_ms),
        SamplingInterval::from_nanos((1e9 / hz) as u64),
    );
    let cats = Categories {
        label: CategoryHandle::OTHER,
        wasm: profile.add_category("Wasm", CategoryColor::Yellow),
        host: profile.add_category("Host", CategoryColor::Blue),
        phase: profile.add_category("Phase", CategoryColor::Green),
    };
    for (i, run) in runs.iter().enumerate() {
        // Runs after the first sit at their own start.
        let offset_ns = ((started_ms(run)? - base_ms) * 1e6).max(0.0);
        let at = |ns: f64| Timestamp::from_nanos_since_reference((offset_ns + ns.max(0.0)) as u64);
        let plugin = std::path::Path::new(&run.plugin.name)
            .file_stem()
            .map_or_else(
                || run.plugin.name.clone(),
                |s| s.to_string_lossy().into_owned(),
            );
        let pid = i as u32 + 1;
        let process = profile.add_process(&format!("{} · {plugin}", run.scenario), pid, at(0.0));
        let mut tid = pid * 1000;
        for p in run.profiles.iter().filter(|p| !p.timed.is_empty()) {
            tid += 1;
            // Not a main thread: the profiler would name it after the process.
            let thread = profile.add_thread(process, tid, at(0.0), false);
            profile.set_thread_show_markers_in_timeline(thread, true);
            profile.set_thread_name(thread, &format!("{} sampler", p.sampler));
            samples(&mut profile, thread, p, &cats, &at);
        }
        let mut tracks: Vec<&str> = Vec::new();
        for s in &run.timeline {
            if !tracks.contains(&s.track.as_str()) {
                tracks.push(&s.track);
            }
        }
        for track in tracks {
            tid += 1;
            let thread = profile.add_thread(process, tid, at(0.0), false);
            profile.set_thread_name(thread, &format!("timed calls · {track}"));
            profile.set_thread_show_markers_in_timeline(thread, true);
            for s in run.timeline.iter().filter(|s| s.track == track) {
                let m = PhaseMarker::new(&mut profile, s, cats.phase);
                profile.add_marker(
                    thread,
                    MarkerTiming::Interval(at(s.start_ns), at(s.start_ns + s.dur_ns)),
                    m,
                );
            }
        }
    }
    Ok(profile)
}

/// A sampler's timed samples and its segments on `thread`.
fn samples(
    profile: &mut Profile,
    thread: ThreadHandle,
    p: &Sampled,
    cats: &Categories,
    at: &dyn Fn(f64) -> Timestamp,
) {
    let guest = p.sampler == "guest";
    let stacks: Vec<_> = p
        .stacks
        .iter()
        .map(|s| {
            let mut after_phase = false;
            let frames: Vec<FrameInfo> = s
                .frames
                .split(';')
                .map(|f| {
                    let category = if f.parse::<Phase>().is_ok() && !after_phase {
                        after_phase = true;
                        cats.label
                    } else if !guest || f == "[host]" {
                        cats.host
                    } else if after_phase {
                        cats.wasm
                    } else {
                        cats.label
                    };
                    FrameInfo {
                        frame: Frame::Label(profile.intern_string(f)),
                        category_pair: category.into(),
                        flags: FrameFlags::empty(),
                    }
                })
                .collect();
            profile.intern_stack_frames(thread, frames.into_iter())
        })
        .collect();
    for t in &p.timed {
        let stack = stacks.get(t.stack).copied().flatten();
        let weight = i32::try_from(t.weight).unwrap_or(i32::MAX);
        profile.add_sample(thread, at(t.t_ns), stack, CpuDelta::ZERO, weight);
    }
    for s in &p.segments {
        let m = SegmentMarker {
            name: profile.intern_string("sampled"),
            label: profile.intern_string(&s.label.replace(';', " · ")),
            category: cats.label,
        };
        profile.add_marker(
            thread,
            MarkerTiming::Interval(at(s.start_ns), at(s.end_ns)),
            m,
        );
    }
}

/// A host phase of one timed call.
struct PhaseMarker {
    name: StringHandle,
    category: CategoryHandle,
    iteration: f64,
    bytes_in: f64,
    bytes_out: f64,
}

impl PhaseMarker {
    fn new(profile: &mut Profile, s: &Span, category: CategoryHandle) -> PhaseMarker {
        PhaseMarker {
            name: profile.intern_string(s.phase.as_str()),
            category,
            iteration: s.iteration as f64,
            bytes_in: s.bytes_in.unwrap_or(0) as f64,
            bytes_out: s.bytes_out.unwrap_or(0) as f64,
        }
    }
}

impl StaticSchemaMarker for PhaseMarker {
    const UNIQUE_MARKER_TYPE_NAME: &'static str = "WprofPhase";
    const DESCRIPTION: Option<&'static str> =
        Some("A host phase of a call in wprof's timing pass, timed by the run's clock");
    const CHART_LABEL: Option<&'static str> = Some("{marker.name}");
    const TABLE_LABEL: Option<&'static str> = Some("{marker.name}, call {marker.data.iteration}");
    const FIELDS: &'static [StaticSchemaMarkerField] = &[
        StaticSchemaMarkerField {
            key: "iteration",
            label: "Call",
            format: MarkerFieldFormat::Integer,
            flags: MarkerFieldFlags::empty(),
        },
        StaticSchemaMarkerField {
            key: "bytesIn",
            label: "Bytes in",
            format: MarkerFieldFormat::Bytes,
            flags: MarkerFieldFlags::empty(),
        },
        StaticSchemaMarkerField {
            key: "bytesOut",
            label: "Bytes out",
            format: MarkerFieldFormat::Bytes,
            flags: MarkerFieldFlags::empty(),
        },
    ];

    fn name(&self, _: &mut Profile) -> StringHandle {
        self.name
    }

    fn category(&self, _: &mut Profile) -> CategoryHandle {
        self.category
    }

    fn string_field_value(&self, _: u32) -> StringHandle {
        // No string fields: FIELDS are all numbers.
        self.name
    }

    fn number_field_value(&self, field: u32) -> f64 {
        match field {
            0 => self.iteration,
            1 => self.bytes_in,
            _ => self.bytes_out,
        }
    }
}

/// A stretch in which a sampler ran.
struct SegmentMarker {
    name: StringHandle,
    label: StringHandle,
    category: CategoryHandle,
}

impl StaticSchemaMarker for SegmentMarker {
    const UNIQUE_MARKER_TYPE_NAME: &'static str = "WprofSampled";
    const DESCRIPTION: Option<&'static str> = Some(
        "A segment of calls in which the sampler ran (wprof alternates sampled and plain ones)",
    );
    const CHART_LABEL: Option<&'static str> = Some("{marker.data.what}");
    const TABLE_LABEL: Option<&'static str> = Some("sampled: {marker.data.what}");
    const FIELDS: &'static [StaticSchemaMarkerField] = &[StaticSchemaMarkerField {
        key: "what",
        label: "Sampled",
        format: MarkerFieldFormat::String,
        flags: MarkerFieldFlags::SEARCHABLE,
    }];

    fn name(&self, _: &mut Profile) -> StringHandle {
        self.name
    }

    fn category(&self, _: &mut Profile) -> CategoryHandle {
        self.category
    }

    fn string_field_value(&self, _: u32) -> StringHandle {
        self.label
    }

    fn number_field_value(&self, _: u32) -> f64 {
        // No number fields: FIELDS is one string.
        0.0
    }
}
