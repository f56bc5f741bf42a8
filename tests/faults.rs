//! Nothing a user feeds wprof crashes it, hangs it, exhausts the machine or
//! loses a result: one test per class of fault, each the real binary in a
//! temp dir. Memory bounds are the child's peak RSS (wait4's rusage).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;

/// What one run of the binary did, with its peak RSS and wall time.
struct Measured {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_mb: f64,
    wall: Duration,
}

/// Runs wprof with `args` in `sb`, sending `signal.0` after `signal.1` if
/// asked; kills it after two minutes whatever it does.
// The child is reaped by wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(sb: &Sandbox, args: &[&str], signal: Option<(i32, Duration)>) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wprof"))
        .args(args)
        .current_dir(sb.path("."))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let read = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(child.stdout.take().map(|r| Box::new(r) as _));
    let err = read(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let mut sent = None;
    if let Some((sig, after)) = signal {
        std::thread::sleep(after);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, sig) };
        sent = Some(Instant::now());
    }
    // A watchdog: no test waits on a hung wprof for long.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = done.clone();
    std::thread::spawn(move || {
        for _ in 0..1200 {
            std::thread::sleep(Duration::from_millis(100));
            if watching.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
        }
        // SAFETY: our own child, not yet reaped (wait4 has not returned).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r, pid, "wait4");
    let wall = sent.unwrap_or(start).elapsed();
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    let m = Measured {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        wall,
    };
    assert!(
        !m.stderr.contains("panicked"),
        "wprof panicked: {}",
        m.stderr
    );
    m
}

fn line(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The one line of an error: the whole of stderr but a trap's frames, one
/// a line after it.
fn one_line(m: &Measured) -> &str {
    let t = m.stderr.trim_end();
    let mut lines = t.lines();
    let first = lines.next().unwrap_or("");
    assert!(lines.all(|l| l.starts_with("    at ")), "one line: {t}");
    first
}

#[test]
fn special_and_oversized_files_are_refused_on_one_line_without_blocking() {
    let sb = Sandbox::new();
    sb.ok_line("record hot-path -n 200 -w 10 --rounds 2 --counters none -o a --formats json");
    // /dev/zero is endless: compare must not read it.
    let m = measure(&sb, &line("compare a/hot-path.json /dev/zero"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(
        e.contains("/dev/zero") && e.contains("character device"),
        "{e}"
    );
    assert!(m.peak_rss_mb < 100.0, "{} MB", m.peak_rss_mb);
    // A FIFO with no writer: open() would block forever.
    let fifo = sb.path("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for args in [
        "record hot-path -p pipe -o x",
        "record hot-path --input pipe -o x",
        "inspect pipe",
        "compare a/hot-path.json pipe",
    ] {
        let m = measure(&sb, &line(args), None);
        assert_eq!(m.code, Some(1), "{args}: {}", m.stderr);
        let e = one_line(&m);
        assert!(e.contains("pipe") && e.contains("is a FIFO"), "{args}: {e}");
        assert!(m.wall < Duration::from_secs(20), "{args}: {:?}", m.wall);
    }
    // A directory, and a run file past its cap (sparse: nothing is read).
    std::fs::create_dir(sb.path("d")).unwrap();
    let m = measure(&sb, &line("report d -o r.html"), None);
    assert!(one_line(&m).contains("is a directory"), "{}", m.stderr);
    let big = std::fs::File::create(sb.path("big.json")).unwrap();
    big.set_len(300 << 20).unwrap();
    let m = measure(&sb, &line("compare a/hot-path.json big.json"), None);
    assert_eq!(m.code, Some(1));
    assert!(one_line(&m).contains("over the 256.00 MiB wprof reads as a run file"));
    assert!(m.peak_rss_mb < 100.0, "{} MB", m.peak_rss_mb);
    let bench = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plugins/bench-command/bench-command.wasm"
    );
    let args = format!("record command -p {bench} --stdin /dev/zero -o x");
    let m = measure(&sb, &line(&args), None);
    assert_eq!(m.code, Some(1));
    assert!(
        one_line(&m).contains("--stdin: /dev/zero is a character device"),
        "{}",
        m.stderr
    );
    assert!(!sb.path("x").exists(), "no directory for a failed run");
}

#[test]
fn numeric_options_are_refused_at_parse_time_naming_the_limit() {
    let sb = Sandbox::new();
    for (args, limit) in [
        (
            "record hot-path -n 18446744073709551615",
            "the most measured calls",
        ),
        ("record hot-path -n 4000000000", "over 10000000"),
        (
            "record hot-path -w 18446744073709551615",
            "the most warm-up calls",
        ),
        ("record hot-path --rounds 0", "under 1, the fewest rounds"),
        (
            "record hot-path --deadline 0s",
            "shorter than 10ms, the shortest deadline",
        ),
        (
            "record hot-path --deadline 1000000h",
            "the longest deadline",
        ),
        ("record hot-path --memory-limit 0", "the fewest MiB"),
        (
            "record hot-path --sample-secs=-1",
            "--sample-secs must be above 0",
        ),
        (
            "record soak --rate inf",
            "--rate (calls a second) must be above 0",
        ),
        ("record soak --duration 100000d", "the longest soak"),
        (
            "record batching --max-runs 18446744073709551615",
            "the most measured runs",
        ),
        ("record data-transfer --sizes 2GB", "outside"),
        ("record cold-start -n 0", "the fewest cold-start iterations"),
        (
            "record memory --instances 10000000000",
            "the most instances",
        ),
        ("compare a b --threshold nan", "a percentage must be"),
    ] {
        let m = measure(&sb, &line(args), None);
        assert_eq!(m.code, Some(2), "{args}: {}", m.stderr);
        let first = m.stderr.lines().next().unwrap_or("");
        assert!(first.contains(limit), "{args}: {first}");
        assert!(m.wall < Duration::from_secs(10));
    }
}

#[test]
fn sigterm_writes_what_was_measured_marked_incomplete_and_exits_143() {
    let sb = Sandbox::new();
    let m = measure(
        &sb,
        &line("record hot-path -n 5000000 --rounds 50 --counters none -o out"),
        Some((libc::SIGTERM, Duration::from_millis(2500))),
    );
    assert_eq!(m.code, Some(143), "{}", m.stderr);
    assert!(m.wall < Duration::from_secs(1), "{:?}", m.wall);
    assert!(m.stderr.contains("stopped by SIGTERM"), "{}", m.stderr);
    let run = sb.json("out/hot-path.json");
    assert_eq!(run["incomplete"], true);
    assert!(run["notes"].to_string().contains("interrupted (SIGTERM)"));
    for f in [
        "hot-path.txt",
        "hot-path.trace.json",
        "hot-path.html",
        "hot-path.svg",
    ] {
        assert!(sb.path(&format!("out/{f}")).is_file(), "{f}");
    }
}

#[test]
fn a_signal_before_anything_is_measured_writes_nothing_and_takes_effect_within_a_second() {
    let sb = Sandbox::new();
    // A long warm-up: stopped between batches.
    let m = measure(
        &sb,
        &line("record hot-path -w 100000000 --counters none -o warm"),
        Some((libc::SIGTERM, Duration::from_millis(2000))),
    );
    assert_eq!(m.code, Some(143), "{}", m.stderr);
    assert!(m.wall < Duration::from_secs(1), "{:?}", m.wall);
    assert!(m.stderr.contains("before anything was measured"));
    assert!(!sb.path("warm").exists(), "nothing written, no directory");
    // A compile of seconds, which nothing can cut short: Ctrl-C still
    // takes effect within a second. (4000 functions compiled in under a
    // second on a quiet Xeon here, and the signal came too late: 12 000.)
    let mut wat = String::from(
        "(module (memory (export \"memory\") 1)\n(func (export \"wprof_alloc\") (param i32) (result i32) i32.const 1024)\n(func (export \"wprof_free\") (param i32 i32))\n(func (export \"run\") (param i32 i32) (result i64) i64.const 0)\n",
    );
    for i in 0..12_000 {
        wat.push_str(&format!("(func $f{i} (param i32) (result i32) local.get 0"));
        for j in 0..60 {
            wat.push_str(&format!(" i32.const {j} i32.add i32.const 3 i32.mul"));
        }
        wat.push_str(")\n");
    }
    wat.push(')');
    sb.write("big.wat", wat);
    let m = measure(
        &sb,
        &line("record hot-path -p big.wat -e run --input-json {} --counters none -o big"),
        Some((libc::SIGINT, Duration::from_millis(1200))),
    );
    assert_eq!(m.code, Some(130), "{}", m.stderr);
    assert!(m.wall < Duration::from_millis(1500), "{:?}", m.wall);
    assert!(!sb.path("big").exists());
}

#[test]
fn output_sets_are_replaced_whole_and_never_mixed() {
    let sb = Sandbox::new();
    let quick = "record hot-path -n 200 -w 10 --rounds 2 --counters none -q -o out";
    sb.ok_line(quick);
    let first = std::fs::read(sb.path("out/hot-path.json")).unwrap();
    // Leftovers of a run killed before it committed: its pid is gone.
    sb.write("out/.wprof-999999999-1-hot-path.txt", "stale");
    sb.write("out/.wprof-Ab3xYz", "legacy");
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(sb.path("out/.wprof-Ab3xYz"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A new run of only the JSON replaces the whole set: no old .txt or
    // .html is left beside the new .json.
    sb.ok_line(&format!("{quick} --formats json"));
    let mut names: Vec<String> = std::fs::read_dir(sb.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["hot-path.json"], "{names:?}");
    assert_ne!(std::fs::read(sb.path("out/hot-path.json")).unwrap(), first);
    // A directory where a file goes: nothing is written, the old set stays.
    sb.ok_line(quick);
    let before = std::fs::read(sb.path("out/hot-path.json")).unwrap();
    std::fs::remove_file(sb.path("out/hot-path.html")).unwrap();
    std::fs::create_dir(sb.path("out/hot-path.html")).unwrap();
    let m = measure(&sb, &line(quick), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(
        e.contains("nothing was written (not written: out/hot-path.txt, out/hot-path.json"),
        "{e}"
    );
    assert_eq!(std::fs::read(sb.path("out/hot-path.json")).unwrap(), before);
    assert!(
        !std::fs::read_dir(sb.path("out")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".wprof-")),
        "no staged file left"
    );
}

#[test]
fn outputs_are_never_inputs_nor_files_and_keep_the_umask() {
    let sb = Sandbox::new();
    sb.ok_line("record hot-path -n 200 -w 10 --rounds 2 --counters none -q -o a --formats json");
    let run = std::fs::read(sb.path("a/hot-path.json")).unwrap();
    let m = measure(
        &sb,
        &line("report a/hot-path.json -o a/hot-path.json"),
        None,
    );
    assert_eq!(m.code, Some(1));
    assert!(
        one_line(&m).contains("it is one of the inputs"),
        "{}",
        m.stderr
    );
    assert_eq!(std::fs::read(sb.path("a/hot-path.json")).unwrap(), run);
    let m = measure(
        &sb,
        &line("compare a/hot-path.json a/hot-path.json --diff-flamegraph a/hot-path.json"),
        None,
    );
    assert_eq!(m.code, Some(1));
    assert_eq!(std::fs::read(sb.path("a/hot-path.json")).unwrap(), run);
    sb.write("file", "x");
    let m = measure(&sb, &line("record hot-path -o file"), None);
    assert!(one_line(&m).contains("cannot write file: it is a file, not a directory"));
    // The user's umask, not 0600.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 027 && exec {} record hot-path -n 200 -w 10 --rounds 2 --counters none -q -o u",
            env!("CARGO_BIN_EXE_wprof")
        ))
        .current_dir(sb.path("."))
        .output()
        .unwrap();
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.path("u/hot-path.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "{mode:o}");
    // A failed run leaves no directory behind.
    let m = measure(&sb, &line("record hot-path -p nope.wasm -o n/e/w"), None);
    assert_eq!(m.code, Some(1));
    assert!(!sb.path("n").exists());
}

/// An Extism plugin whose `run` does `body` (with `$alloc`, `$store_u8`,
/// `$store_u64`, `$var_set`, `$error_set`, `$log_info` imported).
fn extism(body: &str) -> String {
    format!(
        r#"(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $i i64) (local $k i64) (local $p i64)
    {body}))"#
    )
}

/// A WAT body storing `bytes` into a new kernel block at `$p`.
fn block(bytes: &[u8]) -> String {
    let mut s = format!("(local.set $p (call $alloc (i64.const {})))", bytes.len());
    for (i, b) in bytes.iter().enumerate() {
        s.push_str(&format!(
            " (call $store_u8 (i64.add (local.get $p) (i64.const {i})) (i32.const {b}))"
        ));
    }
    s
}

#[test]
fn the_memory_limit_bounds_what_the_host_keeps_for_a_plugin() {
    let sb = Sandbox::new();
    // A million vars of one byte each: the host's maps, not linear memory.
    sb.write(
        "vars.wat",
        extism(
            "(loop $l
               (local.set $k (call $alloc (i64.const 8)))
               (call $store_u64 (local.get $k) (local.get $i))
               (local.set $p (call $alloc (i64.const 1)))
               (call $store_u8 (local.get $p) (i32.const 7))
               (call $var_set (local.get $k) (local.get $p))
               (local.set $i (i64.add (local.get $i) (i64.const 1)))
               (br $l))
             (i32.const 0)",
        ),
    );
    let base = measure(
        &sb,
        &line("record hot-path -p vars.wat -e run --memory-limit 1 -o v"),
        None,
    );
    let m = measure(
        &sb,
        &line("record hot-path -p vars.wat -e run --memory-limit 64 -o v"),
        None,
    );
    assert_eq!(m.code, Some(1));
    assert!(one_line(&m).contains("vars would hold"), "{}", m.stderr);
    // The stated slack: 64 MiB of plugin state over what wprof needs with
    // none, plus 32 MiB for the map's growth by doubling.
    assert!(
        m.peak_rss_mb < base.peak_rss_mb + 64.0 + 32.0,
        "{} MB against {} MB with a 1 MiB limit",
        m.peak_rss_mb,
        base.peak_rss_mb
    );
    // Endless tiny allocations: the kernel's block list counts too.
    sb.write(
        "allocs.wat",
        extism("(loop $l (drop (call $alloc (i64.const 1))) (br $l)) (i32.const 0)"),
    );
    let m = measure(
        &sb,
        &line("record hot-path -p allocs.wat -e run --memory-limit 64 -o v"),
        None,
    );
    assert_eq!(m.code, Some(1));
    assert!(one_line(&m).contains("blocks' bookkeeping"), "{}", m.stderr);
    assert!(
        m.peak_rss_mb < base.peak_rss_mb + 64.0 + 64.0,
        "{} MB",
        m.peak_rss_mb
    );
    // A 1 MB error message is cut, on one line.
    sb.write(
        "err.wat",
        extism(
            "(local.set $p (call $alloc (i64.const 1048576)))
             (loop $l
               (call $store_u8 (i64.add (local.get $p) (local.get $i)) (i32.const 65))
               (local.set $i (i64.add (local.get $i) (i64.const 1)))
               (br_if $l (i64.lt_u (local.get $i) (i64.const 1048576))))
             (call $error_set (local.get $p))
             (i32.const 1)",
        ),
    );
    let m = measure(&sb, &line("record hot-path -p err.wat -e run -o v"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(e.len() < 5000, "{} bytes", e.len());
    assert!(
        e.ends_with("... (1044480 more bytes)"),
        "{}",
        &e[e.len() - 60..]
    );
}

#[test]
fn plugin_text_is_escaped_on_the_terminal_and_kept_raw_in_the_json() {
    let sb = Sandbox::new();
    let evil = b"x\nwprof: error: forged\x1b[2J";
    sb.write(
        "err.wat",
        extism(&format!(
            "{} (call $error_set (local.get $p)) (i32.const 1)",
            block(evil)
        )),
    );
    let m = measure(&sb, &line("record hot-path -p err.wat -e run -o v"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(!m.stderr.contains('\x1b'), "{e}");
    // The message stays on its line: its newline is shown, not obeyed.
    assert!(e.ends_with("forged\\u{1b}[2J"), "{e}");
    assert_eq!(m.stderr.matches("wprof: error:").count(), 2, "{e}");
    assert!(
        !m.stderr
            .lines()
            .any(|l| l.starts_with("wprof: error: forged"))
    );
    // A log line, shown escaped in the table, raw in the run's JSON.
    sb.write(
        "log.wat",
        extism(&format!(
            "{} (call $log_info (local.get $p)) (i32.const 0)",
            block(evil)
        )),
    );
    // -v: the notes, log lines among them, are printed in full.
    let ran = sb.ok_line("record hot-path -p log.wat -e run --log-level info -n 200 -w 10 --rounds 2 --counters none -o l -v");
    assert!(!ran.stdout.contains('\x1b'));
    assert!(
        !ran.stdout
            .lines()
            .any(|l| l.starts_with("wprof: error: forged"))
    );
    assert!(
        ran.stdout.contains("x\\nwprof: error: forged\\u{1b}[2J"),
        "{}",
        ran.stdout
    );
    let raw = sb.json("l/hot-path.json")["notes"].to_string();
    assert!(raw.contains("x\\nwprof: error: forged\\u001b[2J"), "{raw}");
    // A name from the name section, in a trap's backtrace and in inspect.
    sb.write(
        "named.wat",
        "(module (memory (export \"memory\") 1)
           (func (export \"wprof_alloc\") (param i32) (result i32) i32.const 16)
           (func (export \"wprof_free\") (param i32 i32))
           (func (@name \"boom\\0a\\1b[31m\") (export \"run\") (param i32 i32) (result i64) unreachable))",
    );
    let m = measure(
        &sb,
        &line("record hot-path -p named.wat -e run --input-json {} -o t"),
        None,
    );
    assert_eq!(m.code, Some(1));
    assert!(!m.stderr.contains('\x1b'), "{}", m.stderr);
    assert!(m.stderr.contains("at boom\\n\\u{1b}[31m"), "{}", m.stderr);
    let ran = sb.wprof(&["inspect", "named.wat"]);
    assert!(!ran.stdout.contains('\x1b'));
}

#[test]
fn compare_fails_what_it_did_not_compare_and_refuses_impossible_figures() {
    let sb = Sandbox::new();
    sb.ok_line("record hot-path -n 500 -w 10 --rounds 2 --counters none -q --formats json -o base");
    // The same run less its native variant: nothing else can differ.
    let mut new = sb.json("base/hot-path.json");
    new["variants"]
        .as_array_mut()
        .unwrap()
        .retain(|v| v["name"] != "native");
    std::fs::create_dir(sb.path("new")).unwrap();
    sb.write("new/hot-path.json", serde_json::to_string(&new).unwrap());
    let m = measure(
        &sb,
        &line("compare base/hot-path.json new/hot-path.json"),
        None,
    );
    assert_eq!(m.code, Some(1), "{}", m.stdout);
    assert!(
        m.stdout
            .contains("not compared: native: the new run has no such variant  FAIL")
    );
    assert!(
        m.stderr
            .contains("not compared: native: the new run has no such variant")
    );
    let m = measure(
        &sb,
        &line("compare base/hot-path.json new/hot-path.json --allow-missing"),
        None,
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert!(m.stdout.contains("(allowed: --allow-missing)"));
    // A median below zero is a corrupt file, never a "no change".
    let mut run = sb.json("base/hot-path.json");
    run["variants"][0]["phases"][1]["stats"]["p50_ns"] = serde_json::json!(-5.0);
    sb.write("bad.json", serde_json::to_string(&run).unwrap());
    let m = measure(&sb, &line("compare base/hot-path.json bad.json"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(
        e.contains("bad.json: corrupt: variants[0] (wasm) phases[1] (copy-in): stats.p50_ns is -5"),
        "{e}"
    );
    // A phase named twice in one variant (found by the run_file fuzz
    // target): compare would read the second as the first.
    let mut run = sb.json("base/hot-path.json");
    let copy = run["variants"][0]["phases"][2].clone();
    run["variants"][0]["phases"][3] = copy;
    sb.write("twice.json", serde_json::to_string(&run).unwrap());
    let m = measure(&sb, &line("compare base/hot-path.json twice.json"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(
        e.contains("twice.json: corrupt: variants[0] (wasm) phases[3] (execute): a second execute phase in one variant"),
        "{e}"
    );
    // A paired ratio that is no ratio.
    let mut run = sb.json("base/hot-path.json");
    run["pairs"][0]["ratio"]["per_round"][0] = serde_json::json!(-1.0);
    sb.write("ratio.json", serde_json::to_string(&run).unwrap());
    let m = measure(&sb, &line("compare base/hot-path.json ratio.json"), None);
    assert_eq!(m.code, Some(1));
    assert!(
        one_line(&m).contains("ratio.json: corrupt: pairs[0] (wasm / native): a ratio of -1"),
        "{}",
        one_line(&m)
    );
}

#[test]
fn a_wat_syntax_error_keeps_its_line_and_column() {
    let sb = Sandbox::new();
    sb.write("bad.wat", "(module\n  (func\n    (i32.add))\n  (bogus))\n");
    let m = measure(&sb, &line("inspect bad.wat"), None);
    assert_eq!(m.code, Some(1));
    let e = one_line(&m);
    assert!(e.contains("not valid wasm text format: "), "{e}");
    assert!(e.ends_with(" at line 4, column 4"), "{e}");
}
