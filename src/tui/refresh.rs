//! `R` in the reader: every enabled feed fetched through `kessai::ingest` on the event
//! loop's runtime, progress reported as each feed finishes, a one-line summary at the end.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ingest::{self, FeedReport, FetchReport, Ingest};

use super::{Progress, Refresher};

/// Refreshes through an [`Ingest`] pipeline (its configuration names the feeds).
pub struct IngestRefresher {
    ingest: Ingest,
}

impl IngestRefresher {
    /// Refreshes with this pipeline (built on the reader's store).
    pub fn new(ingest: Ingest) -> IngestRefresher {
        IngestRefresher { ingest }
    }
}

/// The status-bar line for a finished refresh, naming the first failure.
pub fn summary(r: &FetchReport) -> String {
    let mut s = format!(
        "refreshed {} feeds: {} new, {} unchanged, {} failed",
        r.feeds.len(),
        r.new_articles(),
        r.unchanged(),
        r.failed()
    );
    if let Some(f) = r.feeds.iter().find(|f| f.failed()) {
        if let Some(why) = f.outcome.error() {
            s.push_str(&format!(" ({}: {why})", f.feed));
        }
    }
    s
}

impl Refresher for IngestRefresher {
    fn refresh(
        &self,
        progress: Progress,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> {
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let feeds: Vec<_> = ingest.config().enabled_feeds().cloned().collect();
            if feeds.is_empty() {
                anyhow::bail!("no enabled feeds in {}", ingest.config().source);
            }
            let total = feeds.len();
            progress(0, total, 0);
            let done = Arc::new(AtomicUsize::new(0));
            let new = Arc::new(AtomicUsize::new(0));
            let progress = Arc::new(progress);
            let report_progress: ingest::Progress = Arc::new(move |r: &FeedReport| {
                let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                let n = new.fetch_add(r.new, Ordering::SeqCst) + r.new;
                progress(d, total, n);
            });
            let report = ingest.run(&feeds, Some(report_progress)).await;
            Ok(summary(&report))
        })
    }
}

/// A refresher that cannot run, and says why when asked (the feeds file did not load).
pub struct Unavailable(pub String);

impl Refresher for Unavailable {
    fn refresh(
        &self,
        _progress: Progress,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> {
        let why = self.0.clone();
        Box::pin(async move { Err(anyhow::anyhow!(why)) })
    }
}
