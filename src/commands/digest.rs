//! `kessai digest`: a period's digest (yesterday in the user's time zone by default) as
//! Markdown, HTML or JSON, on stdout or into a file.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use chrono_tz::Tz;
use clap::{Args, ValueEnum};

use kessai::config::Config;
use kessai::digest::{self, BuildOptions, CollectOptions, Labels, Period, QueryFilter};
use kessai::model::FeedId;
use kessai::sanitize;
use kessai::search;
use kessai::store::{Store, StoreError};
use kessai::tag::Tagger;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Markdown (CommonMark).
    Md,
    /// One self-contained HTML file (no scripts, no remote resources).
    Html,
    /// JSON, described by docs/digest-schema.json.
    Json,
}

/// `kessai digest` options.
#[derive(Args, Debug)]
pub struct DigestArgs {
    /// One local day, YYYY-MM-DD [default: yesterday]
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["since", "until"])]
    pub date: Option<String>,
    /// First local day of a range, YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<String>,
    /// Last local day of a range, inclusive [default with --since: today]
    #[arg(long, value_name = "YYYY-MM-DD", requires = "since")]
    pub until: Option<String>,
    /// Only articles matching this query (the `kessai search` language: words, "phrases",
    /// OR, -NOT, tag:, feed:, is:unread ...)
    #[arg(long, value_name = "QUERY")]
    pub query: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Write to this file (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// IANA time zone of the days [default: `timezone` in feeds.toml, else Asia/Tokyo]
    #[arg(long, env = "KESSAI_TZ", value_name = "ZONE")]
    pub tz: Option<String>,
    /// Refuse a period holding more articles than this (keeps memory bounded)
    #[arg(long, value_name = "N", default_value_t = digest::MAX_ARTICLES)]
    pub max_articles: usize,
    /// When another kessai holds the store, wait up to this many seconds for it
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait: u64,
}

/// Runs the command.
pub fn run(args: &DigestArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let config = Config::discover(global.config.as_deref()).context("reading the configuration")?;
    // The built-in taxonomy plus the user's taxonomy.toml, as fetch, tag and search use.
    let taxonomy = Tagger::configured()
        .context("loading the taxonomy")?
        .taxonomy();
    // A bad query is reported before the store is touched.
    let filter = match &args.query {
        Some(text) => {
            let query = search::parse(text).map_err(|e| query_error(text, &e))?;
            Some(QueryFilter::with(&query, taxonomy).map_err(|e| query_error(text, &e))?)
        }
        None => None,
    };
    let tz = match &args.tz {
        Some(name) => name.parse::<Tz>().map_err(|_| {
            anyhow::anyhow!("unknown time zone {name:?} (use an IANA name such as Asia/Tokyo)")
        })?,
        None => config.settings.tz(),
    };
    let period = period_of(args, tz)?;

    let store_path = global.store_path()?;
    if !store_path.exists() {
        bail!(
            "no store at {}: run `kessai fetch` first, or pass --store DIR",
            store_path.display()
        );
    }
    let store = open_waiting(&store_path, Duration::from_secs(args.wait))?;

    let names: BTreeMap<FeedId, String> = config
        .feeds
        .iter()
        .map(|f| (f.id(), f.display_title().to_string()))
        .collect();
    let collect_options = CollectOptions {
        names,
        max_articles: args.max_articles,
    };
    let articles = digest::collect(&store, &period, &collect_options, |a, an, flags| {
        filter.as_ref().is_none_or(|f| f.keeps(a, an, flags))
    })?;
    let failures = digest::failed_sources(&store, &collect_options)?;
    let options = BuildOptions {
        labels: Labels::from_taxonomy(taxonomy),
        query: args.query.clone(),
    };
    let d = digest::build(articles, &period, failures, &options);
    let text = match args.format {
        Format::Md => digest::markdown::render(&d),
        Format::Html => digest::html::render(&d),
        Format::Json => digest::json::render(&d).context("writing JSON")?,
    };

    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            // Feed text never reaches a terminal raw, whatever the format.
            let shown = if stdout.is_terminal() {
                sanitize::terminal(&text)
            } else {
                std::borrow::Cow::Borrowed(text.as_str())
            };
            match lock.write_all(shown.as_bytes()).and_then(|()| lock.flush()) {
                Ok(()) => {}
                // `kessai digest | head` is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e).context("writing to stdout"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A malformed query: one line says what is wrong; on a terminal the query and a caret
/// show where (as `kessai search` does).
fn query_error(text: &str, e: &search::QueryError) -> anyhow::Error {
    if std::io::stderr().is_terminal() {
        eprintln!("{}", search::render_caret(text, e.col(), "  "));
    }
    anyhow::anyhow!("bad query: {e}")
}

/// The period the options ask for; yesterday by default.
fn period_of(args: &DigestArgs, tz: Tz) -> anyhow::Result<Period> {
    let now = Utc::now();
    Ok(match (&args.date, &args.since, &args.until) {
        (Some(day), _, _) => Period::day(digest::parse_day(day)?, tz),
        (None, Some(since), until) => {
            let until = match until {
                Some(u) => digest::parse_day(u)?,
                None => now.with_timezone(&tz).date_naive(),
            };
            Period::range(digest::parse_day(since)?, until, tz)?
        }
        (None, None, _) => Period::yesterday(now, tz),
    })
}

/// Opens the store, retrying while another kessai holds it, up to `wait`.
fn open_waiting(path: &Path, wait: Duration) -> anyhow::Result<Store> {
    let deadline = Instant::now() + wait;
    loop {
        match Store::open(path) {
            Ok(store) => return Ok(store),
            Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes a file so that readers (a mailer picking it up) never see half of it: a temporary
/// file beside it, synced, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "digest".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
