//! `kessai fetch [--feed NAME]... [--due]`: fetches the feeds, stores new articles and prints
//! a line per feed.
//!
//! Exit codes: 0 when every feed was fetched (new articles or 304 unchanged);
//! 2 ([`EXIT_SOME_FEEDS_FAILED`]) when at least one feed failed or hit a limit — the others
//! were still fetched and stored (and of a limited feed, what fit the limits), and each
//! failure is named on its own line (`FAILED` or `LIMIT`); 1 when the run could not start
//! (bad config, store in use or damaged).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use unicode_width::UnicodeWidthStr;

use kessai::config::Config;
use kessai::fetch::NetworkScope;
use kessai::ingest::{FeedOutcome, FeedReport, FetchReport, Ingest, Progress, select_feeds};
use kessai::sanitize::terminal_line;

/// Exit code when some feeds failed and the rest were fetched.
pub const EXIT_SOME_FEEDS_FAILED: u8 = 2;

/// Arguments of `kessai fetch`.
#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// Fetch only this feed (repeatable); disabled feeds can be fetched by name.
    #[arg(long = "feed", value_name = "NAME")]
    pub feeds: Vec<String>,
    /// Fetch only the feeds whose interval has passed since their last attempt.
    #[arg(long, conflicts_with = "feeds")]
    pub due: bool,
    /// Print only failures and the total line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `kessai fetch`.
pub fn run(args: &FetchArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let config = Config::load(super::feeds::source(global))?;
    let store_path = global.store_path()?;
    // New articles get their search postings and enqueue their alerts (delivered by
    // `kessai watch`) in the same write.
    let store = super::open_store(&store_path)?;
    let feeds = select_feeds(&config, &args.feeds).map_err(anyhow::Error::msg)?;
    // The built-in taxonomy plus the user's taxonomy.toml, as `kessai tag` and `retag` use.
    let tagger = kessai::tag::Tagger::configured().context("loading the taxonomy")?;
    let ingest = Ingest::new(config, store, NetworkScope::Any)?.with_tagger(tagger);
    let feeds = if args.due {
        ingest.due_feeds(chrono::Utc::now())?
    } else {
        feeds
    };
    if feeds.is_empty() {
        if args.due {
            let _ = writeln!(std::io::stdout().lock(), "no feed is due");
            return Ok(ExitCode::SUCCESS);
        }
        bail!("no enabled feeds in {}", ingest.config().source);
    }
    let report = run_with_progress(&ingest, &feeds, args.quiet)?;
    print_total(&report);
    Ok(exit_code(&report))
}

/// Runs the ingest with a progress bar on a terminal (stderr), or plain lines otherwise;
/// each feed's line is printed as it finishes.
pub fn run_with_progress(
    ingest: &Ingest,
    feeds: &[kessai::config::FeedConfig],
    quiet: bool,
) -> anyhow::Result<FetchReport> {
    let width = feeds
        .iter()
        .map(|f| terminal_line(&f.name).width())
        .max()
        .unwrap_or(0)
        .min(32);
    let bar = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(feeds.len() as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} fetching [{bar:30}] {pos}/{len} feeds {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(pb)
    } else {
        None
    };
    let bar_for_progress = bar.clone();
    let progress: Progress = Arc::new(move |r: &FeedReport| {
        if quiet && !r.failed() {
            if let Some(pb) = &bar_for_progress {
                pb.inc(1);
            }
            return;
        }
        let line = feed_line(r, width);
        match &bar_for_progress {
            Some(pb) => {
                pb.println(line);
                pb.inc(1);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        }
    });
    let report = ingest
        .run_blocking(feeds, Some(progress))
        .context("cannot start the fetch runtime")?;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    Ok(report)
}

/// One feed's summary line (and its notes, indented), safe for the terminal.
pub fn feed_line(r: &FeedReport, width: usize) -> String {
    let name = terminal_line(r.feed.as_str());
    let pad = width.saturating_sub(name.width());
    let name = format!("{name}{}", " ".repeat(pad));
    let secs = r.elapsed.as_secs_f64();
    let mut line = match &r.outcome {
        FeedOutcome::Updated => format!(
            "ok        {name}  new {:>4}  known {:>4}{}  ({secs:.1} s)  {}",
            r.new,
            r.duplicate,
            if r.skipped > 0 {
                format!("  skipped {}", r.skipped)
            } else {
                String::new()
            },
            terminal_line(&r.title)
        ),
        FeedOutcome::Unchanged => format!(
            "unchanged {name}  (304 Not Modified, {secs:.1} s)  {}",
            terminal_line(&r.title)
        ),
        FeedOutcome::Limited(reason) => format!(
            "LIMIT     {name}  new {:>4}  known {:>4}  ({secs:.1} s)  {}",
            r.new,
            r.duplicate,
            terminal_line(reason)
        ),
        FeedOutcome::Failed(reason) => {
            format!("FAILED    {name}  {}", terminal_line(reason))
        }
    };
    for note in &r.notes {
        line.push_str("\n          ");
        line.push_str(&" ".repeat(width));
        line.push_str("  note: ");
        line.push_str(&terminal_line(note));
    }
    line
}

/// The closing total line (write errors such as a closed pipe are ignored: the articles are
/// stored either way).
pub fn print_total(report: &FetchReport) {
    let limited = match report.limited() {
        0 => String::new(),
        n => format!(" ({n} over a limit)"),
    };
    let _ = writeln!(
        std::io::stdout().lock(),
        "{} feeds: {} new articles, {} already stored, {} unchanged, {} failed{limited} ({:.1} s)",
        report.feeds.len(),
        report.new_articles(),
        report.duplicates(),
        report.unchanged(),
        report.failed(),
        report.elapsed.as_secs_f64()
    );
}

/// 0 when no feed failed, [`EXIT_SOME_FEEDS_FAILED`] otherwise.
pub fn exit_code(report: &FetchReport) -> ExitCode {
    if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SOME_FEEDS_FAILED)
    }
}
