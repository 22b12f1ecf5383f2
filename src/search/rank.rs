//! Ranking: BM25 over terms and phrases, with title and lead hits weighted up (a simple
//! BM25F: weighted term frequencies over a weighted document length), recency breaking ties.

use std::cmp::Ordering;

/// BM25's term-frequency saturation.
pub const K1: f32 = 1.2;
/// BM25's length normalisation.
pub const B: f32 = 0.75;
/// How much one hit in each field counts: title, lead, body.
pub const FIELD_WEIGHTS: [f32; 3] = [3.0, 1.5, 1.0];

/// Corpus statistics ranking needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Number of documents.
    pub docs: u64,
    /// Sum over documents of the token count of title, lead, body.
    pub lens: [u64; 3],
}

impl Stats {
    /// Average weighted document length (1 for an empty corpus, so nothing divides by 0).
    pub fn avg_len(&self) -> f32 {
        if self.docs == 0 {
            return 1.0;
        }
        let total: f64 = (0..3)
            .map(|f| f64::from(FIELD_WEIGHTS[f]) * self.lens[f] as f64)
            .sum();
        ((total / self.docs as f64) as f32).max(1.0)
    }
}

/// Inverse document frequency of a term or phrase found in `df` of `n` documents.
pub fn idf(n: u64, df: u64) -> f32 {
    let (n, df) = (n as f32, df.min(n) as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// Weighted length of a document with these field lengths.
pub fn weighted_len(lens: [u32; 3]) -> f32 {
    (0..3).map(|f| FIELD_WEIGHTS[f] * lens[f] as f32).sum()
}

/// The BM25 contribution of one term or phrase: `counts` are its hits in title, lead, body.
pub fn term_score(idf: f32, counts: [u32; 3], doc_len: f32, avg_len: f32) -> f32 {
    let tf: f32 = (0..3).map(|f| FIELD_WEIGHTS[f] * counts[f] as f32).sum();
    if tf == 0.0 {
        return 0.0;
    }
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * doc_len / avg_len))
}

/// A ranked result before its article is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Article id.
    pub id: u64,
    /// Publication time, milliseconds since the Unix epoch.
    pub published: i64,
    /// Relevance (0 when the query has no terms, or with date sorting).
    pub score: f32,
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Highest score first; newer first among equals.
    #[default]
    Relevance,
    /// Newest first.
    Date,
}

/// The order of results: better first. Ties fall back to recency, then to the higher id
/// (the one stored later), so the order is total and stable across runs.
pub fn order(sort: Sort, a: &Scored, b: &Scored) -> Ordering {
    let by_date = b.published.cmp(&a.published).then(b.id.cmp(&a.id));
    match sort {
        Sort::Date => by_date,
        Sort::Relevance => b.score.total_cmp(&a.score).then(by_date),
    }
}

/// Keeps the best `offset + limit` results, then returns those after `offset`, in order.
pub fn top(mut all: Vec<Scored>, sort: Sort, offset: usize, limit: usize) -> Vec<Scored> {
    let keep = offset.saturating_add(limit);
    if keep == 0 {
        return Vec::new();
    }
    if all.len() > keep {
        all.select_nth_unstable_by(keep - 1, |a, b| order(sort, a, b));
        all.truncate(keep);
    }
    all.sort_by(|a, b| order(sort, a, b));
    all.into_iter().skip(offset).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: u64, published: i64, score: f32) -> Scored {
        Scored {
            id,
            published,
            score,
        }
    }

    #[test]
    fn rarer_terms_and_title_hits_score_higher() {
        assert!(idf(1000, 1) > idf(1000, 500));
        assert!(idf(10, 10) > 0.0);
        let avg = 100.0;
        let title = term_score(1.0, [1, 0, 0], 100.0, avg);
        let body = term_score(1.0, [0, 0, 1], 100.0, avg);
        assert!(title > body);
        let short = term_score(1.0, [0, 0, 1], 50.0, avg);
        assert!(short > body);
        assert_eq!(term_score(1.0, [0, 0, 0], 50.0, avg), 0.0);
    }

    #[test]
    fn ties_break_by_recency_then_id() {
        let all = vec![
            s(1, 100, 1.0),
            s(2, 300, 1.0),
            s(3, 200, 2.0),
            s(4, 300, 1.0),
        ];
        let ids = |v: Vec<Scored>| v.iter().map(|x| x.id).collect::<Vec<_>>();
        assert_eq!(
            ids(top(all.clone(), Sort::Relevance, 0, 10)),
            vec![3, 4, 2, 1]
        );
        assert_eq!(ids(top(all.clone(), Sort::Date, 0, 10)), vec![4, 2, 3, 1]);
        assert_eq!(ids(top(all.clone(), Sort::Relevance, 1, 2)), vec![4, 2]);
        assert_eq!(ids(top(all, Sort::Relevance, 9, 2)), Vec::<u64>::new());
    }

    #[test]
    fn average_length_is_never_zero() {
        assert_eq!(Stats::default().avg_len(), 1.0);
        let st = Stats {
            docs: 2,
            lens: [10, 0, 100],
        };
        assert_eq!(st.avg_len(), (3.0 * 10.0 + 100.0) / 2.0);
    }
}
