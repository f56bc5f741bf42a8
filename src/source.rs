//! Where a plugin and its input come from: a bundled plugin or a file, and an
//! input given inline, by file, or defaulted from the bundled plugin.

use std::path::{Path, PathBuf};

use crate::bundled::{self, Bundled};
use crate::error::Error;
use std::time::Instant;

use anyhow::{anyhow, bail};

use crate::error::one_line;
use crate::files::Kind;
use crate::phase::Phase;
use crate::run::PhaseTime;

/// The plugin to run, as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSpec {
    /// A plugin bundled with wprof, by name.
    Bundled(&'static str),
    /// A module file (binary `.wasm` or text `.wat`).
    File(PathBuf),
}

impl Default for PluginSpec {
    /// The bundled drug-checker.
    fn default() -> Self {
        PluginSpec::Bundled("drug-checker")
    }
}

impl PluginSpec {
    /// A bundled plugin's name resolves to it unless a file of that name
    /// exists; anything else is a path.
    pub fn parse(s: &str) -> PluginSpec {
        match bundled::by_name(s) {
            Some(b) if !Path::new(s).exists() => PluginSpec::Bundled(b.name),
            _ => PluginSpec::File(PathBuf::from(s)),
        }
    }
}

/// A plugin's bytes, resolved.
#[derive(Debug)]
pub struct PluginBytes {
    /// Short name used in messages and reports.
    pub name: String,
    /// `bundled:<name>` or the path given.
    pub source: String,
    /// The binary module.
    pub bytes: Vec<u8>,
    /// The read phase, when the bytes came from a file.
    pub read: Option<PhaseTime>,
    /// The bundled plugin these bytes are (by name, or byte-identical file).
    pub bundled: Option<&'static Bundled>,
}

impl PluginSpec {
    /// Loads the bytes (the read phase, for a file).
    pub fn resolve(&self) -> Result<PluginBytes, Error> {
        match self {
            PluginSpec::Bundled(name) => {
                let b = bundled::by_name(name)
                    .ok_or_else(|| Error::Config(format!("no bundled plugin named `{name}`")))?;
                Ok(PluginBytes {
                    name: b.name.to_owned(),
                    source: format!("bundled:{}", b.name),
                    bytes: b.wasm.to_vec(),
                    read: None,
                    bundled: Some(b),
                })
            }
            PluginSpec::File(path) => {
                let shown = path.display().to_string();
                let (bytes, read) = read(&shown, path).map_err(|e| match e {
                    // A bare name that is no file, next to a bundled one.
                    Error::Plugin { .. } if !path.exists() => match bundled::closest(&shown) {
                        Some(near) => Error::plugin(
                            &shown,
                            Phase::Read,
                            format!(
                                "no such file, and no bundled plugin of that name: did you mean the bundled `{near}`?"
                            ),
                        ),
                        None => e,
                    },
                    e => e,
                })?;
                Ok(PluginBytes {
                    name: shown.clone(),
                    source: shown,
                    bundled: bundled::by_bytes(&bytes),
                    bytes,
                    read: Some(read),
                })
            }
        }
    }
}

/// The input to send, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InputSpec {
    /// The bundled plugin's own input.json. The default.
    #[default]
    Default,
    /// A JSON file.
    File(PathBuf),
    /// JSON text given inline.
    Inline(String),
}

impl InputSpec {
    /// Parses the input as JSON. Errors name `plugin` and the encode phase,
    /// where the input is first needed.
    pub fn load(&self, plugin: &PluginBytes) -> Result<serde_json::Value, Error> {
        let fail = |cause: String| Error::plugin(&plugin.name, Phase::Encode, cause);
        let (text, what) = match self {
            InputSpec::Default => match plugin.bundled {
                Some(b) => (b.input.to_owned(), format!("{}'s default input", b.name)),
                None => {
                    return Err(fail(
                        "no input given: pass --input FILE or --input-json TEXT".into(),
                    ));
                }
            },
            InputSpec::File(path) => (
                crate::files::read_text(path, Kind::Input)
                    .map_err(|e| fail(crate::files::as_input(e)))?,
                format!("input file {}", path.display()),
            ),
            InputSpec::Inline(text) => (text.clone(), "--input-json".to_owned()),
        };
        serde_json::from_str(&text).map_err(|e| fail(format!("{what} is not valid JSON: {e}")))
    }

    /// The input as the bytes an Extism plugin receives. As with `extism
    /// call --input`, the text given is the input itself, unless it names a
    /// file, whose bytes are then the input. No input: empty, as in Extism.
    pub fn raw(&self, plugin: &PluginBytes) -> Result<Vec<u8>, Error> {
        match self {
            InputSpec::Default => Ok(Vec::new()),
            // Anything at the path is meant as a file: a FIFO or a device is
            // refused, not taken for text.
            InputSpec::File(path) if path.exists() => crate::files::read(path, Kind::Input)
                .map_err(|e| {
                    let cause = crate::files::as_input(e);
                    Error::plugin(&plugin.name, Phase::CopyIn, cause)
                }),
            InputSpec::File(path) => Ok(path.as_os_str().as_encoded_bytes().to_vec()),
            InputSpec::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }

    /// How [`InputSpec::raw`] read the input, for the run's notes.
    pub fn raw_source(&self) -> &'static str {
        match self {
            InputSpec::Default => "no --input: the input is empty",
            InputSpec::File(path) if path.exists() => "--input names a file: its bytes",
            InputSpec::File(_) => {
                "--input's text itself (it names no file), as `extism call --input` takes it"
            }
            InputSpec::Inline(_) => "--input-json's text, as bytes",
        }
    }
}

/// Turns module bytes (binary, or text format) into binary.
pub fn to_binary(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let looks_like_text = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim_start)
        .filter(|t| t.starts_with('(') || t.starts_with(";;"));
    let Some(text) = looks_like_text else {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        bail!(
            "not a wasm module: no \\0asm magic (starts with {})",
            if head.is_empty() {
                "nothing: the file is empty".to_owned()
            } else {
                head.join(" ")
            }
        );
    };
    wat::parse_str(text).map_err(|e| anyhow!("not valid wasm text format: {}", wat_error(&e)))
}

/// Reads `path`: the read phase.
pub fn read(plugin: &str, path: &std::path::Path) -> Result<(Vec<u8>, PhaseTime), Error> {
    let start = Instant::now();
    let bytes = crate::files::read(path, Kind::Module)
        .map_err(|e| anyhow!(e))
        .and_then(to_binary)
        .map_err(|e| Error::plugin(plugin, Phase::Read, one_line(&e)))?;
    Ok((
        bytes,
        PhaseTime {
            phase: Phase::Read,
            ns: start.elapsed().as_nanos() as f64,
        },
    ))
}

/// A text-format error on one line, with the parser's line and column
/// (its message spans several lines: the cause, then `--> <anon>:L:C` and
/// the source under a caret).
fn wat_error(e: &wat::Error) -> String {
    let text = e.to_string();
    let cause = text.lines().next().unwrap_or_default().trim();
    let at = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|l| {
            let mut parts = l.rsplit(':');
            Some((parts.next()?, parts.next()?))
        })
        .map(|(col, line)| format!(" at line {line}, column {col}"))
        .unwrap_or_default();
    format!("{cause}{at}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wat_error_keeps_its_line_and_column_on_one_line() {
        let e = super::to_binary(b"(module\n  (func\n    (i32.add))\n  (bogus))".to_vec())
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains(" at line 4, column 4"), "{e}");
    }
}
