//! The processing function of every data-transfer way.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, taken a little-endian 8-byte word at a time (the last
/// `len % 8` bytes one at a time). One multiply per word, each depending
/// on the last: no compiler can vectorise it, so wasm and native run it
/// alike, at about a quarter of a nanosecond per byte here, and the
/// difference between ways is what crossing the boundary costs.
pub fn checksum(data: &[u8]) -> u64 {
    let mut h = OFFSET;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w: [u8; 8] = [w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]];
        h ^= u64::from_le_bytes(w);
        h = h.wrapping_mul(PRIME);
    }
    for &b in words.remainder() {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h
}
