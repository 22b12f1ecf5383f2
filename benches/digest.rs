//! One-day digest over a 100,000-article store (goal: under 200 ms).
//!
//! Builds a store on disk from the sample corpus (each article tagged once by the real tagger),
//! repeated with fresh URLs and times until it holds `KESSAI_BENCH_ARTICLES` articles
//! (default 100,000) spread evenly over `KESSAI_BENCH_DAYS` days (default 365, so about 274
//! articles a day: a heavy day for one analyst). Then, on a freshly opened store, times a
//! whole digest — `collect` through the date index, `build`, and rendering Markdown, HTML and
//! JSON — for several days, cold (first) and warm.
//!
//! Run: `cargo bench --bench digest` (release build).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use kessai::digest::{self, BuildOptions, CollectOptions, Labels, Period};
use kessai::model::{Analysis, ArticleDraft, FeedId};
use kessai::store::Store;
use kessai::tag::Tagger;
use kessai::taxonomy::Taxonomy;

#[derive(Deserialize)]
struct SourceFile {
    #[serde(default)]
    article: Vec<SourceArticle>,
}

#[derive(Deserialize)]
struct SourceArticle {
    slug: String,
    title: String,
    summary: String,
    body: Vec<String>,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The corpus articles with their analyses (tagged once).
fn corpus() -> Vec<(ArticleDraft, Analysis)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("assets/corpus/src")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let tagger = Tagger::shared();
    let mut out = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let outlet = name.split('.').next().unwrap_or("corpus").to_string();
        let text = std::fs::read_to_string(&path).expect("corpus source");
        let file: SourceFile = toml::from_str(&text).expect("corpus toml");
        for a in file.article {
            let draft = ArticleDraft {
                feed: FeedId::new(outlet.clone()),
                url: format!("http://127.0.0.1:8080/{outlet}/articles/{}.html", a.slug),
                guid: None,
                title: a.title,
                summary: a.summary,
                body: a.body.join("\n\n"),
                published: DateTime::<Utc>::MIN_UTC,
                fetched: DateTime::<Utc>::MIN_UTC,
                content_hash: String::new(),
            };
            let analysis = tagger.analyze(&draft);
            out.push((draft, analysis));
        }
    }
    out
}

fn fill(store: &Store, total: u64, days: u64, first_day: NaiveDate) -> Duration {
    let corpus = corpus();
    let started = Instant::now();
    let start = Period::day(first_day, chrono_tz::Asia::Tokyo).start_utc();
    let span_secs = days * 86_400;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..total {
        let (base, analysis) = &corpus[(i as usize) % corpus.len()];
        let mut d = base.clone();
        let at = start + chrono::Duration::seconds((i * span_secs / total) as i64);
        d.url = format!("{}?n={i}", base.url);
        d.title = format!("{} ({i})", base.title);
        d.content_hash = format!("{i:016x}");
        d.published = at;
        d.fetched = at;
        batch.push((d, analysis.clone()));
        if batch.len() == 1000 {
            store
                .insert_many(std::mem::take(&mut batch))
                .expect("insert");
        }
    }
    if !batch.is_empty() {
        store.insert_many(batch).expect("insert");
    }
    store.flush().expect("flush");
    started.elapsed()
}

/// Time of each stage of one digest.
struct Timing {
    total: Duration,
    collect: Duration,
    build: Duration,
    render: Duration,
    articles: usize,
    bytes: usize,
}

/// One whole digest of one day: collect through the date index, build, render 3 formats.
fn one_digest(store: &Store, day: NaiveDate, labels: &Labels) -> Timing {
    let started = Instant::now();
    let period = Period::day(day, chrono_tz::Asia::Tokyo);
    let options = CollectOptions::default();
    let articles = digest::collect(store, &period, &options, |_, _, _| true).expect("collect");
    let n = articles.len();
    let failures = digest::failed_sources(store, &options).expect("feed states");
    let collected = Instant::now();
    let d = digest::build(
        articles,
        &period,
        failures,
        &BuildOptions {
            labels: labels.clone(),
            query: None,
        },
    );
    let built = Instant::now();
    let bytes = digest::markdown::render(&d).len()
        + digest::html::render(&d).len()
        + digest::json::render(&d).expect("json").len();
    let done = Instant::now();
    Timing {
        total: done - started,
        collect: collected - started,
        build: built - collected,
        render: done - built,
        articles: n,
        bytes,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let total = env_num("KESSAI_BENCH_ARTICLES", 100_000);
    let days = env_num("KESSAI_BENCH_DAYS", 365).max(1);
    let first_day = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store");

    {
        let store = Store::open(&path).expect("open");
        let took = fill(&store, total, days, first_day);
        println!(
            "store: {total} articles over {days} days built in {:.1} s",
            took.as_secs_f64()
        );
    }

    // A freshly opened store: nothing cached by this process.
    let opened = Instant::now();
    let store = Store::open(&path).expect("reopen");
    println!("open: {:.1} ms", ms(opened.elapsed()));
    let labels = Labels::from_taxonomy(Taxonomy::builtin());

    let mut times = Vec::new();
    for k in 0..10u64 {
        // Ten days spread over the year, each digested once cold then measured warm.
        let day = first_day
            .checked_add_days(Days::new(k * days / 10 + 3))
            .expect("day");
        let cold = one_digest(&store, day, &labels);
        let warm = one_digest(&store, day, &labels);
        println!(
            "{day}: {} articles, {} bytes in 3 formats: cold {:.1} ms (collect {:.1}, build {:.1}, render {:.1}), warm {:.1} ms",
            cold.articles,
            cold.bytes,
            ms(cold.total),
            ms(cold.collect),
            ms(cold.build),
            ms(cold.render),
            ms(warm.total)
        );
        times.push(cold.total);
    }
    times.sort();
    println!(
        "one-day digest (cold, collect+build+md+html+json), 10 days: min {:.1} ms, median {:.1} ms, max {:.1} ms (goal < 200 ms)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}
