//! `kessai watch [--every 15m] [--once]`: fetch the feeds that are due, tag and store their
//! new articles (the alert indexer enqueues alerts as they land), deliver the alerts, log one
//! line per cycle on stderr, and wait for the next cycle. SIGINT/SIGTERM stop it cleanly.
//!
//! Exit codes: 0 after a clean stop (or one cycle with `--once`); 1 when it could not start
//! (bad config, store in use or damaged); 130 on a second SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use kessai::alerts::watch::{self, RefreshSummary, Stop, WatchOptions};
use kessai::alerts::{AlertState, Deliverer};
use kessai::config::Config;
use kessai::fetch::NetworkScope;
use kessai::ingest::{FetchReport, Ingest};

/// How long a fetch in progress may go on after a stop request before it is cut off (each
/// article is stored atomically, so cutting off never leaves half an article).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Arguments of `kessai watch`.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Time between cycles (e.g. 15m, 1h, 90s). A feed is fetched only when its own
    /// interval (feeds.toml) has passed since its last fetch.
    #[arg(long, default_value = "15m", value_parser = parse_every)]
    pub every: Duration,
    /// Run one cycle, deliver, and exit.
    #[arg(long)]
    pub once: bool,
}

fn parse_every(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 15m, 1h, 90s)"))?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

/// Runs `kessai watch`.
pub fn run(args: &WatchArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let config = Config::load(super::feeds::source(global))?;
    let store_path = global.store_path()?;
    let store = super::open_store(&store_path)?;
    let state = AlertState::open(&store)?;
    let ingest = Ingest::new(config, store, NetworkScope::Any)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the watch runtime")?;
    runtime.block_on(async move {
        let stop = Stop::new();
        watch::stop_on_signals(stop.clone()).context("cannot listen for SIGINT/SIGTERM")?;
        let deliverer = Deliverer::new(state)?;
        let options = WatchOptions {
            every: args.every,
            once: args.once,
        };
        let refresh_stop = stop.clone();
        let totals = watch::run(
            deliverer,
            options,
            stop,
            move |_flag| {
                let ingest = ingest.clone();
                let stop = refresh_stop.clone();
                async move { refresh(&ingest, &stop).await }
            },
            |line| eprintln!("{line}"),
        )
        .await?;
        eprintln!(
            "kessai watch: stopped after {} cycle{}: {} new articles, {} alerts delivered, {} waiting",
            totals.cycles,
            if totals.cycles == 1 { "" } else { "s" },
            totals.new_articles,
            totals.delivered,
            totals.waiting
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// One fetch of the due feeds; on a stop request the fetch gets [`STOP_GRACE`] to finish.
async fn refresh(ingest: &Ingest, stop: &Stop) -> RefreshSummary {
    let due = match ingest.due_feeds(Utc::now()) {
        Ok(d) => d,
        Err(e) => {
            return RefreshSummary {
                errors: vec![format!("cannot read feed state: {e}")],
                ..Default::default()
            };
        }
    };
    if due.is_empty() || stop.is_requested() {
        return RefreshSummary::default();
    }
    let run = ingest.run(&due, None);
    tokio::pin!(run);
    let report = tokio::select! {
        r = &mut run => Some(r),
        _ = stop.wait() => tokio::time::timeout(STOP_GRACE, &mut run).await.ok(),
    };
    match report {
        Some(r) => summarize(&r),
        None => RefreshSummary {
            feeds: due.len(),
            errors: vec!["stopped during the fetch; unfinished feeds are fetched next time".into()],
            ..Default::default()
        },
    }
}

fn summarize(report: &FetchReport) -> RefreshSummary {
    RefreshSummary {
        feeds: report.feeds.len(),
        failed: report.failed(),
        new_articles: report.new_articles(),
        errors: report
            .feeds
            .iter()
            .filter_map(|f| f.outcome.error().map(|why| format!("{}: {why}", f.feed)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parses_human_durations() {
        assert_eq!(parse_every("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_every("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("soon").is_err());
        assert!(parse_every("").is_err());
    }
}
