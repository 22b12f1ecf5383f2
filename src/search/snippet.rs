//! Snippets: a short window of an article around the first place the query matches, with
//! the matched words marked, for result lists.

use unicode_width::UnicodeWidthStr;

use crate::model::{Article, Field};
use crate::sanitize;
use crate::search::matcher::{Compiled, Doc};
use crate::tokenize::Tokenizer;

/// Characters of context kept before the first hit.
const BEFORE: usize = 30;
/// Length of a snippet in characters.
const LENGTH: usize = 120;
/// Paragraphs looked at before giving up on finding a hit (bounds the work per result).
const MAX_PARAGRAPHS: usize = 60;

/// A piece of text, marked when it is a hit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    /// The text (raw article text: sanitise before printing, as [`Snippet::to_terminal`] does).
    pub text: String,
    /// Whether this piece matched the query.
    pub hit: bool,
}

/// Text with the query's hits marked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snippet {
    /// The pieces in order.
    pub parts: Vec<Part>,
}

impl Snippet {
    /// The text without marks.
    pub fn plain(&self) -> String {
        self.parts.iter().map(|p| p.text.as_str()).collect()
    }

    /// The text made safe for a terminal (controls and escapes removed, white space folded
    /// onto one line), hits in bold when `bold` (only when writing to a terminal).
    pub fn to_terminal(&self, bold: bool) -> String {
        let mut out = String::new();
        let mut space = false; // a space is owed before the next visible character
        for p in &self.parts {
            let safe = sanitize::terminal(&p.text);
            let mut open = false;
            for c in safe.chars() {
                if c.is_whitespace() {
                    space = !out.is_empty();
                    continue;
                }
                if space {
                    out.push(' ');
                    space = false;
                }
                if p.hit && bold && !open {
                    out.push_str("\x1b[1m");
                    open = true;
                }
                out.push(c);
            }
            if open {
                out.push_str("\x1b[0m");
            }
        }
        out
    }

    /// Display width in terminal columns of the plain text.
    pub fn width(&self) -> usize {
        self.plain().width()
    }
}

/// Splits `text` into parts at the byte ranges `hits` (sorted, non-overlapping, on char
/// boundaries).
fn mark(text: &str, hits: &[(usize, usize)]) -> Snippet {
    let mut parts = Vec::new();
    let mut at = 0;
    for &(s, e) in hits {
        let (s, e) = (s.clamp(at, text.len()), e.clamp(at, text.len()));
        if s > at {
            parts.push(Part {
                text: text[at..s].to_string(),
                hit: false,
            });
        }
        if e > s {
            parts.push(Part {
                text: text[s..e].to_string(),
                hit: true,
            });
        }
        at = e.max(at);
    }
    if at < text.len() {
        parts.push(Part {
            text: text[at..].to_string(),
            hit: false,
        });
    }
    Snippet { parts }
}

/// The title with the query's hits marked.
pub fn title(compiled: &Compiled, article: &Article, tokenizer: &Tokenizer) -> Snippet {
    let text = &article.draft.title;
    let doc = Doc::from_texts([text, "", ""], tokenizer);
    let hits: Vec<(usize, usize)> = compiled
        .highlights(&doc)
        .into_iter()
        .filter(|s| s.field == Field::Title)
        .map(|s| (s.start, s.end))
        .collect();
    mark(text, &hits)
}

/// About 120 characters of the lead or body around the first hit (or their start
/// when the query has no text, or matched only the title).
pub fn excerpt(compiled: &Compiled, article: &Article, tokenizer: &Tokenizer) -> Snippet {
    let lead = article.draft.summary.as_str();
    let body = article.draft.body.as_str();
    let paragraphs = std::iter::once(lead)
        .chain(body.split('\n'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(MAX_PARAGRAPHS);
    let mut first: Option<&str> = None;
    for para in paragraphs {
        first.get_or_insert(para);
        let doc = Doc::from_texts(["", para, ""], tokenizer);
        let hits: Vec<(usize, usize)> = compiled
            .highlights(&doc)
            .into_iter()
            .filter(|s| s.field == Field::Lead)
            .map(|s| (s.start, s.end))
            .collect();
        if let Some(&(start, _)) = hits.first() {
            return window(para, start, &hits);
        }
    }
    window(first.unwrap_or(""), 0, &[])
}

/// The window of `text` around byte `focus`, with hits inside it marked and ellipses where
/// text was cut.
fn window(text: &str, focus: usize, hits: &[(usize, usize)]) -> Snippet {
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let focus_char = starts.partition_point(|&i| i < focus);
    let from_char = focus_char.saturating_sub(BEFORE);
    let to_char = (from_char + LENGTH).min(starts.len());
    let from = starts.get(from_char).copied().unwrap_or(text.len());
    let to = starts.get(to_char).copied().unwrap_or(text.len());
    let slice = &text[from..to];
    let inside: Vec<(usize, usize)> = hits
        .iter()
        .filter(|&&(s, e)| s >= from && e <= to)
        .map(|&(s, e)| (s - from, e - from))
        .collect();
    let mut snippet = mark(slice, &inside);
    if from > 0 {
        snippet.parts.insert(
            0,
            Part {
                text: "…".into(),
                hit: false,
            },
        );
    }
    if to < text.len() {
        snippet.parts.push(Part {
            text: "…".into(),
            hit: false,
        });
    }
    snippet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_split_text_at_hits() {
        let s = mark("abcdef", &[(1, 2), (4, 6)]);
        assert_eq!(s.plain(), "abcdef");
        assert_eq!(
            s.parts
                .iter()
                .filter(|p| p.hit)
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>(),
            vec!["b", "ef"]
        );
        assert_eq!(s.to_terminal(true), "a\x1b[1mb\x1b[0mcd\x1b[1mef\x1b[0m");
        assert_eq!(s.to_terminal(false), "abcdef");
    }

    #[test]
    fn windows_cut_on_characters_with_ellipses() {
        let text = "あ".repeat(200);
        let focus = "あ".len() * 100;
        let s = window(&text, focus, &[(focus, focus + 3)]);
        let plain = s.plain();
        assert!(plain.starts_with('…') && plain.ends_with('…'));
        assert_eq!(plain.chars().count(), LENGTH + 2);
        assert_eq!(s.parts.iter().filter(|p| p.hit).count(), 1);
        assert_eq!(window("", 0, &[]).plain(), "");
    }

    #[test]
    fn hostile_text_is_neutralised() {
        let s = mark("a\x1b]0;owned\x07b\u{202e}c\nd", &[]);
        assert_eq!(s.to_terminal(true), "abc d");
    }
}
