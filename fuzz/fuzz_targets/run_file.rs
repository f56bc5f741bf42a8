//! Arbitrary bytes through the run-file reader that `compare` and `report`
//! use: parse, the corruption check, then, for what it accepts, a
//! comparison of the run with itself and its table and HTML page (the
//! readers of every field). Nothing may panic, hang or grow without bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wprof::export::Exporter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(run) = wprof::runfile::parse(text, "fuzz.json") else {
        return;
    };
    let cfg = wprof::compare::CompareConfig::default();
    if let Ok(report) = wprof::compare::judge(&run, &run, &cfg) {
        let _ = wprof::compare::render(&report, false, &mut std::io::sink());
        let _ = report.gate();
    }
    let _ = wprof::export::Table.write(&run, &mut std::io::sink());
    let _ = wprof::export::html::report(std::slice::from_ref(&run), &[Vec::new()]);
});
