//! Key layout of the store's own data: one sled tree, one prefix byte per kind of record.
//!
//! Every index shares the suffix `time(8) ‖ id(8)` (big-endian), so that
//! * a reverse range scan gives "newest first" on any index,
//! * `since`/`until` are range bounds on any index, and
//! * a candidate found in one index is checked against another with one point lookup
//!   (`contains_key(other_prefix ‖ time ‖ id)`), without decoding the article.
//!
//! Variable-length parts (feed and tag ids) are length-prefixed so that one feed's prefix is
//! never a prefix of another's. Dedup keys hash the url / guid / content hash (SHA-256,
//! first 16 bytes) so that hostile, very long values never become huge keys.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{ArticleId, Family, FeedId, TagId};

/// `m` ‖ name → meta values (schema version, next id, global counters, rebuild marker).
pub const META: u8 = b'm';
/// `a` ‖ id → the article's draft (JSON).
pub const ARTICLE: u8 = b'a';
/// `n` ‖ id → the article's analysis (JSON).
pub const ANALYSIS: u8 = b'n';
/// `l` ‖ id → flags, one byte.
pub const FLAGS: u8 = b'l';
/// `d` ‖ time ‖ id → empty: every article by publication time.
pub const BY_DATE: u8 = b'd';
/// `e` ‖ feed ‖ time ‖ id → empty.
pub const BY_FEED: u8 = b'e';
/// `t` ‖ tag ‖ time ‖ id → empty.
pub const BY_TAG: u8 = b't';
/// `y` ‖ family ‖ time ‖ id → empty (articles with at least one tag of the family).
pub const BY_FAMILY: u8 = b'y';
/// `r` ‖ time ‖ id → empty: unread articles.
pub const UNREAD: u8 = b'r';
/// `s` ‖ time ‖ id → empty: starred articles.
pub const STARRED: u8 = b's';
/// `U` ‖ h(url) → id.
pub const DEDUP_URL: u8 = b'U';
/// `G` ‖ h(feed ‖ 0 ‖ guid) → id.
pub const DEDUP_GUID: u8 = b'G';
/// `H` ‖ h(content hash) → id.
pub const DEDUP_HASH: u8 = b'H';
/// `f` ‖ feed → feed state (JSON).
pub const FEED_STATE: u8 = b'f';
/// `C` ‖ feed → total(8) ‖ unread(8).
pub const COUNT_FEED: u8 = b'C';
/// `T` ‖ tag → family(1) ‖ total(8) ‖ unread(8).
pub const COUNT_TAG: u8 = b'T';
/// `Y` ‖ family → total(8) ‖ unread(8).
pub const COUNT_FAMILY: u8 = b'Y';

/// Prefixes that hold data derived from articles (rebuild deletes and re-creates them).
pub const DERIVED: [u8; 12] = [
    BY_DATE,
    BY_FEED,
    BY_TAG,
    BY_FAMILY,
    UNREAD,
    STARRED,
    DEDUP_URL,
    DEDUP_GUID,
    DEDUP_HASH,
    COUNT_FEED,
    COUNT_TAG,
    COUNT_FAMILY,
];

/// Meta key names.
pub mod meta {
    /// Schema version, u32 big-endian.
    pub const SCHEMA: &[u8] = b"schema";
    /// The next article id, u64 big-endian.
    pub const NEXT_ID: &[u8] = b"next_id";
    /// total(8) ‖ unread(8) ‖ starred(8).
    pub const COUNTS: &[u8] = b"counts";
    /// Present while a rebuild runs; left behind by an interrupted one.
    pub const REBUILDING: &[u8] = b"rebuilding";
}

/// Length of the `time ‖ id` suffix every index key ends with.
pub const SUFFIX_LEN: usize = 16;

/// The key of meta value `name`.
pub fn meta(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(META);
    k.extend_from_slice(name);
    k
}

/// `prefix ‖ id`.
pub fn by_id(prefix: u8, id: ArticleId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Reads the id back from a `prefix ‖ id` key.
pub fn id_of(key: &[u8]) -> Option<ArticleId> {
    if key.len() != 9 {
        return None;
    }
    ArticleId::from_be_slice(&key[1..])
}

/// A timestamp as 8 bytes that sort like the time (milliseconds, sign bit flipped).
pub fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    time_code(t).to_be_bytes()
}

/// The sortable u64 code of a timestamp.
pub fn time_code(t: DateTime<Utc>) -> u64 {
    (t.timestamp_millis() as u64) ^ (1 << 63)
}

/// The timestamp a code stands for (millisecond precision).
pub fn time_from_code(code: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((code ^ (1 << 63)) as i64)
}

/// A position in any index: the shared `time ‖ id` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// `time_code` of the article's publication time.
    pub time: u64,
    /// The article id.
    pub id: u64,
}

impl Pos {
    /// The position of an article.
    pub fn of(published: DateTime<Utc>, id: ArticleId) -> Pos {
        Pos {
            time: time_code(published),
            id: id.0,
        }
    }
    /// The 16 suffix bytes.
    pub fn bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.time.to_be_bytes());
        b[8..].copy_from_slice(&self.id.to_be_bytes());
        b
    }
    /// Reads the position from the last 16 bytes of an index key.
    pub fn from_key_suffix(key: &[u8]) -> Option<Pos> {
        let n = key.len();
        if n < SUFFIX_LEN {
            return None;
        }
        let time = u64::from_be_bytes(key[n - 16..n - 8].try_into().ok()?);
        let id = u64::from_be_bytes(key[n - 8..].try_into().ok()?);
        Some(Pos { time, id })
    }
}

/// Appends a length-prefixed string (u16 length; longer strings are cut, see `MAX_NAME`).
fn push_str(k: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(MAX_NAME)];
    k.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    k.extend_from_slice(bytes);
}

/// Longest feed or tag id kept in a key; the writer rejects longer ones before this cut applies.
pub const MAX_NAME: usize = 1024;

/// The code of a family in keys (stable; never reorder).
pub fn family_code(f: Family) -> u8 {
    match f {
        Family::Service => 1,
        Family::Exchange => 2,
        Family::Threat => 3,
        Family::Control => 4,
        Family::Actor => 5,
        Family::Incident => 6,
    }
}

/// The family a key code stands for.
pub fn family_from_code(c: u8) -> Option<Family> {
    Some(match c {
        1 => Family::Service,
        2 => Family::Exchange,
        3 => Family::Threat,
        4 => Family::Control,
        5 => Family::Actor,
        6 => Family::Incident,
        _ => return None,
    })
}

/// The prefix of one index's entries (everything before `time ‖ id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPrefix(pub Vec<u8>);

impl IndexPrefix {
    /// All articles.
    pub fn date() -> Self {
        Self(vec![BY_DATE])
    }
    /// One feed's articles.
    pub fn feed(feed: &FeedId) -> Self {
        let mut k = vec![BY_FEED];
        push_str(&mut k, feed.as_str());
        Self(k)
    }
    /// One tag's articles.
    pub fn tag(tag: &TagId) -> Self {
        let mut k = vec![BY_TAG];
        push_str(&mut k, tag.as_str());
        Self(k)
    }
    /// Articles with a tag of one family.
    pub fn family(f: Family) -> Self {
        Self(vec![BY_FAMILY, family_code(f)])
    }
    /// Unread articles.
    pub fn unread() -> Self {
        Self(vec![UNREAD])
    }
    /// Starred articles.
    pub fn starred() -> Self {
        Self(vec![STARRED])
    }
    /// The full key of one entry.
    pub fn key(&self, pos: Pos) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.0.len() + SUFFIX_LEN);
        k.extend_from_slice(&self.0);
        k.extend_from_slice(&pos.bytes());
        k
    }
    /// The first key at or after time code `time` (id 0).
    pub fn at_time(&self, time: u64) -> Vec<u8> {
        self.key(Pos { time, id: 0 })
    }
    /// A key greater than every entry of this index.
    pub fn end(&self) -> Vec<u8> {
        let mut k = self.0.clone();
        k.extend_from_slice(&[0xFF; SUFFIX_LEN + 1]);
        k
    }
}

/// First 16 bytes of SHA-256 over the parts, each followed by a 0 byte.
fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0u8]);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn dedup(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(prefix);
    k.extend_from_slice(&digest(parts));
    k
}

/// The dedup keys of an article: canonical url, feed+guid, content hash (empty values skipped).
pub fn dedup_keys(
    feed: &FeedId,
    url: &str,
    guid: Option<&str>,
    content_hash: &str,
) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(3);
    if !url.trim().is_empty() {
        keys.push(dedup(DEDUP_URL, &[url.as_bytes()]));
    }
    if let Some(g) = guid.filter(|g| !g.trim().is_empty()) {
        keys.push(dedup(DEDUP_GUID, &[feed.as_str().as_bytes(), g.as_bytes()]));
    }
    if !content_hash.trim().is_empty() {
        keys.push(dedup(DEDUP_HASH, &[content_hash.as_bytes()]));
    }
    keys
}

/// `f` ‖ feed: the feed's state.
pub fn feed_state(feed: &FeedId) -> Vec<u8> {
    let mut k = vec![FEED_STATE];
    k.extend_from_slice(feed.as_str().as_bytes());
    k
}

/// `C` ‖ feed: the feed's counters.
pub fn count_feed(feed: &FeedId) -> Vec<u8> {
    let mut k = vec![COUNT_FEED];
    k.extend_from_slice(feed.as_str().as_bytes());
    k
}

/// `T` ‖ tag: the tag's counters.
pub fn count_tag(tag: &TagId) -> Vec<u8> {
    let mut k = vec![COUNT_TAG];
    k.extend_from_slice(tag.as_str().as_bytes());
    k
}

/// `Y` ‖ family: the family's counters.
pub fn count_family(f: Family) -> [u8; 2] {
    [COUNT_FAMILY, family_code(f)]
}

/// The smallest key strictly greater than every key starting with `prefix`, if any.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads the feed id from a `BY_FEED` index key.
pub fn feed_of_index_key(key: &[u8]) -> Option<FeedId> {
    name_after_prefix(key).map(FeedId::new)
}

/// Reads the tag id from a `BY_TAG` index key.
pub fn tag_of_index_key(key: &[u8]) -> Option<TagId> {
    name_after_prefix(key).map(TagId::new)
}

fn name_after_prefix(key: &[u8]) -> Option<String> {
    let len = u16::from_be_bytes(key.get(1..3)?.try_into().ok()?) as usize;
    let name = key.get(3..3 + len)?;
    if key.len() != 3 + len + SUFFIX_LEN {
        return None;
    }
    String::from_utf8(name.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_codes_sort_like_times_including_before_1970() {
        let times = [
            Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2019, 7, 4, 9, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2019, 7, 4, 9, 0, 1).unwrap(),
        ];
        for w in times.windows(2) {
            assert!(time_bytes(w[0]) < time_bytes(w[1]), "{:?} {:?}", w[0], w[1]);
            assert_eq!(time_from_code(time_code(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn feed_prefixes_do_not_nest() {
        // "ab" must not be a prefix of "abc"'s entries: the length prefix keeps them apart.
        let a = IndexPrefix::feed(&FeedId::new("ab"));
        let b = IndexPrefix::feed(&FeedId::new("abc"));
        let kb = b.key(Pos { time: 1, id: 1 });
        assert!(!kb.starts_with(&a.0));
        assert_eq!(feed_of_index_key(&kb), Some(FeedId::new("abc")));
    }

    #[test]
    fn pos_round_trips_through_any_index_key() {
        let p = Pos {
            time: 0x0102,
            id: 77,
        };
        for prefix in [
            IndexPrefix::date(),
            IndexPrefix::tag(&TagId::new("7pay")),
            IndexPrefix::family(Family::Threat),
        ] {
            let k = prefix.key(p);
            assert_eq!(Pos::from_key_suffix(&k), Some(p));
            assert!(k < prefix.end());
            assert!(k >= prefix.at_time(0x0102));
        }
    }

    #[test]
    fn dedup_keys_skip_empty_values_and_separate_feeds() {
        let f1 = FeedId::new("a");
        let f2 = FeedId::new("b");
        assert!(dedup_keys(&f1, "", None, " ").is_empty());
        let k1 = dedup_keys(&f1, "", Some("g"), "");
        let k2 = dedup_keys(&f2, "", Some("g"), "");
        assert_eq!(k1.len(), 1);
        assert_ne!(k1, k2);
        let all = dedup_keys(&f1, "http://x/", Some("g"), "h");
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|k| k.len() == 17));
    }

    #[test]
    fn family_codes_round_trip() {
        for f in Family::ALL {
            assert_eq!(family_from_code(family_code(f)), Some(f));
        }
        assert_eq!(family_from_code(0), None);
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn long_names_are_cut_not_panicking() {
        let long = "x".repeat(MAX_NAME * 3);
        let k = IndexPrefix::feed(&FeedId::new(long)).key(Pos { time: 0, id: 0 });
        assert_eq!(k.len(), 1 + 2 + MAX_NAME + SUFFIX_LEN);
    }
}
