//! The derived indexes that every process writing articles must keep in step — the search
//! postings and the alert outbox — attached to a store in one call, so no command can
//! forget one.

use crate::store::Store;
use crate::taxonomy::Taxonomy;

/// Attaches the search index and the alert outbox to `store`: from then on each new article,
/// re-tag, flag change and removal updates them in the same atomic write. `taxonomy` is the
/// one articles are tagged with (the built-in one plus the user's), which alert queries
/// may name. Attaching again is harmless.
pub fn attach(store: &Store, taxonomy: &'static Taxonomy) {
    crate::search::register(store);
    crate::alerts::AlertIndexer::register_with(store, taxonomy);
}
