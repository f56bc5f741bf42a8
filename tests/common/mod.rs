//! Shared helpers: run the real wprof binary in a fresh temp dir, and
//! normalise its output for golden comparisons.

#![allow(dead_code)]

pub mod schema;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A temp dir that is the working directory of the wprof runs in one test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// Environment of every run. By default the Extism SDK driver is
    /// switched off (`WPROF_EXTISM_SDK_DRIVER` names no file), so a test's
    /// variants do not depend on whether that separate build exists here.
    env: Vec<(String, String)>,
}

/// What one run of the binary did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            env: vec![("WPROF_EXTISM_SDK_DRIVER".into(), String::new())],
        }
    }

    /// Sets `key` to `value` in every later run.
    pub fn with_env(mut self, key: &str, value: &str) -> Sandbox {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, bytes).expect("write fixture");
        p
    }

    pub fn wprof(&self, args: &[&str]) -> Ran {
        let out: Output = std::process::Command::new(env!("CARGO_BIN_EXE_wprof"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .output()
            .expect("run wprof");
        let ran = Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !ran.stderr.contains("panicked"),
            "wprof panicked: {}",
            ran.stderr
        );
        ran
    }

    /// Runs wprof with `line` split at whitespace, as a shell would split
    /// a line with no quoting in it.
    pub fn line(&self, line: &str) -> Ran {
        self.wprof(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// As [`Sandbox::line`], and insists it succeeded.
    pub fn ok_line(&self, line: &str) -> Ran {
        self.ok(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// Runs wprof and insists it succeeded.
    pub fn ok(&self, args: &[&str]) -> Ran {
        let ran = self.wprof(args);
        assert_eq!(ran.code, Some(0), "wprof {args:?} failed: {}", ran.stderr);
        ran
    }

    pub fn json(&self, rel: &str) -> Value {
        let text =
            std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
    }
}

/// The variant called `name` in a run JSON.
pub fn variant<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variant {name}"))
}

/// The bundled plugin's committed wasm.
pub fn bundled_wasm() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/drug-checker/drug-checker.wasm"),
    )
    .unwrap()
}

/// Settings small enough for a test, big enough to exercise every path.
pub const QUICK: &[&str] = &[
    "-n",
    "2000",
    "-w",
    "100",
    "--rounds",
    "4",
    "--trace-calls",
    "5",
];

/// Replaces every number by `#`, and a time unit after one by `t`, so that
/// text output can be compared across runs.
pub fn normalise_text(text: &str) -> String {
    let mut out = String::new();
    // Warnings come and go with the machine's noise; which phase leads a
    // difference of a few nanoseconds does too.
    for line in text
        .lines()
        .filter(|l| !l.starts_with("note: warning") && !l.starts_with("warning:"))
    {
        if line.starts_with("  most of the difference") {
            out.push_str("  most of the difference: <phase>\n");
            continue;
        }
        let mut prev_num = false;
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| {
                if prev_num
                    && matches!(
                        w.trim_end_matches([',', ';', ')']),
                        "ns" | "µs" | "ms" | "s"
                    )
                {
                    prev_num = false;
                    return w.replacen(w.trim_end_matches([',', ';', ')']), "t", 1);
                }
                let core = w
                    .trim_start_matches('(')
                    .trim_end_matches(['%', 'x', ',', ';', ')', ':']);
                prev_num = !core.is_empty() && core.parse::<f64>().is_ok();
                if prev_num {
                    w.replacen(core, "#", 1)
                } else {
                    w.to_owned()
                }
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// Zeroes timings and blanks machine-specific strings in a run JSON, keeping
/// its shape and the numbers that do not depend on timing.
pub fn normalise_run(run: &Value) -> Value {
    const KEEP: &[&str] = &[
        "schema",
        "n",
        "iterations",
        "calls",
        "batches",
        "iteration",
        "input_bytes",
        "output_bytes",
        "size_bytes",
        "bytes_in",
        "bytes_out",
        "warmup",
        "rounds",
        "trace_calls",
    ];
    const BLANK: &[&str] = &[
        "/started_at",
        "/wprof_version",
        "/clock/name",
        "/host/os",
        "/host/arch",
        "/host/cpu",
        "/host/cpus",
        "/host/wasmtime",
    ];
    fn walk(key: &str, v: &Value) -> Value {
        match v {
            Value::Number(_) if !KEEP.contains(&key) => Value::from(0),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), walk(k, x))).collect())
            }
            // A noisy machine may add a warning; it is not part of the shape.
            Value::Array(a) if key == "notes" => Value::Array(
                a.iter()
                    .filter(|n| !n.as_str().unwrap_or("").starts_with("warning"))
                    .cloned()
                    .collect(),
            ),
            // The headline quotes timings in words: how many lines it has
            // is its shape.
            Value::Array(a) if key == "headline" => Value::from(a.len()),
            // The kept samples are timings: only how many were kept counts.
            Value::Array(a) if key == "kept" => Value::from(a.len()),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(key, x)).collect()),
            _ => v.clone(),
        }
    }
    let mut out = walk("", run);
    // Readable on some machines only: not part of the shape.
    if let Some(Value::Object(host)) = out.pointer_mut("/host") {
        for k in ["kernel", "governor", "turbo", "load_average"] {
            host.remove(k);
        }
    }
    // Whether the machine's speed moved during the run is measured, as
    // any timing is: a busy machine may say so; its presence is the shape.
    if let Some(Value::Object(drift)) = out.pointer_mut("/drift") {
        drift.remove("why");
    }
    for p in BLANK.iter().chain(&["/drift/detected"]) {
        if let Some(x) = out.pointer_mut(p) {
            *x = Value::from("<blank>");
        }
    }
    out
}

/// Compares `actual` with the golden file `tests/golden/<name>`; with
/// WPROF_UPDATE_GOLDEN=1 it rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("WPROF_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with WPROF_UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {} (WPROF_UPDATE_GOLDEN=1 to accept)",
        path.display()
    );
}

/// A variant's phase names, in order (the call row last).
pub fn phases(variant: &Value) -> Vec<String> {
    variant["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap().to_owned())
        .collect()
}

/// A run's notes.
pub fn notes(run: &Value) -> Vec<String> {
    run["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

/// A JSON array of strings.
pub fn strs(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}
