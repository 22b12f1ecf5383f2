//! The `kessai` command: parses the command line and hands each command to its module in
//! `commands/`, which call the library. Errors end as one line on stderr.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Global;

// jemalloc instead of glibc's malloc: a cold fetch allocates from several threads at once
// (tagging, sled's node copies) and glibc spent a fifth of its CPU time in malloc/free.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's built-in options (`_RJEM_MALLOC_CONF` still overrides them): one arena;
/// freed pages returned to the system within a second instead of kept as "muzzy" pages that
/// count as resident, so peak memory stays at or below glibc's; and one cached block per
/// thread of each size up to 1 MiB, so that sled's zeroed 512 KiB log buffers are reused
/// instead of purged and faulted in again (opening a store after a write session otherwise
/// took 100,000 page faults instead of 6,000).
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
// SAFETY: a pointer to a 'static C string that nothing writes to.
unsafe impl Sync for MallocConf {}
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(
    c"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache_max:1048576,tcache_nslots_large:1"
        .as_ptr(),
);

/// A terminal news desk for the security of cashless payments in Japan.
#[derive(Parser, Debug)]
#[command(name = "kessai", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the licence notices of kessai and of the IPADIC dictionary it embeds.
    About,
    /// Alert subscriptions: add, list, test, pause, export/import, and the outbox.
    Alert(commands::alert::AlertArgs),
    /// Fetch due feeds on a schedule, deliver alerts, one log line per cycle (Ctrl-C stops).
    Watch(commands::watch::WatchArgs),
    /// Inspect, verify and repair the local store (info, check, rebuild).
    Store(commands::store::StoreArgs),
    /// Write a period's digest (default: yesterday) as Markdown, HTML or JSON.
    Digest(commands::digest::DigestArgs),
    /// Tag a text or an HTML page (FILE, or standard input) and print its tags and facts.
    Tag(commands::tag::TagArgs),
    /// Fetch the feeds and store new articles (exit 2 when some feeds failed).
    Fetch(commands::fetch::FetchArgs),
    /// List, check, import (OPML) and export (OPML) the feeds.
    Feeds(commands::feeds::FeedsArgs),
    /// Export every stored article (JSON Lines).
    Export(commands::export::ExportArgs),
    /// Serve the built-in sample corpus on loopback and ingest it into a fresh store.
    Demo(commands::demo::DemoArgs),
    /// Re-tag every stored article with the current taxonomy (after editing taxonomy.toml).
    Retag(commands::tag::RetagArgs),
    /// Search the stored articles (words, "phrases", OR, NOT, tag:, feed:, since:, until:, is:);
    /// save searches for the reader's sidebar.
    Search(commands::search::SearchArgs),
    /// Rebuild the search index from the stored articles.
    Reindex(commands::search::ReindexArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::About) => commands::about::run(&cli.global),
        None => commands::read::run(&cli.global),
        Some(Command::Alert(args)) => commands::alert::run(&cli.global, args),
        Some(Command::Watch(args)) => commands::watch::run(&args, &cli.global),
        Some(Command::Store(args)) => commands::store::run(&args, &cli.global),
        Some(Command::Digest(args)) => commands::digest::run(&args, &cli.global),
        Some(Command::Tag(args)) => commands::tag::run(&args),
        Some(Command::Fetch(args)) => commands::fetch::run(&args, &cli.global),
        Some(Command::Feeds(args)) => commands::feeds::run(&args, &cli.global),
        Some(Command::Export(args)) => commands::export::run(&args, &cli.global),
        Some(Command::Demo(args)) => commands::demo::run(&args, &cli.global),
        Some(Command::Retag(args)) => commands::tag::run_retag(&args, &cli.global),
        Some(Command::Search(args)) => commands::search::run(&args, &cli.global),
        Some(Command::Reindex(args)) => commands::search::reindex(&args, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` joins the context chain on one line; the text may quote feed data.
            eprintln!(
                "kessai: {}",
                kessai::sanitize::terminal_line(&format!("{err:#}"))
            );
            ExitCode::from(commands::EXIT_ERROR)
        }
    }
}
