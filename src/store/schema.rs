//! Schema version and migrations: a table of steps, each taking the store from version N
//! to N+1, run in order when an older store is opened.
//!
//! A step may write in several batches, so every step must be idempotent: the version is
//! bumped only after the step finished (and was flushed), and a step interrupted by a crash
//! runs again on the next open. Steps that only change derived data (index layout,
//! counters) can call [`Store::rebuild_keeping_analysis`].

use std::sync::Arc;

use super::codec;
use super::keys;
use super::{Inner, Result, Store, StoreError};

/// The schema version this build writes. Version 1: the layout in [`keys`].
pub const SCHEMA_VERSION: u32 = 1;

/// One migration step.
pub struct Migration {
    /// The version it upgrades from (to `from + 1`).
    pub from: u32,
    /// What it changes, for logs and `store info`.
    pub what: &'static str,
    /// The step; must be idempotent.
    pub run: fn(&Store) -> Result<()>,
}

/// The migrations of this build, from version 1 upwards. Version 1 is the first released
/// layout, so there is nothing to migrate from yet; add `Migration { from: 1, .. }` here
/// together with `SCHEMA_VERSION = 2` when the layout changes.
pub(crate) const MIGRATIONS: &[Migration] = &[];

/// The stored schema version, `None` for a store that has none.
pub(crate) fn version(inner: &Inner) -> Result<Option<u32>> {
    match inner
        .main
        .get(keys::meta(keys::meta::SCHEMA))
        .map_err(|e| inner.sled_err(e))?
    {
        None => Ok(None),
        Some(v) => codec::u32_from(&v)
            .map(Some)
            .ok_or_else(|| StoreError::corrupt(&inner.path, "schema version")),
    }
}

fn set_version(inner: &Inner, v: u32) -> Result<()> {
    inner
        .main
        .insert(keys::meta(keys::meta::SCHEMA), v.to_be_bytes().to_vec())
        .map_err(|e| inner.sled_err(e))?;
    inner.db.flush().map_err(|e| inner.sled_err(e))?;
    Ok(())
}

/// Sets up a new store or brings an old one to [`SCHEMA_VERSION`].
pub(crate) fn prepare(inner: &Arc<Inner>, table: &[Migration]) -> Result<()> {
    prepare_to(inner, table, SCHEMA_VERSION)
}

/// Sets up or migrates to `target` with the given table (tests use their own tables).
pub(crate) fn prepare_to(inner: &Arc<Inner>, table: &[Migration], target: u32) -> Result<()> {
    let found = match version(inner)? {
        Some(v) => v,
        None => {
            let empty = inner.main.first().map_err(|e| inner.sled_err(e))?.is_none();
            if !empty {
                return Err(StoreError::NotAStore {
                    path: inner.path.clone(),
                });
            }
            return set_version(inner, target);
        }
    };
    if found > target {
        return Err(StoreError::TooNew {
            path: inner.path.clone(),
            found,
            supported: target,
        });
    }
    let store = Store {
        inner: inner.clone(),
    };
    let mut v = found;
    while v < target {
        let step = table.iter().find(|m| m.from == v).ok_or_else(|| {
            StoreError::corrupt(
                &inner.path,
                format!("schema version {v} has no migration to {}", v + 1),
            )
        })?;
        (step.run)(&store).map_err(|e| StoreError::Migration {
            path: inner.path.clone(),
            from: v,
            what: step.what,
            source: Box::new(e),
        })?;
        inner.db.flush().map_err(|e| inner.sled_err(e))?;
        set_version(inner, v + 1)?;
        v += 1;
    }
    Ok(())
}
