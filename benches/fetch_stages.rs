//! Where a cold fetch spends its CPU: the fetch benchmark's articles (N feeds × M items,
//! `benches/support/feedgen.rs`) through each stage of the pipeline in one process, one
//! stage after the other on one thread (sled's own threads included in the store stage):
//! parse (feed-rs) → normalise (drafts) → tag (`Tagger::analyze_with_tokens`) → prepare
//! (`Store::prepare`: the indexes' share, outside the writer lock) → store (`insert_prepared`
//! per feed, the search and alert indexers attached, a flush every 4 feeds, as `kessai fetch` does).
//! No network, no overlap: the CPU seconds of each stage, comparable between versions. Two
//! floors are measured beside them: lindera's bare segmentation of the same texts, and the
//! store stage with no indexers attached.
//!
//! It also prints a digest of every draft and analysis (and of the analyses of the sample
//! corpus's article pages): a speed-up of the tagger or normaliser must leave it unchanged.
//!
//! Run: `CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo bench --profile dev --bench fetch_stages -- [FEEDS ITEMS]`
//! (`KESSAI_STAGES=tag` stops before the store stage).

use std::time::Instant;

use chrono::{DateTime, Utc};
use kessai::config::Limits;
use kessai::model::{ArticleDraft, FeedId};
use kessai::store::{PreparedArticle, Store};
use kessai::tag::Tagger;
use sha2::Digest;

#[path = "support/feedgen.rs"]
mod feedgen;

// The allocator and options of the `kessai` binary (src/main.rs), so that the stage times
// are the binary's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
// SAFETY: a pointer to a 'static C string that nothing writes to.
unsafe impl Sync for MallocConf {}
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(
    c"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache_max:1048576,tcache_nslots_large:1"
        .as_ptr(),
);

/// CPU seconds (user + system, all threads) of this process so far.
fn cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given; all-zero is a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Runs `f`, printing its CPU and wall seconds under `name`.
fn stage<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let (c, w) = (cpu(), Instant::now());
    let out = f();
    println!(
        "{name:<10} {:6.2} s CPU  {:6.2} s wall",
        cpu() - c,
        w.elapsed().as_secs_f64()
    );
    out
}

fn fixed_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a valid constant")
        .into()
}

/// Analyses of the sample corpus's article pages (extracted as ingest extracts them).
fn corpus_analyses(tagger: &Tagger) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/sites");
    let mut stack = vec![root];
    let mut pages = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "html") {
                pages.push(p);
            }
        }
    }
    pages.sort();
    let limits = Limits::default();
    let at = fixed_time("2020-09-10T00:00:00Z");
    let mut out = Vec::new();
    for page in pages {
        let bytes = std::fs::read(&page).expect("corpus page");
        let Ok(decoded) = kessai::charset::decode(&bytes, None, kessai::charset::DocKind::Html)
        else {
            continue;
        };
        let Ok(extracted) = kessai::extract::extract(&decoded.text, None, &limits) else {
            continue;
        };
        let draft = ArticleDraft {
            feed: FeedId::new("corpus"),
            url: "http://127.0.0.1/".into(),
            guid: None,
            title: extracted.page_title.clone().unwrap_or_default(),
            summary: String::new(),
            body: extracted.text.clone(),
            published: at,
            fetched: at,
            content_hash: String::new(),
        };
        out.push(serde_json::to_vec(&tagger.analyze(&draft)).expect("analysis as JSON"));
    }
    out
}

/// Stores prepared articles as `kessai fetch` does: one write per feed, a flush every 4 feeds.
fn store_all(store: &Store, feeds: Vec<Vec<PreparedArticle>>) {
    for (i, feed) in feeds.into_iter().enumerate() {
        for r in store.insert_prepared(feed).expect("insert_prepared") {
            r.expect("article stored");
        }
        if i % 4 == 3 {
            store.flush().expect("flush");
        }
    }
    store.flush().expect("flush");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let feeds = args.first().copied().unwrap_or(200);
    let items = args.get(1).copied().unwrap_or(50);
    let base = "http://127.0.0.1:1";
    let site = feedgen::generate(base, feeds, items);
    let limits = Limits::default();
    let tagger = Tagger::shared();
    // The fetch time is fixed so that the drafts (and the digest) are the same every run.
    let fetched = fixed_time("2026-11-01T00:00:00Z");
    println!("{feeds} feeds x {items} items");

    let parsed = stage("parse", || {
        site.feeds
            .iter()
            .enumerate()
            .map(|(f, xml)| {
                let url = url::Url::parse(&format!("{base}/f{f}/feed.xml")).expect("url");
                let text = std::str::from_utf8(xml).expect("generated feeds are UTF-8");
                kessai::parse::parse_feed(text, &url, &limits).expect("generated feeds parse")
            })
            .collect::<Vec<_>>()
    });
    let drafts = stage("normalise", || {
        parsed
            .iter()
            .enumerate()
            .map(|(f, p)| {
                let id = FeedId::new(format!("bench-{f}"));
                p.items
                    .iter()
                    .filter_map(|it| {
                        kessai::normalize::make_draft(&id, it, "", fetched, &limits).ok()
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    // The floor under the tag stage: lindera's bare segmentation of the same texts (no
    // folding, no offsets, no matching).
    let tokenizer = kessai::tokenize::Tokenizer::shared();
    let tokens = stage("lindera", || {
        drafts
            .iter()
            .flatten()
            .map(|d| {
                [&d.title, &d.summary, &d.body]
                    .iter()
                    .map(|t| tokenizer.segment_count(t))
                    .sum::<usize>()
            })
            .sum::<usize>()
    });
    println!("           ({tokens} lindera tokens)");
    let analysed = stage("tag", || {
        drafts
            .into_iter()
            .map(|v| {
                v.into_iter()
                    .map(|d| {
                        let (a, tokens) = tagger.analyze_with_tokens(&d);
                        (d, a, tokens)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    let mut digest = sha2::Sha256::new();
    for (d, a, _) in analysed.iter().flatten() {
        digest.update(serde_json::to_vec(d).expect("draft as JSON"));
        digest.update(serde_json::to_vec(a).expect("analysis as JSON"));
    }
    for a in corpus_analyses(tagger) {
        digest.update(a);
    }
    println!(
        "digest of drafts and analyses: {}",
        hex::encode(&digest.finalize()[..8])
    );
    if std::env::var("KESSAI_STAGES").is_ok_and(|v| v == "tag") {
        return;
    }

    // The floor under the store stage: the same articles in a store with no indexers.
    let bare_dir =
        std::env::temp_dir().join(format!("kessai-bench-stages-bare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&bare_dir);
    {
        let bare = Store::open(&bare_dir).expect("open the store");
        let items: Vec<Vec<_>> = analysed
            .iter()
            .map(|feed| {
                feed.iter()
                    .map(|(d, a, _)| bare.prepare(d.clone(), a.clone(), None))
                    .collect()
            })
            .collect();
        stage("bare store", || store_all(&bare, items));
    }
    let _ = std::fs::remove_dir_all(&bare_dir);

    let dir = std::env::temp_dir().join(format!("kessai-bench-stages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("open the store");
    // The derived indexes `kessai fetch` keeps (search postings, alert outbox).
    kessai::indexers::attach(&store, tagger.taxonomy());
    // What ingest does beside tagging, before the writer lock (indexes' tokens, encoding).
    let prepared = stage("prepare", || {
        analysed
            .into_iter()
            .map(|feed| {
                feed.into_iter()
                    .map(|(d, a, tokens)| store.prepare(d, a, Some(&tokens)))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    stage("store", || store_all(&store, prepared));
    drop(store);
    let size: u64 = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("store on disk: {:.1} MB", size as f64 / 1e6);
    let _ = std::fs::remove_dir_all(&dir);
}
