//! What `record engines` runs on every engine: a plugin read, its export
//! chosen, its input encoded once, its first call proven (guarded, on
//! Cranelift, stopped at the deadline) and its reference output: native's,
//! where the plugin has a native build, else Cranelift's.

use crate::bundled::NativeFn;
use crate::driver::wprof::Wprof;
use crate::error::Error;
use crate::phase::Phase;
use crate::source::PluginSpec;

use super::EnginesConfig;

/// The plugin asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A bundled plugin or a module file.
    Plugin(PluginSpec),
    /// The compute plugin (plugins/blur, built without SIMD): a blur of a
    /// generated `width` x `height` RGBA image.
    Blur {
        /// Pixels across.
        width: u32,
        /// Pixels down.
        height: u32,
    },
}

impl Default for Subject {
    /// The bundled drug-checker.
    fn default() -> Self {
        Subject::Plugin(PluginSpec::default())
    }
}

impl Subject {
    /// `blur` names the compute plugin (unless a file of that name
    /// exists); anything else is a plugin spec.
    pub fn parse(s: &str, blur_size: (u32, u32)) -> Subject {
        if s == "blur" && !std::path::Path::new(s).exists() {
            Subject::Blur {
                width: blur_size.0,
                height: blur_size.1,
            }
        } else {
            Subject::Plugin(PluginSpec::parse(s))
        }
    }
}

/// The plugin, ready for every engine.
pub(crate) struct Plugin {
    /// Its name.
    pub(crate) name: String,
    /// Where it came from (`bundled:drug-checker`, a path).
    pub(crate) source: String,
    /// The module.
    pub(crate) bytes: Vec<u8>,
    /// The export called.
    pub(crate) export: String,
    /// The input as copy-in writes it (JSON encoded once, for the wprof ABI).
    pub(crate) input: Vec<u8>,
    /// Its native build, where it has one.
    pub(crate) native: Option<NativeFn>,
    /// The output every engine's first call must return.
    pub(crate) reference: Vec<u8>,
    /// Whose output that is: `native` or `cranelift`.
    pub(crate) reference_name: &'static str,
    /// Notes on how it was prepared.
    pub(crate) notes: Vec<String>,
}

/// Reads and proves the plugin `cfg` names.
pub(crate) fn prepare(cfg: &EnginesConfig) -> Result<Plugin, Error> {
    let _stage = crate::stages::stage("setup: read, validate, compile, first call", 0, 0);
    let (name, source, bytes, export, input, native, wasm_output, mut notes) = match &cfg.subject {
        Subject::Blur { width, height } => {
            let pixels = crate::scenario::compute::image(*width, *height);
            let input = blur::encode(*width, *height, &pixels);
            let native: NativeFn = blur::blur_bytes;
            let bytes = crate::scenario::compute::SCALAR_WASM;
            let first = crate::driver::guard::guarded_call::<Wprof>(
                "blur",
                bytes,
                "blur",
                &input,
                &cfg.limits,
            )?;
            (
                "blur".to_owned(),
                "bundled:blur".to_owned(),
                bytes.to_vec(),
                "blur".to_owned(),
                input,
                Some(native),
                first.output,
                vec![format!(
                    "blur: a 5-tap binomial blur of a generated {width}x{height} RGBA image (plugins/blur, built without SIMD)"
                )],
            )
        }
        Subject::Plugin(spec) => {
            let plugin = spec.resolve()?;
            crate::driver::with_abi!(crate::kind::abi(&plugin.bytes), A => {
                let p = crate::scenario::prepare::<A>(plugin, cfg.export.as_deref(), &cfg.input, &cfg.limits)?;
                let native = match (<A as crate::driver::wasmtime::Abi>::JSON, p.plugin.bundled) {
                    (true, Some(b)) => Some(b.native),
                    _ => None,
                };
                (p.plugin.name, p.plugin.source, p.plugin.bytes, p.export, p.input, native, p.first.output, Vec::new())
            })
        }
    };
    let (reference, reference_name) = match native {
        Some(f) => {
            let out = f(&input).map_err(|e| {
                Error::plugin(
                    &name,
                    Phase::Execute,
                    format!("the native build returned an error: {e}"),
                )
            })?;
            if out != wasm_output {
                notes.push(format!(
                    "warning: the wasm build's first output ({} bytes, Cranelift) differs from the native build's ({} bytes): engines are checked against native's",
                    wasm_output.len(),
                    out.len()
                ));
            }
            (out, "native")
        }
        None => {
            notes.push(format!(
                "{}: no native build (only wprof's bundled plugins have one): engines are ranked against Cranelift, and their outputs checked against its",
                crate::text::Esc(&name)
            ));
            (wasm_output, "cranelift")
        }
    };
    Ok(Plugin {
        name,
        source,
        bytes,
        export,
        input,
        native,
        reference,
        reference_name,
        notes,
    })
}
