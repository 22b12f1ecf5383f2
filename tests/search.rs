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
    )
        .prop_map(
            |(title, summary, body, feed, published, tags, read, starred, remove)| Spec {
                title,
                summary,
                body,
                feed,
                published,
                tags,
                read,
                starred,
                remove,
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
            published: a.draft.published.timestamp(),
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

/// Published time helper for the exact tests.
#[allow(dead_code)]
fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[allow(dead_code)]
fn ids_of(engine: &Engine, q: &str) -> Vec<u64> {
    let compiled = engine.compile(&search::parse(q).unwrap()).unwrap();
    engine
        .rank(&compiled, Sort::Relevance, 10_000, None)
        .unwrap()
        .items
        .iter()
        .map(|s| s.id)
        .collect()
}

#[allow(dead_code)]
type Labels = HashMap<String, Vec<String>>;
