//! Two calls written as an Extism plugin author writes them (extism-pdk,
//! nothing of wprof), for comparing hosts where they differ most: moving
//! bytes through kernel memory (`echo`) and many small allocations inside
//! one call (`allocate`).

use extism_pdk::*;

/// Returns its input: one input read and one output write, of any size.
#[plugin_fn]
pub fn echo(input: Vec<u8>) -> FnResult<Vec<u8>> {
    Ok(input)
}

/// Many small allocations per call: one string per input byte (at least
/// 1000), each of a few bytes, kept until the end of the call; returns how
/// many bytes they held, as text.
#[plugin_fn]
pub fn allocate(input: Vec<u8>) -> FnResult<String> {
    let n = input.len().max(1000);
    let mut kept: Vec<String> = Vec::new();
    for i in 0..n {
        let b = input.get(i).copied().unwrap_or(b'a');
        kept.push(format!("{}{i}", b as char));
    }
    Ok(kept.iter().map(String::len).sum::<usize>().to_string())
}
