//! `kessai about`: licence notices (the binary embeds IPADIC, whose notice must ship with it).

use std::process::ExitCode;

const ABOUT: &str = concat!(
    "kessai ",
    env!("CARGO_PKG_VERSION"),
    " — MIT licence\n",
    "Embeds the IPADIC dictionary (mecab-ipadic 2.7.0-20070801), used under the notice below.\n\n",
    include_str!("../../NOTICE.md")
);

/// Prints the notices, then where this kessai keeps its data.
pub fn run(global: &super::Global) -> anyhow::Result<ExitCode> {
    print!("{ABOUT}");
    println!("\nstore: {}", global.store_path()?.display());
    Ok(ExitCode::SUCCESS)
}
