//! Keyword alert subscriptions: standing queries evaluated on every new article, an outbox
//! written atomically with the article, and sinks that deliver each alert at least once
//! (exactly once for files) with an idempotency key.
//!
//! - [`eval`]: compiled subscriptions indexed by anchor, evaluated against new articles.
//! - [`indexer`]: the store `Indexer` that enqueues alerts atomically with new articles.
//! - [`subscription`]: the subscription record, its validation, TOML import/export.
//! - [`sink`]: sink specifications (`stdout`, `notice`, `file:`, `exec:`, `webhook:`).
//! - [`payload`]: the alert JSON and its idempotency key.
//! - [`outbox`]: outbox entries, keys, per-sink back-off.
//! - [`notice`]: matches recorded for the reader to poll.
//! - [`state`]: the trees in the store that hold all of the above.
//! - [`deliver`]: the delivery loop.
//! - [`watch`]: the `kessai watch` cycle: refresh, deliver, log, wait, stop on signals.

pub mod deliver;
pub mod eval;
pub mod indexer;
pub mod notice;
pub mod outbox;
pub mod payload;
pub mod sink;
pub mod state;
pub mod subscription;
pub mod watch;

pub use deliver::{Deliverer, DeliveryError, DeliveryReport};
pub use eval::{Scratch, SubscriptionSet};
pub use indexer::AlertIndexer;
pub use notice::Notice;
pub use outbox::{OutboxEntry, RetryPolicy, SinkState};
pub use payload::{AlertPayload, idempotency_key};
pub use sink::{SinkSpec, SinkSpecError};
pub use state::AlertState;
pub use subscription::{Subscription, SubscriptionError, SubscriptionFile};

/// Why an alert operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The store refused a read or write.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Reading one of the alert trees failed.
    #[error("alert state: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record does not decode.
    #[error(
        "alert state: record `{key}` in tree {tree} is unreadable ({reason}); drop it with `kessai alert outbox --drop-all` or re-add the subscription"
    )]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Key (lossy text).
        key: String,
        /// Decoder message.
        reason: String,
    },
    /// A subscription was refused.
    #[error(transparent)]
    Invalid(#[from] SubscriptionError),
    /// No such subscription.
    #[error("no subscription named `{name}` (see `kessai alert list`)")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The name is taken.
    #[error("a subscription named `{name}` already exists (remove it first)")]
    Exists {
        /// The name.
        name: String,
    },
    /// An outbox id prefix was too short to be safe.
    #[error("outbox id `{id}` is too short: give at least 6 characters of the id")]
    IdTooShort {
        /// The prefix.
        id: String,
    },
    /// No outbox entry has that id.
    #[error("no waiting alert has an id starting with `{id}` (see `kessai alert outbox`)")]
    NoSuchEntry {
        /// The prefix.
        id: String,
    },
    /// Several entries share the prefix.
    #[error("{count} waiting alerts have ids starting with `{id}`; give more of the id")]
    AmbiguousId {
        /// The prefix.
        id: String,
        /// How many.
        count: usize,
    },
    /// The HTTP client could not be built.
    #[error("webhook client: {reason}")]
    Http {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
pub(crate) mod testutil {
    use chrono::{TimeZone, Utc};

    use crate::model::{Article, ArticleDraft, ArticleId, FeedId};

    /// A small article for unit tests.
    pub(crate) fn article(id: u64, title: &str, url: &str) -> Article {
        let t = Utc.with_ymd_and_hms(2019, 9, 2, 10, 0, 0).unwrap();
        Article {
            id: ArticleId(id),
            draft: ArticleDraft {
                feed: FeedId::new("paysec"),
                url: url.into(),
                guid: None,
                title: title.into(),
                summary: "J-Coin Pay の加盟店管理システムに不正アクセス".into(),
                body: String::new(),
                published: t,
                fetched: t,
                content_hash: "h".into(),
            },
        }
    }
}
