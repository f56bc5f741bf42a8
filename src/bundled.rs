//! The plugins that ship inside wprof: their wasm, their default input and
//! their native build (the same Rust source, linked in as the baseline).

/// A plugin function as linked natively: JSON bytes in, JSON bytes out.
pub type NativeFn = fn(&[u8]) -> Result<Vec<u8>, String>;

/// A plugin bundled with wprof.
#[derive(Debug)]
pub struct Bundled {
    /// Name, as given to `--plugin`.
    pub name: &'static str,
    /// The committed wasm build (plugins/<name>/<name>.wasm).
    pub wasm: &'static [u8],
    /// Where that file sits in the repository.
    pub path: &'static str,
    /// The export `record hot-path` calls by default.
    pub export: &'static str,
    /// The default input (plugins/<name>/input.json).
    pub input: &'static str,
    /// The native build of the same export.
    pub native: NativeFn,
}

/// Every bundled plugin: a small one (the reference study's drug checker) and a large
/// one (a regex-based redactor, where compilation and start-up work matter).
pub const BUNDLED: &[Bundled] = &[
    bundled!(
        "drug-checker",
        "check_interactions",
        drug_checker::check_json
    ),
    bundled!("redactor", "redact", redactor::redact_json),
];

/// A plugin under plugins/`$name`/, its module named after it.
macro_rules! bundled {
    ($name:literal, $export:literal, $native:path) => {
        Bundled {
            name: $name,
            wasm: include_bytes!(concat!("../plugins/", $name, "/", $name, ".wasm")),
            path: concat!("plugins/", $name, "/", $name, ".wasm"),
            export: $export,
            input: include_str!(concat!("../plugins/", $name, "/input.json")),
            native: $native,
        }
    };
}
use bundled;

/// The bundled plugin called `name`.
pub fn by_name(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The bundled plugin whose wasm is exactly `bytes`, so that a copy of a
/// bundled module given by path still gets its native baseline.
pub fn by_bytes(bytes: &[u8]) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.wasm == bytes)
}
