//! `kessai` with no command: the terminal reader on the store.

use std::process::ExitCode;

use anyhow::Context as _;
use kessai::store::Store;
use kessai::tui::{self, Options};

/// Opens the store and runs the reader until the user quits.
pub fn run(global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store =
        Store::open(&path).with_context(|| format!("opening the store {}", path.display()))?;
    let options = Options {
        store_label: path.display().to_string(),
        ..Options::default()
    };
    tui::run(store, options)?;
    Ok(ExitCode::SUCCESS)
}
