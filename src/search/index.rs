//! The inverted index, kept in the store's reader tree `search` and written only through the
//! store's [`Batch`], so an article and its postings are stored (or removed) atomically.
//!
//! # Layout (tree `search`)
//!
//! ```text
//! m/format                    → u32: layout version
//! m/stats                     → docs ‖ tokens in titles ‖ leads ‖ bodies (u64 each)
//! m/pending                   → u32: documents waiting in `q`
//! q ‖ id                      → a new document: its record and all its postings
//! p ‖ term ‖ first id         → posting block of a term: last id (u64) ‖ postings
//! D ‖ bucket                  → document table of ids [bucket·256, bucket·256+256)
//! ```
//!
//! `term` is a length byte and the folded token (or `0xFF` and a hash for tokens longer
//! than 200 bytes), so that no term's keys are a prefix of another's. A new article costs
//! one `q` entry (no read-modify-write of posting lists per article); every
//! [`MERGE_AT`] articles the pending ones are merged: each term's postings are appended to
//! its last block (a new block starts past [`BLOCK_BYTES`]) and the records go into their
//! document tables. Blocks are term-major, so a rare term costs one small key however many
//! articles there are, and a query reads only the blocks of its own terms.
//!
//! A removed article leaves its document record (and so every query) at once; its postings
//! stay in their blocks as garbage that queries skip (they only count documents present in
//! a document table) until `kessai reindex` rewrites the index.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sled::IVec;

use crate::model::{Analysis, Article, ArticleId};
use crate::search::codec::{self, Corrupt, DocInfo, Postings};
use crate::search::matcher::Doc;
use crate::search::rank::Stats;
use crate::store::{Batch, IndexCtx, IndexResult, Indexer, Store, StoreError};
use crate::tokenize::Tokenizer;

/// The reader tree that holds the index.
pub const TREE: &str = "search";
/// Index layout version; a different one on disk means `kessai reindex`.
pub const FORMAT: u32 = 1;
/// Ids per document table.
pub const BUCKET_BITS: u32 = 8;
/// Pending documents that trigger a merge.
pub const MERGE_AT: u32 = 256;
/// A posting block is closed once it holds this many bytes.
pub const BLOCK_BYTES: usize = 2048;
/// Longest token kept verbatim in a key; longer ones are hashed.
const MAX_TERM_BYTES: usize = 200;

pub(crate) const KEY_FORMAT: &[u8] = b"m/format";
pub(crate) const KEY_STATS: &[u8] = b"m/stats";
const KEY_PENDING: &[u8] = b"m/pending";
pub(crate) const PENDING: u8 = b'q';
pub(crate) const POSTINGS: u8 = b'p';
pub(crate) const DOCS: u8 = b'D';

/// The key bytes of a folded token.
pub fn term_key(norm: &str) -> Vec<u8> {
    let b = norm.as_bytes();
    if !b.is_empty() && b.len() <= MAX_TERM_BYTES {
        let mut k = Vec::with_capacity(b.len() + 1);
        k.push(b.len() as u8);
        k.extend_from_slice(b);
        k
    } else {
        let mut k = vec![0xFF];
        k.extend_from_slice(&Sha256::digest(b)[..16]);
        k
    }
}

/// The bucket of an id.
pub fn bucket(id: u64) -> u32 {
    (id >> BUCKET_BITS) as u32
}

/// `D ‖ bucket`.
pub(crate) fn docs_key(bucket: u32) -> [u8; 5] {
    let mut k = [DOCS, 0, 0, 0, 0];
    k[1..].copy_from_slice(&bucket.to_be_bytes());
    k
}

/// `q ‖ id`.
fn pending_key(id: u64) -> [u8; 9] {
    let mut k = [PENDING, 0, 0, 0, 0, 0, 0, 0, 0];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `p ‖ term`: the prefix of a term's blocks.
pub(crate) fn postings_prefix(term_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(term_key.len() + 9);
    k.push(POSTINGS);
    k.extend_from_slice(term_key);
    k
}

/// The first id of a block, from its key.
pub(crate) fn block_first_id(key: &[u8]) -> Result<u64, Corrupt> {
    let tail = key.len().checked_sub(8).ok_or(Corrupt)?;
    let arr: [u8; 8] = key[tail..].try_into().map_err(|_| Corrupt)?;
    Ok(u64::from_be_bytes(arr))
}

/// Decodes a block value (`last id ‖ postings`) whose key says it starts at `first`.
pub(crate) fn decode_block(first: u64, value: &[u8], out: &mut Postings) -> Result<(), Corrupt> {
    let body = value.get(8..).ok_or(Corrupt)?;
    out.extend_from_block(first, body)
}

fn block_last_id(value: &[u8]) -> Result<u64, Corrupt> {
    let arr: [u8; 8] = value
        .get(..8)
        .ok_or(Corrupt)?
        .try_into()
        .map_err(|_| Corrupt)?;
    Ok(u64::from_be_bytes(arr))
}

/// What the index keeps of one article: its record and its terms with their positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDoc {
    /// Record for ranking and date filters.
    pub info: DocInfo,
    /// Term key → positions in title, lead, body.
    pub terms: BTreeMap<Vec<u8>, [Vec<u32>; 3]>,
}

impl IndexedDoc {
    /// Tokenises an article.
    pub fn new(article: &Article, tokenizer: &Tokenizer) -> IndexedDoc {
        IndexedDoc::from_doc(
            article.id.0,
            article.draft.published.timestamp(),
            &Doc::new(article, tokenizer),
        )
    }

    /// From an already tokenised document.
    pub fn from_doc(id: u64, published: i64, doc: &Doc) -> IndexedDoc {
        let mut terms: BTreeMap<Vec<u8>, [Vec<u32>; 3]> = BTreeMap::new();
        for (f, field) in crate::search::matcher::FIELDS.iter().enumerate() {
            for (p, t) in doc.field(*field).iter().enumerate() {
                terms.entry(term_key(&t.norm)).or_default()[f].push(p as u32);
            }
        }
        IndexedDoc {
            info: DocInfo {
                id,
                published,
                lens: doc.lengths(),
            },
            terms,
        }
    }

    /// `record ‖ varint(terms) ‖ (varint(len) key occurrences)*`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.terms.len() * 12);
        codec::put_doc_body(&mut out, &self.info);
        codec::put_varint(&mut out, self.terms.len() as u64);
        for (key, fields) in &self.terms {
            codec::put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key);
            codec::put_occurrences(&mut out, fields);
        }
        out
    }
}

/// A pending document as stored: its record and, per term, its encoded occurrences.
pub(crate) struct PendingDoc {
    pub info: DocInfo,
    pub terms: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Decodes a `q` entry.
pub(crate) fn decode_pending(key: &[u8], value: &[u8]) -> Result<PendingDoc, Corrupt> {
    let id = block_first_id(key)?;
    let mut at = 0;
    let info = codec::get_doc_body(id, value, &mut at)?;
    let n = codec::get_varint(value, &mut at)?;
    if n > value.len() as u64 {
        return Err(Corrupt);
    }
    let mut terms = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = codec::get_varint(value, &mut at)? as usize;
        let end = at.checked_add(len).ok_or(Corrupt)?;
        let key = value.get(at..end).ok_or(Corrupt)?.to_vec();
        at = end;
        // Measure the occurrences by decoding them once.
        let start = at;
        Postings::new().push_encoded(id, value, &mut at)?;
        terms.push((key, value[start..at].to_vec()));
    }
    Ok(PendingDoc { info, terms })
}

/// Reads a `q` entry for a query: its record, and the occurrences of the wanted terms
/// (term key → slot in `out`) appended to `out`; other terms are skipped without
/// allocating.
pub(crate) fn scan_pending(
    key: &[u8],
    value: &[u8],
    wanted: &std::collections::HashMap<Vec<u8>, usize>,
    out: &mut [Postings],
) -> Result<DocInfo, Corrupt> {
    let id = block_first_id(key)?;
    let mut at = 0;
    let info = codec::get_doc_body(id, value, &mut at)?;
    let n = codec::get_varint(value, &mut at)?;
    if n > value.len() as u64 {
        return Err(Corrupt);
    }
    for _ in 0..n {
        let len = codec::get_varint(value, &mut at)? as usize;
        let end = at.checked_add(len).ok_or(Corrupt)?;
        let term = value.get(at..end).ok_or(Corrupt)?;
        at = end;
        match wanted.get(term).and_then(|&slot| out.get_mut(slot)) {
            Some(postings) => postings.push_encoded(id, value, &mut at)?,
            None => codec::skip_occurrences(value, &mut at)?,
        }
    }
    Ok(info)
}

/// Reads the statistics (zero when the index is empty).
pub(crate) fn decode_stats(value: Option<&[u8]>) -> Result<Stats, Corrupt> {
    let Some(v) = value else {
        return Ok(Stats::default());
    };
    if v.len() != 32 {
        return Err(Corrupt);
    }
    let word = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&v[i * 8..i * 8 + 8]);
        u64::from_be_bytes(a)
    };
    Ok(Stats {
        docs: word(0),
        lens: [word(1), word(2), word(3)],
    })
}

fn encode_stats(s: &Stats) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    for w in [s.docs, s.lens[0], s.lens[1], s.lens[2]] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// Why the index could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Index bytes do not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
}

type Result<T, E = IndexError> = std::result::Result<T, E>;

/// The writes of the index, all through a store [`Batch`].
pub(crate) struct Writer<'b> {
    pub batch: &'b mut Batch,
}

impl Writer<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>> {
        Ok(self.batch.get(TREE, key)?)
    }

    fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) -> Result<()> {
        Ok(self.batch.insert(TREE, key, value)?)
    }

    fn del(&mut self, key: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.batch.remove(TREE, key)?)
    }

    fn stats(&self) -> Result<Stats> {
        Ok(decode_stats(self.get(KEY_STATS)?.as_deref())?)
    }

    fn adjust_stats(&mut self, info: &DocInfo, add: bool) -> Result<()> {
        let mut s = self.stats()?;
        if add {
            s.docs += 1;
            for f in 0..3 {
                s.lens[f] += u64::from(info.lens[f]);
            }
        } else {
            s.docs = s.docs.saturating_sub(1);
            for f in 0..3 {
                s.lens[f] = s.lens[f].saturating_sub(u64::from(info.lens[f]));
            }
        }
        self.put(KEY_STATS, encode_stats(&s))
    }

    fn pending_count(&self) -> Result<u32> {
        Ok(match self.get(KEY_PENDING)? {
            None => 0,
            Some(v) => u32::from_be_bytes(v.as_ref().try_into().map_err(|_| Corrupt)?),
        })
    }

    fn set_pending_count(&mut self, n: u32) -> Result<()> {
        self.put(KEY_PENDING, n.to_be_bytes().to_vec())
    }

    /// Makes sure the layout version is recorded (an empty index takes ours).
    fn stamp_format(&mut self) -> Result<()> {
        if self.get(KEY_FORMAT)?.is_none() {
            self.put(KEY_FORMAT, FORMAT.to_be_bytes().to_vec())?;
        }
        Ok(())
    }

    /// Adds a document; merges when `merge_at` documents are pending.
    pub fn add(&mut self, doc: &IndexedDoc, merge_at: u32) -> Result<()> {
        self.stamp_format()?;
        // Written again (an id already indexed): replace, so stats stay exact.
        self.remove(doc.info.id)?;
        self.put(pending_key(doc.info.id).to_vec(), doc.encode())?;
        self.adjust_stats(&doc.info, true)?;
        let n = self.pending_count()? + 1;
        self.set_pending_count(n)?;
        if n >= merge_at {
            self.merge()?;
        }
        Ok(())
    }

    /// Removes a document if it is indexed; returns whether it was.
    pub fn remove(&mut self, id: u64) -> Result<bool> {
        let pk = pending_key(id);
        if let Some(v) = self.get(&pk)? {
            let doc = decode_pending(&pk, &v)?;
            self.del(pk.to_vec())?;
            self.adjust_stats(&doc.info, false)?;
            let n = self.pending_count()?;
            self.set_pending_count(n.saturating_sub(1))?;
            return Ok(true);
        }
        let dk = docs_key(bucket(id));
        let Some(v) = self.get(&dk)? else {
            return Ok(false);
        };
        let mut docs = Vec::new();
        codec::get_docs(u64::from(bucket(id)) << BUCKET_BITS, &v, &mut docs)?;
        let Some(pos) = docs.iter().position(|d| d.id == id) else {
            return Ok(false);
        };
        let gone = docs.remove(pos);
        if docs.is_empty() {
            self.del(dk.to_vec())?;
        } else {
            let base = u64::from(bucket(id)) << BUCKET_BITS;
            self.put(dk.to_vec(), codec::encode_docs(base, &docs))?;
        }
        self.adjust_stats(&gone, false)?;
        Ok(true)
    }

    /// Moves every pending document into the posting blocks and document tables.
    pub fn merge(&mut self) -> Result<()> {
        let entries = self.batch.scan_prefix(TREE, &[PENDING], usize::MAX)?;
        if entries.is_empty() {
            return self.set_pending_count(0);
        }
        let mut by_bucket: BTreeMap<u32, Vec<DocInfo>> = BTreeMap::new();
        let mut by_term: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for (k, v) in &entries {
            let doc = decode_pending(k, v)?;
            by_bucket
                .entry(bucket(doc.info.id))
                .or_default()
                .push(doc.info);
            for (term, occ) in doc.terms {
                by_term.entry(term).or_default().push((doc.info.id, occ));
            }
        }
        for (b, new) in by_bucket {
            let dk = docs_key(b);
            let base = u64::from(b) << BUCKET_BITS;
            let mut docs = Vec::new();
            if let Some(v) = self.get(&dk)? {
                codec::get_docs(base, &v, &mut docs)?;
            }
            docs.retain(|d| !new.iter().any(|n| n.id == d.id));
            docs.extend(new);
            docs.sort_by_key(|d| d.id);
            self.put(dk.to_vec(), codec::encode_docs(base, &docs))?;
        }
        for (term, postings) in by_term {
            self.append(&term, postings)?;
        }
        for (k, _) in entries {
            self.del(k.to_vec())?;
        }
        self.set_pending_count(0)
    }

    /// Appends postings (ascending ids, each with its encoded occurrences) to a term's blocks.
    fn append(&mut self, term: &[u8], postings: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let prefix = postings_prefix(term);
        let mut current: Option<(Vec<u8>, Vec<u8>)> = None; // (key, value) of the open block
        if let Some((k, v)) = self.batch.last_in_prefix(TREE, &prefix)? {
            let last = block_last_id(&v)?;
            if postings.first().is_some_and(|(id, _)| *id <= last) {
                // Out of order (an old id indexed again): rewrite the term's blocks.
                return self.rewrite(term, postings);
            }
            if v.len() < BLOCK_BYTES {
                current = Some((k.to_vec(), v.to_vec()));
            }
        }
        for (id, occ) in postings {
            let (key, mut value) = match current.take() {
                Some((k, v)) if v.len() < BLOCK_BYTES => (k, v),
                Some((k, v)) => {
                    self.put(k, v)?;
                    new_block(&prefix, id)
                }
                None => new_block(&prefix, id),
            };
            let last = block_last_id(&value)?;
            let first = block_first_id(&key)?;
            let delta = if value.len() == 8 {
                id - first
            } else {
                id - last
            };
            codec::put_varint(&mut value, delta);
            value.extend_from_slice(&occ);
            value[..8].copy_from_slice(&id.to_be_bytes());
            current = Some((key, value));
        }
        if let Some((k, v)) = current {
            self.put(k, v)?;
        }
        Ok(())
    }

    /// Rewrites a term's blocks with `extra` postings merged in by id (rare: only when an
    /// id lower than the term's last one is indexed again).
    fn rewrite(&mut self, term: &[u8], extra: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let prefix = postings_prefix(term);
        let mut all = Postings::new();
        let blocks = self.batch.scan_prefix(TREE, &prefix, usize::MAX)?;
        for (k, v) in &blocks {
            decode_block(block_first_id(k)?, v, &mut all)?;
        }
        for (k, _) in &blocks {
            self.del(k.to_vec())?;
        }
        let mut merged: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for i in 0..all.len() {
            let fields = [0, 1, 2].map(|f| all.positions(i, f).to_vec());
            let mut occ = Vec::new();
            codec::put_occurrences(&mut occ, &fields);
            merged.insert(all.ids[i], occ);
        }
        for (id, occ) in extra {
            merged.insert(id, occ);
        }
        let mut current: Option<(Vec<u8>, Vec<u8>)> = None;
        for (id, occ) in merged {
            let (key, mut value) = match current.take() {
                Some((k, v)) if v.len() < BLOCK_BYTES => (k, v),
                Some((k, v)) => {
                    self.put(k, v)?;
                    new_block(&prefix, id)
                }
                None => new_block(&prefix, id),
            };
            let first = block_first_id(&key)?;
            let delta = if value.len() == 8 {
                id - first
            } else {
                id - block_last_id(&value)?
            };
            codec::put_varint(&mut value, delta);
            value.extend_from_slice(&occ);
            value[..8].copy_from_slice(&id.to_be_bytes());
            current = Some((key, value));
        }
        if let Some((k, v)) = current {
            self.put(k, v)?;
        }
        Ok(())
    }
}

/// A new empty block starting at `id`: its key and its value (last id only).
fn new_block(prefix: &[u8], id: u64) -> (Vec<u8>, Vec<u8>) {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    (key, id.to_be_bytes().to_vec())
}

/// The search index as a store [`Indexer`]: postings follow every insert and removal in the
/// same atomic write. (A re-tag changes no text, so it has nothing to do.)
pub struct SearchIndexer {
    tokenizer: &'static Tokenizer,
}

impl SearchIndexer {
    /// An indexer using the process-wide tokenizer.
    pub fn new() -> SearchIndexer {
        SearchIndexer {
            tokenizer: Tokenizer::shared(),
        }
    }
}

impl Default for SearchIndexer {
    fn default() -> Self {
        SearchIndexer::new()
    }
}

impl Indexer for SearchIndexer {
    fn name(&self) -> &str {
        TREE
    }

    fn on_insert(
        &self,
        _ctx: &IndexCtx,
        article: &Article,
        _analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        let doc = IndexedDoc::new(article, self.tokenizer);
        Writer { batch }.add(&doc, MERGE_AT)?;
        Ok(())
    }

    fn on_remove(
        &self,
        _ctx: &IndexCtx,
        article: &Article,
        _analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        Writer { batch }.remove(article.id.0)?;
        Ok(())
    }

    fn derived_trees(&self) -> Vec<String> {
        vec![TREE.to_string()]
    }
}

/// Registers the search indexer with the store unless it is already registered, so that
/// every insert and removal through this store handle keeps the index current. Call it
/// right after opening the store in any process that writes articles.
pub fn register(store: &Store) {
    if !store.indexer_names().iter().any(|n| n == TREE) {
        store.register_indexer(Arc::new(SearchIndexer::new()));
    }
}

/// Merges the pending documents into the posting blocks now (normally every
/// [`MERGE_AT`] inserts). Queries give the same answers before and after; this only moves
/// work, e.g. before a benchmark or after a large import.
pub fn merge(store: &Store) -> Result<()> {
    store.write(|batch| Writer { batch }.merge())
}

/// How far a rebuild has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Articles indexed so far.
    pub done: u64,
    /// Articles to index.
    pub total: u64,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RebuildReport {
    /// Articles indexed.
    pub articles: u64,
    /// Ids listed by the store whose article could not be read (skipped).
    pub missing: u64,
}

/// Articles per write while rebuilding; pending documents merge every this many.
const REBUILD_CHUNK: usize = 1024;

/// Rebuilds the index from the stored articles (`kessai reindex`): clears the tree, then
/// tokenises the articles in id order, `REBUILD_CHUNK` at a time on up to two threads,
/// and writes each chunk in one store write (merging as it goes).
pub fn rebuild(store: &Store, progress: &mut dyn FnMut(Progress)) -> Result<RebuildReport> {
    register(store);
    clear(store)?;
    // Ids in id order so that blocks are appended, never rewritten. Eight bytes per article.
    let mut ids: Vec<u64> = store
        .ids_newest_first()
        .map(|r| r.map(|id| id.0))
        .collect::<Result<_, StoreError>>()?;
    ids.sort_unstable();
    ids.dedup();
    let total = ids.len() as u64;
    let mut report = RebuildReport::default();
    let tokenizer = Tokenizer::shared();
    for chunk in ids.chunks(REBUILD_CHUNK) {
        let mut articles = Vec::with_capacity(chunk.len());
        for &id in chunk {
            match store.get(ArticleId(id))? {
                Some(a) => articles.push(a),
                None => report.missing += 1,
            }
        }
        let docs = tokenize_all(&articles, tokenizer);
        store.write(|batch| -> Result<()> {
            let mut w = Writer { batch };
            for doc in &docs {
                w.add(doc, u32::MAX)?;
            }
            w.merge()
        })?;
        report.articles += docs.len() as u64;
        progress(Progress {
            done: report.articles,
            total,
        });
    }
    Ok(report)
}

/// Tokenises articles on two threads (the machine this is built for has few cores).
fn tokenize_all(articles: &[Article], tokenizer: &Tokenizer) -> Vec<IndexedDoc> {
    let half = articles.len().div_ceil(2);
    if articles.len() < 16 {
        return articles
            .iter()
            .map(|a| IndexedDoc::new(a, tokenizer))
            .collect();
    }
    let (a, b) = articles.split_at(half);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            b.iter()
                .map(|x| IndexedDoc::new(x, tokenizer))
                .collect::<Vec<_>>()
        });
        let mut out: Vec<IndexedDoc> = a.iter().map(|x| IndexedDoc::new(x, tokenizer)).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            // A panic in the tokenizer thread: do that half here instead.
            Err(_) => out.extend(b.iter().map(|x| IndexedDoc::new(x, tokenizer))),
        }
        out
    })
}

/// Deletes every key of the index, in bounded writes.
fn clear(store: &Store) -> Result<()> {
    let tree = store.tree(TREE)?;
    loop {
        let keys: Vec<IVec> = tree
            .iter()
            .keys()
            .take(10_000)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                IndexError::Store(StoreError::Invalid {
                    what: "the search index".into(),
                    why: e.to_string(),
                })
            })?;
        if keys.is_empty() {
            return Ok(());
        }
        store.write(|batch| -> Result<()> {
            for k in keys {
                batch.remove(TREE, k.to_vec())?;
            }
            Ok(())
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_keys_are_prefix_free_and_bounded() {
        let a = term_key("ab");
        let b = term_key("abc");
        assert!(!postings_prefix(&b).starts_with(&postings_prefix(&a)));
        let long = "あ".repeat(100);
        let k = term_key(&long);
        assert_eq!(k.len(), 17);
        assert_eq!(k, term_key(&long));
        assert_ne!(k, term_key(&"あ".repeat(101)));
        assert_eq!(term_key("").len(), 17);
    }

    #[test]
    fn stats_round_trip() {
        let s = Stats {
            docs: 3,
            lens: [1, 2, u64::MAX],
        };
        assert_eq!(decode_stats(Some(&encode_stats(&s))).unwrap(), s);
        assert_eq!(decode_stats(None).unwrap(), Stats::default());
        assert!(decode_stats(Some(&[1, 2])).is_err());
    }
}
