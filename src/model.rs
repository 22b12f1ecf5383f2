//! Domain types shared by every pipeline stage: ids, articles, tags, evidence and facts.
//!
//! Nothing here does I/O. Stages exchange these values; the store persists them.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A feed's identity: the `name` of its entry in feeds.toml (stable across runs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeedId(pub String);

impl FeedId {
    /// Wraps a feed name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
    /// The feed name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored article's identity, assigned by the store in insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub u64);

impl ArticleId {
    /// Big-endian bytes, so that sled keys sort in id order.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    /// Reads an id back from a big-endian key.
    pub fn from_be_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        Some(Self(u64::from_be_bytes(arr)))
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A taxonomy entry's stable id, such as `7pay`, `account-takeover`, `2fa`, `fsa`, `7pay-2019`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagId(pub String);

impl TagId {
    /// Wraps a tag id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The family a tag belongs to; `tag:FAMILY` in queries selects all of its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Payment and banking services (J-Coin Pay, 7pay, PayPay, ゆうちょ銀行, SBI証券, ...).
    Service,
    /// Crypto-asset exchanges (Coincheck, Zaif, DMM Bitcoin, ...).
    Exchange,
    /// What went wrong (不正アクセス, なりすまし, 漏えい, ランサムウェア, ...).
    Threat,
    /// Defences (二要素認証, 3-Dセキュア, eKYC, IP制限, ...).
    Control,
    /// Regulators and operators (金融庁, 警察庁, みずほ, セブン&アイ, ...).
    Actor,
    /// A specific real incident (a story several outlets cover), such as `7pay-2019`.
    Incident,
}

impl Family {
    /// Every family, in display order.
    pub const ALL: [Family; 6] = [
        Family::Incident,
        Family::Service,
        Family::Exchange,
        Family::Threat,
        Family::Control,
        Family::Actor,
    ];
    /// The lowercase name used in ids, queries and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Service => "service",
            Family::Exchange => "exchange",
            Family::Threat => "threat",
            Family::Control => "control",
            Family::Actor => "actor",
            Family::Incident => "incident",
        }
    }
    /// Parses a family name (`service`, `threat`, ...).
    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Which part of an article a piece of text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The headline.
    Title,
    /// The feed's summary, or the first paragraph when the feed had none (the lead).
    Lead,
    /// The extracted article text.
    Body,
}

/// A matched span: byte offsets into one field's text, always on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// The field the offsets refer to.
    pub field: Field,
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

/// One tag given to an article, with the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagHit {
    /// The taxonomy id.
    pub tag: TagId,
    /// The tag's family.
    pub family: Family,
    /// How many times it matched.
    pub count: u32,
    /// Where it matched, for highlighting.
    pub spans: Vec<Span>,
}

/// A number of people, accounts, records or cases stated in the text (約1.8万件 → 18000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountFact {
    /// The value, normalised to an integer.
    pub value: u64,
    /// The counter word as written (件, 人, 口座, 社, ...).
    pub unit: String,
    /// `約`, `超`, `以上` and the like, when the text qualifies the number.
    pub qualifier: Option<String>,
    /// The text it was read from.
    pub text: String,
}

/// An amount of money in yen stated in the text (約482億円 → 48_200_000_000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountFact {
    /// Yen.
    pub yen: u64,
    /// `約`, `超`, `以上` and the like.
    pub qualifier: Option<String>,
    /// The text it was read from.
    pub text: String,
}

/// What a stated date is the date of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateRole {
    /// When the incident happened.
    Occurred,
    /// When it was found.
    Discovered,
    /// When it was announced.
    Announced,
    /// A date whose role the text does not make clear.
    Mentioned,
}

impl DateRole {
    /// Its English name, as the JSON uses it (`occurred`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DateRole::Occurred => "occurred",
            DateRole::Discovered => "discovered",
            DateRole::Announced => "announced",
            DateRole::Mentioned => "mentioned",
        }
    }
}

/// A count or a yen amount with thousands separators, as every report shows numbers:
/// `18501` → `18,501`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A date stated in the text, resolved to a calendar date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateFact {
    /// The resolved date (years missing from the text come from the article's date).
    pub date: NaiveDate,
    /// What it is the date of.
    pub role: DateRole,
    /// The text it was read from.
    pub text: String,
}

/// The facts an analyst would put in an incident sheet, where the text states them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Affected counts.
    pub counts: Vec<CountFact>,
    /// Money.
    pub amounts: Vec<AmountFact>,
    /// Dates of the incident, its discovery and announcement.
    pub dates: Vec<DateFact>,
    /// Named causes (人為ミス, 設定ミス, ...), as written.
    pub causes: Vec<String>,
}

/// The tagger's reading of one article.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// Tags, ordered by family then id.
    pub tags: Vec<TagHit>,
    /// Facts stated in the text.
    pub facts: Facts,
}

impl Analysis {
    /// Whether the article carries this tag.
    pub fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.tag.as_str() == tag)
    }
}

/// An article as the ingest stages produce it, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleDraft {
    /// The feed it came from.
    pub feed: FeedId,
    /// Canonical URL (tracking parameters and fragment dropped).
    pub url: String,
    /// The feed's GUID / Atom id, when it had one.
    pub guid: Option<String>,
    /// Headline, NFKC-normalised plain text.
    pub title: String,
    /// The feed's summary as plain text (may be empty).
    pub summary: String,
    /// Extracted article text, paragraphs separated by blank lines (may be empty when
    /// full text is off or failed; `summary` then stands in).
    pub body: String,
    /// Publication time from the feed (or the fetch time when the feed gave none).
    pub published: DateTime<Utc>,
    /// When kessai fetched it.
    pub fetched: DateTime<Utc>,
    /// Hash of the normalised title and text, for de-duplication across URLs.
    pub content_hash: String,
}

/// A stored article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// The store's id.
    pub id: ArticleId,
    /// Everything the pipeline produced.
    #[serde(flatten)]
    pub draft: ArticleDraft,
}

/// Per-article reading state, kept apart from the article so that marking read rewrites
/// a few bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// Opened by the analyst.
    pub read: bool,
    /// Kept for later.
    pub starred: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_group_by_three() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(18501), "18,501");
        assert_eq!(group_digits(4_194_304), "4,194,304");
        assert_eq!(group_digits(48_200_000_000), "48,200,000,000");
        assert_eq!(group_digits(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn date_roles_are_named_as_in_json() {
        for role in [
            DateRole::Occurred,
            DateRole::Discovered,
            DateRole::Announced,
            DateRole::Mentioned,
        ] {
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.name()));
        }
    }
}
