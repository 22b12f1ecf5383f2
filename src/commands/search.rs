//! `kessai search` and `kessai reindex`: full-text search over the store, saved searches,
//! and rebuilding the search index.
//!
//! Exit codes: 0 success (also when nothing matched); 1 (`commands::EXIT_ERROR`) for any
//! error, a malformed query included (its message names the column, and a caret line
//! shows it under the query).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::FixedOffset;
use clap::{Args, ValueEnum};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use kessai::sanitize::terminal_line;
use kessai::search::{self, Cursor, Engine, Results, Sort, saved};
use kessai::store::Store;

/// `kessai search ...`
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The query (see docs/search.md): words, "phrases", OR, NOT / -word, ( ),
    /// tag:ID|FAMILY, feed:NAME, since:YYYY-MM-DD, until:YYYY-MM-DD, is:unread|read|starred.
    /// Put options before the query (or quote it) so that words such as -word reach it.
    #[arg(value_name = "QUERY", num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
    query: Vec<String>,
    /// Results per page.
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    limit: usize,
    /// Order of results.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    sort: SortArg,
    /// Start after this many results (the "next" value a previous page printed).
    #[arg(long, value_name = "N")]
    cursor: Option<usize>,
    /// Print JSON (one object with the hits) for tools.
    #[arg(long)]
    json: bool,
    /// Save QUERY under NAME (for the reader's sidebar and --run) instead of running it.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["saved", "run", "delete"])]
    save: Option<String>,
    /// List saved searches.
    #[arg(long, conflicts_with_all = ["run", "delete"])]
    saved: bool,
    /// Run the saved search NAME.
    #[arg(long, value_name = "NAME", conflicts_with = "delete")]
    run: Option<String>,
    /// Delete the saved search NAME.
    #[arg(long, value_name = "NAME")]
    delete: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortArg {
    /// Best match first (BM25, title hits weigh more; newer first among equals).
    Relevance,
    /// Newest first.
    Date,
}

/// `kessai reindex`
#[derive(Args, Debug)]
pub struct ReindexArgs {}

/// Runs `kessai search`.
pub fn run(args: &SearchArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store = Store::open(&path).context("cannot open the store")?;
    let text = args.query.join(" ");
    if args.saved {
        return list_saved(&store, args.json);
    }
    if let Some(name) = &args.delete {
        if !saved::remove(&store, name)? {
            bail!("no saved search named {:?}", terminal_line(name));
        }
        store.flush()?;
        println!("deleted saved search {}", terminal_line(name));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.save {
        check_query(&text)?;
        saved::save(&store, name, &text)?;
        store.flush()?;
        println!(
            "saved search {}: {}",
            terminal_line(name),
            terminal_line(&text)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = match &args.run {
        Some(name) => match saved::get(&store, name)? {
            Some(s) => s.query,
            None => bail!("no saved search named {:?}", terminal_line(name)),
        },
        None => text,
    };
    let query = check_query(&text)?;
    // The taxonomy ingest tags with (built-in plus the user's file): its tags and spellings.
    let taxonomy = kessai::tag::Tagger::configured()
        .context("loading the taxonomy")?
        .taxonomy();
    let engine = Engine::with_taxonomy(&store, taxonomy)?;
    let sort = match args.sort {
        SortArg::Relevance => Sort::Relevance,
        SortArg::Date => Sort::Date,
    };
    let results = match engine.search_by(&query, sort, args.limit, args.cursor.map(Cursor)) {
        Ok(r) => r,
        Err(search::SearchError::Query(e)) => return Err(query_error(&text, &e)),
        Err(e) => return Err(e.into()),
    };
    if let Some(stale) = results.stale {
        if stale.rebuilding {
            eprintln!(
                "kessai: warning: a search index rebuild did not finish; run `kessai reindex`"
            );
        } else {
            eprintln!(
                "kessai: warning: the search index covers {} of {} articles; run `kessai reindex`",
                stale.indexed, stale.stored
            );
        }
    }
    let mut out = std::io::stdout().lock();
    let tty = std::io::stdout().is_terminal();
    let printed = if args.json {
        print_json(&mut out, &text, &results)
    } else {
        print_text(&mut out, &results, args.cursor.unwrap_or(0), tty)
    };
    match printed {
        // The reader of our output went away (`| head`): nothing left to do.
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let kind = e
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind)
        .or_else(|| {
            e.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        });
    kind == Some(std::io::ErrorKind::BrokenPipe)
}

/// Parses a query; a malformed one becomes an error whose message points at the column.
fn check_query(text: &str) -> anyhow::Result<search::Query> {
    search::parse(text).map_err(|e| query_error(text, &e))
}

fn query_error(text: &str, e: &search::QueryError) -> anyhow::Error {
    // One line says what is wrong; on a terminal the query and a caret show where.
    if std::io::stderr().is_terminal() {
        eprintln!("{}", search::render_caret(text, e.col(), "  "));
    }
    anyhow::anyhow!("bad query: {e}")
}

fn list_saved(store: &Store, json: bool) -> anyhow::Result<ExitCode> {
    let all = saved::list(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no saved searches (save one with: kessai search --save NAME QUERY)");
    }
    let width = all
        .iter()
        .map(|s| terminal_line(&s.name).width())
        .max()
        .unwrap_or(0);
    for s in &all {
        let name = terminal_line(&s.name);
        let pad = width.saturating_sub(name.width());
        println!("{name}{}  {}", " ".repeat(pad), terminal_line(&s.query));
    }
    Ok(ExitCode::SUCCESS)
}

/// Japan time, for dates shown to the analyst.
fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// Cuts `s` to at most `width` terminal columns (adding `…` when cut).
fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn print_text(out: &mut impl Write, r: &Results, offset: usize, tty: bool) -> anyhow::Result<()> {
    let feed_width = r
        .hits
        .iter()
        .map(|h| terminal_line(h.article.draft.feed.as_str()).width())
        .max()
        .unwrap_or(0)
        .min(16);
    for hit in &r.hits {
        let date = hit
            .article
            .draft
            .published
            .with_timezone(&jst())
            .format("%Y-%m-%d");
        let feed = fit(&terminal_line(hit.article.draft.feed.as_str()), feed_width);
        let pad = feed_width.saturating_sub(feed.width());
        writeln!(
            out,
            "{date}  {feed}{}  {}",
            " ".repeat(pad),
            hit.title.to_terminal(tty)
        )?;
        let snippet = hit.snippet.to_terminal(tty);
        if !snippet.is_empty() {
            writeln!(out, "{}  {snippet}", " ".repeat(10 + 2 + feed_width))?;
        }
    }
    let shown = r.hits.len();
    let range = if shown == 0 {
        String::new()
    } else {
        format!(" (showing {}–{})", offset + 1, offset + shown)
    };
    let summary = match r.total {
        Some(n) => format!("{n} result{}{range}", if n == 1 { "" } else { "s" }),
        // Filters only: answered a page at a time, without counting the rest.
        None if shown == 0 => "no results".to_string(),
        None => format!("showing {}–{}", offset + 1, offset + shown),
    };
    match r.next {
        Some(c) => writeln!(out, "{summary}; next page: --cursor {c}")?,
        None => writeln!(out, "{summary}")?,
    }
    Ok(())
}

fn print_json(out: &mut impl Write, query: &str, r: &Results) -> anyhow::Result<()> {
    let hits: Vec<serde_json::Value> = r
        .hits
        .iter()
        .map(|h| {
            serde_json::json!({
                "id": h.id.0,
                "score": h.score,
                "published": h.article.draft.published.to_rfc3339(),
                "feed": h.article.draft.feed.as_str(),
                "url": h.article.draft.url,
                "title": h.article.draft.title,
                "snippet": h.snippet.plain(),
                "title_parts": h.title.parts,
                "snippet_parts": h.snippet.parts,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "query": query,
        "total": r.total,
        "next": r.next.map(|c| c.0),
        "stale": r.stale,
        "hits": hits,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

/// Runs `kessai reindex`.
pub fn reindex(_args: &ReindexArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store = Store::open(&path).context("cannot open the store")?;
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("indexing {bar:30} {pos}/{len} articles {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let report = search::rebuild(&store, &mut |p| {
        if let Some(b) = &bar {
            b.set_length(p.total);
            b.set_position(p.done);
        }
    })
    .context("reindex")?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    store.flush()?;
    println!(
        "indexed {} articles in {:.1} s{}",
        report.articles,
        started.elapsed().as_secs_f64(),
        if report.missing > 0 {
            format!(" ({} listed but unreadable, skipped)", report.missing)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_by_columns() {
        assert_eq!(fit("paysec", 10), "paysec");
        assert_eq!(fit("金融新聞ニュース", 7), "金融新…");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
