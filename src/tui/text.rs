//! Display-width text helpers: sanitising, truncation with an ellipsis, and a word/CJK-aware
//! wrap that measures terminal cells (a CJK character takes two).
//!
//! Every piece of untrusted text becomes a `Span` only after [`clean`]; widths are measured
//! per grapheme with `unicode-width`, the same measure ratatui's buffer uses.

use std::borrow::Cow;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The ellipsis that ends truncated text (one cell wide).
pub const ELLIPSIS: &str = "…";

/// Makes untrusted text safe for the terminal: controls, escape sequences and bidi
/// overrides removed. The one choke point all article, feed and tag text goes through.
pub fn clean(s: &str) -> Cow<'_, str> {
    crate::sanitize::terminal(s)
}

/// [`clean`] folded onto one line (titles, list rows, status messages): line breaks and
/// runs of white space become one space.
pub fn clean_line(s: &str) -> String {
    crate::sanitize::terminal_line(s)
}

/// Display width in terminal cells.
pub fn width(s: &str) -> usize {
    s.graphemes(true).map(grapheme_width).sum()
}

fn grapheme_width(g: &str) -> usize {
    UnicodeWidthStr::width(g)
}

/// Cuts `s` to at most `max` cells. Text that does not fit ends with `…`; a character is
/// never split, so the result may be one cell short when a 2-cell character met the cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let budget = max - 1; // room for the ellipsis
    let mut used = 0;
    let mut end = 0;
    for (i, g) in s.grapheme_indices(true) {
        let w = grapheme_width(g);
        if used + w > budget {
            break;
        }
        used += w;
        end = i + g.len();
    }
    let mut out = String::with_capacity(end + ELLIPSIS.len());
    out.push_str(&s[..end]);
    out.push_str(ELLIPSIS);
    Cow::Owned(out)
}

/// Truncates to `cells` and pads with spaces to exactly `cells` cells (table columns).
pub fn fit(s: &str, cells: usize) -> String {
    let t = truncate(s, cells);
    let w = width(&t);
    let mut out = t.into_owned();
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(w)));
    out
}

/// Characters that must not begin a line in Japanese text (closing brackets, punctuation,
/// small kana, the long-vowel mark): the wrap keeps them with the character before.
fn no_line_start(c: char) -> bool {
    matches!(
        c,
        '、' | '。'
            | '，'
            | '．'
            | ','
            | '.'
            | '・'
            | '：'
            | '；'
            | '？'
            | '！'
            | '?'
            | '!'
            | ')'
            | ']'
            | '}'
            | '）'
            | '」'
            | '』'
            | '】'
            | '〕'
            | '〉'
            | '》'
            | '］'
            | '｝'
            | '〟'
            | '’'
            | '”'
            | 'ー'
            | '〜'
            | '％'
            | '%'
            | 'ぁ'
            | 'ぃ'
            | 'ぅ'
            | 'ぇ'
            | 'ぉ'
            | 'っ'
            | 'ゃ'
            | 'ゅ'
            | 'ょ'
            | 'ゎ'
            | 'ァ'
            | 'ィ'
            | 'ゥ'
            | 'ェ'
            | 'ォ'
            | 'ッ'
            | 'ャ'
            | 'ュ'
            | 'ョ'
            | 'ヮ'
            | 'ヵ'
            | 'ヶ'
    )
}

/// Characters that must not end a line (opening brackets).
fn no_line_end(c: char) -> bool {
    matches!(
        c,
        '(' | '['
            | '{'
            | '（'
            | '「'
            | '『'
            | '【'
            | '〔'
            | '〈'
            | '《'
            | '［'
            | '｛'
            | '〝'
            | '‘'
            | '“'
    )
}

/// Whether a line may break between graphemes of these scripts without a space: true when
/// either side is wide (CJK ideographs, kana, full-width forms).
fn breakable_between(prev: &str, next: &str) -> bool {
    let (Some(p), Some(n)) = (prev.chars().last(), next.chars().next()) else {
        return true;
    };
    if p.is_whitespace() {
        return !n.is_whitespace();
    }
    if n.is_whitespace() {
        return false;
    }
    if no_line_start(n) || no_line_end(p) {
        return false;
    }
    grapheme_width(prev) >= 2 || grapheme_width(next) >= 2
}

/// Wraps styled text to `max` cells per line, measuring display width. Input is a list of
/// logical lines, each a list of (text, style) runs whose text contains no line breaks.
/// Latin words break at spaces; CJK text breaks between characters, except before closing
/// punctuation and small kana or after opening brackets (simple kinsoku); a word longer than
/// the line is cut at the cell limit. Blank logical lines stay blank lines.
pub fn wrap(lines: &[Vec<(String, Style)>], max: usize) -> Vec<Line<'static>> {
    let max = max.max(2);
    let mut out = Vec::new();
    for logical in lines {
        let gs: Vec<(&str, Style)> = logical
            .iter()
            .flat_map(|(text, style)| text.graphemes(true).map(move |g| (g, *style)))
            .collect();
        if gs.is_empty() {
            out.push(Line::default());
            continue;
        }
        wrap_one(&gs, max, &mut out);
    }
    out
}

fn wrap_one(gs: &[(&str, Style)], max: usize, out: &mut Vec<Line<'static>>) {
    let mut start = 0; // first grapheme of the current row
    while start < gs.len() {
        // Rows never begin with spaces that came from a break.
        while start < gs.len() && gs[start].0.trim().is_empty() && start > 0 {
            start += 1;
        }
        if start >= gs.len() {
            break;
        }
        let mut used = 0;
        let mut i = start;
        let mut last_break: Option<usize> = None; // row may end before index `last_break`
        while i < gs.len() {
            let w = grapheme_width(gs[i].0);
            if i > start && breakable_between(gs[i - 1].0, gs[i].0) {
                last_break = Some(i);
            }
            if used + w > max {
                break;
            }
            used += w;
            i += 1;
        }
        let end = if i >= gs.len() {
            gs.len()
        } else {
            match last_break {
                Some(b) if b > start => b,
                // No break opportunity on this row: cut at the cell limit (at least one
                // grapheme, so a 2-cell character in a 1-cell pane still advances).
                _ => i.max(start + 1),
            }
        };
        out.push(to_line(&gs[start..end]));
        start = end;
    }
}

fn to_line(gs: &[(&str, Style)]) -> Line<'static> {
    // Trailing spaces at a break carry no meaning; drop them so rows measure honestly.
    let mut n = gs.len();
    while n > 0 && gs[n - 1].0.trim().is_empty() {
        n -= 1;
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut buf = String::new();
    let mut cur: Option<Style> = None;
    for (g, style) in &gs[..n] {
        if cur != Some(*style) {
            if let Some(s) = cur {
                spans.push(Span::styled(std::mem::take(&mut buf), s));
            }
            cur = Some(*style);
        }
        buf.push_str(g);
    }
    if let Some(s) = cur {
        spans.push(Span::styled(buf, s));
    }
    Line::from(spans)
}

/// Splits `text` into logical lines of styled runs: bytes inside a mark get the mark's style
/// patched over `base` (later marks over earlier ones where they overlap), then every run is
/// sanitised. Marks out of bounds or off character boundaries are ignored: they come from
/// stored data.
pub fn highlight_runs(
    text: &str,
    marks: &[(usize, usize, Style)],
    base: Style,
) -> Vec<Vec<(String, Style)>> {
    let marks: Vec<(usize, usize, Style)> = marks
        .iter()
        .copied()
        .filter(|&(s, e, _)| {
            s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
        })
        .collect();
    let mut cuts: Vec<usize> = Vec::with_capacity(marks.len() * 2 + 2);
    cuts.push(0);
    cuts.push(text.len());
    for &(s, e, _) in &marks {
        cuts.push(s);
        cuts.push(e);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut lines: Vec<Vec<(String, Style)>> = vec![Vec::new()];
    for w in cuts.windows(2) {
        let (s, e) = (w[0], w[1]);
        let style = marks
            .iter()
            .filter(|&&(ms, me, _)| ms <= s && e <= me)
            .fold(base, |acc, &(_, _, st)| acc.patch(st));
        // Sanitise first: it also turns U+2028/U+2029 into line breaks.
        let cleaned = clean(&text[s..e]);
        let mut first = true;
        for part in cleaned.split('\n') {
            if !first {
                lines.push(Vec::new());
            }
            first = false;
            if part.is_empty() {
                continue;
            }
            if let Some(cur) = lines.last_mut() {
                match cur.last_mut() {
                    Some((t, st)) if *st == style => t.push_str(part),
                    _ => cur.push((part.to_string(), style)),
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Modifier, Style};

    fn line_text(l: &Line<'_>) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn cjk_is_two_cells() {
        assert_eq!(width("決済"), 4);
        assert_eq!(width("ab"), 2);
        assert_eq!(width("7payセブンペイ"), 4 + 10);
    }

    #[test]
    fn truncate_never_splits_and_ends_with_ellipsis() {
        assert_eq!(truncate("日本語です", 10), "日本語です");
        assert_eq!(truncate("日本語です", 9), "日本語で…");
        // The 2-cell 語 would straddle the cut: it is dropped whole, one cell stays short.
        assert_eq!(truncate("日本語です", 6), "日本…");
        assert_eq!(width(&truncate("日本語です", 6)), 5);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本", 1), "…");
        assert_eq!(truncate("日本", 0), "");
    }

    #[test]
    fn truncate_keeps_grapheme_clusters_whole() {
        // e + combining acute is one grapheme of one cell.
        let s = "e\u{301}e\u{301}e\u{301}";
        let t = truncate(s, 2);
        assert_eq!(t, "e\u{301}…");
    }

    #[test]
    fn fit_pads_to_exact_width() {
        assert_eq!(width(&fit("日本語です", 6)), 6);
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(width(&fit("決済セキュリティ", 7)), 7);
    }

    #[test]
    fn wrap_measures_cells_not_chars() {
        let text = "セブンペイは二要素認証を導入していなかった";
        let lines = wrap(&[vec![(text.to_string(), Style::default())]], 10);
        for l in &lines {
            assert!(width(&line_text(l)) <= 10, "{:?}", line_text(l));
        }
        let joined: String = lines.iter().map(line_text).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn wrap_keeps_kinsoku() {
        // Width 8 would put 。 at the start of row 2; it stays with the character before.
        let lines = wrap(&[vec![("あいうえ。かき".to_string(), Style::default())]], 8);
        let rows: Vec<String> = lines.iter().map(line_text).collect();
        assert!(rows.iter().all(|r| !r.starts_with('。')), "{rows:?}");
        let lines = wrap(&[vec![("あいう「かき」".to_string(), Style::default())]], 8);
        let rows: Vec<String> = lines.iter().map(line_text).collect();
        assert!(rows.iter().all(|r| !r.ends_with('「')), "{rows:?}");
    }

    #[test]
    fn wrap_breaks_latin_at_spaces_and_cuts_long_words() {
        let lines = wrap(
            &[vec![(
                "two factor authentication".to_string(),
                Style::default(),
            )]],
            12,
        );
        let rows: Vec<String> = lines.iter().map(line_text).collect();
        assert_eq!(rows, vec!["two factor", "authenticati", "on"]);
    }

    #[test]
    fn wrap_mixed_and_blank_lines() {
        let lines = wrap(
            &[
                vec![("J-Coin Payの加盟店".to_string(), Style::default())],
                vec![],
                vec![("end".to_string(), Style::default())],
            ],
            9,
        );
        let rows: Vec<String> = lines.iter().map(line_text).collect();
        assert_eq!(rows, vec!["J-Coin", "Payの加盟", "店", "", "end"]);
    }

    #[test]
    fn wrap_never_loops_on_wide_char_in_narrow_pane() {
        let lines = wrap(&[vec![("日本".to_string(), Style::default())]], 1);
        assert_eq!(lines.len(), 2); // width floor of 2: one character per row
        let lines = wrap(&[vec![("日本語".to_string(), Style::default())]], 3);
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn highlight_splits_styles_and_sanitises() {
        let hl = Style::default().add_modifier(Modifier::BOLD);
        let text = "7payで不正利用\n\x1b[31m二要素認証\u{202e}なし";
        let start = text.find("不正利用").unwrap();
        let runs = highlight_runs(
            text,
            &[
                (start, start + "不正利用".len(), hl),
                (999, 1000, hl),
                (1, 2, hl),
            ],
            Style::default(),
        );
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0][0], ("7".to_string(), Style::default()));
        assert_eq!(runs[0][1], ("p".to_string(), hl));
        assert_eq!(runs[0][3], ("不正利用".to_string(), hl));
        let second: String = runs[1].iter().map(|(t, _)| t.as_str()).collect();
        assert!(!second.contains('\x1b') && !second.contains('\u{202e}'));
        assert!(second.contains("二要素認証"));
    }

    #[test]
    fn highlight_ignores_ranges_off_char_boundaries() {
        let hl = Style::default().add_modifier(Modifier::BOLD);
        let runs = highlight_runs("決済", &[(1, 3, hl)], Style::default());
        assert_eq!(runs, vec![vec![("決済".to_string(), Style::default())]]);
    }

    #[test]
    fn overlapping_marks_patch_styles() {
        let a = Style::default().add_modifier(Modifier::BOLD);
        let b = Style::default().add_modifier(Modifier::REVERSED);
        let runs = highlight_runs("abcdef", &[(0, 4, a), (2, 6, b)], Style::default());
        assert_eq!(
            runs[0],
            vec![
                ("ab".to_string(), a),
                ("cd".to_string(), a.patch(b)),
                ("ef".to_string(), b)
            ]
        );
    }

    #[test]
    fn clean_line_joins_lines_with_spaces() {
        assert_eq!(clean_line("a\nb\tc"), "a b c");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use ratatui::style::Style;

        /// Text mixing ASCII words, kana, kanji, full-width forms, combining marks,
        /// punctuation that kinsoku holds back, and spaces.
        fn mixed() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("a"),
                    Just("Pay"),
                    Just(" "),
                    Just("決"),
                    Just("済"),
                    Just("セ"),
                    Just("ッ"),
                    Just("ー"),
                    Just("。"),
                    Just("、"),
                    Just("「"),
                    Just("」"),
                    Just("Ｊ"),
                    Just("e\u{301}"),
                    Just("1"),
                    Just("-"),
                ],
                0..60,
            )
            .prop_map(|v| v.concat())
        }

        proptest! {
            #[test]
            fn truncate_fits_and_is_a_prefix(s in mixed(), max in 0usize..40) {
                let t = truncate(&s, max);
                prop_assert!(width(&t) <= max);
                if t.as_ref() != s.as_str() {
                    let body = t.strip_suffix(ELLIPSIS).unwrap_or(&t);
                    prop_assert!(s.starts_with(body));
                    // Nothing more would have fit: the next grapheme would overflow.
                    prop_assert!(width(&t) + 2 > max || max == 0);
                }
            }

            #[test]
            fn fit_is_exact(s in mixed(), cells in 0usize..40) {
                prop_assert_eq!(width(&fit(&s, cells)), cells.max(width(&truncate(&s, cells))));
            }

            #[test]
            fn wrap_rows_fit_and_keep_the_text(s in mixed(), max in 2usize..30) {
                let lines = wrap(&[vec![(s.clone(), Style::default())]], max);
                let mut joined = String::new();
                for l in &lines {
                    let row: String = l.spans.iter().map(|x| x.content.as_ref()).collect();
                    prop_assert!(width(&row) <= max, "row {:?} wider than {}", row, max);
                    joined.push_str(&row);
                }
                // Only spaces at breaks may go.
                let squeeze = |x: &str| x.chars().filter(|c| *c != ' ').collect::<String>();
                prop_assert_eq!(squeeze(&joined), squeeze(&s));
            }
        }
    }
}
