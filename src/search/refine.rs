//! Search matches inside the domain compounds the tagger keeps whole.
//!
//! The shared tokenizer's user dictionary keeps taxonomy spellings such as 不正アクセス,
//! 不正利用 or セブンペイ as single tokens, which tagging needs. For search that would hide
//! 不正 (fraud) inside 不正アクセス and 利用 inside 不正利用. So search refines every such
//! compound into the tokens plain IPADIC gives it (不正|アクセス, 不正|利用, セブン|ペイ) —
//! on both sides: the indexed text and the query. Token boundaries of the
//! shared tokenizer are kept, only split further, so `京都` still never matches `東京都`
//! (東京|都), and everything that matched before still matches.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::taxonomy::Fnv;
use crate::tokenize::{Term, Tokenizer, user_dictionary_terms};

/// The taxonomy the shared tokenizer's user dictionary is built from.
const TAXONOMY_ASSET: &str = include_str!("../../assets/taxonomy.toml");

/// Folded compound token → its plain IPADIC tokens.
fn compounds() -> &'static HashMap<String, Vec<String>, Fnv> {
    // Looked up once per indexed token: FNV rather than SipHash.
    static MAP: OnceLock<HashMap<String, Vec<String>, Fnv>> = OnceLock::new();
    MAP.get_or_init(|| {
        let shared = Tokenizer::shared();
        let mut map = HashMap::default();
        // Without the plain tokenizer (it cannot fail on the embedded dictionary) search
        // simply matches whole compounds, as the tagger does.
        let Ok(plain) = Tokenizer::new(&[]) else {
            return map;
        };
        for term in user_dictionary_terms(TAXONOMY_ASSET) {
            let whole = shared.norms(&term);
            if let [one] = whole.as_slice() {
                let parts = plain.norms(&term);
                if parts.len() > 1 {
                    map.insert(one.clone(), parts);
                }
            }
        }
        map
    })
}

/// The parts of a compound token, or `None` for a token that stays whole.
pub fn parts(norm: &str) -> Option<&'static [String]> {
    compounds().get(norm).map(Vec::as_slice)
}

/// Folded tokens with compounds split.
pub fn norms(tokens: Vec<String>) -> Vec<String> {
    let map = compounds();
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        match map.get(&t) {
            Some(parts) => out.extend(parts.iter().cloned()),
            None => out.push(t),
        }
    }
    out
}

/// Terms with compounds split; each part keeps the byte span of its whole compound (so a
/// highlight of 決済 inside 決済サービス marks the compound).
pub fn terms(terms: Vec<Term>) -> Vec<Term> {
    let map = compounds();
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        match map.get(&t.norm) {
            Some(parts) => out.extend(parts.iter().map(|p| Term {
                norm: p.clone(),
                start: t.start,
                end: t.end,
            })),
            None => out.push(t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compounds_split_and_plain_words_stay() {
        let tok = Tokenizer::shared();
        assert_eq!(norms(tok.norms("不正アクセス")), vec!["不正", "アクセス"]);
        assert_eq!(norms(tok.norms("セブンペイ")), vec!["セブン", "ペイ"]);
        assert_eq!(norms(tok.norms("東京都")), vec!["東京", "都"]);
        assert_eq!(norms(tok.norms("京都")), vec!["京都"]);
        let text = "セブンペイで不正利用";
        let t = terms(tok.terms(text));
        let norms: Vec<&str> = t.iter().map(|t| t.norm.as_str()).collect();
        assert_eq!(norms, vec!["セブン", "ペイ", "で", "不正", "利用"]);
        assert_eq!(&text[t[0].start..t[0].end], "セブンペイ");
        assert_eq!(&text[t[1].start..t[1].end], "セブンペイ");
    }
}
