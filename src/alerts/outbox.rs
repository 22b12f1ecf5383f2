//! The outbox: one entry per (subscription, sink, article) waiting for delivery, written in
//! the same atomic batch as the article, deleted only after the sink took it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::payload::AlertPayload;
use crate::model::ArticleId;

/// A waiting alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The idempotency key; also the id `alert outbox --drop` takes.
    pub id: String,
    /// Subscription name.
    pub subscription: String,
    /// Canonical sink text.
    pub sink: String,
    /// The matched article.
    pub article: ArticleId,
    /// When it was enqueued.
    pub enqueued: DateTime<Utc>,
    /// Delivery attempts that failed.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure, one line.
    #[serde(default)]
    pub last_error: Option<String>,
    /// For file sinks: the file length before a write of this entry began. Set (and
    /// flushed) before writing, so that after a crash the file can be checked for the
    /// entry instead of writing it twice.
    #[serde(default)]
    pub in_flight: Option<u64>,
    /// The alert as it will be delivered.
    pub payload: AlertPayload,
}

/// `article id (8 bytes, big-endian) ‖ subscription name ‖ 0 ‖ sink position (2 bytes)`:
/// delivery goes in article order, and within an article in subscription-name order, then
/// in the order the subscription lists its sinks. Names never hold a NUL.
pub fn outbox_key(article: ArticleId, subscription: &str, sink_index: u16) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + subscription.len() + 3);
    key.extend_from_slice(&article.to_be_bytes());
    key.extend_from_slice(subscription.as_bytes());
    key.push(0);
    key.extend_from_slice(&sink_index.to_be_bytes());
    key
}

/// Reads the article id back from an outbox key.
pub fn key_article(key: &[u8]) -> Option<ArticleId> {
    ArticleId::from_be_slice(key)
}

impl OutboxEntry {
    /// Encodes for the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    /// Decodes from the store.
    pub fn from_bytes(bytes: &[u8]) -> Result<OutboxEntry, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Per-sink delivery state: failures in a row decide the back-off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkState {
    /// Failures since the last success.
    pub failures: u32,
    /// Not before this time.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Last failure, one line.
    pub last_error: Option<String>,
    /// Last successful delivery.
    pub last_success: Option<DateTime<Utc>>,
}

/// Exponential back-off per sink, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub base: std::time::Duration,
    /// Longest wait.
    pub max: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: std::time::Duration::from_secs(15),
            max: std::time::Duration::from_secs(30 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failures in a row (≥ 1): base·2^(n−1), at most `max`.
    pub fn delay(&self, failures: u32) -> std::time::Duration {
        let exp = failures.saturating_sub(1).min(32);
        self.base
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl SinkState {
    /// Records a failure and schedules the next attempt.
    pub fn failed(&mut self, now: DateTime<Utc>, policy: &RetryPolicy, error: String) {
        self.failures = self.failures.saturating_add(1);
        let delay = chrono::Duration::from_std(policy.delay(self.failures))
            .unwrap_or(chrono::Duration::MAX);
        self.next_attempt = now.checked_add_signed(delay);
        self.last_error = Some(error);
    }
    /// Records a success.
    pub fn succeeded(&mut self, now: DateTime<Utc>) {
        self.failures = 0;
        self.next_attempt = None;
        self.last_error = None;
        self.last_success = Some(now);
    }
    /// Whether the sink may be tried now.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_attempt.is_none_or(|t| t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_sort_by_article_then_subscription_then_sink() {
        let mut keys = [
            outbox_key(ArticleId(2), "a", 0),
            outbox_key(ArticleId(1), "b", 1),
            outbox_key(ArticleId(1), "b", 0),
            outbox_key(ArticleId(1), "ab", 0),
            outbox_key(ArticleId(256), "a", 0),
        ];
        keys.sort();
        let decoded: Vec<_> = keys.iter().map(|k| key_article(k).unwrap().0).collect();
        assert_eq!(decoded, vec![1, 1, 1, 2, 256]);
        assert_eq!(keys[0], outbox_key(ArticleId(1), "ab", 0));
        assert_eq!(keys[1], outbox_key(ArticleId(1), "b", 0));
        assert_eq!(keys[2], outbox_key(ArticleId(1), "b", 1));
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(300),
        };
        assert_eq!(p.delay(1), Duration::from_secs(10));
        assert_eq!(p.delay(2), Duration::from_secs(20));
        assert_eq!(p.delay(3), Duration::from_secs(40));
        assert_eq!(p.delay(6), Duration::from_secs(300));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn sink_state_transitions() {
        let now = Utc::now();
        let p = RetryPolicy::default();
        let mut s = SinkState::default();
        assert!(s.due(now));
        s.failed(now, &p, "HTTP 503".into());
        assert!(!s.due(now));
        assert!(s.due(now + chrono::Duration::seconds(16)));
        s.failed(now, &p, "HTTP 503".into());
        assert!(!s.due(now + chrono::Duration::seconds(16)));
        assert_eq!(s.failures, 2);
        s.succeeded(now);
        assert!(s.due(now));
        assert_eq!(s.failures, 0);
        assert_eq!(s.last_error, None);
    }
}
