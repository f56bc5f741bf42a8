//! Handing a module to the scenario for its kind: `record hot-path`,
//! `cold-start` or `memory` given a component or a WASI command runs it as
//! `record component` or `record command`, with notes saying so and naming
//! what does not apply.

use super::common::OutputArgs;
use super::output::{Ran, record_one};
use crate::driver::Limits;
use crate::inside::InsideConfig;
use crate::run::Run;
use crate::scenario::command::{self, CommandConfig};
use crate::scenario::component::{self, ComponentConfig};
use crate::source::{InputSpec, PluginSpec};

/// A module `record hot-path` or `record cold-start` hands to the scenario
/// for its kind, with notes saying so and naming what does not apply.
pub(super) enum Handed {
    Component(ComponentConfig, Vec<String>),
    Command(CommandConfig, Vec<String>),
}

impl Handed {
    /// Records it as its own scenario.
    pub(super) fn record(self, output: &OutputArgs) -> anyhow::Result<()> {
        match self {
            Handed::Component(c, notes) => {
                record_one(output, component::NAME, &[Ran::Component(&c)], || {
                    component::run(&c).map(|r| noted(r, notes))
                })
            }
            Handed::Command(c, notes) => {
                record_one(output, command::NAME, &[Ran::Command(&c)], || {
                    command::run(&c).map(|r| noted(r, notes))
                })
            }
        }
    }
}

/// What `wprof` was asked to run, for a handover.
pub(super) struct Asked<'a> {
    /// `hot-path` or `cold-start`.
    pub(super) scenario: &'static str,
    pub(super) plugin: &'a PluginSpec,
    pub(super) export: Option<&'a str>,
    pub(super) input: &'a InputSpec,
    pub(super) limits: &'a Limits,
    /// Options of `scenario` that the other kinds' scenarios do not have.
    pub(super) not_applicable: Vec<&'static str>,
    /// The passes that look inside, handed over.
    pub(super) inside: &'a InsideConfig,
    /// Whole cold starts to measure.
    pub(super) cold_runs: u64,
    /// Instances to keep alive for memory readings.
    pub(super) instances: u64,
    /// Exactly this many warm runs of a command (`-n`); `None`: the
    /// command scenario's default.
    pub(super) runs: Option<u64>,
}

/// Where `asked`'s module goes when it is not a core-module plugin: a
/// component to `record component`, a WASI command to `record command`;
/// `None` for a plugin (and for a file the plugin path reports itself).
pub(super) fn handed_over(asked: Asked) -> anyhow::Result<Option<Handed>> {
    use crate::kind::ModuleKind;
    let PluginSpec::File(path) = asked.plugin else {
        return Ok(None);
    };
    // Unreadable: the plugin path reports it.
    let Ok(bytes) = crate::files::read(path, crate::files::Kind::Module) else {
        return Ok(None);
    };
    // A .wat file is judged by the module it parses to.
    let bytes = match wat::parse_bytes(&bytes) {
        Ok(b) => b.into_owned(),
        Err(_) => bytes,
    };
    let kind = crate::kind::of(&bytes);
    let (what, to) = match kind {
        ModuleKind::Plugin(_) => return Ok(None),
        ModuleKind::Component => ("component", component::NAME),
        ModuleKind::Command => ("WASI command", command::NAME),
        ModuleKind::ComponentCommand => ("WASI 0.2 command (wasi:cli/run)", command::NAME),
    };
    let shown = path.display();
    let mut notes = vec![format!(
        "record {}: {shown} is a {what}, so `record {to}` ran it (the same flags there give more control){}",
        asked.scenario,
        if asked.cold_runs > 0 {
            format!(
                "; its cold-start variant times {} from the bytes each time, {} times",
                match kind {
                    ModuleKind::Component => "compile, link, instantiate and the first call",
                    ModuleKind::ComponentCommand => "compile, link, instantiate and the run",
                    _ => "validate, compile, link, instantiate and the run",
                },
                asked.cold_runs
            )
        } else if asked.instances > 0 {
            format!(
                "; {} instances are kept alive after their runs for the memory readings, in this one process",
                asked.instances
            )
        } else {
            String::new()
        }
    )];
    let not_applicable = asked.not_applicable;
    if !not_applicable.is_empty() {
        notes.push(format!(
            "{}: not applicable to a {what} run",
            not_applicable.join(", ")
        ));
    }
    let limits = asked.limits.clone();
    Ok(Some(match kind {
        ModuleKind::Plugin(_) => unreachable!("returned above"),
        ModuleKind::Component if asked.instances > 0 => {
            return Err(crate::Error::plugin(
                shown.to_string(),
                crate::phase::Phase::Instantiate,
                "a component: record memory does not apply: its linear memory is not visible through Wasmtime's component API, so its figures could not be split; `wprof record component` times its calls",
            )
            .into());
        }
        ModuleKind::Component => {
            let export = asked.export.map(str::to_owned).ok_or_else(|| {
                crate::Error::Config(format!(
                    "{shown} is a component: pass --export NAME (`wprof inspect {shown}` lists them) and its arguments as a JSON array (--input-json or --input FILE)"
                ))
            })?;
            let text = match asked.input {
                InputSpec::Inline(text) => text.clone(),
                InputSpec::File(file) => crate::files::read_text(file, crate::files::Kind::Input)
                    .map_err(|e| anyhow::anyhow!("input: {e}"))?,
                InputSpec::Default => "[]".to_owned(),
            };
            let args = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the component's arguments are not JSON: {e}"))?;
            Handed::Component(
                ComponentConfig {
                    plugin: Some(path.clone()),
                    export,
                    args,
                    cold_runs: asked.cold_runs,
                    limits,
                    inside: asked.inside.clone(),
                    ..ComponentConfig::default()
                },
                notes,
            )
        }
        ModuleKind::Command | ModuleKind::ComponentCommand => {
            let mut wasi = limits.extism.wasi.clone();
            if wasi.stdin.is_none()
                && let InputSpec::File(file) = asked.input
            {
                wasi.stdin = Some(file.clone());
            }
            let d = CommandConfig::default();
            let runs = match asked.runs {
                Some(n) => crate::scenario::runner::Runs {
                    min: n,
                    max: n,
                    trace: d.runs.trace.min(n),
                    ..d.runs
                },
                None => d.runs,
            };
            Handed::Command(
                CommandConfig {
                    plugin: Some(path.clone()),
                    wasi,
                    cold_runs: asked.cold_runs,
                    instances: asked.instances,
                    runs,
                    limits,
                    inside: asked.inside.clone(),
                    ..d
                },
                notes,
            )
        }
    }))
}

/// `run` with `notes` first among its notes.
pub(super) fn noted(mut run: Run, mut notes: Vec<String>) -> Run {
    notes.append(&mut run.notes);
    run.notes = notes;
    run
}
