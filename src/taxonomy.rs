//! The domain taxonomy: services, exchanges, threats, controls, actors, incidents.
//!
//! Read from `assets/taxonomy.toml` (built in) and optionally a user file that replaces
//! entries with the same id and adds new ones. Every spelling variant is compiled into the
//! folded token sequence the [`Tokenizer`] gives it, so matching is whole-token and
//! variants such as `Ｊ－Ｃｏｉｎ Ｐａｙ` / `J-Coin Pay` collapse into one phrase.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::model::{Family, TagId};
use crate::tokenize::Tokenizer;

/// The built-in taxonomy file.
pub const BUILTIN_TOML: &str = include_str!("../assets/taxonomy.toml");

/// Where the user's taxonomy file is looked for: `$KESSAI_TAXONOMY`, else `taxonomy.toml`
/// in kessai's config dir (`~/.config/kessai/taxonomy.toml` on Linux).
pub fn user_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KESSAI_TAXONOMY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "kessai").map(|d| d.config_dir().join("taxonomy.toml"))
}

/// Default distance, in terms, within which a context rule looks for its `near` words.
pub const DEFAULT_WINDOW: usize = 12;

/// Why a taxonomy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    /// The user file could not be read.
    #[error("reading taxonomy {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the taxonomy's shape.
    #[error("parsing taxonomy {origin}: {reason}")]
    Parse {
        /// Where the text came from (a path or "built-in").
        origin: String,
        /// The TOML error.
        reason: String,
    },
    /// An entry is malformed.
    #[error("taxonomy {origin}, entry {id:?}: {reason}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// The entry id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Variants that count only in the presence (`near`) or absence (`unless_near`) of other
/// words close by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRule {
    /// The conditional spellings.
    pub variants: Vec<String>,
    /// At least one of these must occur within `window` terms (when non-empty).
    pub near: Vec<String>,
    /// None of these may occur within `window` terms.
    pub unless_near: Vec<String>,
    /// Distance in terms, either side, in the same paragraph.
    pub window: usize,
    /// `near`, compiled.
    pub near_set: PhraseSet<()>,
    /// `unless_near`, compiled.
    pub unless_set: PhraseSet<()>,
    /// At least one of these must occur somewhere in the article (when non-empty).
    pub article_near: Vec<String>,
    /// None of these may occur anywhere in the article.
    pub unless_article_near: Vec<String>,
    /// `article_near`, compiled.
    pub article_set: PhraseSet<()>,
    /// `unless_article_near`, compiled.
    pub unless_article_set: PhraseSet<()>,
}

/// When an incident entry applies to an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRule {
    /// Service, exchange or actor ids; the article must carry at least one (when
    /// non-empty; without subjects, `terms` say what the incident is about).
    pub subjects: Vec<TagId>,
    /// Threat ids; the article must carry at least one.
    pub threats: Vec<TagId>,
    /// First publication date covered (inclusive).
    pub from: NaiveDate,
    /// Last publication date covered (inclusive).
    pub to: NaiveDate,
    /// Extra words of which at least one must occur (when non-empty).
    pub terms: Vec<String>,
    /// `terms`, compiled.
    pub term_set: PhraseSet<()>,
    /// Whether `terms` must occur in the title or lead.
    pub terms_in_lead: bool,
}

/// One taxonomy entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Stable id.
    pub id: TagId,
    /// Family.
    pub family: Family,
    /// Japanese label.
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// Spelling variants as written.
    pub variants: Vec<String>,
    /// Conditional variants.
    pub contexts: Vec<ContextRule>,
    /// For incidents: when the incident applies.
    pub rule: Option<IncidentRule>,
}

/// What a phrase of the index stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhraseTarget {
    /// A plain variant of entry `n` (index into [`Taxonomy::entries`]).
    Entry(usize),
    /// A conditional variant: entry `entry`, its context rule `rule`.
    Context {
        /// Entry index.
        entry: usize,
        /// Index into the entry's `contexts`.
        rule: usize,
    },
    /// An exclusion: consumed without tagging.
    Exclude,
}

/// A compiled spelling: its folded tokens and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// The folded tokens of the first spelling that produced this key.
    pub norms: Vec<String>,
    /// Targets (a conditional spelling may serve several entries, e.g. 流出).
    pub targets: Vec<PhraseTarget>,
}

/// A set of phrases matched against token streams. A phrase's key is the concatenation of
/// its folded tokens; it matches a run of whole tokens whose concatenation equals the key.
/// So segmentation differences (ドコモ|口座 vs ドコモ口座, j|coin|pay vs jcoinpay) do not
/// matter, while a phrase can never start or end inside a token (京都 is not in 東京|都).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseSet<T> {
    keys: HashMap<String, T, Fnv>,
    /// Every prefix (at a char boundary) of every key, the keys included.
    prefixes: HashSet<String, Fnv>,
    /// The first characters of the keys, so that most tokens are turned away without a
    /// hash lookup.
    first_chars: CharFilter,
}

impl<T> Default for PhraseSet<T> {
    fn default() -> Self {
        PhraseSet {
            keys: HashMap::default(),
            prefixes: HashSet::default(),
            first_chars: CharFilter::default(),
        }
    }
}

/// A set of characters that may answer "yes" for characters not in it (4,096 bits indexed
/// by the low bits of the code point), never "no" for one in it.
#[derive(Clone, PartialEq, Eq)]
struct CharFilter([u64; 64]);

impl Default for CharFilter {
    fn default() -> Self {
        CharFilter([0; 64])
    }
}

impl std::fmt::Debug for CharFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "CharFilter({bits} bits)")
    }
}

impl CharFilter {
    fn slot(c: char) -> (usize, u64) {
        let i = (c as usize) & 4095;
        (i >> 6, 1 << (i & 63))
    }
    fn insert(&mut self, c: char) {
        let (w, b) = Self::slot(c);
        self.0[w] |= b;
    }
    fn may_contain(&self, c: char) -> bool {
        let (w, b) = Self::slot(c);
        self.0[w] & b != 0
    }
}

/// FNV-1a: every token of every article is looked up here, and the keys are short words
/// from our own taxonomy, so a fast non-keyed hash fits (SipHash's DoS resistance buys
/// nothing when the attacker cannot choose the table's keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fnv;

/// The state of [`Fnv`].
#[derive(Debug, Clone, Copy)]
pub struct FnvHasher(u64);

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;
    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl<T> PhraseSet<T> {
    /// The value under a key, inserting `make()` first if absent.
    fn entry(&mut self, key: String, make: impl FnOnce() -> T) -> &mut T {
        if let Some(c) = key.chars().next() {
            self.first_chars.insert(c);
        }
        for (i, _) in key.char_indices().skip(1) {
            self.prefixes.insert(key[..i].to_string());
        }
        self.prefixes.insert(key.clone());
        self.keys.entry(key).or_insert_with(make)
    }

    /// The value of exactly this concatenated key.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.keys.get(key)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The longest phrase matching whole tokens from `norms[at]`: how many tokens it spans,
    /// and its value.
    pub fn longest_at<S: AsRef<str>>(&self, norms: &[S], at: usize) -> Option<(usize, &T)> {
        // Most tokens start no phrase: answer those without building a key.
        let first = norms.get(at)?.as_ref();
        if first
            .chars()
            .next()
            .is_some_and(|c| !self.first_chars.may_contain(c))
            || !self.prefixes.contains(first)
        {
            return None;
        }
        let mut buf = String::new();
        let mut best = None;
        for (j, norm) in norms.iter().enumerate().skip(at) {
            buf.push_str(norm.as_ref());
            if !self.prefixes.contains(buf.as_str()) {
                break;
            }
            if let Some(v) = self.keys.get(buf.as_str()) {
                best = Some((j + 1 - at, v));
            }
        }
        best
    }

    /// Whether some phrase matches within `norms[from..to]` (token positions).
    pub fn any_within<S: AsRef<str>>(&self, norms: &[S], from: usize, to: usize) -> bool {
        let to = to.min(norms.len());
        (from..to).any(|i| self.longest_at(&norms[..to], i).is_some())
    }
}

/// The concatenated key of a spelling's folded tokens.
pub fn phrase_key<S: AsRef<str>>(norms: &[S]) -> String {
    norms.iter().map(AsRef::as_ref).collect()
}

/// The taxonomy with its phrase index.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    phrases: PhraseSet<Phrase>,
    /// Spellings of incidents, matched in a pass of their own so that `7pay事件` names
    /// the incident without hiding the service `7pay`.
    incident_phrases: PhraseSet<Phrase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    entry: Vec<RawEntry>,
    #[serde(default)]
    exclude: Vec<RawExclude>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    family: String,
    #[serde(default)]
    label_ja: String,
    #[serde(default)]
    label_en: String,
    #[serde(default)]
    variants: Vec<String>,
    #[serde(default)]
    context: Vec<RawContext>,
    rule: Option<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    variants: Vec<String>,
    #[serde(default)]
    near: Vec<String>,
    #[serde(default)]
    unless_near: Vec<String>,
    #[serde(default)]
    article_near: Vec<String>,
    #[serde(default)]
    unless_article_near: Vec<String>,
    window: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    subjects: Vec<String>,
    threats: Vec<String>,
    from: String,
    to: String,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    terms_in_lead: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclude {
    variants: Vec<String>,
}

impl Taxonomy {
    /// The built-in taxonomy (assets/taxonomy.toml), compiled once per process.
    pub fn builtin() -> &'static Taxonomy {
        static BUILTIN: OnceLock<Taxonomy> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The asset is part of the binary and checked by the tests: a failure here is
            // a build defect, not bad input.
            Taxonomy::from_sources(&[("built-in", BUILTIN_TOML)])
                .unwrap_or_else(|e| panic!("the built-in taxonomy is broken: {e}"))
        })
    }

    /// The built-in taxonomy plus, when given, a user file whose entries replace built-in
    /// entries with the same id and add new ones. A missing user file is not an error.
    pub fn load(user_file: Option<&Path>) -> Result<Taxonomy, TaxonomyError> {
        let Some(path) = user_file else {
            return Ok(Taxonomy::builtin().clone());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Taxonomy::builtin().clone());
            }
            Err(source) => {
                return Err(TaxonomyError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let origin = path.display().to_string();
        Taxonomy::from_sources(&[("built-in", BUILTIN_TOML), (&origin, &text)])
    }

    /// Compiles taxonomy TOML texts, later ones overriding earlier ones by id.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Taxonomy, TaxonomyError> {
        let tokenizer = Tokenizer::shared();
        let mut raw_entries: Vec<(String, RawEntry)> = Vec::new();
        let mut excludes: Vec<String> = Vec::new();
        for (origin, text) in sources {
            let file: RawFile = toml::from_str(text).map_err(|e| TaxonomyError::Parse {
                origin: origin.to_string(),
                reason: e.to_string(),
            })?;
            let mut seen = std::collections::HashSet::new();
            for entry in file.entry {
                if !seen.insert(entry.id.clone()) {
                    return Err(TaxonomyError::Invalid {
                        origin: origin.to_string(),
                        id: entry.id,
                        reason: "duplicate id".into(),
                    });
                }
                match raw_entries.iter_mut().find(|(_, e)| e.id == entry.id) {
                    Some(slot) => *slot = (origin.to_string(), entry),
                    None => raw_entries.push((origin.to_string(), entry)),
                }
            }
            excludes.extend(file.exclude.into_iter().flat_map(|x| x.variants));
        }

        let compile = |s: &str| tokenizer.norms(s);
        let mut entries = Vec::with_capacity(raw_entries.len());
        for (origin, raw) in &raw_entries {
            entries.push(compile_entry(origin, raw, &compile)?);
        }
        let by_id: HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.0.clone(), i))
            .collect();
        // Incident rules must name entries that exist.
        for (entry, (origin, _)) in entries.iter().zip(&raw_entries) {
            if let Some(rule) = &entry.rule {
                for id in rule.subjects.iter().chain(&rule.threats) {
                    if !by_id.contains_key(id.as_str()) {
                        return Err(TaxonomyError::Invalid {
                            origin: origin.clone(),
                            id: entry.id.0.clone(),
                            reason: format!("rule names unknown id {:?}", id.0),
                        });
                    }
                }
            }
        }

        let mut phrases: PhraseSet<Phrase> = PhraseSet::default();
        let mut incident_phrases: PhraseSet<Phrase> = PhraseSet::default();
        let mut add = |norms: Vec<String>, target: PhraseTarget| {
            if norms.is_empty() {
                return;
            }
            let set = match target {
                PhraseTarget::Entry(i) if entries[i].family == Family::Incident => {
                    &mut incident_phrases
                }
                _ => &mut phrases,
            };
            let phrase = set.entry(phrase_key(&norms), || Phrase {
                norms,
                targets: Vec::new(),
            });
            // An exclusion wins over everything else with the same key.
            if phrase.targets.contains(&PhraseTarget::Exclude) {
                return;
            }
            if target == PhraseTarget::Exclude {
                phrase.targets = vec![target];
            } else if !phrase.targets.contains(&target) {
                phrase.targets.push(target);
            }
        };
        for (i, entry) in entries.iter().enumerate() {
            for v in &entry.variants {
                add(compile(v), PhraseTarget::Entry(i));
            }
            for (r, ctx) in entry.contexts.iter().enumerate() {
                for v in &ctx.variants {
                    add(compile(v), PhraseTarget::Context { entry: i, rule: r });
                }
            }
        }
        for v in &excludes {
            add(compile(v), PhraseTarget::Exclude);
        }
        Ok(Taxonomy {
            entries,
            by_id,
            phrases,
            incident_phrases,
        })
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// The index of the entry with this id in [`Taxonomy::entries`].
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The entry one of whose spellings (plain or conditional) is exactly this folded token
    /// sequence — so search can expand `7pay` to セブンペイ and back.
    pub fn entry_for_phrase(&self, norm_terms: &[&str]) -> Option<&Entry> {
        let key = phrase_key(norm_terms);
        let phrase = self
            .phrases
            .get(&key)
            .or_else(|| self.incident_phrases.get(&key))?;
        phrase.targets.iter().find_map(|t| match *t {
            PhraseTarget::Entry(i) | PhraseTarget::Context { entry: i, .. } => {
                Some(&self.entries[i])
            }
            PhraseTarget::Exclude => None,
        })
    }

    /// Every spelling of an entry as folded token sequences (plain variants and conditional
    /// ones), without duplicates, sorted.
    pub fn spellings(&self, id: &str) -> Vec<Vec<String>> {
        let Some(idx) = self.index_of(id) else {
            return Vec::new();
        };
        let mut out: Vec<Vec<String>> = self
            .phrases
            .keys
            .values()
            .chain(self.incident_phrases.keys.values())
            .filter(|p| {
                p.targets.iter().any(|t| match *t {
                    PhraseTarget::Entry(i) | PhraseTarget::Context { entry: i, .. } => i == idx,
                    PhraseTarget::Exclude => false,
                })
            })
            .map(|p| p.norms.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The phrase index (every spelling of every entry but incidents, and the exclusions).
    pub fn phrases(&self) -> &PhraseSet<Phrase> {
        &self.phrases
    }

    /// The spellings of incidents.
    pub fn incident_phrases(&self) -> &PhraseSet<Phrase> {
        &self.incident_phrases
    }
}

fn compile_entry(
    origin: &str,
    raw: &RawEntry,
    compile: &dyn Fn(&str) -> Vec<String>,
) -> Result<Entry, TaxonomyError> {
    let invalid = |reason: String| TaxonomyError::Invalid {
        origin: origin.to_string(),
        id: raw.id.clone(),
        reason,
    };
    if raw.id.is_empty() || raw.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("ids are non-empty and have no spaces".into()));
    }
    let family = Family::parse(&raw.family)
        .ok_or_else(|| invalid(format!("unknown family {:?}", raw.family)))?;
    for v in raw
        .variants
        .iter()
        .chain(raw.context.iter().flat_map(|c| &c.variants))
    {
        if compile(v).is_empty() {
            return Err(invalid(format!("variant {v:?} has no word in it")));
        }
    }
    let contexts = raw
        .context
        .iter()
        .map(|c| ContextRule {
            variants: c.variants.clone(),
            near: c.near.clone(),
            unless_near: c.unless_near.clone(),
            window: c.window.unwrap_or(DEFAULT_WINDOW),
            near_set: compile_set(&c.near, compile),
            unless_set: compile_set(&c.unless_near, compile),
            article_near: c.article_near.clone(),
            unless_article_near: c.unless_article_near.clone(),
            article_set: compile_set(&c.article_near, compile),
            unless_article_set: compile_set(&c.unless_article_near, compile),
        })
        .collect();
    let rule = match &raw.rule {
        None => None,
        Some(r) => {
            if family != Family::Incident {
                return Err(invalid("only incidents have a rule".into()));
            }
            let date = |s: &str| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|e| invalid(format!("date {s:?}: {e}")))
            };
            let (from, to) = (date(&r.from)?, date(&r.to)?);
            if from > to {
                return Err(invalid(format!("rule window {from} is after {to}")));
            }
            if (r.subjects.is_empty() && r.terms.is_empty()) || r.threats.is_empty() {
                return Err(invalid(
                    "a rule needs threats, and subjects or terms".into(),
                ));
            }
            Some(IncidentRule {
                subjects: r.subjects.iter().map(TagId::new).collect(),
                threats: r.threats.iter().map(TagId::new).collect(),
                from,
                to,
                terms: r.terms.clone(),
                term_set: compile_set(&r.terms, compile),
                terms_in_lead: r.terms_in_lead,
            })
        }
    };
    Ok(Entry {
        id: TagId::new(&raw.id),
        family,
        label_ja: raw.label_ja.clone(),
        label_en: raw.label_en.clone(),
        variants: raw.variants.clone(),
        contexts,
        rule,
    })
}

fn compile_set(words: &[String], compile: &dyn Fn(&str) -> Vec<String>) -> PhraseSet<()> {
    let mut set = PhraseSet::default();
    for w in words {
        let norms = compile(w);
        if !norms.is_empty() {
            set.entry(phrase_key(&norms), || ());
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM_IDS: &[(&str, &[&str])] = &[
        (
            "service",
            &[
                "j-coin-pay",
                "7pay",
                "paypay",
                "line-pay",
                "rakuten-pay",
                "d-barai",
                "au-pay",
                "merpay",
                "yucho-pay",
                "famipay",
                "kyash",
                "docomo-koza",
                "bank-pay",
                "suica",
                "nanaco",
                "waon",
                "origami-pay",
                "amazon-pay",
                "japan-post-bank",
                "sbi-securities",
                "mufg-bank",
            ],
        ),
        (
            "exchange",
            &[
                "coincheck",
                "zaif",
                "dmm-bitcoin",
                "bitflyer",
                "bitpoint",
                "liquid",
                "sbi-vc",
                "binance-japan",
            ],
        ),
        (
            "threat",
            &[
                "unauthorized-access",
                "account-takeover",
                "fraudulent-use",
                "data-leak",
                "asset-theft",
                "ransomware",
                "phishing",
                "insider",
                "misconfiguration",
                "outage",
                "vulnerability",
            ],
        ),
        (
            "control",
            &[
                "2fa",
                "3d-secure",
                "ekyc",
                "ip-restriction",
                "cold-wallet",
                "multisig",
            ],
        ),
        (
            "actor",
            &[
                "fsa",
                "meti",
                "npa",
                "ppc",
                "mizuho",
                "seven-and-i",
                "ntt-docomo",
                "softbank",
                "z-holdings",
                "line-corp",
                "rakuten",
                "japan-post",
                "jpcert",
                "ipa",
            ],
        ),
        (
            "incident",
            &[
                "7pay-2019",
                "j-coin-pay-2019",
                "docomo-koza-2020",
                "paypay-merchant-data-2020",
                "line-pay-github-2021",
                "coincheck-nem-2018",
                "zaif-2018",
                "dmm-bitcoin-2024",
                "sbi-securities-2020",
                "japan-post-bank-2020",
                "bitpoint-2019",
                "liquid-quoine-2021",
                "paypay-card-fraud-2018",
                "securities-account-takeover-2025",
                "coincheck-domain-hijack-2020",
            ],
        ),
    ];

    fn tax() -> &'static Taxonomy {
        Taxonomy::builtin()
    }

    fn lookup(phrase: &str) -> Option<&'static str> {
        let norms = Tokenizer::shared().norms(phrase);
        let refs: Vec<&str> = norms.iter().map(String::as_str).collect();
        tax().entry_for_phrase(&refs).map(|e| e.id.as_str())
    }

    #[test]
    fn every_team_id_is_present_with_its_family_and_labels() {
        let mut n = 0;
        for (family, ids) in TEAM_IDS {
            for id in *ids {
                let e = tax().get(id).unwrap_or_else(|| panic!("missing {id}"));
                assert_eq!(e.family.as_str(), *family, "{id}");
                assert!(!e.label_ja.is_empty() && !e.label_en.is_empty(), "{id}");
                if e.family != Family::Incident {
                    assert!(
                        !e.variants.is_empty() || !e.contexts.is_empty(),
                        "{id} has no variants"
                    );
                } else {
                    assert!(e.rule.is_some(), "{id} has no rule");
                }
                n += 1;
            }
        }
        assert_eq!(tax().entries().len(), n, "no entries beyond the team's ids");
    }

    #[test]
    fn every_variant_resolves_to_its_entry() {
        for e in tax().entries() {
            for v in &e.variants {
                assert_eq!(lookup(v), Some(e.id.as_str()), "variant {v:?}");
            }
        }
    }

    #[test]
    fn spelling_variants_collapse() {
        for v in [
            "J-Coin Pay",
            "J-Coin-Pay",
            "J−Coin Pay",
            "Ｊ－Ｃｏｉｎ Ｐａｙ",
            "Ｊ－Ｃｏｉｎ　Ｐａｙ",
            "Jコインペイ",
            "j-coin pay",
        ] {
            assert_eq!(lookup(v), Some("j-coin-pay"), "{v}");
        }
        for v in ["7pay", "7PAY", "セブンペイ", "７ｐａｙ", "ｾﾌﾞﾝﾍﾟｲ"] {
            assert_eq!(lookup(v), Some("7pay"), "{v}");
        }
        for v in [
            "二要素認証",
            "2要素認証",
            "2段階認証",
            "二段階認証",
            "多要素認証",
            "2FA",
            "MFA",
            "２ＦＡ",
            "ｍｆａ",
        ] {
            assert_eq!(lookup(v), Some("2fa"), "{v}");
        }
        for v in ["漏えい", "漏洩"] {
            assert_eq!(lookup(v), Some("data-leak"), "{v}");
        }
    }

    #[test]
    fn non_spellings_do_not_resolve() {
        for v in [
            "セブン-イレブン",
            "セブン",
            "ペイ",
            "ペイント",
            "2段階",
            "京都",
            "PayPay銀行",
        ] {
            assert_eq!(lookup(v), None, "{v}");
        }
    }

    #[test]
    fn incident_rules_are_sane() {
        let e = tax().get("7pay-2019").unwrap();
        let rule = e.rule.as_ref().unwrap();
        assert_eq!(rule.subjects, vec![TagId::new("7pay")]);
        assert!(rule.from <= NaiveDate::from_ymd_opt(2019, 7, 4).unwrap());
    }

    #[test]
    fn user_file_overrides_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taxonomy.toml");
        std::fs::write(
            &path,
            r#"
[[entry]]
id = "kyash"
family = "service"
label_ja = "Kyash"
label_en = "Kyash"
variants = ["Kyash", "キャッシュアプリ"]

[[entry]]
id = "toyota-wallet"
family = "service"
label_ja = "TOYOTA Wallet"
label_en = "TOYOTA Wallet"
variants = ["TOYOTA Wallet", "トヨタウォレット"]
"#,
        )
        .unwrap();
        let t = Taxonomy::load(Some(&path)).unwrap();
        assert_eq!(t.entries().len(), tax().entries().len() + 1);
        let norms = Tokenizer::shared().norms("toyota wallet");
        let refs: Vec<&str> = norms.iter().map(String::as_str).collect();
        assert_eq!(
            t.entry_for_phrase(&refs).unwrap().id.as_str(),
            "toyota-wallet"
        );
        assert_eq!(t.get("kyash").unwrap().variants.len(), 2);
        // A missing user file means the built-in taxonomy.
        let missing = Taxonomy::load(Some(&dir.path().join("nope.toml"))).unwrap();
        assert_eq!(missing.entries().len(), tax().entries().len());
    }

    #[test]
    fn malformed_user_files_are_typed_errors() {
        let bad = [
            ("[[entry]]\nid = \"x\"\n", "parsing"),
            (
                "[[entry]]\nid = \"x\"\nfamily = \"nope\"\n",
                "unknown family",
            ),
            (
                "[[entry]]\nid = \"x\"\nfamily = \"service\"\nvariants = [\"、。\"]\n",
                "no word",
            ),
            (
                "[[entry]]\nid=\"i\"\nfamily=\"incident\"\n[entry.rule]\nsubjects=[\"nope\"]\nthreats=[\"phishing\"]\nfrom=\"2020-01-01\"\nto=\"2020-02-01\"\n",
                "unknown id",
            ),
            (
                "[[entry]]\nid=\"i\"\nfamily=\"incident\"\n[entry.rule]\nsubjects=[\"7pay\"]\nthreats=[\"phishing\"]\nfrom=\"2020-13-01\"\nto=\"2020-02-01\"\n",
                "date",
            ),
            (
                "[[entry]]\nid=\"a\"\nfamily=\"service\"\n[[entry]]\nid=\"a\"\nfamily=\"service\"\n",
                "duplicate",
            ),
            ("\u{0}\u{1}garbage", "parsing"),
        ];
        for (text, want) in bad {
            let err = Taxonomy::from_sources(&[("built-in", BUILTIN_TOML), ("user", text)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text:?} gave {err}");
        }
    }
}
