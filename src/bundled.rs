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

/// The bundled plugin whose name `name` most likely mistypes: at most two
/// edits away (a letter added, dropped, changed or two swapped), the
/// nearest first.
pub fn closest(name: &str) -> Option<&'static str> {
    BUNDLED
        .iter()
        .map(|b| (edits(name, b.name), b.name))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// Edits from `a` to `b`: insertions, deletions, substitutions and swaps
/// of two neighbours (optimal string alignment).
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The bundled plugin whose wasm is exactly `bytes`, so that a copy of a
/// bundled module given by path still gets its native baseline.
pub fn by_bytes(bytes: &[u8]) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.wasm == bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_name_finds_its_plugin_and_a_stranger_finds_none() {
        assert_eq!(closest("drug-chekcer"), Some("drug-checker"));
        assert_eq!(closest("redactr"), Some("redactor"));
        assert_eq!(closest("sqlite"), None);
        assert_eq!(edits("ab", "ba"), 1);
    }
}
