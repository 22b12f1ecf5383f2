//! Small text helpers the renderers share: shortening, numbers, local times, and escaping
//! for Markdown. Untrusted text is first made one clean line with `sanitize::terminal_line`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::sanitize;

use super::{AmountEntry, CauseEntry, CountEntry, DateEntry, FactSource, StoryFacts};

/// One line of untrusted text: no controls, escapes or bidi overrides, white space folded,
/// cut to `max` characters with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    let line = sanitize::terminal_line(text);
    if line.chars().count() <= max {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `18501` → `18,501` (see [`crate::model::group_digits`]).
pub use crate::model::group_digits as digits;

/// A time as `YYYY-MM-DD HH:MM` in the digest's zone.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `HH:MM` in the digest's zone, or the full local time when the period spans days.
pub fn short_time(t: DateTime<Utc>, tz: Tz, one_day: bool) -> String {
    if one_day {
        t.with_timezone(&tz).format("%H:%M").to_string()
    } else {
        local_time(t, tz)
    }
}

/// Facts of one kind a rendered story shows at most; the JSON keeps them all.
pub const FACTS_SHOWN: usize = 8;

/// The `n` items stated by the most sources (ties: the earlier), kept in their order, and how
/// many were left out: a long story's facts stay readable and the corroborated ones stay.
pub fn best<T>(items: &[T], n: usize, sources: impl Fn(&T) -> usize) -> (Vec<&T>, usize) {
    if items.len() <= n {
        return (items.iter().collect(), 0);
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| sources(&items[b]).cmp(&sources(&items[a])).then(a.cmp(&b)));
    order.truncate(n);
    order.sort_unstable();
    (
        order.into_iter().map(|i| &items[i]).collect(),
        items.len() - n,
    )
}

/// One fact a rendered story shows; each renderer escapes and marks up its parts its own way.
#[derive(Debug, Clone, Copy)]
pub enum FactItem<'a> {
    /// An affected count.
    Count(&'a CountEntry),
    /// An amount in yen.
    Amount(&'a AmountEntry),
    /// A date and its role.
    Date(&'a DateEntry),
    /// A named cause.
    Cause(&'a CauseEntry),
}

/// A labelled list of a story's facts: the best [`FACTS_SHOWN`] and how many more the JSON
/// holds.
#[derive(Debug, Clone)]
pub struct FactList<'a> {
    /// `Affected`, `Amounts`, `Dates` or `Causes`.
    pub label: &'static str,
    /// The facts shown, in the story's order.
    pub shown: Vec<FactItem<'a>>,
    /// How many were left out.
    pub hidden: usize,
}

/// A story's non-empty fact lists in the order every rendering shows them.
pub fn fact_lists(f: &StoryFacts) -> Vec<FactList<'_>> {
    fn list<'a, T>(
        label: &'static str,
        items: &'a [T],
        item: fn(&'a T) -> FactItem<'a>,
        sources: fn(&T) -> usize,
    ) -> Option<FactList<'a>> {
        if items.is_empty() {
            return None;
        }
        let (shown, hidden) = best(items, FACTS_SHOWN, sources);
        Some(FactList {
            label,
            shown: shown.into_iter().map(item).collect(),
            hidden,
        })
    }
    [
        list("Affected", &f.counts, FactItem::Count, |x| x.sources.len()),
        list("Amounts", &f.amounts, FactItem::Amount, |x| x.sources.len()),
        list("Dates", &f.dates, FactItem::Date, |x| x.sources.len()),
        list("Causes", &f.causes, FactItem::Cause, |x| x.sources.len()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The distinct source names of a fact, in order.
pub fn source_names(sources: &[FactSource]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for s in sources {
        if !names.contains(&s.source.as_str()) {
            names.push(&s.source);
        }
    }
    names
}

/// Markdown-inert text: one clean line with every character that could start markup
/// (emphasis, links, images, HTML, entities, headings, tables, strikethrough, code)
/// backslash-escaped.
pub fn md(text: &str) -> String {
    let line = sanitize::terminal_line(text);
    let mut out = String::with_capacity(line.len() + 8);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        // `&` only starts an entity before a letter, digit or `#` (`&lt;`, `&#60;`): escape
        // it there, and leave `セブン&アイ` readable.
        if c == '&' {
            if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#')
            {
                out.push('\\');
            }
            out.push(c);
            continue;
        }
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '#' | '!' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A link target: only http(s) (via `sanitize::safe_link`), re-serialised by the URL parser
/// so that it holds no `<`, `>`, quotes or spaces (percent-encoded), for use inside a
/// Markdown `<…>` destination or an HTML attribute.
pub fn clean_link(url: &str) -> Option<String> {
    let safe = sanitize::safe_link(url)?;
    let parsed = url::Url::parse(safe).ok()?;
    let s = parsed.as_str();
    (!s.contains(['<', '>', '\\', '"', '\''])).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_counts_characters_not_bytes() {
        assert_eq!(shorten("決済セキュリティ", 4), "決済セ…");
        assert_eq!(shorten("短い", 4), "短い");
        assert_eq!(shorten(" a\n\tb\u{1b}[31m ", 10), "a b");
        assert_eq!(shorten("", 3), "");
    }

    #[test]
    fn best_keeps_the_most_sourced_in_order() {
        let items = [(10, 1), (9, 3), (8, 1), (7, 2), (6, 3)];
        let (shown, hidden) = best(&items, 3, |i| i.1);
        assert_eq!(shown, [&(9, 3), &(7, 2), &(6, 3)]);
        assert_eq!(hidden, 2);
        let (shown, hidden) = best(&items, 9, |i| i.1);
        assert_eq!(shown.len(), 5);
        assert_eq!(hidden, 0);
    }

    #[test]
    fn md_escapes_markup_and_strips_controls() {
        assert_eq!(
            md("[x](javascript:alert(1)) <script>*a*_b_ # | ~~s~~ &amp;"),
            r"\[x\](javascript:alert(1)) \<script\>\*a\*\_b\_ \# \| \~\~s\~\~ \&amp;"
        );
        assert_eq!(md("a\u{1b}]0;t\u{7}b\nc\u{202e}d"), "ab cd");
        assert_eq!(
            md("セブン&アイ & co &#60; &x"),
            r"セブン&アイ & co \&\#60; \&x"
        );
        assert_eq!(
            md("J-Coin Payの加盟店情報、1.8万件"),
            "J-Coin Payの加盟店情報、1.8万件"
        );
    }

    #[test]
    fn clean_link_only_http_and_no_breakout() {
        assert_eq!(clean_link("javascript:alert(1)"), None);
        assert_eq!(clean_link("data:text/html,x"), None);
        assert_eq!(
            clean_link("http://127.0.0.1:8/a>b<c"),
            Some("http://127.0.0.1:8/a%3Eb%3Cc".to_string())
        );
        assert_eq!(
            clean_link("http://127.0.0.1:8/a\"onmouseover=\"x"),
            Some("http://127.0.0.1:8/a%22onmouseover=%22x".to_string())
        );
        assert_eq!(
            clean_link("https://example.jp/記事?q=決済"),
            Some("https://example.jp/%E8%A8%98%E4%BA%8B?q=%E6%B1%BA%E6%B8%88".to_string())
        );
    }
}
