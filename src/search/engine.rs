//! The search engine: runs a query against the index and the store, ranks, pages, and
//! loads the results with their snippets. The CLI, the reader's `/` and saved searches use it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::model::{Article, ArticleId};
use crate::search::codec::{self, Corrupt, DocTable, Postings, SLOTS};
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

/// The index does not cover the store: it holds a different number of articles, or a
/// rebuild was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    /// Articles in the index.
    pub indexed: u64,
    /// Articles in the store.
    pub stored: u64,
    /// A `kessai reindex` was interrupted (or is running).
    pub rebuilding: bool,
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
        let rebuilding = self
            .tree
            .contains_key(index::KEY_REBUILDING)
            .map_err(sled_err)?;
        Ok((indexed != stored || rebuilding).then_some(Stale {
            indexed,
            stored,
            rebuilding,
        }))
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
                    published: a.draft.published.timestamp_millis(),
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
        let oracle = FacetOracle { tree: &self.tree };
        let mut tokens: Vec<&str> = compiled
            .texts()
            .iter()
            .flat_map(|leaf| leaf.alternatives.iter().flatten().map(String::as_str))
            .collect();
        tokens.sort_unstable();
        tokens.dedup();
        let keys: Vec<Vec<u8>> = tokens.iter().map(|t| index::term_key(t)).collect();
        let positive = compiled.positive_texts();
        let mut acc = Accumulator {
            df: vec![0; compiled.texts().len()],
            found: Vec::new(),
            counts: Vec::new(),
            positive: &positive,
        };

        // The waiting documents (all in the pending bucket), read before the blocks: a merge
        // that lands meanwhile then shows a document twice, never not at all, and the second
        // sighting is skipped.
        let (pending_bucket, _) = index::decode_pending_meta(
            self.tree
                .get(index::KEY_PENDING)
                .map_err(sled_err)?
                .as_deref(),
        )?;
        let entries: Vec<(sled::IVec, sled::IVec)> = self
            .tree
            .scan_prefix([index::PENDING])
            .collect::<Result<_, _>>()
            .map_err(sled_err)?;
        let pending: Vec<index::PendingDoc<'_>> = entries
            .iter()
            .map(|(k, v)| index::PendingDoc::decode(k, v))
            .collect::<Result<_, _>>()?;
        let mut waiting: Vec<Postings> = vec![Postings::new(); tokens.len()];
        for (slot, key) in keys.iter().enumerate() {
            index::pending_postings(&pending, key, &mut waiting[slot])?;
        }
        let mut pending_done = pending.is_empty();

        let mut streams: Vec<Stream> = keys.iter().map(|k| Stream::new(&self.tree, k)).collect();
        let mut tables = TableSource::new(&self.tree, needs_text(&compiled.root));
        // Each leaf's spellings as indexes into `tokens`, and buffers reused bucket to bucket.
        let alternatives: Vec<Vec<Vec<usize>>> = compiled
            .texts()
            .iter()
            .map(|leaf| {
                leaf.alternatives
                    .iter()
                    .map(|alt| {
                        alt.iter()
                            .filter_map(|t| tokens.binary_search(&t.as_str()).ok())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut work = Work {
            lists: vec![Postings::new(); tokens.len()],
            leaves: vec![LeafHits::default(); compiled.texts().len()],
            bufs: Vec::new(),
        };
        loop {
            // The next bucket: the lowest where a token occurs (or the next table, when the
            // query can match documents without its words), and the pending bucket.
            let mut next = tables.peek_bucket()?;
            for s in streams.iter_mut() {
                if let Some(id) = s.peek()? {
                    let b = index::bucket(id);
                    next = Some(next.map_or(b, |n| n.min(b)));
                }
            }
            let pending_due = !pending_done && next.is_none_or(|n| n >= pending_bucket);
            let b = if pending_due {
                pending_bucket
            } else {
                match next {
                    Some(b) => b,
                    None => break,
                }
            };
            let lo = index::bucket_base(b);
            let hi = lo + SLOTS as u64;
            let mut table = match tables.take(b)? {
                Some(t) => t,
                None => self.table(b)?,
            };
            for (s, list) in streams.iter_mut().zip(work.lists.iter_mut()) {
                list.clear();
                s.take_range(lo, hi, list)?;
            }
            if b == pending_bucket && !pending_done {
                pending_done = true;
                for d in &pending {
                    if let Some(s) = table.slot(d.id) {
                        table.set(s, &d.info);
                    }
                }
                for (slot, list) in work.lists.iter_mut().enumerate() {
                    if !waiting[slot].is_empty() {
                        *list = merge_postings(list, &waiting[slot])?;
                    }
                }
            }
            self.unit(
                compiled,
                &oracle,
                &table,
                &alternatives,
                &mut work,
                &mut acc,
            )?;
        }

        let avg = stats.avg_len();
        let idfs: Vec<f32> = positive
            .iter()
            .map(|&i| rank::idf(stats.docs, acc.df[i]))
            .collect();
        let stride = positive.len();
        Ok(acc
            .found
            .iter()
            .enumerate()
            .map(|(n, f)| {
                let mut score = 0.0f32;
                if sort == Sort::Relevance {
                    let len = rank::weighted_len(f.lens);
                    for (k, counts) in acc.counts[n * stride..(n + 1) * stride].iter().enumerate() {
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
    fn table(&self, bucket: u32) -> Result<DocTable, SearchError> {
        let base = index::bucket_base(bucket);
        Ok(
            match self.tree.get(index::docs_key(bucket)).map_err(sled_err)? {
                Some(v) => DocTable::from_bytes(base, &v)?,
                None => DocTable::empty(base),
            },
        )
    }

    /// Evaluates one bucket and records its matches.
    fn unit(
        &self,
        compiled: &Compiled,
        oracle: &FacetOracle<'_>,
        table: &DocTable,
        alternatives: &[Vec<Vec<usize>>],
        work: &mut Work,
        acc: &mut Accumulator<'_>,
    ) -> Result<(), SearchError> {
        if table.count() == 0 {
            return Ok(());
        }
        for (i, leaf) in work.leaves.iter_mut().enumerate() {
            text_hits(&alternatives[i], table, &work.lists, leaf, &mut work.bufs)?;
            acc.df[i] += leaf.bits.count() as u64;
        }
        let matched = Eval {
            compiled,
            table,
            leaves: &work.leaves,
            oracle,
        }
        .run()?;
        for s in matched.ones() {
            let info = table.info(s);
            acc.found.push(Found {
                id: table.base + s as u64,
                published: info.published,
                lens: info.lens,
            });
            acc.counts
                .extend(acc.positive.iter().map(|&k| work.leaves[k].counts[s]));
        }
        Ok(())
    }
}

/// Buffers one query reuses bucket after bucket.
struct Work {
    /// Per token: its postings in the current bucket.
    lists: Vec<Postings>,
    /// Per text leaf: its hits in the current bucket.
    leaves: Vec<LeafHits>,
    /// Decoded positions while checking phrases.
    bufs: Vec<Vec<u32>>,
}

/// Two postings lists of disjoint documents as one, ids ascending.
fn merge_postings(a: &Postings, b: &Postings) -> Result<Postings, Corrupt> {
    let mut out = Postings::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a.ids[i] < b.ids[j]);
        let (p, k) = if take_a { (a, &mut i) } else { (b, &mut j) };
        if out.ids.last().is_some_and(|&last| last >= p.ids[*k]) {
            *k += 1; // the same document twice (a merge raced this query): keep the first
            continue;
        }
        out.push_occ(p.ids[*k], &p.occ(*k)?)?;
        *k += 1;
    }
    Ok(out)
}

struct Found {
    id: u64,
    published: i64,
    lens: [u32; 3],
}

struct Accumulator<'a> {
    df: Vec<u64>,
    found: Vec<Found>,
    /// Hits per positive text leaf of each found document, `positive.len()` per document.
    counts: Vec<[u32; 3]>,
    positive: &'a [usize],
}

fn sled_err(e: sled::Error) -> SearchError {
    SearchError::Store(StoreError::Invalid {
        what: "the search index".into(),
        why: e.to_string(),
    })
}

/// The document tables in bucket order, for queries that can match documents without any
/// of their words (`-tag:incident`, `a OR tag:x`); others look tables up by bucket.
struct TableSource {
    iter: Option<sled::Iter>,
    peeked: Option<(u32, sled::IVec)>,
}

impl TableSource {
    fn new(tree: &sled::Tree, needs_text: bool) -> TableSource {
        TableSource {
            iter: (!needs_text).then(|| tree.scan_prefix([index::DOCS])),
            peeked: None,
        }
    }

    fn peek_bucket(&mut self) -> Result<Option<u32>, SearchError> {
        if self.peeked.is_none() {
            if let Some(iter) = self.iter.as_mut() {
                if let Some(entry) = iter.next() {
                    let (k, v) = entry.map_err(sled_err)?;
                    self.peeked = Some((index::docs_key_bucket(&k)?, v));
                }
            }
        }
        Ok(self.peeked.as_ref().map(|(b, _)| *b))
    }

    /// The table of bucket `b` if it is the one peeked (skipping tables before it).
    fn take(&mut self, b: u32) -> Result<Option<DocTable>, SearchError> {
        while let Some(pb) = self.peek_bucket()? {
            if pb > b {
                return Ok(None);
            }
            let Some((pb, v)) = self.peeked.take() else {
                return Ok(None);
            };
            if pb == b {
                return Ok(Some(DocTable::from_bytes(index::bucket_base(b), &v)?));
            }
        }
        Ok(None)
    }
}

/// A term's postings in id order, read block by block straight into per-bucket lists.
struct Stream {
    iter: sled::Iter,
    block: Option<(u64, sled::IVec, usize, bool)>, // first id, value, cursor, first posting?
    next: Option<(u64, std::ops::Range<usize>)>,   // the next posting: id, occurrences
}

impl Stream {
    fn new(tree: &sled::Tree, term_key: &[u8]) -> Stream {
        Stream {
            iter: tree.scan_prefix(index::postings_prefix(term_key)),
            block: None,
            next: None,
        }
    }

    /// Reads the next posting's id (and where its occurrences are), loading blocks as
    /// needed.
    fn peek(&mut self) -> Result<Option<u64>, SearchError> {
        loop {
            if let Some((id, _)) = &self.next {
                return Ok(Some(*id));
            }
            match self.block.as_mut() {
                Some((id, value, at, first)) => {
                    if *at >= value.len() {
                        self.block = None;
                        continue;
                    }
                    let delta = codec::get_varint(value, at)?;
                    if !*first && delta == 0 {
                        return Err(Corrupt.into());
                    }
                    *first = false;
                    *id = id.checked_add(delta).ok_or(Corrupt)?;
                    let occ_len = codec::get_sized(value, at)?.len();
                    self.next = Some((*id, *at - occ_len..*at));
                }
                None => match self.iter.next() {
                    None => return Ok(None),
                    Some(entry) => {
                        let (k, v) = entry.map_err(sled_err)?;
                        if v.len() < 8 {
                            return Err(Corrupt.into());
                        }
                        self.block = Some((index::key_id(&k)?, v, 8, true));
                    }
                },
            }
        }
    }

    /// Appends the postings with ids in `[lo, hi)` to `out`; those below `lo` are skipped.
    fn take_range(&mut self, lo: u64, hi: u64, out: &mut Postings) -> Result<(), SearchError> {
        while let Some(id) = self.peek()? {
            if id >= hi {
                break;
            }
            if let (Some((_, range)), Some((_, value, _, _))) = (self.next.take(), &self.block) {
                if id >= lo {
                    out.push_occ(id, &value[range])?;
                }
            }
        }
        Ok(())
    }
}

/// Answers the structured leaves from the index's per-bucket facet sets: one small read per
/// leaf and bucket.
struct FacetOracle<'s> {
    tree: &'s sled::Tree,
}

impl Oracle for FacetOracle<'_> {
    type Error = SearchError;

    fn select(&self, node: &Node, table: &DocTable, domain: &Bits) -> Result<Bits, SearchError> {
        let (facet, negate) = match node {
            Node::Tag(t) => (index::tag_facet(t.as_str()), false),
            Node::Family(f) => (index::family_facet(*f), false),
            Node::Feed(f) => (index::feed_facet(f.as_str()), false),
            Node::Is(Status::Unread) => (index::unread_facet(), false),
            Node::Is(Status::Read) => (index::unread_facet(), true),
            Node::Is(Status::Starred) => (index::starred_facet(), false),
            // Not a structured leaf: nothing selected.
            _ => return Ok(Bits::empty()),
        };
        let key = index::facet_key(&facet, index::bucket(table.base));
        let set = match self.tree.get(key).map_err(sled_err)? {
            Some(v) => Bits::from_bytes(&v)?,
            None => Bits::empty(),
        };
        let mut out = *domain;
        if negate {
            out.and_not(&set);
        } else {
            out.and(&set);
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
