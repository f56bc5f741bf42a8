//! One colour per variant, chosen from its name alone, so that a variant
//! keeps its colour in every chart of a run and of a combined report,
//! whatever the order or number of the variants beside it.

use plotters::style::RGBColor;

/// Names wprof's scenarios use, each with a colour no other known name has
/// (pooling is not cranelift's blue; winch is purple everywhere).
const KNOWN: [(&str, RGBColor); 29] = [
    ("wasm", RGBColor(0x1f, 0x77, 0xb4)),
    ("native", RGBColor(0xff, 0x7f, 0x0e)),
    ("cranelift", RGBColor(0x2c, 0xa0, 0x2c)),
    ("jit", RGBColor(0x2c, 0xa0, 0x2c)),
    ("winch", RGBColor(0x94, 0x67, 0xbd)),
    ("pulley", RGBColor(0x8c, 0x56, 0x4b)),
    ("pooling", RGBColor(0xd6, 0x27, 0x28)),
    ("extism-sdk", RGBColor(0xe3, 0x77, 0xc2)),
    ("libextism", RGBColor(0x7f, 0x7f, 0x7f)),
    ("baseline", RGBColor(0xbc, 0xbd, 0x22)),
    ("aot", RGBColor(0x17, 0xbe, 0xcf)),
    ("aot-mmap", RGBColor(0x39, 0x3b, 0x79)),
    ("cranelift-opt-none", RGBColor(0x63, 0x79, 0x39)),
    ("wizer", RGBColor(0x8c, 0x6d, 0x31)),
    // data-transfer's ways of crossing the boundary.
    ("floor", RGBColor(0x22, 0x22, 0x22)),
    ("raw", RGBColor(0x31, 0xa3, 0x54)),
    ("json", RGBColor(0x75, 0x6b, 0xb1)),
    ("msgpack", RGBColor(0xe7, 0x29, 0x8a)),
    ("host-fn", RGBColor(0xa6, 0x76, 0x1d)),
    ("component", RGBColor(0x1b, 0x9e, 0x77)),
    ("extism", RGBColor(0xf7, 0xb6, 0xd2)),
    // The pooling-wizer rung and concurrency's host designs (pooled is
    // the pooling rung's design, so its colour).
    ("pooling-wizer", RGBColor(0x63, 0x1f, 0x5e)),
    ("pooled-wizer", RGBColor(0x63, 0x1f, 0x5e)),
    ("fresh", RGBColor(0x8c, 0x1c, 0x13)),
    ("pooled", RGBColor(0xd6, 0x27, 0x28)),
    ("pooled-no-cow", RGBColor(0xff, 0x98, 0x96)),
    ("pooled-resident", RGBColor(0xad, 0x49, 0x4a)),
    ("reuse", RGBColor(0x08, 0x51, 0x9c)),
    ("shared-pool", RGBColor(0x00, 0x99, 0x88)),
];

/// Colours for every other name, none of them a known name's: dark enough
/// to read as a line on white.
const REST: [RGBColor; 10] = [
    RGBColor(0x00, 0x6d, 0x77),
    RGBColor(0xa6, 0x56, 0x28),
    RGBColor(0x4d, 0x4d, 0xb0),
    RGBColor(0xb0, 0x3a, 0x7a),
    RGBColor(0x3f, 0x7f, 0x3f),
    RGBColor(0x9e, 0x7b, 0x00),
    RGBColor(0x55, 0x55, 0x55),
    RGBColor(0xc0, 0x50, 0x50),
    RGBColor(0x2f, 0x5f, 0x8f),
    RGBColor(0x6a, 0x3d, 0x9a),
];

/// The colour of the variant (or series) called `name`: a known name's own,
/// else one of the rest picked by a hash of the name (FNV-1a, which is the
/// same on every machine and in every build, unlike std's hasher).
pub fn of(name: &str) -> RGBColor {
    if let Some((_, c)) = KNOWN.iter().find(|(n, _)| *n == name) {
        return *c;
    }
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    REST[(h % REST.len() as u64) as usize]
}

/// `#rrggbb`, as CSS and the SVG write it.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_one_colour_whatever_else_is_drawn() {
        assert_eq!(hex(of("wasm")), "#1f77b4");
        assert_eq!(hex(of("winch")), "#9467bd");
        assert_ne!(of("pooling"), of("cranelift"));
        // An unknown name's colour depends on the name only (pinned, so a
        // change of hash shows), and is never a known name's.
        assert_eq!(hex(of("my-engine")), "#555555");
        for name in ["a", "b", "my-engine", "x86"] {
            assert!(KNOWN.iter().all(|(_, c)| *c != of(name)), "{name}");
        }
    }

    #[test]
    fn known_names_do_not_share_colours_except_aliases() {
        for (i, (a, ca)) in KNOWN.iter().enumerate() {
            for (b, cb) in &KNOWN[i + 1..] {
                // `jit` is cold-start's cranelift under the memory scenario's
                // name; concurrency's pooled designs are cold-start's rungs.
                let alias = [[*a, *b], [*b, *a]].iter().any(|p| {
                    [
                        ["cranelift", "jit"],
                        ["pooling", "pooled"],
                        ["pooling-wizer", "pooled-wizer"],
                    ]
                    .contains(p)
                });
                assert!(alias || ca != cb, "{a} and {b} share a colour");
            }
        }
    }
}
