//! `check`: verifies the store's invariants in a streaming pass (memory bounded by the
//! number of feeds and tags, not articles). `rebuild`: re-derives analyses (optionally),
//! indexes, dedup keys, counters and indexers' state from the stored articles, in bounded
//! batches, resumable after a crash (a marker key says a rebuild is pending).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::batch::{Batch, IndexCtx, IndexReason};
use super::codec::{self, Pair, Totals};
use super::keys;
use super::write::{distinct_tags, index_keys, put_article};
use super::{Result, Store, StoreError, read};
use crate::model::{Analysis, Article, ArticleDraft, ArticleId, Family, FeedId, Flags, TagId};

/// At most this many violations are listed; the rest are only counted.
const MAX_LISTED: usize = 1000;

/// Articles per rebuild batch.
const REBUILD_BATCH: usize = 256;

/// Keys deleted per batch when clearing derived data.
const CLEAR_BATCH: usize = 10_000;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// A stored value does not decode.
    Unreadable {
        /// What it is.
        what: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// An article has no analysis record.
    MissingAnalysis {
        /// The article.
        id: ArticleId,
    },
    /// An article has no flags record.
    MissingFlags {
        /// The article.
        id: ArticleId,
    },
    /// An analysis or flags record whose article does not exist.
    Orphan {
        /// `analysis` or `flags`.
        record: &'static str,
        /// The missing article.
        id: ArticleId,
    },
    /// An article lacks one of its index entries.
    MissingIndex {
        /// The article.
        id: ArticleId,
        /// Which index (`date`, `feed X`, `tag Y`, ...).
        index: String,
    },
    /// An index entry points at an article that does not exist.
    DanglingIndex {
        /// Which index.
        index: String,
        /// The missing article.
        id: ArticleId,
    },
    /// An index holds more entries than the articles call for (stale entries).
    StaleIndex {
        /// Which kind of index.
        index: &'static str,
        /// Entries the articles call for.
        expected: u64,
        /// Entries found.
        found: u64,
    },
    /// An article's dedup key is missing.
    MissingDedup {
        /// The article.
        id: ArticleId,
        /// `url`, `guid` or `content hash`.
        which: &'static str,
    },
    /// A dedup key points at an article that does not exist.
    DanglingDedup {
        /// The missing article.
        id: ArticleId,
    },
    /// A counter differs from a recount.
    Counter {
        /// Which counter.
        counter: String,
        /// Stored value.
        stored: String,
        /// Recounted value.
        actual: String,
    },
    /// The next id is not above every stored id.
    NextId {
        /// Stored next id.
        next: u64,
        /// Largest stored id.
        max: u64,
    },
    /// A rebuild was interrupted.
    RebuildPending,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unreadable { what, detail } => write!(f, "{what} cannot be read: {detail}"),
            Violation::MissingAnalysis { id } => write!(f, "article {id} has no analysis"),
            Violation::MissingFlags { id } => write!(f, "article {id} has no flags"),
            Violation::Orphan { record, id } => {
                write!(f, "{record} record of article {id}, which does not exist")
            }
            Violation::MissingIndex { id, index } => {
                write!(f, "article {id} is missing from the {index} index")
            }
            Violation::DanglingIndex { index, id } => {
                write!(
                    f,
                    "{index} index points at article {id}, which does not exist"
                )
            }
            Violation::StaleIndex {
                index,
                expected,
                found,
            } => write!(
                f,
                "{index} index holds {found} entries, the articles call for {expected}"
            ),
            Violation::MissingDedup { id, which } => {
                write!(f, "article {id} has no {which} dedup key")
            }
            Violation::DanglingDedup { id } => {
                write!(
                    f,
                    "a dedup key points at article {id}, which does not exist"
                )
            }
            Violation::Counter {
                counter,
                stored,
                actual,
            } => write!(
                f,
                "counter {counter} says {stored}, a recount gives {actual}"
            ),
            Violation::NextId { next, max } => {
                write!(
                    f,
                    "next article id {next} is not above the largest stored id {max}"
                )
            }
            Violation::RebuildPending => {
                write!(f, "a rebuild was interrupted; run `kessai store rebuild`")
            }
        }
    }
}

/// What `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Articles examined.
    pub articles: u64,
    /// Index entries examined.
    pub index_entries: u64,
    /// Violations (at most 1000 listed).
    pub violations: Vec<Violation>,
    /// Violations beyond those listed.
    pub unlisted: u64,
}

impl CheckReport {
    /// True when no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty() && self.unlisted == 0
    }
    fn push(&mut self, v: Violation) {
        if self.violations.len() < MAX_LISTED {
            self.violations.push(v);
        } else {
            self.unlisted += 1;
        }
    }
}

/// Progress of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Articles written again so far.
    pub done: u64,
    /// Articles the counters announced (an estimate when they had drifted).
    pub total: u64,
}

/// What `rebuild` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// Articles re-derived.
    pub articles: u64,
    /// Whether analyses were recomputed (else kept).
    pub retagged: bool,
    /// Articles whose record does not decode; left in place, not indexed.
    pub unreadable: Vec<ArticleId>,
    /// Articles that duplicate an older one (same url, guid or content hash); kept, the
    /// dedup key points at the older one.
    pub twins: u64,
    /// Analysis/flags records without an article, deleted.
    pub orphans_removed: u64,
    /// Articles whose stored analysis did not decode and was replaced by an empty one
    /// (run with retagging to restore their tags).
    pub analyses_reset: Vec<ArticleId>,
}

fn index_name(key: &[u8]) -> String {
    match key.first() {
        Some(&keys::BY_DATE) => "date".into(),
        Some(&keys::BY_FEED) => format!(
            "feed {}",
            keys::feed_of_index_key(key)
                .map(|f| f.0)
                .unwrap_or_default()
        ),
        Some(&keys::BY_TAG) => format!(
            "tag {}",
            keys::tag_of_index_key(key).map(|t| t.0).unwrap_or_default()
        ),
        Some(&keys::BY_FAMILY) => format!(
            "family {}",
            key.get(1)
                .and_then(|&c| keys::family_from_code(c))
                .map(Family::as_str)
                .unwrap_or("?")
        ),
        Some(&keys::UNREAD) => "unread".into(),
        Some(&keys::STARRED) => "starred".into(),
        _ => "unknown".into(),
    }
}

fn index_kind(prefix: u8) -> &'static str {
    match prefix {
        keys::BY_DATE => "date",
        keys::BY_FEED => "feed",
        keys::BY_TAG => "tag",
        keys::BY_FAMILY => "family",
        keys::UNREAD => "unread",
        _ => "starred",
    }
}

const INDEXES: [u8; 6] = [
    keys::BY_DATE,
    keys::BY_FEED,
    keys::BY_TAG,
    keys::BY_FAMILY,
    keys::UNREAD,
    keys::STARRED,
];

/// The set of stored article ids as a bitset: ids are dense (assigned 1, 2, 3, ...), so a
/// million articles take 125 KB, and existence checks need no sled lookups.
#[derive(Default)]
struct IdSet(Vec<u64>);

impl IdSet {
    fn insert(&mut self, id: ArticleId) {
        let (w, b) = ((id.0 / 64) as usize, id.0 % 64);
        if w >= self.0.len() {
            // Ids far beyond the dense range would mean damage; cap the growth.
            if w > (1 << 26) {
                return;
            }
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }
    fn contains(&self, id: ArticleId) -> bool {
        let (w, b) = ((id.0 / 64) as usize, id.0 % 64);
        self.0.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
}

/// Recounts kept while streaming over the articles.
#[derive(Default)]
struct Recount {
    totals: Totals,
    feeds: BTreeMap<FeedId, Pair>,
    tags: BTreeMap<TagId, (Family, Pair)>,
    families: BTreeMap<Family, Pair>,
    index_entries: BTreeMap<u8, u64>,
    max_id: u64,
}

impl Recount {
    fn add(&mut self, article: &Article, analysis: &Analysis, flags: Flags) {
        let unread = u64::from(!flags.read);
        self.totals.total += 1;
        self.totals.unread += unread;
        self.totals.starred += u64::from(flags.starred);
        let p = self.feeds.entry(article.draft.feed.clone()).or_default();
        p.total += 1;
        p.unread += unread;
        let mut fams = BTreeMap::new();
        for (tag, fam) in distinct_tags(analysis) {
            let e = self
                .tags
                .entry(tag.clone())
                .or_insert((fam, Pair::default()));
            e.1.total += 1;
            e.1.unread += unread;
            fams.insert(fam, ());
        }
        for fam in fams.into_keys() {
            let p = self.families.entry(fam).or_default();
            p.total += 1;
            p.unread += unread;
        }
        for k in index_keys(article, analysis, flags) {
            *self.index_entries.entry(k[0]).or_default() += 1;
        }
        self.max_id = self.max_id.max(article.id.0);
    }
}

fn pair_text(p: Pair) -> String {
    format!("{} total / {} unread", p.total, p.unread)
}

impl Store {
    /// Verifies the store's invariants: every index and dedup entry points at an existing
    /// article; every article has its analysis, flags, index entries and dedup keys; every
    /// counter equals a recount; the next id is above every stored id.
    pub fn check(&self) -> Result<CheckReport> {
        let inner = &self.inner;
        let db = |e| inner.sled_err(e);
        let mut report = CheckReport::default();
        if self.needs_rebuild()? {
            report.push(Violation::RebuildPending);
        }
        let mut rc = Recount::default();
        let mut present = IdSet::default();

        // Articles → their records, indexes and dedup keys.
        for kv in inner.main.scan_prefix([keys::ARTICLE]) {
            let (k, v) = kv.map_err(db)?;
            let Some(id) = keys::id_of(&k) else {
                report.push(Violation::Unreadable {
                    what: "an article key".into(),
                    detail: format!("{} bytes", k.len()),
                });
                continue;
            };
            report.articles += 1;
            present.insert(id);
            let article = match read::decode_article(inner, id, &v) {
                Ok(a) => a,
                Err(e) => {
                    report.push(Violation::Unreadable {
                        what: format!("article {id}"),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            let analysis = match inner
                .main
                .get(keys::by_id(keys::ANALYSIS, id))
                .map_err(db)?
            {
                None => {
                    report.push(Violation::MissingAnalysis { id });
                    Analysis::default()
                }
                Some(v) => match read::decode_analysis(inner, id, &v) {
                    Ok(a) => a,
                    Err(e) => {
                        report.push(Violation::Unreadable {
                            what: format!("analysis of article {id}"),
                            detail: e.to_string(),
                        });
                        Analysis::default()
                    }
                },
            };
            let flags = match inner.main.get(keys::by_id(keys::FLAGS, id)).map_err(db)? {
                None => {
                    report.push(Violation::MissingFlags { id });
                    Flags::default()
                }
                Some(v) => codec::flags_from(&v).unwrap_or_else(|| {
                    report.push(Violation::Unreadable {
                        what: format!("flags of article {id}"),
                        detail: format!("{v:?}"),
                    });
                    Flags::default()
                }),
            };
            for key in index_keys(&article, &analysis, flags) {
                if !inner.main.contains_key(&key).map_err(db)? {
                    report.push(Violation::MissingIndex {
                        id,
                        index: index_name(&key),
                    });
                }
            }
            let d = &article.draft;
            for key in keys::dedup_keys(&d.feed, &d.url, d.guid.as_deref(), &d.content_hash) {
                let which = match key[0] {
                    keys::DEDUP_URL => "url",
                    keys::DEDUP_GUID => "guid",
                    _ => "content hash",
                };
                // A twin (an older article with the same value) may own the key; the
                // dedup sweep below verifies that it exists.
                if !inner.main.contains_key(&key).map_err(db)? {
                    report.push(Violation::MissingDedup { id, which });
                }
            }
            rc.add(&article, &analysis, flags);
        }

        // Analysis and flags records without an article.
        for (prefix, record) in [(keys::ANALYSIS, "analysis"), (keys::FLAGS, "flags")] {
            for k in inner.main.scan_prefix([prefix]).keys() {
                let k = k.map_err(db)?;
                if let Some(id) = keys::id_of(&k) {
                    if !present.contains(id) {
                        report.push(Violation::Orphan { record, id });
                    }
                }
            }
        }

        // Index entries → articles, and entry counts per kind of index.
        for prefix in INDEXES {
            let mut found = 0u64;
            for k in inner.main.scan_prefix([prefix]).keys() {
                let k = k.map_err(db)?;
                found += 1;
                report.index_entries += 1;
                let Some(pos) = keys::Pos::from_key_suffix(&k) else {
                    continue;
                };
                let id = ArticleId(pos.id);
                if !present.contains(id) {
                    report.push(Violation::DanglingIndex {
                        index: index_name(&k),
                        id,
                    });
                }
            }
            let expected = rc.index_entries.get(&prefix).copied().unwrap_or(0);
            if found > expected {
                report.push(Violation::StaleIndex {
                    index: index_kind(prefix),
                    expected,
                    found,
                });
            }
        }

        // Dedup keys → articles.
        for prefix in [keys::DEDUP_URL, keys::DEDUP_GUID, keys::DEDUP_HASH] {
            for kv in inner.main.scan_prefix([prefix]) {
                let (_, v) = kv.map_err(db)?;
                let Some(id) = ArticleId::from_be_slice(&v) else {
                    report.push(Violation::Unreadable {
                        what: "a dedup key".into(),
                        detail: format!("{} bytes", v.len()),
                    });
                    continue;
                };
                if !present.contains(id) {
                    report.push(Violation::DanglingDedup { id });
                }
            }
        }

        // Counters against the recount.
        let stored = read::totals(inner)?;
        if stored != rc.totals {
            report.push(Violation::Counter {
                counter: "articles".into(),
                stored: format!(
                    "{} total / {} unread / {} starred",
                    stored.total, stored.unread, stored.starred
                ),
                actual: format!(
                    "{} total / {} unread / {} starred",
                    rc.totals.total, rc.totals.unread, rc.totals.starred
                ),
            });
        }
        let mut feeds = rc.feeds.clone();
        for fc in read::feed_counts(inner)? {
            let actual = feeds.remove(&fc.feed).unwrap_or_default();
            let stored = Pair {
                total: fc.total,
                unread: fc.unread,
            };
            if stored != actual {
                report.push(Violation::Counter {
                    counter: format!("feed {}", fc.feed),
                    stored: pair_text(stored),
                    actual: pair_text(actual),
                });
            }
        }
        for (feed, actual) in feeds {
            report.push(Violation::Counter {
                counter: format!("feed {feed}"),
                stored: "nothing".into(),
                actual: pair_text(actual),
            });
        }
        let mut tags = rc.tags.clone();
        for tc in read::tag_counts(inner)? {
            let stored = Pair {
                total: tc.total,
                unread: tc.unread,
            };
            match tags.remove(&tc.tag) {
                Some((fam, actual)) if fam == tc.family && actual == stored => {}
                Some((fam, actual)) => report.push(Violation::Counter {
                    counter: format!("tag {}", tc.tag),
                    stored: format!("{} ({})", pair_text(stored), tc.family.as_str()),
                    actual: format!("{} ({})", pair_text(actual), fam.as_str()),
                }),
                None => report.push(Violation::Counter {
                    counter: format!("tag {}", tc.tag),
                    stored: pair_text(stored),
                    actual: "nothing".into(),
                }),
            }
        }
        for (tag, (_, actual)) in tags {
            report.push(Violation::Counter {
                counter: format!("tag {tag}"),
                stored: "nothing".into(),
                actual: pair_text(actual),
            });
        }
        for (fam, total, unread) in read::family_counts(inner)? {
            let stored = Pair { total, unread };
            let actual = rc.families.get(&fam).copied().unwrap_or_default();
            if stored != actual {
                report.push(Violation::Counter {
                    counter: format!("family {}", fam.as_str()),
                    stored: pair_text(stored),
                    actual: pair_text(actual),
                });
            }
        }

        let next = match inner
            .main
            .get(keys::meta(keys::meta::NEXT_ID))
            .map_err(db)?
        {
            None => 1,
            Some(v) => codec::u64_from(&v).unwrap_or(0),
        };
        if next <= rc.max_id {
            report.push(Violation::NextId {
                next,
                max: rc.max_id,
            });
        }
        Ok(report)
    }

    /// Re-derives analyses with `retag`, and from them every index, dedup key, counter and
    /// indexer state, from the stored articles. See [`Store::rebuild_with`].
    pub fn rebuild(&self, retag: impl Fn(&ArticleDraft) -> Analysis) -> Result<RebuildReport> {
        self.rebuild_with(Some(&retag), &mut |_| {})
    }

    /// Like [`Store::rebuild`] but keeps the stored analyses (indexes and counters only).
    pub fn rebuild_keeping_analysis(&self) -> Result<RebuildReport> {
        self.rebuild_with(None, &mut |_| {})
    }

    /// The rebuild: marks the store "rebuild pending" (flushed), deletes all derived data
    /// and indexers' [derived trees](super::Indexer::derived_trees), then writes every
    /// article again in batches of 256 (calling indexers with [`IndexReason::Rebuild`]),
    /// and clears the mark. Holds the writer lock throughout. Interrupted, it leaves the
    /// mark ([`Store::needs_rebuild`]) and simply runs again from the start.
    pub fn rebuild_with(
        &self,
        retag: Option<&dyn Fn(&ArticleDraft) -> Analysis>,
        progress: &mut dyn FnMut(RebuildProgress),
    ) -> Result<RebuildReport> {
        let inner = &self.inner;
        let db = |e| inner.sled_err(e);
        let _w = inner.writer();
        let indexers = inner.indexers();
        let total_estimate = read::totals(inner)?.total;
        let mut report = RebuildReport {
            retagged: retag.is_some(),
            ..Default::default()
        };

        inner
            .main
            .insert(keys::meta(keys::meta::REBUILDING), &[1u8][..])
            .map_err(db)?;
        inner.db.flush().map_err(db)?;

        // 1. Derived data goes, in bounded batches.
        for prefix in keys::DERIVED {
            clear_prefix(inner, &[prefix])?;
        }
        inner
            .main
            .remove(keys::meta(keys::meta::COUNTS))
            .map_err(db)?;
        for ix in &indexers {
            for name in ix.derived_trees() {
                inner.reader_tree(&name)?.clear().map_err(db)?;
            }
        }
        // Orphaned analysis/flags records.
        for prefix in [keys::ANALYSIS, keys::FLAGS] {
            let mut sweep = sled::Batch::default();
            let mut n = 0;
            for k in inner.main.scan_prefix([prefix]).keys() {
                let k = k.map_err(db)?;
                if let Some(id) = keys::id_of(&k) {
                    if !inner
                        .main
                        .contains_key(keys::by_id(keys::ARTICLE, id))
                        .map_err(db)?
                    {
                        sweep.remove(k);
                        n += 1;
                        if n % CLEAR_BATCH as u64 == 0 {
                            inner
                                .main
                                .apply_batch(std::mem::take(&mut sweep))
                                .map_err(db)?;
                        }
                    }
                }
            }
            inner.main.apply_batch(sweep).map_err(db)?;
            report.orphans_removed += n;
        }

        // 2. Every article again, in id order, in batches.
        let mut after: Option<ArticleId> = None;
        let mut max_id = 0u64;
        loop {
            let lower = match after {
                Some(id) => keys::by_id(keys::ARTICLE, ArticleId(id.0.saturating_add(1))).to_vec(),
                None => vec![keys::ARTICLE],
            };
            let upper = vec![keys::ARTICLE + 1];
            let chunk: Vec<(sled::IVec, sled::IVec)> = inner
                .main
                .range(lower..upper)
                .take(REBUILD_BATCH)
                .collect::<std::result::Result<_, _>>()
                .map_err(db)?;
            if chunk.is_empty() {
                break;
            }
            let mut batch = Batch::new(inner.clone());
            for (k, v) in &chunk {
                let Some(id) = keys::id_of(k) else { continue };
                after = Some(id);
                max_id = max_id.max(id.0);
                let article = match read::decode_article(inner, id, v) {
                    Ok(a) => a,
                    Err(_) => {
                        report.unreadable.push(id);
                        continue;
                    }
                };
                let analysis = match retag {
                    Some(f) => f(&article.draft),
                    None => match read::analysis(inner, id) {
                        Ok(a) => a.unwrap_or_default(),
                        // Kept as "no tags" so the article stays listed; reported so that
                        // `rebuild --retag` can restore its tags.
                        Err(_) => {
                            report.analyses_reset.push(id);
                            Analysis::default()
                        }
                    },
                };
                let flags = read::flags(inner, id).ok().flatten().unwrap_or_default();
                let d = &article.draft;
                let mut own = Vec::new();
                let mut twin = false;
                for key in keys::dedup_keys(&d.feed, &d.url, d.guid.as_deref(), &d.content_hash) {
                    if batch.main_get(&key)?.is_some() {
                        twin = true;
                    } else {
                        own.push(key);
                    }
                }
                report.twins += u64::from(twin);
                put_article(&mut batch, &article, &analysis, flags, &own)?;
                let ctx = IndexCtx::with_flags(IndexReason::Rebuild, flags);
                for ix in &indexers {
                    ix.on_insert(&ctx, &article, &analysis, &mut batch)
                        .map_err(|cause| StoreError::Indexer {
                            indexer: ix.name().to_string(),
                            article: Some(id),
                            cause,
                        })?;
                }
                report.articles += 1;
            }
            batch.commit()?;
            progress(RebuildProgress {
                done: report.articles,
                total: total_estimate.max(report.articles),
            });
        }

        // 3. The id counter stays above every id; the mark goes.
        let nk = keys::meta(keys::meta::NEXT_ID);
        let next = inner
            .main
            .get(&nk)
            .map_err(db)?
            .and_then(|v| codec::u64_from(&v))
            .unwrap_or(1);
        let mut fin = sled::Batch::default();
        fin.insert(nk, next.max(max_id + 1).to_be_bytes().to_vec());
        fin.remove(keys::meta(keys::meta::REBUILDING));
        inner.main.apply_batch(fin).map_err(db)?;
        inner.db.flush().map_err(db)?;
        Ok(report)
    }
}

/// Deletes every key under `prefix`, at most `CLEAR_BATCH` per atomic batch.
fn clear_prefix(inner: &super::Inner, prefix: &[u8]) -> Result<()> {
    loop {
        let keys: Vec<sled::IVec> = inner
            .main
            .scan_prefix(prefix)
            .keys()
            .take(CLEAR_BATCH)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| inner.sled_err(e))?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for k in keys {
            b.remove(k);
        }
        inner.main.apply_batch(b).map_err(|e| inner.sled_err(e))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_holds_dense_and_sparse_ids() {
        let mut s = IdSet::default();
        for id in [1, 63, 64, 1000] {
            s.insert(ArticleId(id));
        }
        for id in [1, 63, 64, 1000] {
            assert!(s.contains(ArticleId(id)));
        }
        for id in [0, 2, 65, 999, 1001, u64::MAX] {
            assert!(!s.contains(ArticleId(id)));
        }
        s.insert(ArticleId(u64::MAX)); // capped, not a huge allocation
        assert!(s.0.len() < 100);
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// Deletes all derived data, as an interrupted rebuild leaves it.
    pub(crate) fn clear_derived(store: &Store) {
        for prefix in keys::DERIVED {
            clear_prefix(&store.inner, &[prefix]).unwrap();
        }
    }
}
