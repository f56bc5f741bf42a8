//! `wc` as a WASI program: `wc [FILE]` counts the lines, words and bytes of
//! FILE (default `input.txt`), a path relative to the working directory,
//! as C programs open files; WASI resolves it against the preopened
//! directories. The same source is the core command (wasm32-wasip1,
//! wc-command) and the component command (wasm32-wasip2, wc-component).

use std::io::Write;

/// Runs `wc` on the process's arguments; returns its exit status.
pub fn run() -> i32 {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "input.txt".to_owned());
    match std::fs::read(&path) {
        Ok(bytes) => {
            let (lines, words, len) = count(&bytes);
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{lines} {words} {len} {path}") {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(e) => {
            eprintln!("wc: cannot open {path}: {e}");
            1
        }
    }
}

/// Lines (newlines), words (runs of non-whitespace) and bytes.
pub fn count(bytes: &[u8]) -> (usize, usize, usize) {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let words = bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    (lines, words, bytes.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_as_wc_does() {
        assert_eq!(super::count(b"one two\nthree\n"), (2, 3, 14));
        assert_eq!(super::count(b""), (0, 0, 0));
    }
}
