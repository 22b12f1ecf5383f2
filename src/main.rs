//! The `kessai` command: parses the command line and hands each command to its module in
//! `commands/`, which call the library. Errors end as one line on stderr.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Global;

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
    /// Inspect, verify and repair the local store (info, check, rebuild).
    Store(commands::store::StoreArgs),
    /// Tag a text or an HTML page (FILE, or standard input) and print its tags and facts.
    Tag(commands::tag::TagArgs),
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
        Some(Command::About) | None => commands::about::run(&cli.global),
        Some(Command::Store(args)) => commands::store::run(&args, &cli.global),
        Some(Command::Tag(args)) => commands::tag::run(&args),
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
