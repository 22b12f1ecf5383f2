//! Atomic write sets ([`Batch`]) and the [`Indexer`] hook that lets reader modules (search,
//! alerts) add their own writes to the store's atomic writes.
//!
//! # How a write works
//!
//! Every write of the store (`insert`, `insert_many`, `set_analysis`, `set_flags`, `remove`,
//! `rebuild`, and [`Store::write`](super::Store::write)) runs under the store's single writer
//! lock and goes like this:
//!
//! 1. the store opens a [`Batch`] and puts its own writes in it (article, analysis, flags,
//!    indexes, dedup keys, counters);
//! 2. it calls every registered [`Indexer`] with the article, the analysis and the same
//!    `&mut Batch`; an indexer reads what it needs through the batch ([`Batch::get`],
//!    [`Batch::scan_prefix`], [`Batch::last_in_prefix`]) and adds its writes
//!    ([`Batch::insert`], [`Batch::remove`]) to trees it owns;
//! 3. the batch is committed in one sled transaction (one `apply_batch` when it only touches
//!    the store's own tree). Either everything is stored or nothing is: when an indexer
//!    returns an error, the article, its indexes and every other indexer's writes are dropped,
//!    and the caller gets [`StoreError::Indexer`].
//!
//! Reads through a batch see the batch's own pending writes first ("read your writes"), then
//! the committed data. Because all writes go through the one writer lock, a read-modify-write
//! inside an indexer (append to a posting block, bump a sequence number) cannot race another
//! store write in this process, and the lock file keeps other processes out.
//!
//! # Rules for indexers
//!
//! * Write only to your own trees (a name such as `"search"` or `"alerts"`); the store's own
//!   tree is not reachable by name. Keys you read-modify-write must only ever be written
//!   through a `Batch` (from an indexer callback or [`Store::write`](super::Store::write)),
//!   never through a `sled::Tree` from [`Store::tree`](super::Store::tree) directly.
//! * Do not call the `Store`'s write methods from inside a callback: the writer lock is held
//!   and the call would deadlock. Read-only calls (`get`, `page`, ...) are fine but see only
//!   committed data; read through the batch to see pending writes.
//! * Keep a callback's work bounded: it runs while every other writer waits.
//! * Look at [`IndexCtx::reason`]: during [`IndexReason::Rebuild`] the store re-derives
//!   everything from stored articles; an alert evaluator must NOT enqueue deliveries then
//!   (those articles are not new), while a search index re-adds its postings. Trees named by
//!   [`Indexer::derived_trees`] are cleared before a rebuild re-inserts every article.
//!
//! # Shapes that fit
//!
//! * **Search (inverted index).** `on_insert`: tokenize; for each term read the term's last
//!   posting block with `batch.last_in_prefix("search", term_prefix)`, append the id (or
//!   start a new block when it is full) and `batch.insert` it; keep a forward entry
//!   `doc ‖ id → terms` so that `on_remove` can find the blocks to edit. Several articles in
//!   one `insert_many` see each other's appends because reads go through the batch.
//!   `derived_trees() = ["search"]`.
//! * **Alerts (outbox).** `on_insert` with reason `New`: scan the subscriptions
//!   (`batch.scan_prefix("alerts", b"sub/")`), evaluate each, and for a match
//!   `batch.insert("alerts", outbox_key(article, sub), payload)`. The enqueue is then atomic
//!   with the article: an article is never stored without its alerts, nor alerted without
//!   being stored. Delivery later marks entries done through `store.write(...)`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use sled::IVec;

use super::Inner;
use super::error::{IndexerError, StoreError};
use crate::model::{Analysis, Article, ArticleDraft, Flags};
use crate::tokenize::ArticleTokens;

/// What an indexer's [`Indexer::prepare`] hands to its [`Indexer::on_insert_prepared`]
/// (each indexer downcasts its own).
pub type Prepared = Box<dyn std::any::Any + Send>;

/// The result an indexer callback returns; any error type converts with `?`.
pub type IndexResult = Result<(), IndexerError>;

/// Why an indexer is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexReason {
    /// A new article from ingest (`insert`, `insert_many`).
    New,
    /// The analysis of a stored article changed (`set_analysis`, retagging).
    Retag,
    /// The article is being removed.
    Remove,
    /// `rebuild`: every stored article is written again; nothing is new.
    Rebuild,
    /// The article's reading state changed (`set_flags`, `set_flags_many`).
    Flags,
}

/// Context handed to indexer callbacks.
#[derive(Debug, Clone)]
pub struct IndexCtx {
    reason: IndexReason,
    flags: Flags,
}

impl IndexCtx {
    pub(crate) fn new(reason: IndexReason) -> Self {
        Self {
            reason,
            flags: Flags::default(),
        }
    }
    pub(crate) fn with_flags(reason: IndexReason, flags: Flags) -> Self {
        Self { reason, flags }
    }
    /// The article's reading state as this write leaves it (a new article is unread; during
    /// a rebuild, the stored state).
    pub fn flags(&self) -> Flags {
        self.flags
    }
    /// Why the callback runs.
    pub fn reason(&self) -> IndexReason {
        self.reason
    }
    /// True while `rebuild` re-derives state from stored articles (do not emit side effects).
    pub fn is_rebuild(&self) -> bool {
        self.reason == IndexReason::Rebuild
    }
}

/// A module that keeps its own derived state in step with the articles, atomically.
///
/// Register with [`Store::register_indexer`](super::Store::register_indexer) before writing.
/// Each callback adds writes to `batch`; returning an error aborts the whole write. See the
/// [module docs](self) for the rules and for how search and alerts fit.
pub trait Indexer: Send + Sync {
    /// A short stable name, used in errors and reports.
    fn name(&self) -> &str;

    /// A new article (or, with [`IndexReason::Rebuild`], a stored one being re-derived).
    fn on_insert(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult;

    /// Work for a new article that needs nothing from the store (tokenizing, encoding):
    /// the store calls it in [`Store::prepare`](super::Store::prepare), before the writer
    /// lock is taken, so that several threads can do it at once. `tokens` are the tagger's,
    /// when the caller kept them. What it returns is handed to
    /// [`Indexer::on_insert_prepared`]. Default: nothing.
    fn prepare(
        &self,
        draft: &ArticleDraft,
        analysis: &Analysis,
        tokens: Option<&ArticleTokens>,
    ) -> Option<Prepared> {
        let _ = (draft, analysis, tokens);
        None
    }

    /// [`Indexer::on_insert`] for a new article with what [`Indexer::prepare`] made of it.
    /// Default: `on_insert`, the prepared value unused.
    fn on_insert_prepared(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        prepared: Prepared,
        batch: &mut Batch,
    ) -> IndexResult {
        let _ = prepared;
        self.on_insert(ctx, article, analysis, batch)
    }

    /// The article's analysis changed from `old` to `new`. Default: nothing to do.
    fn on_update(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        old: &Analysis,
        new: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        let _ = (ctx, article, old, new, batch);
        Ok(())
    }

    /// The article's reading state changed from `old` to `new`. Default: nothing to do
    /// (override it to keep per-article state that depends on read/starred).
    fn on_flags(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        old: Flags,
        new: Flags,
        batch: &mut Batch,
    ) -> IndexResult {
        let _ = (ctx, article, old, new, batch);
        Ok(())
    }

    /// The article is being removed; drop what you keep for it. Default: nothing to do
    /// (override it if you keep per-article state).
    fn on_remove(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        let _ = (ctx, article, analysis, batch);
        Ok(())
    }

    /// Trees that hold only state derived from articles: `rebuild` clears them before it
    /// calls `on_insert` for every stored article. Default: none (alerts keep subscriptions
    /// and delivery state that cannot be re-derived).
    fn derived_trees(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Pending writes per tree: key → Some(value) to insert, None to remove.
type Overlay = BTreeMap<Vec<u8>, Option<IVec>>;

/// Where a write goes: the store's own tree, or a named reader tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Main,
    Named(String),
}

/// One undo step: the overlay entry a write replaced.
type Undo = (Target, Vec<u8>, Option<Option<IVec>>);

/// An atomic write set over the store's tree and reader trees, with read-your-writes reads.
pub struct Batch {
    inner: Arc<Inner>,
    main: Overlay,
    named: BTreeMap<String, Overlay>,
    journal: Option<Vec<Undo>>,
}

impl Batch {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            main: Overlay::new(),
            named: BTreeMap::new(),
            journal: None,
        }
    }

    // ---- reader trees (public) ----

    /// Reads `key` of reader tree `tree`: this batch's pending write if any, else the stored value.
    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(pending) = self.named.get(tree).and_then(|o| o.get(key)) {
            return Ok(pending.clone());
        }
        let t = self.inner.reader_tree(tree)?;
        t.get(key).map_err(|e| self.inner.sled_err(e))
    }

    /// Entries of reader tree `tree` whose key starts with `prefix`, in key order, pending
    /// writes merged in. Returns at most `limit` entries (pass `usize::MAX` for all; mind
    /// the memory).
    pub fn scan_prefix(
        &self,
        tree: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let t = self.inner.reader_tree(tree)?;
        let stored = t.scan_prefix(prefix);
        let pending = self.named.get(tree);
        merge_prefix(stored, pending, prefix, false, limit).map_err(|e| self.inner.sled_err(e))
    }

    /// The last entry (greatest key) of reader tree `tree` under `prefix`, pending writes
    /// merged in: the "current block" of an append-only list.
    pub fn last_in_prefix(
        &self,
        tree: &str,
        prefix: &[u8],
    ) -> Result<Option<(IVec, IVec)>, StoreError> {
        let t = self.inner.reader_tree(tree)?;
        let stored = t.scan_prefix(prefix);
        let pending = self.named.get(tree);
        let mut v =
            merge_prefix(stored, pending, prefix, true, 1).map_err(|e| self.inner.sled_err(e))?;
        Ok(v.pop())
    }

    /// Adds an insert into reader tree `tree` (created on commit if new).
    pub fn insert(
        &mut self,
        tree: &str,
        key: impl Into<Vec<u8>>,
        value: impl Into<IVec>,
    ) -> Result<(), StoreError> {
        super::validate_tree_name(tree)?;
        self.write(
            Target::Named(tree.to_string()),
            key.into(),
            Some(value.into()),
        );
        Ok(())
    }

    /// Adds a removal from reader tree `tree`.
    pub fn remove(&mut self, tree: &str, key: impl Into<Vec<u8>>) -> Result<(), StoreError> {
        super::validate_tree_name(tree)?;
        self.write(Target::Named(tree.to_string()), key.into(), None);
        Ok(())
    }

    /// Number of pending writes.
    pub fn len(&self) -> usize {
        self.main.len() + self.named.values().map(BTreeMap::len).sum::<usize>()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- the store's own tree (crate only) ----

    pub(crate) fn main_get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(pending) = self.main.get(key) {
            return Ok(pending.clone());
        }
        self.inner.main.get(key).map_err(|e| self.inner.sled_err(e))
    }

    pub(crate) fn main_put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) {
        self.write(Target::Main, key.into(), Some(value.into()));
    }

    pub(crate) fn main_del(&mut self, key: impl Into<Vec<u8>>) {
        self.write(Target::Main, key.into(), None);
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    fn write(&mut self, target: Target, key: Vec<u8>, value: Option<IVec>) {
        let overlay = match &target {
            Target::Main => &mut self.main,
            Target::Named(n) => self.named.entry(n.clone()).or_default(),
        };
        let previous = overlay.insert(key.clone(), value);
        if let Some(j) = self.journal.as_mut() {
            j.push((target, key, previous));
        }
    }

    // ---- savepoints: per-article atomicity inside insert_many ----

    /// Starts recording undo information; returns the savepoint.
    pub(crate) fn savepoint(&mut self) -> usize {
        self.journal.get_or_insert_with(Vec::new).len()
    }

    /// Undoes every write made since `savepoint`.
    pub(crate) fn rollback_to(&mut self, savepoint: usize) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        while journal.len() > savepoint {
            let Some((target, key, previous)) = journal.pop() else {
                break;
            };
            let overlay = match &target {
                Target::Main => &mut self.main,
                Target::Named(n) => self.named.entry(n.clone()).or_default(),
            };
            match previous {
                Some(p) => {
                    overlay.insert(key, p);
                }
                None => {
                    overlay.remove(&key);
                }
            }
        }
    }

    /// Writes everything atomically. Does not flush.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        let Batch {
            inner, main, named, ..
        } = self;
        let named: Vec<(String, Overlay)> =
            named.into_iter().filter(|(_, o)| !o.is_empty()).collect();
        if named.is_empty() {
            if main.is_empty() {
                return Ok(());
            }
            return inner
                .main
                .apply_batch(to_sled(main))
                .map_err(|e| inner.sled_err(e));
        }
        let mut trees = vec![inner.main.clone()];
        let mut batches = vec![to_sled(main)];
        for (name, overlay) in named {
            trees.push(inner.reader_tree(&name)?);
            batches.push(to_sled(overlay));
        }
        use sled::Transactional;
        let r: sled::transaction::TransactionResult<(), ()> = trees.as_slice().transaction(|txs| {
            for (tx, b) in txs.iter().zip(&batches) {
                tx.apply_batch(b)?;
            }
            Ok(())
        });
        r.map_err(|e| match e {
            sled::transaction::TransactionError::Storage(e) => inner.sled_err(e),
            sled::transaction::TransactionError::Abort(()) => {
                StoreError::corrupt(&inner.path, "a transaction aborted without a cause")
            }
        })
    }
}

fn to_sled(overlay: Overlay) -> sled::Batch {
    let mut b = sled::Batch::default();
    for (k, v) in overlay {
        match v {
            Some(v) => b.insert(k, v),
            None => b.remove(k),
        }
    }
    b
}

/// Merges stored entries under `prefix` with pending writes; forward or reverse; at most `limit`.
fn merge_prefix(
    stored: sled::Iter,
    pending: Option<&Overlay>,
    prefix: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<Vec<(IVec, IVec)>, sled::Error> {
    let pend: Vec<(&Vec<u8>, &Option<IVec>)> = match pending {
        Some(o) => {
            let upper = match super::keys::prefix_end(prefix) {
                Some(e) => Bound::Excluded(e),
                None => Bound::Unbounded,
            };
            let mut v: Vec<_> = o
                .range::<Vec<u8>, _>((Bound::Included(prefix.to_vec()), upper))
                .collect();
            if reverse {
                v.reverse();
            }
            v
        }
        None => Vec::new(),
    };
    let mut stored: Box<dyn Iterator<Item = sled::Result<(IVec, IVec)>>> = if reverse {
        Box::new(stored.rev())
    } else {
        Box::new(stored)
    };
    let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
    let mut out = Vec::new();
    let mut pi = 0;
    let mut next_stored = stored.next().transpose()?;
    while out.len() < limit {
        let p = pend.get(pi);
        match (&next_stored, p) {
            (None, None) => break,
            (Some((sk, sv)), None) => {
                out.push((sk.clone(), sv.clone()));
                next_stored = stored.next().transpose()?;
            }
            (None, Some((pk, pv))) => {
                if let Some(v) = pv {
                    out.push((IVec::from(pk.as_slice()), v.clone()));
                }
                pi += 1;
            }
            (Some((sk, sv)), Some((pk, pv))) => {
                if sk.as_ref() == pk.as_slice() {
                    // The pending write replaces (or deletes) the stored entry.
                    if let Some(v) = pv {
                        out.push((sk.clone(), v.clone()));
                    }
                    pi += 1;
                    next_stored = stored.next().transpose()?;
                } else if before(sk.as_ref(), pk.as_slice()) {
                    out.push((sk.clone(), sv.clone()));
                    next_stored = stored.next().transpose()?;
                } else {
                    if let Some(v) = pv {
                        out.push((IVec::from(pk.as_slice()), v.clone()));
                    }
                    pi += 1;
                }
            }
        }
    }
    Ok(out)
}
