//! Running what the command line asked for: each command's config to its
//! scenario or tool, and a record command's run to its files.

use std::io::Write;

use super::args::*;
use super::common::BoundaryArgs;
use super::handover::{Asked, handed_over};
use super::output::{Ran, artifacts, finish, progress, record_one};
use crate::call::{self, CallConfig};
use crate::compare::{self, CompareConfig};
use crate::export;

use crate::scenario::cold_start::{self, Iterations};
use crate::scenario::{
    batching, codecs, command, component, compute, concurrency, data_transfer, engines,
    host_functions, hot_path, memory, soak,
};
use crate::source::PluginSpec;

/// A boundary scenario's record command: its config, run and written.
fn boundary<C>(
    args: &BoundaryArgs,
    scenario: &str,
    cfg: anyhow::Result<C>,
    run: fn(&C) -> Result<crate::run::Run, crate::Error>,
) -> anyhow::Result<()> {
    let cfg = cfg?;
    record_one(&args.output, scenario, &[], || run(&cfg))
}

/// `boundary` for the scenario module `$m`, with arguments `$a`.
macro_rules! boundary {
    ($a:ident, $m:ident) => {
        boundary(&$a.common, $m::NAME, $a.config(), $m::run)?
    };
}

/// Runs the command the line asked for.
pub(super) fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Record(_)) {
        crate::interrupt::install();
    }
    match cli.command {
        Command::Record(Record::HotPath(args)) => {
            args.record.check_formats()?;
            let cfg = args.config();
            let asked = Asked {
                scenario: "hot-path",
                plugin: &cfg.plugin,
                export: cfg.export.as_deref(),
                input: &cfg.input,
                limits: &cfg.limits,
                not_applicable: Vec::new(),
                inside: &cfg.inside,
                cold_runs: 0,
                instances: 0,
                runs: args.iterations,
            };
            match handed_over(asked)? {
                Some(handed) => handed.record(&args.record.output)?,
                None => {
                    let plugin = Ran::Plugin(
                        &cfg.plugin,
                        cfg.export.as_deref(),
                        &cfg.input,
                        &cfg.limits.extism,
                    );
                    record_one(&args.record.output, "hot-path", &[plugin], || {
                        hot_path::run(&cfg)
                    })?;
                }
            }
        }
        Command::Record(Record::ColdStart(args)) => {
            args.record.check_formats()?;
            let configs = args.configs()?;
            if let [cfg] = &configs[..] {
                let cold_runs = match cfg.iterations {
                    Iterations::Exactly(n) => n,
                    Iterations::Timed { min, .. } => min.max(10),
                };
                let asked = Asked {
                    scenario: "cold-start",
                    plugin: &cfg.plugin,
                    export: cfg.export.as_deref(),
                    input: &cfg.input,
                    limits: &cfg.limits,
                    not_applicable: vec!["the rungs (winch, aot, pooling, wizer)"],
                    inside: &cfg.inside,
                    cold_runs,
                    instances: 0,
                    // As many warm runs as cold ones, for the comparison.
                    runs: Some(cold_runs),
                };
                if let Some(handed) = handed_over(asked)? {
                    return handed.record(&args.record.output);
                }
            }
            let out = args.record.output.config()?;
            out.prepare()?;
            let spinner = progress(&args.record.output, "recording cold-start");
            // Keep going: a plugin that fails is reported on its own line
            // and the others are still measured and written.
            let mut runs = Vec::new();
            let mut kept = Vec::new();
            let mut failed = Vec::new();
            for c in &configs {
                match cold_start::run(c) {
                    Ok(run) => {
                        runs.push(run);
                        kept.push(c);
                    }
                    Err(e) if configs.len() > 1 && !args.fail_fast => {
                        eprintln!("wprof: error: {e}");
                        failed.push(e.to_string());
                    }
                    Err(e) => return Err(e.into()),
                }
                if crate::interrupt::requested() {
                    break;
                }
            }
            drop(spinner);
            let plugins: Vec<_> = kept
                .iter()
                .map(|c| Ran::Plugin(&c.plugin, c.export.as_deref(), &c.input, &c.limits.extism))
                .collect();
            if !runs.is_empty() {
                finish(runs, &plugins, &out, &args.record.output)?;
            }
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} of {} plugins failed (each named above); the others were written",
                    failed.len(),
                    configs.len()
                );
            }
        }
        Command::Record(Record::Memory(args)) => {
            args.record.check_formats()?;
            let cfg = args.config();
            let asked = Asked {
                scenario: "memory",
                plugin: &cfg.plugin,
                export: cfg.export.as_deref(),
                input: &cfg.input,
                limits: &cfg.limits,
                not_applicable: vec!["the modes (jit, aot, pooling, each in its own process)"],
                inside: &cfg.inside,
                cold_runs: 0,
                instances: cfg.instances.max(1),
                runs: None,
            };
            if let Some(handed) = handed_over(asked)? {
                return handed.record(&args.record.output);
            }
            let plugin = Ran::Plugin(
                &cfg.plugin,
                cfg.export.as_deref(),
                &cfg.input,
                &cfg.limits.extism,
            );
            record_one(&args.record.output, "memory", &[plugin], || {
                memory::run(&cfg)
            })?;
        }
        Command::Record(Record::Soak(args)) => {
            args.record.check_formats()?;
            let cfg = args.config();
            let plugin = Ran::Plugin(
                &cfg.plugin,
                cfg.export.as_deref(),
                &cfg.input,
                &cfg.limits.extism,
            );
            record_one(&args.record.output, "soak", &[plugin], || soak::run(&cfg))?;
        }
        Command::Record(Record::Batching(a)) => boundary!(a, batching),
        Command::Record(Record::HostFunctions(a)) => boundary!(a, host_functions),
        Command::Record(Record::Compute(a)) => boundary!(a, compute),
        Command::Record(Record::Codecs(a)) => boundary!(a, codecs),
        Command::Record(Record::Component(a)) => {
            let cfg = a.config()?;
            record_one(
                &a.common.output,
                component::NAME,
                &[Ran::Component(&cfg)],
                || component::run(&cfg),
            )?;
        }
        Command::Record(Record::Command(a)) => {
            let cfg = a.config()?;
            record_one(
                &a.common.output,
                command::NAME,
                &[Ran::Command(&cfg)],
                || command::run(&cfg),
            )?;
        }
        Command::Record(Record::DataTransfer(a)) => boundary!(a, data_transfer),
        Command::Record(Record::Concurrency(a)) => {
            a.record.check_formats()?;
            let cfg = a.config()?;
            let plugin = Ran::Plugin(
                &cfg.plugin,
                cfg.export.as_deref(),
                &cfg.input,
                &cfg.limits.extism,
            );
            record_one(&a.record.output, concurrency::NAME, &[plugin], || {
                concurrency::run(&cfg)
            })?;
        }
        Command::Record(Record::Engines(a)) => {
            let cfg = a.config()?;
            let ran = match &cfg.subject {
                engines::Subject::Plugin(p) => {
                    vec![Ran::Plugin(
                        p,
                        cfg.export.as_deref(),
                        &cfg.input,
                        &cfg.limits.extism,
                    )]
                }
                engines::Subject::Blur { .. } => Vec::new(),
            };
            record_one(&a.output, engines::NAME, &ran, || engines::run(&cfg))?;
        }
        Command::Driver => crate::driver::child::server::serve()?,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics on a failed write
            // (a closed pipe), and a reader that stops early is no error.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "wprof", &mut script);
            match std::io::stdout().lock().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        Command::MemoryProbe { request } => {
            let profile = memory::probe(&memory::probe_from_json(&request)?)?;
            serde_json::to_writer(std::io::stdout().lock(), &profile)?;
        }
        Command::Report(args) => {
            let mut runs = args
                .runs
                .iter()
                .map(|p| compare::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            // Run files of older wprof versions have no headline: drawn
            // from their figures the same way.
            for run in &mut runs {
                run.headline = crate::run::headline::of(run);
            }
            let links: Vec<Vec<String>> = args
                .runs
                .iter()
                .map(|p| artifacts(p, &args.output))
                .collect();
            let html = export::html::report(&runs, &links)?;
            export::write_one(&args.output, &args.runs, |w| {
                Ok(w.write_all(html.as_bytes())?)
            })?;
            println!("wrote {}", args.output.display());
        }
        Command::Export(args) => {
            let runs = args
                .runs
                .iter()
                .map(|p| compare::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&crate::run::Run> = runs.iter().collect();
            match &args.output {
                Some(path) => {
                    export::write_one(path, &args.runs, |w| {
                        export::ci::export(&args.format, &refs, w)
                    })?;
                    eprintln!("wrote {}", path.display());
                }
                None => {
                    // Whole or nothing: a refused run prints no half.
                    let mut buf = Vec::new();
                    export::ci::export(&args.format, &refs, &mut buf)?;
                    std::io::stdout().lock().write_all(&buf)?;
                }
            }
        }
        Command::Compare(args) => {
            let cfg = CompareConfig {
                base: args.base.clone(),
                new: args.new.clone(),
                noise_pct: args.noise,
                noise_ns: args.noise_ns,
                threshold_pct: args.threshold,
                allow_missing: args.allow_missing,
            };
            let report = compare::compare(&cfg)?;
            let mut out = std::io::stdout().lock();
            match args.format.as_str() {
                "json" => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                f => compare::render(&report, f == "markdown", &mut out)?,
            }
            if let (Some(path), Some(new_path)) = (&args.diff_flamegraph, &cfg.new) {
                let (base, new) = (compare::load(&cfg.base)?, compare::load(new_path)?);
                let inputs = [cfg.base.clone(), new_path.clone()];
                export::write_one(path, &inputs, |w| compare::diff_flamegraph(&base, &new, w))?;
                writeln!(out, "wrote {}", path.display())?;
            }
            if let Some(why) = report.gate() {
                anyhow::bail!("{why}");
            }
        }
        Command::Inspect(args) => {
            let found = crate::inspect::inspect(&args.module)?;
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer_pretty(&mut out, &found)?;
                writeln!(out)?;
            } else {
                crate::inspect::render(&found, &mut out)?;
            }
        }
        Command::Compile(args) => {
            let size =
                cold_start::compile(&PluginSpec::parse(&args.plugin), args.like, &args.output)?;
            println!("wrote {} ({size} B)", args.output.display());
        }
        Command::Call(args) => {
            let (plugin, input) = args.plugin.specs();
            let cfg = CallConfig {
                plugin,
                export: args.plugin.input.export.clone(),
                input,
                native: args.native,
                limits: args.plugin.input.extism.limits(&args.limits),
            };
            let called = call::call(&cfg)?;
            for line in &called.logs {
                eprintln!("plugin log: {}", crate::text::Esc(line));
            }
            let mut stdout = std::io::stdout().lock();
            // The output is the product: raw into a pipe or file, escaped
            // on a terminal.
            if std::io::IsTerminal::is_terminal(&stdout) {
                let text = String::from_utf8_lossy(&called.output);
                write!(stdout, "{}", crate::text::Esc(&text))?;
            } else {
                stdout.write_all(&called.output)?;
            }
            writeln!(stdout)?;
        }
    }
    Ok(())
}
