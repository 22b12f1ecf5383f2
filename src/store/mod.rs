//! The sled store: articles, analyses, reading state, feed state, and the indexes and
//! counters readers page through. The ONLY module that touches sled.
//!
//! # Layout
//!
//! Everything the store owns lives in sled's default tree, one prefix byte per kind of
//! record (see [`keys`]): articles, analyses and flags by id; a date index, per-feed,
//! per-tag, per-family, unread and starred indexes (all keyed `… ‖ time ‖ id`, newest first
//! with a reverse scan); dedup keys for canonical url, feed+guid and content hash; per-feed
//! state; and counters (global, per feed, per tag, per family) that every write keeps in
//! step, so that a sidebar never scans articles. Reader modules get their own named trees
//! ([`Store::tree`]) and can make their writes atomic with the store's through the
//! [`Indexer`] hook or [`Store::write`].
//!
//! # Durability
//!
//! Every write is atomic (one sled batch or transaction). sled makes writes durable in the
//! background; call [`Store::flush`] before telling anyone an article is stored.
//!
//! # Concurrency
//!
//! A [`Store`] is a cheap handle (`Clone`, `Send + Sync`). Writes are serialised by one
//! writer lock inside the process; `kessai.lock` keeps other processes out
//! ([`StoreError::InUse`]).

mod batch;
mod check;
mod codec;
mod error;
pub mod keys;
mod lock;
mod query;
mod schema;
mod write;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Analysis, Article, ArticleDraft, ArticleId, Family, FeedId, Flags, TagId};
use crate::tokenize::ArticleTokens;

pub use batch::{Batch, IndexCtx, IndexReason, IndexResult, Indexer, Prepared};
pub use check::{CheckReport, RebuildProgress, RebuildReport, Violation};
pub use error::{IndexerError, StoreError};
pub use lock::LOCK_FILE;
pub use query::{Cursor, ListFilter, Page};
pub use schema::{MARKER_FILE, Migration, SCHEMA_VERSION};
pub use write::PreparedArticle;

/// Results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Default sled page-cache size: keeps memory flat however large the store grows.
pub const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// Default bound on index entries one [`Store::page`] call examines.
pub const DEFAULT_PAGE_SCAN_BUDGET: usize = 20_000;

/// What [`Store::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored under a new id.
    New(ArticleId),
    /// Already stored (same canonical url, same feed+guid, or same content hash) under this id.
    Duplicate(ArticleId),
}

impl Inserted {
    /// The article's id, new or existing.
    pub fn id(self) -> ArticleId {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
    /// True when the article was stored now.
    pub fn is_new(self) -> bool {
        matches!(self, Inserted::New(_))
    }
}

/// Article counts of one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedCount {
    /// The feed.
    pub feed: FeedId,
    /// Stored articles.
    pub total: u64,
    /// Of which unread.
    pub unread: u64,
}

/// Article counts of one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    /// The tag.
    pub tag: TagId,
    /// Its family.
    pub family: Family,
    /// Articles carrying it.
    pub total: u64,
    /// Of which unread.
    pub unread: u64,
}

/// What kessai remembers about fetching one feed. Unknown fields in stored JSON are
/// ignored and missing ones default, so fields can be added; construct with
/// `FeedState { etag: …, ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedState {
    /// The last `ETag` validator the server sent.
    pub etag: Option<String>,
    /// The last `Last-Modified` validator the server sent.
    pub last_modified: Option<String>,
    /// When the last fetch started.
    pub last_attempt: Option<DateTime<Utc>>,
    /// When a fetch last succeeded (including 304 Not Modified).
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure's one-line reason (kept after a later success, for the record).
    pub last_error: Option<String>,
    /// Failures ever recorded.
    pub error_count: u64,
    /// Failures since the last success (0 when the feed is healthy).
    pub consecutive_failures: u32,
    /// HTTP status of the last response, when there was one.
    pub last_status: Option<u16>,
}

impl FeedState {
    /// Records a successful fetch at `at`.
    pub fn record_success(&mut self, at: DateTime<Utc>) {
        self.last_attempt = Some(at);
        self.last_success = Some(at);
        self.consecutive_failures = 0;
    }
    /// Records a failed fetch at `at` with its reason.
    pub fn record_failure(&mut self, at: DateTime<Utc>, error: impl Into<String>) {
        self.last_attempt = Some(at);
        self.last_error = Some(error.into());
        self.error_count = self.error_count.saturating_add(1);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
    }
}

/// Tunables for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page-cache size in bytes ([`DEFAULT_CACHE_CAPACITY`]).
    pub cache_capacity: u64,
    /// How often sled flushes in the background (ms); `None` only on [`Store::flush`].
    pub flush_every_ms: Option<u64>,
    /// Bound on index entries one `page` call examines ([`DEFAULT_PAGE_SCAN_BUDGET`]).
    pub page_scan_budget: usize,
    /// Open a store that lost flushed data (after damage) and keep what survived, instead
    /// of refusing it with [`StoreError::Corrupt`]. For `kessai store rebuild --accept-loss`.
    pub accept_data_loss: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            flush_every_ms: Some(500),
            page_scan_budget: DEFAULT_PAGE_SCAN_BUDGET,
            accept_data_loss: false,
        }
    }
}

/// Facts about an open store, for `kessai store info`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreInfo {
    /// The store folder.
    pub path: PathBuf,
    /// Schema version on disk.
    pub schema_version: u32,
    /// Articles stored.
    pub articles: u64,
    /// Unread articles.
    pub unread: u64,
    /// Starred articles.
    pub starred: u64,
    /// Feeds with at least one article.
    pub feeds: u64,
    /// Tags on at least one article.
    pub tags: u64,
    /// Feeds with a recorded state.
    pub feed_states: u64,
    /// Bytes sled uses on disk.
    pub size_on_disk: u64,
    /// Reader trees (search, alerts, ...).
    pub trees: Vec<String>,
    /// An interrupted rebuild must be run again.
    pub rebuild_pending: bool,
}

/// The store handle. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Shared state behind every handle.
pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    /// The default tree: everything the store owns.
    pub(crate) main: sled::Tree,
    pub(crate) path: PathBuf,
    pub(crate) options: StoreOptions,
    writer: Mutex<()>,
    /// Serialises marker-file rewrites between concurrent flushes.
    marker: Mutex<()>,
    indexers: RwLock<Vec<Arc<dyn Indexer>>>,
    /// Dropped last, after sled has flushed and closed.
    _lock: Option<lock::StoreLock>,
}

impl Inner {
    pub(crate) fn sled_err(&self, e: sled::Error) -> StoreError {
        StoreError::from_sled(&self.path, e)
    }

    /// A reader tree by name (validated).
    pub(crate) fn reader_tree(&self, name: &str) -> Result<sled::Tree> {
        validate_tree_name(name)?;
        self.db.open_tree(name).map_err(|e| self.sled_err(e))
    }

    /// The writer lock; a panic in another writer does not poison the store (the lock guards
    /// no data, and sled writes are atomic).
    fn writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn indexers(&self) -> Vec<Arc<dyn Indexer>> {
        self.indexers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Checks a reader tree name: 1–64 of `a-z 0-9 _ - . /`, not sled's own.
pub(crate) fn validate_tree_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with("__sled")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-./".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: format!("tree name {name:?}"),
            why: "use 1–64 characters of a-z, 0-9, _ - . /".into(),
        })
    }
}

/// The default store folder: `$KESSAI_STORE`, else the platform data dir
/// (`~/.local/share/kessai/store` on Linux), else `./kessai-store`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KESSAI_STORE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    directories::ProjectDirs::from("", "", "kessai")
        .map(|d| d.data_dir().join("store"))
        .unwrap_or_else(|| PathBuf::from("kessai-store"))
}

impl Store {
    /// Opens (creating if needed) the store in folder `path` with default options.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens the store with explicit options. Takes `kessai.lock`, opens sled, then sets up
    /// or migrates the schema.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store> {
        refuse_foreign_folder(path)?;
        std::fs::create_dir_all(path)
            .map_err(|e| StoreError::from_io(path, "create the store folder", e))?;
        let lock = lock::StoreLock::acquire(path)?;
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_capacity)
            .flush_every_ms(options.flush_every_ms);
        Self::finish_open(path, config, options, Some(lock))
    }

    /// A fresh store in a temporary folder, deleted when the last handle drops. For tests.
    pub fn open_temporary() -> Result<Store> {
        Self::open_temporary_with(StoreOptions::default())
    }

    /// [`Store::open_temporary`] with explicit options.
    pub fn open_temporary_with(options: StoreOptions) -> Result<Store> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "kessai-store-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        let config = sled::Config::new()
            .path(&path)
            .temporary(true)
            .cache_capacity(options.cache_capacity)
            .flush_every_ms(options.flush_every_ms);
        Self::finish_open(&path, config, options, None)
    }

    fn finish_open(
        path: &Path,
        config: sled::Config,
        options: StoreOptions,
        lock: Option<lock::StoreLock>,
    ) -> Result<Store> {
        // sled may panic instead of returning an error on some damaged files; a damaged
        // store must be a typed error, not a crash.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(StoreError::from_sled_open(path, e)),
            Err(_) => {
                return Err(StoreError::Unreadable {
                    path: path.to_path_buf(),
                    detail: "sled could not read its files".into(),
                });
            }
        };
        let main: sled::Tree = (*db).clone();
        let inner = Arc::new(Inner {
            db,
            main,
            path: path.to_path_buf(),
            options,
            writer: Mutex::new(()),
            marker: Mutex::new(()),
            indexers: RwLock::new(Vec::new()),
            _lock: lock,
        });
        schema::prepare(&inner, schema::MIGRATIONS)?;
        Ok(Store { inner })
    }

    /// The store folder.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<u32> {
        schema::version(&self.inner).map(|v| v.unwrap_or(0))
    }

    /// Registers an indexer: from now on every write calls it (see [`Indexer`]). An indexer
    /// whose name is already registered is not added again, so attaching twice is harmless.
    pub fn register_indexer(&self, indexer: Arc<dyn Indexer>) {
        let _w = self.inner.writer();
        let mut indexers = self
            .inner
            .indexers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if !indexers.iter().any(|i| i.name() == indexer.name()) {
            indexers.push(indexer);
        }
    }

    /// Names of the registered indexers.
    pub fn indexer_names(&self) -> Vec<String> {
        self.inner
            .indexers()
            .iter()
            .map(|i| i.name().to_string())
            .collect()
    }

    // ------------------------------------------------------------------ writes

    /// Stores a new article with its analysis, unless it duplicates a stored one (same
    /// canonical url, same feed+guid, or same content hash). Article, analysis, flags
    /// (unread), indexes, counters, dedup keys and every indexer's writes are one atomic
    /// write. Not yet durable: call [`Store::flush`] before reporting it stored.
    pub fn insert(&self, draft: ArticleDraft, analysis: &Analysis) -> Result<Inserted> {
        let prepared = self.prepare(draft, analysis.clone(), None);
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        let r = write::insert(&mut batch, &indexers, prepared)?;
        batch.commit()?;
        Ok(r)
    }

    /// Stores many articles in one atomic write (much faster than one `insert` each).
    /// Each article is all-or-nothing on its own: one that an indexer refuses is left out
    /// and reported in its slot, the others are stored. Articles later in the list see
    /// earlier ones for dedup. The outer error means nothing was stored.
    pub fn insert_many(
        &self,
        items: Vec<(ArticleDraft, Analysis)>,
    ) -> Result<Vec<Result<Inserted>>> {
        let prepared = items
            .into_iter()
            .map(|(draft, analysis)| self.prepare(draft, analysis, None))
            .collect();
        self.insert_prepared(prepared)
    }

    /// Makes a new article ready to store: checks and encodes it and lets every registered
    /// indexer do its share of the work (tokenizing for the search index) with `tokens`,
    /// the tagger's, when given. Takes no lock, so callers on several threads prepare at
    /// once and hold the writer lock only for [`Store::insert_prepared`].
    pub fn prepare(
        &self,
        draft: ArticleDraft,
        analysis: Analysis,
        tokens: Option<&ArticleTokens>,
    ) -> PreparedArticle {
        write::prepare(&self.inner.indexers(), draft, analysis, tokens)
    }

    /// [`Store::insert_many`] of prepared articles.
    pub fn insert_prepared(&self, items: Vec<PreparedArticle>) -> Result<Vec<Result<Inserted>>> {
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        let mut out = Vec::with_capacity(items.len());
        for p in items {
            let sp = batch.savepoint();
            match write::insert(&mut batch, &indexers, p) {
                Ok(r) => out.push(Ok(r)),
                Err(e) => {
                    batch.rollback_to(sp);
                    out.push(Err(e));
                }
            }
        }
        batch.commit()?;
        Ok(out)
    }

    /// The stored article with this draft's url, feed+guid or content hash, if any.
    pub fn find_duplicate(&self, draft: &ArticleDraft) -> Result<Option<ArticleId>> {
        let keys = keys::dedup_keys(
            &draft.feed,
            &draft.url,
            draft.guid.as_deref(),
            &draft.content_hash,
        );
        self.first_dedup_hit(&keys)
    }

    /// The stored article with this canonical url or feed+guid, if any: lets ingest skip
    /// fetching the page of an article it already has.
    pub fn known(&self, feed: &FeedId, url: &str, guid: Option<&str>) -> Result<Option<ArticleId>> {
        self.first_dedup_hit(&keys::dedup_keys(feed, url, guid, ""))
    }

    fn first_dedup_hit(&self, keys: &[Vec<u8>]) -> Result<Option<ArticleId>> {
        for k in keys {
            if let Some(v) = self.inner.main.get(k).map_err(|e| self.inner.sled_err(e))? {
                return Ok(ArticleId::from_be_slice(&v));
            }
        }
        Ok(None)
    }

    /// Replaces an article's analysis (retagging): tag and family indexes, tag counters and
    /// every indexer's `on_update` change in the same atomic write.
    pub fn set_analysis(&self, id: ArticleId, analysis: &Analysis) -> Result<()> {
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        write::set_analysis(&mut batch, &indexers, id, analysis, IndexReason::Retag)?;
        batch.commit()
    }

    /// Sets read/starred; unread and starred indexes and counters follow atomically.
    pub fn set_flags(&self, id: ArticleId, flags: Flags) -> Result<()> {
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        write::set_flags(&mut batch, &indexers, id, flags)?;
        batch.commit()
    }

    /// Sets the flags of many articles in one atomic write ("mark all read"). Ids that are
    /// not stored are skipped; returns how many changed.
    pub fn set_flags_many(&self, changes: &[(ArticleId, Flags)]) -> Result<usize> {
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        let mut changed = 0;
        for &(id, flags) in changes {
            match write::set_flags(&mut batch, &indexers, id, flags) {
                Ok(true) => changed += 1,
                Ok(false) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        batch.commit()?;
        Ok(changed)
    }

    /// Removes an article and everything derived from it (indexes, counters, dedup keys,
    /// indexers' state via `on_remove`). Returns false when it was not stored.
    pub fn remove(&self, id: ArticleId) -> Result<bool> {
        let _w = self.inner.writer();
        let indexers = self.inner.indexers();
        let mut batch = Batch::new(self.inner.clone());
        let removed = write::remove(&mut batch, &indexers, id)?;
        batch.commit()?;
        Ok(removed)
    }

    /// Runs `f` with a fresh [`Batch`] under the writer lock and commits its writes
    /// atomically. For reader modules' own writes that must not race indexer callbacks
    /// (alerts marking deliveries done, search maintenance). Nothing is written if `f`
    /// returns an error.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Batch) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let _w = self.inner.writer();
        let mut batch = Batch::new(self.inner.clone());
        let out = f(&mut batch)?;
        batch.commit()?;
        Ok(out)
    }

    /// Stores a feed's state.
    pub fn set_feed_state(&self, feed: &FeedId, state: &FeedState) -> Result<()> {
        write::check_name("feed id", feed.as_str())?;
        let v = serde_json::to_vec(state).map_err(|e| StoreError::Invalid {
            what: format!("state of feed {feed}"),
            why: e.to_string(),
        })?;
        let _w = self.inner.writer();
        self.inner
            .main
            .insert(keys::feed_state(feed), v)
            .map_err(|e| self.inner.sled_err(e))?;
        Ok(())
    }

    /// Makes every write so far durable. Call before reporting articles as stored.
    /// Also records the flushed id watermark that lets a later open notice lost data.
    pub fn flush(&self) -> Result<()> {
        let next = schema::next_id(&self.inner)?;
        self.inner.db.flush().map_err(|e| self.inner.sled_err(e))?;
        let version = self.schema_version()?;
        let _m = self.inner.marker.lock().unwrap_or_else(|p| p.into_inner());
        match schema::read_marker(&self.inner) {
            Some(m) if m.flushed_next_id >= next && m.schema == version => Ok(()),
            _ => schema::write_marker(
                &self.inner,
                schema::Marker {
                    schema: version,
                    flushed_next_id: next,
                },
            ),
        }
    }

    // ------------------------------------------------------------------ reads

    /// An article by id.
    pub fn get(&self, id: ArticleId) -> Result<Option<Article>> {
        read::article(&self.inner, id)
    }

    /// An article's analysis.
    pub fn analysis(&self, id: ArticleId) -> Result<Option<Analysis>> {
        read::analysis(&self.inner, id)
    }

    /// An article's flags (`None` when the article is not stored).
    pub fn flags(&self, id: ArticleId) -> Result<Option<Flags>> {
        read::flags(&self.inner, id)
    }

    /// A feed's state (`None` before its first fetch).
    pub fn feed_state(&self, feed: &FeedId) -> Result<Option<FeedState>> {
        match self
            .inner
            .main
            .get(keys::feed_state(feed))
            .map_err(|e| self.inner.sled_err(e))?
        {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| {
                StoreError::corrupt(&self.inner.path, format!("state of feed {feed}: {e}"))
            }),
        }
    }

    /// Every feed's state, by feed id.
    pub fn feed_states(&self) -> Result<Vec<(FeedId, FeedState)>> {
        let mut out = Vec::new();
        for kv in self.inner.main.scan_prefix([keys::FEED_STATE]) {
            let (k, v) = kv.map_err(|e| self.inner.sled_err(e))?;
            let feed = FeedId::new(String::from_utf8_lossy(&k[1..]).into_owned());
            let st = serde_json::from_slice(&v).map_err(|e| {
                StoreError::corrupt(&self.inner.path, format!("state of feed {feed}: {e}"))
            })?;
            out.push((feed, st));
        }
        Ok(out)
    }

    /// Number of stored articles (a counter, not a scan).
    pub fn article_count(&self) -> Result<u64> {
        Ok(read::totals(&self.inner)?.total)
    }

    /// Number of unread articles.
    pub fn unread_count(&self) -> Result<u64> {
        Ok(read::totals(&self.inner)?.unread)
    }

    /// Number of starred articles.
    pub fn starred_count(&self) -> Result<u64> {
        Ok(read::totals(&self.inner)?.starred)
    }

    /// Per-feed totals and unread counts, by feed id (feeds with no article are absent).
    pub fn feed_counts(&self) -> Result<Vec<FeedCount>> {
        read::feed_counts(&self.inner)
    }

    /// Per-tag article counts with the tag's family, by tag id.
    pub fn tag_counts(&self) -> Result<Vec<(TagId, Family, u64)>> {
        Ok(read::tag_counts(&self.inner)?
            .into_iter()
            .map(|t| (t.tag, t.family, t.total))
            .collect())
    }

    /// Per-tag totals and unread counts, by tag id.
    pub fn tag_counts_detailed(&self) -> Result<Vec<TagCount>> {
        read::tag_counts(&self.inner)
    }

    /// Per-family counts: (family, articles with a tag of it, of which unread).
    pub fn family_counts(&self) -> Result<Vec<(Family, u64, u64)>> {
        read::family_counts(&self.inner)
    }

    /// A reader module's own tree (saved searches, alert subscriptions, search postings).
    /// Names: 1–64 of `a-z 0-9 _ - . /`. Write keys that indexers read-modify-write only
    /// through [`Batch`]es (see [`Indexer`]).
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        self.inner.reader_tree(name)
    }

    /// Facts for `kessai store info`.
    pub fn info(&self) -> Result<StoreInfo> {
        let totals = read::totals(&self.inner)?;
        let trees = self
            .inner
            .db
            .tree_names()
            .into_iter()
            .filter(|n| !n.starts_with(b"__sled"))
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .collect();
        let count_prefix = |p: u8| self.inner.main.scan_prefix([p]).keys().count() as u64;
        Ok(StoreInfo {
            path: self.inner.path.clone(),
            schema_version: self.schema_version()?,
            articles: totals.total,
            unread: totals.unread,
            starred: totals.starred,
            feeds: count_prefix(keys::COUNT_FEED),
            tags: count_prefix(keys::COUNT_TAG),
            feed_states: count_prefix(keys::FEED_STATE),
            size_on_disk: self
                .inner
                .db
                .size_on_disk()
                .map_err(|e| self.inner.sled_err(e))?,
            trees,
            rebuild_pending: self.needs_rebuild()?,
        })
    }

    /// True when a rebuild was interrupted: indexes and counters may be incomplete until
    /// [`Store::rebuild`] runs again.
    pub fn needs_rebuild(&self) -> Result<bool> {
        self.inner
            .main
            .contains_key(keys::meta(keys::meta::REBUILDING))
            .map_err(|e| self.inner.sled_err(e))
    }
}

/// Refuses to turn a folder of unrelated files into a store.
fn refuse_foreign_folder(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::from_io(path, "read the store folder", e)),
    };
    if !meta.is_dir() {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    let mut entries = std::fs::read_dir(path)
        .map_err(|e| StoreError::from_io(path, "read the store folder", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let mut empty = true;
    let mut ours = false;
    for name in entries.by_ref() {
        empty = false;
        if name == "conf" || name == "db" || name == LOCK_FILE || name == schema::MARKER_FILE {
            ours = true;
            break;
        }
    }
    if empty || ours {
        Ok(())
    } else {
        Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        })
    }
}

/// Decoding reads shared by the public API, the writer and `check`.
pub(crate) mod read {
    use super::codec::{self, Pair, Totals};
    use super::*;

    pub(crate) fn article(inner: &Inner, id: ArticleId) -> Result<Option<Article>> {
        let Some(v) = inner
            .main
            .get(keys::by_id(keys::ARTICLE, id))
            .map_err(|e| inner.sled_err(e))?
        else {
            return Ok(None);
        };
        decode_article(inner, id, &v).map(Some)
    }

    pub(crate) fn decode_article(inner: &Inner, id: ArticleId, v: &[u8]) -> Result<Article> {
        let draft: ArticleDraft = serde_json::from_slice(v)
            .map_err(|e| StoreError::corrupt(&inner.path, format!("article {id}: {e}")))?;
        Ok(Article { id, draft })
    }

    pub(crate) fn analysis(inner: &Inner, id: ArticleId) -> Result<Option<Analysis>> {
        let Some(v) = inner
            .main
            .get(keys::by_id(keys::ANALYSIS, id))
            .map_err(|e| inner.sled_err(e))?
        else {
            return Ok(None);
        };
        decode_analysis(inner, id, &v).map(Some)
    }

    pub(crate) fn decode_analysis(inner: &Inner, id: ArticleId, v: &[u8]) -> Result<Analysis> {
        serde_json::from_slice(v)
            .map_err(|e| StoreError::corrupt(&inner.path, format!("analysis of article {id}: {e}")))
    }

    pub(crate) fn flags(inner: &Inner, id: ArticleId) -> Result<Option<Flags>> {
        let Some(v) = inner
            .main
            .get(keys::by_id(keys::FLAGS, id))
            .map_err(|e| inner.sled_err(e))?
        else {
            return Ok(None);
        };
        codec::flags_from(&v)
            .map(Some)
            .ok_or_else(|| StoreError::corrupt(&inner.path, format!("flags of article {id}")))
    }

    pub(crate) fn totals(inner: &Inner) -> Result<Totals> {
        match inner
            .main
            .get(keys::meta(keys::meta::COUNTS))
            .map_err(|e| inner.sled_err(e))?
        {
            None => Ok(Totals::default()),
            Some(v) => {
                Totals::from(&v).ok_or_else(|| StoreError::corrupt(&inner.path, "global counters"))
            }
        }
    }

    pub(crate) fn feed_counts(inner: &Inner) -> Result<Vec<FeedCount>> {
        let mut out = Vec::new();
        for kv in inner.main.scan_prefix([keys::COUNT_FEED]) {
            let (k, v) = kv.map_err(|e| inner.sled_err(e))?;
            let p =
                Pair::from(&v).ok_or_else(|| StoreError::corrupt(&inner.path, "feed counters"))?;
            out.push(FeedCount {
                feed: FeedId::new(String::from_utf8_lossy(&k[1..]).into_owned()),
                total: p.total,
                unread: p.unread,
            });
        }
        Ok(out)
    }

    pub(crate) fn tag_counts(inner: &Inner) -> Result<Vec<TagCount>> {
        let mut out = Vec::new();
        for kv in inner.main.scan_prefix([keys::COUNT_TAG]) {
            let (k, v) = kv.map_err(|e| inner.sled_err(e))?;
            let (family, p) = codec::tag_count_from(&v)
                .ok_or_else(|| StoreError::corrupt(&inner.path, "tag counters"))?;
            out.push(TagCount {
                tag: TagId::new(String::from_utf8_lossy(&k[1..]).into_owned()),
                family,
                total: p.total,
                unread: p.unread,
            });
        }
        Ok(out)
    }

    pub(crate) fn family_counts(inner: &Inner) -> Result<Vec<(Family, u64, u64)>> {
        let mut out = Vec::new();
        for f in Family::ALL {
            let p = match inner
                .main
                .get(keys::count_family(f))
                .map_err(|e| inner.sled_err(e))?
            {
                None => Pair::default(),
                Some(v) => Pair::from(&v)
                    .ok_or_else(|| StoreError::corrupt(&inner.path, "family counters"))?,
            };
            out.push((f, p.total, p.unread));
        }
        Ok(out)
    }
}
