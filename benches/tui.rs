//! Reader benchmark: a store of 100,000 generated Japanese articles on disk, then — in a
//! fresh child process, so its memory is the reader's own — time to the first frame with
//! content, key-press-to-redraw latency over a mixed key sequence, the incident timeline,
//! and peak memory (ru_maxrss).
//!
//! Run: `cargo bench --bench tui` (optionally `-- --articles N`). Goals: first frame
//! < 300 ms, key p99 < 16 ms, peak RSS < 300 MB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kessai::model::{Analysis, ArticleDraft, Family, FeedId, Field, Span, TagHit, TagId};
use kessai::store::Store;
use kessai::tui::Harness;

const DEFAULT_ARTICLES: usize = 100_000;
const FEEDS: usize = 200;
const COLS: u16 = 160;
const ROWS: u16 = 48;

const SERVICES: [(&str, &str, &str); 6] = [
    ("7pay", "7pay-2019", "セブンペイ"),
    ("j-coin-pay", "j-coin-pay-2019", "J-Coin Pay"),
    ("docomo-koza", "docomo-koza-2020", "ドコモ口座"),
    ("paypay", "paypay-merchant-data-2020", "PayPay"),
    ("line-pay", "line-pay-github-2021", "LINE Pay"),
    ("coincheck", "coincheck-nem-2018", "コインチェック"),
];
const THREATS: [(&str, &str); 4] = [
    ("unauthorized-access", "不正アクセス"),
    ("fraudulent-use", "不正利用"),
    ("data-leak", "情報漏えい"),
    ("phishing", "フィッシング"),
];

/// A deterministic article: title and ~1.5 KB body of Japanese, tags with evidence spans.
fn article(i: usize) -> (ArticleDraft, Analysis) {
    let (svc, incident, svc_ja) = SERVICES[i % SERVICES.len()];
    let (threat, threat_ja) = THREATS[(i / 7) % THREATS.len()];
    let title = format!("{svc_ja}で{threat_ja}の疑い、第{i}報　決済事業者が調査結果を公表");
    let mut body = format!(
        "{svc_ja}を運営する事業者は、{threat_ja}が確認されたと発表した。被害は約{}件にのぼる見込み。",
        (i % 97 + 1) * 100
    );
    while body.len() < 1500 {
        body.push_str("\n\n同社は二要素認証の導入を進めるとともに、利用者に対しパスワードの変更を呼びかけている。キャッシュレス決済の安全性をめぐる議論が続いている。");
    }
    let spans = |needle: &str, field: Field, text: &str| -> Vec<Span> {
        text.match_indices(needle)
            .map(|(s, m)| Span {
                field,
                start: s,
                end: s + m.len(),
            })
            .collect()
    };
    let mut tags = vec![
        TagHit {
            tag: TagId::new(svc),
            family: Family::Service,
            count: 2,
            spans: [
                spans(svc_ja, Field::Title, &title),
                spans(svc_ja, Field::Body, &body),
            ]
            .concat(),
        },
        TagHit {
            tag: TagId::new(threat),
            family: Family::Threat,
            count: 2,
            spans: spans(threat_ja, Field::Body, &body),
        },
        TagHit {
            tag: TagId::new("2fa"),
            family: Family::Control,
            count: 1,
            spans: spans("二要素認証", Field::Body, &body),
        },
    ];
    // One article in ten reports an incident.
    if i % 10 == 0 {
        tags.insert(
            0,
            TagHit {
                tag: TagId::new(incident),
                family: Family::Incident,
                count: 1,
                spans: Vec::new(),
            },
        );
    }
    // Ten years of articles, newest last.
    let published = Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds((i as i64) * 3_150);
    let feed = FeedId::new(format!("feed-{:03}", i % FEEDS));
    let draft = ArticleDraft {
        url: format!("http://127.0.0.1:9/{}/{i}.html", feed.as_str()),
        feed,
        guid: Some(format!("g{i}")),
        title,
        summary: String::new(),
        body,
        published,
        fetched: published,
        content_hash: format!("bench-{i}"),
    };
    (
        draft,
        Analysis {
            tags,
            facts: Default::default(),
        },
    )
}

fn generate(dir: &Path, n: usize) -> Duration {
    let t = Instant::now();
    let store = Store::open(dir).expect("open store");
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 1_000).min(n)).map(article).collect();
        for r in store.insert_many(batch).expect("insert") {
            r.expect("insert article");
        }
        i += 1_000;
    }
    store.flush().expect("flush");
    t.elapsed()
}

/// Peak resident memory of this process image in MB: `VmHWM` from /proc. (`ru_maxrss`
/// would not do: it survives `execve`, so a child would report its parent's peak from
/// before the exec — the generator's.)
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The measured part, in a process of its own.
fn child(dir: &Path) {
    let t0 = Instant::now();
    let store = Store::open(dir).expect("open store");
    let opened = t0.elapsed();
    let rss_open = peak_rss_mb();
    let mut h = Harness::new(store, COLS, ROWS).expect("reader");
    let loaded = t0.elapsed();
    h.render();
    let first_frame = t0.elapsed();
    println!("store_open_ms {:.1}", ms(opened));
    println!("rss_after_store_open_mb {:.1}", rss_open);
    println!("sidebar_and_first_page_ms {:.1}", ms(loaded - opened));
    println!("rss_after_first_frame_mb {:.1}", peak_rss_mb());
    assert!(h.app.list.rows.len() >= 100, "first page loaded");

    // A mixed session: scrolling (with page loads), paging, opening articles, panes, help.
    let mut keys: Vec<&str> = Vec::new();
    for round in 0..10 {
        keys.extend(std::iter::repeat_n("j", 60));
        // Enter focuses the article; Tab goes on to the sidebar and then back to the list.
        keys.extend(["PageDown", "PageDown", "Enter", "j", "j", "Tab", "j", "Tab"]);
        keys.extend(std::iter::repeat_n("k", 20));
        keys.extend(["?", "x", "PageUp"]);
        if round % 3 == 0 {
            keys.extend(["G", "g"]);
        }
    }
    // Key → redraw is what the event loop does before the next frame (update + draw); the
    // store work a key asks for runs on the worker thread and redraws again when it lands,
    // so it is timed on its own ("key + store work": the loads done synchronously).
    let mut times = Vec::with_capacity(keys.len());
    let mut with_work = Vec::with_capacity(keys.len());
    let mut slowest: Vec<(Duration, &str)> = Vec::new();
    for k in &keys {
        let t = Instant::now();
        h.press_only(k);
        h.render();
        times.push(t.elapsed());
        slowest.push((t.elapsed(), k));
        h.settle();
        h.render();
        with_work.push(t.elapsed());
    }
    times.sort();
    with_work.sort();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let top: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(d, k)| format!("{k}={:.1}", ms(*d)))
        .collect();

    let t = Instant::now();
    h.press(&["T"]);
    h.render();
    let timeline = t.elapsed();
    let buckets = h
        .app
        .timeline
        .data
        .as_ref()
        .map(|d| d.buckets.len())
        .unwrap_or(0);
    let t = Instant::now();
    h.press(&["l"]);
    h.render();
    let timeline_key = t.elapsed();

    // Search: the matcher over the newest articles (the first search also loads the
    // tokenizer's dictionary); one page is at most 2,000 articles examined.
    let rows_loaded = h.app.list.rows.len();
    h.press(&["T"]);
    let mut searches = Vec::new();
    for q in ["セブンペイ", "不正アクセス OR フィッシング"] {
        h.press(&["c", "/"]);
        h.type_text(q);
        let t = Instant::now();
        h.press(&["Enter"]);
        h.render();
        searches.push(format!(
            "{q}: {:.0} ms, {} rows from {} articles",
            ms(t.elapsed()),
            h.app.list.rows.len(),
            h.app.list.scanned
        ));
    }

    println!("first_frame_ms {:.1}", ms(first_frame));
    println!("keys {}", times.len());
    println!("key_p50_ms {:.2}", ms(percentile(&times, 0.50)));
    println!("key_p99_ms {:.2}", ms(percentile(&times, 0.99)));
    println!(
        "key_max_ms {:.2}",
        ms(*times.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "key_with_store_work_p50_ms {:.2}",
        ms(percentile(&with_work, 0.50))
    );
    println!(
        "key_with_store_work_p99_ms {:.2}",
        ms(percentile(&with_work, 0.99))
    );
    println!(
        "key_with_store_work_max_ms {:.2}",
        ms(*with_work.last().unwrap_or(&Duration::ZERO))
    );
    println!("slowest_keys_ms {}", top.join(" "));
    println!("rows_loaded {rows_loaded}");
    println!("timeline_ms {:.1} ({buckets} weekly buckets)", ms(timeline));
    println!("timeline_key_ms {:.2}", ms(timeline_key));
    println!("search_pages {}", searches.join(" | "));
    println!("peak_rss_mb {:.1}", peak_rss_mb());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--open-only") {
        // sled replays everything written since the last open on the first open after a
        // bulk write (see the store's results); that one-time cost is measured here, apart
        // from the reader's normal start.
        let t = Instant::now();
        let store = Store::open(Path::new(&args[pos + 1])).expect("open store");
        println!("first_open_after_bulk_write_ms {:.1}", ms(t.elapsed()));
        drop(store);
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let dir = PathBuf::from(&args[pos + 1]);
        child(&dir);
        return;
    }
    let n = args
        .iter()
        .position(|a| a == "--articles")
        .and_then(|p| args.get(p + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ARTICLES);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    eprintln!("generating {n} articles…");
    let gen_time = generate(&dir, n);
    println!("articles {n}");
    println!("generate_s {:.1}", gen_time.as_secs_f64());
    let exe = std::env::current_exe().expect("own path");
    let first = Command::new(&exe)
        .arg("--open-only")
        .arg(&dir)
        .output()
        .expect("run the opening child");
    print!("{}", String::from_utf8_lossy(&first.stdout));
    let out = Command::new(exe)
        .arg("--child")
        .arg(&dir)
        .output()
        .expect("run the measuring child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
}
