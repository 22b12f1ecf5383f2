//! Evaluating a compiled query over one bucket of indexed documents (a few hundred
//! consecutive ids): text leaves from postings, dates from the document table, tags, feeds
//! and reading state through an [`Oracle`] (the store's indexes). The meaning is the
//! matcher's; `tests/search.rs` checks that the two agree.

use crate::search::codec::{Corrupt, DocTable, Postings, SLOTS};
use crate::search::matcher::{Compiled, Node, TextLeaf};

/// A set of documents of one bucket: bit `i` stands for slot `i` (id = base + i).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// No documents of `len`.
    pub fn empty(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// All `len` documents.
    #[cfg(test)]
    pub fn full(len: usize) -> Bits {
        let mut b = Bits::empty(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }

    /// Adds document `i`.
    pub fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Whether document `i` is in the set.
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// How many documents.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Keeps only documents also in `other`.
    pub fn and(&mut self, other: &Bits) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= b);
    }

    /// Adds the documents of `other`.
    pub fn or(&mut self, other: &Bits) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    /// Removes the documents of `other`.
    pub fn and_not(&mut self, other: &Bits) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= !b);
    }

    /// The documents in the set, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

/// Where a text leaf matches in a bucket: the set, and per slot its hits per field.
#[derive(Debug, Clone)]
pub struct LeafHits {
    /// Documents where it occurs.
    pub bits: Bits,
    /// Per slot: hits in title, lead, body.
    pub counts: Vec<[u32; 3]>,
}

/// Finds a text leaf in a bucket. `postings(token)` gives a token's postings in this
/// bucket (ids of documents absent from `table` — removed ones — are ignored). Hits per
/// field are the largest count among the leaf's spellings (two spellings that overlap at
/// one place, `J-Coin Pay` and `J-Coin`, are not counted twice).
pub fn text_hits<'p>(
    leaf: &TextLeaf,
    table: &DocTable,
    postings: &dyn Fn(&str) -> Option<&'p Postings>,
) -> Result<LeafHits, Corrupt> {
    let mut hits = LeafHits {
        bits: Bits::empty(SLOTS),
        counts: vec![[0; 3]; SLOTS],
    };
    let empty = Postings::new();
    let mut bufs: Vec<Vec<u32>> = Vec::new();
    for alt in &leaf.alternatives {
        let lists: Vec<&Postings> = alt.iter().map(|t| postings(t).unwrap_or(&empty)).collect();
        if lists.iter().any(|l| l.is_empty()) {
            continue;
        }
        if let [only] = lists.as_slice() {
            // One token: counts straight from the postings, no positions decoded.
            for (i, &id) in only.ids.iter().enumerate() {
                let Some(slot) = table.slot(id).filter(|&s| table.present(s)) else {
                    continue;
                };
                hits.bits.set(slot);
                let c = only.counts[i];
                let slot_counts = &mut hits.counts[slot];
                for f in 0..3 {
                    slot_counts[f] = slot_counts[f].max(c[f]);
                }
            }
            continue;
        }
        // A phrase: walk the rarest token's postings, look the others up.
        let rarest = (0..lists.len())
            .min_by_key(|&k| lists[k].len())
            .unwrap_or(0);
        bufs.resize_with(lists.len(), Vec::new);
        let mut at = vec![0usize; lists.len()];
        'docs: for &id in &lists[rarest].ids {
            let Some(slot) = table.slot(id).filter(|&s| table.present(s)) else {
                continue;
            };
            for (k, list) in lists.iter().enumerate() {
                match list.find(id) {
                    Some(j) => at[k] = j,
                    None => continue 'docs,
                }
            }
            let mut counts = [0u32; 3];
            for (f, count) in counts.iter_mut().enumerate() {
                if lists
                    .iter()
                    .enumerate()
                    .any(|(k, l)| l.counts[at[k]][f] == 0)
                {
                    continue;
                }
                for (k, list) in lists.iter().enumerate() {
                    list.positions_into(at[k], f, &mut bufs[k])?;
                }
                *count = bufs[0]
                    .iter()
                    .filter(|&&p| {
                        (1..lists.len()).all(|k| {
                            p.checked_add(k as u32)
                                .is_some_and(|want| bufs[k].binary_search(&want).is_ok())
                        })
                    })
                    .count() as u32;
            }
            if counts.iter().any(|&c| c > 0) {
                hits.bits.set(slot);
                let slot_counts = &mut hits.counts[slot];
                for f in 0..3 {
                    slot_counts[f] = slot_counts[f].max(counts[f]);
                }
            }
        }
    }
    Ok(hits)
}

/// Answers the structured leaves the index does not hold: `tag:`, `feed:`, `is:`.
pub trait Oracle {
    /// The error reading the answers may give.
    type Error;
    /// Of the documents of `table` in `domain`, those that `node` (a `Tag`, `Family`, `Feed`
    /// or `Is` node) selects.
    fn select(&self, node: &Node, table: &DocTable, domain: &Bits) -> Result<Bits, Self::Error>;

    /// How many articles the leaf selects in the whole store (to try the most selective
    /// leaves first).
    fn size(&self, node: &Node) -> u64;
}

/// One bucket's evaluation context.
pub struct Eval<'a, O> {
    /// The query.
    pub compiled: &'a Compiled,
    /// The bucket's documents.
    pub table: &'a DocTable,
    /// Per text leaf of the query (same index), its hits in this bucket.
    pub leaves: &'a [LeafHits],
    /// Structured leaves.
    pub oracle: &'a O,
}

impl<O: Oracle> Eval<'_, O> {
    /// The documents of the bucket that match the whole query.
    pub fn run(&self) -> Result<Bits, O::Error> {
        let mut all = Bits::empty(SLOTS);
        for s in 0..SLOTS {
            if self.table.present(s) {
                all.set(s);
            }
        }
        self.node(&self.compiled.root, &all)
    }

    /// The documents of `domain` that match `node`. Children are evaluated cheapest first,
    /// each on what the previous ones left, so the oracle is asked about few documents.
    fn node(&self, node: &Node, domain: &Bits) -> Result<Bits, O::Error> {
        Ok(match node {
            Node::Text(i) => {
                let mut b = self
                    .leaves
                    .get(*i)
                    .map_or_else(|| Bits::empty(SLOTS), |l| l.bits.clone());
                b.and(domain);
                b
            }
            Node::Since(t) => self.by_time(domain, |p| p >= t.timestamp_millis()),
            Node::Before(t) => self.by_time(domain, |p| p < t.timestamp_millis()),
            Node::Tag(_) | Node::Family(_) | Node::Feed(_) | Node::Is(_) => {
                if domain.is_empty() {
                    domain.clone()
                } else {
                    let mut b = self.oracle.select(node, self.table, domain)?;
                    b.and(domain);
                    b
                }
            }
            Node::Not(inner) => {
                let mut b = domain.clone();
                b.and_not(&self.node(inner, domain)?);
                b
            }
            Node::And(children) => {
                let mut d = domain.clone();
                for c in self.by_cost(children) {
                    if d.is_empty() {
                        break;
                    }
                    d = self.node(c, &d)?;
                }
                d
            }
            Node::Or(children) => {
                let mut acc = Bits::empty(SLOTS);
                for c in self.by_cost(children) {
                    let mut rest = domain.clone();
                    rest.and_not(&acc);
                    if rest.is_empty() {
                        break;
                    }
                    acc.or(&self.node(c, &rest)?);
                }
                acc
            }
        })
    }

    fn by_time(&self, domain: &Bits, keep: impl Fn(i64) -> bool) -> Bits {
        let mut b = Bits::empty(SLOTS);
        for i in domain.ones() {
            if keep(self.table.info(i).published) {
                b.set(i);
            }
        }
        b
    }

    /// What answering a node costs: text and dates are free (already in memory); a leaf the
    /// store answers costs more the more articles it selects, so the most selective goes
    /// first and leaves the others few documents to check.
    fn cost(&self, node: &Node) -> u64 {
        match node {
            Node::Text(_) | Node::Since(_) | Node::Before(_) => 0,
            Node::Tag(_) | Node::Family(_) | Node::Feed(_) | Node::Is(_) => {
                1 + self.oracle.size(node)
            }
            Node::Not(inner) => self.cost(inner),
            Node::And(ns) | Node::Or(ns) => ns.iter().map(|n| self.cost(n)).max().unwrap_or(0),
        }
    }

    fn by_cost<'n>(&self, nodes: &'n [Node]) -> Vec<&'n Node> {
        let mut v: Vec<(u64, &Node)> = nodes.iter().map(|n| (self.cost(n), n)).collect();
        v.sort_by_key(|(c, _)| *c);
        v.into_iter().map(|(_, n)| n).collect()
    }
}

/// Whether every document the node matches must contain one of its text leaves outside a
/// NOT: then only buckets where the query's tokens occur need to be looked at.
pub fn needs_text(node: &Node) -> bool {
    match node {
        Node::Text(_) => true,
        Node::And(ns) => ns.iter().any(needs_text),
        Node::Or(ns) => !ns.is_empty() && ns.iter().all(needs_text),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets() {
        let mut a = Bits::empty(130);
        a.set(0);
        a.set(129);
        let mut b = Bits::full(130);
        assert_eq!(b.count(), 130);
        b.and_not(&a);
        assert_eq!(b.count(), 128);
        assert!(!b.get(129));
        a.or(&b);
        assert_eq!(a.count(), 130);
        assert_eq!(Bits::empty(3).ones().count(), 0);
        assert!(!Bits::empty(0).get(5));
    }

    #[test]
    fn phrases_need_consecutive_positions_in_one_field() {
        let mut table = DocTable::empty(0);
        for id in [10, 11, 12] {
            table.set(id, &crate::search::codec::DocInfo::default());
        }
        let mut a = Postings::new();
        a.push(10, &[vec![0], vec![], vec![4]]);
        a.push(11, &[vec![], vec![], vec![1]]);
        a.push(12, &[vec![3], vec![], vec![]]);
        a.push(99, &[vec![0], vec![], vec![]]); // removed document: ignored
        let mut b = Postings::new();
        b.push(10, &[vec![1], vec![], vec![5]]);
        b.push(11, &[vec![], vec![], vec![7]]);
        b.push(12, &[vec![], vec![0], vec![]]); // next field: not a phrase
        b.push(99, &[vec![1], vec![], vec![]]);
        let lookup = |t: &str| match t {
            "a" => Some(&a),
            "b" => Some(&b),
            _ => None,
        };
        let leaf = TextLeaf {
            text: "a b".into(),
            alternatives: vec![vec!["a".into(), "b".into()]],
        };
        let hits = text_hits(&leaf, &table, &lookup).unwrap();
        assert_eq!(hits.bits.ones().collect::<Vec<_>>(), vec![10]);
        assert_eq!(hits.counts[10], [1, 0, 1]);
        let single = TextLeaf {
            text: "b".into(),
            alternatives: vec![vec!["b".into()], vec!["a".into(), "b".into()]],
        };
        let hits = text_hits(&single, &table, &lookup).unwrap();
        assert_eq!(hits.bits.count(), 3);
        assert_eq!(
            hits.counts[10],
            [1, 0, 1],
            "overlapping spellings are not counted twice"
        );
    }
}
