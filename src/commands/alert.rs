//! `kessai alert`: manage alert subscriptions, try them on the store, and look after the
//! outbox of alerts waiting for a sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use kessai::alerts::{AlertState, SinkSpec, Subscription, SubscriptionFile, eval};
use kessai::sanitize::terminal_line;
use kessai::search::{Compiled, Doc, render_caret};
use kessai::store::Store;
use kessai::tokenize::Tokenizer;

/// Arguments of `kessai alert`.
#[derive(Args, Debug)]
pub struct AlertArgs {
    #[command(subcommand)]
    command: AlertCommand,
}

#[derive(Subcommand, Debug)]
enum AlertCommand {
    /// Add a subscription: alert on every NEW article matching QUERY.
    Add {
        /// A name (letters, digits, - _ .).
        name: String,
        /// The query, in the search language (e.g. 'tag:7pay OR "J-Coin Pay"').
        #[arg(long, short)]
        query: String,
        /// Where alerts go: stdout, notice, file:PATH, exec:COMMAND ARGS,
        /// webhook:URL[#header=NAME:env=VAR&timeout=10s]. Repeat for several.
        #[arg(long = "to", value_name = "SINK", required = true)]
        to: Vec<String>,
        /// Add it paused.
        #[arg(long)]
        paused: bool,
    },
    /// List subscriptions with their waiting alerts.
    List,
    /// Remove a subscription (its waiting alerts stay until delivered or dropped).
    Remove {
        /// The subscription.
        name: String,
    },
    /// Show what a subscription would have matched among the newest stored articles.
    Test {
        /// The subscription.
        name: String,
        /// Show at most this many matches.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Look at most at this many of the newest articles.
        #[arg(long, default_value_t = 5_000)]
        scan: usize,
    },
    /// Stop a subscription from matching (articles arriving meanwhile never alert).
    Pause {
        /// The subscription.
        name: String,
    },
    /// Let a paused subscription match again.
    Resume {
        /// The subscription.
        name: String,
    },
    /// Write every subscription as TOML (to FILE, or standard output).
    Export {
        /// The file to write.
        file: Option<PathBuf>,
    },
    /// Add or replace subscriptions from a TOML file written by `alert export`.
    Import {
        /// The file to read.
        file: PathBuf,
    },
    /// Show alerts waiting for delivery, or drop them.
    Outbox {
        /// Drop the waiting alert whose id starts with ID (at least 6 characters).
        #[arg(long, value_name = "ID", conflicts_with = "drop_all")]
        drop: Option<String>,
        /// Drop every waiting alert.
        #[arg(long)]
        drop_all: bool,
    },
}

/// Runs `kessai alert ...`.
pub fn run(global: &super::Global, args: AlertArgs) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store = Store::open(&path)?;
    let state = AlertState::open(&store)?;
    let mut out = std::io::stdout().lock();
    match args.command {
        AlertCommand::Add {
            name,
            query,
            to,
            paused,
        } => {
            check_query(&query)?;
            let sub = Subscription {
                name,
                query,
                sinks: parse_sinks(&to)?,
                paused,
                created: Utc::now(),
            };
            state.add(&sub)?;
            writeln!(
                out,
                "added {}{} → {}",
                sub.name,
                if sub.paused { " (paused)" } else { "" },
                sinks_text(&sub.sinks)
            )?;
        }
        AlertCommand::List => list(&state, &mut out)?,
        AlertCommand::Remove { name } => {
            let sub = state.remove(&name)?;
            writeln!(out, "removed {}", sub.name)?;
        }
        AlertCommand::Test { name, limit, scan } => {
            test(&store, &state, &name, limit, scan, &mut out)?
        }
        AlertCommand::Pause { name } => {
            let changed = state.set_paused(&name, true)?;
            writeln!(
                out,
                "{name} {}",
                if changed {
                    "paused"
                } else {
                    "was already paused"
                }
            )?;
        }
        AlertCommand::Resume { name } => {
            let changed = state.set_paused(&name, false)?;
            writeln!(
                out,
                "{name} {}",
                if changed { "resumed" } else { "was not paused" }
            )?;
        }
        AlertCommand::Export { file } => {
            let text = SubscriptionFile {
                alerts: state.subscriptions()?,
            }
            .to_toml();
            match file {
                Some(f) => {
                    std::fs::write(&f, text)
                        .with_context(|| format!("cannot write {}", f.display()))?;
                    writeln!(out, "wrote {}", f.display())?;
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
        AlertCommand::Import { file } => import(&state, &file, &mut out)?,
        AlertCommand::Outbox { drop, drop_all } => {
            if drop_all {
                let n = state.drop_all()?;
                writeln!(out, "dropped {n} waiting alert{}", plural(n))?;
            } else if let Some(id) = drop {
                for e in state.drop_entries(&id)? {
                    writeln!(
                        out,
                        "dropped {} ({} → {}, article {})",
                        e.id,
                        e.subscription,
                        terminal_line(&e.sink),
                        e.article
                    )?;
                }
            } else {
                outbox(&state, &mut out)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses and compiles a query; on error shows where, then fails with one line.
fn check_query(query: &str) -> anyhow::Result<Compiled> {
    let taxonomy = kessai::tag::Tagger::configured()?.taxonomy();
    let parsed = kessai::search::parse(query)
        .and_then(|q| Compiled::with(&q, Tokenizer::shared(), taxonomy));
    match parsed {
        Ok(c) => Ok(c),
        Err(e) => {
            eprintln!("{}", render_caret(query, e.col(), "  "));
            bail!("query: {e}")
        }
    }
}

fn parse_sinks(texts: &[String]) -> anyhow::Result<Vec<SinkSpec>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    texts
        .iter()
        .map(|t| {
            SinkSpec::parse(t)
                .map(|s| s.resolve(&cwd, home.as_deref()))
                .with_context(|| format!("--to {}", terminal_line(t)))
        })
        .collect()
}

fn sinks_text(sinks: &[SinkSpec]) -> String {
    sinks
        .iter()
        .map(|s| terminal_line(&s.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list(state: &AlertState, out: &mut impl Write) -> anyhow::Result<()> {
    let subs = state.subscriptions()?;
    if subs.is_empty() {
        writeln!(
            out,
            "no subscriptions (add one with `kessai alert add NAME --query Q --to SINK`)"
        )?;
        return Ok(());
    }
    let mut waiting = std::collections::HashMap::<String, usize>::new();
    for (_, e) in state.outbox_entries()? {
        *waiting.entry(e.subscription).or_default() += 1;
    }
    let set = eval::SubscriptionSet::build_with(
        subs.iter().cloned(),
        Tokenizer::shared(),
        kessai::tag::Tagger::configured()?.taxonomy(),
    );
    for s in &subs {
        let status = if s.paused { "paused" } else { "active" };
        let n = waiting.get(&s.name).copied().unwrap_or(0);
        writeln!(out, "{}  [{status}]  {}", s.name, terminal_line(&s.query))?;
        writeln!(out, "    → {}", sinks_text(&s.sinks))?;
        if n > 0 {
            writeln!(
                out,
                "    {n} alert{} waiting (kessai alert outbox)",
                plural(n)
            )?;
        }
        if let Some((_, e)) = set.broken().iter().find(|(name, _)| name == &s.name) {
            writeln!(out, "    ! the query no longer compiles: {e}")?;
        }
    }
    Ok(())
}

fn test(
    store: &Store,
    state: &AlertState,
    name: &str,
    limit: usize,
    scan: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let sub = state
        .subscription(name)?
        .ok_or_else(|| kessai::alerts::AlertError::NotFound {
            name: name.to_string(),
        })?;
    let query = check_query(&sub.query)?;
    let tokenizer = Tokenizer::shared();
    let (mut scanned, mut found) = (0usize, 0usize);
    for id in store.ids_newest_first().take(scan) {
        let id = id?;
        scanned += 1;
        let (Some(article), Some(analysis)) = (store.get(id)?, store.analysis(id)?) else {
            continue;
        };
        let flags = store.flags(id)?.unwrap_or_default();
        let doc = Doc::new(&article, tokenizer);
        if query.matches(&doc, &article, &analysis, flags) {
            found += 1;
            writeln!(
                out,
                "{:>7}  {}  {:<14}  {}",
                id,
                article
                    .draft
                    .published
                    .with_timezone(&chrono_tz::Asia::Tokyo)
                    .format("%Y-%m-%d"),
                terminal_line(article.draft.feed.as_str()),
                terminal_line(&article.draft.title)
            )?;
            if found >= limit {
                break;
            }
        }
    }
    writeln!(
        out,
        "{found} match{} among the {scanned} newest article{} (alerts fire only for articles new to the store)",
        if found == 1 { "" } else { "es" },
        plural(scanned)
    )?;
    Ok(())
}

fn import(state: &AlertState, file: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed =
        SubscriptionFile::from_toml(&text).with_context(|| format!("{}", file.display()))?;
    for s in &parsed.alerts {
        check_query(&s.query)
            .with_context(|| format!("{}: subscription {}", file.display(), s.name))?;
    }
    let existing = state.subscriptions()?;
    state.put_all(&parsed.alerts)?;
    for s in &parsed.alerts {
        let verb = match existing.iter().find(|e| e.name == s.name) {
            None => "added",
            Some(e) if e == s => "unchanged",
            Some(_) => "replaced",
        };
        writeln!(out, "{verb} {}", s.name)?;
    }
    writeln!(
        out,
        "imported {} subscription{}",
        parsed.alerts.len(),
        plural(parsed.alerts.len())
    )?;
    Ok(())
}

fn outbox(state: &AlertState, out: &mut impl Write) -> anyhow::Result<()> {
    let entries = state.outbox_entries()?;
    if entries.is_empty() {
        writeln!(out, "no alerts waiting")?;
        return Ok(());
    }
    let mut sinks: Vec<String> = Vec::new();
    for (_, e) in &entries {
        if !sinks.contains(&e.sink) {
            sinks.push(e.sink.clone());
        }
    }
    for sink in &sinks {
        let st = state.sink_state(sink)?;
        let group: Vec<_> = entries.iter().filter(|(_, e)| &e.sink == sink).collect();
        write!(out, "{}: {} waiting", terminal_line(sink), group.len())?;
        if st.failures > 0 {
            write!(
                out,
                ", {} failure{} in a row",
                st.failures,
                plural(st.failures as usize)
            )?;
        }
        if let Some(t) = st.next_attempt {
            write!(out, ", next try {}", t.format("%Y-%m-%d %H:%M:%S UTC"))?;
        }
        writeln!(out)?;
        if let Some(err) = &st.last_error {
            writeln!(out, "  last error: {}", terminal_line(err))?;
        }
        const SHOWN: usize = 20;
        if group.len() > SHOWN {
            writeln!(out, "  (the first {SHOWN} of {})", group.len())?;
        }
        for (_, e) in group.into_iter().take(SHOWN) {
            writeln!(
                out,
                "  {}  {}  article {}  {} attempt{}  {}",
                &e.id[..e.id.len().min(12)],
                e.subscription,
                e.article,
                e.attempts,
                plural(e.attempts as usize),
                terminal_line(&e.payload.article.title)
            )?;
        }
    }
    writeln!(
        out,
        "drop one with `kessai alert outbox --drop ID`, all with --drop-all"
    )?;
    Ok(())
}
