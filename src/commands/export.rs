//! `kessai export --format jsonl`: every stored article, one JSON object per line (newest
//! first), for other tools.
//!
//! Each line: `id`, `feed`, `url`, `guid`, `title`, `published`, `fetched`, `summary`,
//! `body`, `tags` (`[{tag, family, count}]`) and `facts` (counts, amounts, dates, causes).
//! Exit codes: 0 success; 1 when the store cannot be opened or the output cannot be written.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use kessai::model::{ArticleId, Facts, Family};
use kessai::store::Store;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one article per line.
    Jsonl,
}

/// Arguments of `kessai export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// One exported article.
#[derive(Debug, Serialize)]
pub struct ExportRow<'a> {
    /// Store id.
    pub id: ArticleId,
    /// Feed name.
    pub feed: &'a str,
    /// Canonical URL.
    pub url: &'a str,
    /// The feed's GUID, if any.
    pub guid: Option<&'a str>,
    /// Headline.
    pub title: &'a str,
    /// Publication time (UTC).
    pub published: DateTime<Utc>,
    /// When kessai fetched it.
    pub fetched: DateTime<Utc>,
    /// The feed's summary.
    pub summary: &'a str,
    /// Extracted article text, paragraphs separated by blank lines.
    pub body: &'a str,
    /// Tags.
    pub tags: Vec<ExportTag<'a>>,
    /// Facts.
    pub facts: &'a Facts,
}

/// One tag of an exported article.
#[derive(Debug, Serialize)]
pub struct ExportTag<'a> {
    /// Taxonomy id.
    pub tag: &'a str,
    /// Family.
    pub family: Family,
    /// Matches.
    pub count: u32,
}

/// Runs `kessai export`.
pub fn run(args: &ExportArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store =
        Store::open(&path).with_context(|| format!("cannot open the store {}", path.display()))?;
    let n = match &args.output {
        Some(file) => {
            let f = std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            let mut w = BufWriter::new(f);
            let n = write_jsonl(&store, &mut w)?;
            w.flush()
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("{n} articles written to {}", file.display());
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            let result = write_jsonl(&store, &mut w).and_then(|n| {
                w.flush().context("cannot write to standard output")?;
                Ok(n)
            });
            match result {
                Ok(n) => n,
                // The reader went away (`kessai export | head`): not an error.
                Err(e) if is_broken_pipe(&e) => 0,
                Err(e) => return Err(e),
            }
        }
    };
    let _ = n;
    Ok(ExitCode::SUCCESS)
}

/// Writes every article as one JSON line, newest first; returns how many.
pub fn write_jsonl(store: &Store, out: &mut impl Write) -> anyhow::Result<u64> {
    let empty = Facts::default();
    let mut n = 0;
    for id in store.ids_newest_first() {
        let id = id?;
        // An id whose article vanished (removed meanwhile) is skipped, not an error.
        let Some(article) = store.get(id)? else {
            continue;
        };
        let analysis = store.analysis(id)?;
        let d = &article.draft;
        let row = ExportRow {
            id,
            feed: d.feed.as_str(),
            url: &d.url,
            guid: d.guid.as_deref(),
            title: &d.title,
            published: d.published,
            fetched: d.fetched,
            summary: &d.summary,
            body: &d.body,
            tags: analysis
                .as_ref()
                .map(|a| {
                    a.tags
                        .iter()
                        .map(|t| ExportTag {
                            tag: t.tag.as_str(),
                            family: t.family,
                            count: t.count,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            facts: analysis.as_ref().map_or(&empty, |a| &a.facts),
        };
        serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

/// Whether an error is a closed pipe on the output.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
