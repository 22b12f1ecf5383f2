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
use crate::parse::ParsedItem;

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

/// NFKC, control characters removed, whitespace collapsed to single spaces, one line.
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
    let mut out = String::with_capacity(nfkc.len());
    let mut space = false;
    for c in nfkc.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if c.is_control() || is_invisible(c) {
            // Dropped: C0/C1 controls (ESC starts terminal sequences), zero-width marks.
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
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].trim_end().to_string(),
        None => s,
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
    let link = item.link.as_deref().ok_or(NormalizeError::NoLink)?;
    let url = canonical_url(link)?;
    let title = truncate(normalize_line(&item.title), limits.max_title_chars);
    let summary = truncate(normalize_line(&item.summary), limits.max_summary_chars);
    let body = truncate(normalize_paragraphs(body), limits.max_body_chars);
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
    Ok(ArticleDraft {
        feed: feed.clone(),
        url,
        guid,
        title,
        summary,
        body,
        published,
        fetched,
        content_hash,
    })
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
        assert_eq!(
            normalize_line("a\u{1b}[31mred\u{1b}[0m\u{7}\u{9b}2J\u{200b}b"),
            "a[31mred[0m2Jb"
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
    }

    proptest::proptest! {
        #[test]
        fn normalisation_never_panics_and_strips_controls(s in "\\PC{0,200}|.{0,200}") {
            let line = normalize_line(&s);
            proptest::prop_assert!(!line.chars().any(|c| c.is_control()));
            let paras = normalize_paragraphs(&s);
            proptest::prop_assert!(!paras.chars().any(|c| c.is_control() && c != '\n'));
            let _ = canonical_url(&s);
            // The quick path gives exactly what a full NFKC pass gives.
            let full: String = s.nfkc().collect();
            proptest::prop_assert_eq!(normalize_line(&s), normalize_line_full(&full));
        }
    }
}
