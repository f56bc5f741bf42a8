//! The end of a record command: the heap passes, the files, what is
//! printed, and the exit status.

use std::io::Write;

use super::common::OutputArgs;
use crate::export::{self, Exporter, OutputConfig};
use crate::run::Run;
use crate::scenario::command::CommandConfig;
use crate::scenario::component::ComponentConfig;
use crate::source::{InputSpec, PluginSpec};

/// Each run's file stem: its scenario, and also its plugin when there are
/// several runs.
/// The other artifacts of the run in `run_file` (same directory and stem,
/// and the sibling `flamegraphs/`), as hrefs relative to `report`'s
/// directory where they lie under it, else absolute.
pub(super) fn artifacts(run_file: &std::path::Path, report: &std::path::Path) -> Vec<String> {
    let Some(stem) = run_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
    else {
        return Vec::new();
    };
    let dir = run_file.parent().unwrap_or(std::path::Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let mut dirs = vec![dir.to_owned()];
    if let Some(up) = dir.parent() {
        dirs.push(up.join("flamegraphs"));
    }
    let base = std::fs::canonicalize(
        report
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    )
    .ok();
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                // The run's own JSON too: the report's source, for a reader
                // who wants every figure.
                name.starts_with(&format!("{stem}."))
            })
            .collect();
        names.sort();
        for p in names {
            let abs = std::fs::canonicalize(&p).unwrap_or(p);
            let href = match base.as_ref().and_then(|b| abs.strip_prefix(b).ok()) {
                Some(rel) => rel.display().to_string(),
                None => abs.display().to_string(),
            };
            out.push(href);
        }
    }
    out
}

pub(super) fn stems(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            if runs.len() > 1 {
                let plugin = std::path::Path::new(&run.plugin.name)
                    .file_stem()
                    .map_or_else(
                        || run.plugin.name.clone(),
                        |s| s.to_string_lossy().into_owned(),
                    );
                format!("{}.{plugin}", run.scenario)
            } else {
                run.scenario.clone()
            }
        })
        .collect()
}

/// The end of every `record`: the heap passes if asked, the files and the
/// printout, then an error if a variant failed.
pub(super) fn finish(
    mut runs: Vec<Run>,
    ran: &[Ran<'_>],
    out: &OutputConfig,
    args: &OutputArgs,
) -> anyhow::Result<()> {
    if runs.iter().any(|r| r.incomplete) && !crate::interrupt::was_measured() {
        return Err(crate::Error::InterruptedEarly.into());
    }
    // A format asked for by name that a run cannot fill fails the record
    // before anything is written.
    for run in &runs {
        if let Some(why) = export::ci::refusal(&out.exporters, run) {
            anyhow::bail!("{why}");
        }
    }
    let mut set = export::OutputSet::new(inputs(ran));
    if !runs.iter().any(|r| r.incomplete) {
        heap_passes(&mut runs, ran, out, args, &mut set)?;
    }
    for run in &mut runs {
        let notes = crate::scenario::noise_notes(run);
        run.notes.extend(notes);
        run.host.load_average = crate::scenario::load_average();
        run.headline = crate::run::headline::headline(run);
    }
    report(&runs, out, args, set)?;
    if runs.iter().any(|r| r.incomplete) {
        return Err(crate::Error::Interrupted.into());
    }
    failed(&runs)
}

/// With `--heap`: each run's heap pass, recorded in the run.
pub(super) fn heap_passes(
    runs: &mut [Run],
    ran: &[Ran<'_>],
    out: &OutputConfig,
    args: &OutputArgs,
    set: &mut export::OutputSet,
) -> anyhow::Result<()> {
    // The guest pass needs native's figures, which the host pass takes.
    if !args.heap && !args.guest_heap() {
        return Ok(());
    }
    let stems = stems(runs);
    for ((run, ran), stem) in runs.iter_mut().zip(ran).zip(stems) {
        let _stage = crate::stages::stage("heap pass", 0, 0);
        let dest = out.heap_file(&stem);
        let (heap, note) = match ran {
            Ran::Plugin(plugin, export, input, extism) => (
                crate::heap::pass(
                    plugin,
                    *export,
                    (input, extism),
                    args.heap_calls.unwrap_or(crate::heap::DEFAULT_CALLS),
                    &dest,
                    set,
                )?,
                "heap: a separate pass under dhat, which slows allocation several times over; no timing above comes from it. dhat sees host allocations only: a native call's count includes the plugin's own work, which in wasm allocates inside linear memory, unseen",
            ),
            Ran::Component(cfg) => (
                crate::heap::component_pass(
                    cfg,
                    args.heap_calls.unwrap_or(crate::heap::DEFAULT_CALLS),
                    &dest,
                    set,
                )?,
                "heap: a separate pass under dhat, which slows allocation several times over; no timing above comes from it. dhat sees host allocations only: what wprof's host allocates per call (the arguments lowered, the results lifted into host values); the component's own allocations are inside its linear memory, unseen",
            ),
            Ran::Command(cfg) => (
                crate::heap::command_pass(
                    cfg,
                    args.heap_calls.unwrap_or(crate::heap::DEFAULT_RUNS),
                    &dest,
                    set,
                )?,
                "heap: a separate pass under dhat, which slows allocation several times over; no timing above comes from it. dhat sees host allocations only: what wprof's host allocates per run (the WASI context, the store, the instance, what the WASI calls allocate); the command's own allocations are inside linear memory, unseen",
            ),
        };
        run.heap = Some(heap);
        run.notes.push(note.into());
        if !args.guest_heap() {
            continue;
        }
        let Ran::Plugin(plugin, export, input, extism) = ran else {
            run.notes.push("guest heap: not offered for a WASI command or a component (it hooks a plugin's allocator); --heap's figures above are the host's".into());
            continue;
        };
        let _stage = crate::stages::stage("guest heap pass", 0, 0);
        let cfg = args.guest_heap_config();
        let dest = out.guest_heap_file(&stem);
        let (guest, notes) =
            crate::guest_heap::pass(plugin, *export, (input, extism), &cfg, &dest, set)?;
        run.guest_heap = guest;
        run.notes.extend(notes);
        if run.guest_heap.is_some() {
            run.notes.push("guest heap: a separate pass on a copy of the module whose allocator calls wprof at each entry and exit (the stack captured at each block); no timing above comes from it. Sizes are what the plugin asked for, not the allocator's chunk sizes".into());
        }
    }
    Ok(())
}

/// What a record command ran: a plugin with its export, input and what an
/// Extism host hands it (config, WASI), a WASI command, or a component's
/// export.
pub(super) enum Ran<'a> {
    Plugin(
        &'a PluginSpec,
        Option<&'a str>,
        &'a InputSpec,
        &'a crate::driver::extism::ExtismOptions,
    ),
    Command(&'a CommandConfig),
    Component(&'a ComponentConfig),
}

/// The files a record command read: none of its outputs may be one.
fn inputs(ran: &[Ran<'_>]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for r in ran {
        match r {
            Ran::Plugin(plugin, _, input, _) => {
                if let PluginSpec::File(p) = plugin {
                    out.push(p.clone());
                }
                if let InputSpec::File(p) = input {
                    out.push(p.clone());
                }
            }
            Ran::Component(c) => out.extend(c.plugin.clone()),
            Ran::Command(c) => out.extend(
                [&c.plugin, &c.wasi.stdin, &c.expect_stdout, &c.expect_stderr]
                    .into_iter()
                    .flatten()
                    .cloned(),
            ),
        }
    }
    out
}

/// Writes every run's files, as one set, and prints them as asked. A run's
/// files are named after its scenario, and also its plugin when there are
/// several.
pub(super) fn report(
    runs: &[Run],
    out: &OutputConfig,
    args: &OutputArgs,
    mut set: export::OutputSet,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    for (run, stem) in runs.iter().zip(stems(runs)) {
        out.stage_all(run, &stem, &mut set)?;
    }
    let written = set.commit()?;
    if args.json {
        if let [run] = runs {
            export::RunJson.write(run, &mut stdout)?;
        } else {
            serde_json::to_writer_pretty(&mut stdout, runs)?;
            writeln!(stdout)?;
        }
    } else if !args.quiet {
        let detail = if super::verbose() {
            export::Detail::Full
        } else {
            export::Detail::Compact
        };
        for run in runs {
            export::table::body(run, detail, &mut stdout)?;
            writeln!(stdout)?;
        }
        for path in &written {
            writeln!(stdout, "wrote {}", path.display())?;
        }
        // The answer last, where the terminal leaves the eye.
        for run in runs {
            writeln!(stdout)?;
            export::table::headline(run, &mut stdout)?;
        }
    }
    if args.open {
        let html = written
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "html"));
        match html {
            Some(page) => open_page(page),
            None => eprintln!("wprof: --open: no HTML page was written (see --formats)"),
        }
    }
    Ok(())
}

/// Opens `page` in the default browser: `$BROWSER` where set, else the
/// desktop's opener. Not opening is a warning, never a failure: the files
/// are written.
fn open_page(page: &std::path::Path) {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".to_owned()
            } else {
                "xdg-open".to_owned()
            }
        });
    let started = std::process::Command::new(&opener)
        .arg(page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        eprintln!(
            "wprof: --open: cannot run {}: {e}; the page is {}",
            crate::text::Esc(&opener),
            page.display()
        );
    }
}

/// Fails when a run recorded a failed variant (after its files are written):
/// the first failure is the error, the others go to stderr first.
pub(super) fn failed(runs: &[Run]) -> anyhow::Result<()> {
    let mut all = runs.iter().flat_map(|r| {
        r.failures.iter().map(move |f| {
            crate::Error::plugin(
                &r.plugin.name,
                f.phase,
                format!("{}: {}", f.variant, f.cause),
            )
        })
    });
    let Some(first) = all.next() else {
        return Ok(());
    };
    for other in all {
        eprintln!("wprof: error: {other}");
    }
    Err(first.into())
}

/// The spinner of a record command, off with `--quiet` and `--json`.
pub(super) fn progress(args: &OutputArgs, label: &str) -> crate::progress::Progress {
    crate::progress::Progress::start(label, args.quiet || args.json)
}

/// A record command of one plugin: checks the output directory, runs the
/// scenario under a spinner, writes what it measured.
pub(super) fn record_one(
    args: &OutputArgs,
    scenario: &str,
    ran: &[Ran<'_>],
    run: impl FnOnce() -> Result<Run, crate::Error>,
) -> anyhow::Result<()> {
    let out = args.config()?;
    // A --guest-alloc that names nothing fails before anything is measured.
    if args.guest_heap() {
        for r in ran {
            if let Ran::Plugin(plugin, ..) = r {
                crate::guest_heap::check(plugin, &args.guest_heap_config())?;
            }
        }
    }
    out.prepare()?;
    let spinner = progress(args, &format!("recording {scenario}"));
    let runs = vec![run()?];
    drop(spinner);
    finish(runs, ran, &out, args)
}
