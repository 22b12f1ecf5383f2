//! Search: the index agrees with the matcher (property tests over random stores), the
//! parser survives anything, and exact result sets over the sample corpus.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use kessai::model::{
    Analysis, Article, ArticleDraft, ArticleId, Family, FeedId, Flags, TagHit, TagId,
};
use kessai::search::{self, Compiled, Doc, Engine, Query, Sort, rank};
use kessai::store::Store;
use kessai::tokenize::Tokenizer;

// ---------------------------------------------------------------- random stores

/// Words that tokenise in interesting ways: 京都 inside 東京都, spellings of one entry,
/// compounds the user dictionary keeps whole, particles.
const WORDS: &[&str] = &[
    "京都",
    "東京都",
    "京都府",
    "決済",
    "サービス",
    "不正",
    "アクセス",
    "不正アクセス",
    "セブンペイ",
    "7pay",
    "Jコインペイ",
    "J-Coin Pay",
    "二段階認証",
    "2FA",
    "漏えい",
    "情報",
    "流出",
    "みずほ銀行",
    "の",
    "が",
    "で",
    "を",
    "停止",
    "発表",
    "暗号資産",
    "PayPay",
    "加盟店",
    "。",
    "、",
    " ",
];

const TAGS: &[(&str, Family)] = &[
    ("7pay", Family::Service),
    ("j-coin-pay", Family::Service),
    ("account-takeover", Family::Threat),
    ("data-leak", Family::Threat),
    ("2fa", Family::Control),
    ("fsa", Family::Actor),
    ("7pay-2019", Family::Incident),
];

const FEEDS: &[&str] = &["paysec", "kinyu", "sec-blog"];

#[derive(Debug, Clone)]
struct Spec {
    title: Vec<usize>,
    summary: Vec<usize>,
    body: Vec<usize>,
    feed: usize,
    published: i64,
    tags: Vec<usize>,
    read: bool,
    starred: bool,
    remove: bool,
    /// Tags after a re-tag, if it is re-tagged.
    retag: Option<Vec<usize>>,
}

fn words(ix: &[usize]) -> String {
    ix.iter().map(|&i| WORDS[i % WORDS.len()]).collect()
}

fn spec() -> impl Strategy<Value = Spec> {
    let w = || proptest::collection::vec(0..WORDS.len(), 0..6);
    (
        proptest::collection::vec(0..WORDS.len(), 1..4),
        w(),
        proptest::collection::vec(0..WORDS.len(), 0..14),
        0..FEEDS.len(),
        // 2019-01-01 .. 2020-12-31, whole seconds.
        1_546_300_800i64..1_609_459_200,
        proptest::collection::vec(0..TAGS.len(), 0..3),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.1),
        proptest::option::weighted(0.2, proptest::collection::vec(0..TAGS.len(), 0..3)),
    )
        .prop_map(
            |(title, summary, body, feed, published, tags, read, starred, remove, retag)| Spec {
                title,
                summary,
                body,
                feed,
                published,
                tags,
                read,
                starred,
                remove,
                retag,
            },
        )
}

fn analysis(tags: &[usize]) -> Analysis {
    let mut ids: Vec<usize> = tags.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Analysis {
        tags: ids
            .into_iter()
            .map(|i| TagHit {
                tag: TagId::new(TAGS[i].0),
                family: TAGS[i].1,
                count: 1,
                spans: vec![],
            })
            .collect(),
        ..Analysis::default()
    }
}

fn draft(n: usize, s: &Spec) -> ArticleDraft {
    let at = Utc.timestamp_opt(s.published, 0).single().unwrap();
    ArticleDraft {
        feed: FeedId::new(FEEDS[s.feed]),
        url: format!("http://127.0.0.1/a/{n}"),
        guid: None,
        title: words(&s.title),
        summary: words(&s.summary),
        body: words(&s.body),
        published: at,
        fetched: at,
        content_hash: format!("h{n}"),
    }
}

/// Fills a temporary store; `merge_after` merges the pending documents once, midway.
fn build(specs: &[Spec], filler: usize, merge_after: usize) -> Store {
    let store = Store::open_temporary().unwrap();
    search::register(&store);
    // Filler articles that are removed again push real ids across several buckets.
    let mut n = 0;
    for (i, s) in specs.iter().enumerate() {
        if i == merge_after {
            search::merge(&store).unwrap();
        }
        if i % 7 == 3 && filler > 0 {
            let batch: Vec<(ArticleDraft, Analysis)> = (0..filler)
                .map(|_| {
                    n += 1;
                    (draft(100_000 + n, s), Analysis::default())
                })
                .collect();
            let ids: Vec<ArticleId> = store
                .insert_many(batch)
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().id())
                .collect();
            if k_merge(i) {
                search::merge(&store).unwrap();
            }
            for id in ids {
                store.remove(id).unwrap();
            }
        }
        let id = store.insert(draft(i, s), &analysis(&s.tags)).unwrap().id();
        store
            .set_flags(
                id,
                Flags {
                    read: s.read,
                    starred: s.starred,
                },
            )
            .unwrap();
    }
    // Re-tags after everything was inserted (tag:, tag:FAMILY must follow).
    for id in store
        .ids_newest_first()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
    {
        let a = store.get(id).unwrap().unwrap();
        let Ok(i) = a.draft.url.rsplit('/').next().unwrap().parse::<usize>() else {
            continue;
        };
        if let Some(tags) = specs.get(i).and_then(|s| s.retag.as_ref()) {
            store.set_analysis(id, &analysis(tags)).unwrap();
        }
    }
    // Removals after everything was inserted (some merged, some pending).
    let ids: Vec<ArticleId> = store.ids_newest_first().map(|r| r.unwrap()).collect();
    for id in ids {
        let a = store.get(id).unwrap().unwrap();
        let i: usize = a.draft.url.rsplit('/').next().unwrap().parse().unwrap();
        if specs.get(i).is_some_and(|s| s.remove) {
            store.remove(id).unwrap();
        }
    }
    store
}

fn k_merge(i: usize) -> bool {
    i % 2 == 1
}

/// A random query tree over the same vocabulary, tags, feeds and dates.
fn query() -> impl Strategy<Value = Query> {
    let text = (
        0..WORDS.len(),
        proptest::option::of(0..WORDS.len()),
        any::<bool>(),
    )
        .prop_map(|(a, b, phrase)| {
            let text = match b {
                Some(b) if phrase => format!("{} {}", WORDS[a], WORDS[b]),
                Some(b) => format!("{}{}", WORDS[a], WORDS[b]),
                None => WORDS[a].to_string(),
            };
            let text = if text.trim().is_empty() {
                "決済".to_string()
            } else {
                text
            };
            let phrase = phrase || text.contains(' ');
            Query::Text {
                text,
                phrase,
                col: 1,
            }
        });
    let day = (0i64..730)
        .prop_map(|d| NaiveDate::from_ymd_opt(2019, 1, 1).unwrap() + chrono::TimeDelta::days(d));
    let leaf = prop_oneof![
        6 => text,
        1 => (0..TAGS.len()).prop_map(|i| Query::Tag { value: TAGS[i].0.to_string(), col: 1 }),
        1 => proptest::sample::select(Family::ALL.to_vec()).prop_map(Query::Family),
        1 => (0..FEEDS.len()).prop_map(|i| Query::Feed(FeedId::new(FEEDS[i]))),
        1 => day.clone().prop_map(Query::Since),
        1 => day.prop_map(Query::Until),
        1 => proptest::sample::select(vec![search::Status::Unread, search::Status::Read, search::Status::Starred])
            .prop_map(Query::Is),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|q| Query::Not(Box::new(q))),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Query::And),
            proptest::collection::vec(inner, 2..4).prop_map(Query::Or),
        ]
    })
}

/// The reference: every stored article through the matcher, scored with the same formula.
fn brute_force(store: &Store, compiled: &Compiled, sort: Sort) -> Vec<rank::Scored> {
    let tok = Tokenizer::shared();
    let mut docs: Vec<(Article, Analysis, Flags, Doc)> = Vec::new();
    for id in store.ids_newest_first() {
        let id = id.unwrap();
        let a = store.get(id).unwrap().unwrap();
        let an = store.analysis(id).unwrap().unwrap_or_default();
        let fl = store.flags(id).unwrap().unwrap_or_default();
        let doc = Doc::new(&a, tok);
        docs.push((a, an, fl, doc));
    }
    let n = docs.len() as u64;
    let mut lens = [0u64; 3];
    for (_, _, _, d) in &docs {
        for (f, l) in d.lengths().iter().enumerate() {
            lens[f] += u64::from(*l);
        }
    }
    let avg = rank::Stats { docs: n, lens }.avg_len();
    let positive = compiled.positive_texts();
    let idfs: Vec<f32> = positive
        .iter()
        .map(|&i| {
            let leaf = &compiled.texts()[i];
            let df = docs.iter().filter(|(_, _, _, d)| d.contains(leaf)).count() as u64;
            rank::idf(n, df)
        })
        .collect();
    let mut out = Vec::new();
    for (a, an, fl, d) in &docs {
        if !compiled.matches(d, a, an, *fl) {
            continue;
        }
        let mut score = 0.0f32;
        if sort == Sort::Relevance {
            let len = rank::weighted_len(d.lengths());
            for (k, &i) in positive.iter().enumerate() {
                let counts = d.counts(&compiled.texts()[i]);
                if counts.iter().any(|&c| c > 0) {
                    score += rank::term_score(idfs[k], counts, len, avg);
                }
            }
        }
        out.push(rank::Scored {
            id: a.id.0,
            published: a.draft.published.timestamp_millis(),
            score,
        });
    }
    out.sort_by(|x, y| rank::order(sort, x, y));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn index_agrees_with_brute_force_scan(
        specs in proptest::collection::vec(spec(), 0..40),
        filler in prop_oneof![Just(0usize), 60usize..300],
        merge_after in 0usize..40,
        queries in proptest::collection::vec(query(), 1..6),
    ) {
        let store = build(&specs, filler, merge_after);
        let engine = Engine::new(&store).unwrap();
        prop_assert!(engine.stale().unwrap().is_none());
        for q in &queries {
            // Through the text form, so the parser is part of the loop.
            let text = q.to_string();
            let parsed = search::parse(&text).unwrap();
            let Ok(compiled) = engine.compile(&parsed) else { continue };
            for sort in [Sort::Relevance, Sort::Date] {
                let want = brute_force(&store, &compiled, sort);
                let got = engine.rank(&compiled, sort, 100_000, None).unwrap();
                let got_ids: Vec<u64> = got.items.iter().map(|s| s.id).collect();
                let want_ids: Vec<u64> = want.iter().map(|s| s.id).collect();
                prop_assert_eq!(&got_ids, &want_ids, "query {} sort {:?}", text, sort);
                if let Some(total) = got.total {
                    prop_assert_eq!(total, want.len() as u64);
                }
                for (g, w) in got.items.iter().zip(&want) {
                    prop_assert_eq!(g.score.to_bits(), w.score.to_bits(), "query {}", text);
                }
                // Paging gives the same list in pieces.
                let mut paged = Vec::new();
                let mut cursor = None;
                for _ in 0..200 {
                    let page = engine.rank(&compiled, sort, 7, cursor).unwrap();
                    paged.extend(page.items.iter().map(|s| s.id));
                    match page.next {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                prop_assert_eq!(&paged, &want_ids, "paged {}", text);
            }
        }
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,200}") {
        if let Err(e) = search::parse(&s) {
            prop_assert!(e.col() >= 1);
            let _ = search::render_caret(&s, e.col(), "  ");
        }
    }

    #[test]
    fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = search::parse(&s).map(|q| search::Compiled::new(&q));
    }
}

// ---------------------------------------------------------------- the sample corpus

#[derive(serde::Deserialize)]
struct SourceFile {
    article: Vec<Source>,
}

#[derive(serde::Deserialize)]
struct Source {
    slug: String,
    published: String,
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    body: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The corpus store: every sample article with its labelled tags (from the corpus labels,
/// so these expectations do not move with the tagger), plus slug ↔ id maps.
struct Corpus {
    store: Store,
    slug_of: HashMap<u64, String>,
    id_of: HashMap<String, u64>,
}

fn corpus() -> Corpus {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let taxonomy = kessai::taxonomy::Taxonomy::builtin();
    let store = Store::open_temporary().unwrap();
    search::register(&store);
    let mut slug_of = HashMap::new();
    let mut id_of = HashMap::new();
    let mut batch = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let outlet = name.split('.').next().unwrap().to_string();
        let src: SourceFile = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for a in src.article {
            let published = DateTime::parse_from_rfc3339(&a.published)
                .unwrap()
                .with_timezone(&Utc);
            let key = format!("{outlet}/{}", a.slug);
            let draft = ArticleDraft {
                feed: FeedId::new(&outlet),
                url: format!("http://127.0.0.1/{key}.html"),
                guid: None,
                title: a.title,
                summary: a.summary,
                body: a.body.join("\n\n"),
                published,
                fetched: published,
                content_hash: key.clone(),
            };
            let analysis = Analysis {
                tags: a
                    .tags
                    .iter()
                    .map(|t| TagHit {
                        tag: TagId::new(t),
                        family: taxonomy
                            .get(t)
                            .unwrap_or_else(|| panic!("label {t}"))
                            .family,
                        count: 1,
                        spans: vec![],
                    })
                    .collect(),
                ..Analysis::default()
            };
            batch.push((key, draft, analysis));
        }
    }
    let results = store
        .insert_many(
            batch
                .iter()
                .map(|(_, d, a)| (d.clone(), a.clone()))
                .collect(),
        )
        .unwrap();
    for ((key, _, _), r) in batch.iter().zip(results) {
        let id = r.unwrap().id().0;
        slug_of.insert(id, key.clone());
        id_of.insert(key.clone(), id);
    }
    Corpus {
        store,
        slug_of,
        id_of,
    }
}

impl Corpus {
    /// The slugs a query finds, sorted.
    fn find(&self, engine: &Engine, q: &str) -> Vec<String> {
        let compiled = engine
            .compile(&search::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let mut out: Vec<String> = engine
            .rank(&compiled, Sort::Relevance, 10_000, None)
            .unwrap()
            .items
            .iter()
            .map(|s| self.slug_of[&s.id].clone())
            .collect();
        out.sort();
        out
    }
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const J_COIN_PAY: &[&str] = &[
    "bank-it/2019-09-05-mizuho-j-coin-pay",
    "cashless-now/2019-09-05-j-coin-pay-kameiten",
    "cryptowatch/2019-09-06-j-coin-pay-bitcoin-yokyu",
    "fintech-journal/2019-09-05-j-coin-pay-18000ken",
    "kinyu-shimbun/2019-03-04-j-coin-pay-kaishi",
    "kinyu-shimbun/2019-09-09-j-coin-pay-rouei",
    "paysec/2019-09-04-j-coin-pay-test-kankyo",
    "press/2019-09-04-j-coin-pay-test-kankyo",
    "sec-blog/2019-09-06-j-coin-pay-ip-seigen",
    "sec-blog/2020-12-09-paypay-kengen-settei",
    "sec-blog/2021-03-01-test-kankyou-koukai",
];

const SEVEN_PAY: &[&str] = &[
    "bank-it/2019-07-05-keisansho-code-kessai-yosei",
    "bank-it/2019-08-02-7pay-haishi-808nin",
    "cashless-now/2019-07-03-sevenpay-charge-teishi",
    "cashless-now/2019-07-05-sevenpay-taiho",
    "cashless-now/2019-08-01-sevenpay-haishi",
    "fintech-journal/2019-07-11-7pay-1574nin",
    "fintech-journal/2019-09-05-j-coin-pay-18000ken",
    "kinyu-shimbun/2019-07-16-7pay-sekou-keisansho",
    "kinyu-shimbun/2019-08-05-sevenpay-haishi",
    "paysec/2019-07-04-7pay-fusei-riyou",
    "paysec/2019-07-12-7pay-houkoku-choushu",
    "press/2019-07-04-7pay-owabi",
    "press/2019-08-01-7pay-haishi",
    "sec-blog/2019-07-05-7pay-2fa",
    "sec-blog/2019-09-06-j-coin-pay-ip-seigen",
    "sec-blog/2020-07-01-7pay-ichinen",
];

/// Exact result sets over the sample corpus for every operator and the traps. The lists
/// were checked against the article sources (grep), not copied from the engine.
#[test]
fn corpus_exact_result_sets() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let cases: &[(&str, &[&str])] = &[
        // The trap: 東京都 is 東京|都, so 京都 finds only the two articles about Kyoto.
        (
            "京都",
            &[
                "bank-it/2023-04-03-chihouzei-qr",
                "cashless-now/2021-07-16-kyoto-tokyo-cashless-kangen",
            ],
        ),
        // 東京都内 is 東京|都内: only the four that write 東京都 followed by another word.
        (
            "東京都",
            &[
                "bank-it/2023-04-03-chihouzei-qr",
                "cashless-now/2019-07-05-sevenpay-taiho",
                "kinyu-shimbun/2019-07-15-seven-eleven-okinawa",
                "press/2021-08-02-fusei-kenchi-service",
            ],
        ),
        // Spellings of one taxonomy entry find each other (J-Coin Pay, J-Coin-Pay,
        // Ｊ－Ｃｏｉｎ Ｐａｙ, Jコインペイ are all in the corpus).
        ("\"J-Coin Pay\"", J_COIN_PAY),
        ("J-Coin Pay", J_COIN_PAY),
        ("Jコインペイ", J_COIN_PAY),
        ("ジェイコインペイ", J_COIN_PAY),
        ("Ｊ－Ｃｏｉｎ　Ｐａｙ", J_COIN_PAY),
        ("7pay", SEVEN_PAY),
        ("セブンペイ", SEVEN_PAY),
        ("７ｐａｙ", SEVEN_PAY),
        // Phrases versus loose terms: 海外のIPアドレス has 海外 and IP, never adjacent.
        ("\"海外 IP\"", &[]),
        (
            "海外 IP",
            &[
                "cashless-now/2019-07-05-sevenpay-taiho",
                "paysec/2019-07-04-7pay-fusei-riyou",
                "sec-blog/2019-07-05-7pay-2fa",
            ],
        ),
        (
            "\"パスワード リスト\"",
            &["sec-blog/2018-08-20-password-tsukaimawashi"],
        ),
        (
            "パスワード リスト",
            &[
                "sec-blog/2018-08-20-password-tsukaimawashi",
                "sec-blog/2020-09-18-sbi-securities-shukkinsaki",
            ],
        ),
        // NOT / -term: 7pay articles that never mention any spelling of 2FA.
        (
            "7pay -二段階認証",
            &[
                "cashless-now/2019-07-03-sevenpay-charge-teishi",
                "fintech-journal/2019-09-05-j-coin-pay-18000ken",
                "press/2019-07-04-7pay-owabi",
                "press/2019-08-01-7pay-haishi",
                "sec-blog/2019-09-06-j-coin-pay-ip-seigen",
            ],
        ),
        (
            "7pay NOT 2FA",
            &[
                "cashless-now/2019-07-03-sevenpay-charge-teishi",
                "fintech-journal/2019-09-05-j-coin-pay-18000ken",
                "press/2019-07-04-7pay-owabi",
                "press/2019-08-01-7pay-haishi",
                "sec-blog/2019-09-06-j-coin-pay-ip-seigen",
            ],
        ),
        // Parentheses, OR and a tag family: mentions outside incident reporting.
        (
            "(7pay OR \"J-Coin Pay\") -tag:incident",
            &[
                "kinyu-shimbun/2019-03-04-j-coin-pay-kaishi",
                "sec-blog/2021-03-01-test-kankyou-koukai",
            ],
        ),
        // tag:ID
        (
            "tag:dmm-bitcoin-2024",
            &[
                "bank-it/2024-12-25-sbi-vc-dmm-saishu-goi",
                "cryptowatch/2024-05-31-dmm-bitcoin-4502btc",
                "cryptowatch/2024-12-03-dmm-bitcoin-haigyo",
                "fintech-journal/2024-09-26-dmm-bitcoin-gyomu-kaizen",
                "kinyu-shimbun/2024-12-30-dmm-bitcoin-tradertraitor",
                "press/2024-05-31-dmm-bitcoin-ryushutsu",
                "sec-blog/2024-12-25-dmm-bitcoin-tradertraitor",
            ],
        ),
        // feed:
        (
            "tag:7pay-2019 feed:press",
            &[
                "press/2019-07-04-7pay-owabi",
                "press/2019-08-01-7pay-haishi",
            ],
        ),
        // since:/until: (days in Japan time, both ends included).
        (
            "tag:7pay-2019 since:2019-07-05 until:2019-07-31",
            &[
                "bank-it/2019-07-05-keisansho-code-kessai-yosei",
                "cashless-now/2019-07-05-sevenpay-taiho",
                "fintech-journal/2019-07-11-7pay-1574nin",
                "kinyu-shimbun/2019-07-16-7pay-sekou-keisansho",
                "paysec/2019-07-12-7pay-houkoku-choushu",
                "sec-blog/2019-07-05-7pay-2fa",
            ],
        ),
        (
            "セブンペイ until:2019-07-04",
            &[
                "cashless-now/2019-07-03-sevenpay-charge-teishi",
                "paysec/2019-07-04-7pay-fusei-riyou",
                "press/2019-07-04-7pay-owabi",
            ],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(c.find(&engine, q), sorted(want), "query {q}");
    }

    // OR is the union of its sides.
    let zaif = c.find(&engine, "zaif");
    let coincheck = c.find(&engine, "coincheck");
    let mut union: Vec<String> = zaif.iter().chain(&coincheck).cloned().collect();
    union.sort();
    union.dedup();
    assert_eq!(c.find(&engine, "zaif OR coincheck"), union);
    assert_eq!(union.len(), 22);
    assert!(zaif.len() >= 5 && coincheck.len() >= 10);
    // Coincheck's katakana spelling is the same entry.
    assert_eq!(c.find(&engine, "コインチェック"), coincheck);

    // Spellings of 2FA find each other.
    let twofa = c.find(&engine, "2FA");
    assert_eq!(twofa.len(), 44);
    for q in [
        "二要素認証",
        "2要素認証",
        "二段階認証",
        "2段階認証",
        "MFA",
        "多要素認証",
    ] {
        assert_eq!(c.find(&engine, q), twofa, "{q}");
    }
}

/// The labels say which articles carry which tags: `tag:` queries must agree with them.
#[test]
fn corpus_tag_queries_agree_with_labels() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let taxonomy = kessai::taxonomy::Taxonomy::builtin();
    let labels = kessai::sample::labels().unwrap();
    let with = |pred: &dyn Fn(&[TagId]) -> bool| -> Vec<String> {
        let mut v: Vec<String> = labels
            .iter()
            .filter(|l| pred(&l.tags))
            .map(|l| format!("{}/{}", l.outlet, l.slug))
            .collect();
        v.sort();
        v
    };
    for family in Family::ALL {
        let want = with(&|tags| {
            tags.iter()
                .any(|t| taxonomy.get(t.as_str()).is_some_and(|e| e.family == family))
        });
        assert!(!want.is_empty());
        assert_eq!(
            c.find(&engine, &format!("tag:{}", family.as_str())),
            want,
            "{family:?}"
        );
    }
    for id in ["7pay", "2fa", "fsa", "coincheck-nem-2018", "phishing"] {
        assert_eq!(
            c.find(&engine, &format!("tag:{id}")),
            with(&|tags| tags.iter().any(|t| t.as_str() == id)),
            "{id}"
        );
    }
    // A spelling in tag: names the entry.
    assert_eq!(
        c.find(&engine, "tag:セブンペイ"),
        c.find(&engine, "tag:7pay")
    );
    // Articles with no tag at all, through NOT only.
    let untagged = with(&|tags| tags.is_empty());
    let q = Family::ALL
        .map(|f| format!("-tag:{}", f.as_str()))
        .join(" ");
    assert_eq!(c.find(&engine, &q), untagged);
    // A tag and a word: the store filter and the text index together.
    let mut want: Vec<String> = with(&|tags| tags.iter().any(|t| t.as_str() == "fsa"));
    let seven = c.find(&engine, "7pay");
    want.retain(|s| seven.contains(s));
    assert_eq!(c.find(&engine, "7pay tag:fsa"), want);
    assert!(!want.is_empty());
}

#[test]
fn reading_state_filters() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let read = [
        "paysec/2019-07-04-7pay-fusei-riyou",
        "press/2019-07-04-7pay-owabi",
        "kinyu-shimbun/2019-03-04-j-coin-pay-kaishi",
    ];
    for s in read {
        c.store
            .set_flags(
                ArticleId(c.id_of[s]),
                Flags {
                    read: true,
                    starred: false,
                },
            )
            .unwrap();
    }
    c.store
        .set_flags(
            ArticleId(c.id_of["press/2019-08-01-7pay-haishi"]),
            Flags {
                read: false,
                starred: true,
            },
        )
        .unwrap();
    assert_eq!(
        c.find(&engine, "is:starred"),
        vec!["press/2019-08-01-7pay-haishi"]
    );
    assert_eq!(
        c.find(&engine, "7pay is:read"),
        sorted(&[
            "paysec/2019-07-04-7pay-fusei-riyou",
            "press/2019-07-04-7pay-owabi"
        ])
    );
    assert_eq!(c.find(&engine, "is:read"), sorted(&read));
    let unread_7pay = c.find(&engine, "7pay is:unread");
    assert_eq!(unread_7pay.len(), SEVEN_PAY.len() - 2);
    assert_eq!(c.find(&engine, "7pay -is:read"), unread_7pay);
    assert_eq!(c.find(&engine, "is:unread").len(), 171 - 3);
}

/// Relevance puts title hits first; date order is newest first; pages add up.
#[test]
fn ranking_and_paging() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let q = search::parse("7pay").unwrap();
    let r = engine.search(&q, 5, None).unwrap();
    assert_eq!(r.total, Some(SEVEN_PAY.len() as u64));
    assert_eq!(r.hits.len(), 5);
    for hit in &r.hits {
        let t = kessai::tokenize::fold(&hit.article.draft.title);
        assert!(
            t.contains("7pay") || t.contains("セブン"),
            "title hit first: {t}"
        );
        assert!(
            hit.title.parts.iter().any(|p| p.hit),
            "title highlighted: {t}"
        );
    }
    let scores: Vec<f32> = r.hits.iter().map(|h| h.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.search(&q, 5, cursor).unwrap();
        all.extend(page.hits.iter().map(|h| h.id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), SEVEN_PAY.len());
    let by_date = engine.search_by(&q, Sort::Date, 100, None).unwrap();
    let dates: Vec<DateTime<Utc>> = by_date
        .hits
        .iter()
        .map(|h| h.article.draft.published)
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(by_date.hits.len(), SEVEN_PAY.len());
    // Filters only: newest first, straight from the store's indexes.
    let f = engine
        .search(&search::parse("tag:7pay-2019").unwrap(), 3, None)
        .unwrap();
    assert_eq!(f.hits.len(), 3);
    assert!(f.next.is_some());
    assert_eq!(f.hits[0].article.draft.published, {
        let mut d: Vec<_> = SEVEN_PAY
            .iter()
            .map(|s| {
                c.store
                    .get(ArticleId(c.id_of[*s]))
                    .unwrap()
                    .unwrap()
                    .draft
                    .published
            })
            .collect();
        d.sort();
        *d.last().unwrap()
    });
}

#[test]
fn snippets_mark_hits_and_stay_clean() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let r = engine
        .search(&search::parse("京都").unwrap(), 10, None)
        .unwrap();
    assert_eq!(r.hits.len(), 2);
    for hit in &r.hits {
        let marked: Vec<&str> = hit
            .snippet
            .parts
            .iter()
            .chain(&hit.title.parts)
            .filter(|p| p.hit)
            .map(|p| p.text.as_str())
            .collect();
        assert!(!marked.is_empty());
        assert!(marked.iter().all(|m| m.contains("京都")), "{marked:?}");
        let shown = hit.snippet.to_terminal(true);
        assert!(shown.contains("\x1b[1m京都"), "{shown}");
        assert!(!hit.snippet.to_terminal(false).contains('\x1b'));
    }
}

/// Malformed queries: the error names the column (1-based, in characters).
#[test]
fn malformed_queries_point_at_the_column() {
    let store = Store::open_temporary().unwrap();
    let engine = Engine::new(&store).unwrap();
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty"),
        ("京都 \"J-Coin Pay", 4, "never closed"),
        ("京都 \"\"", 4, "empty phrase"),
        ("(7pay OR セブンペイ", 1, "never closed"),
        ("7pay)", 5, "without a matching"),
        ("7pay ()", 6, "empty parentheses"),
        ("OR 7pay", 1, "OR needs"),
        ("7pay OR", 6, "OR needs"),
        ("7pay AND", 6, "AND needs"),
        ("7pay NOT", 6, "NOT needs"),
        ("京都 - 東京", 4, "'-' needs"),
        ("京都 foo:bar", 4, "unknown field"),
        ("tag:", 5, "needs a value"),
        ("since:2019-02-30", 7, "not a date"),
        ("7pay until:2019/08/01", 12, "not a date"),
        ("is:new", 4, "unknown state"),
        ("セブンペイ tag:no-such-tag", 11, "unknown tag"),
        ("京都 OR ・・・", 7, "no searchable words"),
    ];
    for (q, col, msg) in cases {
        let err = match search::parse(q) {
            Err(e) => e,
            Ok(parsed) => engine.compile(&parsed).unwrap_err(),
        };
        assert_eq!(err.col(), *col, "{q}: {err}");
        let text = err.to_string();
        assert!(text.contains(msg), "{q}: {text}");
        assert!(text.starts_with(&format!("column {col}: ")), "{text}");
        assert!(!text.contains('\n'));
    }
    let too_long = "a ".repeat(1500);
    assert!(matches!(
        search::parse(&too_long),
        Err(search::QueryError::TooLong { .. })
    ));
}

// ---------------------------------------------------------------- the command line

/// A store on disk with a few articles, one of them with a hostile title.
fn disk_store(dir: &std::path::Path) {
    let store = Store::open(dir).unwrap();
    search::register(&store);
    let mk = |n: usize, title: &str, body: &str, published: &str| ArticleDraft {
        feed: FeedId::new(if n % 2 == 0 {
            "paysec"
        } else {
            "金融新聞ニュース速報版"
        }),
        url: format!("http://127.0.0.1/cli/{n}"),
        guid: None,
        title: title.into(),
        summary: String::new(),
        body: body.into(),
        published: at(published),
        fetched: at(published),
        content_hash: format!("cli{n}"),
    };
    let items = vec![
        (
            mk(
                0,
                "京都の店舗でコード決済の還元",
                "京都府内の店で使える。",
                "2021-07-16T01:00:00Z",
            ),
            analysis(&[]),
        ),
        (
            mk(
                1,
                "東京都の説明会",
                "東京都内で開かれた。",
                "2021-07-17T01:00:00Z",
            ),
            analysis(&[]),
        ),
        (
            mk(
                2,
                "Jコインペイ\u{1b}[31m 障害\u{202e}告知",
                "テスト環境にJ-Coin Payの加盟店情報。\u{1b}]0;pwned\u{7}京都",
                "2019-09-04T01:00:00Z",
            ),
            analysis(&[1]),
        ),
    ];
    for r in store.insert_many(items).unwrap() {
        r.unwrap();
    }
    store.flush().unwrap();
}

fn kessai(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("kessai").unwrap();
    cmd.arg("--store").arg(dir).env_remove("KESSAI_STORE");
    cmd
}

#[test]
fn cli_search_prints_results_json_and_saved_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    disk_store(&dir);

    // Text: date (Japan time), source, title, snippet; no escapes when not a terminal.
    let out = kessai(&dir)
        .args(["search", "京都"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("2021-07-16  paysec"), "{text}");
    assert!(!text.contains("東京都の説明会"), "{text}");
    assert!(
        text.contains("Jコインペイ 障害告知"),
        "hostile title cleaned: {text}"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains("pwned\u{7}"));
    assert!(text.contains("2 results"), "{text}");

    // JSON for tools.
    let out = kessai(&dir)
        .args(["search", "--json", "--limit", "1", "J-Coin Pay"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["hits"].as_array().unwrap().len(), 1);
    assert_eq!(v["hits"][0]["feed"], "paysec");
    assert!(
        v["hits"][0]["snippet_parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["hit"] == true)
    );

    // Options before the query let -word reach it.
    let out = kessai(&dir)
        .args(["search", "--json", "京都", "-障害"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["total"], 1);

    // Sort by date, paging.
    let out = kessai(&dir)
        .args([
            "search",
            "--json",
            "--sort",
            "date",
            "--limit",
            "1",
            "京都 OR 東京",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["total"], 3);
    assert_eq!(v["next"], 1);
    assert!(
        v["hits"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("東京都")
    );

    // A malformed query: one line naming the column, exit 1.
    let assert = kessai(&dir).args(["search", "京都 (東京"]).assert().code(1);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("kessai: bad query: column 4: this parenthesis is never closed"),
        "{err}"
    );

    // Saved searches.
    kessai(&dir)
        .args(["search", "--save", "京都", "京都 -東京"])
        .assert()
        .success();
    kessai(&dir)
        .args(["search", "--save", "bad", "a OR"])
        .assert()
        .code(1);
    let out = kessai(&dir)
        .args(["search", "--saved"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("京都  京都 -東京"), "{text}");
    assert!(!text.contains("bad"));
    let out = kessai(&dir)
        .args(["search", "--json", "--run", "京都"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["total"], 2);
    kessai(&dir)
        .args(["search", "--delete", "京都"])
        .assert()
        .success();
    kessai(&dir)
        .args(["search", "--run", "京都"])
        .assert()
        .code(1);

    // Reindex rebuilds the same answers.
    let out = kessai(&dir)
        .arg("reindex")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("indexed 3 articles")
    );
    let out = kessai(&dir)
        .args(["search", "--json", "京都"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["total"], 2);
    assert!(v["stale"].is_null());
}

#[test]
fn stale_index_is_reported_and_reindex_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        // Articles written by a process that did not register the search indexer.
        let store = Store::open(&dir).unwrap();
        let d = draft(
            0,
            &Spec {
                title: vec![0],
                summary: vec![],
                body: vec![3],
                feed: 0,
                published: 1_600_000_000,
                tags: vec![],
                read: false,
                starred: false,
                remove: false,
                retag: None,
            },
        );
        store.insert(d, &Analysis::default()).unwrap();
        store.flush().unwrap();
    }
    let assert = kessai(&dir).args(["search", "京都"]).assert().success();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("covers 0 of 1 articles; run `kessai reindex`"),
        "{err}"
    );
    kessai(&dir).arg("reindex").assert().success();
    let assert = kessai(&dir).args(["search", "京都"]).assert().success();
    assert!(assert.get_output().stderr.is_empty());
    assert!(
        String::from_utf8(assert.get_output().stdout.clone())
            .unwrap()
            .contains("1 result")
    );
}

/// Rebuilding through the store (`kessai store rebuild` with the indexer registered) and
/// through `search::rebuild` give the same index answers as incremental inserts.
#[test]
fn rebuilds_agree_with_incremental_index() {
    let c = corpus();
    let engine = Engine::new(&c.store).unwrap();
    let queries = [
        "京都",
        "7pay -二段階認証",
        "\"J-Coin Pay\" OR tag:exchange",
        "-tag:incident 不正",
    ];
    let before: Vec<Vec<String>> = queries.iter().map(|q| c.find(&engine, q)).collect();
    c.store.rebuild_keeping_analysis().unwrap();
    let after: Vec<Vec<String>> = queries.iter().map(|q| c.find(&engine, q)).collect();
    assert_eq!(before, after);
    let report = search::rebuild(&c.store, &mut |_| {}).unwrap();
    assert_eq!(report.articles, 171);
    let again: Vec<Vec<String>> = queries.iter().map(|q| c.find(&engine, q)).collect();
    assert_eq!(before, again);
    assert!(engine.stale().unwrap().is_none());
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `kessai reindex` over ids spread across many buckets (blocks kept open in memory between
/// writes) gives exactly the answers of the incremental index; an unfinished rebuild shows.
#[test]
fn reindex_over_many_buckets_agrees_with_incremental_index() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let specs: Vec<Spec> = (0..60)
        .map(|_| proptest::strategy::ValueTree::current(&spec().new_tree(&mut runner).unwrap()))
        .collect();
    let store = build(&specs, 250, 30);
    let engine = Engine::new(&store).unwrap();
    let queries = [
        "京都",
        "決済 -不正",
        "\"J-Coin Pay\" OR 7pay",
        "tag:threat 漏えい",
        "-tag:service",
        "is:unread 決済",
        "since:2020-01-01 東京都",
    ];
    let run = |q: &str| {
        let c = engine.compile(&search::parse(q).unwrap()).unwrap();
        engine
            .rank(&c, Sort::Relevance, 10_000, None)
            .unwrap()
            .items
    };
    let before: Vec<_> = queries.iter().map(|q| run(q)).collect();
    assert!(before.iter().any(|r| !r.is_empty()));
    let report = search::rebuild(&store, &mut |_| {}).unwrap();
    assert_eq!(report.articles, store.article_count().unwrap());
    let after: Vec<_> = queries.iter().map(|q| run(q)).collect();
    assert_eq!(before, after);
    assert!(engine.stale().unwrap().is_none());
    // New articles after the rebuild land in the right buckets too.
    let d = draft(999, &specs[0]);
    store.insert(d, &Analysis::default()).unwrap();
    assert!(engine.stale().unwrap().is_none());
    // An interrupted rebuild leaves its mark, which search reports.
    store
        .write(|b| -> Result<(), kessai::store::StoreError> {
            b.insert("search", b"m/rebuilding".to_vec(), vec![1])
        })
        .unwrap();
    assert!(engine.stale().unwrap().is_some_and(|s| s.rebuilding));
}

/// The corpus through the real pipeline (loopback sample server → ingest → tagger → store,
/// the search indexer registered): the index covers every stored article and the traps
/// and spellings behave as over the corpus sources.
#[test]
fn pipeline_ingest_keeps_the_index_current() {
    use kessai::config::{Config, FeedConfig, FeedFormat};
    use kessai::fetch::NetworkScope;
    use kessai::ingest::Ingest;
    use kessai::sample::{self, SampleOptions, SampleServer};

    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let feeds: Vec<FeedConfig> = server
        .outlets()
        .iter()
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
            if o.format == sample::FeedFormat::HtmlList {
                f.format = FeedFormat::HtmlList;
            }
            f
        })
        .collect();
    let mut config = Config::with_feeds(feeds.clone());
    config.settings.per_host_concurrency = 8;
    config.limits.request_timeout_secs = 10;
    let store = Store::open_temporary().unwrap();
    search::register(&store);
    let report = Ingest::new(config, store.clone(), NetworkScope::LoopbackOnly)
        .unwrap()
        .run_blocking(&feeds, None)
        .unwrap();
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(store.article_count().unwrap(), 171);
    let engine = Engine::new(&store).unwrap();
    assert!(engine.stale().unwrap().is_none());
    let slugs = |q: &str| -> Vec<String> {
        let r = engine
            .search(&search::parse(q).unwrap(), 100, None)
            .unwrap();
        let mut v: Vec<String> = r
            .hits
            .iter()
            .map(|h| {
                let path = h.article.draft.url.rsplit('/').next().unwrap().to_string();
                format!(
                    "{}/{}",
                    h.article.draft.feed,
                    path.trim_end_matches(".html")
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        slugs("京都"),
        sorted(&[
            "bank-it/2023-04-03-chihouzei-qr",
            "cashless-now/2021-07-16-kyoto-tokyo-cashless-kangen",
        ])
    );
    assert_eq!(slugs("\"J-Coin Pay\""), slugs("Jコインペイ"));
    assert_eq!(slugs("\"J-Coin Pay\"").len(), J_COIN_PAY.len());
    assert_eq!(slugs("7pay"), slugs("セブンペイ"));
    assert_eq!(slugs("7pay").len(), SEVEN_PAY.len());
    // The tagger's tags, through the facet sets, agree with the store's own tag index.
    for tag in ["7pay-2019", "j-coin-pay-2019", "coincheck-nem-2018"] {
        let filter = kessai::store::ListFilter {
            tag: Some(TagId::new(tag)),
            ..Default::default()
        };
        let page = store.page(&filter, None, 1000).unwrap();
        let c = engine
            .compile(&search::parse(&format!("tag:{tag} -is:starred")).unwrap())
            .unwrap();
        let ranked = engine.rank(&c, Sort::Date, 1000, None).unwrap();
        let mut a: Vec<u64> = page.items.iter().map(|i| i.0).collect();
        let mut b: Vec<u64> = ranked.items.iter().map(|s| s.id).collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{tag}");
        assert!(!a.is_empty());
    }
}
