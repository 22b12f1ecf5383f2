//! Making untrusted text safe for the terminal and for HTML.
//!
//! Every title, summary and body comes from strangers on the internet. Before any of it
//! reaches a terminal it goes through [`terminal`] (or [`terminal_line`]); before it reaches
//! HTML it goes through [`html_escape`], and links through [`safe_link`]. ratatui drops some
//! control characters on its own but not all (bidi overrides, U+2028), so this is not left
//! to the widget library.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{07}';

/// Text safe to write to a terminal: escape sequences (CSI, OSC, DCS, SOS, PM, APC and
/// two-byte ESC forms, in their 7-bit and 8-bit C1 spellings) are removed whole; other C0 and
/// C1 controls, DEL, bidi overrides and isolates are dropped; tabs become a space and
/// U+2028/U+2029 become a newline. Newlines are kept; carriage returns (which could overwrite
/// a line) are dropped.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_plain) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-byte sequences (ESC c, ESC 7, ESC ( B ...): drop the next char and, for
                // charset designations, the one after it.
                Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%' | ' ') => {
                    chars.next();
                }
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => out.push(' '),
            '\u{2028}' | '\u{2029}' => out.push('\n'),
            c if is_plain(c) => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// [`terminal`], then folded onto one line: newlines and runs of white space become one space,
/// and the ends are trimmed. For titles, list rows and status lines.
pub fn terminal_line(text: &str) -> String {
    let clean = terminal(text);
    let mut out = String::with_capacity(clean.len());
    for word in clean.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether a character may reach the terminal as it is.
fn is_plain(c: char) -> bool {
    !(c.is_control() && c != '\n' || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// Bidirectional formatting characters, which can reorder what the analyst sees (the
/// "Trojan Source" trick): embeddings, overrides, isolates and marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
        // A malformed sequence ends at any character that cannot be part of it.
        if !('\u{20}'..='\u{3f}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | '\u{9c}' => break,
            ESC => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The link, if it is an absolute http or https URL with a host and nothing that could break
/// out of an attribute or a terminal; `None` for `javascript:`, `data:`, `file:` and the rest.
pub fn safe_link(link: &str) -> Option<&str> {
    let link = link.trim();
    if link
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_bidi_control(c))
    {
        return None;
    }
    let parsed = url::Url::parse(link).ok()?;
    let scheme_ok = matches!(parsed.scheme(), "http" | "https");
    (scheme_ok && parsed.host_str().is_some_and(|h| !h.is_empty())).then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_japanese_is_borrowed_unchanged() {
        let s = "J-Coin Payで不正アクセス、約1.8万件の情報が流出\n次の段落";
        assert!(matches!(terminal(s), Cow::Borrowed(_)));
    }

    #[test]
    fn removes_csi_osc_and_c1_sequences() {
        let s = "a\u{1b}[31mred\u{1b}[0m b\u{1b}]0;pwned\u{7}c\u{1b}]52;c;ZXZpbA==\u{1b}\\d";
        assert_eq!(terminal(s), "ared bcd");
        let s = "x\u{9b}2Jy\u{9d}8;;http://evil\u{9c}z";
        assert_eq!(terminal(s), "xyz");
        let s = "hyper\u{1b}]8;;http://evil.example/\u{1b}\\link\u{1b}]8;;\u{1b}\\";
        assert_eq!(terminal(s), "hyperlink");
    }

    #[test]
    fn drops_controls_bidi_and_lone_cr() {
        let s = "a\u{0}b\u{8}c\rd\u{7f}e\u{202e}f\u{2066}g\u{85}h";
        assert_eq!(terminal(s), "abcdefgh");
        assert_eq!(
            terminal("line1\r\nline2\u{2028}line3\tx"),
            "line1\nline2\nline3 x"
        );
    }

    #[test]
    fn unterminated_sequences_do_not_swallow_forever_or_panic() {
        assert_eq!(terminal("ok\u{1b}"), "ok");
        assert_eq!(terminal("ok\u{1b}["), "ok");
        assert_eq!(terminal("ok\u{1b}]0;title never ends"), "ok");
        assert_eq!(terminal("\u{1b}[1;3あ続き"), "続き");
    }

    #[test]
    fn terminal_line_folds_whitespace() {
        assert_eq!(terminal_line("  7pay\n\n不正\t利用 "), "7pay 不正 利用");
    }

    #[test]
    fn html_escape_escapes_all_five() {
        assert_eq!(
            html_escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn safe_link_keeps_only_http_and_https() {
        assert_eq!(
            safe_link("https://example.jp/a?b=1"),
            Some("https://example.jp/a?b=1")
        );
        assert_eq!(
            safe_link(" http://127.0.0.1:8080/x "),
            Some("http://127.0.0.1:8080/x")
        );
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<b>x</b>",
            "file:///etc/passwd",
            "vbscript:x",
            "/relative/path",
            "http://exa mple.com/",
            "https://example.com/\u{1b}]0;x\u{7}",
            "http://",
        ] {
            assert_eq!(safe_link(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn terminal_output_has_no_controls(s in any::<String>()) {
            let out = terminal(&s);
            let ok = |c: char| {
                (!c.is_control() || c == '\n') && !is_bidi_control(c) && !matches!(c, '\u{2028}' | '\u{2029}')
            };
            prop_assert!(out.chars().all(ok));
        }

        #[test]
        fn terminal_line_is_one_line(s in any::<String>()) {
            let out = terminal_line(&s);
            prop_assert!(!out.contains('\n'));
            prop_assert!(out.chars().all(|c| !c.is_control()));
        }

        #[test]
        fn html_escape_leaves_no_markup(s in any::<String>()) {
            let out = html_escape(&s);
            prop_assert!(!out.contains(['<', '>', '"', '\'']));
        }

        #[test]
        fn safe_link_never_accepts_other_schemes(s in "[a-z]{1,10}:[ -~]{0,40}") {
            if let Some(l) = safe_link(&s) {
                prop_assert!(l.starts_with("http://") || l.starts_with("https://"));
            }
        }
    }
}
