//! Alert evaluation benchmark: 1,000 subscriptions against 10,000 new articles.
//!
//! Queries are parsed and compiled once; each article is tokenised once (timed apart: in
//! kessai the tagger and the search indexer tokenise the same text); subscriptions are
//! indexed by anchor so most are skipped. The naive loop (every query on every article) runs
//! beside it as a cross-check: both must find the same matches.
//!
//! Run: `cargo bench --bench alerts` (optionally `-- SUBS ARTICLES`).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kessai::alerts::eval::{Scratch, SubscriptionSet};
use kessai::alerts::{SinkSpec, Subscription};
use kessai::model::{
    Analysis, Article, ArticleDraft, ArticleId, Family, FeedId, Flags, TagHit, TagId,
};
use kessai::search::Doc;
use kessai::taxonomy::Taxonomy;
use kessai::tokenize::Tokenizer;

/// A small deterministic generator (no dependency, same data every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "決済",
    "加盟店",
    "口座",
    "送金",
    "残高",
    "チャージ",
    "認証",
    "暗号資産",
    "取引所",
    "顧客",
    "流出",
    "障害",
    "復旧",
    "調査",
    "公表",
    "被害",
    "補償",
    "再発防止",
    "委託先",
    "監査",
    "規制",
    "業界",
    "利用者",
    "アプリ",
    "サーバー",
    "パスワード",
    "メール",
    "通知",
    "対策",
    "報告",
    "キャンペーン",
    "ポイント",
    "還元",
    "手数料",
    "提携",
    "開始",
    "終了",
    "発表",
    "記者会見",
    "株価",
];
const KANA: &[&str] = &[
    "ア", "カ", "サ", "タ", "ナ", "ハ", "マ", "ヤ", "ラ", "ワ", "キ", "シ", "チ", "ニ", "ヒ", "ミ",
    "リ", "ク", "ス", "ツ", "ヌ", "フ", "ム", "ユ", "ル", "ケ", "セ", "テ", "ネ", "ヘ", "メ", "レ",
    "コ", "ソ", "ト", "ノ", "ホ", "モ", "ヨ", "ロ",
];
const SUFFIXES: &[&str] = &["銀行", "証券", "ペイ", "カード", "信販", "通信"];

/// Made-up company names (three katakana and a suffix): the names analysts watch for.
fn companies(n: usize, rng: &mut Lcg) -> Vec<String> {
    (0..n)
        .map(|_| {
            format!(
                "{}{}{}{}",
                rng.pick(KANA),
                rng.pick(KANA),
                rng.pick(KANA),
                rng.pick(SUFFIXES)
            )
        })
        .collect()
}
const FILLER: &[&str] = &[
    "同社は{}について詳しい経緯を調べている。",
    "関係者によると、{}の影響は限定的だという。",
    "{}をめぐっては、利用者から問い合わせが相次いだ。",
    "専門家は{}への備えが欠かせないと指摘する。",
    "今後の{}の動向が注目される。",
];

fn variants_of(tax: &Taxonomy) -> Vec<(TagId, Family, Vec<String>)> {
    tax.entries()
        .iter()
        .map(|e| (e.id.clone(), e.family, e.variants.clone()))
        .filter(|(_, _, v)| !v.is_empty())
        .collect()
}

fn subscriptions(
    n: usize,
    rng: &mut Lcg,
    tax: &Taxonomy,
    companies: &[String],
) -> Vec<Subscription> {
    let entries = variants_of(tax);
    let families = [
        "service", "exchange", "threat", "control", "actor", "incident",
    ];
    (0..n)
        .map(|i| {
            let (id, _, vars) = rng.pick(&entries);
            let (id2, _, _) = rng.pick(&entries);
            let word = rng.pick(WORDS);
            let company = rng.pick(companies);
            // A mix of what analysts keep: a tag, two tags, a company name, a spelling
            // without some tag, a family with words, a feed with a word, and a few
            // unanchored ones (only NOT and dates) that must be evaluated on every article.
            let query = match rng.below(50) {
                0..=14 => format!("tag:{id}"),
                15..=22 => format!("tag:{id} tag:{id2}"),
                23..=32 => format!("\"{company}\""),
                33..=35 => format!("\"{}\" -tag:{id2}", rng.pick(vars)),
                36..=38 => format!(
                    "({company} OR {}) tag:{}",
                    rng.pick(companies),
                    rng.pick(&families)
                ),
                39..=41 => format!("feed:feed{} {word}", rng.below(20)),
                42..=44 => format!("{company} OR tag:{id}"),
                45..=48 => format!("\"{}\" {word}", rng.pick(vars)),
                _ => format!("-tag:{id} since:2026-11-01"),
            };
            Subscription {
                name: format!("sub{i:04}"),
                query,
                sinks: vec![SinkSpec::Notice],
                paused: false,
                created: Utc::now(),
            }
        })
        .collect()
}

fn article(
    i: u64,
    rng: &mut Lcg,
    tax: &[(TagId, Family, Vec<String>)],
    companies: &[String],
) -> (Article, Analysis) {
    let mut tags: Vec<TagHit> = Vec::new();
    let mut mention = |rng: &mut Lcg| -> String {
        let (id, fam, vars) = rng.pick(tax);
        if !tags.iter().any(|t| &t.tag == id) {
            tags.push(TagHit {
                tag: id.clone(),
                family: *fam,
                count: 1,
                spans: vec![],
            });
        }
        rng.pick(vars).clone()
    };
    let title = format!(
        "{}で{}、{}が{}",
        mention(rng),
        mention(rng),
        rng.pick(WORDS),
        rng.pick(WORDS)
    );
    let summary = format!(
        "{}は{}に関する{}を{}した。",
        rng.pick(companies),
        mention(rng),
        rng.pick(WORDS),
        rng.pick(WORDS)
    );
    let mut body = String::new();
    for _ in 0..24 {
        let w = if rng.below(10) == 0 {
            mention(rng)
        } else if rng.below(6) == 0 {
            rng.pick(companies).clone()
        } else {
            rng.pick(WORDS).to_string()
        };
        body.push_str(&rng.pick(FILLER).replace("{}", &w));
        if rng.below(5) == 0 {
            body.push_str("\n\n");
        }
    }
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
    let a = Article {
        id: ArticleId(i),
        draft: ArticleDraft {
            feed: FeedId::new(format!("feed{}", rng.below(20))),
            url: format!("http://127.0.0.1/a/{i}"),
            guid: None,
            title,
            summary,
            body,
            published: t,
            fetched: t,
            content_hash: i.to_string(),
        },
    };
    tags.sort_by(|a, b| (a.family, &a.tag).cmp(&(b.family, &b.tag)));
    (
        a,
        Analysis {
            tags,
            ..Default::default()
        },
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_subs = args.first().copied().unwrap_or(1_000);
    let n_articles = args.get(1).copied().unwrap_or(10_000);

    let t = Instant::now();
    let tokenizer = Tokenizer::shared();
    let tax = Taxonomy::builtin();
    let load = t.elapsed();

    let mut rng = Lcg(0x6b65_7373_6169);
    let companies = companies(400, &mut rng);
    let subs = subscriptions(n_subs, &mut rng, tax, &companies);
    let t = Instant::now();
    let set = SubscriptionSet::build_with(subs.clone(), tokenizer, tax);
    let compile = t.elapsed();
    assert!(set.broken().is_empty(), "{:?}", set.broken());
    // The naive cross-check compiles the same queries again, outside the timed part.
    let naive: Vec<_> = subs
        .iter()
        .map(|s| {
            kessai::search::Compiled::with(
                &kessai::search::parse(&s.query).unwrap(),
                tokenizer,
                tax,
            )
            .unwrap()
        })
        .collect();

    let entries = variants_of(tax);
    let mut tokenize = Duration::ZERO;
    let mut evaluate = Duration::ZERO;
    let mut naive_time = Duration::ZERO;
    let mut matches = 0usize;
    let mut candidates = 0usize;
    let mut bytes = 0usize;
    let mut scratch = Scratch::default();
    for i in 0..n_articles {
        let (a, an) = article(i as u64 + 1, &mut rng, &entries, &companies);
        bytes += a.draft.title.len() + a.draft.summary.len() + a.draft.body.len();
        let t = Instant::now();
        let doc = Doc::new(&a, tokenizer);
        tokenize += t.elapsed();

        let t = Instant::now();
        let found = set.matching(&doc, &a, &an, &mut scratch).len();
        evaluate += t.elapsed();
        matches += found;
        candidates += set.candidate_count(&doc, &a, &an, &mut scratch);

        let t = Instant::now();
        let direct = naive
            .iter()
            .filter(|q| q.matches(&doc, &a, &an, Flags::default()))
            .count();
        naive_time += t.elapsed();
        assert_eq!(found, direct, "article {i}: index and matcher disagree");
    }

    println!("alerts bench: {n_subs} subscriptions × {n_articles} new articles");
    println!(
        "  tokenizer + taxonomy load        {:>9.3} s",
        load.as_secs_f64()
    );
    println!(
        "  parse + compile + index queries  {:>9.3} s",
        compile.as_secs_f64()
    );
    println!(
        "  tokenise articles once           {:>9.3} s  ({:.1} MB of text)",
        tokenize.as_secs_f64(),
        bytes as f64 / 1e6
    );
    println!(
        "  evaluate (indexed)               {:>9.3} s  ({:.1} candidates/article of {}, {} matches)",
        evaluate.as_secs_f64(),
        candidates as f64 / n_articles as f64,
        set.len(),
        matches
    );
    println!(
        "  evaluate (naive, for comparison) {:>9.3} s",
        naive_time.as_secs_f64()
    );
    println!(
        "  compile + evaluate               {:>9.3} s  (goal < 2 s)",
        (compile + evaluate).as_secs_f64()
    );
}
