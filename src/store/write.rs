//! The store's write logic, expressed as edits to a [`Batch`]: index/unindex an article
//! (index entries and counters together, so they cannot drift apart), insert with dedup,
//! retag, flag changes and removal, each calling the registered indexers.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::batch::{Batch, IndexCtx, IndexReason, Indexer, Prepared};
use super::codec::{self, Pair, Totals};
use super::error::StoreError;
use super::keys::{self, IndexPrefix, Pos};
use super::{Inserted, Result, read};
use crate::model::{Analysis, Article, ArticleDraft, ArticleId, Family, Flags, TagId};
use crate::tokenize::ArticleTokens;

/// The distinct tags of an analysis with their family (the first family given wins).
pub(crate) fn distinct_tags(analysis: &Analysis) -> BTreeMap<&TagId, Family> {
    let mut m = BTreeMap::new();
    for hit in &analysis.tags {
        m.entry(&hit.tag).or_insert(hit.family);
    }
    m
}

/// Every index key an article with this analysis and these flags must have.
pub(crate) fn index_keys(article: &Article, analysis: &Analysis, flags: Flags) -> Vec<Vec<u8>> {
    let pos = Pos::of(article.draft.published, article.id);
    let tags = distinct_tags(analysis);
    let mut families: Vec<Family> = tags.values().copied().collect();
    families.sort();
    families.dedup();
    let mut out = Vec::with_capacity(4 + tags.len() + families.len());
    out.push(IndexPrefix::date().key(pos));
    out.push(IndexPrefix::feed(&article.draft.feed).key(pos));
    for tag in tags.keys() {
        out.push(IndexPrefix::tag(tag).key(pos));
    }
    for f in families {
        out.push(IndexPrefix::family(f).key(pos));
    }
    if !flags.read {
        out.push(IndexPrefix::unread().key(pos));
    }
    if flags.starred {
        out.push(IndexPrefix::starred().key(pos));
    }
    out
}

/// Rejects ids that cannot become keys.
pub(crate) fn check_name(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > keys::MAX_NAME {
        return Err(StoreError::Invalid {
            what: format!("{what} {:?}", s.chars().take(40).collect::<String>()),
            why: format!("must be 1–{} bytes long", keys::MAX_NAME),
        });
    }
    Ok(())
}

/// Adds the article's index entries and counts it (`sign` = 1), or the reverse (`sign` = -1).
fn apply_index(
    batch: &mut Batch,
    article: &Article,
    analysis: &Analysis,
    flags: Flags,
    sign: i64,
) -> Result<()> {
    for k in index_keys(article, analysis, flags) {
        if sign > 0 {
            batch.main_put(k, Vec::new());
        } else {
            batch.main_del(k);
        }
    }
    let unread = i64::from(!flags.read) * sign;
    let starred = i64::from(flags.starred) * sign;
    let inner = batch.inner().clone();

    let tk = keys::meta(keys::meta::COUNTS);
    let mut t = match batch.main_get(&tk)? {
        None => Totals::default(),
        Some(v) => {
            Totals::from(&v).ok_or_else(|| StoreError::corrupt(&inner.path, "global counters"))?
        }
    };
    t.total = codec::add(t.total, sign);
    t.unread = codec::add(t.unread, unread);
    t.starred = codec::add(t.starred, starred);
    batch.main_put(tk, t.bytes().to_vec());

    let fk = keys::count_feed(&article.draft.feed);
    let p = read_pair(batch, &fk)?;
    put_pair(batch, fk, step(p, sign, unread));

    let tags = distinct_tags(analysis);
    let mut families = BTreeMap::new();
    for (tag, family) in tags {
        families.insert(family, ());
        let k = keys::count_tag(tag);
        let p = match batch.main_get(&k)? {
            None => Pair::default(),
            Some(v) => {
                codec::tag_count_from(&v)
                    .ok_or_else(|| {
                        StoreError::corrupt(&inner.path, format!("counters of tag {tag}"))
                    })?
                    .1
            }
        };
        let p = step(p, sign, unread);
        if p.total == 0 {
            batch.main_del(k);
        } else {
            batch.main_put(k, codec::tag_count_bytes(family, p));
        }
    }
    for family in families.into_keys() {
        let k = keys::count_family(family).to_vec();
        let p = read_pair(batch, &k)?;
        put_pair(batch, k, step(p, sign, unread));
    }
    Ok(())
}

fn step(p: Pair, sign: i64, unread: i64) -> Pair {
    Pair {
        total: codec::add(p.total, sign),
        unread: codec::add(p.unread, unread),
    }
}

fn read_pair(batch: &Batch, key: &[u8]) -> Result<Pair> {
    match batch.main_get(key)? {
        None => Ok(Pair::default()),
        Some(v) => {
            Pair::from(&v).ok_or_else(|| StoreError::corrupt(&batch.inner().path, "counters"))
        }
    }
}

fn put_pair(batch: &mut Batch, key: Vec<u8>, p: Pair) {
    if p.total == 0 {
        batch.main_del(key);
    } else {
        batch.main_put(key, p.bytes().to_vec());
    }
}

fn encode<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Invalid {
        what: what.into(),
        why: e.to_string(),
    })
}

/// Takes the next article id.
fn next_id(batch: &mut Batch) -> Result<ArticleId> {
    let k = keys::meta(keys::meta::NEXT_ID);
    let next = match batch.main_get(&k)? {
        None => 1,
        Some(v) => codec::u64_from(&v)
            .ok_or_else(|| StoreError::corrupt(&batch.inner().path, "next article id"))?,
    };
    batch.main_put(k, (next + 1).to_be_bytes().to_vec());
    Ok(ArticleId(next))
}

/// Writes a whole article (record, analysis, flags, indexes, counters, dedup keys) into the
/// batch, without indexers. Used by rebuild.
pub(crate) fn put_article(
    batch: &mut Batch,
    article: &Article,
    analysis: &Analysis,
    flags: Flags,
    dedup: &[Vec<u8>],
) -> Result<()> {
    let id = article.id;
    let record = encode(&format!("article {id}"), &article.draft)?;
    let analysed = encode(&format!("analysis of article {id}"), analysis)?;
    put_encoded(batch, article, analysis, flags, [record, analysed], dedup)
}

/// [`put_article`] with the article and its analysis already encoded.
fn put_encoded(
    batch: &mut Batch,
    article: &Article,
    analysis: &Analysis,
    flags: Flags,
    [record, analysed]: [Vec<u8>; 2],
    dedup: &[Vec<u8>],
) -> Result<()> {
    let id = article.id;
    batch.main_put(keys::by_id(keys::ARTICLE, id).to_vec(), record);
    batch.main_put(keys::by_id(keys::ANALYSIS, id).to_vec(), analysed);
    batch.main_put(
        keys::by_id(keys::FLAGS, id).to_vec(),
        codec::flags_byte(flags).to_vec(),
    );
    for k in dedup {
        batch.main_put(k.clone(), id.to_be_bytes().to_vec());
    }
    apply_index(batch, article, analysis, flags, 1)
}

/// An article's record and analysis as stored, and its dedup keys.
type Encoded = ([Vec<u8>; 2], Vec<Vec<u8>>);

/// A new article made ready for [`Store::insert_prepared`](super::Store::insert_prepared)
/// without the writer lock: checked, encoded, its dedup keys made and each indexer's own
/// preparation ([`Indexer::prepare`]) done.
pub struct PreparedArticle {
    draft: ArticleDraft,
    analysis: Analysis,
    /// The encoded record and analysis and the dedup keys, or why the article is refused.
    ready: Result<Encoded>,
    /// Per indexer name, what its `prepare` made.
    extras: Vec<(String, Prepared)>,
}

impl std::fmt::Debug for PreparedArticle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedArticle")
            .field("url", &self.draft.url)
            .field("ready", &self.ready.is_ok())
            .field("extras", &self.extras.len())
            .finish_non_exhaustive()
    }
}

/// Prepares a new article; runs without the writer lock.
pub(crate) fn prepare(
    indexers: &[Arc<dyn Indexer>],
    draft: ArticleDraft,
    analysis: Analysis,
    tokens: Option<&ArticleTokens>,
) -> PreparedArticle {
    let ready = validate(&draft, &analysis).and_then(|()| {
        let record = encode("article", &draft)?;
        let analysed = encode("analysis", &analysis)?;
        let dedup = keys::dedup_keys(
            &draft.feed,
            &draft.url,
            draft.guid.as_deref(),
            &draft.content_hash,
        );
        Ok(([record, analysed], dedup))
    });
    let extras = if ready.is_ok() {
        indexers
            .iter()
            .filter_map(|ix| {
                ix.prepare(&draft, &analysis, tokens)
                    .map(|p| (ix.name().to_string(), p))
            })
            .collect()
    } else {
        Vec::new()
    };
    PreparedArticle {
        draft,
        analysis,
        ready,
        extras,
    }
}

fn validate(draft: &ArticleDraft, analysis: &Analysis) -> Result<()> {
    check_name("feed id", draft.feed.as_str())?;
    for hit in &analysis.tags {
        check_name("tag id", hit.tag.as_str())?;
    }
    Ok(())
}

fn run_indexers(
    indexers: &[Arc<dyn Indexer>],
    article: Option<ArticleId>,
    mut f: impl FnMut(&dyn Indexer) -> super::IndexResult,
) -> Result<()> {
    for ix in indexers {
        f(ix.as_ref()).map_err(|cause| StoreError::Indexer {
            indexer: ix.name().to_string(),
            article,
            cause,
        })?;
    }
    Ok(())
}

/// Inserts a prepared article with dedup; the caller commits.
pub(crate) fn insert(
    batch: &mut Batch,
    indexers: &[Arc<dyn Indexer>],
    prepared: PreparedArticle,
) -> Result<Inserted> {
    let PreparedArticle {
        draft,
        analysis,
        ready,
        mut extras,
    } = prepared;
    let (encoded, dedup) = ready?;
    for k in &dedup {
        if let Some(v) = batch.main_get(k)? {
            let id = ArticleId::from_be_slice(&v)
                .ok_or_else(|| StoreError::corrupt(&batch.inner().path, "a dedup key"))?;
            return Ok(Inserted::Duplicate(id));
        }
    }
    let id = next_id(batch)?;
    let article = Article { id, draft };
    put_encoded(
        batch,
        &article,
        &analysis,
        Flags::default(),
        encoded,
        &dedup,
    )?;
    let ctx = IndexCtx::new(IndexReason::New);
    run_indexers(indexers, Some(id), |ix| {
        match extras.iter().position(|(name, _)| name == ix.name()) {
            Some(i) => {
                let (_, p) = extras.swap_remove(i);
                ix.on_insert_prepared(&ctx, &article, &analysis, p, batch)
            }
            None => ix.on_insert(&ctx, &article, &analysis, batch),
        }
    })?;
    Ok(Inserted::New(id))
}

/// Loads what a write needs about a stored article (through the batch).
fn load(batch: &Batch, id: ArticleId) -> Result<(Article, Analysis, Flags)> {
    let inner = batch.inner().clone();
    let Some(a) = batch.main_get(&keys::by_id(keys::ARTICLE, id))? else {
        return Err(StoreError::NotFound { id });
    };
    let article = read::decode_article(&inner, id, &a)?;
    let analysis = match batch.main_get(&keys::by_id(keys::ANALYSIS, id))? {
        Some(v) => read::decode_analysis(&inner, id, &v)?,
        None => Analysis::default(),
    };
    let flags = match batch.main_get(&keys::by_id(keys::FLAGS, id))? {
        Some(v) => codec::flags_from(&v)
            .ok_or_else(|| StoreError::corrupt(&inner.path, format!("flags of article {id}")))?,
        None => Flags::default(),
    };
    Ok((article, analysis, flags))
}

/// Replaces an article's analysis; the caller commits.
pub(crate) fn set_analysis(
    batch: &mut Batch,
    indexers: &[Arc<dyn Indexer>],
    id: ArticleId,
    new: &Analysis,
    reason: IndexReason,
) -> Result<()> {
    let (article, old, flags) = load(batch, id)?;
    validate(&article.draft, new)?;
    apply_index(batch, &article, &old, flags, -1)?;
    apply_index(batch, &article, new, flags, 1)?;
    batch.main_put(
        keys::by_id(keys::ANALYSIS, id).to_vec(),
        encode(&format!("analysis of article {id}"), new)?,
    );
    let ctx = IndexCtx::new(reason);
    run_indexers(indexers, Some(id), |ix| {
        ix.on_update(&ctx, &article, &old, new, batch)
    })
}

/// Changes flags; returns whether anything changed. The caller commits.
pub(crate) fn set_flags(
    batch: &mut Batch,
    indexers: &[Arc<dyn Indexer>],
    id: ArticleId,
    flags: Flags,
) -> Result<bool> {
    let (article, analysis, old) = load(batch, id)?;
    if old == flags {
        return Ok(false);
    }
    apply_index(batch, &article, &analysis, old, -1)?;
    apply_index(batch, &article, &analysis, flags, 1)?;
    batch.main_put(
        keys::by_id(keys::FLAGS, id).to_vec(),
        codec::flags_byte(flags).to_vec(),
    );
    let ctx = IndexCtx::with_flags(IndexReason::Flags, flags);
    run_indexers(indexers, Some(id), |ix| {
        ix.on_flags(&ctx, &article, old, flags, batch)
    })?;
    Ok(true)
}

/// Removes an article; returns false when it is not stored. The caller commits.
pub(crate) fn remove(
    batch: &mut Batch,
    indexers: &[Arc<dyn Indexer>],
    id: ArticleId,
) -> Result<bool> {
    let (article, analysis, flags) = match load(batch, id) {
        Ok(x) => x,
        Err(StoreError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    apply_index(batch, &article, &analysis, flags, -1)?;
    for p in [keys::ARTICLE, keys::ANALYSIS, keys::FLAGS] {
        batch.main_del(keys::by_id(p, id).to_vec());
    }
    let d = &article.draft;
    for k in keys::dedup_keys(&d.feed, &d.url, d.guid.as_deref(), &d.content_hash) {
        // Only this article's own dedup keys: a twin may hold the same value.
        if batch.main_get(&k)?.as_deref() == Some(&id.to_be_bytes()[..]) {
            batch.main_del(k);
        }
    }
    let ctx = IndexCtx::new(IndexReason::Remove);
    run_indexers(indexers, Some(id), |ix| {
        ix.on_remove(&ctx, &article, &analysis, batch)
    })?;
    Ok(true)
}
