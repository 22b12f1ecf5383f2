//! `kessai` with no command: the terminal reader on the store.

use std::process::ExitCode;

use std::sync::Arc;

use kessai::config::Config;
use kessai::fetch::NetworkScope;
use kessai::ingest::Ingest;
use kessai::tui::refresh::{IngestRefresher, Unavailable};
use kessai::tui::{self, Options, Refresher};

/// Opens the store and runs the reader until the user quits.
pub fn run(global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    // Indexes attached before anything is written: R refreshes insert articles, and marking
    // read or starred updates the search index's flag sets.
    let store = super::open_store(&path)?;
    // R fetches the configured feeds. A feeds file that does not load does not keep the
    // reader closed: R then says what is wrong with it.
    let refresh: Arc<dyn Refresher> = match Config::discover(global.config.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|c| Ok(Ingest::new(c, store.clone(), NetworkScope::Any)?))
    {
        Ok(ingest) => Arc::new(IngestRefresher::new(ingest)),
        Err(e) => Arc::new(Unavailable(format!("{e:#}"))),
    };
    let options = Options {
        refresh: Some(refresh),
        store_label: path.display().to_string(),
        ..Options::default()
    };
    tui::run(store, options)?;
    Ok(ExitCode::SUCCESS)
}
