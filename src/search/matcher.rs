//! The matcher: a compiled query evaluated against one article. Pure; this is the exact
//! meaning of the language, which the index agrees with and alerts call for new articles.
//!
//! Compiling turns every term and phrase into the token sequences it may match (its own
//! tokens, plus the tokens of every spelling of the taxonomy entry it is a spelling of), and
//! every `tag:` value into a taxonomy id. A token sequence matches when its tokens occur
//! consecutively in one field (title, lead or body), so `京都` (one token) never matches
//! `東京都` (`東京` `都`), and `J-Coin Pay` finds `Jコインペイ`. Both sides split the domain
//! compounds the tagger keeps whole (see [`crate::search::refine`]), so `不正`
//! finds `不正アクセス`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use crate::model::{Analysis, Article, ArticleDraft, Family, FeedId, Field, Flags, Span, TagId};
use crate::search::query::{FAMILY_NAMES, Query, QueryError, Status};
use crate::search::refine;
use crate::taxonomy::Taxonomy;
use crate::tokenize::{ArticleTokens, Term, Tokenizer};

/// The fields a document is indexed by, in index order (field number = position here).
pub const FIELDS: [Field; 3] = [Field::Title, Field::Lead, Field::Body];

/// A query ready to evaluate: text resolved to token sequences, tags to taxonomy ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub(crate) root: Node,
    pub(crate) texts: Vec<TextLeaf>,
}

/// One term or phrase: the token sequences any of which it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLeaf {
    /// The text as typed (for messages and highlighting).
    pub text: String,
    /// Token sequences (folded), the first being the text's own; never empty, none empty.
    pub alternatives: Vec<Vec<String>>,
}

/// The compiled tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Index into `Compiled::texts`.
    Text(usize),
    Tag(TagId),
    Family(Family),
    Feed(FeedId),
    /// Published at or after.
    Since(DateTime<Utc>),
    /// Published strictly before.
    Before(DateTime<Utc>),
    Is(Status),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// Dates in queries are days in Japan (UTC+9, no daylight saving): `since:2019-08-01`
/// starts at 2019-08-01 00:00 JST.
pub(crate) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN)
        .checked_sub_signed(TimeDelta::hours(9))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

/// The start of the day after `day` (Japan time); `MAX_UTC` past the calendar's end.
pub(crate) fn day_end(day: NaiveDate) -> DateTime<Utc> {
    day.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, day_start)
}

impl Compiled {
    /// Compiles with the process-wide tokenizer and the built-in taxonomy.
    pub fn new(query: &Query) -> Result<Compiled, QueryError> {
        Compiled::with(query, Tokenizer::shared(), Taxonomy::builtin())
    }

    /// Compiles with a given tokenizer and taxonomy (a user taxonomy, tests).
    pub fn with(
        query: &Query,
        tokenizer: &Tokenizer,
        taxonomy: &Taxonomy,
    ) -> Result<Compiled, QueryError> {
        let mut texts = Vec::new();
        let root = Compiler {
            tokenizer,
            taxonomy,
            texts: &mut texts,
        }
        .node(query)?;
        Ok(Compiled { root, texts })
    }

    /// The terms and phrases, each with the token sequences it matches.
    pub fn texts(&self) -> &[TextLeaf] {
        &self.texts
    }

    /// Whether the query has text to look for outside a NOT (it can then be ranked and
    /// answered from the text index alone).
    pub fn has_positive_text(&self) -> bool {
        fn walk(n: &Node, negated: bool) -> bool {
            match n {
                Node::Text(_) => !negated,
                Node::Not(inner) => walk(inner, !negated),
                Node::And(ns) | Node::Or(ns) => ns.iter().any(|n| walk(n, negated)),
                _ => false,
            }
        }
        walk(&self.root, false)
    }

    /// Indexes of the text leaves that occur outside a NOT: the ones that score and are
    /// highlighted.
    pub fn positive_texts(&self) -> Vec<usize> {
        fn walk(n: &Node, negated: bool, out: &mut Vec<usize>) {
            match n {
                Node::Text(i) if !negated => out.push(*i),
                Node::Not(inner) => walk(inner, !negated, out),
                Node::And(ns) | Node::Or(ns) => ns.iter().for_each(|n| walk(n, negated, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.root, false, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the article matches.
    pub fn matches(&self, doc: &Doc, article: &Article, analysis: &Analysis, flags: Flags) -> bool {
        self.eval(&self.root, doc, article, analysis, flags)
    }

    fn eval(&self, n: &Node, doc: &Doc, a: &Article, an: &Analysis, flags: Flags) -> bool {
        match n {
            Node::Text(i) => self.texts.get(*i).is_some_and(|t| doc.contains(t)),
            Node::Tag(tag) => an.tags.iter().any(|h| &h.tag == tag),
            Node::Family(f) => an.tags.iter().any(|h| h.family == *f),
            Node::Feed(feed) => &a.draft.feed == feed,
            Node::Since(t) => a.draft.published >= *t,
            Node::Before(t) => a.draft.published < *t,
            Node::Is(Status::Unread) => !flags.read,
            Node::Is(Status::Read) => flags.read,
            Node::Is(Status::Starred) => flags.starred,
            Node::Not(inner) => !self.eval(inner, doc, a, an, flags),
            Node::And(ns) => ns.iter().all(|n| self.eval(n, doc, a, an, flags)),
            Node::Or(ns) => ns.iter().any(|n| self.eval(n, doc, a, an, flags)),
        }
    }

    /// Where the query's positive terms and phrases occur in the document, in field then
    /// text order, overlaps merged: what a snippet highlights.
    pub fn highlights(&self, doc: &Doc) -> Vec<Span> {
        let mut spans = Vec::new();
        for i in self.positive_texts() {
            if let Some(leaf) = self.texts.get(i) {
                doc.occurrences(leaf, &mut spans);
            }
        }
        spans.sort_by_key(|s| (s.field, s.start, s.end));
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for s in spans {
            match merged.last_mut() {
                Some(last) if last.field == s.field && s.start <= last.end => {
                    last.end = last.end.max(s.end);
                }
                _ => merged.push(s),
            }
        }
        merged
    }
}

struct Compiler<'a> {
    tokenizer: &'a Tokenizer,
    taxonomy: &'a Taxonomy,
    texts: &'a mut Vec<TextLeaf>,
}

impl Compiler<'_> {
    fn node(&mut self, q: &Query) -> Result<Node, QueryError> {
        Ok(match q {
            Query::Text { text, col, .. } => {
                let tokens = self.tokenizer.norms(text);
                if tokens.is_empty() {
                    return Err(QueryError::NoWords {
                        col: *col,
                        text: text.clone(),
                    });
                }
                self.leaf(text.clone(), tokens)
            }
            Query::Tag { value, col } => Node::Tag(self.tag(value, *col)?),
            Query::Family(f) => Node::Family(*f),
            Query::Feed(feed) => Node::Feed(feed.clone()),
            Query::Since(d) => Node::Since(day_start(*d)),
            Query::Until(d) => Node::Before(day_end(*d)),
            Query::Is(s) => Node::Is(*s),
            Query::Not(inner) => Node::Not(Box::new(self.node(inner)?)),
            Query::Or(qs) => Node::Or(qs.iter().map(|q| self.node(q)).collect::<Result<_, _>>()?),
            Query::And(qs) => self.and(qs)?,
        })
    }

    /// A leaf for `tokens`, with the spellings of the taxonomy entry they are a spelling of.
    /// `tokens` are the shared tokenizer's (what the taxonomy knows); the leaf matches their
    /// refinement (see `search::refine`).
    fn leaf(&mut self, text: String, tokens: Vec<String>) -> Node {
        let mut spellings = self.spellings(&tokens).unwrap_or_default();
        spellings.retain(|alt| alt != &tokens);
        spellings.insert(0, tokens);
        let mut alternatives: Vec<Vec<String>> = Vec::with_capacity(spellings.len());
        for s in spellings {
            let refined = refine::norms(s);
            if !alternatives.contains(&refined) {
                alternatives.push(refined);
            }
        }
        self.texts.push(TextLeaf { text, alternatives });
        Node::Text(self.texts.len() - 1)
    }

    /// The plain spellings (token sequences) of the taxonomy entry `tokens` is a plain
    /// spelling of. Conditional spellings (流出, which is a data leak only away from crypto
    /// words) neither trigger nor join an expansion: they would widen a search silently.
    fn spellings(&self, tokens: &[String]) -> Option<Vec<Vec<String>>> {
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let entry = self.taxonomy.entry_for_phrase(&refs)?;
        let mut out: Vec<Vec<String>> = Vec::with_capacity(entry.variants.len());
        for variant in &entry.variants {
            let alt = self.tokenizer.norms(variant);
            if !alt.is_empty() && !out.contains(&alt) {
                out.push(alt);
            }
        }
        out.iter().any(|alt| alt == tokens).then_some(out)
    }

    /// Neighbouring bare terms that together spell a taxonomy entry (`J-Coin Pay` typed
    /// without quotes) match the entry's spellings as well as each term on its own:
    /// `J-Coin Pay` means `(J-Coin Pay) OR "Jコインペイ" OR …`.
    fn and(&mut self, qs: &[Query]) -> Result<Node, QueryError> {
        let mut out = Vec::with_capacity(qs.len());
        let mut i = 0;
        while i < qs.len() {
            if let Some((len, joined)) = self.spelled_run(&qs[i..]) {
                let mut loose = Vec::with_capacity(len);
                for q in &qs[i..i + len] {
                    loose.push(self.node(q)?);
                }
                let whole = self.leaf(joined.0, joined.1);
                out.push(Node::Or(vec![Node::And(loose), whole]));
                i += len;
            } else {
                out.push(self.node(&qs[i])?);
                i += 1;
            }
        }
        Ok(if out.len() == 1 {
            out.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::And(out)
        })
    }

    /// The longest run (two or more) of bare terms at the start of `qs` whose tokens, in
    /// order, spell a taxonomy entry: its length, its text and its tokens.
    fn spelled_run(&self, qs: &[Query]) -> Option<(usize, (String, Vec<String>))> {
        let bare: Vec<&str> = qs
            .iter()
            .map_while(|q| match q {
                Query::Text {
                    text,
                    phrase: false,
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .take(8)
            .collect();
        for len in (2..=bare.len()).rev() {
            let text = bare[..len].join(" ");
            let tokens = self.tokenizer.norms(&text);
            if !tokens.is_empty() && self.spellings(&tokens).is_some() {
                return Some((len, (text, tokens)));
            }
        }
        None
    }

    /// `tag:` values: an id (any case), or any spelling of an entry (`tag:セブンペイ`).
    fn tag(&self, value: &str, col: usize) -> Result<TagId, QueryError> {
        let lower = value.to_lowercase();
        if let Some(entry) = self.taxonomy.get(&lower) {
            return Ok(entry.id.clone());
        }
        let tokens = self.tokenizer.norms(value);
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        match self.taxonomy.entry_for_phrase(&refs) {
            Some(entry) if !tokens.is_empty() => Ok(entry.id.clone()),
            _ => Err(QueryError::UnknownTag {
                col,
                value: value.to_string(),
                families: FAMILY_NAMES,
            }),
        }
    }
}

/// An article's text as tokens: per field, the folded tokens with their offsets, and a map
/// from token to its occurrences for fast lookups.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    fields: [Vec<Term>; 3],
    occurrences: HashMap<String, Vec<(u8, u32)>>,
}

impl Doc {
    /// Tokenises an article's title, lead (the feed summary) and body with `tokenizer`, the
    /// way the tagger does ([`crate::tag::article_tokens`]), so that a document built here
    /// equals one built from the tagger's tokens at ingest.
    pub fn new(article: &Article, tokenizer: &Tokenizer) -> Doc {
        let tokens = crate::tag::article_tokens(&article.draft, tokenizer);
        Doc::from_tokens(&tokens, &article.draft, tokenizer)
    }

    /// A draft's document from its tokens as the tagger left them (lines it did not
    /// tokenize are tokenized here).
    pub fn from_tokens(tokens: &ArticleTokens, draft: &ArticleDraft, tokenizer: &Tokenizer) -> Doc {
        let texts = [&draft.title, &draft.summary, &draft.body];
        Doc::from_terms([0, 1, 2].map(|f| refine::terms(tokens.terms(f, texts[f], tokenizer))))
    }

    /// Tokenises three texts: title, lead, body (compounds refined, see `search::refine`).
    pub fn from_texts(texts: [&str; 3], tokenizer: &Tokenizer) -> Doc {
        Doc::from_terms(texts.map(|t| refine::terms(tokenizer.terms(t))))
    }

    /// Builds from already tokenised (and refined) fields (title, lead, body).
    pub fn from_terms(fields: [Vec<Term>; 3]) -> Doc {
        let mut occurrences: HashMap<String, Vec<(u8, u32)>> = HashMap::new();
        for (f, terms) in fields.iter().enumerate() {
            for (p, t) in terms.iter().enumerate() {
                occurrences
                    .entry(t.norm.clone())
                    .or_default()
                    .push((f as u8, p as u32));
            }
        }
        Doc {
            fields,
            occurrences,
        }
    }

    /// The tokens of one field.
    pub fn field(&self, field: Field) -> &[Term] {
        &self.fields[field_index(field)]
    }

    /// Token counts per field (title, lead, body).
    pub fn lengths(&self) -> [u32; 3] {
        [0, 1, 2].map(|f| self.fields[f].len() as u32)
    }

    /// Whether any of the leaf's token sequences occurs in one field.
    pub fn contains(&self, leaf: &TextLeaf) -> bool {
        leaf.alternatives
            .iter()
            .any(|alt| self.starts(alt).next().is_some())
    }

    /// Occurrences of the leaf as spans (field, byte range of the whole sequence).
    pub fn occurrences(&self, leaf: &TextLeaf, out: &mut Vec<Span>) {
        for alt in &leaf.alternatives {
            for (f, p) in self.starts(alt) {
                let terms = &self.fields[f as usize];
                let (first, last) = (p as usize, p as usize + alt.len() - 1);
                if let (Some(a), Some(b)) = (terms.get(first), terms.get(last)) {
                    out.push(Span {
                        field: FIELDS[f as usize],
                        start: a.start,
                        end: b.end,
                    });
                }
            }
        }
    }

    /// Hits of the leaf per field, as ranking counts them: the largest count among its
    /// spellings (overlapping spellings such as `J-Coin Pay` and `J-Coin` count once).
    pub fn counts(&self, leaf: &TextLeaf) -> [u32; 3] {
        let mut best = [0u32; 3];
        for alt in &leaf.alternatives {
            let mut c = [0u32; 3];
            for (f, _) in self.starts(alt) {
                c[f as usize] += 1;
            }
            for f in 0..3 {
                best[f] = best[f].max(c[f]);
            }
        }
        best
    }

    /// Where `seq` starts (field, token position) in this document.
    fn starts<'a>(&'a self, seq: &'a [String]) -> impl Iterator<Item = (u8, u32)> + 'a {
        let first = seq.first().and_then(|t| self.occurrences.get(t));
        first.into_iter().flatten().copied().filter(move |&(f, p)| {
            let terms = &self.fields[f as usize];
            seq.iter()
                .enumerate()
                .skip(1)
                .all(|(k, tok)| terms.get(p as usize + k).is_some_and(|t| &t.norm == tok))
        })
    }
}

/// The position of a field in [`FIELDS`].
pub fn field_index(field: Field) -> usize {
    match field {
        Field::Title => 0,
        Field::Lead => 1,
        Field::Body => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArticleDraft, ArticleId, TagHit};
    use crate::search::query::parse;

    fn article(title: &str, body: &str, published: &str) -> Article {
        Article {
            id: ArticleId(1),
            draft: ArticleDraft {
                feed: FeedId::new("paysec"),
                url: "http://127.0.0.1/a".into(),
                guid: None,
                title: title.into(),
                summary: String::new(),
                body: body.into(),
                published: DateTime::parse_from_rfc3339(published)
                    .unwrap()
                    .with_timezone(&Utc),
                fetched: Utc::now(),
                content_hash: "h".into(),
            },
        }
    }

    fn tagged(ids: &[(&str, Family)]) -> Analysis {
        Analysis {
            tags: ids
                .iter()
                .map(|(id, family)| TagHit {
                    tag: TagId::new(*id),
                    family: *family,
                    count: 1,
                    spans: vec![],
                })
                .collect(),
            ..Analysis::default()
        }
    }

    fn hits(q: &str, a: &Article, an: &Analysis, flags: Flags) -> bool {
        let c = Compiled::new(&parse(q).unwrap()).unwrap();
        c.matches(&Doc::new(a, Tokenizer::shared()), a, an, flags)
    }

    #[test]
    fn whole_tokens_only() {
        let a = article(
            "東京都で説明会",
            "東京都の担当者が話した。",
            "2019-09-01T00:00:00Z",
        );
        let none = Analysis::default();
        assert!(!hits("京都", &a, &none, Flags::default()));
        assert!(hits("東京都", &a, &none, Flags::default()));
        assert!(hits("東京", &a, &none, Flags::default()));
        let b = article("京都の店舗", "京都府内で", "2019-09-01T00:00:00Z");
        assert!(hits("京都", &b, &none, Flags::default()));
        // Inside the compounds the tagger keeps whole.
        let c = article("決済サービスに不正アクセス", "", "2019-09-01T00:00:00Z");
        assert!(hits("不正 決済", &c, &none, Flags::default()));
        assert!(hits(r#""サービス に 不正""#, &c, &none, Flags::default()));
        assert!(!hits("不正利用", &c, &none, Flags::default()));
    }

    #[test]
    fn spellings_match_each_other() {
        let a = article(
            "Jコインペイで加盟店情報が閲覧可能に",
            "みずほ銀行は、セブンペイとは別の件で、二段階認証を導入したと発表した。",
            "2019-09-01T00:00:00Z",
        );
        let none = Analysis::default();
        for q in [
            r#""J-Coin Pay""#,
            "J-Coin Pay",
            "J-Coin-Pay",
            "Ｊ－Ｃｏｉｎ",
            "7pay",
            "2FA",
            "二要素認証",
        ] {
            assert!(hits(q, &a, &none, Flags::default()), "{q}");
        }
        assert!(!hits("PayPay", &a, &none, Flags::default()));
    }

    #[test]
    fn phrases_versus_loose_terms() {
        let a = article(
            "決済サービスの障害",
            "不正な決済が続いた。サービスは停止された。",
            "2019-09-01T00:00:00Z",
        );
        let none = Analysis::default();
        assert!(hits("サービス 決済", &a, &none, Flags::default()));
        assert!(hits(r#""決済 サービス""#, &a, &none, Flags::default()));
        assert!(hits("決済サービス", &a, &none, Flags::default()));
        assert!(!hits(r#""サービス 決済""#, &a, &none, Flags::default()));
        // Consecutive within one field only: title ends, body begins.
        assert!(!hits(r#""障害 不正""#, &a, &none, Flags::default()));
    }

    #[test]
    fn structured_leaves() {
        let a = article("t", "b", "2019-08-31T15:30:00Z"); // 2019-09-01 00:30 in Japan
        let an = tagged(&[
            ("7pay", Family::Service),
            ("account-takeover", Family::Threat),
        ]);
        let read = Flags {
            read: true,
            starred: false,
        };
        assert!(hits("tag:7pay tag:threat feed:paysec", &a, &an, read));
        assert!(hits("tag:セブンペイ", &a, &an, read));
        assert!(!hits("tag:control OR feed:other", &a, &an, read));
        assert!(hits("since:2019-09-01 until:2019-09-01", &a, &an, read));
        assert!(!hits("until:2019-08-31", &a, &an, read));
        assert!(!hits("since:2019-09-02", &a, &an, read));
        assert!(hits("is:read -is:unread -is:starred", &a, &an, read));
        assert!(hits("is:unread", &a, &an, Flags::default()));
    }

    #[test]
    fn compile_errors_carry_columns() {
        let err = |q: &str| Compiled::new(&parse(q).unwrap()).unwrap_err();
        assert!(matches!(
            err("a tag:nonexistent"),
            QueryError::UnknownTag { col: 7, .. }
        ));
        assert!(matches!(
            err("京都 OR ・・・"),
            QueryError::NoWords { col: 7, .. }
        ));
    }

    #[test]
    fn highlights_cover_positive_terms_only() {
        let a = article(
            "セブンペイの不正利用",
            "7payは停止した。京都では",
            "2019-09-01T00:00:00Z",
        );
        let c = Compiled::new(&parse("セブンペイ -京都").unwrap()).unwrap();
        let doc = Doc::new(&a, Tokenizer::shared());
        let spans = c.highlights(&doc);
        let texts: Vec<&str> = spans
            .iter()
            .map(|s| match s.field {
                Field::Title => &a.draft.title[s.start..s.end],
                _ => &a.draft.body[s.start..s.end],
            })
            .collect();
        assert_eq!(texts, vec!["セブンペイ", "7pay"]);
    }
}
