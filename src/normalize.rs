//! Normalising what the parser and extractor produced into an `ArticleDraft`: NFKC text
//! with tidy whitespace, canonical URLs and a content hash for de-duplication.
//!
//! NFKC folds full-width Latin and digits (`Ｊ－Ｃｏｉｎ　Ｐａｙ` → `J-Coin Pay`) and
//! half-width katakana into their usual forms, so that the same words are the same bytes
//! in titles, summaries and bodies. C0/C1 control characters (escape sequences among them)
//! are removed here, before anything is stored.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use url::Url;

use crate::config::Limits;
use crate::model::{ArticleDraft, FeedId};
use crate::parse::{Cuts, ParsedItem};

/// Query parameters that only track where a click came from.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "yclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "twclid",
    "ttclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "spm",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "rb_clickid",
    "s_cid",
    "ncid",
    "cmpid",
    "ref_src",
];

/// Why an item cannot become an article.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// No http(s) link to identify it by.
    #[error("item has no http(s) link")]
    NoLink,
    /// The link is not a usable URL.
    #[error("item link {url:?} is not an http(s) URL")]
    BadLink {
        /// The link.
        url: String,
    },
    /// Nothing to show: no title, summary or body.
    #[error("item has no title, summary or text")]
    Empty,
}

/// NFKC, terminal escape sequences (with their parameters), control characters and bidi
/// controls removed, whitespace collapsed to single spaces, one line.
pub fn normalize_line(s: &str) -> String {
    // Most Japanese text is already NFKC (kana, kanji, ASCII): the quick check skips the
    // decomposition and recomposition for it.
    let nfkc: std::borrow::Cow<'_, str> = if unicode_normalization::is_nfkc_quick(s.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfkc().collect())
    };
    // After NFKC, so that text normalised twice gives the same (a full-width `［` after
    // ESC becomes `[`).
    let clean = strip_escape_sequences(&nfkc);
    let mut out = String::with_capacity(clean.len());
    let mut space = false;
    for c in clean.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if c.is_control() || is_invisible(c) || crate::sanitize::is_bidi_control(c) {
            // Dropped: C0/C1 controls (ESC starts terminal sequences), zero-width marks,
            // bidi overrides and isolates (they reorder what a reader sees, in a terminal
            // and in the HTML digest alike).
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Longest OSC / DCS / APC / PM / SOS string removed whole; an introducer without a
/// terminator within this many characters is dropped alone, so a stray `ESC ]` cannot
/// swallow the rest of an article.
const MAX_ESCAPE_STRING: usize = 512;

/// `s` without terminal escape sequences: CSI (`ESC [` / U+009B) with its parameters and
/// final byte, OSC / DCS / SOS / PM / APC strings (7-bit and C1 introducers) up to BEL or ST,
/// and two-character `ESC x` forms. Only the sequences go: the text around them stays, and
/// what is left of a malformed one is removed with the other control characters later.
fn strip_escape_sequences(s: &str) -> std::borrow::Cow<'_, str> {
    const ESC: char = '\u{1b}';
    if !s
        .chars()
        .any(|c| c == ESC || ('\u{80}'..='\u{9f}').contains(&c))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let csi = if c == ESC && next == Some('[') {
            Some(i + 2)
        } else if c == '\u{9b}' {
            Some(i + 1)
        } else {
            None
        };
        let string = match (c, next) {
            (ESC, Some(']' | 'P' | 'X' | '^' | '_')) => Some(i + 2),
            ('\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}', _) => Some(i + 1),
            _ => None,
        };
        if let Some(mut j) = csi {
            // Parameters and intermediates, then one final byte.
            while j < chars.len() && ('\u{20}'..='\u{3f}').contains(&chars[j]) {
                j += 1;
            }
            if j < chars.len() && ('\u{40}'..='\u{7e}').contains(&chars[j]) {
                j += 1;
            }
            i = j;
        } else if let Some(start) = string {
            let end = chars[start..]
                .iter()
                .take(MAX_ESCAPE_STRING)
                .position(|&c| matches!(c, '\u{7}' | '\u{9c}' | ESC));
            match end {
                Some(n) => {
                    let at = start + n;
                    // ST is `ESC \`; a bare ESC ends the string too (the next sequence).
                    i = if chars[at] == ESC && chars.get(at + 1) == Some(&'\\') {
                        at + 2
                    } else if chars[at] == ESC {
                        at
                    } else {
                        at + 1
                    };
                }
                None => i = start,
            }
        } else if c == ESC && next.is_some_and(|n| ('\u{20}'..='\u{7e}').contains(&n)) {
            // ESC c, ESC 7, ESC ( B ...: the designator's extra character goes too.
            let skip = if next.is_some_and(|n| "()*+-./#% ".contains(n)) {
                3
            } else {
                2
            };
            i = (i + skip).min(chars.len());
        } else {
            out.push(c);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Paragraphs (separated by blank lines in the input) each normalised with
/// [`normalize_line`], empty ones dropped, joined by blank lines.
pub fn normalize_paragraphs(s: &str) -> String {
    // Single newlines inside a paragraph become spaces; blank lines separate paragraphs.
    let unified = s.replace("\r\n", "\n").replace('\r', "\n");
    unified
        .split("\n\n")
        .map(normalize_line)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Zero-width and other invisible format characters that only get in the way of matching.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// At most `max` characters.
pub fn truncate(s: String, max: usize) -> String {
    truncate_cut(s, max).0
}

/// At most `max` characters, and whether anything was cut.
pub fn truncate_cut(s: String, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (s[..i].trim_end().to_string(), true),
        None => (s, false),
    }
}

/// The canonical form of an article URL: http(s) only, host lower-cased, default port and
/// fragment dropped, tracking parameters (utm_*, fbclid, gclid, ...) removed, the remaining
/// query sorted.
pub fn canonical_url(raw: &str) -> Result<String, NormalizeError> {
    let bad = || NormalizeError::BadLink {
        url: raw.to_string(),
    };
    let mut u = Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    u.set_fragment(None);
    // The url crate already lower-cases hosts and drops default ports for http(s).
    let mut pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if u.username() != "" || u.password().is_some() {
        // Credentials in a feed link are never part of an article's identity.
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    Ok(u.to_string())
}

fn is_tracking_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str())
}

/// SHA-256 (hex) of the normalised title and text: the same story under two URLs hashes
/// the same.
pub fn content_hash(title: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(title.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    hex::encode(h.finalize())
}

/// Builds the draft for one item. `body` is the extracted article text (empty when full
/// text was off or failed).
pub fn make_draft(
    feed: &FeedId,
    item: &ParsedItem,
    body: &str,
    fetched: DateTime<Utc>,
    limits: &Limits,
) -> Result<ArticleDraft, NormalizeError> {
    make_draft_cut(feed, item, body, fetched, limits).map(|(d, _)| d)
}

/// [`make_draft`], and which texts were cut to their length limit, here or earlier by the
/// parser (`item.cut`).
pub fn make_draft_cut(
    feed: &FeedId,
    item: &ParsedItem,
    body: &str,
    fetched: DateTime<Utc>,
    limits: &Limits,
) -> Result<(ArticleDraft, Cuts), NormalizeError> {
    let link = item.link.as_deref().ok_or(NormalizeError::NoLink)?;
    let url = canonical_url(link)?;
    let (title, title_cut) = truncate_cut(normalize_line(&item.title), limits.max_title_chars);
    let (summary, summary_cut) =
        truncate_cut(normalize_line(&item.summary), limits.max_summary_chars);
    let (body, body_cut) = truncate_cut(normalize_paragraphs(body), limits.max_body_chars);
    let cut = item.cut.or(Cuts {
        title: title_cut,
        summary: summary_cut,
        body: body_cut,
    });
    if title.is_empty() && summary.is_empty() && body.is_empty() {
        return Err(NormalizeError::Empty);
    }
    // A feed's clock can be wrong or hostile; nothing is published in the future.
    let published = item
        .published
        .map(|p| p.min(fetched + Duration::hours(1)))
        .unwrap_or(fetched);
    let guid = item
        .guid
        .as_deref()
        .map(normalize_line)
        .map(|g| truncate(g, 1000))
        .filter(|g| !g.is_empty());
    let hashed_text = if body.is_empty() { &summary } else { &body };
    let content_hash = content_hash(&title, hashed_text);
    let draft = ArticleDraft {
        feed: feed.clone(),
        url,
        guid,
        title,
        summary,
        body,
        published,
        fetched,
        content_hash,
    };
    Ok((draft, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// normalize_line of the text after a full NFKC pass (NFKC is idempotent).
    fn normalize_line_full(nfkc: &str) -> String {
        normalize_line(nfkc)
    }

    #[test]
    fn nfkc_and_whitespace() {
        assert_eq!(normalize_line("Ｊ－Ｃｏｉｎ　Ｐａｙ"), "J-Coin Pay");
        assert_eq!(
            normalize_line("ｾﾌﾞﾝﾍﾟｲ　で　不正利用"),
            "セブンペイ で 不正利用"
        );
        assert_eq!(normalize_line("  ７ｐａｙ\n\t問題  "), "7pay 問題");
        assert_eq!(normalize_line("①②"), "12");
        // Whole escape sequences go, parameters and payloads included.
        assert_eq!(
            normalize_line("a\u{1b}[31mred\u{1b}[0m\u{7}\u{9b}2J\u{200b}b"),
            "aredb"
        );
        assert_eq!(
            normalize_line(
                "\u{1b}]0;pwned\u{7}題\u{1b}]52;c;cHdu\u{1b}\\名\u{1b}]8;;http://x/\u{1b}\\リンク\u{1b}]8;;\u{1b}\\\u{9d}0;t\u{9c}\u{1b}P1$qm\u{1b}\\\u{1b}(B\u{1b}c終"
            ),
            "題名リンク終"
        );
        // A stray introducer does not swallow the text after it.
        assert_eq!(
            normalize_line("前\u{1b}]0;途中で終わる見出しの続き"),
            "前0;途中で終わる見出しの続き"
        );
        assert_eq!(normalize_line("末尾\u{1b}"), "末尾");
        assert_eq!(normalize_line("\u{1b}[\u{1b}[2Jx"), "x");
        assert_eq!(
            normalize_line("\u{202e}gnp.exe\u{202c} \u{2066}x\u{2069}\u{200f}"),
            "gnp.exe x"
        );
    }

    #[test]
    fn paragraphs_keep_blank_line_breaks() {
        let body = "第一段落です。\n\n  第二段落、\n改行あり。\r\n\r\n\n\n\u{3000}\n\n第三段落。";
        assert_eq!(
            normalize_paragraphs(body),
            "第一段落です。\n\n第二段落、 改行あり。\n\n第三段落。"
        );
    }

    #[test]
    fn canonical_urls() {
        let c = |s: &str| canonical_url(s).unwrap();
        assert_eq!(
            c("HTTP://Example.COM:80/News/A.html?utm_source=x&b=2&a=1&fbclid=zz#section"),
            "http://example.com/News/A.html?a=1&b=2"
        );
        assert_eq!(
            c("https://example.com/a?gclid=1&yclid=2&UTM_MEDIUM=3"),
            "https://example.com/a"
        );
        assert_eq!(
            c("https://user:pw@example.com:443/x/"),
            "https://example.com/x/"
        );
        assert_eq!(
            c("https://例え.jp/記事?q=決済"),
            "https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B?q=%E6%B1%BA%E6%B8%88"
        );
        assert_eq!(
            c("http://127.0.0.1:8080/p?id=3"),
            "http://127.0.0.1:8080/p?id=3"
        );
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "not a url",
            "mailto:a@b",
        ] {
            assert!(canonical_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_depends_on_normalised_content_only() {
        let a = content_hash("J-Coin Pay", "本文");
        assert_eq!(a, content_hash("J-Coin Pay", "本文"));
        assert_ne!(a, content_hash("J-Coin Pay", "本文。"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
        assert_eq!(a.len(), 64);
    }

    fn item() -> ParsedItem {
        ParsedItem {
            title: "Ｊ－Ｃｏｉｎ　Ｐａｙ加盟店情報が流出".into(),
            link: Some("http://127.0.0.1:1/a.html?utm_campaign=x#top".into()),
            guid: Some(" id-1 ".into()),
            published: None,
            summary: "みずほ銀行は１３日、発表した。".into(),
            content_html: None,
            cut: Cuts::default(),
        }
    }

    #[test]
    fn drafts() {
        let now = Utc::now();
        let limits = Limits::default();
        let d = make_draft(
            &FeedId::new("f"),
            &item(),
            "本文１。\n\n本文２。",
            now,
            &limits,
        )
        .unwrap();
        assert_eq!(d.url, "http://127.0.0.1:1/a.html");
        assert_eq!(d.title, "J-Coin Pay加盟店情報が流出");
        assert_eq!(d.summary, "みずほ銀行は13日、発表した。");
        assert_eq!(d.body, "本文1。\n\n本文2。");
        assert_eq!(d.guid.as_deref(), Some("id-1"));
        assert_eq!(d.published, now);
        assert_eq!(d.content_hash, content_hash(&d.title, &d.body));

        // Without a body, the summary is hashed; a future date is clamped.
        let mut it = item();
        it.published = Some(now + Duration::days(3650));
        let d = make_draft(&FeedId::new("f"), &it, "", now, &limits).unwrap();
        assert_eq!(d.content_hash, content_hash(&d.title, &d.summary));
        assert!(d.published <= now + Duration::hours(1));

        let mut it = item();
        it.link = None;
        assert_eq!(
            make_draft(&FeedId::new("f"), &it, "", now, &limits),
            Err(NormalizeError::NoLink)
        );
        let mut it = item();
        it.title = "\u{1b}".into();
        it.summary = String::new();
        assert_eq!(
            make_draft(&FeedId::new("f"), &it, " ", now, &limits),
            Err(NormalizeError::Empty)
        );
        let l = Limits {
            max_title_chars: 4,
            ..Limits::default()
        };
        let d = make_draft(&FeedId::new("f"), &item(), "", now, &l).unwrap();
        assert_eq!(d.title, "J-Co");
        // Cuts are reported: made here, or already by the parser.
        let l = Limits {
            max_title_chars: 4,
            max_body_chars: 3,
            ..Limits::default()
        };
        let (d, cut) = make_draft_cut(&FeedId::new("f"), &item(), "本文１。", now, &l).unwrap();
        assert_eq!((d.title.as_str(), d.body.as_str()), ("J-Co", "本文1"));
        assert_eq!(
            cut,
            Cuts {
                title: true,
                summary: false,
                body: true
            }
        );
        let mut it = item();
        it.cut.summary = true;
        let (_, cut) = make_draft_cut(&FeedId::new("f"), &it, "", now, &limits).unwrap();
        assert_eq!(
            cut,
            Cuts {
                title: false,
                summary: true,
                body: false
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn normalisation_never_panics_and_strips_controls(s in "\\PC{0,200}|.{0,200}") {
            let line = normalize_line(&s);
            proptest::prop_assert!(!line.chars().any(|c| c.is_control() || crate::sanitize::is_bidi_control(c)));
            // Text without escape sequences loses nothing but controls.
            if !s.contains('\u{1b}') && !s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
                proptest::prop_assert_eq!(strip_escape_sequences(&s), std::borrow::Cow::Borrowed(s.as_str()));
            }
            let paras = normalize_paragraphs(&s);
            proptest::prop_assert!(!paras.chars().any(|c| c.is_control() && c != '\n'));
            let _ = canonical_url(&s);
            // The quick path gives exactly what a full NFKC pass gives.
            let full: String = s.nfkc().collect();
            proptest::prop_assert_eq!(normalize_line(&s), normalize_line_full(&full));
        }
    }
}
