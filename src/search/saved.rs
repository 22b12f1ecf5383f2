//! Saved searches: named queries kept in the store (tree `saved_searches`), listed in the
//! reader's sidebar and runnable by name from the command line.

use serde::{Deserialize, Serialize};

use crate::search::query::{QueryError, parse};
use crate::store::{Store, StoreError};

/// The store tree that holds saved searches.
pub const TREE: &str = "saved_searches";
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A named query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// The name (shown in the sidebar).
    pub name: String,
    /// The query text, as typed.
    pub query: String,
}

/// Why a saved search could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// The name is empty, too long, or has control characters.
    #[error("bad name {name:?}: use 1–{MAX_NAME_CHARS} characters without control characters")]
    BadName {
        /// The name as given.
        name: String,
    },
    /// The query does not parse.
    #[error("bad query: {0}")]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored entry does not decode.
    #[error("saved search {name:?} is damaged: {why}")]
    Damaged {
        /// Its key as text.
        name: String,
        /// The decoder's complaint.
        why: String,
    },
}

fn check_name(name: &str) -> Result<(), SavedError> {
    let n = name.chars().count();
    if n == 0
        || n > MAX_NAME_CHARS
        || name.trim().is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || crate::sanitize::is_bidi_control(c))
    {
        return Err(SavedError::BadName {
            name: name.chars().take(MAX_NAME_CHARS + 1).collect(),
        });
    }
    Ok(())
}

/// Saves (or replaces) a named search. The query must parse.
pub fn save(store: &Store, name: &str, query: &str) -> Result<(), SavedError> {
    check_name(name)?;
    parse(query)?;
    let value = serde_json::to_vec(&SavedSearch {
        name: name.to_string(),
        query: query.to_string(),
    })
    .map_err(|e| SavedError::Damaged {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    store.write(|batch| -> Result<(), SavedError> {
        batch.insert(TREE, name.as_bytes().to_vec(), value)?;
        Ok(())
    })
}

/// Removes a named search; returns whether it existed.
pub fn remove(store: &Store, name: &str) -> Result<bool, SavedError> {
    store.write(|batch| -> Result<bool, SavedError> {
        let existed = batch.get(TREE, name.as_bytes())?.is_some();
        if existed {
            batch.remove(TREE, name.as_bytes().to_vec())?;
        }
        Ok(existed)
    })
}

/// One saved search by name.
pub fn get(store: &Store, name: &str) -> Result<Option<SavedSearch>, SavedError> {
    let tree = store.tree(TREE)?;
    let value = tree.get(name.as_bytes()).map_err(|e| SavedError::Damaged {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    value.map(|v| decode(name.as_bytes(), &v)).transpose()
}

/// Every saved search, by name.
pub fn list(store: &Store) -> Result<Vec<SavedSearch>, SavedError> {
    let tree = store.tree(TREE)?;
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (k, v) = entry.map_err(|e| SavedError::Damaged {
            name: String::new(),
            why: e.to_string(),
        })?;
        out.push(decode(&k, &v)?);
    }
    Ok(out)
}

fn decode(key: &[u8], value: &[u8]) -> Result<SavedSearch, SavedError> {
    serde_json::from_slice(value).map_err(|e| SavedError::Damaged {
        name: String::from_utf8_lossy(key).into_owned(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_list_get_remove() {
        let store = Store::open_temporary().unwrap();
        assert!(list(&store).unwrap().is_empty());
        save(&store, "7pay 事件", "7pay tag:account-takeover").unwrap();
        save(&store, "coin", "tag:exchange").unwrap();
        save(&store, "coin", "tag:exchange -zaif").unwrap();
        let all = list(&store).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name, "coin");
        assert_eq!(all[1].query, "tag:exchange -zaif");
        assert_eq!(
            get(&store, "7pay 事件").unwrap().unwrap().query,
            "7pay tag:account-takeover"
        );
        assert!(remove(&store, "coin").unwrap());
        assert!(!remove(&store, "coin").unwrap());
        assert_eq!(list(&store).unwrap().len(), 1);
    }

    #[test]
    fn bad_names_and_queries_are_refused() {
        let store = Store::open_temporary().unwrap();
        assert!(matches!(
            save(&store, "", "a"),
            Err(SavedError::BadName { .. })
        ));
        assert!(matches!(
            save(&store, "a\x1b[2J", "a"),
            Err(SavedError::BadName { .. })
        ));
        assert!(matches!(
            save(&store, &"x".repeat(65), "a"),
            Err(SavedError::BadName { .. })
        ));
        assert!(matches!(
            save(&store, "ok", "a OR"),
            Err(SavedError::Query(_))
        ));
        assert!(list(&store).unwrap().is_empty());
    }
}
