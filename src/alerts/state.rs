//! The alert state kept in the store: subscriptions, the outbox, per-sink retry state and
//! reader notices, each in a tree of its own.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::AlertError;
use super::notice::{MAX_NOTICES, Notice};
use super::outbox::{OutboxEntry, SinkState};
use super::subscription::Subscription;
use crate::store::{Batch, Store, StoreError};

/// Tree of subscriptions, keyed by name.
pub const SUBSCRIPTIONS_TREE: &str = "alerts";
/// Tree of outbox entries, keyed by [`super::outbox::outbox_key`].
pub const OUTBOX_TREE: &str = "alerts.outbox";
/// Tree of per-sink retry state, keyed by canonical sink text.
pub const SINKS_TREE: &str = "alerts.sinks";
/// Tree of reader notices, keyed by [`Notice::key`].
pub const NOTICES_TREE: &str = "alerts.notices";
/// Tree of bookkeeping values (the subscription generation).
pub const META_TREE: &str = "alerts.meta";

const GENERATION_KEY: &[u8] = b"generation";

/// Handles on the alert trees (cheap to clone). Reads go to the trees; every write goes
/// through the store's writer ([`Store::write`]) so it cannot race an article insert.
#[derive(Clone)]
pub struct AlertState {
    pub(crate) store: Store,
    pub(crate) subs: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) sinks: sled::Tree,
    pub(crate) notices: sled::Tree,
    pub(crate) meta: sled::Tree,
}

fn corrupt(tree: &'static str, key: &[u8], e: serde_json::Error) -> AlertError {
    AlertError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).chars().take(80).collect(),
        reason: e.to_string(),
    }
}

impl AlertState {
    /// Opens the alert trees of a store.
    pub fn open(store: &Store) -> Result<AlertState, AlertError> {
        Ok(AlertState {
            store: store.clone(),
            subs: store.tree(SUBSCRIPTIONS_TREE)?,
            outbox: store.tree(OUTBOX_TREE)?,
            sinks: store.tree(SINKS_TREE)?,
            notices: store.tree(NOTICES_TREE)?,
            meta: store.tree(META_TREE)?,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), AlertError> {
        self.store.flush()?;
        Ok(())
    }

    /// Runs writes atomically under the store's writer lock.
    fn write(
        &self,
        f: impl FnOnce(&mut Batch) -> Result<(), StoreError>,
    ) -> Result<(), AlertError> {
        self.store.write(f)?;
        Ok(())
    }

    // ---- subscriptions -------------------------------------------------------------

    /// Every subscription, by name.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, AlertError> {
        let mut out = Vec::new();
        for kv in self.subs.iter() {
            let (k, v) = kv?;
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt(SUBSCRIPTIONS_TREE, &k, e))?);
        }
        Ok(out)
    }

    /// One subscription.
    pub fn subscription(&self, name: &str) -> Result<Option<Subscription>, AlertError> {
        match self.subs.get(name.as_bytes())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt(SUBSCRIPTIONS_TREE, name.as_bytes(), e)),
        }
    }

    /// Adds a new subscription; an existing name is an error.
    pub fn add(&self, sub: &Subscription) -> Result<(), AlertError> {
        sub.validate()?;
        let value = serde_json::to_vec(sub).unwrap_or_default();
        self.store.write(|b| {
            if b.get(SUBSCRIPTIONS_TREE, sub.name.as_bytes())?.is_some() {
                return Err(AlertError::Exists {
                    name: sub.name.clone(),
                });
            }
            b.insert(SUBSCRIPTIONS_TREE, sub.name.as_bytes(), value)?;
            bump_generation(b)?;
            Ok(())
        })?;
        self.flush()
    }

    /// Adds or replaces subscriptions, all at once.
    pub fn put_all(&self, subs: &[Subscription]) -> Result<(), AlertError> {
        for sub in subs {
            sub.validate()?;
        }
        self.write(|b| {
            for sub in subs {
                b.insert(
                    SUBSCRIPTIONS_TREE,
                    sub.name.as_bytes(),
                    serde_json::to_vec(sub).unwrap_or_default(),
                )?;
            }
            bump_generation(b)
        })?;
        self.flush()
    }

    /// Adds or replaces a subscription.
    pub fn put(&self, sub: &Subscription) -> Result<(), AlertError> {
        self.put_all(std::slice::from_ref(sub))
    }

    /// Removes a subscription (its waiting outbox entries stay until delivered or dropped).
    pub fn remove(&self, name: &str) -> Result<Subscription, AlertError> {
        let sub = self.require(name)?;
        self.write(|b| {
            b.remove(SUBSCRIPTIONS_TREE, name.as_bytes())?;
            bump_generation(b)
        })?;
        self.flush()?;
        Ok(sub)
    }

    /// Pauses or resumes; returns whether anything changed.
    pub fn set_paused(&self, name: &str, paused: bool) -> Result<bool, AlertError> {
        let mut sub = self.require(name)?;
        if sub.paused == paused {
            return Ok(false);
        }
        sub.paused = paused;
        self.put(&sub)?;
        Ok(true)
    }

    fn require(&self, name: &str) -> Result<Subscription, AlertError> {
        self.subscription(name)?
            .ok_or_else(|| AlertError::NotFound {
                name: name.to_string(),
            })
    }

    /// Changes whenever a subscription changes, so a live evaluator knows to reload.
    pub fn generation(&self) -> Result<u64, AlertError> {
        Ok(self
            .meta
            .get(GENERATION_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    // ---- outbox ----------------------------------------------------------------------

    /// Every waiting entry with its key, in delivery order.
    pub fn outbox_entries(&self) -> Result<Vec<(Vec<u8>, OutboxEntry)>, AlertError> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let entry = OutboxEntry::from_bytes(&v).map_err(|e| corrupt(OUTBOX_TREE, &k, e))?;
            out.push((k.to_vec(), entry));
        }
        Ok(out)
    }

    /// Every waiting entry with its key, in delivery order, read lazily.
    pub fn outbox_iter(
        &self,
    ) -> impl Iterator<Item = Result<(Vec<u8>, OutboxEntry), AlertError>> + '_ {
        self.outbox.iter().map(|kv| {
            let (k, v) = kv?;
            let entry = OutboxEntry::from_bytes(&v).map_err(|e| corrupt(OUTBOX_TREE, &k, e))?;
            Ok((k.to_vec(), entry))
        })
    }

    /// How many entries wait.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Rewrites entries (attempt counts, in-flight marks) that are still waiting; an entry
    /// dropped meanwhile stays dropped.
    pub fn update_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a [u8], &'a OutboxEntry)>,
    ) -> Result<(), AlertError> {
        self.write(|b| {
            for (k, e) in entries {
                if b.get(OUTBOX_TREE, k)?.is_some() {
                    b.insert(OUTBOX_TREE, k, e.to_bytes())?;
                }
            }
            Ok(())
        })
    }

    /// Deletes delivered (or dropped) entries.
    pub fn remove_entries<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<usize, AlertError> {
        let mut n = 0;
        self.write(|b| {
            for k in keys {
                b.remove(OUTBOX_TREE, k)?;
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    /// Drops the entries whose id starts with `prefix` (at least 6 characters, and it must
    /// name exactly one entry unless `all_matching`). Returns the dropped entries.
    pub fn drop_entries(&self, prefix: &str) -> Result<Vec<OutboxEntry>, AlertError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 6 {
            return Err(AlertError::IdTooShort { id: prefix });
        }
        let found: Vec<_> = self
            .outbox_entries()?
            .into_iter()
            .filter(|(_, e)| e.id.starts_with(&prefix))
            .collect();
        match found.len() {
            0 => Err(AlertError::NoSuchEntry { id: prefix }),
            1 => {
                self.remove_entries(found.iter().map(|(k, _)| k.as_slice()))?;
                self.flush()?;
                Ok(found.into_iter().map(|(_, e)| e).collect())
            }
            n => Err(AlertError::AmbiguousId {
                id: prefix,
                count: n,
            }),
        }
    }

    /// Drops every waiting entry; returns how many.
    pub fn drop_all(&self) -> Result<usize, AlertError> {
        let keys: Vec<_> = self.outbox.iter().keys().collect::<Result<Vec<_>, _>>()?;
        let n = self.remove_entries(keys.iter().map(|k| k.as_ref()))?;
        self.flush()?;
        Ok(n)
    }

    // ---- sinks -------------------------------------------------------------------------

    /// The retry state of a sink.
    pub fn sink_state(&self, sink: &str) -> Result<SinkState, AlertError> {
        match self.sinks.get(sink.as_bytes())? {
            None => Ok(SinkState::default()),
            Some(v) => {
                serde_json::from_slice(&v).map_err(|e| corrupt(SINKS_TREE, sink.as_bytes(), e))
            }
        }
    }

    /// Saves the retry state of a sink.
    pub fn set_sink_state(&self, sink: &str, state: &SinkState) -> Result<(), AlertError> {
        let v = serde_json::to_vec(state).unwrap_or_default();
        self.write(|b| b.insert(SINKS_TREE, sink.as_bytes(), v))
    }

    /// Forgets retry state of sinks that no longer have waiting entries.
    pub fn forget_sinks_except(&self, keep: &HashSet<String>) -> Result<(), AlertError> {
        let stale: Vec<_> = self
            .sinks
            .iter()
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !keep.contains(String::from_utf8_lossy(k).as_ref()))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        self.write(|b| {
            for k in stale {
                b.remove(SINKS_TREE, k.to_vec())?;
            }
            Ok(())
        })
    }

    // ---- notices -----------------------------------------------------------------------

    /// The newest notices, newest first.
    pub fn recent_notices(&self, limit: usize) -> Result<Vec<Notice>, AlertError> {
        let mut out = Vec::new();
        for kv in self.notices.iter().rev().take(limit) {
            let (k, v) = kv?;
            out.push(Notice::from_bytes(&v).map_err(|e| corrupt(NOTICES_TREE, &k, e))?);
        }
        Ok(out)
    }

    /// Notices newer than `after` (oldest first), for a reader that polls.
    pub fn notices_after(
        &self,
        after: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Notice>, AlertError> {
        let micros = after.timestamp_micros().max(0) as u64 + 1;
        let mut out = Vec::new();
        for kv in self.notices.range(micros.to_be_bytes()..).take(limit) {
            let (k, v) = kv?;
            out.push(Notice::from_bytes(&v).map_err(|e| corrupt(NOTICES_TREE, &k, e))?);
        }
        Ok(out)
    }

    /// Keeps only the newest [`MAX_NOTICES`].
    pub fn prune_notices(&self) -> Result<usize, AlertError> {
        let excess = self.notices.len().saturating_sub(MAX_NOTICES);
        if excess == 0 {
            return Ok(0);
        }
        let keys: Vec<_> = self
            .notices
            .iter()
            .keys()
            .take(excess)
            .collect::<Result<_, _>>()?;
        let n = keys.len();
        self.write(|b| {
            for k in keys {
                b.remove(NOTICES_TREE, k.to_vec())?;
            }
            Ok(())
        })?;
        Ok(n)
    }
}

/// Reads the subscription generation through a batch (the indexer's view).
pub fn generation_in(batch: &Batch) -> Result<u64, StoreError> {
    Ok(batch
        .get(META_TREE, GENERATION_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

fn bump_generation(b: &mut Batch) -> Result<(), StoreError> {
    let n = generation_in(b)?;
    b.insert(
        META_TREE,
        GENERATION_KEY,
        n.wrapping_add(1).to_be_bytes().to_vec(),
    )
}
