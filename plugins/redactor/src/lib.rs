//! Redacts personal data from text: e-mail addresses, card numbers (Luhn
//! checked), US social security numbers, IBANs, phone numbers, IPv4
//! addresses and URLs, each replaced by `[KIND]`.
//!
//! Input `{"text": "..."}`; output `{"text": "<redacted>", "redactions":
//! {"<kind>": count, ...}}` (kinds with no match are left out). Rules apply
//! in a fixed order, each to the output of the one before.
//!
//! wprof's large bundled plugin: the regex crate with its Unicode tables
//! makes the module big enough that compiling it dominates a cold start, and
//! compiling the patterns is real start-up work, done by `wprof_init` (which
//! Wizer snapshots) or lazily on the first call.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

wprof_guest::abi!();
wprof_guest::export!(redact => redact_json);
wprof_guest::init!(init);

/// The request the host sends.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// The text to redact.
    pub text: String,
}

/// What the plugin returns.
#[derive(Debug, Serialize)]
pub struct Response {
    /// The text with every match replaced by `[KIND]`.
    pub text: String,
    /// Matches replaced, by kind.
    pub redactions: BTreeMap<&'static str, u32>,
}

/// `(kind, pattern)`, in the order they apply. Unicode-aware classes (`\w`,
/// `\b`) on purpose: names and addresses are not ASCII-only.
const RULES: [(&str, &str); 7] = [
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("URL", r"\bhttps?://[^\s<>()]+"),
    ("CARD", r"\b(?:\d[ -]?){12,18}\d\b"),
    ("SSN", r"\b\d{3}-\d{2}-\d{4}\b"),
    (
        "IBAN",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    ),
    (
        "IPV4",
        r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b",
    ),
    (
        "PHONE",
        r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\b\d{2,4})[ .-]?\d{3,4}[ .-]?\d{3,4}\b",
    ),
];

static COMPILED: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();

fn rules() -> &'static [(&'static str, Regex)] {
    COMPILED.get_or_init(|| {
        RULES
            .iter()
            .map(|&(kind, re)| (kind, Regex::new(re).expect("the patterns are valid")))
            .collect()
    })
}

/// The plugin's start-up work: compiles the patterns.
pub fn init() {
    rules();
}

/// Whether a run of digits (spaces and dashes ignored) passes the Luhn check.
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                (d * 2) % 9 + u32::from(d == 9) * 9
            } else {
                d
            }
        })
        .sum();
    digits.len() >= 13 && sum.is_multiple_of(10)
}

/// Redacts `text`.
pub fn redact_text(text: &str) -> Response {
    let mut text = text.to_owned();
    let mut redactions = BTreeMap::new();
    for (kind, re) in rules() {
        let mut n = 0;
        let replaced = re.replace_all(&text, |c: &Captures| {
            let m = &c[0];
            if *kind == "CARD" && !luhn(m) {
                return m.to_owned();
            }
            n += 1;
            format!("[{kind}]")
        });
        if n > 0 {
            text = replaced.into_owned();
            redactions.insert(*kind, n);
        }
    }
    Response { text, redactions }
}

/// JSON in, JSON out: what the plugin export and the native baseline both run.
pub fn redact_json(input: &[u8]) -> Result<Vec<u8>, String> {
    let req: Request =
        serde_json::from_slice(input).map_err(|e| format!("invalid request: {e}"))?;
    serde_json::to_vec(&redact_text(&req.text)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_each_kind() {
        let r = redact_text(
            "mail a.b@ex.com, card 4111 1111 1111 1111, ssn 078-05-1120, \
             ip 10.0.0.1, call +1 (415) 555-0142, see https://x.org/a?b=c",
        );
        assert_eq!(
            r.text,
            "mail [EMAIL], card [CARD], ssn [SSN], ip [IPV4], call [PHONE], see [URL]"
        );
        assert_eq!(r.redactions.values().sum::<u32>(), 6);
    }

    #[test]
    fn unicode_addresses_and_luhn() {
        let r = redact_text("jörg.müller@beispiel.de 4111 1111 1111 1112");
        assert!(r.text.starts_with("[EMAIL] "), "{}", r.text);
        assert_eq!(r.redactions.get("CARD"), None, "fails Luhn: kept");
    }

    #[test]
    fn default_input_and_bad_request() {
        let input = include_bytes!("../input.json");
        let out: serde_json::Value = serde_json::from_slice(&redact_json(input).unwrap()).unwrap();
        let text = out["text"].as_str().unwrap();
        for secret in [
            "dana.whitfield@",
            "4111 1111",
            "078-05-1120",
            "203.0.113.7",
            "DE89",
        ] {
            assert!(!text.contains(secret), "{secret} left in: {text}");
        }
        assert!(redact_json(b"[]").unwrap_err().contains("invalid request"));
    }
}
