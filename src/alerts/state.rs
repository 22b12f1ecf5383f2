//! The alert state kept in the store: subscriptions, the outbox, per-sink retry state and
//! reader notices, each in a tree of its own.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::AlertError;
use super::notice::{MAX_NOTICES, Notice};
use super::outbox::{OutboxEntry, SinkState};
use super::subscription::Subscription;

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

/// Handles on the alert trees (cheap to clone).
#[derive(Clone)]
pub struct AlertState {
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
    /// Opens the alert trees through a function that hands out named trees (the store's
    /// `tree`).
    pub fn from_trees<E>(
        mut tree: impl FnMut(&str) -> Result<sled::Tree, E>,
    ) -> Result<AlertState, E> {
        Ok(AlertState {
            subs: tree(SUBSCRIPTIONS_TREE)?,
            outbox: tree(OUTBOX_TREE)?,
            sinks: tree(SINKS_TREE)?,
            notices: tree(NOTICES_TREE)?,
            meta: tree(META_TREE)?,
        })
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), AlertError> {
        // Trees share one log: flushing one flushes the database.
        self.outbox.flush()?;
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
        let prev =
            self.subs
                .compare_and_swap(sub.name.as_bytes(), None as Option<&[u8]>, Some(value))?;
        if prev.is_err() {
            return Err(AlertError::Exists {
                name: sub.name.clone(),
            });
        }
        self.bump_generation()
    }

    /// Adds or replaces a subscription.
    pub fn put(&self, sub: &Subscription) -> Result<(), AlertError> {
        sub.validate()?;
        self.subs.insert(
            sub.name.as_bytes(),
            serde_json::to_vec(sub).unwrap_or_default(),
        )?;
        self.bump_generation()
    }

    /// Removes a subscription (its waiting outbox entries stay until delivered or dropped).
    pub fn remove(&self, name: &str) -> Result<Subscription, AlertError> {
        let sub = self.require(name)?;
        self.subs.remove(name.as_bytes())?;
        self.bump_generation()?;
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

    fn bump_generation(&self) -> Result<(), AlertError> {
        self.meta.update_and_fetch(GENERATION_KEY, |old| {
            let n = old
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some(n.wrapping_add(1).to_be_bytes().to_vec())
        })?;
        Ok(())
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

    /// How many entries wait.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Rewrites entries (attempt counts, in-flight marks).
    pub fn update_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a [u8], &'a OutboxEntry)>,
    ) -> Result<(), AlertError> {
        let mut batch = sled::Batch::default();
        for (k, e) in entries {
            batch.insert(k, e.to_bytes());
        }
        self.outbox.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes delivered (or dropped) entries.
    pub fn remove_entries<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<usize, AlertError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in keys {
            batch.remove(k);
            n += 1;
        }
        self.outbox.apply_batch(batch)?;
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
        self.sinks.insert(
            sink.as_bytes(),
            serde_json::to_vec(state).unwrap_or_default(),
        )?;
        Ok(())
    }

    /// Forgets retry state of sinks that no longer have waiting entries.
    pub fn forget_sinks_except(&self, keep: &HashSet<String>) -> Result<(), AlertError> {
        for k in self.sinks.iter().keys() {
            let k = k?;
            if !keep.contains(String::from_utf8_lossy(&k).as_ref()) {
                self.sinks.remove(k)?;
            }
        }
        Ok(())
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
        let mut batch = sled::Batch::default();
        for k in &keys {
            batch.remove(k.as_ref());
        }
        self.notices.apply_batch(batch)?;
        Ok(keys.len())
    }
}
