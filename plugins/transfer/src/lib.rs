//! The data-transfer plugin: one processing function, a checksum (64-bit
//! FNV-1a by 8-byte words) of a byte payload, behind each way of getting it
//! across the host-guest boundary:
//!
//! - `checksum_raw`: the payload's bytes as the input; the checksum as 8
//!   little-endian bytes (no codec);
//! - `checksum_json`: `{"data": "<base64>"}` in, `{"checksum": n}` out (the
//!   reference study's way);
//! - `checksum_msgpack`: the same two records in MessagePack, the bytes as
//!   a MessagePack `bin`;
//! - `checksum_pull`: called with `(0, len)`; the guest pulls the payload
//!   into its own memory through the host function
//!   `wprof_host.read_input(dst, len) -> i32`, then answers as
//!   `checksum_raw`.
//!
//! The checksum is a chain of dependent multiplies, one per 8-byte word
//! (see [`checksum`]): the same speed whatever the compiler, so wasm and
//! native execute alike and the difference between ways is what crossing
//! the boundary costs.
//!
//! Natively the crate is the baseline: [`checksum`] on the bytes in place.
//!
//! It also holds the reference study's patient-record case (its Optimization 2): a
//! record of lab values analysed ([`analyze`]) after it was passed in as
//! JSON (`analyze_json`), or fetched by the guest through the host functions
//! `wprof_host.patient_len(id) -> i32` and `wprof_host.read_patient(id, dst,
//! len) -> i32`, which copy the host's values as they lie in its memory
//! (`analyze_pull`, called with a small JSON request `{"patient_id": n}`).

use serde::{Deserialize, Serialize};

wprof_guest::abi!();
wprof_guest::export!(checksum_raw => raw);
wprof_guest::export!(checksum_json => json);
wprof_guest::export!(checksum_msgpack => msgpack);
wprof_guest::export!(analyze_json => analyze_json_bytes);

// Its own file, so that the component build (plugins/transfer-component)
// compiles the very same function without this crate's imports.
mod fnv;
pub use fnv::checksum;

/// The JSON way's input: the payload in base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonIn<'a> {
    /// The payload, base64 (standard alphabet, padded).
    #[serde(borrow)]
    pub data: &'a str,
}

/// The MessagePack way's input: the payload as a `bin`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MsgpackIn<'a> {
    /// The payload.
    #[serde(borrow, with = "serde_bytes")]
    pub data: &'a [u8],
}

/// What the codec ways answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Out {
    /// [`checksum`] of the payload.
    pub checksum: u64,
}

/// `checksum_raw`: the input is the payload.
pub fn raw(input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(checksum(input).to_le_bytes().to_vec())
}

/// `checksum_json`.
pub fn json(input: &[u8]) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let req: JsonIn = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(req.data)
        .map_err(|e| e.to_string())?;
    serde_json::to_vec(&Out {
        checksum: checksum(&data),
    })
    .map_err(|e| e.to_string())
}

/// `checksum_msgpack`.
pub fn msgpack(input: &[u8]) -> Result<Vec<u8>, String> {
    let req: MsgpackIn = rmp_serde::from_slice(input).map_err(|e| e.to_string())?;
    rmp_serde::to_vec_named(&Out {
        checksum: checksum(req.data),
    })
    .map_err(|e| e.to_string())
}

#[cfg(target_family = "wasm")]
#[link(wasm_import_module = "wprof_host")]
unsafe extern "C" {
    /// Copies up to `len` bytes of the call's payload to `dst`; returns
    /// how many (negative: the host refused).
    fn read_input(dst: i32, len: i32) -> i32;
}

/// `checksum_pull(0, len)`: pulls `len` bytes from the host, then answers
/// as `checksum_raw`.
#[cfg(target_family = "wasm")]
#[unsafe(no_mangle)]
pub extern "C" fn checksum_pull(_ptr: i32, len: i32) -> i64 {
    let mut buf: Vec<u8> = Vec::with_capacity(len.max(0) as usize);
    // SAFETY: the host writes at most `len` bytes into the spare capacity
    // and says how many; only those become the vector's contents.
    let got = unsafe { read_input(buf.as_mut_ptr() as usize as i32, len) };
    if got < 0 || got > len {
        return wprof_guest::leak_result(b"the host refused read_input".to_vec(), true);
    }
    // SAFETY: `got` bytes were written, within capacity.
    unsafe { buf.set_len(got as usize) };
    let out = checksum(&buf).to_le_bytes().to_vec();
    drop(buf);
    wprof_guest::leak_result(out, false)
}

/// A patient's record as the JSON way passes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PatientRecord {
    /// Which patient.
    pub patient_id: u32,
    /// Lab values, in the order taken.
    pub labs: Vec<f64>,
}

/// The request of the host-function way: only which patient.
#[derive(Debug, Serialize, Deserialize)]
pub struct PatientRequest {
    /// Which patient.
    pub patient_id: u32,
}

/// What the analysis answers.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Analysis {
    /// Which patient.
    pub patient_id: u32,
    /// Lab values taken.
    pub count: u64,
    /// Values above [`ABNORMAL`].
    pub abnormal: u64,
    /// Their mean.
    pub mean: f64,
    /// The largest.
    pub max: f64,
}

/// The threshold above which a lab value counts as abnormal.
pub const ABNORMAL: f64 = 140.0;

/// The analysis both ways (and native) run.
pub fn analyze(patient_id: u32, labs: impl Iterator<Item = f64>) -> Analysis {
    let (mut count, mut abnormal, mut sum, mut max) = (0u64, 0u64, 0.0f64, f64::MIN);
    for v in labs {
        count += 1;
        abnormal += u64::from(v > ABNORMAL);
        sum += v;
        max = max.max(v);
    }
    Analysis {
        patient_id,
        count,
        abnormal,
        mean: if count > 0 { sum / count as f64 } else { 0.0 },
        max,
    }
}

/// `analyze_json`: the record passed in as JSON.
pub fn analyze_json_bytes(input: &[u8]) -> Result<Vec<u8>, String> {
    let r: PatientRecord = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    serde_json::to_vec(&analyze(r.patient_id, r.labs.iter().copied())).map_err(|e| e.to_string())
}

#[cfg(target_family = "wasm")]
#[link(wasm_import_module = "wprof_host")]
unsafe extern "C" {
    /// Bytes of patient `id`'s lab values (8 per value, little-endian
    /// f64), or negative for no such patient.
    fn patient_len(id: i32) -> i32;
    /// Copies patient `id`'s lab values to `dst`, at most `len` bytes;
    /// returns how many (negative: refused).
    fn read_patient(id: i32, dst: i32, len: i32) -> i32;
}

/// `analyze_pull(ptr, len)`: a `{"patient_id": n}` request; the record is
/// fetched through the host functions, no codec.
#[cfg(target_family = "wasm")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn analyze_pull(ptr: i32, len: i32) -> i64 {
    // SAFETY: the host passes a buffer it got from wprof_alloc(len).
    unsafe { wprof_guest::call(ptr as u32, len as u32, pull_and_analyze) }
}

#[cfg(target_family = "wasm")]
fn pull_and_analyze(input: &[u8]) -> Result<Vec<u8>, String> {
    let req: PatientRequest = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    let id = req.patient_id as i32;
    // SAFETY: plain host calls; the host writes at most `need` bytes into
    // the spare capacity and says how many.
    let need = unsafe { patient_len(id) };
    if need < 0 {
        return Err(format!("no patient {id}"));
    }
    let mut buf: Vec<u8> = Vec::with_capacity(need as usize);
    let got = unsafe { read_patient(id, buf.as_mut_ptr() as usize as i32, need) };
    if got < 0 || got > need {
        return Err("the host refused read_patient".into());
    }
    // SAFETY: `got` bytes were written, within capacity.
    unsafe { buf.set_len(got as usize) };
    let labs = buf
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()));
    serde_json::to_vec(&analyze(req.patient_id, labs)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_fnv_1a_over_words_then_bytes() {
        // Short inputs are plain FNV-1a (known values).
        assert_eq!(checksum(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(checksum(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(checksum(b"foobar"), 0x8594_4171_f739_67e8);
        // A word counts as one step; a flipped bit anywhere changes it.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        h ^= u64::from_le_bytes(*b"12345678");
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= b'9' as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        assert_eq!(checksum(b"123456789"), h);
        let data: Vec<u8> = (0..100u8).collect();
        for i in [0, 7, 8, 63, 99] {
            let mut d = data.clone();
            d[i] ^= 1;
            assert_ne!(checksum(&d), checksum(&data), "byte {i}");
        }
    }

    #[test]
    fn every_codec_way_answers_the_same() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let want = checksum(&data);
        assert_eq!(raw(&data).unwrap(), want.to_le_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let j = serde_json::to_vec(&JsonIn { data: &b64 }).unwrap();
        let out: Out = serde_json::from_slice(&json(&j).unwrap()).unwrap();
        assert_eq!(out.checksum, want);
        let m = rmp_serde::to_vec_named(&MsgpackIn { data: &data }).unwrap();
        let out: Out = rmp_serde::from_slice(&msgpack(&m).unwrap()).unwrap();
        assert_eq!(out.checksum, want);
    }

    #[test]
    fn the_json_way_analyses_as_native_does() {
        let labs: Vec<f64> = (0..100).map(|i| 100.0 + i as f64).collect();
        let want = analyze(7, labs.iter().copied());
        assert_eq!(want.count, 100);
        assert_eq!(want.abnormal, 59);
        assert_eq!(want.max, 199.0);
        let j = serde_json::to_vec(&PatientRecord {
            patient_id: 7,
            labs,
        })
        .unwrap();
        let got: Analysis = serde_json::from_slice(&analyze_json_bytes(&j).unwrap()).unwrap();
        assert_eq!(got, want);
    }
}
