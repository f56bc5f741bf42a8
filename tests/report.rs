//! `wprof report` and the HTML exporter: the real binary on real runs.

mod common;

use common::{QUICK, Sandbox};

#[test]
fn one_self_contained_html_file_with_charts_for_several_runs() {
    let sb = Sandbox::new();
    let mut hot = vec!["record", "hot-path", "--counters", "none", "-o", "runs"];
    hot.extend_from_slice(QUICK);
    sb.ok(&hot);
    sb.ok_line("record soak --duration 1s --rate 200 --sample-every 100ms -o runs");
    let ran = sb.ok_line("report runs/hot-path.json runs/soak.json -o runs/report.html");
    assert!(
        ran.stdout.contains("wrote runs/report.html"),
        "{}",
        ran.stdout
    );
    let html = std::fs::read_to_string(sb.path("runs/report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing to fetch, nothing to run.
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("src="), "no external resources");
    assert!(!html.contains("href=\"http"), "no remote links");
    // The charts the data has: phases and percentiles for the hot path,
    // resident memory over time for the soak; and each run's table.
    for title in [
        "mean time per phase",
        "percentiles of the whole iteration",
        "rss (KB) over time",
        "hot-path — drug-checker",
        "soak — drug-checker",
    ] {
        assert!(html.contains(title), "missing: {title}");
    }
    assert!(html.matches("<svg").count() >= 3);
    // The answer first: each run's headline above its first chart, the
    // hot path's paired ratio in it; and the same lines open its .txt.
    for section in html.split("<section").skip(1) {
        let head = section.find("class=\"headline\"").expect("a headline");
        let fig = section.find("<figure").unwrap_or(usize::MAX);
        assert!(head < fig, "the headline is below a chart");
    }
    assert!(
        html.contains("<li>wasm takes "),
        "the paired ratio in the headline"
    );
    let txt = std::fs::read_to_string(sb.path("runs/hot-path.txt")).unwrap();
    assert!(
        txt.starts_with("summary: hot-path of drug-checker\n  wasm takes "),
        "{txt}"
    );
    // No placeholder where a run has nothing to chart, and tables as tables.
    assert!(!html.contains("not applicable"), "a placeholder chart");
    assert!(!html.contains("<pre"), "a table in a <pre>");
    assert!(html.contains("<table><caption>verdicts</caption>"));
    // A summary across runs and contents, linking each run's section.
    assert!(html.contains("<table id=\"summary\">"));
    for i in 0..2 {
        assert!(
            html.contains(&format!("href=\"#run-{i}\"")),
            "no link to run {i}"
        );
        assert!(
            html.contains(&format!("<section id=\"run-{i}\">")),
            "no run {i}"
        );
    }
    // A variant keeps one colour in every chart's legend.
    let mut colours = std::collections::BTreeMap::new();
    for key in html.split("<span class=\"key\" data-variant=\"").skip(1) {
        let name = &key[..key.find('"').unwrap()];
        let c = key.split("background:").nth(1).unwrap();
        colours
            .entry(name.to_owned())
            .or_insert_with(Vec::new)
            .push(c[..7].to_owned());
    }
    let wasm = &colours["wasm"];
    assert!(wasm.len() >= 2, "wasm in one chart only: {colours:?}");
    for (name, cs) in &colours {
        assert!(cs.iter().all(|c| *c == cs[0]), "{name}: {cs:?}");
    }
    // Links to each run's other artifacts, relative to the report.
    assert!(
        html.contains("href=\"hot-path.svg\""),
        "no link to the flamegraph"
    );
    assert!(
        html.contains("href=\"soak.trace.json\""),
        "no link to the trace"
    );
    assert!(html.contains("href=\"soak.json\""), "no link to the JSON");
    // The HTML exporter writes a report per run as well.
    assert!(sb.path("runs/hot-path.html").exists());
}

#[test]
fn a_missing_or_broken_run_file_is_one_line_naming_it() {
    let sb = Sandbox::new();
    sb.write("broken.json", "{\"schema\": 1, \"scenario\": ");
    let ran = sb.line("report broken.json -o r.html");
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .starts_with("wprof: error: broken.json: not a wprof run file: line 1"),
        "{}",
        ran.stderr
    );
    assert!(!sb.path("r.html").exists(), "no half-written report");
}

/// `--open` hands the written HTML page to the browser (`$BROWSER`).
#[test]
fn open_hands_the_html_page_to_the_browser() {
    let sb = Sandbox::new();
    let script = sb.write("browser.sh", "#!/bin/sh\necho \"$1\" > opened.txt\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sb = sb.with_env("BROWSER", script.to_str().unwrap());
    sb.ok_line("record hot-path -n 200 -w 0 --counters none --open -q -o out");
    // The browser runs on its own; wprof does not wait for it.
    let opened = sb.path("opened.txt");
    for _ in 0..100 {
        if std::fs::read_to_string(&opened).is_ok_and(|t| t.ends_with('\n')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap().trim(),
        "out/hot-path.html"
    );
}

/// `wprof completions SHELL` prints a completion script that knows the
/// subcommands; a reader that stops early is no error.
#[test]
fn completions_for_each_shell() {
    let sb = Sandbox::new();
    let bash = sb.ok_line("completions bash").stdout;
    assert!(bash.contains("_wprof()"), "{bash}");
    assert!(bash.contains("hot-path") && bash.contains("cold-start"));
    let fish = sb.ok_line("completions fish").stdout;
    assert!(fish.contains("complete -c wprof"), "{fish}");
    let zsh = sb.ok_line("completions zsh").stdout;
    assert!(zsh.starts_with("#compdef wprof"), "{zsh}");
    let ran = sb.line("completions nushell");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
}
