//! Units as people read them: durations, sizes and payload sizes, written
//! and parsed the same way by the table, the HTML report, verdicts and the
//! command line.

/// A duration in the unit that suits it: `812.3 ns`, `1.874 µs`, `47.21 ms`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{ns:.1} ns")
    } else if a < 1e6 {
        format!("{:.3} µs", ns / 1e3)
    } else if a < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// A signed duration: `+434.7 ns`, `-1.203 µs`.
pub fn fmt_signed_ns(ns: f64) -> String {
    let s = fmt_ns(ns);
    if ns >= 0.0 { format!("+{s}") } else { s }
}

/// A size in the unit that suits it: `812 B`, `52.0 KiB`, `2.81 MiB`.
pub fn fmt_bytes(bytes: f64) -> String {
    let a = bytes.abs();
    if a < 1024.0 {
        format!("{bytes:.0} B")
    } else if a < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else if a < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else if a < 1024f64.powi(4) {
        format!("{:.2} GiB", bytes / 1024f64.powi(3))
    } else {
        format!("{:.2} TiB", bytes / 1024f64.powi(4))
    }
}

/// A signed difference of durations: `+12.0 ns`, `-1.250 µs`.
pub fn fmt_delta_ns(ns: f64) -> String {
    format!("{}{}", if ns < 0.0 { "-" } else { "+" }, fmt_ns(ns.abs()))
}

/// Parses a payload size: a number of bytes with an optional unit, B, KB
/// (1000), MB, GB, KiB (1024), MiB or GiB, e.g. `100`, `10KB`, `1MiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let not_a_number = || format!("payload size `{s}` is not a number of bytes");
    if num.is_empty() {
        return Err(not_a_number());
    }
    let unit_bytes: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "payload size `{s}`: unknown unit (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let n: f64 = num.parse().map_err(|_| not_a_number())?;
    let bytes = (n * unit_bytes).round();
    if !(1.0..=u32::MAX as f64).contains(&bytes) {
        return Err(format!("payload size `{s}` must be from 1 B to 4 GiB"));
    }
    Ok(bytes as u64)
}

/// A size as the reference study writes it: `100 B`, `10 KB`, `1 MB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{} MB", b / 1_000_000),
        b if b >= 1000 && b % 1000 == 0 => format!("{} KB", b / 1000),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(fmt_ns(812.34), "812.3 ns");
        assert_eq!(fmt_ns(1874.2), "1.874 µs");
        assert_eq!(fmt_ns(-380.0), "-380.0 ns");
        assert_eq!(fmt_ns(47_210_000.0), "47.21 ms");
        assert_eq!(fmt_ns(2.5e9), "2.500 s");
        assert_eq!(fmt_delta_ns(-1250.0), "-1.250 µs");
        assert_eq!(fmt_delta_ns(12.0), "+12.0 ns");
        assert_eq!(fmt_bytes(812.0), "812 B");
        assert_eq!(fmt_bytes(-53_248.0), "-52.0 KiB");
        assert_eq!(fmt_bytes(2.81 * 1048576.0), "2.81 MiB");
    }

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("2.5k").unwrap(), 2500);
        assert!(
            parse_size("ten")
                .unwrap_err()
                .contains("`ten` is not a number")
        );
        assert!(parse_size("10XB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("0").unwrap_err().contains("from 1 B to 4 GiB"));
        assert!(parse_size("5GB").unwrap_err().contains("from 1 B to 4 GiB"));
        assert_eq!(size_label(10_000_000), "10 MB");
        assert_eq!(size_label(10_000), "10 KB");
        assert_eq!(size_label(1234), "1234 B");
    }
}
