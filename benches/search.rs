//! Search benchmark: 100,000 generated Japanese articles (corpus sentences recombined,
//! deterministic), index build time and size, and latency of a mixed query set.
//!
//! Run: `cargo bench --bench search` (release build). `KESSAI_BENCH_ARTICLES=N` changes the
//! size. Prints a Markdown section for benches/RESULTS.md.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};

use kessai::model::{Analysis, ArticleDraft, ArticleId, FeedId, Flags, TagHit};
use kessai::search::{self, Engine, Sort};
use kessai::store::Store;

/// SplitMix64: a small deterministic generator, so every run builds the same articles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(serde::Deserialize)]
struct SourceFile {
    article: Vec<Source>,
}

#[derive(serde::Deserialize)]
struct Source {
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    body: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// Titles, sentences and tag sets of the sample corpus.
struct Material {
    titles: Vec<String>,
    sentences: Vec<String>,
    tag_sets: Vec<Vec<String>>,
}

fn material() -> Material {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus sources")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut m = Material {
        titles: Vec::new(),
        sentences: Vec::new(),
        tag_sets: Vec::new(),
    };
    for f in files {
        let src: SourceFile =
            toml::from_str(&std::fs::read_to_string(&f).expect("read")).expect("toml");
        for a in src.article {
            m.titles.push(a.title);
            for para in std::iter::once(&a.summary).chain(&a.body) {
                for s in para.split_inclusive('。') {
                    if s.chars().count() > 8 {
                        m.sentences.push(s.to_string());
                    }
                }
            }
            m.tag_sets.push(a.tags);
        }
    }
    m
}

const FEEDS: usize = 60;

fn article(rng: &mut Rng, m: &Material, n: usize) -> (ArticleDraft, Analysis) {
    let taxonomy = kessai::taxonomy::Taxonomy::builtin();
    let title = m.titles[rng.below(m.titles.len())].clone();
    let summary = m.sentences[rng.below(m.sentences.len())].clone();
    let paragraphs = 3 + rng.below(4);
    let mut body = String::new();
    for p in 0..paragraphs {
        if p > 0 {
            body.push_str("\n\n");
        }
        for _ in 0..(1 + rng.below(3)) {
            body.push_str(&m.sentences[rng.below(m.sentences.len())]);
        }
    }
    // 2018-01-01 .. 2026-11-27, whole seconds.
    let published = Utc
        .timestamp_opt(1_514_764_800 + (rng.next() % 280_000_000) as i64, 0)
        .single()
        .expect("valid time");
    let tags = &m.tag_sets[rng.below(m.tag_sets.len())];
    let analysis = Analysis {
        tags: tags
            .iter()
            .filter_map(|t| taxonomy.get(t))
            .map(|e| TagHit {
                tag: e.id.clone(),
                family: e.family,
                count: 1,
                spans: vec![],
            })
            .collect(),
        ..Analysis::default()
    };
    let draft = ArticleDraft {
        feed: FeedId::new(format!("feed-{:02}", rng.below(FEEDS))),
        url: format!("http://127.0.0.1/bench/{n}"),
        guid: None,
        title,
        summary,
        body,
        published,
        fetched: published,
        content_hash: format!("bench-{n}"),
    };
    (draft, analysis)
}

/// The mixed query set: common and rare words, phrases, spellings, operators, filters.
const QUERIES: &[&str] = &[
    "決済",
    "不正",
    "不正アクセス",
    "京都",
    "東京都",
    "セブンペイ",
    "7pay",
    "J-Coin Pay",
    "\"J-Coin Pay\"",
    "Jコインペイ 加盟店",
    "2FA",
    "二段階認証 導入",
    "\"テスト 環境\"",
    "\"海外 IP\"",
    "漏えい OR 流出",
    "ランサムウェア 身代金",
    "暗号資産 流出 -tag:dmm-bitcoin-2024",
    "(7pay OR セブンペイ) -二段階認証",
    "coincheck OR zaif OR bitpoint",
    "フィッシング since:2023-01-01",
    "不正 tag:fsa",
    "tag:7pay-2019",
    "tag:incident since:2024-01-01 until:2024-12-31",
    "tag:exchange feed:feed-07",
    "tag:threat is:unread",
    "is:starred",
    "決済 is:unread feed:feed-03",
    "不正 is:unread",
    "7pay is:starred",
    "J-Coin Pay -is:read tag:service",
    "証券 口座 乗っ取り",
    "\"報告 徴求\" tag:actor",
    "-tag:incident 決済 サービス",
    "ドコモ口座 OR ゆうちょ銀行",
    "パスキー",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// What building the benchmark store measured.
struct Build {
    store_time: Duration,
    build_time: Duration,
    articles: u64,
    keys: u64,
    bytes: u64,
    size_store: u64,
    size_after: u64,
    extra: usize,
    without: Duration,
    with: Duration,
}

fn build(store: &Store, m: &Material, n: usize) -> Build {
    // 1. The articles, without the search index (the store alone).
    let mut rng = Rng(0x6b65_7373_6169);
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    let mut made = 0;
    while made < n {
        let chunk: Vec<(ArticleDraft, Analysis)> = (made..(made + 2000).min(n))
            .map(|i| article(&mut rng, m, i))
            .collect();
        made += chunk.len();
        for r in store.insert_many(chunk).expect("insert") {
            ids.push(r.expect("inserted").id());
        }
    }
    // Reading state: about 30% read, 2% starred.
    let flags: Vec<(ArticleId, Flags)> = ids
        .iter()
        .map(|&id| {
            let r = rng.below(100);
            (
                id,
                Flags {
                    read: r < 30,
                    starred: r >= 98,
                },
            )
        })
        .collect();
    store.set_flags_many(&flags).expect("flags");
    store.flush().expect("flush");
    let store_time = t.elapsed();
    let size_store = store.info().expect("info").size_on_disk;

    // 2. Build the index from the stored articles (what `kessai reindex` does).
    let t = Instant::now();
    let report = search::rebuild(store, &mut |_| {}).expect("rebuild");
    store.flush().expect("flush");
    let build_time = t.elapsed();
    let size_after = store.info().expect("info").size_on_disk;
    let tree = store.tree(search::index::TREE).expect("tree");
    let (mut keys, mut bytes) = (0u64, 0u64);
    for e in tree.iter() {
        let (k, v) = e.expect("entry");
        keys += 1;
        bytes += (k.len() + v.len()) as u64;
    }

    // 3. Incremental: 2,000 more articles inserted one batch of 100 at a time, with and
    //    without the index hook.
    let extra = 2000.min(n);
    let plain = Store::open_temporary().expect("tmp store");
    let mut rng2 = Rng(7);
    let batches: Vec<Vec<(ArticleDraft, Analysis)>> = (0..extra / 100)
        .map(|b| {
            (0..100)
                .map(|i| article(&mut rng2, m, n + b * 100 + i))
                .collect()
        })
        .collect();
    let t = Instant::now();
    for b in batches.clone() {
        plain.insert_many(b).expect("insert");
    }
    let without = t.elapsed();
    let t = Instant::now();
    for b in batches {
        store.insert_many(b).expect("insert");
    }
    store.flush().expect("flush");
    let with = t.elapsed();

    Build {
        store_time,
        build_time,
        articles: report.articles,
        keys,
        bytes,
        size_store,
        size_after,
        extra,
        without,
        with,
    }
}

fn main() {
    let n: usize = std::env::var("KESSAI_BENCH_ARTICLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let m = material();
    // KESSAI_BENCH_STORE=DIR keeps the generated store there and, when it already holds
    // one, measures only the queries (for iterating on query speed).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::env::var_os("KESSAI_BENCH_STORE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("store"));
    let store = Store::open(&path).expect("open store");
    let reuse = store.article_count().expect("count") > 0;
    let build = if reuse {
        None
    } else {
        Some(build(&store, &m, n))
    };
    // KESSAI_BENCH_ONLY=QUERY: rank just this query 50 times (for a profiler), then stop.
    if let Ok(q) = std::env::var("KESSAI_BENCH_ONLY") {
        let engine = Engine::new(&store).expect("engine");
        let compiled = engine
            .compile(&search::parse(&q).expect("parse"))
            .expect("compile");
        let t = Instant::now();
        for _ in 0..50 {
            std::hint::black_box(
                engine
                    .rank(&compiled, Sort::Relevance, 20, None)
                    .expect("rank"),
            );
        }
        println!("{q}: {} per ranking", ms(t.elapsed() / 50));
        return;
    }

    // 4. Queries: each once cold (first run), then 10 warm rounds of the whole set.
    let engine = Engine::new(&store).expect("engine");
    let parsed: Vec<_> = QUERIES
        .iter()
        .map(|q| search::parse(q).expect("query parses"))
        .collect();
    let mut first = Vec::new();
    let mut per_query: Vec<(usize, Option<u64>)> = Vec::new();
    for q in &parsed {
        let t = Instant::now();
        let r = engine.search(q, 20, None).expect("search");
        first.push(t.elapsed());
        per_query.push((r.hits.len(), r.total));
    }
    let mut full = Vec::new();
    let mut ranked = Vec::new();
    let mut compiling = Vec::new();
    let mut by_date = Vec::new();
    let mut slowest: Vec<(Duration, &str)> = Vec::new();
    let mut each: Vec<Vec<Duration>> = vec![Vec::new(); QUERIES.len()];
    for _ in 0..10 {
        for (k, (q, text)) in parsed.iter().zip(QUERIES).enumerate() {
            let t = Instant::now();
            let r = engine.search(q, 20, None).expect("search");
            let d = t.elapsed();
            std::hint::black_box(&r);
            full.push(d);
            each[k].push(d);
            slowest.push((d, text));
            let t = Instant::now();
            let compiled = engine.compile(q).expect("compile");
            compiling.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(
                engine
                    .rank(&compiled, Sort::Relevance, 20, None)
                    .expect("rank"),
            );
            ranked.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(engine.search_by(q, Sort::Date, 20, None).expect("search"));
            by_date.push(t.elapsed());
        }
    }
    for v in [
        &mut first,
        &mut full,
        &mut ranked,
        &mut by_date,
        &mut compiling,
    ] {
        v.sort();
    }
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    slowest.dedup_by(|a, b| a.1 == b.1);

    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_048_576.0);
    println!("## search (benches/search.rs)\n");
    println!(
        "Machine: 2 cores (shared), 24 GB. Date: 2026-11-27. Command: `cargo bench --bench search`."
    );
    let articles = store.article_count().expect("count");
    println!(
        "{articles} generated articles (corpus sentences recombined: title, one-sentence lead, 3–6 paragraphs; {FEEDS} feeds; tags from corpus labels; 30% read, 2% starred).\n"
    );
    println!("| what | value |\n|---|---|");
    if let Some(b) = &build {
        println!(
            "| store insert (no index) | {:.1} s |",
            b.store_time.as_secs_f64()
        );
        println!(
            "| index build (`kessai reindex`: tokenise on 2 threads, write, merge) | {:.1} s ({:.0} articles/s) |",
            b.build_time.as_secs_f64(),
            b.articles as f64 / b.build_time.as_secs_f64()
        );
        println!(
            "| index size (keys + values in tree `search`) | {} in {} keys ({:.0} bytes/article) |",
            mb(b.bytes),
            b.keys,
            b.bytes as f64 / b.articles as f64
        );
        println!(
            "| store on disk before / after the index (sled) | {} / {} |",
            mb(b.size_store),
            mb(b.size_after)
        );
        println!(
            "| incremental insert of {} articles (batches of 100) without / with the index hook | {:.2} s / {:.2} s ({:.2} ms per article for the index) |",
            b.extra,
            b.without.as_secs_f64(),
            b.with.as_secs_f64(),
            (b.with.as_secs_f64() - b.without.as_secs_f64()) * 1000.0 / b.extra as f64
        );
    }
    println!(
        "| query latency, full page (rank + load 20 articles + snippets), {} warm runs | p50 {} · p99 {} · max {} |",
        full.len(),
        ms(percentile(&full, 0.5)),
        ms(percentile(&full, 0.99)),
        ms(*full.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| query latency, ranking only (ids + scores) | p50 {} · p99 {} |",
        ms(percentile(&ranked, 0.5)),
        ms(percentile(&ranked, 0.99))
    );
    println!(
        "| parsing + compiling a query (tokenising it and its spellings) | p50 {} · p99 {} |",
        ms(percentile(&compiling, 0.5)),
        ms(percentile(&compiling, 0.99))
    );
    println!(
        "| query latency, `--sort date`, full page | p50 {} · p99 {} |",
        ms(percentile(&by_date, 0.5)),
        ms(percentile(&by_date, 0.99))
    );
    println!(
        "| first run of each query (cold cache after the build) | p50 {} · p99 {} |",
        ms(percentile(&first, 0.5)),
        ms(percentile(&first, 0.99))
    );
    if let Some(rss) = peak_rss_mb() {
        println!("| peak RSS of the benchmark process | {rss} MB |");
    }
    println!(
        "\nMixed query set ({} queries): matches, and median of the 10 warm full-page runs:\n",
        QUERIES.len()
    );
    println!("| query | matches | median |\n|---|---|---|");
    for ((q, (_, total)), times) in QUERIES.iter().zip(&per_query).zip(&mut each) {
        let total = total.map_or("filters only: page-wise".to_string(), |t| t.to_string());
        times.sort();
        println!(
            "| `{}` | {total} | {} |",
            q.replace('|', "\\|"),
            ms(percentile(times, 0.5))
        );
    }
    println!("\nSlowest queries (warm, worst run):\n");
    for (d, q) in slowest.iter().take(5) {
        println!("- `{q}`: {}", ms(*d));
    }
}
