//! Loading a command: its bytes read, compiled and linked, its stdin and
//! the streams it must print read, ready to run; and [`Ready`], a command
//! run again and again under another's eye (the heap pass).

use wasmtime::component::Component;
use wasmtime::{Engine, Linker};

use super::wasi::{Instr, Pre, State, component_pre, linker};
use super::{BENCH_COMMAND, CommandConfig, Given, Streams};
use crate::driver::Driver;
use crate::error::{Error, one_line};
use crate::files::Kind;
use crate::phase::Phase;
use crate::run::PhaseTime;
use crate::timing::Clock;
use crate::timing::Monotonic;
use crate::timing::target::NoMarks;

/// A command read, compiled and linked.
pub(super) struct Loaded {
    /// Its name (argv[0], and in every error).
    pub(super) name: String,
    /// Where it came from, for the report.
    pub(super) source: String,
    pub(super) bytes: Vec<u8>,
    /// Its stdin, read from `--stdin`.
    pub(super) stdin: Vec<u8>,
    /// The streams it must print, read from `--expect-*`.
    pub(super) expected: Streams,
    /// Reading and compiling it, timed once.
    pub(super) setup: Vec<PhaseTime>,
    pub(super) engine: Engine,
    /// WASI preview 1 and the bench protocol, reading wprof's clock.
    pub(super) linker: Linker<State>,
    pub(super) pre: Pre,
    /// It imports `bench.start` and `bench.end`.
    pub(super) bench_imported: bool,
    /// A component command (`wasi:cli/run`), not a core module.
    pub(super) component: bool,
}

/// Reads, compiles and links `cfg`'s command, its bench functions reading
/// `clock`. Fails naming the command, the phase and the cause.
pub(super) fn load<C: Clock>(clock: C, cfg: &CommandConfig) -> Result<Loaded, Error> {
    let (name, source, bytes, read) = match &cfg.plugin {
        None => (
            "bench-command".to_owned(),
            "bundled:bench-command".to_owned(),
            BENCH_COMMAND.to_vec(),
            None,
        ),
        Some(path) => {
            let p = crate::source::PluginSpec::File(path.clone()).resolve()?;
            (p.name, p.source, p.bytes, p.read)
        }
    };
    let stdin = match &cfg.wasi.stdin {
        Some(path) => crate::files::read(path, Kind::Input)
            .map_err(|e| Error::Config(format!("--stdin: {e}")))?,
        None => Vec::new(),
    };
    let expected = Streams::expected(cfg)?;
    cfg.wasi.check().map_err(Error::Config)?;
    let driver = crate::driver::wasmtime::WasmtimeDriver::<crate::driver::wprof::Wprof>::default();
    let engine = driver.engine().clone();
    let mut setup: Vec<_> = read.into_iter().collect();
    let component = wasmparser::Parser::is_component(&bytes);
    let link_err =
        |e: wasmtime::Error| Error::plugin(&name, Phase::Link, one_line(&anyhow::Error::from(e)));
    let linker = linker::<C>(&engine, clock).map_err(link_err)?;
    let (pre, bench_imported) = if component {
        if cfg.instances > 0 {
            return Err(Error::plugin(
                &name,
                Phase::Instantiate,
                "a component command: --instances does not apply: its linear memory is not visible through Wasmtime's component API",
            ));
        }
        let c = crate::driver::timed(&mut setup, Phase::Compile, || {
            Component::from_binary(&engine, &bytes)
        })
        .map_err(|e| Error::plugin(&name, Phase::Compile, one_line(&e.into())))?;
        let pre = component_pre(&engine, &c).map_err(|e| {
            Error::plugin(
                &name,
                Phase::Link,
                format!(
                    "{} (a component runs as a command when it exports wasi:cli/run and imports only WASI 0.2; `wprof inspect` lists what it has)",
                    one_line(&e.into())
                ),
            )
        })?;
        (Pre::Component(pre), false)
    } else {
        let module = driver.load(&name, &bytes, &mut setup)?;
        if module.get_export("_start").is_none() {
            return Err(Error::plugin(
                &name,
                Phase::Instantiate,
                "exports no `_start`: not a WASI command (wprof inspect says what it is)",
            ));
        }
        let bench_imported = module
            .imports()
            .any(|i| i.module() == "bench" && matches!(i.name(), "start" | "end"));
        let pre = linker.instantiate_pre(&module).map_err(link_err)?;
        (Pre::Core(pre), bench_imported)
    };
    Ok(Loaded {
        name,
        source,
        bytes,
        stdin,
        expected,
        setup,
        engine,
        linker,
        pre,
        bench_imported,
        component,
    })
}

/// A command loaded, to be run again and again by someone who watches
/// something else than time (the heap pass): each run in a fresh instance,
/// as `record command` runs it, failing only when the command fails.
pub struct Ready {
    cfg: CommandConfig,
    loaded: Loaded,
}

/// `cfg`'s command, loaded; see [`Ready`].
pub fn ready(cfg: &CommandConfig) -> Result<Ready, Error> {
    Ok(Ready {
        cfg: cfg.clone(),
        loaded: load(Monotonic, cfg)?,
    })
}

impl Ready {
    /// One run in a fresh instance.
    pub fn run(&self) -> Result<(), Error> {
        let l = &self.loaded;
        let given = Given {
            clock: Monotonic,
            cfg: &self.cfg,
            argv0: &l.name,
            stdin: &l.stdin,
            bench_imported: l.bench_imported,
            expected: &l.expected,
        };
        given
            .run(&l.pre, &Instr::default(), &mut NoMarks)
            .map(drop)
            .map_err(|e| e.into_error(&l.name))
    }

    /// The command's name.
    pub fn name(&self) -> &str {
        &self.loaded.name
    }
}
