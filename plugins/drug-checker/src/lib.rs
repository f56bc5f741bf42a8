//! The reference study's drug interaction checker (its Scenario 2 plugin).
//!
//! Input `{"medications": [...]}`; output one `{drug_a, drug_b, severity,
//! description}` per interacting pair `(i, j)`, `i < j`, in input order. The
//! pairs, severities and descriptions are those of the study's native table;
//! a pair matches in either order. Names match exactly (case-sensitive), as in
//! the reference study.
//!
//! Start-up work: the table is turned into a lookup index (both orders of
//! every pair) once, by `wprof_init` when the host or Wizer calls it, else
//! lazily on the first call.
//!
//! The crate builds as a wasm plugin (cdylib, exporting `check_interactions`
//! through the wprof ABI) and as an rlib that wprof links as the native
//! baseline: [`check_json`] is the one function both run.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

wprof_guest::abi!();
wprof_guest::export!(check_interactions => check_json);
wprof_guest::init!(init);

/// The request the host sends.
#[derive(Debug, Deserialize)]
pub struct CheckRequest {
    /// Medication names, in the order the caller gave them.
    pub medications: Vec<String>,
}

/// One interacting pair.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Interaction {
    /// The first drug of the pair, as named in the request.
    pub drug_a: String,
    /// The second drug of the pair, as named in the request.
    pub drug_b: String,
    /// "high" or "moderate".
    pub severity: &'static str,
    /// What the interaction does.
    pub description: &'static str,
}

/// The reference study's interaction table: `(drug, drug, severity, description)`.
const TABLE: [(&str, &str, &str, &str); 3] = [
    ("aspirin", "warfarin", "high", "Increased bleeding risk"),
    ("ibuprofen", "warfarin", "high", "Increased bleeding risk"),
    (
        "aspirin",
        "ibuprofen",
        "moderate",
        "May increase GI bleeding",
    ),
];

type Index = BTreeMap<(&'static str, &'static str), (&'static str, &'static str)>;

static INDEX: OnceLock<Index> = OnceLock::new();

fn index() -> &'static Index {
    INDEX.get_or_init(|| {
        let mut index = BTreeMap::new();
        for (a, b, severity, description) in TABLE {
            index.insert((a, b), (severity, description));
            index.insert((b, a), (severity, description));
        }
        index
    })
}

/// The plugin's start-up work: builds the lookup index.
pub fn init() {
    index();
}

/// Looks a pair up in either order.
pub fn interaction(a: &str, b: &str) -> Option<(&'static str, &'static str)> {
    index().get(&(a, b)).copied()
}

/// Every interacting pair of `medications`, in input order.
pub fn find_interactions(medications: &[String]) -> Vec<Interaction> {
    let mut out = Vec::new();
    for (i, a) in medications.iter().enumerate() {
        for b in &medications[i + 1..] {
            if let Some((severity, description)) = interaction(a, b) {
                out.push(Interaction {
                    drug_a: a.clone(),
                    drug_b: b.clone(),
                    severity,
                    description,
                });
            }
        }
    }
    out
}

/// JSON in, JSON out: what the plugin export and the native baseline both run.
pub fn check_json(input: &[u8]) -> Result<Vec<u8>, String> {
    let req: CheckRequest =
        serde_json::from_slice(input).map_err(|e| format!("invalid request: {e}"))?;
    serde_json::to_vec(&find_interactions(&req.medications)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> serde_json::Value {
        serde_json::from_slice(&check_json(input.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn seed_input_finds_all_three_pairs() {
        let out = check(r#"{"medications":["aspirin","ibuprofen","warfarin"]}"#);
        assert_eq!(
            out,
            serde_json::json!([
                {"drug_a":"aspirin","drug_b":"ibuprofen","severity":"moderate","description":"May increase GI bleeding"},
                {"drug_a":"aspirin","drug_b":"warfarin","severity":"high","description":"Increased bleeding risk"},
                {"drug_a":"ibuprofen","drug_b":"warfarin","severity":"high","description":"Increased bleeding risk"}
            ])
        );
    }

    #[test]
    fn order_independent() {
        let out = check(r#"{"medications":["warfarin","aspirin"]}"#);
        assert_eq!(out[0]["drug_a"], "warfarin");
        assert_eq!(out[0]["severity"], "high");
    }

    #[test]
    fn empty_unknown_and_bad_input() {
        assert_eq!(check(r#"{"medications":[]}"#), serde_json::json!([]));
        assert_eq!(
            check(r#"{"medications":["Aspirin","tylenol"]}"#),
            serde_json::json!([])
        );
        assert!(check_json(b"{}").unwrap_err().contains("medications"));
    }
}

// The `ways` feature (on in plugins/drug-checker-ways, which builds this
// same source) adds the same check behind other boundaries: a batch of
// requests in one call, and MessagePack instead of JSON. Kept at the end of
// the file: panic locations carry line numbers, and drug-checker.wasm must
// stay the reference study's plugin, byte for byte.
#[cfg(feature = "ways")]
wprof_guest::export!(check_batch => check_batch_json);
#[cfg(feature = "ways")]
wprof_guest::export!(check_msgpack => check_msgpack_bytes);

/// A batch: a JSON array of requests in, a JSON array of answers out, one
/// call for them all (the reference study's Optimization 1).
#[cfg(feature = "ways")]
pub fn check_batch_json(input: &[u8]) -> Result<Vec<u8>, String> {
    let reqs: Vec<CheckRequest> =
        serde_json::from_slice(input).map_err(|e| format!("invalid batch: {e}"))?;
    let out: Vec<Vec<Interaction>> = reqs
        .iter()
        .map(|r| find_interactions(&r.medications))
        .collect();
    serde_json::to_vec(&out).map_err(|e| e.to_string())
}

/// [`check_json`] with MessagePack (named fields) on both sides.
#[cfg(feature = "ways")]
pub fn check_msgpack_bytes(input: &[u8]) -> Result<Vec<u8>, String> {
    let req: CheckRequest =
        rmp_serde::from_slice(input).map_err(|e| format!("invalid request: {e}"))?;
    rmp_serde::to_vec_named(&find_interactions(&req.medications)).map_err(|e| e.to_string())
}

#[cfg(all(test, feature = "ways"))]
mod ways_tests {
    use super::*;

    #[test]
    fn a_batch_answers_each_request_as_check_json_does() {
        let one = r#"{"medications":["aspirin","ibuprofen","warfarin"]}"#;
        let two = r#"{"medications":["warfarin","aspirin"]}"#;
        let batch = format!("[{one},{two},{one}]");
        let out: serde_json::Value =
            serde_json::from_slice(&check_batch_json(batch.as_bytes()).unwrap()).unwrap();
        let single = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&check_json(s.as_bytes()).unwrap()).unwrap()
        };
        assert_eq!(
            out,
            serde_json::json!([single(one), single(two), single(one)])
        );
        assert!(
            check_batch_json(b"{}")
                .unwrap_err()
                .contains("invalid batch")
        );
    }

    #[test]
    fn msgpack_carries_the_same_answer() {
        let req = serde_json::json!({"medications": ["aspirin", "ibuprofen", "warfarin"]});
        let packed = rmp_serde::to_vec_named(&req).unwrap();
        let out: serde_json::Value =
            rmp_serde::from_slice(&check_msgpack_bytes(&packed).unwrap()).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&check_json(req.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out, json);
    }
}
