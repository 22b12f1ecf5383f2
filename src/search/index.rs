//! The inverted index, kept in the store's reader tree `search` and written only through the
//! store's [`Batch`], so an article and its postings are stored (or removed) atomically.
//!
//! # Layout (tree `search`)
//!
//! ```text
//! m/format              → u32: layout version
//! m/stats               → docs ‖ tokens in titles ‖ leads ‖ bodies (u64 each)
//! m/pending             → bucket (u32) ‖ count (u32): where new documents wait
//! m/rebuilding          → present while a rebuild runs (an interrupted one shows)
//! q ‖ id                → a waiting document: record, term directory, occurrences
//! p ‖ term ‖ first id   → posting block of a term (see `codec`)
//! D ‖ bucket            → document table of ids [bucket·256, bucket·256 + 256)
//! f ‖ facet ‖ bucket     → 256-bit set: the bucket's documents with this tag, family,
//!                         feed, or reading state
//! ```
//!
//! Facets (`t`+tag id, `y`+family, `e`+feed name, `r` unread, `s` starred) let `tag:`,
//! `tag:FAMILY`, `feed:` and `is:` be answered bucket by bucket with one small read, in the
//! id order the postings come in (the store's own indexes are in date order, which suits
//! paging, not intersecting). They are written with the article and changed on a re-tag
//! (`on_update`) and on a change of reading state (`on_flags`).
//!
//! `term` is a length byte and the folded token (or `0xFF` and a hash for tokens longer than
//! 200 bytes), so no term's keys are a prefix of another's.
//!
//! New documents wait in `q`, all in one bucket (the pending bucket, above every merged
//! one); an article costs one `q` entry, no read-modify-write of posting lists. When an id
//! of a later bucket arrives, the waiting documents are merged: each term's postings are
//! appended to its last block (a new block starts past [`BLOCK_BYTES`]) and the bucket's
//! document table is written. Blocks are term-major, so a rare term costs one small key
//! however many articles there are, and a query reads only the blocks of its own terms,
//! bucket by bucket. An older id indexed again (rare) goes straight into its bucket.
//!
//! A removed article leaves its document table (and so every query) at once; its postings
//! stay in their blocks as garbage that queries skip (they only count documents present in
//! a table) until `kessai reindex` rewrites the index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sled::IVec;

use crate::model::{Analysis, Article, ArticleDraft, ArticleId, Family, Flags};
use crate::search::codec::{self, BlockReader, Corrupt, DocInfo, DocTable, Postings, SLOTS};
use crate::search::matcher::Doc;
use crate::search::rank::Stats;
use crate::store::{Batch, IndexCtx, IndexResult, Indexer, Prepared, Store, StoreError};
use crate::taxonomy::Fnv;
use crate::tokenize::{ArticleTokens, Tokenizer};

/// The reader tree that holds the index.
pub const TREE: &str = "search";
/// Index layout version; a different one on disk means `kessai reindex`.
pub const FORMAT: u32 = 4;
/// log2 of the ids per bucket (document table).
pub const BUCKET_BITS: u32 = 8;
/// A posting block is closed once it holds this many bytes.
pub const BLOCK_BYTES: usize = 2048;
/// Longest token kept verbatim in a key; longer ones are hashed.
const MAX_TERM_BYTES: usize = 200;

pub(crate) const KEY_FORMAT: &[u8] = b"m/format";
pub(crate) const KEY_STATS: &[u8] = b"m/stats";
pub(crate) const KEY_PENDING: &[u8] = b"m/pending";
/// Present while `kessai reindex` runs; left behind by an interrupted one.
pub(crate) const KEY_REBUILDING: &[u8] = b"m/rebuilding";
pub(crate) const PENDING: u8 = b'q';
pub(crate) const POSTINGS: u8 = b'p';
pub(crate) const DOCS: u8 = b'D';
pub(crate) const FACETS: u8 = b'f';

const _: () = assert!(1usize << BUCKET_BITS == SLOTS);

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
    u32::try_from(id >> BUCKET_BITS).unwrap_or(u32::MAX)
}

/// The first id of a bucket.
pub fn bucket_base(b: u32) -> u64 {
    u64::from(b) << BUCKET_BITS
}

/// `D ‖ bucket`.
pub(crate) fn docs_key(bucket: u32) -> [u8; 5] {
    let mut k = [DOCS, 0, 0, 0, 0];
    k[1..].copy_from_slice(&bucket.to_be_bytes());
    k
}

/// The bucket of a `D` key.
pub(crate) fn docs_key_bucket(key: &[u8]) -> Result<u32, Corrupt> {
    let arr: [u8; 4] = key
        .get(1..5)
        .ok_or(Corrupt)?
        .try_into()
        .map_err(|_| Corrupt)?;
    Ok(u32::from_be_bytes(arr))
}

/// `q ‖ id`.
fn pending_key(id: u64) -> [u8; 9] {
    let mut k = [PENDING, 0, 0, 0, 0, 0, 0, 0, 0];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The id in a key ending with one (u64 BE).
pub(crate) fn key_id(key: &[u8]) -> Result<u64, Corrupt> {
    let tail = key.len().checked_sub(8).ok_or(Corrupt)?;
    let arr: [u8; 8] = key[tail..].try_into().map_err(|_| Corrupt)?;
    Ok(u64::from_be_bytes(arr))
}

/// `p ‖ term`: the prefix of a term's blocks.
pub(crate) fn postings_prefix(term_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(term_key.len() + 9);
    k.push(POSTINGS);
    k.extend_from_slice(term_key);
    k
}

/// A facet: what `tag:`, `tag:FAMILY` and `feed:` select, as key bytes.
pub(crate) fn facet(kind: u8, name: &str) -> Vec<u8> {
    let mut k = vec![FACETS, kind];
    k.extend_from_slice(&term_key(name));
    k
}

/// The facet of a tag.
pub(crate) fn tag_facet(tag: &str) -> Vec<u8> {
    facet(b't', tag)
}

/// The facet of a family.
pub(crate) fn family_facet(f: Family) -> Vec<u8> {
    facet(b'y', f.as_str())
}

/// The facet of a feed.
pub(crate) fn feed_facet(feed: &str) -> Vec<u8> {
    facet(b'e', feed)
}

/// `facet ‖ bucket`.
pub(crate) fn facet_key(facet: &[u8], bucket: u32) -> Vec<u8> {
    let mut k = facet.to_vec();
    k.extend_from_slice(&bucket.to_be_bytes());
    k
}

/// The facet of unread articles.
pub(crate) fn unread_facet() -> Vec<u8> {
    facet(b'r', "unread")
}

/// The facet of starred articles.
pub(crate) fn starred_facet() -> Vec<u8> {
    facet(b's', "starred")
}

/// The facets of reading state.
fn flag_facets(flags: Flags) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(2);
    if !flags.read {
        out.push(unread_facet());
    }
    if flags.starred {
        out.push(starred_facet());
    }
    out
}

/// The facets of an article with this analysis and reading state: its feed, tags, their
/// families, unread and starred.
pub fn facets_of(article: &Article, analysis: &Analysis, flags: Flags) -> Vec<Vec<u8>> {
    draft_facets(&article.draft, analysis, flags)
}

/// [`facets_of`] for an article not stored yet.
fn draft_facets(draft: &ArticleDraft, analysis: &Analysis, flags: Flags) -> Vec<Vec<u8>> {
    let mut out = flag_facets(flags);
    out.push(feed_facet(draft.feed.as_str()));
    for hit in &analysis.tags {
        out.push(tag_facet(hit.tag.as_str()));
        out.push(family_facet(hit.family));
    }
    out.sort();
    out.dedup();
    out
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
    /// The article id.
    pub id: u64,
    /// Record for ranking and date filters.
    pub info: DocInfo,
    /// Term key → encoded occurrences (positions in title, lead, body).
    pub terms: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Its feed, tags and families (see [`facets_of`]).
    pub facets: Vec<Vec<u8>>,
}

impl IndexedDoc {
    /// Tokenises an article as the tagger does ([`crate::tag::article_tokens`]).
    pub fn new(
        article: &Article,
        analysis: &Analysis,
        flags: Flags,
        tokenizer: &Tokenizer,
    ) -> IndexedDoc {
        let tokens = crate::tag::article_tokens(&article.draft, tokenizer);
        let mut doc = IndexedDoc::from_tokens(&tokens, &article.draft, tokenizer);
        doc.id = article.id.0;
        doc.facets = facets_of(article, analysis, flags);
        doc
    }

    /// A new article's document from the tagger's tokens (id 0 and no facets until it is
    /// stored), without building a [`Doc`]; the same as [`IndexedDoc::from_doc`] of the
    /// whole fields (tested).
    pub fn from_tokens(
        tokens: &ArticleTokens,
        draft: &ArticleDraft,
        tokenizer: &Tokenizer,
    ) -> IndexedDoc {
        let texts = [&draft.title, &draft.summary, &draft.body];
        // Keyed by the folded token, one allocation per distinct token (FNV: short keys,
        // looked up once per token).
        let mut positions: HashMap<String, [Vec<u32>; 3], Fnv> = HashMap::default();
        let mut lens = [0u32; 3];
        for (f, text) in texts.iter().enumerate() {
            let mut add = |norm: &str| {
                let p = lens[f];
                lens[f] += 1;
                match positions.get_mut(norm) {
                    Some(fields) => fields[f].push(p),
                    None => {
                        let mut fields: [Vec<u32>; 3] = Default::default();
                        fields[f].push(p);
                        positions.insert(norm.to_string(), fields);
                    }
                }
            };
            tokens.for_each_term(
                f,
                text,
                tokenizer,
                |norm, _, _| match crate::search::refine::parts(norm) {
                    Some(parts) => parts.iter().for_each(|p| add(p)),
                    None => add(norm),
                },
            );
        }
        let terms = positions
            .into_iter()
            .map(|(norm, fields)| {
                let mut occ = Vec::with_capacity(4);
                codec::put_occurrences(&mut occ, &fields);
                (term_key(&norm), occ)
            })
            .collect();
        IndexedDoc {
            id: 0,
            info: DocInfo {
                published: draft.published.timestamp_millis(),
                lens,
            },
            terms,
            facets: Vec::new(),
        }
    }

    /// From an already tokenised document.
    pub fn from_doc(id: u64, published: i64, doc: &Doc) -> IndexedDoc {
        let mut positions: BTreeMap<Vec<u8>, [Vec<u32>; 3]> = BTreeMap::new();
        for (f, field) in crate::search::matcher::FIELDS.iter().enumerate() {
            for (p, t) in doc.field(*field).iter().enumerate() {
                positions.entry(term_key(&t.norm)).or_default()[f].push(p as u32);
            }
        }
        let terms = positions
            .into_iter()
            .map(|(k, fields)| {
                let mut occ = Vec::with_capacity(4);
                codec::put_occurrences(&mut occ, &fields);
                (k, occ)
            })
            .collect();
        IndexedDoc {
            id,
            info: DocInfo {
                published,
                lens: doc.lengths(),
            },
            terms,
            facets: Vec::new(),
        }
    }

    /// `record ‖ varint(n) ‖ n × u32 offset ‖ (varint(len) key varint(len) occ)*`, terms in
    /// key order with a directory so that a query finds a term by binary search.
    fn encode(&self) -> Vec<u8> {
        let mut entries = Vec::with_capacity(self.terms.len() * 12);
        let mut offsets = Vec::with_capacity(self.terms.len());
        for (key, occ) in &self.terms {
            offsets.push(entries.len() as u32);
            codec::put_varint(&mut entries, key.len() as u64);
            entries.extend_from_slice(key);
            codec::put_varint(&mut entries, occ.len() as u64);
            entries.extend_from_slice(occ);
        }
        let mut out = Vec::with_capacity(32 + offsets.len() * 4 + entries.len());
        codec::put_doc(&mut out, &self.info);
        codec::put_varint(&mut out, offsets.len() as u64);
        for o in offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        out.extend_from_slice(&entries);
        out
    }
}

/// A waiting document as stored in `q`.
pub(crate) struct PendingDoc<'a> {
    pub id: u64,
    pub info: DocInfo,
    offsets: &'a [u8],
    entries: &'a [u8],
}

impl<'a> PendingDoc<'a> {
    /// Reads a `q` entry.
    pub fn decode(key: &[u8], value: &'a [u8]) -> Result<PendingDoc<'a>, Corrupt> {
        let id = key_id(key)?;
        let mut at = 0;
        let info = codec::get_doc(value, &mut at)?;
        let n = codec::get_varint(value, &mut at)? as usize;
        let dir_end = n
            .checked_mul(4)
            .and_then(|b| b.checked_add(at))
            .ok_or(Corrupt)?;
        let offsets = value.get(at..dir_end).ok_or(Corrupt)?;
        Ok(PendingDoc {
            id,
            info,
            offsets,
            entries: &value[dir_end..],
        })
    }

    fn terms_len(&self) -> usize {
        self.offsets.len() / 4
    }

    /// The term and occurrences of entry `i`.
    fn entry(&self, i: usize) -> Result<(&'a [u8], &'a [u8]), Corrupt> {
        let o = self.offsets.get(i * 4..i * 4 + 4).ok_or(Corrupt)?;
        let mut at = u32::from_be_bytes([o[0], o[1], o[2], o[3]]) as usize;
        let key = codec::get_sized(self.entries, &mut at)?;
        let occ = codec::get_sized(self.entries, &mut at)?;
        Ok((key, occ))
    }

    /// Every term with its occurrences.
    pub fn terms(&self) -> impl Iterator<Item = Result<(&'a [u8], &'a [u8]), Corrupt>> + '_ {
        (0..self.terms_len()).map(|i| self.entry(i))
    }

    /// The occurrences of one term, by binary search in the directory.
    pub fn find(&self, term: &[u8]) -> Result<Option<&'a [u8]>, Corrupt> {
        let (mut lo, mut hi) = (0usize, self.terms_len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (key, occ) = self.entry(mid)?;
            match key.cmp(term) {
                std::cmp::Ordering::Equal => return Ok(Some(occ)),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }
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

/// The pending bucket and how many documents wait in it.
pub(crate) fn decode_pending_meta(value: Option<&[u8]>) -> Result<(u32, u32), Corrupt> {
    match value {
        None => Ok((0, 0)),
        Some(v) if v.len() == 8 => Ok((
            u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            u32::from_be_bytes([v[4], v[5], v[6], v[7]]),
        )),
        Some(_) => Err(Corrupt),
    }
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

/// Open (not yet full) last blocks of terms, kept in memory while a rebuild appends to them
/// bucket after bucket, so that each block is written once rather than once per write.
#[derive(Default)]
pub(crate) struct Tails {
    map: HashMap<Vec<u8>, (Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

/// Memory the kept tails may take before they are written out.
const TAILS_BUDGET: usize = 64 << 20;

/// The writes of the index, all through a store [`Batch`].
pub(crate) struct Writer<'b> {
    pub batch: &'b mut Batch,
    /// During a rebuild: open blocks kept in memory.
    pub tails: Option<&'b mut Tails>,
}

impl<'b> Writer<'b> {
    /// A writer for one batch.
    pub fn new(batch: &'b mut Batch) -> Writer<'b> {
        Writer { batch, tails: None }
    }

    /// Writes every kept tail into the batch.
    fn flush_tails(&mut self) -> Result<()> {
        if let Some(tails) = self.tails.as_mut() {
            let map = std::mem::take(&mut tails.map);
            tails.bytes = 0;
            for (_, (k, v)) in map {
                self.batch.insert(TREE, k, v)?;
            }
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<IVec>> {
        Ok(self.batch.get(TREE, key)?)
    }

    fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) -> Result<()> {
        Ok(self.batch.insert(TREE, key, value)?)
    }

    fn del(&mut self, key: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.batch.remove(TREE, key)?)
    }

    fn adjust_stats(&mut self, infos: &[DocInfo], add: bool) -> Result<()> {
        if infos.is_empty() {
            return Ok(());
        }
        let mut s = decode_stats(self.get(KEY_STATS)?.as_deref())?;
        for info in infos {
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
        }
        self.put(KEY_STATS, encode_stats(&s))
    }

    fn pending_meta(&self) -> Result<(u32, u32)> {
        Ok(decode_pending_meta(self.get(KEY_PENDING)?.as_deref())?)
    }

    fn set_pending_meta(&mut self, bucket: u32, count: u32) -> Result<()> {
        let mut v = bucket.to_be_bytes().to_vec();
        v.extend_from_slice(&count.to_be_bytes());
        self.put(KEY_PENDING, v)
    }

    /// Makes sure the layout version is recorded (an empty index takes ours).
    fn stamp_format(&mut self) -> Result<()> {
        if self.get(KEY_FORMAT)?.is_none() {
            self.put(KEY_FORMAT, FORMAT.to_be_bytes().to_vec())?;
        }
        Ok(())
    }

    /// Sets or clears document `id` in the sets of these facets.
    pub fn set_facets(&mut self, id: u64, facets: &[Vec<u8>], on: bool) -> Result<()> {
        let b = bucket(id);
        let slot = (id - bucket_base(b)) as usize;
        for f in facets {
            let key = facet_key(f, b);
            let mut bits = match self.get(&key)? {
                Some(v) if v.len() == SLOTS / 8 => v.to_vec(),
                Some(_) => return Err(Corrupt.into()),
                None => vec![0; SLOTS / 8],
            };
            if on {
                bits[slot / 8] |= 1 << (slot % 8);
            } else {
                bits[slot / 8] &= !(1 << (slot % 8));
            }
            if bits.iter().all(|&x| x == 0) {
                self.del(key)?;
            } else {
                self.put(key, bits)?;
            }
        }
        Ok(())
    }

    /// Adds a document: it waits in the pending bucket, or goes straight into an older one.
    pub fn add(&mut self, doc: &IndexedDoc) -> Result<()> {
        self.stamp_format()?;
        // Written again (an id already indexed): replace it, so stats stay exact.
        self.remove(doc.id)?;
        self.set_facets(doc.id, &doc.facets, true)?;
        let b = bucket(doc.id);
        let (pending, count) = self.pending_meta()?;
        if b < pending {
            return self.write_closed(std::slice::from_ref(doc));
        }
        let count = if b > pending {
            if count > 0 {
                self.merge()?;
            }
            0
        } else {
            count
        };
        self.put(pending_key(doc.id).to_vec(), doc.encode())?;
        self.adjust_stats(&[doc.info], true)?;
        self.set_pending_meta(b, count + 1)
    }

    /// Removes a document if it is indexed; returns whether it was.
    pub fn remove(&mut self, id: u64) -> Result<bool> {
        let pk = pending_key(id);
        if let Some(v) = self.get(&pk)? {
            let info = PendingDoc::decode(&pk, &v)?.info;
            self.del(pk.to_vec())?;
            self.adjust_stats(&[info], false)?;
            let (b, n) = self.pending_meta()?;
            self.set_pending_meta(b, n.saturating_sub(1))?;
            return Ok(true);
        }
        let b = bucket(id);
        let dk = docs_key(b);
        let Some(v) = self.get(&dk)? else {
            return Ok(false);
        };
        let mut table = DocTable::from_bytes(bucket_base(b), &v)?;
        let Some(slot) = table.slot(id).filter(|&s| table.present(s)) else {
            return Ok(false);
        };
        let gone = table.info(slot);
        table.clear(slot);
        if table.count() == 0 {
            self.del(dk.to_vec())?;
        } else {
            self.put(dk.to_vec(), table.as_bytes().to_vec())?;
        }
        self.adjust_stats(&[gone], false)?;
        Ok(true)
    }

    /// Moves the waiting documents into the posting blocks and their document table.
    pub fn merge(&mut self) -> Result<()> {
        let entries = self.batch.scan_prefix(TREE, &[PENDING], usize::MAX)?;
        let (pending, _) = self.pending_meta()?;
        let mut tables: BTreeMap<u32, DocTable> = BTreeMap::new();
        let mut by_term: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for (k, v) in &entries {
            let doc = PendingDoc::decode(k, v)?;
            let b = bucket(doc.id);
            let table = match tables.entry(b) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(self.table(b)?),
            };
            if let Some(s) = table.slot(doc.id) {
                table.set(s, &doc.info);
            }
            for t in doc.terms() {
                let (term, occ) = t?;
                by_term
                    .entry(term.to_vec())
                    .or_default()
                    .push((doc.id, occ.to_vec()));
            }
        }
        for (b, table) in tables {
            self.put(docs_key(b).to_vec(), table.as_bytes().to_vec())?;
        }
        for (term, mut postings) in by_term {
            postings.sort_by_key(|p| p.0);
            self.append(&term, postings)?;
        }
        for (k, _) in entries {
            self.del(k.to_vec())?;
        }
        self.set_pending_meta(pending, 0)
    }

    /// The stored document table of a bucket, or an empty one.
    fn table(&self, b: u32) -> Result<DocTable> {
        Ok(match self.get(&docs_key(b))? {
            Some(v) => DocTable::from_bytes(bucket_base(b), &v)?,
            None => DocTable::empty(bucket_base(b)),
        })
    }

    /// Writes documents straight into their buckets (older than the pending one): tables,
    /// postings and stats. Used by rebuilds and for old ids indexed again.
    pub fn write_closed(&mut self, docs: &[IndexedDoc]) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut tables: BTreeMap<u32, DocTable> = BTreeMap::new();
        let mut by_term: BTreeMap<&[u8], Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for doc in docs {
            let b = bucket(doc.id);
            let table = match tables.entry(b) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(self.table(b)?),
            };
            if let Some(s) = table.slot(doc.id) {
                table.set(s, &doc.info);
            }
            for (term, occ) in &doc.terms {
                by_term.entry(term).or_default().push((doc.id, occ.clone()));
            }
            self.set_facets(doc.id, &doc.facets, true)?;
        }
        for (b, table) in tables {
            self.put(docs_key(b).to_vec(), table.as_bytes().to_vec())?;
        }
        for (term, mut postings) in by_term {
            postings.sort_by_key(|p| p.0);
            self.append(term, postings)?;
        }
        let infos: Vec<DocInfo> = docs.iter().map(|d| d.info).collect();
        self.adjust_stats(&infos, true)
    }

    /// Appends postings (ascending ids, each with its occurrences) to a term's blocks.
    fn append(&mut self, term: &[u8], postings: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let prefix = postings_prefix(term);
        let kept = self.tails.as_mut().and_then(|t| {
            let kv = t.map.remove(term);
            if let Some((k, v)) = &kv {
                t.bytes = t.bytes.saturating_sub(k.len() + v.len() + term.len());
            }
            kv
        });
        let last = match kept {
            Some(kv) => Some(kv),
            None => self
                .batch
                .last_in_prefix(TREE, &prefix)?
                .map(|(k, v)| (k.to_vec(), v.to_vec())),
        };
        let mut current: Option<(Vec<u8>, Vec<u8>)> = None; // the open block: key, value
        if let Some((k, v)) = last {
            if postings
                .first()
                .is_some_and(|(id, _)| block_last_id(&v).is_ok_and(|last| *id <= last))
            {
                // Older ids than the term's last: rewrite its blocks in order.
                self.put(k, v)?;
                return self.rewrite(term, postings);
            }
            current = Some((k, v));
        }
        let current = self.fill_blocks(&prefix, current, postings)?;
        let Some((k, v)) = current else {
            return Ok(());
        };
        match self.tails.as_mut() {
            Some(tails) if v.len() < BLOCK_BYTES => {
                tails.bytes += k.len() + v.len() + term.len();
                tails.map.insert(term.to_vec(), (k, v));
                if tails.bytes > TAILS_BUDGET {
                    self.flush_tails()?;
                }
                Ok(())
            }
            _ => self.put(k, v),
        }
    }

    /// Rewrites a term's blocks with `extra` postings merged in by id (rare: only when an
    /// id lower than the term's last one is indexed).
    fn rewrite(&mut self, term: &[u8], extra: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let prefix = postings_prefix(term);
        let blocks = self.batch.scan_prefix(TREE, &prefix, usize::MAX)?;
        let mut merged: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (k, v) in &blocks {
            let mut reader = BlockReader::new(key_id(k)?, v)?;
            while let Some((id, occ)) = reader.next_posting()? {
                merged.insert(id, occ.to_vec());
            }
            self.del(k.to_vec())?;
        }
        for (id, occ) in extra {
            merged.insert(id, occ);
        }
        // Written as fresh blocks through the append path (no block is left to append to).
        if let Some((k, v)) = self.fill_blocks(&prefix, None, merged)? {
            self.put(k, v)?;
        }
        Ok(())
    }

    /// Adds postings (ascending ids) to `current`, a term's open block (key, value) if any,
    /// starting a new block under `prefix` past [`BLOCK_BYTES`]; writes each block it
    /// closes and returns the one still open.
    fn fill_blocks(
        &mut self,
        prefix: &[u8],
        mut current: Option<(Vec<u8>, Vec<u8>)>,
        postings: impl IntoIterator<Item = (u64, Vec<u8>)>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        for (id, occ) in postings {
            let (key, mut value) = match current.take() {
                Some((k, v)) if v.len() < BLOCK_BYTES => (k, v),
                Some((k, v)) => {
                    self.put(k, v)?;
                    new_block(prefix, id)
                }
                None => new_block(prefix, id),
            };
            let previous = if value.len() == 8 {
                key_id(&key)?
            } else {
                block_last_id(&value)?
            };
            codec::put_varint(&mut value, id - previous);
            codec::put_varint(&mut value, occ.len() as u64);
            value.extend_from_slice(&occ);
            value[..8].copy_from_slice(&id.to_be_bytes());
            current = Some((key, value));
        }
        Ok(current)
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
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        let doc = IndexedDoc::new(article, analysis, ctx.flags(), self.tokenizer);
        Writer::new(batch).add(&doc)?;
        Ok(())
    }

    /// Tokenizes (or takes the tagger's tokens) and builds the document before the writer
    /// lock: the only part of indexing that is heavy.
    fn prepare(
        &self,
        draft: &ArticleDraft,
        analysis: &Analysis,
        tokens: Option<&ArticleTokens>,
    ) -> Option<Prepared> {
        let own;
        let tokens = match tokens {
            Some(t) => t,
            None => {
                own = crate::tag::article_tokens(draft, self.tokenizer);
                &own
            }
        };
        let mut indexed = IndexedDoc::from_tokens(tokens, draft, self.tokenizer);
        // A new article is unread and not starred.
        indexed.facets = draft_facets(draft, analysis, Flags::default());
        Some(Box::new(indexed))
    }

    fn on_insert_prepared(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        prepared: Prepared,
        batch: &mut Batch,
    ) -> IndexResult {
        match prepared.downcast::<IndexedDoc>() {
            Ok(mut doc) if ctx.flags() == Flags::default() => {
                doc.id = article.id.0;
                Writer::new(batch).add(&doc)?;
                Ok(())
            }
            _ => self.on_insert(ctx, article, analysis, batch),
        }
    }

    fn on_update(
        &self,
        _ctx: &IndexCtx,
        article: &Article,
        old: &Analysis,
        new: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        // Reading state is not part of a re-tag: the same on both sides, it drops out.
        let before = facets_of(article, old, Flags::default());
        let after = facets_of(article, new, Flags::default());
        let gone: Vec<Vec<u8>> = before
            .iter()
            .filter(|f| !after.contains(f))
            .cloned()
            .collect();
        let came: Vec<Vec<u8>> = after
            .iter()
            .filter(|f| !before.contains(f))
            .cloned()
            .collect();
        let mut w = Writer::new(batch);
        w.set_facets(article.id.0, &gone, false)?;
        w.set_facets(article.id.0, &came, true)?;
        Ok(())
    }

    fn on_remove(
        &self,
        _ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        let mut w = Writer::new(batch);
        w.remove(article.id.0)?;
        let mut facets = facets_of(article, analysis, Flags::default());
        facets.push(starred_facet());
        w.set_facets(article.id.0, &facets, false)?;
        Ok(())
    }

    fn on_flags(
        &self,
        _ctx: &IndexCtx,
        article: &Article,
        old: Flags,
        new: Flags,
        batch: &mut Batch,
    ) -> IndexResult {
        let before = flag_facets(old);
        let after = flag_facets(new);
        let gone: Vec<Vec<u8>> = before
            .iter()
            .filter(|f| !after.contains(f))
            .cloned()
            .collect();
        let came: Vec<Vec<u8>> = after
            .iter()
            .filter(|f| !before.contains(f))
            .cloned()
            .collect();
        let mut w = Writer::new(batch);
        w.set_facets(article.id.0, &gone, false)?;
        w.set_facets(article.id.0, &came, true)?;
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

/// Merges the waiting documents into the posting blocks now (normally done when the next
/// bucket of ids starts). Queries give the same answers before and after.
pub fn merge(store: &Store) -> Result<()> {
    store.write(|batch| Writer::new(batch).merge())
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

/// Buckets written per store write while rebuilding.
const REBUILD_BUCKETS: usize = 4;

/// Rebuilds the index from the stored articles (`kessai reindex`): clears the tree, then
/// tokenises the articles bucket by bucket in id order on up to two threads, writing the
/// finished buckets straight into blocks and tables (a few buckets per store write); the
/// last bucket waits in `q` like new articles do. Run it with no other writer in the
/// process (the CLI holds the store alone).
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
    let last = ids.last().map_or(0, |&id| bucket(id));
    store.write(|batch| -> Result<()> {
        let mut w = Writer::new(batch);
        w.stamp_format()?;
        w.put(KEY_REBUILDING, vec![1])?;
        w.set_pending_meta(last, 0)
    })?;
    let mut report = RebuildReport::default();
    let tokenizer = Tokenizer::shared();
    let mut tails = Tails::default();
    let mut groups: Vec<&[u64]> = ids.chunk_by(|a, b| bucket(*a) == bucket(*b)).collect();
    while !groups.is_empty() {
        let take = groups.len().min(REBUILD_BUCKETS);
        let chunk: Vec<&[u64]> = groups.drain(..take).collect();
        let mut articles = Vec::new();
        for &id in chunk.iter().flat_map(|g| g.iter()) {
            match store.get(ArticleId(id))? {
                Some(a) => {
                    let analysis = store.analysis(ArticleId(id))?.unwrap_or_default();
                    let flags = store.flags(ArticleId(id))?.unwrap_or_default();
                    articles.push((a, analysis, flags));
                }
                None => report.missing += 1,
            }
        }
        let docs = tokenize_all(&articles, tokenizer);
        store.write(|batch| -> Result<()> {
            let mut w = Writer {
                batch,
                tails: Some(&mut tails),
            };
            let (closed, waiting): (Vec<&IndexedDoc>, Vec<&IndexedDoc>) =
                docs.iter().partition(|d| bucket(d.id) < last);
            let closed: Vec<IndexedDoc> = closed.into_iter().cloned().collect();
            w.write_closed(&closed)?;
            for d in waiting {
                w.add(d)?;
            }
            Ok(())
        })?;
        report.articles += docs.len() as u64;
        progress(Progress {
            done: report.articles,
            total,
        });
    }
    store.write(|batch| -> Result<()> {
        let mut w = Writer {
            batch,
            tails: Some(&mut tails),
        };
        w.flush_tails()?;
        w.del(KEY_REBUILDING)
    })?;
    Ok(report)
}

/// Tokenises articles on two threads (the machine this is built for has few cores).
fn tokenize_all(articles: &[(Article, Analysis, Flags)], tokenizer: &Tokenizer) -> Vec<IndexedDoc> {
    let one = |(a, an, fl): &(Article, Analysis, Flags)| IndexedDoc::new(a, an, *fl, tokenizer);
    if articles.len() < 16 {
        return articles.iter().map(one).collect();
    }
    let (a, b) = articles.split_at(articles.len().div_ceil(2));
    std::thread::scope(|s| {
        let other = s.spawn(|| b.iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<IndexedDoc> = a.iter().map(one).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            // A panic in the tokenizer thread: do that half here instead.
            Err(_) => out.extend(b.iter().map(one)),
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

/// Decodes the postings of `term` for the waiting documents into `out` (ids ascending).
pub(crate) fn pending_postings(
    docs: &[PendingDoc<'_>],
    term: &[u8],
    out: &mut Postings,
) -> Result<(), Corrupt> {
    for d in docs {
        if let Some(occ) = d.find(term)? {
            out.push_occ(d.id, occ)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft(title: &str, summary: &str, body: &str) -> ArticleDraft {
        let t = chrono::DateTime::from_timestamp(1_600_000_000, 0).unwrap_or_default();
        ArticleDraft {
            feed: crate::model::FeedId::new("f"),
            url: "http://127.0.0.1/a".into(),
            guid: None,
            title: title.into(),
            summary: summary.into(),
            body: body.into(),
            published: t,
            fetched: t,
            content_hash: String::new(),
        }
    }

    /// The document ingest indexes (the tagger's tokens, boilerplate lines tokenized on
    /// demand) against the whole fields tokenized at once.
    fn assert_same_as_whole_fields(d: &ArticleDraft) {
        let tok = Tokenizer::shared();
        let (_, tokens) = crate::tag::Tagger::shared().analyze_with_tokens(d);
        let from_tokens = IndexedDoc::from_tokens(&tokens, d, tok);
        let whole = IndexedDoc::from_doc(
            0,
            d.published.timestamp_millis(),
            &Doc::from_texts([&d.title, &d.summary, &d.body], tok),
        );
        assert_eq!(from_tokens, whole, "title {:?}", d.title);
        let stored = Article {
            id: ArticleId(0),
            draft: d.clone(),
        };
        let mut rebuilt = IndexedDoc::new(&stored, &Analysis::default(), Flags::default(), tok);
        rebuilt.facets.clear();
        assert_eq!(from_tokens, rebuilt, "rebuild differs: {:?}", d.title);
    }

    #[test]
    fn tagger_tokens_index_like_whole_fields() {
        let body = "セブンペイで不正アクセスが発生しました。\n\n関連記事\n・別の記事の見出し\n・もう一つ\n\n  第二段落、J-Coin Payの二段階認証。\nPAGE TOP\n(c) 2024 Example Inc. All rights reserved.\n最後の行";
        for d in [
            draft(
                "ドコモ口座の不正出金",
                "要約の一文。\n\n二つ目の段落。",
                body,
            ),
            draft("リードは本文から", "", body),
            draft("", "", ""),
            draft("   ", " \n ", "\n\n\n"),
            draft("Title only", "", "関連記事\n・一覧だけ"),
            draft("長い行", "", &"キャッシュレス決済の不正利用".repeat(400)),
        ] {
            assert_same_as_whole_fields(&d);
        }
    }

    #[test]
    fn tagger_tokens_index_like_whole_fields_on_the_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/sites");
        let limits = crate::config::Limits::default();
        let mut stack = vec![root];
        let mut pages = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "html") {
                    continue;
                }
                let Ok(bytes) = std::fs::read(&p) else {
                    continue;
                };
                let Ok(text) = crate::charset::decode(&bytes, None, crate::charset::DocKind::Html)
                else {
                    continue;
                };
                let Ok(page) = crate::extract::extract(&text.text, None, &limits) else {
                    continue;
                };
                let title = page.page_title.clone().unwrap_or_default();
                let lead = page.text.lines().next().unwrap_or_default().to_string();
                assert_same_as_whole_fields(&draft(&title, &lead, &page.text));
                assert_same_as_whole_fields(&draft(&title, "", &page.text));
                pages += 1;
            }
        }
        assert!(pages > 100, "only {pages} corpus pages read");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tagger_tokens_index_like_whole_fields_on_any_lines(
            lines in proptest::collection::vec(prop_oneof![
                Just(String::new()),
                Just("関連記事".to_string()),
                Just("・リストの項目".to_string()),
                Just("PAGE TOP".to_string()),
                Just("シェアする".to_string()),
                "[ぁ-んァ-ヶ一-龠a-zA-Z0-9、。 ]{0,40}",
                Just("7payの不正利用、被害額は約3,861万円。".to_string()),
            ], 0..14),
            summary in "[ぁ-んァ-ヶ一-龠、。\n]{0,30}",
        ) {
            let body = lines.join("\n");
            assert_same_as_whole_fields(&draft("見出し", &summary, &body));
        }
    }

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
    fn stats_and_meta_round_trip() {
        let s = Stats {
            docs: 3,
            lens: [1, 2, u64::MAX],
        };
        assert_eq!(decode_stats(Some(&encode_stats(&s))).unwrap(), s);
        assert_eq!(decode_stats(None).unwrap(), Stats::default());
        assert!(decode_stats(Some(&[1, 2])).is_err());
        assert_eq!(decode_pending_meta(None).unwrap(), (0, 0));
        assert!(decode_pending_meta(Some(&[1])).is_err());
    }

    /// Ids arriving out of order (older buckets after newer ones) go straight into their
    /// buckets and are found like the others.
    #[test]
    fn out_of_order_ids_are_indexed() {
        use crate::search::{Engine, Sort, parse};
        let store = Store::open_temporary().unwrap();
        let tok = Tokenizer::shared();
        let doc = |id: u64, text: &str| {
            IndexedDoc::from_doc(id, id as i64 * 1000, &Doc::from_texts([text, "", ""], tok))
        };
        let order = [
            (700u64, "京都の決済"),
            (5, "京都"),
            (300, "決済"),
            (701, "東京都"),
            (6, "京都と決済"),
        ];
        for (id, text) in order {
            store
                .write(|batch| -> Result<()> { Writer::new(batch).add(&doc(id, text)) })
                .unwrap();
        }
        let engine = Engine::new(&store).unwrap();
        let ids = |q: &str| {
            let c = engine.compile(&parse(q).unwrap()).unwrap();
            let mut v: Vec<u64> = engine
                .rank(&c, Sort::Date, 100, None)
                .unwrap()
                .items
                .iter()
                .map(|s| s.id)
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(ids("京都"), vec![5, 6, 700]);
        assert_eq!(ids("決済"), vec![6, 300, 700]);
        assert_eq!(ids("東京"), vec![701]);
        assert_eq!(ids("-京都"), vec![300, 701]);
        // Removing an old one, merging, and indexing it again.
        store
            .write(|batch| -> Result<bool> { Writer::new(batch).remove(5) })
            .unwrap();
        assert_eq!(ids("京都"), vec![6, 700]);
        merge(&store).unwrap();
        store
            .write(|batch| -> Result<()> { Writer::new(batch).add(&doc(5, "京都")) })
            .unwrap();
        assert_eq!(ids("京都"), vec![5, 6, 700]);
        let stats =
            decode_stats(store.tree(TREE).unwrap().get(KEY_STATS).unwrap().as_deref()).unwrap();
        assert_eq!(stats.docs, 5);
    }

    #[test]
    fn pending_documents_find_terms_by_binary_search() {
        let mut terms = BTreeMap::new();
        for t in ["京都", "決済", "a", "zz"] {
            let mut occ = Vec::new();
            codec::put_occurrences(&mut occ, &[vec![1], vec![], vec![2, 5]]);
            terms.insert(term_key(t), occ);
        }
        let doc = IndexedDoc {
            id: 700,
            info: DocInfo {
                published: 5,
                lens: [1, 2, 3],
            },
            terms,
            facets: Vec::new(),
        };
        let bytes = doc.encode();
        let key = pending_key(700);
        let p = PendingDoc::decode(&key, &bytes).unwrap();
        assert_eq!(p.id, 700);
        assert_eq!(p.info, doc.info);
        assert_eq!(p.terms().count(), 4);
        for t in ["京都", "決済", "a", "zz"] {
            assert!(p.find(&term_key(t)).unwrap().is_some(), "{t}");
        }
        assert!(p.find(&term_key("b")).unwrap().is_none());
        let mut out = Postings::new();
        pending_postings(&[p], &term_key("決済"), &mut out).unwrap();
        assert_eq!(out.ids, vec![700]);
        assert_eq!(out.counts, vec![[1, 0, 2]]);
        for cut in 0..bytes.len() {
            if let Ok(p) = PendingDoc::decode(&key, &bytes[..cut]) {
                let _ = p.find(&term_key("zz"));
                let _ = p.terms().collect::<Vec<_>>();
            }
        }
    }
}
