//! The search engine: runs a query against the index and the store, ranks, pages, and
//! loads the results with their snippets. The CLI, the reader's `/` and saved searches use it.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::model::{Article, ArticleId, Family, FeedId, TagId};
use crate::search::codec::{self, Corrupt, DocInfo, Postings};
use crate::search::eval::{Bits, Eval, LeafHits, Oracle, needs_text, text_hits};
use crate::search::index::{self, IndexError};
use crate::search::matcher::{Compiled, Node};
use crate::search::query::{Query, QueryError, Status};
use crate::search::rank::{self, Scored, Sort, Stats};
use crate::search::snippet::{self, Snippet};
use crate::store::{ListFilter, Store, StoreError};
use crate::taxonomy::Taxonomy;
use crate::tokenize::Tokenizer;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query is malformed (carries the column).
    #[error("bad query: {0}")]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index holds bytes that do not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// The index was written by a different version of kessai.
    #[error(
        "the search index has layout {found}, this kessai writes {expected}; run `kessai reindex`"
    )]
    Format {
        /// On disk.
        found: u32,
        /// Ours.
        expected: u32,
    },
}

impl From<IndexError> for SearchError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Store(e) => SearchError::Store(e),
            IndexError::Corrupt(e) => SearchError::Corrupt(e),
        }
    }
}

/// Where the next page of results starts (an offset into the ranked results). Prints as a
/// number and parses back, for command lines and UIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Cursor(pub usize);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Cursor, Self::Err> {
        s.parse().map(Cursor)
    }
}

/// One result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    /// The article id.
    pub id: ArticleId,
    /// Relevance (0 with date sorting or a query without words).
    pub score: f32,
    /// The article.
    pub article: Article,
    /// The title with the query's words marked.
    pub title: Snippet,
    /// A window of the text around the first match.
    pub snippet: Snippet,
}

/// The index covers a different number of articles than the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    /// Articles in the index.
    pub indexed: u64,
    /// Articles in the store.
    pub stored: u64,
}

/// A page of results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    /// The results of this page, best first.
    pub hits: Vec<Hit>,
    /// How many articles match in all; `None` when counting them would mean reading a
    /// whole store index (a query of filters only, answered a page at a time).
    pub total: Option<u64>,
    /// The next page, if there are more results.
    pub next: Option<Cursor>,
    /// Set when the index does not cover the store (run `kessai reindex`).
    pub stale: Option<Stale>,
}

/// Ranked matches without their articles (cheap; see [`Engine::rank`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The requested page, best first.
    pub items: Vec<Scored>,
    /// See [`Results::total`].
    pub total: Option<u64>,
    /// The next page.
    pub next: Option<Cursor>,
}

/// Runs queries over one store.
pub struct Engine {
    store: Store,
    tree: sled::Tree,
    tokenizer: &'static Tokenizer,
    taxonomy: &'static Taxonomy,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` with the built-in taxonomy. Registers the search indexer with
    /// the store (if it is not yet), so that writes through this store handle keep the index
    /// current.
    pub fn new(store: &Store) -> Result<Engine, SearchError> {
        Engine::with_taxonomy(store, Taxonomy::builtin())
    }

    /// An engine with a given taxonomy (a user taxonomy file).
    pub fn with_taxonomy(
        store: &Store,
        taxonomy: &'static Taxonomy,
    ) -> Result<Engine, SearchError> {
        index::register(store);
        Ok(Engine {
            tree: store.tree(index::TREE)?,
            store: store.clone(),
            tokenizer: Tokenizer::shared(),
            taxonomy,
        })
    }

    /// Parses and compiles a query for this engine's tokenizer and taxonomy.
    pub fn compile(&self, query: &Query) -> Result<Compiled, QueryError> {
        Compiled::with(query, self.tokenizer, self.taxonomy)
    }

    /// The best `limit` results after `cursor`, by relevance.
    pub fn search(
        &self,
        query: &Query,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Results, SearchError> {
        self.search_by(query, Sort::Relevance, limit, cursor)
    }

    /// The best `limit` results after `cursor`, in the given order, with articles and
    /// snippets.
    pub fn search_by(
        &self,
        query: &Query,
        sort: Sort,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Results, SearchError> {
        let compiled = self.compile(query)?;
        let ranked = self.rank(&compiled, sort, limit, cursor)?;
        let mut hits = Vec::with_capacity(ranked.items.len());
        for s in &ranked.items {
            // An article removed since the index was read: leave it out of the page.
            let Some(article) = self.store.get(ArticleId(s.id))? else {
                continue;
            };
            hits.push(Hit {
                id: article.id,
                score: s.score,
                title: snippet::title(&compiled, &article, self.tokenizer),
                snippet: snippet::excerpt(&compiled, &article, self.tokenizer),
                article,
            });
        }
        Ok(Results {
            hits,
            total: ranked.total,
            next: ranked.next,
            stale: self.stale()?,
        })
    }

    /// Whether the index covers the store: `None` when it does.
    pub fn stale(&self) -> Result<Option<Stale>, SearchError> {
        let indexed = self.stats()?.docs;
        let stored = self.store.article_count()?;
        Ok((indexed != stored).then_some(Stale { indexed, stored }))
    }

    fn stats(&self) -> Result<Stats, SearchError> {
        let v = self.tree.get(index::KEY_STATS).map_err(sled_err)?;
        Ok(index::decode_stats(v.as_deref())?)
    }

    fn check_format(&self) -> Result<(), SearchError> {
        if let Some(v) = self.tree.get(index::KEY_FORMAT).map_err(sled_err)? {
            let found = v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| Corrupt)?;
            if found != index::FORMAT {
                return Err(SearchError::Format {
                    found,
                    expected: index::FORMAT,
                });
            }
        }
        Ok(())
    }

    /// Ranks the matches of a compiled query and returns one page of ids with scores.
    pub fn rank(
        &self,
        compiled: &Compiled,
        sort: Sort,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Ranked, SearchError> {
        self.check_format()?;
        let offset = cursor.map_or(0, |c| c.0);
        if compiled.texts().is_empty() {
            if let Some(filter) = list_filter(&compiled.root) {
                return self.page_filter(&filter, offset, limit);
            }
        }
        let all = self.collect(compiled, sort)?;
        let total = all.len();
        let items = rank::top(all, sort, offset, limit);
        let end = offset.saturating_add(items.len());
        Ok(Ranked {
            next: (end < total && !items.is_empty()).then_some(Cursor(end)),
            items,
            total: Some(total as u64),
        })
    }

    /// A query of filters only that the store's indexes answer directly, newest first.
    fn page_filter(
        &self,
        filter: &ListFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Ranked, SearchError> {
        let want = offset.saturating_add(limit).saturating_add(1);
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .page(filter, cursor, (want - ids.len()).min(1024))?;
            ids.extend(page.items);
            match page.next {
                Some(c) if ids.len() < want => cursor = Some(c),
                _ => break,
            }
        }
        let more = ids.len() > offset.saturating_add(limit);
        let mut items = Vec::new();
        for id in ids.into_iter().skip(offset).take(limit) {
            // The date comes from the article; the page is short, so this is cheap.
            if let Some(a) = self.store.get(id)? {
                items.push(Scored {
                    id: id.0,
                    published: a.draft.published.timestamp(),
                    score: 0.0,
                });
            }
        }
        let end = offset + items.len();
        Ok(Ranked {
            next: (more && !items.is_empty()).then_some(Cursor(end)),
            items,
            total: None,
        })
    }

    /// Every matching document, scored.
    fn collect(&self, compiled: &Compiled, sort: Sort) -> Result<Vec<Scored>, SearchError> {
        let stats = self.stats()?;
        let oracle = StoreOracle::new(&self.store);
        let mut tokens: BTreeSet<&str> = BTreeSet::new();
        for leaf in compiled.texts() {
            for alt in &leaf.alternatives {
                tokens.extend(alt.iter().map(String::as_str));
            }
        }
        // Term key → position of the token in `tokens`.
        let keyed: HashMap<Vec<u8>, usize> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (index::term_key(t), i))
            .collect();
        let positive = compiled.positive_texts();
        let mut acc = Accumulator {
            df: vec![0; compiled.texts().len()],
            found: Vec::new(),
            positive: &positive,
        };

        // Pending documents first (read before the blocks, so a merge that lands while we
        // read shows a document twice rather than not at all; duplicates are skipped).
        let mut pending_docs: Vec<DocInfo> = Vec::new();
        let mut slots: Vec<Postings> = vec![Postings::new(); tokens.len()];
        for entry in self.tree.scan_prefix([index::PENDING]) {
            let (k, v) = entry.map_err(sled_err)?;
            pending_docs.push(index::scan_pending(&k, &v, &keyed, &mut slots)?);
        }
        let pending_postings: HashMap<String, Postings> = tokens
            .iter()
            .map(|t| t.to_string())
            .zip(slots)
            .collect();
        let pending_ids: HashSet<u64> = pending_docs.iter().map(|d| d.id).collect();
        self.unit(
            compiled,
            &oracle,
            &pending_docs,
            &pending_postings,
            &mut acc,
        )?;

        let mut streams: Vec<(String, Stream)> = tokens
            .iter()
            .map(|t| (t.to_string(), Stream::new(&self.tree, &index::term_key(t))))
            .collect();
        let visit = |acc: &mut Accumulator,
                     bucket: u32,
                     docs: Vec<DocInfo>,
                     streams: &mut Vec<(String, Stream)>|
         -> Result<(), SearchError> {
            let lo = u64::from(bucket) << index::BUCKET_BITS;
            let hi = lo + (1u64 << index::BUCKET_BITS);
            let mut postings = HashMap::with_capacity(streams.len());
            for (tok, s) in streams.iter_mut() {
                postings.insert(tok.clone(), s.take_range(lo, hi)?);
            }
            let docs: Vec<DocInfo> = docs
                .into_iter()
                .filter(|d| !pending_ids.contains(&d.id))
                .collect();
            self.unit(compiled, &oracle, &docs, &postings, acc)
        };
        if needs_text(&compiled.root) {
            // Only buckets where one of the query's tokens occurs can match.
            loop {
                let mut next: Option<u64> = None;
                for (_, s) in streams.iter_mut() {
                    if let Some(id) = s.peek()? {
                        next = Some(next.map_or(id, |n| n.min(id)));
                    }
                }
                let Some(id) = next else { break };
                let b = index::bucket(id);
                let docs = self.docs(b)?;
                visit(&mut acc, b, docs, &mut streams)?;
            }
        } else {
            for entry in self.tree.scan_prefix([index::DOCS]) {
                let (k, v) = entry.map_err(sled_err)?;
                let arr: [u8; 4] = k.get(1..5).and_then(|s| s.try_into().ok()).ok_or(Corrupt)?;
                let b = u32::from_be_bytes(arr);
                let mut docs = Vec::new();
                codec::get_docs(u64::from(b) << index::BUCKET_BITS, &v, &mut docs)?;
                visit(&mut acc, b, docs, &mut streams)?;
            }
        }

        let avg = stats.avg_len();
        let idfs: Vec<f32> = positive
            .iter()
            .map(|&i| rank::idf(stats.docs, acc.df[i]))
            .collect();
        Ok(acc
            .found
            .into_iter()
            .map(|f| {
                let mut score = 0.0f32;
                if sort == Sort::Relevance {
                    let len = rank::weighted_len(f.lens);
                    for (k, counts) in f.counts.iter().enumerate() {
                        if counts.iter().any(|&c| c > 0) {
                            score += rank::term_score(idfs[k], *counts, len, avg);
                        }
                    }
                }
                Scored {
                    id: f.id,
                    published: f.published,
                    score,
                }
            })
            .collect())
    }

    /// The document table of a bucket (empty when it has none).
    fn docs(&self, bucket: u32) -> Result<Vec<DocInfo>, SearchError> {
        let mut docs = Vec::new();
        if let Some(v) = self.tree.get(index::docs_key(bucket)).map_err(sled_err)? {
            codec::get_docs(u64::from(bucket) << index::BUCKET_BITS, &v, &mut docs)?;
        }
        Ok(docs)
    }

    /// Evaluates one unit (a bucket, or the pending documents) and records its matches.
    fn unit(
        &self,
        compiled: &Compiled,
        oracle: &StoreOracle<'_>,
        docs: &[DocInfo],
        postings: &HashMap<String, Postings>,
        acc: &mut Accumulator<'_>,
    ) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        let leaves: Vec<LeafHits> = compiled
            .texts()
            .iter()
            .map(|leaf| text_hits(leaf, docs, postings))
            .collect();
        for (i, l) in leaves.iter().enumerate() {
            acc.df[i] += l.bits.count() as u64;
        }
        let matched = Eval {
            compiled,
            docs,
            leaves: &leaves,
            oracle,
        }
        .run()?;
        for i in matched.ones() {
            let d = &docs[i];
            acc.found.push(Found {
                id: d.id,
                published: d.published,
                lens: d.lens,
                counts: acc.positive.iter().map(|&k| leaves[k].counts[i]).collect(),
            });
        }
        Ok(())
    }
}

struct Found {
    id: u64,
    published: i64,
    lens: [u32; 3],
    /// Hits per positive text leaf.
    counts: Vec<[u32; 3]>,
}

struct Accumulator<'a> {
    df: Vec<u64>,
    found: Vec<Found>,
    positive: &'a [usize],
}

fn sled_err(e: sled::Error) -> SearchError {
    SearchError::Store(StoreError::Invalid {
        what: "the search index".into(),
        why: e.to_string(),
    })
}

/// A term's postings in id order, decoded one block at a time.
struct Stream {
    iter: sled::Iter,
    buf: Postings,
    at: usize,
    done: bool,
}

impl Stream {
    fn new(tree: &sled::Tree, term_key: &[u8]) -> Stream {
        Stream {
            iter: tree.scan_prefix(index::postings_prefix(term_key)),
            buf: Postings::new(),
            at: 0,
            done: false,
        }
    }

    /// Makes sure a posting is buffered unless the term is exhausted.
    fn fill(&mut self) -> Result<(), SearchError> {
        while self.at >= self.buf.len() && !self.done {
            match self.iter.next() {
                None => self.done = true,
                Some(entry) => {
                    let (k, v) = entry.map_err(sled_err)?;
                    self.buf = Postings::new();
                    self.at = 0;
                    index::decode_block(index::block_first_id(&k)?, &v, &mut self.buf)?;
                }
            }
        }
        Ok(())
    }

    /// The next id, if any.
    fn peek(&mut self) -> Result<Option<u64>, SearchError> {
        self.fill()?;
        Ok(self.buf.ids.get(self.at).copied())
    }

    /// The postings with ids in `[lo, hi)`; those below `lo` are skipped.
    fn take_range(&mut self, lo: u64, hi: u64) -> Result<Postings, SearchError> {
        let mut out = Postings::new();
        loop {
            self.fill()?;
            let Some(&id) = self.buf.ids.get(self.at) else {
                return Ok(out);
            };
            if id >= hi {
                return Ok(out);
            }
            if id >= lo {
                out.push_from(&self.buf, self.at);
            }
            self.at += 1;
        }
    }
}

/// How much a per-document check costs against one entry of an enumerated set.
fn check_cost(node: &Node) -> u64 {
    match node {
        Node::Is(_) => 1,
        Node::Tag(_) | Node::Family(_) => 4,
        _ => 12,
    }
}

/// Answers tag, family, feed and reading-state leaves from the store: per document while
/// the documents asked about are few, by reading the store's index for that leaf once it
/// is cheaper than going on checking one by one.
struct StoreOracle<'s> {
    store: &'s Store,
    /// Per leaf (by its debug text): the checking work so far, and the set once read.
    state: RefCell<HashMap<String, LeafState>>,
    /// Article counts per leaf, from the store's counters (read on first need).
    counts: RefCell<Option<Counts>>,
}

/// Checking work spent on a leaf so far, and its set of ids once read from the store.
type LeafState = (u64, Option<HashSet<u64>>);

struct Counts {
    tags: HashMap<TagId, u64>,
    families: HashMap<Family, u64>,
    feeds: HashMap<FeedId, u64>,
    unread: u64,
    starred: u64,
}

impl<'s> StoreOracle<'s> {
    fn new(store: &'s Store) -> Self {
        StoreOracle {
            store,
            state: RefCell::new(HashMap::new()),
            counts: RefCell::new(None),
        }
    }

    fn count(&self, node: &Node) -> Result<u64, StoreError> {
        let mut slot = self.counts.borrow_mut();
        if slot.is_none() {
            *slot = Some(Counts {
                tags: self
                    .store
                    .tag_counts()?
                    .into_iter()
                    .map(|(t, _, n)| (t, n))
                    .collect(),
                families: self
                    .store
                    .family_counts()?
                    .into_iter()
                    .map(|(f, n, _)| (f, n))
                    .collect(),
                feeds: self
                    .store
                    .feed_counts()?
                    .into_iter()
                    .map(|c| (c.feed, c.total))
                    .collect(),
                unread: self.store.unread_count()?,
                starred: self.store.starred_count()?,
            });
        }
        let Some(c) = slot.as_ref() else { return Ok(0) };
        Ok(match node {
            Node::Tag(t) => c.tags.get(t).copied().unwrap_or(0),
            Node::Family(f) => c.families.get(f).copied().unwrap_or(0),
            Node::Feed(f) => c.feeds.get(f).copied().unwrap_or(0),
            Node::Is(Status::Starred) => c.starred,
            _ => c.unread,
        })
    }

    /// The store filter selecting exactly the leaf's articles.
    fn filter(node: &Node) -> ListFilter {
        let mut f = ListFilter::default();
        match node {
            Node::Tag(t) => f.tag = Some(t.clone()),
            Node::Family(fam) => f.family = Some(*fam),
            Node::Feed(feed) => f.feed = Some(feed.clone()),
            Node::Is(Status::Starred) => f.starred_only = true,
            _ => f.unread_only = true,
        }
        f
    }

    fn enumerate(&self, node: &Node) -> Result<HashSet<u64>, StoreError> {
        let filter = Self::filter(node);
        let mut set = HashSet::new();
        let mut cursor = None;
        loop {
            let page = self.store.page(&filter, cursor, 4096)?;
            set.extend(page.items.iter().map(|id| id.0));
            match page.next {
                Some(c) => cursor = Some(c),
                None => return Ok(set),
            }
        }
    }

    fn check(&self, node: &Node, id: ArticleId) -> Result<bool, StoreError> {
        Ok(match node {
            Node::Tag(t) => self
                .store
                .analysis(id)?
                .is_some_and(|a| a.tags.iter().any(|h| &h.tag == t)),
            Node::Family(f) => self
                .store
                .analysis(id)?
                .is_some_and(|a| a.tags.iter().any(|h| h.family == *f)),
            Node::Feed(feed) => self.store.get(id)?.is_some_and(|a| &a.draft.feed == feed),
            Node::Is(Status::Starred) => self.store.flags(id)?.is_some_and(|f| f.starred),
            _ => self.store.flags(id)?.is_some_and(|f| !f.read),
        })
    }
}

impl Oracle for StoreOracle<'_> {
    type Error = SearchError;

    fn select(&self, node: &Node, docs: &[DocInfo], domain: &Bits) -> Result<Bits, SearchError> {
        if let Node::Is(Status::Read) = node {
            // Read = not unread.
            let unread = self.select(&Node::Is(Status::Unread), docs, domain)?;
            let mut b = domain.clone();
            b.and_not(&unread);
            return Ok(b);
        }
        let key = format!("{node:?}");
        let asked = domain.count() as u64;
        let enumerate = {
            let state = self.state.borrow();
            match state.get(&key) {
                Some((_, Some(_))) => false,
                Some((spent, None)) => spent + asked * check_cost(node) > self.count(node)?,
                None => asked * check_cost(node) > self.count(node)?,
            }
        };
        if enumerate {
            let set = self.enumerate(node)?;
            self.state.borrow_mut().insert(key.clone(), (0, Some(set)));
        }
        let mut out = Bits::empty(docs.len());
        let mut state = self.state.borrow_mut();
        let entry = state.entry(key).or_insert((0, None));
        match &entry.1 {
            Some(set) => {
                for i in domain.ones() {
                    if set.contains(&docs[i].id) {
                        out.set(i);
                    }
                }
            }
            None => {
                entry.0 += asked * check_cost(node);
                for i in domain.ones() {
                    if self.check(node, ArticleId(docs[i].id))? {
                        out.set(i);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The store filter equal to a query of filters only, when there is one: an AND of at most
/// one feed, one tag, one family, dates, `is:unread` and `is:starred`.
fn list_filter(node: &Node) -> Option<ListFilter> {
    let leaves: Vec<&Node> = match node {
        Node::And(ns) => ns.iter().collect(),
        other => vec![other],
    };
    let mut f = ListFilter::default();
    let mut since: Option<DateTime<Utc>> = None;
    let mut until: Option<DateTime<Utc>> = None;
    for leaf in leaves {
        match leaf {
            Node::Feed(x) if f.feed.is_none() => f.feed = Some(x.clone()),
            Node::Tag(x) if f.tag.is_none() => f.tag = Some(x.clone()),
            Node::Family(x) if f.family.is_none() => f.family = Some(*x),
            Node::Since(t) => since = Some(since.map_or(*t, |s| s.max(*t))),
            Node::Before(t) => until = Some(until.map_or(*t, |u| u.min(*t))),
            Node::Is(Status::Unread) => f.unread_only = true,
            Node::Is(Status::Starred) => f.starred_only = true,
            _ => return None,
        }
    }
    f.since = since;
    f.until = until;
    Some(f)
}
