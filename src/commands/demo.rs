//! `kessai demo [--no-tui] [--store DIR]`: serves the built-in sample corpus on 127.0.0.1,
//! ingests it through the real pipeline (fetch, charset, parse, extract, tag, store) into a
//! fresh store, prints the summary, and opens the reader on it (not with `--no-tui`).
//! Nothing leaves the machine: the fetcher is limited to loopback addresses.
//!
//! Without `--store` the store is a new folder under the system's temporary directory (never
//! your own store); its path is printed so you can open it with `kessai --store PATH`.
//! Exit codes as for `kessai fetch`: 0, or 2 when a sample feed failed, 1 on an error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use kessai::config::{Config, FeedConfig, FeedFormat};
use kessai::fetch::NetworkScope;
use kessai::ingest::Ingest;
use kessai::model::Family;
use kessai::sample::{self, SampleOptions, SampleServer};
use kessai::sanitize::terminal_line;
use kessai::store::Store;

/// Prints a line; write errors (a closed pipe) are ignored, the demo store is complete anyway.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Arguments of `kessai demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Print the summary instead of opening the reader.
    #[arg(long)]
    pub no_tui: bool,
}

/// Runs `kessai demo`.
pub fn run(args: &DemoArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let server = SampleServer::start(SampleOptions::default())
        .context("cannot start the sample server on 127.0.0.1")?;
    let path = match &global.store {
        Some(p) => p.clone(),
        None => fresh_store_dir()?,
    };
    let store = super::open_store(&path)?;
    let config = demo_config(&server);
    let feeds = config.feeds.clone();
    outln!(
        "kessai demo: {} sample outlets served at {} (loopback only)",
        feeds.len(),
        server.base_url()
    );
    let ingest = Ingest::new(config, store.clone(), NetworkScope::LoopbackOnly)?;
    let report = super::fetch::run_with_progress(&ingest, &feeds, false)?;
    super::fetch::print_total(&report);
    print_incidents(&store)?;
    outln!("store: {}", path.display());
    outln!(
        "browse it with: kessai --store {} (or export it: kessai --store {} export)",
        path.display(),
        path.display()
    );
    use std::io::IsTerminal as _;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if !args.no_tui && !tty {
        outln!("(not a terminal: the reader did not open)");
    }
    if !args.no_tui && tty {
        // The sample server keeps serving while the reader is open, so R refreshes from it.
        let refresh: std::sync::Arc<dyn kessai::tui::Refresher> =
            std::sync::Arc::new(kessai::tui::refresh::IngestRefresher::new(ingest));
        let options = kessai::tui::Options {
            refresh: Some(refresh),
            store_label: path.display().to_string(),
            ..kessai::tui::Options::default()
        };
        kessai::tui::run(store, options)?;
    }
    Ok(super::fetch::exit_code(&report))
}

/// A feed per sample outlet, pointing at the loopback server.
pub fn demo_config(server: &SampleServer) -> Config {
    let mut feeds = Vec::new();
    for o in server.outlets().iter().filter(|o| !o.test_only) {
        let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
        f.title = Some(o.name.clone());
        f.category = Some("sample".to_string());
        f.format = match o.format {
            sample::FeedFormat::Rss1 | sample::FeedFormat::Rss2 => FeedFormat::Rss,
            sample::FeedFormat::Atom => FeedFormat::Atom,
            sample::FeedFormat::Json => FeedFormat::Json,
            sample::FeedFormat::HtmlList => FeedFormat::HtmlList,
        };
        feeds.push(f);
    }
    let mut config = Config::with_feeds(feeds);
    // Every outlet lives on the same loopback host. At most 4 connections to it: the sample
    // server (tiny_http) starts with 4 connection threads, and when more connections than
    // idle threads arrive at once it can queue the extras behind keep-alive connections
    // that stay open until the client's idle timeout (a 4 s stall, seen with 8).
    config.settings.per_host_concurrency = 4;
    config
}

fn fresh_store_dir() -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let dir = std::env::temp_dir().join(format!("kessai-demo-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn print_incidents(store: &Store) -> anyhow::Result<()> {
    let mut incidents: Vec<(String, u64)> = store
        .tag_counts()?
        .into_iter()
        .filter(|(_, family, _)| *family == Family::Incident)
        .map(|(tag, _, n)| (tag.0, n))
        .collect();
    if incidents.is_empty() {
        return Ok(());
    }
    incidents.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let line: Vec<String> = incidents
        .iter()
        .map(|(t, n)| format!("{} ({n})", terminal_line(t)))
        .collect();
    outln!("incidents: {}", line.join(", "));
    Ok(())
}
