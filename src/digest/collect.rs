//! Reading one period from the store: ids through the date index (never a scan of the whole
//! store), then each article and its analysis; and the feeds whose last fetch failed.

use std::collections::BTreeMap;

use crate::model::{Analysis, Article, FeedId, Flags};
use crate::search::{Compiled, Doc, Query, QueryError};
use crate::store::{FeedState, Store};
use crate::tokenize::Tokenizer;

use super::{DigestError, FailedSource, FeedName, Period};

/// What [`collect`] needs besides the store and the period.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Display names of feeds by id (titles from feeds.toml); others show their id.
    pub names: BTreeMap<FeedId, String>,
    /// Most articles a digest takes: a longer period is refused rather than read whole
    /// into memory.
    pub max_articles: usize,
}

/// Default of [`CollectOptions::max_articles`]: a year of a busy desk (274 a day).
pub const MAX_ARTICLES: usize = 100_000;

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            names: BTreeMap::new(),
            max_articles: MAX_ARTICLES,
        }
    }
}

impl CollectOptions {
    /// The display name of a feed.
    pub fn name(&self, feed: &FeedId) -> FeedName {
        self.names
            .get(feed)
            .cloned()
            .unwrap_or_else(|| feed.as_str().to_string())
    }
}

/// Keeps the articles a search query matches: the `kessai search` language, evaluated on each
/// article of the period by the search matcher (so `tag:`, `feed:`, `is:unread`, phrases and
/// spelling variants mean exactly what they mean in search and alerts).
pub struct QueryFilter {
    compiled: Compiled,
    tokenizer: &'static Tokenizer,
}

impl std::fmt::Debug for QueryFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryFilter").finish_non_exhaustive()
    }
}

impl QueryFilter {
    /// Compiles a parsed query with the shared tokenizer and the built-in taxonomy.
    pub fn new(query: &Query) -> Result<QueryFilter, QueryError> {
        QueryFilter::with(query, crate::taxonomy::Taxonomy::builtin())
    }

    /// Compiles a parsed query with the shared tokenizer and a taxonomy (the configured one:
    /// built-in plus the user's file), whose spelling variants the query's words expand to.
    pub fn with(
        query: &Query,
        taxonomy: &crate::taxonomy::Taxonomy,
    ) -> Result<QueryFilter, QueryError> {
        let tokenizer = Tokenizer::shared();
        Ok(QueryFilter {
            compiled: Compiled::with(query, tokenizer, taxonomy)?,
            tokenizer,
        })
    }

    /// Whether the query matches the article.
    pub fn keeps(&self, article: &Article, analysis: &Analysis, flags: Flags) -> bool {
        // A query of fields only (tag:, feed:, is:) needs no tokenising.
        let doc = if self.compiled.texts().is_empty() {
            Doc::from_terms([Vec::new(), Vec::new(), Vec::new()])
        } else {
            Doc::new(article, self.tokenizer)
        };
        self.compiled.matches(&doc, article, analysis, flags)
    }
}

fn store_err(what: impl Into<String>) -> impl FnOnce(crate::store::StoreError) -> DigestError {
    let what = what.into();
    move |source| DigestError::Store { what, source }
}

/// The period's articles that `keep` accepts, oldest first, each with its analysis and its
/// feed's name. Reads `store.ids_between(start, end)` only. An id whose article vanished
/// between the index read and the get (removed meanwhile) is skipped; an article without a
/// stored analysis gets an empty one. `keep` sees the whole article; what is returned has
/// its body dropped (the digest shows titles and leads), so memory stays small per article.
/// More than `max_articles` accepted articles is an error, not a silent cut.
pub fn collect(
    store: &Store,
    period: &Period,
    options: &CollectOptions,
    mut keep: impl FnMut(&Article, &Analysis, Flags) -> bool,
) -> Result<Vec<(Article, Analysis, FeedName)>, DigestError> {
    let mut out = Vec::new();
    for id in store
        .ids_between(period.start_utc(), period.end_utc())
        .rev()
    {
        let id = id.map_err(store_err("the date index"))?;
        let Some(article) = store.get(id).map_err(store_err(format!("article {id}")))? else {
            continue;
        };
        let analysis = store
            .analysis(id)
            .map_err(store_err(format!("the analysis of article {id}")))?
            .unwrap_or_default();
        let flags = store
            .flags(id)
            .map_err(store_err(format!("the flags of article {id}")))?
            .unwrap_or_default();
        if keep(&article, &analysis, flags) {
            if out.len() == options.max_articles {
                return Err(DigestError::TooManyArticles {
                    limit: options.max_articles,
                });
            }
            let mut article = article;
            article.draft.body = String::new();
            let name = options.name(&article.draft.feed);
            out.push((article, analysis, name));
        }
    }
    Ok(out)
}

/// Feeds whose most recent attempt failed, from the store's feed state (the digest keeps
/// those whose attempt lies in its period).
pub fn failed_sources(
    store: &Store,
    options: &CollectOptions,
) -> Result<Vec<FailedSource>, DigestError> {
    let states = store.feed_states().map_err(store_err("feed states"))?;
    Ok(states
        .into_iter()
        .filter_map(|(feed, state)| failure_of(&feed, &state, options))
        .collect())
}

/// A failure when the last attempt failed: failures in a row, or an error and no success
/// at or after the attempt (`last_error` is kept after a later success, for the record).
fn failure_of(feed: &FeedId, state: &FeedState, options: &CollectOptions) -> Option<FailedSource> {
    let attempt = state.last_attempt?;
    let error = state.last_error.as_ref()?;
    let failing =
        state.consecutive_failures > 0 || state.last_success.is_none_or(|ok| ok < attempt);
    if !failing {
        return None;
    }
    Some(FailedSource {
        feed: feed.clone(),
        name: options.name(feed),
        last_attempt: attempt,
        error: error.clone(),
        consecutive_failures: state.consecutive_failures,
        last_success: state.last_success,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_last_attempt_is_a_failure() {
        let feed = FeedId::new("paysec");
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let mut state = FeedState::default();
        assert!(failure_of(&feed, &state, &CollectOptions::default()).is_none());
        state.record_failure(t("2019-09-04T01:00:00Z"), "HTTP 503");
        let f = failure_of(&feed, &state, &CollectOptions::default()).unwrap();
        assert_eq!(f.error, "HTTP 503");
        assert_eq!(f.name, "paysec");
        state.record_success(t("2019-09-04T02:00:00Z"));
        assert!(failure_of(&feed, &state, &CollectOptions::default()).is_none());
    }
}
