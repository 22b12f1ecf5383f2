//! Terminal notices: alert matches recorded for the reader to poll and show (the `notice`
//! sink). Written in the article's own batch, so they are exactly-once by construction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Article, ArticleId, FeedId};

use super::payload::{TITLE_CHARS, cut_chars};

/// How many notices are kept; older ones are pruned by the delivery loop.
pub const MAX_NOTICES: usize = 1000;

/// One alert match for the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// When it matched (the article's insertion).
    pub at: DateTime<Utc>,
    /// Subscription name.
    pub subscription: String,
    /// The article (open it with the store).
    pub article: ArticleId,
    /// Its feed.
    pub feed: FeedId,
    /// Its headline (untrusted: sanitise before display).
    pub title: String,
}

impl Notice {
    /// The notice for a match.
    pub fn new(subscription: &str, article: &Article, at: DateTime<Utc>) -> Notice {
        Notice {
            at,
            subscription: subscription.to_string(),
            article: article.id,
            feed: article.draft.feed.clone(),
            title: cut_chars(&article.draft.title, TITLE_CHARS),
        }
    }

    /// `time (µs, big-endian) ‖ article id ‖ subscription`: newest last, unique per match.
    pub fn key(&self) -> Vec<u8> {
        let micros = self.at.timestamp_micros().max(0) as u64;
        let mut key = Vec::with_capacity(16 + self.subscription.len());
        key.extend_from_slice(&micros.to_be_bytes());
        key.extend_from_slice(&self.article.to_be_bytes());
        key.extend_from_slice(self.subscription.as_bytes());
        key
    }

    /// Encodes for the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes from the store.
    pub fn from_bytes(bytes: &[u8]) -> Result<Notice, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::testutil::article;
    use chrono::TimeZone;

    #[test]
    fn keys_order_by_time_then_article() {
        let a = article(2, "t", "https://x/");
        let b = article(1, "t", "https://x/");
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let n1 = Notice::new("s", &a, t0);
        let n2 = Notice::new("s", &b, t0 + chrono::Duration::microseconds(1));
        let n3 = Notice::new("s", &b, t0);
        assert!(n1.key() < n2.key());
        assert!(n3.key() < n1.key());
        assert_eq!(Notice::from_bytes(&n1.to_bytes()).unwrap(), n1);
    }
}
