//! Hostile-feed benchmark: one `kessai fetch` over every hostile class of the hardening
//! issue (the loopback server of `tests/hostile/mod.rs`: slow drip, gzip bomb, endless and
//! oversized bodies, redirect loop and `file:` redirect, external entity, entity expansion,
//! truncated, binary, empty and mislabelled bodies, HTTP 4xx/5xx, 1,000 items with one
//! GUID, 1,000 items over the item limit, a page nested 200,000 levels deep, titles and
//! bodies full of escape sequences and markup) plus the eight good feeds of the sample
//! corpus (171 articles, full text on), run under `/usr/bin/time -v`. It records wall time
//! (goal < 2 min) and peak RSS (goal < 300 MB) and prints the fetch report's total line.
//!
//! Two configurations: the shipped defaults (`[limits]` and `[settings]` as documented:
//! 30 s request deadline, 8 MiB on the wire, 16 MiB decoded, 2 fetches per host — and every
//! hostile feed shares one host here, the worst case for queueing), and the test values of
//! `tests/ingest.rs` (5 s deadline, 4/8 MiB, 8 per host, no retries).
//!
//! Run (see benches/RESULTS.md):
//!   CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo bench --profile dev --bench hostile -- [COPIES]
//! COPIES (default 1) repeats every hostile feed under new names, for a heavier run.
//! Needs `/usr/bin/time` (GNU time).

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kessai::config::{FeedConfig, FeedFormat, Limits, Settings};
use kessai::sample::{self, SampleOptions, SampleServer};

/// What `/usr/bin/time -v` reported, and the fetch's own total line.
struct Measured {
    wall_s: f64,
    cpu_s: f64,
    rss_mb: f64,
    exit: i32,
    total: String,
    lines: usize,
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(|v| v.trim_start_matches(':').trim())
}

/// `h:mm:ss` or `m:ss.ss` → seconds.
fn clock(s: &str) -> f64 {
    s.split(':').fold(0.0, |acc, part| {
        acc * 60.0 + part.parse::<f64>().unwrap_or(0.0)
    })
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(cfg: &Path, store: &Path) -> Measured {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_kessai"))
        .arg("--config")
        .arg(cfg)
        .arg("--store")
        .arg(store)
        .arg("fetch")
        .env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .output()
        .expect("/usr/bin/time runs (apt-get install time)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let num = |name: &str| {
        field(&stderr, name)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Measured {
        wall_s: field(&stderr, "Elapsed (wall clock) time (h:mm:ss or m:ss)")
            .map(clock)
            .unwrap_or(f64::NAN),
        cpu_s: num("User time (seconds)") + num("System time (seconds)"),
        rss_mb: num("Maximum resident set size (kbytes)") / 1024.0,
        exit: num("Exit status") as i32,
        total: stdout.lines().last().unwrap_or("(no output)").to_string(),
        lines: stdout.lines().count(),
    }
}

fn main() {
    let copies: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
        .max(1);
    let server = hostile::Hostile::every_class();
    let sample = SampleServer::start(SampleOptions::default()).expect("sample server");
    let good: Vec<FeedConfig> = sample
        .outlets()
        .iter()
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), sample.url(&o.feed));
            f.format = match o.format {
                sample::FeedFormat::HtmlList => FeedFormat::HtmlList,
                _ => FeedFormat::Auto,
            };
            f
        })
        .collect();
    let labels = sample::labels().map(|l| l.len()).unwrap_or(0);
    let mut extra = good.clone();
    for k in 2..=copies {
        for c in hostile::classes() {
            let mut f = FeedConfig::new(format!("{}-{k}", c.name), server.url(c.path));
            f.full_text = Some(c.full_text);
            extra.push(f);
        }
    }
    let hostile_feeds = hostile::classes().len() * copies;
    let configs = [
        ("shipped defaults", Settings::default(), Limits::default()),
        (
            "test values (5 s, 4/8 MiB, 8 per host, no retries)",
            Settings {
                per_host_concurrency: 8,
                retries: 0,
                ..Settings::default()
            },
            hostile::test_limits(),
        ),
    ];
    println!(
        "hostile benchmark: {hostile_feeds} hostile feeds ({copies} × {} classes) + {} good feeds ({labels} articles); load before: {}",
        hostile::classes().len(),
        good.len(),
        load()
    );
    println!();
    println!("| configuration | wall | CPU user+sys | peak RSS | exit | fetch report total |");
    println!("|---|---|---|---|---|---|");
    for (name, settings, limits) in configs {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("feeds.toml");
        std::fs::write(
            &cfg,
            hostile::config_text(&server, &settings, &limits, &extra),
        )
        .expect("config");
        let started = Instant::now();
        let m = run(&cfg, &dir.path().join("store"));
        let load_after = load();
        println!(
            "| {name} | {:.1} s | {:.1} s | {:.0} MB | {} | {} |",
            m.wall_s, m.cpu_s, m.rss_mb, m.exit, m.total
        );
        eprintln!(
            "  ({} report lines, {:.1} s including start-up, load after: {load_after})",
            m.lines,
            started.elapsed().as_secs_f64()
        );
        let goals = m.wall_s < 120.0 && m.rss_mb < 300.0;
        eprintln!(
            "  goals (< 2 min, < 300 MB): {}",
            if goals { "met" } else { "NOT met" }
        );
    }
}
