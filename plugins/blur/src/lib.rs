//! A Gaussian blur of an RGBA image: the reference study's compute case ("when
//! WASM is faster": a 1920x1080 image), as one Rust source built three ways
//! by wprof's compute scenario: natively (the baseline), to wasm without
//! SIMD (`blur.wasm`), and to wasm with SIMD128 (`blur-simd.wasm`, this
//! source with the `simd` feature, which compiles the kernel with
//! `target_feature(enable = "simd128")`).
//!
//! The kernel is the separable 5-tap binomial [1 4 6 4 1] / 16, rows then
//! columns, in integers with rounding, clamped at the edges: every build
//! computes the same bytes. It is written as plain loops over contiguous
//! bytes, which the compiler vectorises where the target has vectors.
//!
//! Input: `u32 width, u32 height` (little-endian), then `width * height * 4`
//! bytes of RGBA. Output: the blurred RGBA bytes.

wprof_guest::abi!();
wprof_guest::export!(blur => blur_bytes);

/// Blurs an image given as the ABI's input.
pub fn blur_bytes(input: &[u8]) -> Result<Vec<u8>, String> {
    let header = input
        .get(..8)
        .ok_or("input shorter than its 8-byte header")?;
    let w = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let h = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let pixels = &input[8..];
    if w == 0 || h == 0 || pixels.len() != w * h * 4 {
        return Err(format!(
            "a {w}x{h} image needs {} bytes of RGBA, got {}",
            w * h * 4,
            pixels.len()
        ));
    }
    let mut tmp = vec![0u8; pixels.len()];
    let mut out = vec![0u8; pixels.len()];
    // SAFETY (simd build): wasm engines that validate the module run its
    // SIMD instructions or refuse it at load; nothing runs half-supported.
    #[allow(unused_unsafe)]
    unsafe {
        horizontal(pixels, &mut tmp, w, h);
        vertical(&tmp, &mut out, w, h);
    }
    Ok(out)
}

/// Rows: each byte from its row's neighbours 2 and 1 pixels either side.
#[cfg_attr(
    all(feature = "simd", target_family = "wasm"),
    target_feature(enable = "simd128")
)]
fn horizontal(src: &[u8], dst: &mut [u8], w: usize, h: usize) {
    let stride = w * 4;
    // Pixels whose neighbourhood reaches past an edge (clamped); the rest
    // is the loop below, written so that it vectorises.
    let edges: Vec<usize> = if w < 5 {
        (0..w).collect()
    } else {
        vec![0, 1, w - 2, w - 1]
    };
    for y in 0..h {
        let row = &src[y * stride..(y + 1) * stride];
        let out = &mut dst[y * stride..(y + 1) * stride];
        for &px in &edges {
            for ch in 0..4 {
                let at = |d: isize| -> u16 {
                    let p = (px as isize + d).clamp(0, w as isize - 1) as usize;
                    row[p * 4 + ch] as u16
                };
                out[px * 4 + ch] =
                    ((at(-2) + 4 * at(-1) + 6 * at(0) + 4 * at(1) + at(2) + 8) >> 4) as u8;
            }
        }
        if w >= 5 {
            let n = stride - 16;
            let (a, b, c, d, e) = (
                &row[0..n],
                &row[4..4 + n],
                &row[8..8 + n],
                &row[12..12 + n],
                &row[16..16 + n],
            );
            for (i, o) in out[8..8 + n].iter_mut().enumerate() {
                let s =
                    a[i] as u16 + 4 * b[i] as u16 + 6 * c[i] as u16 + 4 * d[i] as u16 + e[i] as u16;
                *o = ((s + 8) >> 4) as u8;
            }
        }
    }
}

/// Columns: each byte from the rows 2 and 1 above and below.
#[cfg_attr(
    all(feature = "simd", target_family = "wasm"),
    target_feature(enable = "simd128")
)]
fn vertical(src: &[u8], dst: &mut [u8], w: usize, h: usize) {
    let stride = w * 4;
    let row = |y: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        &src[y * stride..(y + 1) * stride]
    };
    for y in 0..h {
        let yi = y as isize;
        let (a, b, c, d, e) = (row(yi - 2), row(yi - 1), row(yi), row(yi + 1), row(yi + 2));
        let out = &mut dst[y * stride..(y + 1) * stride];
        for (i, o) in out.iter_mut().enumerate() {
            let s = a[i] as u16 + 4 * b[i] as u16 + 6 * c[i] as u16 + 4 * d[i] as u16 + e[i] as u16;
            *o = ((s + 8) >> 4) as u8;
        }
    }
}

/// An input for [`blur_bytes`]: the header, then `pixels`.
pub fn encode(w: u32, h: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + pixels.len());
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(pixels);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_image_stays_flat_and_a_dot_spreads_as_the_kernel() {
        let (w, h) = (9u32, 7u32);
        let flat = vec![100u8; (w * h * 4) as usize];
        assert_eq!(blur_bytes(&encode(w, h, &flat)).unwrap(), flat);
        // One bright pixel in the middle, red channel: the binomial
        // kernel, rows then columns, each pass rounded.
        let mut dot = vec![0u8; (w * h * 4) as usize];
        let at = |x: u32, y: u32| ((y * w + x) * 4) as usize;
        dot[at(4, 3)] = 255;
        let out = blur_bytes(&encode(w, h, &dot)).unwrap();
        // Rows: 16, 64, 96, 64, 16; then columns: (6*96+8)>>4 = 36 ...
        assert_eq!(out[at(4, 3)], 36);
        assert_eq!(out[at(3, 3)], 24);
        assert_eq!(out[at(4, 2)], 24);
        assert_eq!(out[at(4, 1)], 6);
        assert_eq!(out[at(2, 3)], 6);
        assert_eq!(out[at(4, 0)], 0, "three rows away");
        assert_eq!(out[at(4, 3) + 1], 0, "other channels untouched");
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(blur_bytes(b"1234").unwrap_err().contains("header"));
        assert!(
            blur_bytes(&encode(2, 2, &[0; 15]))
                .unwrap_err()
                .contains("needs 16 bytes")
        );
    }
}
