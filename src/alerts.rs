//! Keyword alert subscriptions, the outbox and the sinks.
