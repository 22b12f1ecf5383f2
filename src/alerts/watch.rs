//! The `kessai watch` loop: refresh (fetch, tag, store — the alert indexer enqueues as
//! articles land), deliver, log one line, wait; retry backing-off sinks between cycles;
//! stop cleanly on request.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::AlertError;
use super::deliver::{Deliverer, DeliveryReport};

/// A stop request shared by the loop, the refresh in progress and the signal handler.
#[derive(Clone, Default)]
pub struct Stop(Arc<(AtomicBool, Notify)>);

impl Stop {
    /// A fresh, unrequested stop.
    pub fn new() -> Stop {
        Stop::default()
    }
    /// Asks everything to stop after the work in hand.
    pub fn request(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }
    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }
    /// Resolves once a stop is asked for.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
    /// A read-only view for code that polls the request between articles.
    pub fn flag(&self) -> StopFlag {
        StopFlag(self.0.clone())
    }
}

/// A cheap handle that only reads the stop request.
#[derive(Clone)]
pub struct StopFlag(Arc<(AtomicBool, Notify)>);

impl StopFlag {
    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }
}

/// Stops on the first SIGINT or SIGTERM (after the article in hand); a second signal ends
/// the process at once with status 130.
pub fn stop_on_signals(stop: Stop) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                eprintln!(
                    "kessai watch: stopping after the article in hand (signal again to quit now)"
                );
                stop.request();
            } else {
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

/// What one refresh did (filled in by the caller's fetch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// Feeds fetched this cycle (not counting those not yet due).
    pub feeds: usize,
    /// Feeds that failed.
    pub failed: usize,
    /// Articles new to the store.
    pub new_articles: usize,
    /// One line per failed feed, or for a failure of the whole refresh.
    pub errors: Vec<String>,
}

/// How the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Time between the starts of two cycles.
    pub every: Duration,
    /// One cycle, then stop.
    pub once: bool,
}

/// Totals over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchTotals {
    /// Cycles run.
    pub cycles: u64,
    /// Articles new to the store.
    pub new_articles: usize,
    /// Alerts delivered.
    pub delivered: usize,
    /// Alerts still waiting at the end.
    pub waiting: usize,
}

/// The one log line of a cycle.
pub fn cycle_line(
    at: DateTime<Utc>,
    cycle: u64,
    refresh: &RefreshSummary,
    delivery: &DeliveryReport,
    took: Duration,
) -> String {
    let mut line = format!(
        "{} cycle {cycle}: {} feed{} fetched",
        at.format("%Y-%m-%dT%H:%M:%SZ"),
        refresh.feeds,
        if refresh.feeds == 1 { "" } else { "s" },
    );
    if refresh.failed > 0 {
        line.push_str(&format!(" ({} failed)", refresh.failed));
    }
    line.push_str(&format!(
        ", {} new article{}, {} alert{} delivered",
        refresh.new_articles,
        if refresh.new_articles == 1 { "" } else { "s" },
        delivery.delivered,
        if delivery.delivered == 1 { "" } else { "s" },
    ));
    if delivery.pending > 0 {
        line.push_str(&format!(", {} waiting", delivery.pending));
    }
    line.push_str(&format!(", {:.1} s", took.as_secs_f64()));
    let errors: Vec<&str> = refresh
        .errors
        .iter()
        .chain(delivery.errors.iter())
        .map(String::as_str)
        .collect();
    if !errors.is_empty() {
        line.push_str(" — ");
        line.push_str(&errors.join("; "));
    }
    // Error texts quote feed data and servers' words.
    crate::sanitize::terminal_line(&line)
}

/// Runs the loop until `stop` (or after one cycle with `once`). `refresh` fetches and
/// stores (its inserts enqueue alerts through the registered alert indexer) and should
/// check the stop flag between articles; `log` gets one line per cycle.
pub async fn run<F, Fut>(
    mut deliverer: Deliverer,
    options: WatchOptions,
    stop: Stop,
    mut refresh: F,
    mut log: impl FnMut(String),
) -> Result<WatchTotals, AlertError>
where
    F: FnMut(StopFlag) -> Fut,
    Fut: Future<Output = RefreshSummary>,
{
    let mut totals = WatchTotals::default();
    loop {
        let started = Instant::now();
        let at = Utc::now();
        totals.cycles += 1;
        let refreshed = refresh(stop.flag()).await;
        totals.new_articles += refreshed.new_articles;
        // Delivered even when a stop came in meanwhile: what was stored is announced.
        let delivery = deliverer.run_once().await?;
        totals.delivered += delivery.delivered;
        totals.waiting = delivery.pending;
        log(cycle_line(
            at,
            totals.cycles,
            &refreshed,
            &delivery,
            started.elapsed(),
        ));
        if options.once || stop.is_requested() {
            return Ok(totals);
        }
        let next_cycle = started + options.every;
        let mut next_retry = delivery.next_retry;
        loop {
            let wake = match next_retry.and_then(|t| (t - Utc::now()).to_std().ok()) {
                Some(d) => (Instant::now() + d).min(next_cycle),
                None if next_retry.is_some() => Instant::now(),
                None => next_cycle,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.wait() => return Ok(totals),
            }
            if Instant::now() >= next_cycle {
                break;
            }
            // A sink's back-off ran out before the next cycle: retry it now.
            let retry = deliverer.run_once().await?;
            totals.delivered += retry.delivered;
            totals.waiting = retry.pending;
            if retry.delivered > 0 || retry.failed > 0 {
                log(crate::sanitize::terminal_line(&format!(
                    "{} retry: {} alert{} delivered, {} waiting{}",
                    Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
                    retry.delivered,
                    if retry.delivered == 1 { "" } else { "s" },
                    retry.pending,
                    if retry.errors.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", retry.errors.join("; "))
                    }
                )));
            }
            next_retry = retry.next_retry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_line_is_one_safe_line() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 27, 9, 0, 0).unwrap();
        let r = RefreshSummary {
            feeds: 8,
            failed: 1,
            new_articles: 12,
            errors: vec!["feed evil: HTTP 500 \u{1b}[2J\nboom".into()],
        };
        let d = DeliveryReport {
            delivered: 5,
            pending: 2,
            errors: vec!["webhook http://127.0.0.1:1/: could not connect".into()],
            ..Default::default()
        };
        let line = cycle_line(at, 3, &r, &d, Duration::from_millis(1500));
        assert_eq!(
            line,
            "2026-11-27T09:00:00Z cycle 3: 8 feeds fetched (1 failed), 12 new articles, 5 alerts delivered, 2 waiting, 1.5 s — feed evil: HTTP 500 boom; webhook http://127.0.0.1:1/: could not connect"
        );
    }

    #[tokio::test]
    async fn loop_refreshes_delivers_and_stops() {
        use crate::alerts::{AlertIndexer, AlertState, SinkSpec, Subscription};
        use crate::model::{Analysis, ArticleDraft, FeedId};
        use crate::store::Store;

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.jsonl");
        let store = Store::open_temporary().unwrap();
        AlertIndexer::register(&store);
        let state = AlertState::open(&store).unwrap();
        state
            .add(&Subscription {
                name: "all".into(),
                query: "feed:loop".into(),
                sinks: vec![SinkSpec::File { path: file.clone() }],
                paused: false,
                created: Utc::now(),
            })
            .unwrap();
        let stop = Stop::new();
        let mut n = 0u32;
        let mut lines = Vec::new();
        let totals = run(
            Deliverer::new(state).unwrap(),
            WatchOptions {
                every: Duration::from_millis(30),
                once: false,
            },
            stop.clone(),
            |flag| {
                n += 1;
                let store = store.clone();
                let stop = stop.clone();
                let k = n;
                async move {
                    assert!(!flag.is_set());
                    let t = Utc::now();
                    let draft = ArticleDraft {
                        feed: FeedId::new("loop"),
                        url: format!("http://127.0.0.1:9/{k}"),
                        guid: None,
                        title: format!("記事 {k}"),
                        summary: String::new(),
                        body: String::new(),
                        published: t,
                        fetched: t,
                        content_hash: format!("h{k}"),
                    };
                    store.insert(draft, &Analysis::default()).unwrap();
                    store.flush().unwrap();
                    if k == 3 {
                        stop.request();
                    }
                    RefreshSummary {
                        feeds: 1,
                        new_articles: 1,
                        ..Default::default()
                    }
                }
            },
            |l| lines.push(l),
        )
        .await
        .unwrap();
        assert_eq!(totals.cycles, 3);
        assert_eq!(
            (totals.new_articles, totals.delivered, totals.waiting),
            (3, 3, 0)
        );
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].contains("cycle 3: 1 feed fetched, 1 new article, 1 alert delivered"),
            "{lines:?}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn stop_wakes_waiters_and_is_sticky() {
        let stop = Stop::new();
        let flag = stop.flag();
        let s2 = stop.clone();
        let waiter = tokio::spawn(async move { s2.wait().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!flag.is_set());
        stop.request();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(flag.is_set());
        // Already requested: returns at once.
        tokio::time::timeout(Duration::from_secs(1), stop.wait())
            .await
            .unwrap();
    }
}
