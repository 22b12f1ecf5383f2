//! One module per command. Each takes its parsed arguments and the global options and
//! returns the process exit code; errors bubble up to `main` as one line.

use std::path::PathBuf;

use clap::Args;

pub mod about;
pub mod alert;
pub mod demo;
pub mod digest;
pub mod export;
pub mod feeds;
pub mod fetch;
pub mod read;
pub mod search;
pub mod store;
pub mod tag;
pub mod watch;

/// Exit code for an error that stopped the command (bad arguments, unusable store, ...).
pub const EXIT_ERROR: u8 = 1;

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The store folder [default: the XDG data dir, e.g. ~/.local/share/kessai/store]
    #[arg(long, global = true, env = "KESSAI_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The feeds file [default: $XDG_CONFIG_HOME/kessai/feeds.toml, else the built-in list]
    #[arg(long, global = true, env = "KESSAI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Opens the store at `path` with every derived index attached (search postings, alert
/// outbox; see `kessai::indexers`), tagging with the configured taxonomy.
pub fn open_store(path: &std::path::Path) -> anyhow::Result<kessai::store::Store> {
    use anyhow::Context;
    let store = kessai::store::Store::open(path)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    attach_indexers(&store)?;
    Ok(store)
}

/// Attaches the derived indexes to a store opened some other way.
pub fn attach_indexers(store: &kessai::store::Store) -> anyhow::Result<()> {
    use anyhow::Context;
    let tagger = kessai::tag::Tagger::configured().context("loading the taxonomy")?;
    kessai::indexers::attach(store, tagger.taxonomy());
    Ok(())
}

impl Global {
    /// The store folder to use: `--store`, `$KESSAI_STORE`, or the XDG data dir.
    pub fn store_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        let dirs = directories::ProjectDirs::from("", "", "kessai")
            .ok_or_else(|| anyhow::anyhow!("no home directory; pass --store DIR"))?;
        Ok(dirs.data_dir().join("store"))
    }
}
