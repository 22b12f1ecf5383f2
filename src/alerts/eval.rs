//! Evaluating every active subscription against a new article, fast: queries are parsed and
//! compiled once, the article is tokenised once, and subscriptions are indexed by an
//! "anchor" — a token, tag, family or feed the article must have for the query to match —
//! so that only the few subscriptions whose anchor the article has are evaluated.
//!
//! The match itself is always the search module's matcher: the index only skips
//! subscriptions that cannot match.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Analysis, Article, Family, FeedId, Field, Flags, TagId};
use crate::search::matcher::Node;
use crate::search::{Compiled, Doc, QueryError};
use crate::taxonomy::Taxonomy;
use crate::tokenize::Tokenizer;

use super::subscription::Subscription;

/// Something an article must have for a query to match it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// A folded token in one of its fields.
    Token(String),
    /// A tag.
    Tag(TagId),
    /// Any tag of a family.
    Family(Family),
    /// The feed.
    Feed(FeedId),
}

impl Anchor {
    /// A rough guess of how many articles have the anchor, relative to a token or a tag:
    /// a family covers many tags, so an AND prefers any other condition to it.
    fn breadth(&self) -> u32 {
        match self {
            Anchor::Token(_) | Anchor::Tag(_) => 1,
            Anchor::Feed(_) => 2,
            Anchor::Family(_) => 8,
        }
    }
}

/// A set of anchors at least one of which every matching article has; `None` when the
/// query can match without any (e.g. `-tag:outage`, `since:2026-01-01`).
pub fn anchors(query: &Compiled) -> Option<Vec<Anchor>> {
    let mut set = anchors_of(&query.root, query)?;
    set.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    set.dedup();
    Some(set)
}

fn anchors_of(node: &Node, q: &Compiled) -> Option<Vec<Anchor>> {
    match node {
        Node::Text(i) => {
            let leaf = q.texts().get(*i)?;
            // Every token of a sequence must occur; the longest is likely the rarest.
            leaf.alternatives
                .iter()
                .map(|alt| {
                    alt.iter()
                        .max_by_key(|t| t.chars().count())
                        .map(|t| Anchor::Token(t.clone()))
                })
                .collect()
        }
        Node::Tag(t) => Some(vec![Anchor::Tag(t.clone())]),
        Node::Family(f) => Some(vec![Anchor::Family(*f)]),
        Node::Feed(f) => Some(vec![Anchor::Feed(f.clone())]),
        Node::Since(_) | Node::Before(_) | Node::Is(_) | Node::Not(_) => None,
        // Any one child's condition is necessary: take the most selective.
        Node::And(ns) => ns
            .iter()
            .filter_map(|n| anchors_of(n, q))
            .min_by_key(|set| set.iter().map(Anchor::breadth).sum::<u32>()),
        // Every child may be the one that matches: all of their anchors.
        Node::Or(ns) => {
            let mut all = Vec::new();
            for n in ns {
                all.extend(anchors_of(n, q)?);
            }
            Some(all)
        }
    }
}

/// A subscription ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledSubscription {
    /// The subscription.
    pub sub: Arc<Subscription>,
    /// Its compiled query.
    pub query: Compiled,
}

/// All active subscriptions, compiled and indexed by anchor.
#[derive(Debug, Default)]
pub struct SubscriptionSet {
    subs: Vec<CompiledSubscription>,
    by_token: HashMap<String, Vec<u32>>,
    by_tag: HashMap<TagId, Vec<u32>>,
    by_family: HashMap<Family, Vec<u32>>,
    by_feed: HashMap<FeedId, Vec<u32>>,
    always: Vec<u32>,
    broken: Vec<(String, QueryError)>,
}

/// Scratch space reused across articles (marks which subscriptions are already candidates).
#[derive(Debug, Default)]
pub struct Scratch {
    seen: Vec<u32>,
    stamp: u32,
    candidates: Vec<u32>,
}

impl SubscriptionSet {
    /// Compiles the active (unpaused) subscriptions with the shared tokenizer and the
    /// built-in taxonomy. Queries that no longer compile (a tag removed from a user
    /// taxonomy) are kept aside in [`SubscriptionSet::broken`].
    pub fn build(subs: impl IntoIterator<Item = Subscription>) -> SubscriptionSet {
        SubscriptionSet::build_with(subs, Tokenizer::shared(), Taxonomy::builtin())
    }

    /// Compiles with a given tokenizer and taxonomy.
    pub fn build_with(
        subs: impl IntoIterator<Item = Subscription>,
        tokenizer: &Tokenizer,
        taxonomy: &Taxonomy,
    ) -> SubscriptionSet {
        let mut set = SubscriptionSet::default();
        let mut subs: Vec<Subscription> = subs.into_iter().filter(|s| !s.paused).collect();
        subs.sort_by(|a, b| a.name.cmp(&b.name));
        for sub in subs {
            let compiled = crate::search::parse(&sub.query)
                .and_then(|q| Compiled::with(&q, tokenizer, taxonomy));
            let query = match compiled {
                Ok(q) => q,
                Err(e) => {
                    set.broken.push((sub.name.clone(), e));
                    continue;
                }
            };
            let idx = set.subs.len() as u32;
            match anchors(&query) {
                None => set.always.push(idx),
                Some(list) => {
                    for a in list {
                        let slot = match a {
                            Anchor::Token(t) => set.by_token.entry(t).or_default(),
                            Anchor::Tag(t) => set.by_tag.entry(t).or_default(),
                            Anchor::Family(f) => set.by_family.entry(f).or_default(),
                            Anchor::Feed(f) => set.by_feed.entry(f).or_default(),
                        };
                        if slot.last() != Some(&idx) {
                            slot.push(idx);
                        }
                    }
                }
            }
            set.subs.push(CompiledSubscription {
                sub: Arc::new(sub),
                query,
            });
        }
        set
    }

    /// Active subscriptions that compiled.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// True when no subscription is active.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Subscriptions whose query did not compile, with the reason.
    pub fn broken(&self) -> &[(String, QueryError)] {
        &self.broken
    }

    /// Whether any active subscription needs the article's tokens.
    pub fn needs_text(&self) -> bool {
        !self.by_token.is_empty() || self.subs.iter().any(|s| !s.query.texts().is_empty())
    }

    /// The subscriptions that match a new article, in name order. `doc` is the article's
    /// tokens (build it once per article with [`Doc::new`]).
    pub fn matching<'a>(
        &'a self,
        doc: &Doc,
        article: &Article,
        analysis: &Analysis,
        scratch: &mut Scratch,
    ) -> Vec<&'a CompiledSubscription> {
        self.collect_candidates(doc, article, analysis, scratch);
        let flags = Flags::default();
        scratch
            .candidates
            .iter()
            .filter_map(|&i| self.subs.get(i as usize))
            .filter(|s| s.query.matches(doc, article, analysis, flags))
            .collect()
    }

    /// How many subscriptions the index says to evaluate for this article (diagnostics,
    /// benchmark).
    pub fn candidate_count(
        &self,
        doc: &Doc,
        article: &Article,
        analysis: &Analysis,
        scratch: &mut Scratch,
    ) -> usize {
        self.collect_candidates(doc, article, analysis, scratch);
        scratch.candidates.len()
    }

    fn collect_candidates(
        &self,
        doc: &Doc,
        article: &Article,
        analysis: &Analysis,
        scratch: &mut Scratch,
    ) {
        if scratch.seen.len() != self.subs.len() {
            scratch.seen = vec![0; self.subs.len()];
            scratch.stamp = 0;
        }
        scratch.stamp = scratch.stamp.wrapping_add(1);
        if scratch.stamp == 0 {
            scratch.seen.iter_mut().for_each(|s| *s = 0);
            scratch.stamp = 1;
        }
        let stamp = scratch.stamp;
        scratch.candidates.clear();
        let Scratch {
            seen, candidates, ..
        } = scratch;
        let mut add = |list: &[u32]| {
            for &i in list {
                if let Some(s) = seen.get_mut(i as usize) {
                    if *s != stamp {
                        *s = stamp;
                        candidates.push(i);
                    }
                }
            }
        };
        add(&self.always);
        if let Some(l) = self.by_feed.get(&article.draft.feed) {
            add(l);
        }
        for hit in &analysis.tags {
            if let Some(l) = self.by_tag.get(&hit.tag) {
                add(l);
            }
            if let Some(l) = self.by_family.get(&hit.family) {
                add(l);
            }
        }
        if !self.by_token.is_empty() {
            for field in [Field::Title, Field::Lead, Field::Body] {
                for term in doc.field(field) {
                    if let Some(l) = self.by_token.get(term.norm.as_str()) {
                        add(l);
                    }
                }
            }
        }
        // Name order, whatever order the anchors were found in.
        candidates.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::sink::SinkSpec;
    use crate::alerts::testutil::article;
    use crate::model::TagHit;
    use chrono::Utc;

    fn sub(name: &str, query: &str) -> Subscription {
        Subscription {
            name: name.into(),
            query: query.into(),
            sinks: vec![SinkSpec::Stdout],
            paused: false,
            created: Utc::now(),
        }
    }

    fn compiled(q: &str) -> Compiled {
        Compiled::new(&crate::search::parse(q).unwrap()).unwrap()
    }

    fn tags(ids: &[(&str, Family)]) -> Analysis {
        Analysis {
            tags: ids
                .iter()
                .map(|(t, f)| TagHit {
                    tag: TagId::new(*t),
                    family: *f,
                    count: 1,
                    spans: vec![],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn anchors_follow_the_boolean_structure() {
        assert_eq!(
            anchors(&compiled("tag:7pay")),
            Some(vec![Anchor::Tag(TagId::new("7pay"))])
        );
        // AND: one child's anchors suffice.
        assert_eq!(
            anchors(&compiled("tag:7pay since:2019-01-01")),
            Some(vec![Anchor::Tag(TagId::new("7pay"))])
        );
        // OR: all children's; a child without anchors makes the whole unanchored.
        let or = anchors(&compiled("tag:7pay OR feed:paysec")).unwrap();
        assert_eq!(or.len(), 2);
        assert_eq!(anchors(&compiled("tag:7pay OR -tag:outage")), None);
        assert_eq!(anchors(&compiled("-tag:outage")), None);
        assert_eq!(anchors(&compiled("since:2026-01-01")), None);
        // Text: a token of each spelling.
        let text = anchors(&compiled("不正アクセス")).unwrap();
        assert!(!text.is_empty());
        assert!(text.iter().all(|a| matches!(a, Anchor::Token(_))));
    }

    #[test]
    fn set_matches_like_the_matcher_and_skips_the_rest() {
        let subs = vec![
            sub("c-7pay", "tag:7pay"),
            sub("b-text", "不正アクセス"),
            sub("a-not", "-tag:outage"),
            sub("d-feed", "feed:other"),
            Subscription {
                paused: true,
                ..sub("e-paused", "tag:7pay")
            },
        ];
        let set = SubscriptionSet::build(subs.clone());
        assert_eq!(set.len(), 4, "paused ones are left out");
        let a = article(1, "セブンペイで不正アクセス", "https://x/");
        let an = tags(&[("7pay", Family::Service)]);
        let doc = Doc::new(&a, Tokenizer::shared());
        let mut scratch = Scratch::default();
        let names: Vec<_> = set
            .matching(&doc, &a, &an, &mut scratch)
            .iter()
            .map(|m| m.sub.name.clone())
            .collect();
        assert_eq!(names, ["a-not", "b-text", "c-7pay"]);
        // d-feed is never even evaluated.
        assert_eq!(set.candidate_count(&doc, &a, &an, &mut scratch), 3);

        // The same answers as evaluating every query with the matcher.
        for s in subs.iter().filter(|s| !s.paused) {
            let direct = compiled(&s.query).matches(&doc, &a, &an, Flags::default());
            assert_eq!(direct, names.contains(&s.name), "{}", s.name);
        }

        let outage = tags(&[("outage", Family::Threat)]);
        let mut b = article(2, "決済アプリのシステム障害", "https://x/");
        b.draft.summary = "復旧の見込み".into();
        let doc_b = Doc::new(&b, Tokenizer::shared());
        assert!(set.matching(&doc_b, &b, &outage, &mut scratch).is_empty());
    }

    #[test]
    fn broken_queries_are_set_aside() {
        let set =
            SubscriptionSet::build(vec![sub("bad", "tag:no-such-tag"), sub("ok", "tag:7pay")]);
        assert_eq!(set.len(), 1);
        assert_eq!(set.broken()[0].0, "bad");
    }
}
