//! Japanese tokenisation with lindera, and the text folding tagging and search share.
//!
//! [`fold`] is the ONE normalisation: NFKC, ASCII lowercase, dash variants unified to `-`,
//! wave dashes to `~`, variation selectors dropped; katakana stays katakana. The
//! [`Tokenizer`] folds the text first, segments the folded text with lindera (IPADIC plus a
//! user dictionary generated from the taxonomy asset, so domain terms stay whole) and maps
//! every token back to byte offsets in the ORIGINAL text.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

use lindera::dictionary::{DictionaryBuilder, load_dictionary};
use lindera::mode::Mode;
use lindera::segmenter::Segmenter;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// The taxonomy asset; its spelling variants feed the user dictionary of
/// [`Tokenizer::shared`]. (The tokenizer reads the asset itself because `taxonomy` sits to
/// its right in the module order.)
const TAXONOMY_ASSET: &str = include_str!("../assets/taxonomy.toml");

/// Why a tokenizer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// The embedded IPADIC dictionary did not load.
    #[error("loading the IPADIC dictionary: {reason}")]
    Dictionary {
        /// lindera's message.
        reason: String,
    },
    /// The generated user dictionary was rejected by lindera.
    #[error("building the user dictionary from {terms} terms: {reason}")]
    UserDictionary {
        /// How many terms it had.
        terms: usize,
        /// lindera's message.
        reason: String,
    },
}

/// One token of a text: its folded form and where it sits in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The folded token ([`fold`] of the token's text).
    pub norm: String,
    /// Start byte offset in the original text (a char boundary).
    pub start: usize,
    /// End byte offset in the original text (exclusive, a char boundary).
    pub end: usize,
}

/// Where a token sits: its folded form as a range of the [`Folded`] text it came from
/// ([`Folded::norm`]), and its range in the original text. [`Term`] without the allocation,
/// for callers that tokenize a lot (the tagger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSpan {
    /// Start byte offset of the folded token in [`Folded::as_str`].
    pub norm_start: usize,
    /// End byte offset (exclusive) of the folded token in [`Folded::as_str`].
    pub norm_end: usize,
    /// Start byte offset in the original text (a char boundary).
    pub start: usize,
    /// End byte offset in the original text (exclusive, a char boundary).
    pub end: usize,
}

/// Folds text for matching: NFKC, ASCII lowercase, dash variants to `-`, wave dashes to
/// `~`, variation selectors dropped. Katakana and hiragana are kept as they are.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_group(text, |_, _, group| fold_group_into(group, &mut out));
    out
}

/// Whether [`fold`]`(text)` contains one of `needles` (lower-case ASCII), folding only the
/// runs of text between kana, kanji and CJK punctuation: those fold to themselves and never
/// to ASCII, so an ASCII needle lies within one run. For long Japanese prose, where the
/// runs are a few Latin words.
pub fn fold_contains_ascii(text: &str, needles: &[&str]) -> bool {
    let mut run_start: Option<usize> = None;
    let check = |run: &str| {
        let folded = fold(run);
        needles.iter().any(|n| folded.contains(n))
    };
    for (i, c) in text.char_indices() {
        if is_stable(c) {
            if let Some(s) = run_start.take() {
                if check(&text[s..i]) {
                    return true;
                }
            }
        } else if run_start.is_none() {
            run_start = Some(i);
        }
    }
    run_start.is_some_and(|s| check(&text[s..]))
}

/// Text folded together with the map back to the original text.
#[derive(Debug, Clone)]
pub struct Folded {
    text: String,
    /// For every byte of `text` (and one past the end): the original byte offset of the
    /// start of the character group that produced it.
    orig: Vec<u32>,
}

impl Folded {
    /// Folds `text` ([`fold`]) and remembers where every folded byte came from.
    pub fn new(text: &str) -> Folded {
        let mut out = String::with_capacity(text.len());
        let mut orig: Vec<u32> = Vec::with_capacity(text.len() + 1);
        for_each_group(text, |start, _end, group| {
            let before = out.len();
            fold_group_into(group, &mut out);
            // Offsets fit in u32: the tagger refuses nothing, but texts over 4 GiB cannot
            // reach here (feeds and pages are size-bounded long before).
            orig.extend(std::iter::repeat_n(start as u32, out.len() - before));
        });
        orig.push(text.len() as u32);
        Folded { text: out, orig }
    }

    /// The folded text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The length in bytes of the original text.
    pub fn original_len(&self) -> usize {
        self.orig.last().map_or(0, |&n| n as usize)
    }

    /// The folded token of a span from [`Tokenizer::spans_of`] on this text.
    pub fn norm(&self, span: &TermSpan) -> &str {
        self.text
            .get(span.norm_start..span.norm_end)
            .unwrap_or_default()
    }

    /// The original byte range (char boundaries) a folded byte range came from.
    pub fn original_range(&self, start: usize, end: usize) -> std::ops::Range<usize> {
        let s = self.start(start);
        s..self.end(end).max(s)
    }

    /// Original start offset for a folded start offset.
    fn start(&self, i: usize) -> usize {
        self.orig[i.min(self.orig.len() - 1)] as usize
    }

    /// Original end offset (exclusive) for a folded end offset: the end of the group that
    /// holds byte `i - 1`.
    fn end(&self, i: usize) -> usize {
        let last = self.orig.len() - 1;
        let i = i.min(last);
        if i == 0 {
            return self.orig[0] as usize;
        }
        let group = self.orig[i - 1];
        let mut j = i;
        while j < last && self.orig[j] == group {
            j += 1;
        }
        self.orig[j] as usize
    }
}

/// Calls `f(start, end, group)` for every character group of `text`: a base character with
/// the combining marks (and half-width sound marks) that follow it, which NFKC may merge.
fn for_each_group(text: &str, mut f: impl FnMut(usize, usize, &str)) {
    let mut start;
    let mut iter = text.char_indices().peekable();
    while let Some((i, _)) = iter.next() {
        start = i;
        while let Some(&(_, next)) = iter.peek() {
            if joins_previous(next) {
                iter.next();
            } else {
                break;
            }
        }
        let end = iter.peek().map_or(text.len(), |&(j, _)| j);
        f(start, end, &text[start..end]);
    }
}

/// Characters that NFKC may compose with the character before them.
fn joins_previous(c: char) -> bool {
    if c.is_ascii() || is_stable(c) {
        return false;
    }
    matches!(c, '\u{FF9E}' | '\u{FF9F}' | '\u{3099}' | '\u{309A}')
        || is_variation_selector(c)
        || canonical_combining_class(c) != 0
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Characters NFKC leaves alone and folding keeps: kana, the long-vowel mark, CJK
/// ideographs, Japanese punctuation and brackets. Most of a Japanese text, so it skips the
/// normaliser.
fn is_stable(c: char) -> bool {
    matches!(c,
        '\u{3001}'..='\u{301B}' // 、。〃 and brackets (not 〜 U+301C)
        | '\u{3041}'..='\u{3096}' // hiragana (not the combining marks)
        | '\u{309D}'..='\u{309E}'
        | '\u{30A1}'..='\u{30FE}' // katakana, ・, ー
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{3400}'..='\u{4DBF}')
}

/// Folds one character group onto `out`.
fn fold_group_into(group: &str, out: &mut String) {
    if group.is_ascii() {
        out.extend(group.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    let mut chars = group.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if is_stable(c) {
            out.push(c);
            return;
        }
    }
    for c in group.nfkc() {
        match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{2043}' | '\u{FE58}' | '\u{FE63}' => {
                out.push('-')
            }
            '\u{301C}' | '\u{3030}' | '\u{FF5E}' => out.push('~'),
            c if is_variation_selector(c) => {}
            c => out.push(c.to_ascii_lowercase()),
        }
    }
}

/// Whether a token carries no word: only whitespace, punctuation and symbols.
fn is_wordless(s: &str) -> bool {
    !s.chars().any(|c| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else if is_stable(c) {
            // Kana and ideographs are letters; the CJK punctuation block and ・ are not.
            !matches!(c, '\u{3001}'..='\u{301B}' | '\u{30FB}')
        } else {
            c.is_alphanumeric()
        }
    })
}

/// The lindera segmenter with the domain user dictionary.
pub struct Tokenizer {
    segmenter: Segmenter,
    user_terms: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("user_terms", &self.user_terms)
            .finish_non_exhaustive()
    }
}

thread_local! {
    // Reusing the lattice between calls spares an allocation per sentence.
    static LATTICE: RefCell<lindera::dictionary::Lattice> = RefCell::new(Default::default());
}

impl Tokenizer {
    /// The process-wide tokenizer: IPADIC plus the user dictionary generated from the built-in
    /// taxonomy, built on first use.
    pub fn shared() -> &'static Tokenizer {
        static SHARED: OnceLock<Tokenizer> = OnceLock::new();
        SHARED.get_or_init(|| {
            let terms = user_dictionary_terms(TAXONOMY_ASSET);
            match Tokenizer::new(&terms) {
                Ok(t) => t,
                // The terms come from our own asset, so this is a build defect; keep going
                // without the user dictionary rather than refusing to tag (multi-token
                // matching still finds every variant).
                Err(_) => Tokenizer::new(&[])
                    .unwrap_or_else(|e| panic!("the embedded IPADIC dictionary is broken: {e}")),
            }
        })
    }

    /// A tokenizer whose user dictionary keeps `terms` whole. Terms are folded first; terms
    /// with whitespace, commas or quotes, and pure-ASCII terms are left out (they are matched
    /// as token sequences instead, which keeps `7pay` from splitting `17payment`).
    pub fn new(terms: &[String]) -> Result<Tokenizer, TokenizeError> {
        let dictionary =
            load_dictionary("embedded://ipadic").map_err(|e| TokenizeError::Dictionary {
                reason: e.to_string(),
            })?;
        let csv = user_dictionary_csv(terms);
        let user_terms = csv.lines().count();
        let user_dictionary = if user_terms == 0 {
            None
        } else {
            let builder = DictionaryBuilder::new((*dictionary.metadata).clone());
            Some(
                builder
                    .build_user_dict_from_reader(csv.as_bytes())
                    .map_err(|e| TokenizeError::UserDictionary {
                        terms: user_terms,
                        reason: e.to_string(),
                    })?,
            )
        };
        Ok(Tokenizer {
            segmenter: Segmenter::new(Mode::Normal, dictionary, user_dictionary),
            user_terms,
        })
    }

    /// How many entries the user dictionary has.
    pub fn user_terms(&self) -> usize {
        self.user_terms
    }

    /// The words of `text`, folded, with their byte offsets in `text`. Tokens made only of
    /// whitespace, punctuation or symbols are dropped.
    pub fn terms(&self, text: &str) -> Vec<Term> {
        if text.is_empty() {
            return Vec::new();
        }
        self.terms_of(&Folded::new(text))
    }

    /// [`Tokenizer::terms`] of an already folded text (offsets into its original text).
    pub fn terms_of(&self, folded: &Folded) -> Vec<Term> {
        self.spans_of(folded)
            .into_iter()
            .map(|t| Term {
                norm: folded.norm(&t).to_string(),
                start: t.start,
                end: t.end,
            })
            .collect()
    }

    /// [`Tokenizer::terms_of`] as spans: the same tokens, none of them copied.
    pub fn spans_of(&self, folded: &Folded) -> Vec<TermSpan> {
        let mut spans = Vec::new();
        let text = folded.text.as_str();
        if text.is_empty() {
            return spans;
        }
        let mut push_token = |s: usize, e: usize| {
            let Some(token) = text.get(s..e) else {
                return;
            };
            // IPADIC groups unknown katakana across the middle dot (キャッシュレス・ビジョン is
            // one unknown word): the parts are the words.
            let mut part_start = s;
            for part in token.split('・') {
                let part_end = part_start + part.len();
                if !part.is_empty() && !is_wordless(part) {
                    spans.push(TermSpan {
                        norm_start: part_start,
                        norm_end: part_end,
                        start: folded.start(part_start),
                        end: folded.end(part_end),
                    });
                }
                part_start = part_end + '・'.len_utf8();
            }
        };
        // lindera only fails on internal errors; an untokenizable text yields no terms.
        LATTICE.with(|lattice| match lattice.try_borrow_mut() {
            Ok(mut lattice) => {
                if let Ok(tokens) = self
                    .segmenter
                    .segment_with_lattice(Cow::Borrowed(text), &mut lattice)
                {
                    tokens
                        .iter()
                        .for_each(|t| push_token(t.byte_start, t.byte_end));
                }
            }
            // Re-entrant use on one thread (not expected): use a fresh lattice.
            Err(_) => {
                if let Ok(tokens) = self.segmenter.segment(Cow::Borrowed(text)) {
                    tokens
                        .iter()
                        .for_each(|t| push_token(t.byte_start, t.byte_end));
                }
            }
        });
        spans
    }

    /// The folded tokens of a short phrase (a taxonomy variant or a query word).
    pub fn norms(&self, phrase: &str) -> Vec<String> {
        self.terms(phrase).into_iter().map(|t| t.norm).collect()
    }

    /// lindera's bare segmentation of `text` (no folding, no offset mapping): the baseline
    /// the tagging benchmark compares against. Returns the number of tokens.
    pub fn segment_count(&self, text: &str) -> usize {
        self.segmenter
            .segment(Cow::Borrowed(text))
            .map_or(0, |tokens| tokens.len())
    }
}

/// A stretch of a text tokenized on its own: where it starts in the text, its folded form
/// and its tokens (original offsets relative to the stretch).
#[derive(Debug, Clone)]
pub struct Piece {
    /// Byte offset of the stretch in its text (a line start).
    pub offset: usize,
    /// The stretch, folded.
    pub folded: Folded,
    /// Its tokens ([`Tokenizer::spans_of`] of `folded`).
    pub spans: Vec<TermSpan>,
}

/// An article's title, summary and body as tokenized for tagging, kept so that the search
/// and alert indexes do not segment the same text again (segmentation is most of the CPU of
/// a fetch). Each field holds whole-line pieces in text order; lines between pieces (the
/// boilerplate the tagger skips) are tokenized when [`ArticleTokens::terms`] asks for them.
/// lindera cuts its sentences at every newline, so a field read piece by piece gives the
/// same tokens as the whole field at once.
#[derive(Debug, Clone, Default)]
pub struct ArticleTokens {
    fields: [Vec<Piece>; 3],
}

impl ArticleTokens {
    /// Adds a piece of field `field` (0 title, 1 summary, 2 body). Pieces must come in text
    /// order without overlapping; one that does not is dropped (its lines are then
    /// tokenized again on demand, which gives the same tokens).
    pub fn push(&mut self, field: usize, piece: Piece) {
        let Some(pieces) = self.fields.get_mut(field) else {
            return;
        };
        let after_last = pieces
            .last()
            .is_none_or(|p| p.offset + p.folded.original_len() <= piece.offset);
        if after_last {
            pieces.push(piece);
        }
    }

    /// The pieces of a field.
    pub fn pieces(&self, field: usize) -> &[Piece] {
        self.fields.get(field).map_or(&[][..], Vec::as_slice)
    }

    /// The terms of field `field` whose text is `text` (the text the pieces were cut from),
    /// as [`Tokenizer::terms`] gives them: the kept pieces' tokens, and the lines between
    /// them tokenized now.
    pub fn terms(&self, field: usize, text: &str, tokenizer: &Tokenizer) -> Vec<Term> {
        let mut out = Vec::new();
        self.for_each_term(field, text, tokenizer, |norm, start, end| {
            out.push(Term {
                norm: norm.to_string(),
                start,
                end,
            })
        });
        out
    }

    /// [`ArticleTokens::terms`] without a `String` per term: `f(norm, start, end)` for each
    /// in order.
    pub fn for_each_term(
        &self,
        field: usize,
        text: &str,
        tokenizer: &Tokenizer,
        mut f: impl FnMut(&str, usize, usize),
    ) {
        let mut pos = 0;
        let gap = |from: usize, to: usize, f: &mut dyn FnMut(&str, usize, usize)| {
            if let Some(g) = text.get(from..to).filter(|g| !g.trim().is_empty()) {
                for t in tokenizer.terms(g) {
                    f(&t.norm, t.start + from, t.end + from);
                }
            }
        };
        for p in self.pieces(field) {
            let end = p.offset + p.folded.original_len();
            // A piece that does not fit the text (not cut from it) is not used.
            if p.offset < pos || end > text.len() {
                continue;
            }
            gap(pos, p.offset, &mut f);
            for s in &p.spans {
                f(p.folded.norm(s), s.start + p.offset, s.end + p.offset);
            }
            pos = end;
        }
        gap(pos, text.len(), &mut f);
    }
}

/// Every spelling variant in a taxonomy TOML text (the strings of every `variants` array,
/// at any depth). Context and rule words stay out: they match as token sequences anyway,
/// and whole tokens such as キャッシュレス決済 would hide キャッシュレス from search.
pub fn user_dictionary_terms(taxonomy_toml: &str) -> Vec<String> {
    fn walk(value: &toml::Value, key: Option<&str>, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(v, Some(k), out)),
            toml::Value::Array(a) => {
                for v in a {
                    match v {
                        toml::Value::String(s) if matches!(key, Some("variants")) => {
                            out.push(s.clone())
                        }
                        other => walk(other, key, out),
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = taxonomy_toml.parse::<toml::Table>() {
        walk(&toml::Value::Table(value), None, &mut out);
    }
    out
}

/// IPADIC's context id of 名詞,一般 (left-id.def / right-id.def), given to domain terms so
/// that lindera connects them to particles and nouns like any noun. (The simple 3-column
/// form gets context 0, BOS/EOS, which makes a following particle so costly that lindera
/// prefers to split the term.)
const NOUN_CONTEXT_ID: u16 = 1285;

/// Word cost of a domain term: low enough that a known term beats IPADIC's pieces.
const TERM_COST: i16 = -5000;

/// The user dictionary CSV (IPADIC's 13 columns) for the given terms.
fn user_dictionary_csv(terms: &[String]) -> String {
    let mut surfaces: Vec<String> = terms
        .iter()
        .map(|t| fold(t))
        .filter(|t| {
            !t.is_empty()
                && !t.is_ascii()
                && !t.chars().any(|c| c.is_whitespace() || c.is_control())
                && !t.contains([',', '"', '、', '。'])
        })
        .collect();
    surfaces.sort();
    surfaces.dedup();
    let mut csv = String::new();
    for s in surfaces {
        csv.push_str(&format!(
            "{s},{NOUN_CONTEXT_ID},{NOUN_CONTEXT_ID},{TERM_COST},名詞,一般,*,*,*,*,{s},*,*\n"
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norms(text: &str) -> Vec<String> {
        Tokenizer::shared().norms(text)
    }

    #[test]
    fn fold_unifies_width_case_and_dashes() {
        assert_eq!(fold("Ｊ－Ｃｏｉｎ　Ｐａｙ"), "j-coin pay");
        assert_eq!(fold("J−Coin Pay"), "j-coin pay");
        assert_eq!(fold("J‐Coin—Pay"), "j-coin-pay");
        assert_eq!(fold("７ｐａｙ"), "7pay");
        assert_eq!(fold("ｾﾌﾞﾝﾍﾟｲ"), "セブンペイ");
        assert_eq!(fold("ｰ"), "ー");
        assert_eq!(fold("9月～10月"), "9月~10月");
        assert_eq!(fold("セブン＆アイ"), "セブン&アイ");
        assert_eq!(fold("ｄ払い"), "d払い");
        // katakana stays katakana, hiragana stays hiragana
        assert_eq!(fold("ゆうちょ・ユウチョ"), "ゆうちょ・ユウチョ");
    }

    #[test]
    fn fold_contains_ascii_agrees_with_folding_everything() {
        let needles = ["copyright", "all rights reserved"];
        for text in [
            "記事本文。Copyright © 2026 Kinyu Inc. All rights reserved.",
            "本文の途中にＣＯＰＹＲＩＧＨＴと全角で書く。",
            "コピーライトは無い。JPCERT/CCが発表した。",
            "copy本right",
            "ガ\u{3099}copyright",
            "カ\u{3099}ALL RIGHTS\u{3000}RESERVED",
            "",
            "all rights reserved",
        ] {
            let expected = needles.iter().any(|n| fold(text).contains(n));
            assert_eq!(fold_contains_ascii(text, &needles), expected, "{text:?}");
        }
    }

    #[test]
    fn fold_drops_variation_selectors_and_composes_marks() {
        assert_eq!(fold("葛\u{E0100}飾"), "葛飾");
        assert_eq!(fold("カ\u{3099}"), "ガ");
    }

    #[test]
    fn terms_map_back_to_original_offsets() {
        let text = "Ｊ－Ｃｏｉｎ　Ｐａｙで不正アクセス";
        let terms = Tokenizer::shared().terms(text);
        for t in &terms {
            assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
            assert_eq!(fold(&text[t.start..t.end]), t.norm, "{t:?}");
        }
        let pay = terms.iter().find(|t| t.norm == "pay").unwrap();
        assert_eq!(&text[pay.start..pay.end], "Ｐａｙ");
    }

    #[test]
    fn half_width_kana_maps_to_whole_original_chars() {
        let text = "ｾﾌﾞﾝﾍﾟｲが停止";
        let terms = Tokenizer::shared().terms(text);
        assert_eq!(terms[0].norm, "セブンペイ");
        assert_eq!(&text[terms[0].start..terms[0].end], "ｾﾌﾞﾝﾍﾟｲ");
    }

    #[test]
    fn user_dictionary_keeps_domain_terms_whole() {
        assert!(Tokenizer::shared().user_terms() > 50);
        assert!(norms("Jコインペイで不正アクセス").contains(&"jコインペイ".to_string()));
        assert!(norms("7payは二段階認証がなかった").contains(&"二段階認証".to_string()));
        assert!(norms("ドコモ口座の不正出金").contains(&"ドコモ口座".to_string()));
    }

    #[test]
    fn tokens_do_not_cross_word_boundaries() {
        // IPADIC reads 東京都 as 東京|都: 京都 is never a token of it.
        assert!(!norms("東京都").contains(&"京都".to_string()));
        assert!(norms("京都府").contains(&"京都".to_string()));
        assert!(!norms("ペイントを塗る").contains(&"ペイ".to_string()));
    }

    #[test]
    fn middle_dot_separates_words() {
        let text = "「キャッシュレス・ビジョン」を公表";
        let terms = Tokenizer::shared().terms(text);
        let words: Vec<&str> = terms.iter().map(|t| t.norm.as_str()).collect();
        assert!(
            words.starts_with(&["キャッシュレス", "ビジョン"]),
            "{words:?}"
        );
        assert_eq!(&text[terms[1].start..terms[1].end], "ビジョン");
        assert!(norms("ｷｬｯｼｭﾚｽ･ﾋﾞｼﾞｮﾝ").starts_with(&["キャッシュレス".to_string()]));
    }

    #[test]
    fn punctuation_and_spaces_are_dropped() {
        let n = norms("J-Coin Pay、7pay。 「PayPay」");
        assert!(n.iter().all(|t| !is_wordless(t)), "{n:?}");
    }

    #[test]
    fn asset_terms_are_collected() {
        let terms = user_dictionary_terms(TAXONOMY_ASSET);
        assert!(terms.iter().any(|t| t == "Jコインペイ"));
        let csv = user_dictionary_csv(&terms);
        assert!(
            !csv.contains("\n7pay,"),
            "ASCII terms stay out of the user dictionary"
        );
        assert!(user_dictionary_terms("not toml [[[").is_empty());
    }

    #[test]
    fn spans_are_the_terms_uncopied() {
        let text = "Ｊ－Ｃｏｉｎ　Ｐａｙで「キャッシュレス・ビジョン」、ｾﾌﾞﾝﾍﾟｲが停止。";
        let folded = Folded::new(text);
        let spans = Tokenizer::shared().spans_of(&folded);
        let terms = Tokenizer::shared().terms(text);
        assert_eq!(spans.len(), terms.len());
        for (s, t) in spans.iter().zip(&terms) {
            assert_eq!(folded.norm(s), t.norm);
            assert_eq!((s.start, s.end), (t.start, t.end));
        }
    }

    #[test]
    fn empty_and_whitespace_text() {
        assert!(Tokenizer::shared().terms("").is_empty());
        assert!(Tokenizer::shared().terms(" \n\t　").is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn terms_never_panic_and_stay_on_char_boundaries(text in "\\PC{0,80}") {
            let terms = Tokenizer::shared().terms(&text);
            for t in terms {
                prop_assert!(t.start <= t.end && t.end <= text.len());
                prop_assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
            }
        }

        #[test]
        fn terms_on_mixed_scripts(text in "[ａ-ｚＡ-Ｚ０-９ｱ-ﾝﾞﾟ\u{3099}\u{FE0F}ア-ン一-龥a-z0-9 \\-－―。、\n]{0,60}") {
            let terms = Tokenizer::shared().terms(&text);
            for t in terms {
                prop_assert!(t.start <= t.end && t.end <= text.len());
                prop_assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
            }
        }

        #[test]
        fn fold_contains_ascii_is_fold_then_contains(
            text in "[a-zA-Zａ-ｚＡ-Ｚ0-9 ©\u{3000}\u{3099}\u{FF9E}\u{FE0F}ア-ン一-龥ｱ-ﾝ。、(){}]{0,60}",
        ) {
            let needles = ["copyright", "all rights reserved", "ab", "c"];
            let expected = needles.iter().any(|n| fold(&text).contains(n));
            prop_assert_eq!(fold_contains_ascii(&text, &needles), expected);
        }

        #[test]
        fn fold_contains_ascii_on_any_text(text in "\\PC{0,60}") {
            let needles = ["a", "c", "1", " ", "-"];
            let expected = needles.iter().any(|n| fold(&text).contains(n));
            prop_assert_eq!(fold_contains_ascii(&text, &needles), expected);
        }

        #[test]
        fn fold_is_idempotent(text in "\\PC{0,40}") {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once.clone());
        }
    }
}
