//! `kessai feeds list | check | import-opml FILE | export-opml`: the feed list.
//!
//! Exit codes: 0 success; `check` exits 1 when the file has problems (one line each, with
//! file:line:column); any other error is one line on stderr with exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use unicode_width::UnicodeWidthStr;

use kessai::charset::{self, DocKind};
use kessai::config::{self, Config, ConfigError, locate};
use kessai::opml;
use kessai::sanitize::terminal_line;

/// Prints a line to standard output; a closed pipe (`kessai feeds list | head`) ends the
/// command quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(anyhow::Error::from(e).context("cannot write to standard output"));
        }
    }};
}

/// Exit code of `kessai feeds check` when the file has problems.
pub const EXIT_INVALID: u8 = 1;

/// `kessai feeds ...`
#[derive(Args, Debug)]
pub struct FeedsArgs {
    #[command(subcommand)]
    command: FeedsCommand,
}

#[derive(Subcommand, Debug)]
enum FeedsCommand {
    /// The configured feeds: name, format, interval, full text, category, URL.
    List,
    /// Validate the feeds file; every problem is printed with its line and column.
    Check,
    /// Append the subscriptions of an OPML file to your feeds file (created from the
    /// built-in list if you have none). Feeds already present are skipped.
    ImportOpml {
        /// The OPML file.
        file: PathBuf,
        /// Show what would be added without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the feed list as OPML 2.0 (for other readers).
    ExportOpml {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs a `kessai feeds` command.
pub fn run(args: &FeedsArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    match &args.command {
        FeedsCommand::List => list(global),
        FeedsCommand::Check => check(global),
        FeedsCommand::ImportOpml { file, dry_run } => import(global, file, *dry_run),
        FeedsCommand::ExportOpml { output } => export(global, output.as_deref()),
    }
}

/// Where the feeds file comes from: `--config` / `$KESSAI_CONFIG` (clap reads both into
/// `global.config`), else the XDG config dir, else the built-in list.
pub fn source(global: &super::Global) -> config::ConfigSource {
    locate(
        global.config.as_deref(),
        None,
        config::xdg_config_dir().as_deref(),
    )
}

fn list(global: &super::Global) -> anyhow::Result<ExitCode> {
    let config = Config::load(source(global))?;
    let name_w = config
        .feeds
        .iter()
        .map(|f| terminal_line(&f.name).width())
        .max()
        .unwrap_or(4)
        .max(4);
    outln!(
        "{:<name_w$}  {:<9}  {:>8}  {:<9}  {:<13}  URL",
        "NAME",
        "FORMAT",
        "INTERVAL",
        "FULLTEXT",
        "CATEGORY"
    );
    for f in &config.feeds {
        let name = terminal_line(&f.name);
        let pad = name_w.saturating_sub(name.width());
        let interval = format!("{}m", f.interval(&config.settings).as_secs() / 60);
        outln!(
            "{name}{}  {:<9}  {:>8}  {:<9}  {:<13}  {}{}",
            " ".repeat(pad),
            f.format.as_str(),
            interval,
            if f.full_text(&config.settings) {
                "on"
            } else {
                "off"
            },
            terminal_line(f.category.as_deref().unwrap_or("-")),
            terminal_line(&f.url),
            if f.enabled { "" } else { "  (disabled)" },
        );
        if let Some(t) = &f.title {
            outln!("{}  {}", " ".repeat(name_w), terminal_line(t));
        }
    }
    outln!(
        "{} feeds ({} enabled) from {}",
        config.feeds.len(),
        config.enabled_feeds().count(),
        config.source
    );
    Ok(ExitCode::SUCCESS)
}

fn check(global: &super::Global) -> anyhow::Result<ExitCode> {
    let src = source(global);
    match Config::load(src.clone()) {
        Ok(c) => {
            outln!(
                "ok: {} feeds ({} enabled) in {}",
                c.feeds.len(),
                c.enabled_feeds().count(),
                c.source
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfigError::Invalid { origin, problems }) => {
            for p in &problems {
                outln!(
                    "{}:{}",
                    terminal_line(&origin),
                    terminal_line(&p.to_string())
                );
            }
            outln!("{} problem(s) in {}", problems.len(), src);
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e @ ConfigError::Syntax { .. }) => {
            outln!("{}", terminal_line(&e.to_string()));
            outln!("1 problem in {src}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e) => Err(e.into()),
    }
}

fn import(global: &super::Global, file: &PathBuf, dry_run: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() > opml::MAX_OPML_BYTES {
        anyhow::bail!(
            "{} is larger than {} bytes",
            file.display(),
            opml::MAX_OPML_BYTES
        );
    }
    let text = charset::decode(&bytes, None, DocKind::Xml)
        .with_context(|| format!("cannot decode {}", file.display()))?
        .text;
    let items =
        opml::parse_opml(&text).with_context(|| format!("cannot read {}", file.display()))?;
    let src = source(global);
    let config = Config::load(src.clone())?;
    let plan = opml::plan_import(&items, &config.feeds);
    for (item, reason) in &plan.skipped {
        outln!(
            "skip  {}  ({})",
            terminal_line(&item.xml_url),
            terminal_line(reason)
        );
    }
    for f in &plan.new {
        outln!(
            "add   {}  {}  {}",
            terminal_line(&f.name),
            terminal_line(&f.url),
            terminal_line(f.title.as_deref().unwrap_or(""))
        );
    }
    if dry_run || plan.new.is_empty() {
        outln!(
            "{} to add, {} skipped{}",
            plan.new.len(),
            plan.skipped.len(),
            if dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = config::writable_config_path(&src)?;
    config::append_feeds(&path, &plan.new)?;
    // Prove the file still loads before saying it worked.
    Config::load(config::ConfigSource::Flag(path.clone()))
        .with_context(|| format!("{} no longer loads after the import", path.display()))?;
    outln!(
        "{} added to {}, {} skipped",
        plan.new.len(),
        path.display(),
        plan.skipped.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(global: &super::Global, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let config = Config::load(source(global))?;
    let text = opml::export_opml(&config.feeds, "kessai feeds");
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => outln!("{}", text.trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}
