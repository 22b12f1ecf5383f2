//! The alerts [`Indexer`]: evaluates the active subscriptions on every NEW article and
//! writes its outbox entries (and reader notices) into the article's own atomic batch, so an
//! article is never stored without its alerts, nor alerted without being stored.

use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::model::{Analysis, Article, ArticleDraft};
use crate::search::Doc;
use crate::store::{
    Batch, IndexCtx, IndexReason, IndexResult, Indexer, Prepared, Store, StoreError,
};
use crate::taxonomy::Taxonomy;
use crate::tokenize::{ArticleTokens, Tokenizer};

use super::AlertError;
use super::eval::{Scratch, SubscriptionSet};
use super::notice::Notice;
use super::outbox::{OutboxEntry, outbox_key};
use super::payload::AlertPayload;
use super::state::{NOTICES_TREE, OUTBOX_TREE, SUBSCRIPTIONS_TREE, generation_in};
use super::subscription::Subscription;

/// Evaluates subscriptions inside the store's write of each new article. It holds no
/// handle on the store (the store holds it: a handle back would keep the store open
/// forever) and reads subscriptions through the batch it is given.
pub struct AlertIndexer {
    tokenizer: &'static Tokenizer,
    taxonomy: &'static Taxonomy,
    /// The compiled subscriptions and the generation they were built from.
    cache: Mutex<Option<(u64, Arc<SubscriptionSet>)>>,
    scratch: Mutex<Scratch>,
}

impl AlertIndexer {
    /// An indexer with the shared tokenizer and the built-in taxonomy.
    pub fn new() -> AlertIndexer {
        AlertIndexer::with(Tokenizer::shared(), Taxonomy::builtin())
    }

    /// An indexer with a given tokenizer and taxonomy (a user taxonomy).
    pub fn with(tokenizer: &'static Tokenizer, taxonomy: &'static Taxonomy) -> AlertIndexer {
        AlertIndexer {
            tokenizer,
            taxonomy,
            cache: Mutex::new(None),
            scratch: Mutex::new(Scratch::default()),
        }
    }

    /// Creates the indexer and registers it with the store: from then on every new article
    /// the store takes is evaluated. Every process that inserts articles (fetch, watch, the
    /// reader's refresh) must do this before its first insert.
    pub fn register(store: &Store) -> Arc<AlertIndexer> {
        AlertIndexer::register_with(store, Taxonomy::builtin())
    }

    /// [`AlertIndexer::register`] with the taxonomy the articles are tagged with (a user
    /// taxonomy adds tags that queries may name).
    pub fn register_with(store: &Store, taxonomy: &'static Taxonomy) -> Arc<AlertIndexer> {
        let indexer = Arc::new(AlertIndexer::with(Tokenizer::shared(), taxonomy));
        store.register_indexer(indexer.clone());
        indexer
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
        let mut subs = Vec::new();
        for (k, v) in batch.scan_prefix(SUBSCRIPTIONS_TREE, b"", usize::MAX)? {
            subs.push(serde_json::from_slice::<Subscription>(&v).map_err(|e| {
                AlertError::Corrupt {
                    tree: SUBSCRIPTIONS_TREE,
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                }
            })?);
        }
        let set = Arc::new(SubscriptionSet::build_with(
            subs,
            self.tokenizer,
            self.taxonomy,
        ));
        *cache = Some((generation, set.clone()));
        Ok(set)
    }
}

impl Default for AlertIndexer {
    fn default() -> Self {
        AlertIndexer::new()
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
        self.evaluate(ctx, article, analysis, None, batch)
    }

    /// Builds the article's text document before the writer lock, from the tagger's tokens,
    /// when the subscriptions last read need text. Stale or not (none read yet: the first
    /// write builds it under the lock), [`AlertIndexer::evaluate`] checks the current
    /// subscriptions under the lock.
    fn prepare(
        &self,
        draft: &ArticleDraft,
        _analysis: &Analysis,
        tokens: Option<&ArticleTokens>,
    ) -> Option<Prepared> {
        let tokens = tokens?;
        let wanted = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .as_ref()
                .is_some_and(|(_, set)| !set.is_empty() && set.needs_text())
        };
        wanted.then(|| Box::new(Doc::from_tokens(tokens, draft, self.tokenizer)) as Prepared)
    }

    fn on_insert_prepared(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        prepared: Prepared,
        batch: &mut Batch,
    ) -> IndexResult {
        let doc = prepared.downcast::<Doc>().ok().map(|d| *d);
        self.evaluate(ctx, article, analysis, doc, batch)
    }

    // A re-tag (on_update) never alerts: the article is not new. Outbox entries of a
    // removed article stay: each carries its own copy of the alert.
}

impl AlertIndexer {
    /// Evaluates the subscriptions on a new article and enqueues its alerts; `doc` is its
    /// text document when already built.
    fn evaluate(
        &self,
        ctx: &IndexCtx,
        article: &Article,
        analysis: &Analysis,
        doc: Option<Doc>,
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
        let doc = match doc {
            Some(d) => d,
            None if set.needs_text() => Doc::new(article, self.tokenizer),
            None => Doc::default(),
        };
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        for m in set.matching(&doc, article, analysis, &mut scratch) {
            enqueue(&m.sub, article, analysis, batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::deliver::Deliverer;
    use crate::alerts::outbox::RetryPolicy;
    use crate::alerts::sink::SinkSpec;
    use crate::alerts::state::AlertState;
    use crate::model::{ArticleDraft, Family, FeedId, TagHit, TagId};
    use chrono::TimeZone;
    use std::io::Write;
    use std::sync::Mutex as StdMutex;

    fn draft(n: u32, title: &str) -> ArticleDraft {
        let t = Utc.with_ymd_and_hms(2019, 7, 4, 9, 0, 0).unwrap();
        ArticleDraft {
            feed: FeedId::new("paysec"),
            url: format!("http://127.0.0.1:9/a/{n}"),
            guid: Some(format!("g{n}")),
            title: title.into(),
            summary: String::new(),
            body: "本文。".into(),
            published: t,
            fetched: t,
            content_hash: format!("hash{n}"),
        }
    }

    fn tagged(tag: &str, family: Family) -> Analysis {
        Analysis {
            tags: vec![TagHit {
                tag: TagId::new(tag),
                family,
                count: 1,
                spans: vec![],
            }],
            ..Default::default()
        }
    }

    fn sub(name: &str, query: &str, sinks: &[SinkSpec]) -> Subscription {
        Subscription {
            name: name.into(),
            query: query.into(),
            sinks: sinks.to_vec(),
            paused: false,
            created: Utc::now(),
        }
    }

    fn setup() -> (Store, AlertState) {
        let store = Store::open_temporary().unwrap();
        AlertIndexer::register(&store);
        let state = AlertState::open(&store).unwrap();
        (store, state)
    }

    #[test]
    fn text_queries_match_articles_prepared_with_the_taggers_tokens() {
        let (store, state) = setup();
        state
            .add(&sub("leak", "不正アクセス", &[SinkSpec::Stdout]))
            .unwrap();
        let tagger = crate::tag::Tagger::shared();
        let batch = |range: std::ops::Range<u32>, body: &str| {
            let items = range
                .map(|n| {
                    let mut d = draft(n, &format!("記事{n}"));
                    d.body = body.to_string();
                    let (analysis, tokens) = tagger.analyze_with_tokens(&d);
                    store.prepare(d, analysis, Some(&tokens))
                })
                .collect();
            store.insert_prepared(items).unwrap()
        };
        // The first write reads the subscriptions under the lock; later ones find their
        // text documents prepared from the tagger's tokens.
        batch(1..3, "加盟店サイトに不正アクセスがあった。");
        batch(3..5, "関係のない話題。");
        batch(5..7, "関連記事\n・見出し\n\n再び不正アクセスの被害。");
        let ids: Vec<u64> = state
            .outbox_entries()
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.article.0)
            .collect();
        assert_eq!(ids, [1, 2, 5, 6]);
    }

    #[test]
    fn new_articles_enqueue_once_and_retags_never() {
        let (store, state) = setup();
        state
            .add(&sub(
                "seven",
                "tag:7pay",
                &[SinkSpec::Stdout, SinkSpec::Notice],
            ))
            .unwrap();
        state
            .add(&Subscription {
                paused: true,
                ..sub("paused", "tag:7pay", &[SinkSpec::Stdout])
            })
            .unwrap();
        let seven = tagged("7pay", Family::Service);
        let id = store.insert(draft(1, "セブンペイ停止"), &seven).unwrap();
        assert!(id.is_new());
        let other = store
            .insert(draft(2, "別の話題"), &tagged("paypay", Family::Service))
            .unwrap();

        let entries = state.outbox_entries().unwrap();
        assert_eq!(entries.len(), 1, "stdout only; notice goes to notices");
        assert_eq!(entries[0].1.article, id.id());
        assert_eq!(entries[0].1.subscription, "seven");
        let notices = state.recent_notices(10).unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].title, "セブンペイ停止");

        // The same article again is a duplicate: no new alert.
        let again = store.insert(draft(1, "セブンペイ停止"), &seven).unwrap();
        assert!(!again.is_new());
        // A re-tag that makes the other article match does not alert either.
        store.set_analysis(other.id(), &seven).unwrap();
        assert_eq!(state.outbox_len(), 1);
        assert_eq!(state.recent_notices(10).unwrap().len(), 1);

        // A subscription added later only sees later articles.
        state
            .add(&sub("late", "tag:7pay", &[SinkSpec::Stdout]))
            .unwrap();
        assert_eq!(state.outbox_len(), 1);
        store.insert(draft(3, "7pay 続報"), &seven).unwrap();
        let subs: Vec<_> = state
            .outbox_entries()
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.subscription)
            .collect();
        assert_eq!(subs, ["seven", "late", "seven"]);
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<StdMutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn file_and_stdout_delivery_exactly_once_across_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alerts.jsonl");
        let store_dir = dir.path().join("store");
        let out = Shared::default();
        {
            let store = Store::open(&store_dir).unwrap();
            AlertIndexer::register(&store);
            let state = AlertState::open(&store).unwrap();
            state
                .add(&sub(
                    "seven",
                    "tag:7pay",
                    &[SinkSpec::File { path: file.clone() }, SinkSpec::Stdout],
                ))
                .unwrap();
            let seven = tagged("7pay", Family::Service);
            store
                .insert(draft(1, "\u{1b}]0;pwned\u{7}セブンペイ"), &seven)
                .unwrap();
            store.insert(draft(2, "7pay 二件目"), &seven).unwrap();
            store.flush().unwrap();
            let mut d = Deliverer::new(state.clone())
                .unwrap()
                .with_stdout(Box::new(out.clone()));
            let r = d.run_once().await.unwrap();
            assert_eq!((r.delivered, r.pending, r.failed), (4, 0, 0), "{r:?}");
            let r = d.run_once().await.unwrap();
            assert_eq!(r.delivered, 0);
        }
        {
            // Restart: nothing left to deliver, nothing written twice.
            let store = Store::open(&store_dir).unwrap();
            AlertIndexer::register(&store);
            let state = AlertState::open(&store).unwrap();
            let mut d = Deliverer::new(state)
                .unwrap()
                .with_stdout(Box::new(out.clone()));
            assert_eq!(d.run_once().await.unwrap().delivered, 0);
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(printed.lines().count(), 2);
        assert!(!printed.contains('\u{1b}') && !printed.contains('\u{7}'));
        let first: AlertPayload = serde_json::from_str(printed.lines().next().unwrap()).unwrap();
        assert_eq!(
            first.article.title, "\u{1b}]0;pwned\u{7}セブンペイ",
            "data kept"
        );
    }

    #[tokio::test]
    async fn interrupted_file_write_is_settled_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alerts.jsonl");
        let (store, state) = setup();
        state
            .add(&sub(
                "seven",
                "tag:7pay",
                &[SinkSpec::File { path: file.clone() }],
            ))
            .unwrap();
        let seven = tagged("7pay", Family::Service);
        for n in 1..=3 {
            store
                .insert(draft(n, &format!("7pay {n}")), &seven)
                .unwrap();
        }
        // Simulate a crash after marking all three and writing the first one and a half.
        let entries = state.outbox_entries().unwrap();
        let marked: Vec<_> = entries
            .iter()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.in_flight = Some(0);
                (k.clone(), e)
            })
            .collect();
        state
            .update_entries(marked.iter().map(|(k, e)| (k.as_slice(), e)))
            .unwrap();
        let second = entries[1].1.payload.to_json();
        std::fs::write(
            &file,
            format!(
                "{}\n{}",
                entries[0].1.payload.to_json(),
                &second[..second.len() / 2]
            ),
        )
        .unwrap();

        let mut d = Deliverer::new(state.clone()).unwrap();
        let r = d.run_once().await.unwrap();
        assert_eq!((r.recovered, r.delivered), (1, 3), "{r:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        let keys: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<AlertPayload>(l)
                    .unwrap()
                    .idempotency_key
            })
            .collect();
        let want: Vec<String> = entries.iter().map(|(_, e)| e.id.clone()).collect();
        assert_eq!(keys, want, "each once, in order, torn line gone");
    }

    #[tokio::test]
    async fn failing_sink_backs_off_and_keeps_entries_until_dropped() {
        let (store, state) = setup();
        state
            .add(&sub(
                "seven",
                "tag:7pay",
                &[SinkSpec::Exec {
                    argv: vec!["false".into()],
                }],
            ))
            .unwrap();
        let seven = tagged("7pay", Family::Service);
        store.insert(draft(1, "7pay 1"), &seven).unwrap();
        store.insert(draft(2, "7pay 2"), &seven).unwrap();
        let mut d = Deliverer::new(state.clone())
            .unwrap()
            .with_policy(RetryPolicy {
                base: std::time::Duration::from_secs(60),
                max: std::time::Duration::from_secs(600),
            });
        let r = d.run_once().await.unwrap();
        assert_eq!((r.delivered, r.failed, r.pending), (0, 1, 2), "{r:?}");
        assert!(r.errors[0].contains("exec `false`"), "{:?}", r.errors);
        assert!(r.next_retry.is_some());
        // Backing off: not tried again now.
        let r = d.run_once().await.unwrap();
        assert_eq!((r.failed, r.deferred), (0, 2), "{r:?}");
        let entries = state.outbox_entries().unwrap();
        assert_eq!(entries[0].1.attempts, 1);
        let id = entries[0].1.id.clone();
        assert!(matches!(
            state.drop_entries("abc"),
            Err(AlertError::IdTooShort { .. })
        ));
        assert_eq!(state.drop_entries(&id[..8]).unwrap().len(), 1);
        assert_eq!(state.outbox_len(), 1);
        assert_eq!(state.drop_all().unwrap(), 1);
        assert_eq!(state.outbox_len(), 0);
    }

    #[tokio::test]
    async fn large_backlogs_go_out_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.jsonl");
        let (store, state) = setup();
        state
            .add(&sub(
                "seven",
                "tag:7pay",
                &[SinkSpec::File { path: file.clone() }],
            ))
            .unwrap();
        let seven = tagged("7pay", Family::Service);
        use crate::alerts::deliver::BATCH_LIMIT;
        let n = BATCH_LIMIT as u32 + 20;
        let items = (1..=n)
            .map(|i| (draft(i, &format!("7pay {i}")), seven.clone()))
            .collect();
        store.insert_many(items).unwrap();
        let mut d = Deliverer::new(state.clone()).unwrap();
        let r = d.run_once().await.unwrap();
        assert_eq!((r.delivered, r.pending), (n as usize - 20, 20), "{r:?}");
        let r = d.run_once().await.unwrap();
        assert_eq!((r.delivered, r.pending), (20, 0), "{r:?}");
        // `watch` drains a backlog in one go, batch after batch.
        let more = (n + 1..=n + BATCH_LIMIT as u32 * 2 + 7)
            .map(|i| (draft(i, &format!("7pay {i}")), seven.clone()))
            .collect();
        store.insert_many(more).unwrap();
        let r = d.run_until_drained(|| false).await.unwrap();
        assert_eq!((r.delivered, r.pending), (BATCH_LIMIT * 2 + 7, 0), "{r:?}");
        let n = n + BATCH_LIMIT as u32 * 2 + 7;
        let text = std::fs::read_to_string(&file).unwrap();
        let ids: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<AlertPayload>(l)
                    .unwrap()
                    .article
                    .id
                    .0
            })
            .collect();
        assert_eq!(ids.len(), n as usize);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in article order");
    }
}
