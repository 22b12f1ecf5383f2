//! Store benchmark: N generated Japanese articles (default 100,000, about 3 KB each).
//!
//! Measures insert + flush time (`insert_many` in chunks, one flush per chunk, as ingest
//! does), peak RSS while writing, size on disk, then — in a fresh process, so sled's cache
//! is cold — open + first page latency, filtered first pages, the sidebar counters, and
//! `check`. Run: `cargo bench --bench store -- [N]` (see benches/RESULTS.md for the
//! profile used).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kessai::model::{Analysis, ArticleDraft, Family, FeedId, TagHit, TagId};
use kessai::store::{ListFilter, Store, StoreOptions};

/// Articles per `insert_many` (one atomic batch, one flush); `KESSAI_BENCH_CHUNK` overrides.
fn chunk() -> usize {
    std::env::var("KESSAI_BENCH_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

const TAGS: [(&str, Family); 16] = [
    ("7pay", Family::Service),
    ("j-coin-pay", Family::Service),
    ("paypay", Family::Service),
    ("docomo-koza", Family::Service),
    ("coincheck", Family::Exchange),
    ("zaif", Family::Exchange),
    ("unauthorized-access", Family::Threat),
    ("account-takeover", Family::Threat),
    ("data-leak", Family::Threat),
    ("phishing", Family::Threat),
    ("2fa", Family::Control),
    ("ekyc", Family::Control),
    ("fsa", Family::Actor),
    ("mizuho", Family::Actor),
    ("7pay-2019", Family::Incident),
    ("j-coin-pay-2019", Family::Incident),
];

const SENTENCES: [&str; 6] = [
    "みずほ銀行は、J-Coin Payの加盟店管理用テストシステムが外部から接続可能な状態だったと発表した。",
    "セブンペイでは二要素認証が導入されておらず、不正アクセスによる被害が相次いだ。",
    "ドコモ口座を経由した不正引き出しについて、金融庁は各行に本人確認の徹底を求めた。",
    "フィッシングメールで誘導された利用者のアカウントが乗っ取られ、不正利用が確認された。",
    "暗号資産交換業者は、コールドウォレットでの管理とマルチシグの導入を進めている。",
    "同社は約1万8000件の加盟店情報が閲覧された可能性があるとして、関係者に謝罪した。",
];

/// A cheap deterministic generator.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn article(i: u64) -> (ArticleDraft, Analysis) {
    let r = mix(i);
    let body: String = (0..20)
        .map(|k| SENTENCES[((r >> (k % 60)) as usize + k) % SENTENCES.len()])
        .collect::<Vec<_>>()
        .join("");
    let published = Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds((r % (3 * 365 * 86_400)) as i64);
    let draft = ArticleDraft {
        feed: FeedId::new(format!("feed-{:03}", r % 200)),
        url: format!("http://127.0.0.1:8080/news/{i}"),
        guid: Some(format!("tag:example,{i}")),
        title: format!("キャッシュレス決済の不正利用、第{i}報"),
        summary: SENTENCES[(r % 6) as usize].repeat(2),
        body,
        published,
        fetched: published,
        content_hash: format!("{:016x}{:016x}", r, mix(r)),
    };
    let n_tags = (r >> 8) % 5;
    let tags = (0..n_tags)
        .map(|k| {
            let (t, f) = TAGS[((r >> (12 + 4 * k)) % TAGS.len() as u64) as usize];
            TagHit {
                tag: TagId::new(t),
                family: f,
                count: 1,
                spans: vec![],
            }
        })
        .collect();
    (
        draft,
        Analysis {
            tags,
            facts: Default::default(),
        },
    )
}

/// Store options; `KESSAI_BENCH_CACHE_MB` overrides sled's cache size.
fn options() -> StoreOptions {
    let mut o = StoreOptions::default();
    if let Some(mb) = std::env::var("KESSAI_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        o.cache_capacity = mb * 1024 * 1024;
    }
    o
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) this process has used: wall time on a shared machine
/// mostly measures the neighbours.
fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct we pass and touches nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The read side, in a fresh process: open, first pages, counters, check.
fn read_phase(path: &Path) {
    let t = Instant::now();
    let store = Store::open_with(path, options()).expect("open");
    let open = t.elapsed();
    if std::env::args().nth(3).as_deref() == Some("first") {
        // sled 0.34 writes its snapshot only while recovering: the first open after a big
        // write session replays that whole session's log. Report it, then measure again.
        drop(store);
        println!("first open after writing   {}", ms(open));
        return;
    }
    let t = Instant::now();
    let page = store.page(&ListFilter::default(), None, 50).expect("page");
    let articles: Vec<_> = page
        .items
        .iter()
        .map(|id| store.get(*id).expect("get").expect("exists"))
        .collect();
    let first = t.elapsed();
    println!("open (fresh process)       {}", ms(open));
    println!(
        "first page (50 ids + 50 articles) {} ({} articles)",
        ms(first),
        articles.len()
    );
    let filters = [
        (
            "tag 7pay-2019",
            ListFilter {
                tag: Some(TagId::new("7pay-2019")),
                ..Default::default()
            },
        ),
        (
            "feed feed-007 unread",
            ListFilter {
                feed: Some(FeedId::new("feed-007")),
                unread_only: true,
                ..Default::default()
            },
        ),
        (
            "family incident + feed-042",
            ListFilter {
                family: Some(Family::Incident),
                feed: Some(FeedId::new("feed-042")),
                ..Default::default()
            },
        ),
        (
            "starred (none)",
            ListFilter {
                starred_only: true,
                ..Default::default()
            },
        ),
    ];
    for (name, f) in filters {
        let t = Instant::now();
        let p = store.page(&f, None, 50).expect("page");
        println!(
            "first page {name:<27} {} ({} ids{})",
            ms(t.elapsed()),
            p.items.len(),
            if p.next.is_some() { ", more" } else { "" }
        );
    }
    let t = Instant::now();
    let feeds = store.feed_counts().expect("feeds");
    let tags = store.tag_counts().expect("tags");
    println!(
        "sidebar counters           {} ({} feeds, {} tags)",
        ms(t.elapsed()),
        feeds.len(),
        tags.len()
    );
    let t = Instant::now();
    let mut cursor = None;
    let mut n = 0;
    for _ in 0..100 {
        let p = store
            .page(&ListFilter::default(), cursor, 50)
            .expect("page");
        n += p.items.len();
        cursor = p.next;
    }
    println!("100 pages deep (5,000 ids) {} ({n} ids)", ms(t.elapsed()));
    println!("peak RSS after reads       {:.0} MB", peak_rss_mb());
    let t = Instant::now();
    let report = store.check().expect("check");
    println!(
        "check                      {} ({} articles, {} index entries, ok: {})",
        ms(t.elapsed()),
        report.articles,
        report.index_entries,
        report.is_ok()
    );
    println!("peak RSS after check       {:.0} MB", peak_rss_mb());
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--read") {
        read_phase(Path::new(&args[1]));
        return;
    }
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    println!("store benchmark: {n} articles into {}", path.display());

    let store = Store::open_with(&path, options()).expect("open");
    let mut bytes = 0u64;
    let t = Instant::now();
    let c0 = cpu_s();
    let mut i = 0;
    while i < n {
        let end = (i + chunk() as u64).min(n);
        let items: Vec<_> = (i..end).map(article).collect();
        bytes += items
            .iter()
            .map(|(d, _)| (d.title.len() + d.summary.len() + d.body.len()) as u64)
            .sum::<u64>();
        for r in store.insert_many(items).expect("insert") {
            assert!(r.expect("insert").is_new());
        }
        store.flush().expect("flush");
        i = end;
    }
    let write = t.elapsed();
    let write_cpu = cpu_s() - c0;
    println!(
        "insert + flush             {:.2} s wall, {write_cpu:.2} s CPU ({:.0} articles/s, chunks of {}, text {:.0} MB)",
        write.as_secs_f64(),
        n as f64 / write.as_secs_f64(),
        chunk(),
        bytes as f64 / 1e6
    );
    println!("peak RSS while writing     {:.0} MB", peak_rss_mb());

    // One at a time, as a slow ingest would: 2,000 inserts, a flush every 20.
    let t = Instant::now();
    let c0 = cpu_s();
    for k in 0..2_000u64 {
        let (d, a) = article(n + 1 + k);
        store.insert(d, &a).expect("insert");
        if k % 20 == 19 {
            store.flush().expect("flush");
        }
    }
    println!(
        "single inserts             {:.0} µs wall, {:.0} µs CPU each (2,000, flush every 20)",
        t.elapsed().as_secs_f64() * 1e6 / 2000.0,
        (cpu_s() - c0) * 1e6 / 2000.0
    );
    drop(store);
    println!(
        "size on disk               {:.0} MB",
        dir_size(&path) as f64 / 1e6
    );

    let exe = std::env::current_exe().expect("exe");
    for first in ["first", "again"] {
        let out = Command::new(&exe)
            .arg("--read")
            .arg(&path)
            .arg(first)
            .output()
            .expect("read phase");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
