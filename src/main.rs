//! The `kessai` command: parses the command line and hands each command to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A terminal news desk for the security of cashless payments in Japan.
#[derive(Parser, Debug)]
#[command(name = "kessai", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show licence notices for kessai and the IPADIC dictionary it embeds.
    About,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::About) | None => {
            print!("{}", ABOUT);
            ExitCode::SUCCESS
        }
    }
}

const ABOUT: &str = concat!(
    "kessai ",
    env!("CARGO_PKG_VERSION"),
    " — MIT licence\n",
    "Embeds the IPADIC dictionary (mecab-ipadic 2.7.0-20070801), used under the notice below.\n\n",
    include_str!("../NOTICE.md")
);
