//! Driving the pipeline for a set of feeds, from config to store.
//!
//! For each feed, concurrently: fetch (conditional, with the stored validators) → decode →
//! parse → for each item the store does not know yet: fetch its page when full text is on
//! and the link may be fetched → extract → normalise → tag → store. A feed's articles are
//! flushed to disk before its line is reported. One broken feed never stops the others: its
//! failure becomes a line in the [`FetchReport`] and a note in its [`FeedState`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tokio::sync::Semaphore;
use url::Url;

use crate::charset::{self, CharsetError, DocKind};
use crate::config::{Config, FeedConfig, FeedFormat, Limits};
use crate::extract::{self, ExtractError};
use crate::fetch::{Accept, FetchError, Fetcher, NetworkScope, Outcome, Validators};
use crate::model::{FeedId, group_digits};
use crate::normalize::{self, NormalizeError};
use crate::parse::{self, Cuts, ParseError, ParsedFeed, ParsedItem};
use crate::store::{FeedState, Inserted, PreparedArticle, Store, StoreError};
use crate::tag::Tagger;

/// Why a feed could not be ingested. Every variant names the feed's URL.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The fetch failed.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The body could not be decoded.
    #[error("{url}: {source}")]
    Charset {
        /// The URL fetched.
        url: String,
        /// Why.
        source: CharsetError,
    },
    /// The body is not a feed (or list page) that can be read.
    #[error("{url}: {source}")]
    Parse {
        /// The URL fetched.
        url: String,
        /// Why.
        source: ParseError,
    },
    /// The feed's body selector is invalid.
    #[error("{0}")]
    Extract(#[from] ExtractError),
    /// The store refused a write.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A worker task died (a bug; reported instead of taking the run down).
    #[error("internal error: {0}")]
    Task(String),
}

impl IngestError {
    /// Whether a configured limit (size, time, redirects) stopped it.
    pub fn is_limit(&self) -> bool {
        matches!(self, IngestError::Fetch(e) if e.is_limit())
    }
}

/// How one feed's fetch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOutcome {
    /// Fetched and parsed; new articles (if any) stored and flushed.
    Updated,
    /// The server said 304 Not Modified.
    Unchanged,
    /// A limit was hit (items per feed, title / summary / body length, HTML size, an
    /// article page's size, time or redirects): an error for this feed. What fits the limits
    /// was stored and flushed; the text says what was hit and what was kept, one line.
    Limited(String),
    /// Nothing stored for this feed; the reason, one line.
    Failed(String),
}

impl FeedOutcome {
    /// The error of a failed or limited feed, one line.
    pub fn error(&self) -> Option<&str> {
        match self {
            FeedOutcome::Failed(why) | FeedOutcome::Limited(why) => Some(why),
            FeedOutcome::Updated | FeedOutcome::Unchanged => None,
        }
    }
}

/// What happened to one feed.
#[derive(Debug, Clone)]
pub struct FeedReport {
    /// The feed.
    pub feed: FeedId,
    /// Its display title.
    pub title: String,
    /// How it ended.
    pub outcome: FeedOutcome,
    /// Items the feed (or list pages) listed, after repeats and the item limit.
    pub items: usize,
    /// Articles stored now.
    pub new: usize,
    /// Items already stored (same URL, GUID or content).
    pub duplicate: usize,
    /// Items left out (no link, nothing to show, refused by the store).
    pub skipped: usize,
    /// Article pages that could not be fetched or read (the feed's summary stands in).
    pub page_failures: usize,
    /// Things worth knowing that did not stop the feed (repeated GUIDs, charset overruled, ...).
    pub notes: Vec<String>,
    /// Limits hit, each `limit: ...` naming the limit and what was kept; any makes the
    /// outcome [`FeedOutcome::Limited`].
    pub limit_hits: Vec<String>,
    /// Wall time spent on the feed.
    pub elapsed: Duration,
}

impl FeedReport {
    fn new(feed: &FeedConfig) -> FeedReport {
        FeedReport {
            feed: feed.id(),
            title: feed.display_title().to_string(),
            outcome: FeedOutcome::Updated,
            items: 0,
            new: 0,
            duplicate: 0,
            skipped: 0,
            page_failures: 0,
            notes: Vec::new(),
            limit_hits: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
    /// Whether the feed failed or hit a limit (either is an error for the feed: exit 2).
    pub fn failed(&self) -> bool {
        self.outcome.error().is_some()
    }
}

/// The result of a run over several feeds.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// One entry per feed, in the order given.
    pub feeds: Vec<FeedReport>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl FetchReport {
    /// Feeds that failed or hit a limit.
    pub fn failed(&self) -> usize {
        self.feeds.iter().filter(|f| f.failed()).count()
    }
    /// Feeds that hit a limit (stored what fit); counted in [`FetchReport::failed`] too.
    pub fn limited(&self) -> usize {
        self.feeds
            .iter()
            .filter(|f| matches!(f.outcome, FeedOutcome::Limited(_)))
            .count()
    }
    /// Feeds that answered 304.
    pub fn unchanged(&self) -> usize {
        self.feeds
            .iter()
            .filter(|f| f.outcome == FeedOutcome::Unchanged)
            .count()
    }
    /// Articles stored in this run.
    pub fn new_articles(&self) -> usize {
        self.feeds.iter().map(|f| f.new).sum()
    }
    /// Items that were already stored.
    pub fn duplicates(&self) -> usize {
        self.feeds.iter().map(|f| f.duplicate).sum()
    }
    /// The report of one feed.
    pub fn feed(&self, name: &str) -> Option<&FeedReport> {
        self.feeds.iter().find(|f| f.feed.as_str() == name)
    }
}

/// Called as each feed finishes (after its articles are flushed).
pub type Progress = Arc<dyn Fn(&FeedReport) + Send + Sync>;

/// The pipeline over a store, with one HTTP client for the whole run.
#[derive(Clone)]
pub struct Ingest {
    config: Arc<Config>,
    fetcher: Fetcher,
    store: Store,
    tagger: &'static Tagger,
    cpu: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    flusher: Arc<GroupFlush>,
}

impl Ingest {
    /// A pipeline for this configuration and store. `scope` decides which hosts may be
    /// contacted (the demo and the tests use loopback only).
    pub fn new(config: Config, store: Store, scope: NetworkScope) -> Result<Ingest, FetchError> {
        let fetcher = Fetcher::new(&config.settings, &config.limits, scope)?;
        let concurrency = config.settings.concurrency;
        // CPU-heavy steps (HTML parsing, extraction, tagging) run on blocking threads, no
        // more at once than there are cores, which also bounds the memory they hold.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Ingest {
            config: Arc::new(config),
            fetcher,
            flusher: Arc::new(GroupFlush::new(store.clone())),
            store,
            tagger: Tagger::shared(),
            cpu: Arc::new(Semaphore::new(cores)),
            // Feeds between "fetch started" and "stored": enough to keep the network and
            // the cores busy, few enough that memory does not grow with the feed count.
            in_flight: Arc::new(Semaphore::new(feeds_in_flight(concurrency))),
        })
    }

    /// Uses another tagger (a user taxonomy).
    pub fn with_tagger(mut self, tagger: &'static Tagger) -> Ingest {
        self.tagger = tagger;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Fetches the given feeds concurrently and stores their new articles.
    pub async fn run(&self, feeds: &[FeedConfig], progress: Option<Progress>) -> FetchReport {
        let started = Instant::now();
        let tasks = feeds.iter().cloned().map(|feed| {
            let this = self.clone();
            let progress = progress.clone();
            async move {
                let handle = tokio::spawn({
                    let this = this.clone();
                    let feed = feed.clone();
                    async move {
                        let _slot = this.in_flight.acquire().await;
                        this.feed(&feed).await
                    }
                });
                let report = match handle.await {
                    Ok(r) => r,
                    Err(e) => {
                        let mut r = FeedReport::new(&feed);
                        r.outcome =
                            FeedOutcome::Failed(IngestError::Task(e.to_string()).to_string());
                        r
                    }
                };
                if let Some(p) = &progress {
                    p(&report);
                }
                report
            }
        });
        let feeds = join_all(tasks).await;
        FetchReport {
            feeds,
            elapsed: started.elapsed(),
        }
    }

    /// [`Ingest::run`] on a runtime of its own, for callers that are not async.
    pub fn run_blocking(
        &self,
        feeds: &[FeedConfig],
        progress: Option<Progress>,
    ) -> std::io::Result<FetchReport> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Few threads: the work is CPU-bound past the network, and every extra thread gets
        // its own malloc arena, which shows up as memory.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.min(4))
            .max_blocking_threads(cores * 4)
            .enable_all()
            .build()?;
        Ok(rt.block_on(self.run(feeds, progress)))
    }

    /// Feeds whose interval has passed since their last attempt (or never fetched).
    pub fn due_feeds(&self, now: DateTime<Utc>) -> Result<Vec<FeedConfig>, StoreError> {
        let mut out = Vec::new();
        for f in self.config.enabled_feeds() {
            let last = self.store.feed_state(&f.id())?.and_then(|s| s.last_attempt);
            let interval = chrono::Duration::from_std(f.interval(&self.config.settings))
                .unwrap_or(chrono::Duration::MAX);
            if last.is_none_or(|t| now - t >= interval) {
                out.push(f.clone());
            }
        }
        Ok(out)
    }

    /// One feed, start to finish; never fails, the report says what went wrong.
    async fn feed(&self, feed: &FeedConfig) -> FeedReport {
        let started = Instant::now();
        let mut report = FeedReport::new(feed);
        let id = feed.id();
        let attempt_at = Utc::now();
        let store = self.store.clone();
        let fid = id.clone();
        let state = blocking(move || Ok(store.feed_state(&fid)?)).await;
        let mut state = match state {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                report.outcome = FeedOutcome::Failed(e.to_string());
                report.elapsed = started.elapsed();
                return report;
            }
        };
        let result = self.feed_inner(feed, &mut state, &mut report).await;
        match result {
            Ok(()) if report.limit_hits.is_empty() => state.record_success(attempt_at),
            Ok(()) => {
                // What fit is stored, but the feed is not as it should be: an error in the
                // report (exit 2) and in the feed's state (the digest lists it).
                let reason = report.limit_hits.join("; ");
                state.record_failure(attempt_at, reason.clone());
                report.outcome = FeedOutcome::Limited(reason);
            }
            Err(e) => {
                let reason = e.to_string();
                state.record_failure(attempt_at, reason.clone());
                report.outcome = FeedOutcome::Failed(reason);
            }
        }
        let store = self.store.clone();
        let saved = blocking(move || Ok(store.set_feed_state(&id, &state))).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.notes.push(format!("feed state not saved: {e}")),
            Err(e) => report.outcome = FeedOutcome::Failed(e.to_string()),
        }
        // Durable before anyone is told: the report line says these articles are stored.
        // Feeds finishing together share one flush.
        if let Err(e) = self.flusher.flush().await {
            report.outcome = FeedOutcome::Failed(e.to_string());
        }
        report.elapsed = started.elapsed();
        report
    }

    async fn feed_inner(
        &self,
        feed: &FeedConfig,
        state: &mut FeedState,
        report: &mut FeedReport,
    ) -> Result<(), IngestError> {
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let outcome = match self
            .fetcher
            .fetch(&feed.url, Accept::Feed, Some(&validators))
            .await
        {
            Ok(o) => o,
            Err(e) => {
                state.last_status = match &e {
                    FetchError::Status { status, .. } => Some(*status),
                    _ => None,
                };
                return Err(e.into());
            }
        };
        let fetched = match outcome {
            Outcome::NotModified { .. } => {
                state.last_status = Some(304);
                report.outcome = FeedOutcome::Unchanged;
                return Ok(());
            }
            Outcome::Fetched(f) => f,
        };
        state.last_status = Some(fetched.status);
        let list = feed.format == FeedFormat::HtmlList;
        let mut parsed = self
            .parse_body(
                feed,
                &fetched.url,
                fetched.content_type.as_deref(),
                fetched.body,
                list,
                report,
            )
            .await?;
        // Validators are kept only once the body was readable, so a broken body is
        // fetched again in full next time.
        state.etag = fetched.validators.etag;
        state.last_modified = fetched.validators.last_modified;

        let fetched_at = Utc::now();
        let mut pages = 1;
        loop {
            let next = parsed.next_page.take();
            note_limits(&parsed, &self.config, report);
            let fresh = self
                .ingest_items(feed, parsed.items, fetched_at, report)
                .await?;
            let Some(next) = next else { break };
            if !list || fresh == 0 || pages >= self.config.limits.max_list_pages {
                if fresh > 0 && pages >= self.config.limits.max_list_pages {
                    report.notes.push(format!(
                        "stopped after {pages} list pages (limits.max_list_pages)"
                    ));
                }
                break;
            }
            pages += 1;
            let page = match self.fetcher.fetch(&next, Accept::Feed, None).await {
                Ok(Outcome::Fetched(f)) => f,
                Ok(Outcome::NotModified { .. }) => break,
                Err(e) => {
                    report.notes.push(format!("list page {pages}: {e}"));
                    break;
                }
            };
            parsed = match self
                .parse_body(
                    feed,
                    &page.url,
                    page.content_type.as_deref(),
                    page.body,
                    true,
                    report,
                )
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    report.notes.push(format!("list page {pages}: {e}"));
                    break;
                }
            };
        }
        Ok(())
    }

    /// Decodes and parses a feed or list page on a blocking thread.
    async fn parse_body(
        &self,
        feed: &FeedConfig,
        url: &Url,
        content_type: Option<&str>,
        body: Vec<u8>,
        list: bool,
        report: &mut FeedReport,
    ) -> Result<ParsedFeed, IngestError> {
        let config = self.config.clone();
        let url = url.clone();
        let content_type = content_type.map(str::to_string);
        let selectors = feed.list.clone();
        let _cpu = self
            .cpu
            .acquire()
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        let (parsed, note) = tokio::task::spawn_blocking(move || {
            let url_s = url.to_string();
            let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
            let decoded = if list {
                charset::decode(&body, content_type.as_deref(), DocKind::Html)
            } else if first == Some(b'{') {
                charset::decode(&body, content_type.as_deref(), DocKind::Json)
            } else {
                charset::decode_xml(&body, content_type.as_deref())
            }
            .map_err(|source| IngestError::Charset {
                url: url_s.clone(),
                source,
            })?;
            let note = decoded.overruled.map(|d| {
                format!(
                    "charset: {} declared by {} did not fit; decoded as {}",
                    d.encoding.name(),
                    d.source,
                    decoded.encoding.name()
                )
            });
            let parsed = if list {
                parse::parse_list_page(
                    &decoded.text,
                    &url,
                    selectors.as_ref(),
                    config.settings.tz(),
                    &config.limits,
                )
            } else {
                parse::parse_feed(&decoded.text, &url, &config.limits)
            }
            .map_err(|source| IngestError::Parse { url: url_s, source })?;
            Ok::<_, IngestError>((parsed, note))
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))??;
        report.notes.extend(note);
        Ok(parsed)
    }

    /// Stores the items the store does not know yet; returns how many were new to it.
    async fn ingest_items(
        &self,
        feed: &FeedConfig,
        items: Vec<ParsedItem>,
        fetched_at: DateTime<Utc>,
        report: &mut FeedReport,
    ) -> Result<usize, IngestError> {
        report.items += items.len();
        let id = feed.id();
        let store = self.store.clone();
        let fid = id.clone();
        let (fresh, skipped, known) = blocking(move || {
            let (mut fresh, mut skipped, mut known) = (Vec::new(), 0, 0);
            for item in items {
                let url = item
                    .link
                    .as_deref()
                    .and_then(|l| normalize::canonical_url(l).ok());
                let Some(url) = url else {
                    skipped += 1;
                    continue;
                };
                if store.known(&fid, &url, item.guid.as_deref())?.is_some() {
                    known += 1;
                } else {
                    fresh.push(item);
                }
            }
            Ok((fresh, skipped, known))
        })
        .await?;
        report.skipped += skipped;
        report.duplicate += known;
        let n_fresh = fresh.len();
        if fresh.is_empty() {
            return Ok(0);
        }
        let full_text = feed.full_text(&self.config.settings);
        let mut offsite = 0usize;
        let bodies = join_all(fresh.iter().map(|item| {
            let link = item.link.clone().unwrap_or_default();
            let fetch_page = full_text
                && Url::parse(&link).is_ok_and(|u| {
                    let ok = self.fetcher.allows(&u);
                    if !ok {
                        offsite += 1;
                    }
                    ok
                });
            async move {
                if fetch_page {
                    Some(self.page_text(feed, &link).await)
                } else {
                    None
                }
            }
        }))
        .await;
        if offsite > 0 {
            report.notes.push(format!(
                "full text skipped for {offsite} item(s) whose links leave the allowed network"
            ));
        }
        let mut page_errors = Vec::new();
        let mut page_limits = Vec::new();
        let mut work = Vec::with_capacity(fresh.len());
        for (item, body) in fresh.into_iter().zip(bodies) {
            let body = match body {
                Some(Ok(e)) => Some(e),
                Some(Err(e)) if e.is_limit() => {
                    page_limits.push(e);
                    None
                }
                Some(Err(e)) => {
                    page_errors.push(e);
                    None
                }
                None => None,
            };
            work.push((item, body));
        }
        report.page_failures += page_errors.len() + page_limits.len();
        if let Some(first) = page_errors.first() {
            report.notes.push(format!(
                "{} article page(s) not read, summary kept instead (first: {first})",
                page_errors.len()
            ));
        }
        if let Some(first) = page_limits.first() {
            report.limit_hits.push(format!(
                "limit: {} article page(s) not read (first: {first}); kept the summary instead",
                page_limits.len()
            ));
        }

        // Normalise, tag and prepare for the store (tokens shared with the indexes) on a
        // blocking thread, then store the lot in one write.
        let limits = self.config.limits.clone();
        let limits_for_report = self.config.limits.clone();
        let tagger = self.tagger;
        let feed_id = id.clone();
        let store = self.store.clone();
        let _cpu = self
            .cpu
            .acquire()
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        let (drafts, skipped, cuts) = tokio::task::spawn_blocking(move || {
            let mut drafts: Vec<PreparedArticle> = Vec::with_capacity(work.len());
            let mut skipped: Vec<NormalizeError> = Vec::new();
            let mut cuts = CutCounts::default();
            for (item, page) in work {
                // The page's text, else the feed's own content; a page that was read but
                // held nothing still counts its HTML cut.
                let mut html_cut = false;
                let body = match page {
                    Some(e) if !e.text.is_empty() => e,
                    page => {
                        html_cut = page.is_some_and(|p| p.html_cut);
                        match item.content_html.as_deref() {
                            Some(h) => extract::fragment_text(h, &limits),
                            None => extract::Extracted {
                                text: String::new(),
                                paragraphs: 0,
                                method: extract::Method::Nothing,
                                page_title: None,
                                body_cut: false,
                                html_cut: false,
                            },
                        }
                    }
                };
                match normalize::make_draft_cut(&feed_id, &item, &body.text, fetched_at, &limits) {
                    Ok((d, cut)) => {
                        cuts.count(cut.or(Cuts {
                            body: body.body_cut,
                            ..Cuts::default()
                        }));
                        cuts.html += usize::from(html_cut || body.html_cut);
                        let (analysis, tokens) = tagger.analyze_with_tokens(&d);
                        drafts.push(store.prepare(d, analysis, Some(&tokens)));
                    }
                    Err(e) => skipped.push(e),
                }
            }
            (drafts, skipped, cuts)
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?;
        drop(_cpu);
        cuts.report(&limits_for_report, report);
        report.skipped += skipped.len();
        if let Some(first) = skipped.first() {
            report.notes.push(format!(
                "{} item(s) left out (first: {first})",
                skipped.len()
            ));
        }
        let store = self.store.clone();
        let results = blocking(move || Ok(store.insert_prepared(drafts)?)).await?;
        for r in results {
            match r {
                Ok(Inserted::New(_)) => report.new += 1,
                Ok(Inserted::Duplicate(_)) => report.duplicate += 1,
                Err(e) => {
                    report.skipped += 1;
                    report.notes.push(format!("store refused an article: {e}"));
                }
            }
        }
        Ok(n_fresh)
    }

    /// Fetches an article page and extracts its text.
    async fn page_text(
        &self,
        feed: &FeedConfig,
        link: &str,
    ) -> Result<extract::Extracted, IngestError> {
        let page = match self.fetcher.fetch(link, Accept::Page, None).await? {
            Outcome::Fetched(f) => f,
            Outcome::NotModified { .. } => {
                return Ok(extract::Extracted {
                    text: String::new(),
                    paragraphs: 0,
                    method: extract::Method::Nothing,
                    page_title: None,
                    body_cut: false,
                    html_cut: false,
                });
            }
        };
        let limits = self.config.limits.clone();
        let selector = feed.body_selector.clone();
        let url = page.url.to_string();
        let _cpu = self
            .cpu
            .acquire()
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let decoded = charset::decode(&page.body, page.content_type.as_deref(), DocKind::Html)
                .map_err(|source| IngestError::Charset { url, source })?;
            Ok(extract::extract(
                &decoded.text,
                selector.as_deref(),
                &limits,
            )?)
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?
    }
}

/// How many feeds may be in progress at once for a given fetch concurrency.
fn feeds_in_flight(concurrency: usize) -> usize {
    concurrency.saturating_mul(2).clamp(4, 64)
}

/// Flushes shared by everyone who asked while one was running: each caller returns once a
/// flush that started after its call has finished, so its earlier writes are durable, and
/// feeds that finish together cost one fsync instead of one each.
struct GroupFlush {
    store: Store,
    /// Tickets handed out; a ticket is taken after the caller's writes.
    requested: std::sync::atomic::AtomicU64,
    /// The highest ticket a finished flush covers. The lock also makes flushes one at a time.
    flushed: tokio::sync::Mutex<u64>,
    /// Flushes actually run.
    runs: std::sync::atomic::AtomicU64,
}

impl GroupFlush {
    fn new(store: Store) -> GroupFlush {
        GroupFlush {
            store,
            requested: std::sync::atomic::AtomicU64::new(0),
            flushed: tokio::sync::Mutex::new(0),
            runs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    async fn flush(&self) -> Result<(), IngestError> {
        use std::sync::atomic::Ordering;
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().await;
        if *flushed >= ticket {
            return Ok(());
        }
        // Everyone who has a ticket now wrote before this flush starts.
        let covers = self.requested.load(Ordering::SeqCst);
        let store = self.store.clone();
        blocking(move || Ok(store.flush()?)).await?;
        self.runs.fetch_add(1, Ordering::SeqCst);
        *flushed = covers;
        Ok(())
    }
}

/// Runs a store operation on a blocking thread: sled calls (and flushes above all) may wait
/// on the disk, and must not stall the runtime threads that drive every feed's sockets.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?
}

fn note_limits(parsed: &ParsedFeed, config: &Config, report: &mut FeedReport) {
    if parsed.over_limit > 0 {
        let max = config.limits.max_items_per_feed;
        report.limit_hits.push(format!(
            "limit: {} items > limits.max_items_per_feed {}; kept the first {}",
            group_digits((parsed.items.len() + parsed.over_limit) as u64),
            group_digits(max as u64),
            group_digits(parsed.items.len() as u64)
        ));
    }
    if parsed.repeated > 0 {
        report.notes.push(format!(
            "{} item(s) repeated a GUID or link within the feed",
            parsed.repeated
        ));
    }
}

/// Texts of one feed's new articles cut to their length limits.
#[derive(Debug, Default)]
struct CutCounts {
    titles: usize,
    summaries: usize,
    bodies: usize,
    /// Article pages (or feed content) longer than `max_html_bytes`: only the start was read.
    html: usize,
}

impl CutCounts {
    fn count(&mut self, cut: Cuts) {
        self.titles += usize::from(cut.title);
        self.summaries += usize::from(cut.summary);
        self.bodies += usize::from(cut.body);
    }

    /// One limit hit per kind of cut, naming the limit and what was kept.
    fn report(&self, limits: &Limits, report: &mut FeedReport) {
        let chars = [
            (
                self.titles,
                "title(s)",
                "max_title_chars",
                limits.max_title_chars,
            ),
            (
                self.summaries,
                "summary(ies)",
                "max_summary_chars",
                limits.max_summary_chars,
            ),
            (
                self.bodies,
                "article body(ies)",
                "max_body_chars",
                limits.max_body_chars,
            ),
        ];
        for (n, what, key, max) in chars {
            if n > 0 {
                report.limit_hits.push(format!(
                    "limit: {n} {what} longer than limits.{key} {}; stored the first {} characters",
                    group_digits(max as u64),
                    group_digits(max as u64)
                ));
            }
        }
        if self.html > 0 {
            let max = group_digits(limits.max_html_bytes as u64);
            report.limit_hits.push(format!(
                "limit: {} article page(s) larger than limits.max_html_bytes {max}; read the first {max} bytes",
                self.html
            ));
        }
    }
}

/// Picks feeds by name (all enabled feeds when `names` is empty); unknown names are errors.
pub fn select_feeds(config: &Config, names: &[String]) -> Result<Vec<FeedConfig>, String> {
    if names.is_empty() {
        return Ok(config.enabled_feeds().cloned().collect());
    }
    names
        .iter()
        .map(|n| {
            config.feed(n).cloned().ok_or_else(|| {
                format!(
                    "no feed named {n:?} in {} (see `kessai feeds list`)",
                    config.source
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn concurrent_flush_requests_share_flushes() {
        let store = Store::open_temporary().unwrap();
        let gf = Arc::new(GroupFlush::new(store));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let calls: Vec<_> = (0..40)
                .map(|_| {
                    let gf = gf.clone();
                    tokio::spawn(async move { gf.flush().await })
                })
                .collect();
            for c in calls {
                c.await.unwrap().unwrap();
            }
        });
        let runs = gf.runs.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..40).contains(&runs), "{runs} flushes for 40 requests");
        // A request after everything settled still gets a flush of its own.
        rt.block_on(gf.flush()).unwrap();
        assert_eq!(gf.runs.load(std::sync::atomic::Ordering::SeqCst), runs + 1);
    }

    #[test]
    fn cut_counts_name_each_limit_and_what_was_kept() {
        let mut c = CutCounts::default();
        c.count(Cuts {
            title: true,
            summary: false,
            body: true,
        });
        c.count(Cuts {
            title: true,
            ..Cuts::default()
        });
        c.html = 1;
        let mut r = FeedReport::new(&FeedConfig::new("f", "http://127.0.0.1:1/"));
        c.report(&Limits::default(), &mut r);
        assert_eq!(
            r.limit_hits,
            vec![
                "limit: 2 title(s) longer than limits.max_title_chars 300; stored the first 300 characters",
                "limit: 1 article body(ies) longer than limits.max_body_chars 100,000; stored the first 100,000 characters",
                "limit: 1 article page(s) larger than limits.max_html_bytes 4,194,304; read the first 4,194,304 bytes",
            ]
        );
        let mut none = FeedReport::new(&FeedConfig::new("f", "http://127.0.0.1:1/"));
        CutCounts::default().report(&Limits::default(), &mut none);
        assert!(none.limit_hits.is_empty());
    }

    #[test]
    fn select_feeds_by_name() {
        let mut a = FeedConfig::new("a", "http://127.0.0.1:1/a");
        a.enabled = false;
        let b = FeedConfig::new("b", "http://127.0.0.1:1/b");
        let c = Config::with_feeds(vec![a, b]);
        let all: Vec<String> = select_feeds(&c, &[])
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(all, vec!["b"]);
        let named = select_feeds(&c, &["a".into()]).unwrap();
        assert_eq!(
            named[0].name, "a",
            "a disabled feed can still be fetched by name"
        );
        assert!(
            select_feeds(&c, &["zz".into()])
                .unwrap_err()
                .contains("\"zz\"")
        );
    }
}
