//! Text from the server, made safe to print.
//!
//! Error details, run ids and brick values come from the network. Printed raw, an escape
//! sequence in them can rewrite a terminal, and a megabyte-long value can flood it. This
//! crate prints server text only through [`printable`], and so does the `semarize`
//! command.

use std::borrow::Cow;

/// `text` with every control character (C0, C1, DEL) and bidirectional override shown as
/// a space, and cut to at most `max_chars` characters (the last one then `…`).
///
/// ```
/// use semarize::text::printable;
/// assert_eq!(printable("ok", 10), "ok");
/// assert_eq!(printable("a\u{1b}[2Jb\nc", 20), "a [2Jb c");
/// assert_eq!(printable("abcdefgh", 4), "abc…");
/// ```
pub fn printable(text: &str, max_chars: usize) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_bidi_control(c);
    let mut chars = text.char_indices();
    let cut = chars.nth(max_chars).map(|(i, _)| i);
    if cut.is_none() && !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let kept = max_chars.saturating_sub(usize::from(cut.is_some()));
    let mut out: String = text
        .chars()
        .take(kept)
        .map(|c| if unsafe_char(c) { ' ' } else { c })
        .collect();
    if cut.is_some() && max_chars > 0 {
        out.push('…');
    }
    Cow::Owned(out)
}

/// Unicode's explicit direction marks, which can make printed text read differently
/// from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_longer_than_asked() {
        for max in 0..6 {
            for text in [
                "",
                "a",
                "abcdef",
                "\u{7}\u{7}\u{7}\u{7}\u{7}\u{7}\u{7}",
                "éééééé",
            ] {
                assert!(printable(text, max).chars().count() <= max);
            }
        }
        assert_eq!(printable("\u{202e}evil", 10), " evil");
        assert_eq!(printable("x\u{9b}31m", 10), "x 31m");
    }
}
