//! Text from a plugin is data: names from a module's name section, error
//! and log messages, a command's output. Before it reaches a terminal or a
//! text file, every control character (a newline that would forge a
//! `wprof: error:` line, an escape sequence that clears the screen) and
//! every bidirectional override is written escaped, as Rust writes it in a
//! string literal. The run's JSON keeps the raw text.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal as itself.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control characters and bidirectional overrides escaped
/// (`\n`, `\u{1b}`); borrowed when there are none.
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays a string escaped as [`esc`] does.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding (`{:<12}`) applies to the escaped text.
        f.pad(&esc(self.0))
    }
}

/// The last lines of `text` that fit in `max` characters, whole (blank
/// ones dropped); a last line longer than `max` alone keeps its end,
/// after `…`.
pub fn tail_lines(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut used = 0;
    for line in text
        .lines()
        .rev()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
    {
        let n = line.chars().count();
        if used + n > max {
            if out.is_empty() {
                let skip = n - max.saturating_sub(1);
                out.push(format!("…{}", line.chars().skip(skip).collect::<String>()));
            }
            break;
        }
        used += n;
        out.push(line.to_owned());
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_overrides_are_escaped_and_the_rest_kept() {
        assert_eq!(esc("plain µs — ok"), "plain µs — ok");
        assert!(matches!(esc("plain"), Cow::Borrowed(_)));
        assert_eq!(
            esc("a\nwprof: error: forged\x1b[2J\r\t\u{202e}z"),
            "a\\nwprof: error: forged\\u{1b}[2J\\r\\t\\u{202e}z"
        );
        assert_eq!(format!("{:<6}|", Esc("a\tb")), "a\\tb  |");
    }

    #[test]
    fn a_tail_is_whole_lines_or_the_end_of_one() {
        assert_eq!(tail_lines("one\ntwo\n\nthree\n", 8), ["two", "three"]);
        assert_eq!(tail_lines("one\ntwo", 100), ["one", "two"]);
        assert_eq!(tail_lines("abcdefghij", 4), ["…hij"]);
        assert!(tail_lines(" \n", 10).is_empty());
    }
}
