//! `kessai store info | check | rebuild`: look inside the local store, verify its
//! invariants, and re-derive indexes and counters from the stored articles.
//!
//! Exit codes: 0 success; `check` exits 1 when it finds violations (one line each on
//! stdout); an error that stops the command (store in use, damaged, ...) is one line on
//! stderr with exit code 1 as well (`commands::EXIT_ERROR`).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kessai::model::ArticleDraft;
use kessai::sanitize::terminal_line;
use kessai::store::{RebuildProgress, Store, StoreOptions};

/// Exit code of `kessai store check` when it found violations.
pub const EXIT_VIOLATIONS: u8 = 1;

/// `kessai store ...`
#[derive(Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand, Debug)]
enum StoreCommand {
    /// Path, schema version, article/feed/tag counts and size on disk.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify the store's invariants; exit 1 with one line per violation.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-derive indexes, counters, dedup keys and search/alert state from the stored
    /// articles (keeping their tags, or re-tagging them with --retag). Run it when `check`
    /// reports violations, after an interrupted rebuild, or after a taxonomy change.
    Rebuild {
        /// Re-tag every article with the current tagger and taxonomy first.
        #[arg(long)]
        retag: bool,
        /// Open a damaged store that lost flushed articles and keep what survived.
        #[arg(long)]
        accept_loss: bool,
    },
}

/// Runs a `kessai store` command.
pub fn run(args: &StoreArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let options = StoreOptions {
        accept_data_loss: matches!(
            args.command,
            StoreCommand::Rebuild {
                accept_loss: true,
                ..
            }
        ),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&path, options).context("cannot open the store")?;
    match &args.command {
        StoreCommand::Info { json } => info(&store, *json),
        StoreCommand::Check { json } => check(&store, *json),
        StoreCommand::Rebuild { retag, .. } => rebuild(&store, *retag),
    }
}

fn info(store: &Store, json: bool) -> anyhow::Result<ExitCode> {
    let info = store.info().context("store info")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "path            {}",
        terminal_line(&info.path.display().to_string())
    );
    println!("schema version  {}", info.schema_version);
    println!(
        "articles        {} ({} unread, {} starred)",
        info.articles, info.unread, info.starred
    );
    println!(
        "feeds           {} with articles, {} with fetch state",
        info.feeds, info.feed_states
    );
    println!("tags            {}", info.tags);
    println!("size on disk    {}", human_bytes(info.size_on_disk));
    if !info.trees.is_empty() {
        println!("reader trees    {}", terminal_line(&info.trees.join(", ")));
    }
    if info.rebuild_pending {
        println!("rebuild pending an earlier rebuild was interrupted; run `kessai store rebuild`");
    }
    Ok(ExitCode::SUCCESS)
}

fn check(store: &Store, json: bool) -> anyhow::Result<ExitCode> {
    let report = store.check().context("store check")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for v in &report.violations {
            println!("{}", terminal_line(&v.to_string()));
        }
        if report.unlisted > 0 {
            println!("… and {} more violations", report.unlisted);
        }
        let summary = format!(
            "{} articles, {} index entries checked: {}",
            report.articles,
            report.index_entries,
            if report.is_ok() {
                "ok".to_string()
            } else {
                format!(
                    "{} violations; `kessai store rebuild` re-derives indexes and counters",
                    report.violations.len() as u64 + report.unlisted
                )
            }
        );
        eprintln!("{summary}");
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VIOLATIONS)
    })
}

fn rebuild(store: &Store, retag: bool) -> anyhow::Result<ExitCode> {
    // The search index is derived from the articles too: rebuilt in the same pass (the alert
    // outbox takes nothing from a rebuild: stored articles have had their alerts).
    super::attach_indexers(store)?;
    // The taxonomy ingest tags with: the built-in one plus the user's taxonomy.toml.
    let tagger = kessai::tag::Tagger::configured().context("loading the taxonomy")?;
    let analyze = |d: &ArticleDraft| tagger.analyze(d);
    let retag_fn: Option<&dyn Fn(&ArticleDraft) -> kessai::model::Analysis> =
        if retag { Some(&analyze) } else { None };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("rebuild {bar:40} {pos}/{len} articles")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut last_line = 0u64;
    let mut progress = |p: RebuildProgress| match &bar {
        Some(b) => {
            b.set_length(p.total);
            b.set_position(p.done);
        }
        None => {
            if p.done >= last_line + 10_000 {
                last_line = p.done;
                eprintln!("rebuild: {}/{} articles", p.done, p.total);
            }
        }
    };
    let report = store
        .rebuild_with(retag_fn, &mut progress)
        .context("store rebuild")?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    store.flush().context("store rebuild")?;
    println!(
        "{} indexes and counters of {} articles ({} twins, {} orphan records removed)",
        if report.retagged {
            "re-tagged and rebuilt"
        } else {
            "rebuilt"
        },
        report.articles,
        report.twins,
        report.orphans_removed
    );
    if !report.analyses_reset.is_empty() {
        let ids: Vec<String> = report
            .analyses_reset
            .iter()
            .map(|i| i.to_string())
            .collect();
        println!(
            "{} articles had unreadable tags and now have none (run `kessai store rebuild --retag`): {}",
            ids.len(),
            ids.join(" ")
        );
    }
    if !report.unreadable.is_empty() {
        let ids: Vec<String> = report.unreadable.iter().map(|i| i.to_string()).collect();
        println!(
            "{} articles could not be read and were left out: {}",
            ids.len(),
            ids.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes as KiB/MiB/GiB with one decimal.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {} ({n} bytes)", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 bytes)");
        assert!(human_bytes(5 * 1024 * 1024 * 1024).starts_with("5.0 GiB"));
    }
}
