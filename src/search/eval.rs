//! Evaluating a compiled query over one bucket of indexed documents (256 consecutive ids):
//! text leaves from postings, dates from the document table, tags, families, feeds and
//! reading state through an [`Oracle`] (facet sets of the index, the store's flags). The
//! meaning is the matcher's; `tests/search.rs` checks that the two agree.

use crate::search::codec::{Corrupt, DocTable, Postings, SLOTS};
use crate::search::matcher::{Compiled, Node};

/// A set of documents of one bucket: bit `i` stands for slot `i` (id = base + i).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    words: [u64; SLOTS / 64],
}

impl Bits {
    /// No documents.
    pub fn empty() -> Bits {
        Bits::default()
    }

    /// A set from its stored form (32 bytes, bit `i` of byte `i / 8`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Bits, Corrupt> {
        if bytes.len() != SLOTS / 8 {
            return Err(Corrupt);
        }
        let mut b = Bits::empty();
        for (w, chunk) in b.words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            *w = u64::from_le_bytes(a);
        }
        Ok(b)
    }

    /// Adds document `i` (slots past the bucket are ignored).
    pub fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Whether document `i` is in the set.
    #[cfg(test)]
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
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Adds the documents of `other`.
    pub fn or(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// Removes the documents of `other`.
    pub fn and_not(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// The documents in the set, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
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

impl Default for LeafHits {
    fn default() -> Self {
        LeafHits {
            bits: Bits::empty(),
            counts: vec![[0; 3]; SLOTS],
        }
    }
}

impl LeafHits {
    /// Empties the hits for the next bucket, keeping the memory.
    fn reset(&mut self) {
        for s in self.bits.ones() {
            self.counts[s] = [0; 3];
        }
        self.bits = Bits::empty();
    }

    fn add(&mut self, slot: usize, counts: [u32; 3]) {
        self.bits.set(slot);
        let c = &mut self.counts[slot];
        for f in 0..3 {
            c[f] = c[f].max(counts[f]);
        }
    }
}

/// Finds a text leaf in a bucket into `hits`. The leaf's spellings are given as indexes into
/// `lists`, the bucket's postings per token (ids of documents absent from `table` — removed
/// ones — are ignored). Hits per field are the largest count among the spellings (two
/// spellings that overlap at one place, `J-Coin Pay` and `J-Coin`, are not counted twice).
pub fn text_hits(
    alternatives: &[Vec<usize>],
    table: &DocTable,
    lists: &[Postings],
    hits: &mut LeafHits,
    bufs: &mut Vec<Vec<u32>>,
) -> Result<(), Corrupt> {
    hits.reset();
    let empty = Postings::new();
    for alt in alternatives {
        let seq: Vec<&Postings> = alt
            .iter()
            .map(|&t| lists.get(t).unwrap_or(&empty))
            .collect();
        if seq.iter().any(|l| l.is_empty()) {
            continue;
        }
        if let [only] = seq.as_slice() {
            // One token: counts straight from the postings, no positions decoded.
            for (i, &id) in only.ids.iter().enumerate() {
                if let Some(slot) = table.slot(id).filter(|&s| table.present(s)) {
                    hits.add(slot, only.counts[i]);
                }
            }
            continue;
        }
        // A phrase: walk the rarest token's postings, look the others up.
        let rarest = (0..seq.len()).min_by_key(|&k| seq[k].len()).unwrap_or(0);
        if bufs.len() < seq.len() {
            bufs.resize_with(seq.len(), Vec::new);
        }
        let mut at = vec![0usize; seq.len()];
        'docs: for &id in &seq[rarest].ids {
            let Some(slot) = table.slot(id).filter(|&s| table.present(s)) else {
                continue;
            };
            for (k, list) in seq.iter().enumerate() {
                match list.find(id) {
                    Some(j) => at[k] = j,
                    None => continue 'docs,
                }
            }
            let mut counts = [0u32; 3];
            for (f, count) in counts.iter_mut().enumerate() {
                if seq.iter().enumerate().any(|(k, l)| l.counts[at[k]][f] == 0) {
                    continue;
                }
                for (k, list) in seq.iter().enumerate() {
                    list.positions_into(at[k], f, &mut bufs[k])?;
                }
                *count = bufs[0]
                    .iter()
                    .filter(|&&p| {
                        (1..seq.len()).all(|k| {
                            p.checked_add(k as u32)
                                .is_some_and(|want| bufs[k].binary_search(&want).is_ok())
                        })
                    })
                    .count() as u32;
            }
            if counts.iter().any(|&c| c > 0) {
                hits.add(slot, counts);
            }
        }
    }
    Ok(())
}

/// Answers the structured leaves the index does not hold: `tag:`, `feed:`, `is:`.
pub trait Oracle {
    /// The error reading the answers may give.
    type Error;
    /// Of the documents of `table` in `domain`, those that `node` (a `Tag`, `Family`, `Feed`
    /// or `Is` node) selects.
    fn select(&self, node: &Node, table: &DocTable, domain: &Bits) -> Result<Bits, Self::Error>;
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
        let mut all = Bits::empty();
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
                let mut b = self.leaves.get(*i).map_or_else(Bits::empty, |l| l.bits);
                b.and(domain);
                b
            }
            Node::Since(t) => self.by_time(domain, |p| p >= t.timestamp_millis()),
            Node::Before(t) => self.by_time(domain, |p| p < t.timestamp_millis()),
            Node::Tag(_) | Node::Family(_) | Node::Feed(_) | Node::Is(_) => {
                if domain.is_empty() {
                    *domain
                } else {
                    let mut b = self.oracle.select(node, self.table, domain)?;
                    b.and(domain);
                    b
                }
            }
            Node::Not(inner) => {
                let mut b = *domain;
                b.and_not(&self.node(inner, domain)?);
                b
            }
            Node::And(children) => {
                let mut d = *domain;
                for c in self.by_cost(children) {
                    if d.is_empty() {
                        break;
                    }
                    d = self.node(c, &d)?;
                }
                d
            }
            Node::Or(children) => {
                let mut acc = Bits::empty();
                for c in self.by_cost(children) {
                    let mut rest = *domain;
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
        let mut b = Bits::empty();
        for i in domain.ones() {
            if keep(self.table.info(i).published) {
                b.set(i);
            }
        }
        b
    }

    /// Children in the order to evaluate them: what is already in memory (text, dates)
    /// first, then what needs a read (facets), so that reads are skipped when nothing is
    /// left to narrow.
    fn by_cost<'n>(&self, nodes: &'n [Node]) -> Vec<&'n Node> {
        fn cost(node: &Node) -> u8 {
            match node {
                Node::Text(_) | Node::Since(_) | Node::Before(_) => 0,
                Node::Tag(_) | Node::Family(_) | Node::Feed(_) | Node::Is(_) => 1,
                Node::Not(inner) => cost(inner),
                Node::And(ns) | Node::Or(ns) => ns.iter().map(cost).max().unwrap_or(0),
            }
        }
        let mut v: Vec<&Node> = nodes.iter().collect();
        v.sort_by_key(|n| cost(n));
        v
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
        let mut a = Bits::empty();
        a.set(0);
        a.set(255);
        a.set(256); // past the bucket: ignored
        let mut b = Bits::empty();
        for i in 0..SLOTS {
            b.set(i);
        }
        assert_eq!(b.count(), 256);
        b.and_not(&a);
        assert_eq!(b.count(), 254);
        assert!(!b.get(255) && b.get(254));
        a.or(&b);
        assert_eq!(a.count(), 256);
        assert_eq!(a.ones().count(), 256);
        let mut c = Bits::empty();
        c.set(3);
        c.set(64);
        c.set(200);
        assert_eq!(c.ones().collect::<Vec<_>>(), vec![3, 64, 200]);
        assert_eq!(Bits::empty().ones().count(), 0);
        assert!(!Bits::empty().get(500));
        let mut bytes = [0u8; 32];
        bytes[0] = 0b1000_0001;
        bytes[31] = 0b1000_0000;
        let f = Bits::from_bytes(&bytes).unwrap();
        assert_eq!(f.ones().collect::<Vec<_>>(), vec![0, 7, 255]);
        assert!(Bits::from_bytes(&[0; 3]).is_err());
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
        let lists = vec![a, b];
        let mut hits = LeafHits::default();
        let mut bufs = Vec::new();
        text_hits(&[vec![0, 1]], &table, &lists, &mut hits, &mut bufs).unwrap();
        assert_eq!(hits.bits.ones().collect::<Vec<_>>(), vec![10]);
        assert_eq!(hits.counts[10], [1, 0, 1]);
        text_hits(&[vec![1], vec![0, 1]], &table, &lists, &mut hits, &mut bufs).unwrap();
        assert_eq!(hits.bits.count(), 3);
        assert_eq!(
            hits.counts[10],
            [1, 0, 1],
            "overlapping spellings are not counted twice"
        );
        assert_eq!(hits.counts[12], [0, 1, 0]);
    }
}
