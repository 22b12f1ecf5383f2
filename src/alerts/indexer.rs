//! The alerts [`Indexer`]: evaluates the active subscriptions on every NEW article and
//! writes its outbox entries (and reader notices) into the article's own atomic batch, so an
//! article is never stored without its alerts, nor alerted without being stored.

use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::model::{Analysis, Article};
use crate::search::Doc;
use crate::store::{Batch, IndexCtx, IndexReason, IndexResult, Indexer, Store, StoreError};
use crate::taxonomy::Taxonomy;
use crate::tokenize::Tokenizer;

use super::AlertError;
use super::eval::{Scratch, SubscriptionSet};
use super::notice::Notice;
use super::outbox::{OutboxEntry, outbox_key};
use super::payload::AlertPayload;
use super::state::{AlertState, NOTICES_TREE, OUTBOX_TREE, generation_in};
use super::subscription::Subscription;

/// Evaluates subscriptions inside the store's write of each new article.
pub struct AlertIndexer {
    state: AlertState,
    tokenizer: &'static Tokenizer,
    taxonomy: &'static Taxonomy,
    /// The compiled subscriptions and the generation they were built from.
    cache: Mutex<Option<(u64, Arc<SubscriptionSet>)>>,
    scratch: Mutex<Scratch>,
}

impl AlertIndexer {
    /// An indexer over the store's alert trees, with the shared tokenizer and the built-in
    /// taxonomy.
    pub fn new(store: &Store) -> Result<AlertIndexer, AlertError> {
        AlertIndexer::with(store, Tokenizer::shared(), Taxonomy::builtin())
    }

    /// An indexer with a given tokenizer and taxonomy (a user taxonomy).
    pub fn with(
        store: &Store,
        tokenizer: &'static Tokenizer,
        taxonomy: &'static Taxonomy,
    ) -> Result<AlertIndexer, AlertError> {
        Ok(AlertIndexer {
            state: AlertState::open(store)?,
            tokenizer,
            taxonomy,
            cache: Mutex::new(None),
            scratch: Mutex::new(Scratch::default()),
        })
    }

    /// Creates the indexer and registers it with the store: from then on every new article
    /// the store takes is evaluated. Every process that inserts articles (fetch, watch, the
    /// reader's refresh) must do this before its first insert.
    pub fn register(store: &Store) -> Result<Arc<AlertIndexer>, AlertError> {
        let indexer = Arc::new(AlertIndexer::new(store)?);
        store.register_indexer(indexer.clone());
        Ok(indexer)
    }

    /// The compiled subscriptions, rebuilt when a subscription changed since.
    fn current(&self, batch: &Batch) -> Result<Arc<SubscriptionSet>, AlertError> {
        let generation = generation_in(batch)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, set)) = cache.as_ref() {
            if *g == generation {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(SubscriptionSet::build_with(
            self.state.subscriptions()?,
            self.tokenizer,
            self.taxonomy,
        ));
        *cache = Some((generation, set.clone()));
        Ok(set)
    }

    /// The subscription set as the next article will see it (for `alert list` warnings).
    pub fn subscription_set(&self) -> Result<Arc<SubscriptionSet>, AlertError> {
        let subs = self.state.subscriptions()?;
        Ok(Arc::new(SubscriptionSet::build_with(
            subs,
            self.tokenizer,
            self.taxonomy,
        )))
    }
}

/// Adds the alert writes of one match to `batch`: an outbox entry per outbox sink, a notice
/// for the `notice` sink.
pub fn enqueue(
    sub: &Subscription,
    article: &Article,
    analysis: &Analysis,
    batch: &mut Batch,
) -> Result<(), StoreError> {
    let now = Utc::now();
    for (i, sink) in sub.sinks.iter().enumerate() {
        if !sink.uses_outbox() {
            let notice = Notice::new(&sub.name, article, now);
            batch.insert(NOTICES_TREE, notice.key(), notice.to_bytes())?;
            continue;
        }
        let sink_text = sink.to_string();
        let payload = AlertPayload::new(&sub.name, &sub.query, &sink_text, article, analysis, now);
        let entry = OutboxEntry {
            id: payload.idempotency_key.clone(),
            subscription: sub.name.clone(),
            sink: sink_text,
            article: article.id,
            enqueued: now,
            attempts: 0,
            last_error: None,
            in_flight: None,
            payload,
        };
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        batch.insert(
            OUTBOX_TREE,
            outbox_key(article.id, &sub.name, index),
            entry.to_bytes(),
        )?;
    }
    Ok(())
}

impl Indexer for AlertIndexer {
    fn name(&self) -> &str {
        "alerts"
    }

    fn on_insert(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        // Only articles new to the store alert: never a rebuild of stored ones.
        if ctx.reason() != IndexReason::New {
            return Ok(());
        }
        let set = self.current(batch)?;
        if set.is_empty() {
            return Ok(());
        }
        let doc = if set.needs_text() {
            Doc::new(article, self.tokenizer)
        } else {
            Doc::default()
        };
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        for m in set.matching(&doc, article, analysis, &mut scratch) {
            enqueue(&m.sub, article, analysis, batch)?;
        }
        Ok(())
    }

    // A re-tag (on_update) never alerts: the article is not new. Outbox entries of a
    // removed article stay: each carries its own copy of the alert.
}
