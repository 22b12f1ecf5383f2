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

/// A file written beside sled's files once the store is set up. sled recovers a damaged
/// log as an *empty* database without an error; an empty database next to this file is
/// damage to report, not a new store to set up.
pub const MARKER_FILE: &str = "kessai.store";

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

/// What the marker file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// Schema version when it was written.
    pub schema: u32,
    /// The next article id at the last completed [`Store::flush`]: a durable store never
    /// has a smaller one, since ids only grow.
    pub flushed_next_id: u64,
}

/// Parses the marker file; `None` when unreadable (then it is ignored and rewritten).
pub(crate) fn parse_marker(text: &str) -> Option<Marker> {
    let mut schema = None;
    let mut next = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("schema ") {
            schema = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("flushed-next-id ") {
            next = v.trim().parse().ok();
        }
    }
    Some(Marker {
        schema: schema?,
        flushed_next_id: next.unwrap_or(1),
    })
}

pub(crate) fn read_marker(inner: &Inner) -> Option<Marker> {
    let text = std::fs::read_to_string(inner.path.join(MARKER_FILE)).ok()?;
    parse_marker(&text)
}

/// Rewrites the marker file (temp file + rename, so a crash leaves the old or the new one).
pub(crate) fn write_marker(inner: &Inner, m: Marker) -> Result<()> {
    let path = inner.path.join(MARKER_FILE);
    let tmp = inner.path.join(format!("{MARKER_FILE}.tmp"));
    let text = format!(
        "kessai store\nschema {}\nflushed-next-id {}\nDo not delete: kessai uses this file to tell a damaged store from a new one.\n",
        m.schema, m.flushed_next_id
    );
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| StoreError::from_io(&path, "write the store marker", e))
}

/// The stored next article id (1 for an empty store).
pub(crate) fn next_id(inner: &Inner) -> Result<u64> {
    match inner
        .main
        .get(keys::meta(keys::meta::NEXT_ID))
        .map_err(|e| inner.sled_err(e))?
    {
        None => Ok(1),
        Some(v) => {
            codec::u64_from(&v).ok_or_else(|| StoreError::corrupt(&inner.path, "next article id"))
        }
    }
}

/// Refuses a store that lost flushed data, unless told to accept the loss.
fn verify_watermark(inner: &Inner, version: u32) -> Result<()> {
    let next = next_id(inner)?;
    match read_marker(inner) {
        Some(m) if m.flushed_next_id > next && !inner.options.accept_data_loss => {
            Err(StoreError::DataLost {
                path: inner.path.clone(),
                flushed: m.flushed_next_id - 1,
                found: next.saturating_sub(1),
            })
        }
        Some(m) if m.flushed_next_id <= next && m.schema == version => Ok(()),
        _ => write_marker(
            inner,
            Marker {
                schema: version,
                flushed_next_id: next,
            },
        ),
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
            if inner.path.join(MARKER_FILE).exists() {
                return Err(StoreError::corrupt(
                    &inner.path,
                    "its database files hold nothing although the store was set up before, so sled dropped damaged data",
                ));
            }
            set_version(inner, target)?;
            return write_marker(
                inner,
                Marker {
                    schema: target,
                    flushed_next_id: 1,
                },
            );
        }
    };
    verify_watermark(inner, found.min(target))?;
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
            cause: Box::new(e),
        })?;
        inner.db.flush().map_err(|e| inner.sled_err(e))?;
        set_version(inner, v + 1)?;
        v += 1;
    }
    if v != found {
        verify_watermark(inner, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_parses_and_ignores_garbage() {
        assert_eq!(
            parse_marker("kessai store\nschema 1\nflushed-next-id 42\n"),
            Some(Marker {
                schema: 1,
                flushed_next_id: 42
            })
        );
        assert_eq!(
            parse_marker("schema 2\n").map(|m| m.flushed_next_id),
            Some(1)
        );
        assert_eq!(parse_marker(""), None);
        assert_eq!(parse_marker("schema x\n"), None);
        assert_eq!(parse_marker("\u{0}\u{1}garbage"), None);
    }
}
