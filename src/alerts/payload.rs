//! The alert as sinks receive it: a JSON document with the article itself (not a count),
//! a Slack-compatible `text` line and the idempotency key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Analysis, Article, ArticleId, Family, FeedId, TagId};

/// Longest summary carried in an alert, in characters (the article is in the store).
pub const SUMMARY_CHARS: usize = 400;
/// Longest title carried in an alert, in characters.
pub const TITLE_CHARS: usize = 300;

/// `hash(subscription, sink, article)`: the same alert always gets the same key, so a
/// receiver can drop repeats of an at-least-once delivery.
pub fn idempotency_key(subscription: &str, sink: &str, article: ArticleId) -> String {
    let mut h = Sha256::new();
    h.update(b"kessai-alert-v1\0");
    h.update(subscription.as_bytes());
    h.update(b"\0");
    h.update(sink.as_bytes());
    h.update(b"\0");
    h.update(article.to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A tag of the matched article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTag {
    /// Taxonomy id.
    pub id: TagId,
    /// Its family.
    pub family: Family,
}

/// The article part of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertArticle {
    /// Store id.
    pub id: ArticleId,
    /// Source feed.
    pub feed: FeedId,
    /// Canonical URL as the feed gave it (JSON-encoded, never interpreted here).
    pub url: String,
    /// Headline (cut to [`TITLE_CHARS`]).
    pub title: String,
    /// Summary (cut to [`SUMMARY_CHARS`]).
    pub summary: String,
    /// Publication time.
    pub published: DateTime<Utc>,
    /// Tags the tagger gave it.
    pub tags: Vec<AlertTag>,
}

/// One alert: a subscription matched a new article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPayload {
    /// Same for every delivery of this (subscription, sink, article).
    pub idempotency_key: String,
    /// Subscription name.
    pub subscription: String,
    /// Its query.
    pub query: String,
    /// When the match was recorded (the article's insertion).
    pub matched_at: DateTime<Utc>,
    /// One line for chat tools (Slack's `text`; `&`, `<`, `>` escaped, controls removed).
    pub text: String,
    /// The article.
    pub article: AlertArticle,
}

impl AlertPayload {
    /// Builds the alert for one sink.
    pub fn new(
        subscription: &str,
        query: &str,
        sink: &str,
        article: &Article,
        analysis: &Analysis,
        matched_at: DateTime<Utc>,
    ) -> AlertPayload {
        let title = cut_chars(&article.draft.title, TITLE_CHARS);
        let summary_src = if article.draft.summary.trim().is_empty() {
            &article.draft.body
        } else {
            &article.draft.summary
        };
        let text = slack_text(subscription, &title, &article.draft.url);
        AlertPayload {
            idempotency_key: idempotency_key(subscription, sink, article.id),
            subscription: subscription.to_string(),
            query: query.to_string(),
            matched_at,
            text,
            article: AlertArticle {
                id: article.id,
                feed: article.draft.feed.clone(),
                url: article.draft.url.clone(),
                title,
                summary: cut_chars(summary_src.trim(), SUMMARY_CHARS),
                published: article.draft.published,
                tags: analysis
                    .tags
                    .iter()
                    .map(|t| AlertTag {
                        id: t.tag.clone(),
                        family: t.family,
                    })
                    .collect(),
            },
        }
    }

    /// The JSON document (one line, no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Cuts to at most `max` characters, on a character boundary, marking the cut with `…`.
pub fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((idx, _)) => {
            let mut s = text[..idx].to_string();
            s.pop();
            s.push('…');
            s
        }
    }
}

/// Whether a character must never reach a terminal or a chat line raw: C0/C1 controls,
/// DEL, bidi controls, and line/paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || crate::sanitize::is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// One line of terminal-safe text (escape sequences removed whole, white space folded).
pub fn plain_line(text: &str) -> String {
    crate::sanitize::terminal_line(text)
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; everything else is literal.
fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `[kessai] NAME: <URL|TITLE>`; the link only when the URL is http(s), with the
/// characters that would end Slack's link syntax percent-encoded.
pub fn slack_text(subscription: &str, title: &str, url: &str) -> String {
    let title = slack_escape(&plain_line(title));
    let name = slack_escape(&plain_line(subscription));
    match url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    {
        Some(u) => {
            let link = u.as_str().replace('|', "%7C").replace('>', "%3E");
            format!("[kessai] {name}: <{link}|{title}>")
        }
        None => format!("[kessai] {name}: {title}"),
    }
}

/// A JSON line that is also safe on a terminal: serde_json already escapes C0 controls;
/// C1 controls, DEL, bidi controls and line separators are escaped as `\uXXXX` too. Those
/// characters only occur inside JSON strings, so the result is the same JSON value.
pub fn terminal_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_unsafe_char(c) {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::testutil::article;
    use crate::model::TagHit;

    #[test]
    fn key_depends_on_all_three_parts() {
        let k = idempotency_key("a", "stdout", ArticleId(1));
        assert_eq!(k.len(), 32);
        assert_eq!(k, idempotency_key("a", "stdout", ArticleId(1)));
        assert_ne!(k, idempotency_key("b", "stdout", ArticleId(1)));
        assert_ne!(k, idempotency_key("a", "notice", ArticleId(1)));
        assert_ne!(k, idempotency_key("a", "stdout", ArticleId(2)));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(
            idempotency_key("ab", "c", ArticleId(1)),
            idempotency_key("a", "bc", ArticleId(1))
        );
    }

    #[test]
    fn payload_carries_the_article() {
        let a = article(7, "Jコインペイで情報流出", "https://paysec.example/a?x=1");
        let an = Analysis {
            tags: vec![TagHit {
                tag: TagId::new("j-coin-pay"),
                family: Family::Service,
                count: 1,
                spans: vec![],
            }],
            ..Default::default()
        };
        let p = AlertPayload::new("jcoin", "j-coin-pay", "stdout", &a, &an, a.draft.fetched);
        assert_eq!(p.article.id, ArticleId(7));
        assert_eq!(p.article.tags[0].id.as_str(), "j-coin-pay");
        assert_eq!(
            p.text,
            "[kessai] jcoin: <https://paysec.example/a?x=1|Jコインペイで情報流出>"
        );
        let back: AlertPayload = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn slack_text_escapes_and_refuses_odd_links() {
        assert_eq!(
            slack_text(
                "s",
                "<!channel> & \u{1b}[2Jhi\u{202e}\nthere",
                "javascript:alert(1)"
            ),
            "[kessai] s: &lt;!channel&gt; &amp; hi there"
        );
        assert_eq!(
            slack_text("s", "t", "https://x.example/a|b>c"),
            "[kessai] s: <https://x.example/a%7Cb%3Ec|t>"
        );
    }

    #[test]
    fn cut_chars_is_boundary_safe() {
        assert_eq!(cut_chars("決済セキュリティ", 3), "決済…");
        assert_eq!(cut_chars("決済", 2), "決済");
        assert_eq!(cut_chars("", 2), "");
    }

    #[test]
    fn terminal_safe_json_is_same_value_without_controls() {
        let v = serde_json::json!({"t": "a\u{1b}]0;pwned\u{7}b\u{9b}31m\u{202e}\u{7f}\u{2028}😀"});
        let raw = serde_json::to_string(&v).unwrap();
        let safe = terminal_safe_json(&raw);
        assert!(!safe.chars().any(is_unsafe_char), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
