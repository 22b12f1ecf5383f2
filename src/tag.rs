//! Tagging articles with taxonomy entries, with evidence.
//!
//! The article is cut into units (the title, the lead, each body paragraph), boilerplate
//! that survived extraction is dropped (related-article and ranking lists, PR blocks,
//! share buttons, PAGE TOP, copyright lines), each unit is tokenized and matched against
//! the taxonomy's phrases on whole tokens, conditional spellings are checked against their
//! context, and incidents are tagged by their rules. Facts come from the same units.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{FixedOffset, NaiveDate};

use crate::facts;
use crate::model::{Analysis, ArticleDraft, Family, Field, Span, TagHit, TagId};
use crate::taxonomy::{Entry, Phrase, PhraseSet, PhraseTarget, Taxonomy};
use crate::tokenize::{
    ArticleTokens, Folded, Piece, TermSpan, Tokenizer, fold, fold_contains_ascii,
};

/// Japan Standard Time, in which articles' dates are read.
fn jst() -> FixedOffset {
    // A constant offset well inside the valid range.
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// The calendar date in Japan of a moment (how articles' dates are read).
pub fn japan_date(t: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    t.with_timezone(&jst()).date_naive()
}

/// The article's tokens, and article-wide context answers computed once.
struct ArticleCtx<'n> {
    norms: &'n [Vec<&'n str>],
    /// Per unit, per term: the sentence the term is in.
    sentences: &'n [Vec<u32>],
    /// (entry, rule, negated list) → whether the article has one of the rule's words.
    cache: HashMap<(usize, usize, bool), bool>,
}

impl ArticleCtx<'_> {
    fn article_has(
        &mut self,
        entry: usize,
        rule: usize,
        negated: bool,
        set: &PhraseSet<()>,
    ) -> bool {
        let norms = self.norms;
        *self
            .cache
            .entry((entry, rule, negated))
            .or_insert_with(|| norms.iter().any(|n| set.any_within(n, 0, n.len())))
    }
}

/// At most this many spans are kept per tag (the count goes on).
pub const MAX_SPANS_PER_TAG: usize = 64;

/// A subject mentioned only this often, and never in the title or lead, does not make an
/// article about its incident (a one-clause mention in an unrelated article).
const MIN_BODY_MENTIONS_FOR_INCIDENT: u32 = 2;

/// The text a span of `field` indexes: the title, the summary (or, when the summary is
/// empty, the body, whose first paragraph then serves as the lead), or the body.
pub fn field_text(draft: &ArticleDraft, field: Field) -> &str {
    match field {
        Field::Title => &draft.title,
        Field::Lead if !draft.summary.trim().is_empty() => &draft.summary,
        Field::Lead | Field::Body => &draft.body,
    }
}

/// A piece of an article that is tagged as one: a title, lead or body paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit<'a> {
    /// The field its offsets refer to.
    pub field: Field,
    /// The text.
    pub text: &'a str,
    /// Byte offset of `text` in the field's text.
    pub offset: usize,
}

/// The tagger: a taxonomy and the shared tokenizer.
#[derive(Debug, Clone, Copy)]
pub struct Tagger {
    taxonomy: &'static Taxonomy,
    tokenizer: &'static Tokenizer,
}

/// Accumulates the hits of one entry.
#[derive(Debug, Default, Clone)]
struct Acc {
    count: u32,
    spans: Vec<Span>,
    in_title: bool,
    in_title_or_lead: bool,
}

impl Acc {
    /// How prominently the entry is named: 2 in the title, 1 in the lead, 0 in the body.
    fn prominence(&self) -> u8 {
        if self.in_title {
            2
        } else {
            u8::from(self.in_title_or_lead)
        }
    }
}

impl Tagger {
    /// A tagger for this taxonomy (use `Box::leak` for a user-loaded one).
    pub fn new(taxonomy: &'static Taxonomy) -> Tagger {
        Tagger {
            taxonomy,
            tokenizer: Tokenizer::shared(),
        }
    }

    /// The tagger of the built-in taxonomy.
    pub fn shared() -> &'static Tagger {
        static SHARED: OnceLock<Tagger> = OnceLock::new();
        SHARED.get_or_init(|| Tagger::new(Taxonomy::builtin()))
    }

    /// The tagger of the built-in taxonomy plus the user's file ([`crate::taxonomy::user_file`]),
    /// loaded once per process. This is what ingest, `kessai tag` and `kessai retag` use.
    pub fn configured() -> Result<&'static Tagger, crate::taxonomy::TaxonomyError> {
        static CONFIGURED: OnceLock<&'static Tagger> = OnceLock::new();
        if let Some(t) = CONFIGURED.get() {
            return Ok(t);
        }
        let taxonomy = match crate::taxonomy::user_file() {
            Some(path) if path.exists() => {
                let t: &'static Taxonomy = Box::leak(Box::new(Taxonomy::load(Some(&path))?));
                t
            }
            _ => Taxonomy::builtin(),
        };
        Ok(*CONFIGURED.get_or_init(|| Box::leak(Box::new(Tagger::new(taxonomy)))))
    }

    /// The taxonomy it tags with.
    pub fn taxonomy(&self) -> &'static Taxonomy {
        self.taxonomy
    }

    /// Tags and facts of an article. Pure: the same draft always gives the same analysis.
    pub fn analyze(&self, draft: &ArticleDraft) -> Analysis {
        self.analyze_with_tokens(draft).0
    }

    /// [`Tagger::analyze`], handing back the article's tokens too, for the search and alert
    /// indexes to reuse instead of segmenting the text again.
    pub fn analyze_with_tokens(&self, draft: &ArticleDraft) -> (Analysis, ArticleTokens) {
        let units = units(draft);
        let (folded, terms) = tokenize_units(&units, self.tokenizer);
        let analysis = self.analyze_units(draft, &units, &folded, &terms);
        (analysis, into_tokens(draft, &units, folded, terms))
    }

    /// Tags and facts from the units' folded texts and tokens.
    fn analyze_units(
        &self,
        draft: &ArticleDraft,
        units: &[Unit<'_>],
        folded: &[Folded],
        terms: &[Vec<TermSpan>],
    ) -> Analysis {
        let norms: Vec<Vec<&str>> = terms
            .iter()
            .zip(folded)
            .map(|(ts, f)| ts.iter().map(|t| f.norm(t)).collect())
            .collect();
        let sentences: Vec<Vec<u32>> = units
            .iter()
            .zip(terms)
            .map(|(u, ts)| sentence_ids(u.text, ts))
            .collect();
        let mut ctx = ArticleCtx {
            norms: &norms,
            sentences: &sentences,
            cache: HashMap::new(),
        };
        let mut acc: BTreeMap<usize, Acc> = BTreeMap::new();
        for (k, unit) in units.iter().enumerate() {
            self.match_unit(
                unit,
                &terms[k],
                k,
                self.taxonomy.phrases(),
                &mut ctx,
                &mut acc,
            );
            self.match_unit(
                unit,
                &terms[k],
                k,
                self.taxonomy.incident_phrases(),
                &mut ctx,
                &mut acc,
            );
        }

        let published = japan_date(draft.published);
        self.tag_incidents(published, units, &norms, &mut acc);

        let entries = self.taxonomy.entries();
        let mut tags: Vec<TagHit> = acc
            .into_iter()
            .filter(|(_, a)| a.count > 0)
            .map(|(i, a)| TagHit {
                tag: entries[i].id.clone(),
                family: entries[i].family,
                count: a.count,
                spans: a.spans,
            })
            .collect();
        tags.sort_by(|a, b| (a.family, &a.tag).cmp(&(b.family, &b.tag)));
        let texts: Vec<(&str, &Folded)> = units.iter().map(|u| u.text).zip(folded).collect();
        Analysis {
            tags,
            facts: facts::extract_folded(&texts, published),
        }
    }

    /// Matches one unit's terms against a phrase set.
    fn match_unit(
        &self,
        unit: &Unit<'_>,
        terms: &[TermSpan],
        k: usize,
        phrases: &PhraseSet<Phrase>,
        ctx: &mut ArticleCtx<'_>,
        acc: &mut BTreeMap<usize, Acc>,
    ) {
        let norms = &ctx.norms[k];
        let mut hit: Vec<usize> = Vec::new();
        let mut i = 0;
        while i < norms.len() {
            let Some((len, phrase)) = phrases.longest_at(norms, i) else {
                i += 1;
                continue;
            };
            let start = terms[i].start;
            let end = terms[i + len - 1].end;
            if splits_ascii_word(unit.text, start, end) {
                i += 1;
                continue;
            }
            hit.clear();
            let negated = negated_after(unit.text.get(end..).unwrap_or_default());
            for target in &phrase.targets {
                let entry = match *target {
                    PhraseTarget::Exclude => continue,
                    PhraseTarget::Entry(e) => e,
                    PhraseTarget::Context { entry, rule } => {
                        if !self.context_holds(entry, rule, k, i, len, ctx) {
                            continue;
                        }
                        entry
                    }
                };
                // 「個人情報の漏えいは確認されておりません」 reports no leak.
                if negated && self.taxonomy.entries()[entry].family == Family::Threat {
                    continue;
                }
                if !hit.contains(&entry) {
                    hit.push(entry);
                }
            }
            for &entry in &hit {
                let a = acc.entry(entry).or_default();
                a.count = a.count.saturating_add(1);
                a.in_title_or_lead |= unit.field != Field::Body;
                a.in_title |= unit.field == Field::Title;
                if a.spans.len() < MAX_SPANS_PER_TAG {
                    a.spans.push(Span {
                        field: unit.field,
                        start: unit.offset + start,
                        end: unit.offset + end,
                    });
                }
            }
            i += len;
        }
    }

    /// Whether context rule `rule` of `entry` holds for a match of `len` terms at term `i`
    /// of unit `k`.
    fn context_holds(
        &self,
        entry: usize,
        rule: usize,
        k: usize,
        i: usize,
        len: usize,
        ctx: &mut ArticleCtx<'_>,
    ) -> bool {
        let c = &self.taxonomy.entries()[entry].contexts[rule];
        let norms = &ctx.norms[k];
        // The window, cut at the sentence's edges.
        let sentence = &ctx.sentences[k];
        let mut lo = i.saturating_sub(c.window);
        while lo < i && sentence[lo] != sentence[i] {
            lo += 1;
        }
        let mut hi = (i + len + c.window).min(norms.len());
        let last = i + len - 1;
        while hi > last + 1 && sentence[hi - 1] != sentence[last] {
            hi -= 1;
        }
        if !c.near_set.is_empty() && !c.near_set.any_within(norms, lo, hi) {
            return false;
        }
        if !c.unless_set.is_empty() && c.unless_set.any_within(norms, lo, hi) {
            return false;
        }
        if !c.article_set.is_empty() && !ctx.article_has(entry, rule, false, &c.article_set) {
            return false;
        }
        if !c.unless_article_set.is_empty()
            && ctx.article_has(entry, rule, true, &c.unless_article_set)
        {
            return false;
        }
        true
    }

    /// Adds the incidents whose rules the article meets.
    fn tag_incidents(
        &self,
        published: NaiveDate,
        units: &[Unit<'_>],
        norms: &[Vec<&str>],
        acc: &mut BTreeMap<usize, Acc>,
    ) {
        let entries = self.taxonomy.entries();
        let has = |acc: &BTreeMap<usize, Acc>, id: &TagId| {
            self.taxonomy
                .index_of(id.as_str())
                .and_then(|i| acc.get(&i))
                .is_some_and(|a| a.count > 0)
        };
        // Incidents named directly still have to meet their rule.
        let incident_ids: Vec<usize> = acc
            .keys()
            .copied()
            .filter(|i| entries[*i].family == Family::Incident)
            .collect();
        let direct: BTreeMap<usize, Acc> = incident_ids
            .into_iter()
            .filter_map(|i| acc.remove(&i).map(|a| (i, a)))
            .collect();
        // (incident, evidence, prominence of its subject)
        let mut found: Vec<(usize, Acc, u8)> = Vec::new();
        for (idx, entry) in entries.iter().enumerate() {
            let Some(rule) = &entry.rule else { continue };
            if published < rule.from || published > rule.to {
                continue;
            }
            if !rule.threats.iter().any(|t| has(acc, t)) {
                continue;
            }
            // Where the terms occur, as a prominence (2 title, 1 lead, 0 body).
            let term_prominence = if rule.term_set.is_empty() {
                None
            } else {
                let best = units
                    .iter()
                    .zip(norms)
                    .filter(|(_, n)| rule.term_set.any_within(n, 0, n.len()))
                    .map(|(u, _)| match u.field {
                        Field::Title => 2u8,
                        Field::Lead => 1,
                        Field::Body => 0,
                    })
                    .max();
                match best {
                    None => continue,
                    Some(0) if rule.terms_in_lead => continue,
                    Some(p) => Some(p),
                }
            };
            // A named directly (a variant of the incident itself).
            if let Some(direct) = direct.get(&idx).filter(|a| a.count > 0) {
                found.push((idx, direct.clone(), direct.prominence()));
                continue;
            }
            // The subject must be what the article is about: in the title or lead, or
            // mentioned more than once.
            let evidence = if rule.subjects.is_empty() {
                let p = term_prominence.unwrap_or(0);
                Acc {
                    count: 1,
                    spans: Vec::new(),
                    in_title: p == 2,
                    in_title_or_lead: p >= 1,
                }
            } else {
                let Some(subject) = rule
                    .subjects
                    .iter()
                    .filter_map(|id| acc.get(&self.taxonomy.index_of(id.as_str())?))
                    .filter(|a| a.in_title_or_lead || a.count >= MIN_BODY_MENTIONS_FOR_INCIDENT)
                    .max_by_key(|a| (a.prominence(), a.count))
                else {
                    continue;
                };
                subject.clone()
            };
            let p = evidence.prominence();
            found.push((idx, evidence, p));
        }
        // An incident whose subject the headline names outranks one named only in the
        // lead, which outranks one only in the body (an earlier incident recalled in
        // passing).
        if let Some(top) = found.iter().map(|(_, _, p)| *p).max() {
            found.retain(|(_, _, p)| *p == top);
        }
        acc.extend(found.into_iter().map(|(i, mut a, _)| {
            a.count = a.count.max(1);
            (i, a)
        }));
    }

    /// The entry for a tag id.
    pub fn entry(&self, id: &TagId) -> Option<&Entry> {
        self.taxonomy.get(id.as_str())
    }
}

/// For each term, the index of the sentence it is in (sentences end at 。！？ and lines).
fn sentence_ids(text: &str, terms: &[TermSpan]) -> Vec<u32> {
    let mut ids = Vec::with_capacity(terms.len());
    let mut id = 0u32;
    let mut pos = 0;
    for t in terms {
        if let Some(between) = text.get(pos..t.start) {
            id += between
                .chars()
                .filter(|c| matches!(c, '。' | '！' | '？' | '!' | '?' | '\n'))
                .count() as u32;
        }
        pos = pos.max(t.start);
        ids.push(id);
    }
    ids
}

/// Whether the clause after a match denies it: the topic particle は/も soon after, then a
/// negative ending before the clause ends (漏えいは確認されておりません, 流出はなかった).
fn negated_after(after: &str) -> bool {
    let clause_end = after
        .char_indices()
        .find(|&(_, c)| {
            matches!(
                c,
                '。' | '、' | '，' | '．' | '\n' | '!' | '?' | '！' | '？'
            )
        })
        .map_or(after.len(), |(i, _)| i);
    let clause = &after[..clause_end];
    let Some((pos, _)) = clause
        .char_indices()
        .take(8)
        .find(|&(_, c)| c == 'は' || c == 'も')
    else {
        return false;
    };
    let rest = clause[pos..].trim_start_matches(['は', 'も']).trim_start();
    rest.starts_with("ない")
        || [
            "確認されていない",
            "確認されておりません",
            "確認されていません",
            "確認されなかった",
            "確認されず",
            "ありません",
            "ございません",
            "なかった",
            "発生していない",
            "発生しておりません",
        ]
        .iter()
        .any(|n| rest.contains(n))
}

/// Whether a match at `start..end` of `text` cuts an ASCII word or number: a letter glued
/// to a letter or a digit to a digit across the match's edge (`ip制限` inside `vip制限`,
/// `7pay` inside `17pay`). A letter beside a digit is a boundary (`PayPay17件`).
fn splits_ascii_word(text: &str, start: usize, end: usize) -> bool {
    #[derive(PartialEq)]
    enum Class {
        Letter,
        Digit,
        Other,
    }
    let class = |c: Option<char>| {
        let Some(c) = c else { return Class::Other };
        if c.is_ascii_alphabetic() {
            return Class::Letter;
        }
        if c.is_ascii_digit() {
            return Class::Digit;
        }
        // The rest of ASCII, kana and kanji fold to no ASCII letter or digit.
        if c.is_ascii() || is_kana_or_kanji(c) {
            return Class::Other;
        }
        let mut buf = [0u8; 4];
        match fold(c.encode_utf8(&mut buf)).chars().next() {
            Some(f) if f.is_ascii_alphabetic() => Class::Letter,
            Some(f) if f.is_ascii_digit() => Class::Digit,
            _ => Class::Other,
        }
    };
    let (Some(before), Some(inside), Some(after)) =
        (text.get(..start), text.get(start..end), text.get(end..))
    else {
        return true;
    };
    let glued = |a: Class, b: Class| a != Class::Other && a == b;
    glued(
        class(before.chars().next_back()),
        class(inside.chars().next()),
    ) || glued(
        class(inside.chars().next_back()),
        class(after.chars().next()),
    )
}

/// Kana (with their marks) and common kanji: characters that no folding turns into ASCII.
fn is_kana_or_kanji(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}')
}

/// The units of an article: title, lead (summary, or the first body paragraph when there
/// is none) and body paragraphs, without boilerplate.
pub fn units(draft: &ArticleDraft) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    if !draft.title.trim().is_empty() {
        out.push(Unit {
            field: Field::Title,
            text: &draft.title,
            offset: 0,
        });
    }
    let summary_is_lead = !draft.summary.trim().is_empty();
    if summary_is_lead {
        out.extend(content_blocks(&draft.summary, Field::Lead));
    }
    let mut body = content_blocks(&draft.body, Field::Body);
    if !summary_is_lead {
        if let Some(first) = body.first_mut() {
            first.field = Field::Lead;
        }
    }
    out.extend(body);
    out
}

/// Folds and tokenizes each unit.
fn tokenize_units(units: &[Unit<'_>], tokenizer: &Tokenizer) -> (Vec<Folded>, Vec<Vec<TermSpan>>) {
    let folded: Vec<Folded> = units.iter().map(|u| Folded::new(u.text)).collect();
    let terms = folded.iter().map(|f| tokenizer.spans_of(f)).collect();
    (folded, terms)
}

/// The units' tokens as the article's tokens: each unit a piece of the text it was cut from
/// (title 0, summary 1, body 2; a lead taken from the body belongs to the body).
fn into_tokens(
    draft: &ArticleDraft,
    units: &[Unit<'_>],
    folded: Vec<Folded>,
    terms: Vec<Vec<TermSpan>>,
) -> ArticleTokens {
    let summary_is_lead = !draft.summary.trim().is_empty();
    let mut tokens = ArticleTokens::default();
    for ((unit, folded), spans) in units.iter().zip(folded).zip(terms) {
        let field = match unit.field {
            Field::Title => 0,
            Field::Lead if summary_is_lead => 1,
            Field::Lead | Field::Body => 2,
        };
        tokens.push(
            field,
            Piece {
                offset: unit.offset,
                folded,
                spans,
            },
        );
    }
    tokens
}

/// The tokens of an article as the tagger makes them (its units, tokenized), without
/// tagging: what a search index rebuild reads so that it indexes exactly what ingest did.
pub fn article_tokens(draft: &ArticleDraft, tokenizer: &Tokenizer) -> ArticleTokens {
    let units = units(draft);
    let (folded, terms) = tokenize_units(&units, tokenizer);
    into_tokens(draft, &units, folded, terms)
}

/// The paragraphs of a text that are content, not boilerplate, as units of `field`: runs of
/// consecutive content lines, cut at blank lines.
pub fn content_blocks<'a>(text: &'a str, field: Field) -> Vec<Unit<'a>> {
    let mut out = Vec::new();
    let mut block: Option<(usize, usize)> = None;
    let mut skipping = false;
    let flush = |block: &mut Option<(usize, usize)>, out: &mut Vec<Unit<'a>>| {
        let taken = block.take();
        let Some((s, e)) = taken else { return };
        match text.get(s..e) {
            Some(t) if !t.trim().is_empty() => out.push(Unit {
                field,
                text: t,
                offset: s,
            }),
            _ => {}
        }
    };
    let mut pos = 0;
    for raw in text.split_inclusive('\n') {
        let start = pos;
        pos += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let end = start + line.len();
        if line.trim().is_empty() {
            flush(&mut block, &mut out);
            continue;
        }
        let kind = classify_line(line);
        match kind {
            LineKind::Heading => {
                flush(&mut block, &mut out);
                skipping = true;
                continue;
            }
            LineKind::Boilerplate => {
                flush(&mut block, &mut out);
                continue;
            }
            LineKind::Content if skipping && is_list_item(line) => {
                continue;
            }
            LineKind::Content => skipping = false,
        }
        block = Some(match block {
            Some((s, _)) => (s, end),
            None => (start, end),
        });
    }
    flush(&mut block, &mut out);
    out
}

/// What a line of extracted text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Article text.
    Content,
    /// A heading that opens a boilerplate block (関連記事, ランキング, ...): the list items
    /// after it are boilerplate too.
    Heading,
    /// One boilerplate line (PAGE TOP, share buttons, copyright, an ad).
    Boilerplate,
}

const BLOCK_HEADINGS: &[&str] = &[
    "関連記事",
    "関連ニュース",
    "関連リンク",
    "関連情報",
    "関連する記事",
    "あわせて読みたい",
    "併せて読みたい",
    "合わせて読みたい",
    "こちらもおすすめ",
    "おすすめ記事",
    "オススメ記事",
    "人気記事",
    "注目記事",
    "新着記事",
    "最新記事",
    "最新ニュース",
    "ランキング",
    "よく読まれている記事",
    "この記事を読んだ人は",
    "次の記事",
    "前の記事",
    "バックナンバー",
    "メールマガジン",
    "related",
    "popular",
    "pr",
    "広告",
    "スポンサー",
    "sponsored",
];

const SHARE_WORDS: &[&str] = &[
    "ツイート",
    "tweet",
    "シェア",
    "share",
    "はてなブックマーク",
    "はてブ",
    "lineで送る",
    "line",
    "facebook",
    "twitter",
    "x",
    "pocket",
    "印刷",
    "メール",
    "ポスト",
    "いいね",
    "b!",
    "hatena",
    "コピー",
    "リンクをコピー",
    "送る",
];

fn classify_line(line: &str) -> LineKind {
    // Prose: a long line with sentences. Only a copyright notice can hide in one.
    if line.len() > 240 && line.contains('。') {
        if !line.contains(['c', 'C', 'ｃ', 'Ｃ', 'r', 'R', 'ｒ', 'Ｒ']) {
            return LineKind::Content;
        }
        return if fold_contains_ascii(line, &["copyright", "all rights reserved"]) {
            LineKind::Boilerplate
        } else {
            LineKind::Content
        };
    }
    let folded = fold(line);
    // Without the brackets, bullets and symbols that wrap headings (【関連記事】, ■PR).
    let s = folded.trim_matches(|c: char| !c.is_alphanumeric());
    if s.is_empty() {
        // Only symbols (区切り線, ▲): nothing to tag either way.
        return LineKind::Boilerplate;
    }
    let chars = s.chars().count();
    let lower = s;
    // PAGE TOP and friends.
    if chars <= 20
        && [
            "pagetop",
            "page top",
            "ページトップ",
            "ページの先頭",
            "トップへ戻る",
            "先頭へ戻る",
            "topへ",
        ]
        .iter()
        .any(|w| lower.contains(w))
    {
        return LineKind::Boilerplate;
    }
    // Copyright and reprint notices.
    if lower.contains("copyright")
        || line.contains('©')
        || lower.contains("all rights reserved")
        || lower.contains("無断転載")
        || lower.contains("無断複製")
        || folded.trim_start().starts_with("(c)")
    {
        return LineKind::Boilerplate;
    }
    // Share buttons: every word is a share word.
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, '|' | '/' | '・' | '｜'))
        .filter(|w| !w.is_empty())
        .collect();
    if !words.is_empty()
        && words.iter().all(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '!');
            w.is_empty() || SHARE_WORDS.contains(&w)
        })
    {
        return LineKind::Boilerplate;
    }
    // Breadcrumbs: ホーム > ニュース > ...
    if lower.matches(" > ").count() >= 2 || lower.matches('›').count() >= 2 {
        return LineKind::Boilerplate;
    }
    for h in BLOCK_HEADINGS {
        if let Some(rest) = lower.strip_prefix(h) {
            let rest_trim = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
            // "関連記事" alone or as a label ("関連記事: ..."), "PR 中小企業の..." (an ad),
            // but not prose that happens to start with the word (広告費が...).
            let labelled = rest.len() != rest_trim.len();
            if rest.is_empty() {
                return LineKind::Heading;
            }
            if labelled && !ends_sentence(line) {
                return if matches!(*h, "pr" | "広告" | "スポンサー" | "sponsored") {
                    LineKind::Boilerplate
                } else {
                    LineKind::Heading
                };
            }
        }
        // アクセスランキング, 記事ランキング: a short heading containing the word.
        if chars <= 16 && *h == "ランキング" && lower.contains(h) && !ends_sentence(line) {
            return LineKind::Heading;
        }
    }
    LineKind::Content
}

fn ends_sentence(line: &str) -> bool {
    let t = line.trim_end();
    t.ends_with(['。', '．', '！', '？', '!', '?']) || t.ends_with("。」") || t.contains("。")
}

/// A line that reads like an item of a link list rather than prose: no sentence end.
fn is_list_item(line: &str) -> bool {
    !ends_sentence(line) && line.chars().count() <= 120
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeedId;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn draft(title: &str, summary: &str, body: &str, y: i32, m: u32, d: u32) -> ArticleDraft {
        ArticleDraft {
            feed: FeedId::new("test"),
            url: "http://127.0.0.1/a".into(),
            guid: None,
            title: title.into(),
            summary: summary.into(),
            body: body.into(),
            published: Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).unwrap(),
            fetched: Utc.with_ymd_and_hms(y, m, d, 4, 0, 0).unwrap(),
            content_hash: String::new(),
        }
    }

    fn tags_of(text: &str) -> Vec<String> {
        let a = Tagger::shared().analyze(&draft("", "", text, 2023, 1, 1));
        a.tags.into_iter().map(|t| t.tag.0).collect()
    }

    fn has(text: &str, tag: &str) -> bool {
        tags_of(text).iter().any(|t| t == tag)
    }

    #[test]
    fn every_variant_of_every_service_and_control_tags_in_a_sentence() {
        let tax = Taxonomy::builtin();
        for e in tax.entries() {
            if !matches!(
                e.family,
                Family::Service | Family::Control | Family::Exchange | Family::Actor
            ) {
                continue;
            }
            for v in &e.variants {
                for text in [format!("{v}で"), format!("昨日、{v}について発表した。")]
                {
                    assert!(
                        has(&text, e.id.as_str()),
                        "{v:?} in {text:?} did not tag {}: {:?}",
                        e.id,
                        tags_of(&text)
                    );
                }
            }
        }
    }

    #[test]
    fn every_threat_variant_tags() {
        for e in Taxonomy::builtin().entries() {
            if e.family != Family::Threat {
                continue;
            }
            for v in &e.variants {
                let text = format!("{v}が問題になった。");
                assert!(has(&text, e.id.as_str()), "{v:?}: {:?}", tags_of(&text));
            }
        }
    }

    #[test]
    fn the_brief_spellings() {
        for v in [
            "J-Coin Pay",
            "J-Coin-Pay",
            "J−Coin Pay",
            "Ｊ－Ｃｏｉｎ Ｐａｙ",
            "Ｊ－Ｃｏｉｎ　Ｐａｙ",
            "Jコインペイ",
        ] {
            assert!(
                has(&format!("みずほの{v}で不正アクセス"), "j-coin-pay"),
                "{v}"
            );
        }
        for v in ["7pay", "セブンペイ", "７ｐａｙ", "7Pay"] {
            assert!(has(&format!("{v}が停止"), "7pay"), "{v}");
        }
        for v in [
            "二要素認証",
            "2要素認証",
            "2段階認証",
            "二段階認証",
            "多要素認証",
            "2FA",
            "MFA",
        ] {
            assert!(has(&format!("{v}を導入"), "2fa"), "{v}");
        }
    }

    #[test]
    fn traps() {
        // 京都 is not in 東京都 (a user taxonomy could have 京都; here: token boundaries).
        assert!(!has("セブン-イレブンのセルフレジ", "7pay"));
        assert!(!has("セブン‐イレブン・ジャパンが発表", "7pay"));
        assert!(!has("ペイントを塗り直した", "paypay"));
        assert!(!has("ペイロードを輸送する", "paypay"));
        assert!(!has("運賃を2段階の値上げ", "2fa"));
        assert!(has("2段階認証を", "2fa"));
        assert!(!has("PayPay銀行の口座", "paypay"));
        assert!(!has("VIP制限を設ける", "ip-restriction"));
        assert!(!has("17payment", "7pay"));
        assert!(!has("suicaide", "suica"));
    }

    #[test]
    fn kana_and_kanji_never_fold_to_ascii_letters_or_digits() {
        for c in ('\u{3040}'..='\u{30FF}').chain('\u{4E00}'..='\u{9FFF}') {
            assert!(is_kana_or_kanji(c));
            let f = fold(&c.to_string());
            assert!(
                !f.chars().next().is_some_and(|f| f.is_ascii_alphanumeric()),
                "{c:?} folds to {f:?}"
            );
        }
    }

    #[test]
    fn kyoto_is_not_inside_tokyo_to() {
        let tax: &'static Taxonomy = Box::leak(Box::new(
            Taxonomy::from_sources(&[
                ("built-in", crate::taxonomy::BUILTIN_TOML),
                (
                    "user",
                    "[[entry]]\nid=\"kyoto\"\nfamily=\"actor\"\nlabel_ja=\"京都\"\nlabel_en=\"Kyoto\"\nvariants=[\"京都\"]\n",
                ),
            ])
            .unwrap(),
        ));
        let tagger = Tagger::new(tax);
        let a = tagger.analyze(&draft("", "", "東京都で会見", 2023, 1, 1));
        assert!(!a.has("kyoto"));
        let a = tagger.analyze(&draft("", "", "京都府で会見", 2023, 1, 1));
        assert!(a.has("kyoto"));
    }

    #[test]
    fn ryuushutsu_is_disambiguated() {
        assert!(has("顧客の個人情報が流出した。", "data-leak"));
        assert!(!has("顧客の個人情報が流出した。", "asset-theft"));
        let t = tags_of("約580億円相当の仮想通貨NEMが流出した。");
        assert!(t.contains(&"asset-theft".to_string()), "{t:?}");
        assert!(!t.contains(&"data-leak".to_string()), "{t:?}");
        assert!(has("暗号資産が不正流出", "asset-theft"));
        assert!(has("ビットコインがハッキングで盗まれた", "asset-theft"));
        assert!(!has("カード情報が盗まれた", "asset-theft"));
    }

    #[test]
    fn spans_point_at_the_original_text() {
        let d = draft(
            "Ｊ－Ｃｏｉｎ Ｐａｙに不正アクセス",
            "みずほ銀行は4日、発表した。",
            "第1段落で7payに触れる。\n\n第2段落でセブンペイ。",
            2019,
            9,
            5,
        );
        let a = Tagger::shared().analyze(&d);
        for t in &a.tags {
            for s in &t.spans {
                let text = field_text(&d, s.field);
                assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            }
        }
        let jcp = a
            .tags
            .iter()
            .find(|t| t.tag.as_str() == "j-coin-pay")
            .unwrap();
        assert_eq!(jcp.spans[0].field, Field::Title);
        assert_eq!(
            &d.title[jcp.spans[0].start..jcp.spans[0].end],
            "Ｊ－Ｃｏｉｎ Ｐａｙ"
        );
        let seven = a.tags.iter().find(|t| t.tag.as_str() == "7pay").unwrap();
        assert_eq!(seven.count, 2);
        let texts: Vec<&str> = seven
            .spans
            .iter()
            .map(|s| &d.body[s.start..s.end])
            .collect();
        assert_eq!(texts, vec!["7pay", "セブンペイ"]);
        assert!(seven.spans.iter().all(|s| s.field == Field::Body));
        let mizuho = a.tags.iter().find(|t| t.tag.as_str() == "mizuho").unwrap();
        assert_eq!(mizuho.spans[0].field, Field::Lead);
    }

    #[test]
    fn first_paragraph_is_the_lead_without_a_summary() {
        let d = draft("", "", "7payの話。\n\n続きでセブンペイ。", 2019, 7, 5);
        let a = Tagger::shared().analyze(&d);
        let seven = a.tags.iter().find(|t| t.tag.as_str() == "7pay").unwrap();
        assert_eq!(seven.spans[0].field, Field::Lead);
        assert_eq!(seven.spans[1].field, Field::Body);
        let s = seven.spans[1];
        assert_eq!(&field_text(&d, Field::Body)[s.start..s.end], "セブンペイ");
    }

    #[test]
    fn boilerplate_does_not_tag() {
        let body = "決済の安全性について書いた本文。\n\n関連記事\nセブンペイ、不正アクセス被害で全面停止\nドコモ口座問題、銀行口座との連携に課題\n\nアクセスランキング\n1 PayPay、手数料を有料化\n2 LINE Pay、GitHubに情報\n\nPR 中小企業のキャッシュレス導入はJ-Coin Payで\nツイート はてなブックマーク LINEで送る シェア\nPAGE TOP\nCopyright © 2026 Kinyu Inc. All rights reserved. メルペイ";
        let t = tags_of(body);
        assert!(t.is_empty(), "{t:?}");
        // Inline label form and bracketed headings.
        let t = tags_of("本文です。\n【関連記事】\n・7pay、被害は900人\n・ドコモ口座の教訓");
        assert!(t.is_empty(), "{t:?}");
        let t = tags_of("本文です。\n関連記事：7pay、被害は900人");
        assert!(t.is_empty(), "{t:?}");
        // Prose after a boilerplate block tags again.
        let t = tags_of("関連記事\n・ドコモ口座の教訓\n\nメルペイは新機能を発表した。");
        assert_eq!(t, vec!["merpay"]);
        // Prose that starts like a heading word is content.
        let t = tags_of("広告費を増やしたPayPayは、加盟店を拡大した。");
        assert_eq!(t, vec!["paypay"]);
    }

    #[test]
    fn incidents_need_subject_threat_and_window() {
        let text = "セブンペイで不正利用が発生し、被害は808人、3861万円に上った。";
        let a = Tagger::shared().analyze(&draft("7pay被害", "", text, 2019, 7, 31));
        assert!(a.has("7pay-2019"), "{:?}", a.tags);
        // Outside the window.
        let a = Tagger::shared().analyze(&draft("7pay被害", "", text, 2024, 7, 31));
        assert!(!a.has("7pay-2019"));
        // No threat.
        let a = Tagger::shared().analyze(&draft("7payを開始", "", "7payが始まった。", 2019, 7, 1));
        assert!(!a.has("7pay-2019"));
        // A one-clause mention in the body of an unrelated article.
        let a = Tagger::shared().analyze(&draft(
            "ドコモ口座で不正出金",
            "",
            "ドコモ口座の不正出金が発覚した。\n\n昨年の7payを思わせる。",
            2020,
            9,
            9,
        ));
        assert!(a.has("docomo-koza-2020"));
        assert!(!a.has("7pay-2019"), "{:?}", a.tags);
    }

    #[test]
    fn facts_come_with_the_analysis() {
        let d = draft(
            "J-Coin Payに不正アクセス",
            "みずほ銀行は4日、約1.8万件の情報が閲覧可能だったと発表した。",
            "8月16日から27日にかけて、人為ミスでIDとパスワードのみで接続できる状態だった。",
            2019,
            9,
            5,
        );
        let a = Tagger::shared().analyze(&d);
        assert_eq!(a.facts.counts[0].value, 18_000);
        assert!(a.facts.causes.contains(&"人為ミス".to_string()));
        assert!(
            a.facts
                .dates
                .iter()
                .any(|x| x.date == NaiveDate::from_ymd_opt(2019, 8, 16).unwrap())
        );
        assert!(a.has("j-coin-pay-2019"), "{:?}", a.tags);
        assert!(a.has("misconfiguration"));
    }

    #[test]
    fn tags_are_ordered_by_family_then_id() {
        let a = Tagger::shared().analyze(&draft(
            "金融庁がセブンペイとPayPayに要請",
            "",
            "不正利用と2段階認証。",
            2023,
            1,
            1,
        ));
        let keys: Vec<(Family, String)> =
            a.tags.iter().map(|t| (t.family, t.tag.0.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]
        #[test]
        fn arbitrary_articles_never_panic_and_spans_are_on_boundaries(
            title in "\\PC{0,30}",
            summary in "\\PC{0,40}",
            body in "(\\PC|\n){0,120}",
        ) {
            let d = draft(&title, &summary, &body, 2020, 9, 10);
            let a = Tagger::shared().analyze(&d);
            for t in &a.tags {
                for s in &t.spans {
                    let text = field_text(&d, s.field);
                    prop_assert!(s.start <= s.end && s.end <= text.len());
                    prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
                }
            }
        }

        #[test]
        fn any_text_at_all_keeps_spans_on_boundaries(
            title in proptest::prelude::any::<String>(),
            body in proptest::collection::vec(
                prop_oneof![
                    proptest::prelude::any::<String>(),
                    Just("㍿".to_string()),
                    Just("ﾊﾟｲ".to_string()),
                    Just("ｾﾌﾞﾝﾍﾟｲで不正利用".to_string()),
                    Just("\u{1b}[2J".to_string()),
                    Just("e\u{301}".to_string()),
                    Just("①②".to_string()),
                    Just("ﬁ".to_string()),
                    Just("\u{202e}".to_string()),
                ],
                0..12,
            ),
        ) {
            let body = body.concat();
            let d = draft(&title, "", &body, 2020, 9, 10);
            let a = Tagger::shared().analyze(&d);
            for t in &a.tags {
                for s in &t.spans {
                    let text = field_text(&d, s.field);
                    prop_assert!(s.start <= s.end && s.end <= text.len());
                    prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
                }
            }
        }

        #[test]
        fn domain_words_in_random_order_never_panic(
            words in proptest::collection::vec(
                prop_oneof![
                    Just("7pay"), Just("ｾﾌﾞﾝﾍﾟｲ"), Just("Ｊ－Ｃｏｉｎ"), Just(" Ｐａｙ"), Just("流出"),
                    Just("仮想通貨"), Just("関連記事\n"), Just("\n\n"), Just("。"), Just("ｶﾞ"),
                    Just("\u{3099}"), Just("2段階"), Just("認証"), Just("約1.8万件"), Just("9月7日"),
                ],
                0..30,
            )
        ) {
            let body: String = words.concat();
            let d = draft("", "", &body, 2020, 9, 10);
            let a = Tagger::shared().analyze(&d);
            for t in &a.tags {
                for s in &t.spans {
                    let text = field_text(&d, s.field);
                    prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
                }
            }
        }
    }
}
