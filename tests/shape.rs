//! The shape of the code, kept true cheaply: no file in src/ grows past
//! ~600 lines, and no two modules import each other (directly or round a
//! longer loop), so that data flows one way: drivers and exporters know no
//! scenario, the timing core knows no engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most lines a source file may have.
const MAX_LINES: usize = 600;

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = sources()
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

/// A file's module path: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
/// `None` for the crate root and the binaries.
fn module_of(path: &Path) -> Option<Vec<String>> {
    let rel = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    match parts.first().map(String::as_str) {
        None | Some("lib" | "main" | "bin") => None,
        _ => Some(parts),
    }
}

/// The module paths a file's code names (`crate::x::y`, `super::z`),
/// comments left out, resolved against `me`.
fn references(text: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$') {
            rest = &rest[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            rest = &rest[end..];
            let segs: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
            let path: Option<Vec<String>> = match segs.first() {
                Some(&"crate") | Some(&"$crate") => {
                    Some(segs[1..].iter().map(|s| s.to_string()).collect())
                }
                Some(&"super") => {
                    // `a/b.rs` and `a/b/mod.rs` are both module a::b: super
                    // is `a` in either.
                    let ups = segs.iter().take_while(|s| **s == "super").count();
                    me.len().checked_sub(ups).map(|base| {
                        let mut p = me[..base].to_vec();
                        p.extend(segs[ups..].iter().map(|s| s.to_string()));
                        p
                    })
                }
                _ => None,
            };
            if let Some(p) = path.filter(|p| !p.is_empty()) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn no_two_modules_import_each_other() {
    let files = sources();
    let modules: BTreeSet<Vec<String>> = files.iter().filter_map(|p| module_of(p)).collect();
    // The longest prefix of `path` that is a module.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    // Edges between siblings: A -> B where some module inside A names one
    // inside B, A and B children of the same parent. A child naming its
    // parent (or the parent its child) is one module's inside, not an edge.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut why: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for f in &files {
        let Some(me) = module_of(f) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        for r in references(&text, &me) {
            let Some(target) = resolve(&r) else { continue };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == target.len() {
                continue;
            }
            let a = me[..=common].to_vec();
            let b = target[..=common].to_vec();
            why.entry((a.clone(), b.clone()))
                .or_insert_with(|| format!("{} names {}", f.display(), r.join("::")));
            edges.entry(a).or_default().insert(b);
        }
    }
    // A cycle: B reachable from A and A from B.
    let reach = |from: &Vec<String>| -> BTreeSet<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut cycles = Vec::new();
    for (a, bs) in &edges {
        for b in bs {
            if reach(b).contains(a) {
                cycles.push(format!(
                    "{} -> {} ({}) and back",
                    a.join("::"),
                    b.join("::"),
                    why[&(a.clone(), b.clone())]
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    // The checker sees edges at all (it would pass on nothing otherwise).
    assert!(
        edges
            .get(&vec!["scenario".to_owned()])
            .is_some_and(|t| t.contains(&vec!["driver".to_owned()])),
        "no edge from scenario to driver found: the checker is blind"
    );
}
