//! The ingest pipeline end to end, against servers on 127.0.0.1 only: the sample corpus
//! (every outlet, format and encoding), conditional re-fetches, hostile feeds of every class
//! the hardening issue names, offline full-text rules, and the `fetch` / `feeds` / `export`
//! / `demo` commands.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kessai::config::{Config, FeedConfig, FeedFormat};
use kessai::fetch::NetworkScope;
use kessai::ingest::{FeedOutcome, FetchReport, Ingest};
use kessai::normalize::{canonical_url, normalize_line, normalize_paragraphs};
use kessai::sample::{self, SampleOptions, SampleServer};
use kessai::store::Store;

mod hostile;
use hostile::{Hostile, hostile_handler};

// ------------------------------------------------------------------ helpers

/// A feed per sample outlet, as `kessai demo` builds them.
fn corpus_feeds(server: &SampleServer) -> Vec<FeedConfig> {
    server
        .outlets()
        .iter()
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
            f.title = Some(o.name.clone());
            f.format = match o.format {
                sample::FeedFormat::HtmlList => FeedFormat::HtmlList,
                _ => FeedFormat::Auto,
            };
            f
        })
        .collect()
}

fn config_with(feeds: Vec<FeedConfig>) -> Config {
    let mut c = Config::with_feeds(feeds);
    c.settings.per_host_concurrency = 8;
    c.settings.retries = 1;
    c.settings.retry_base_ms = 10;
    c.limits.request_timeout_secs = 3;
    c.limits.connect_timeout_secs = 2;
    c.limits.max_body_bytes = 4 << 20;
    c.limits.max_decoded_bytes = 8 << 20;
    c
}

fn ingest(config: Config, store: &Store) -> FetchReport {
    let feeds = config.feeds.clone();
    Ingest::new(config, store.clone(), NetworkScope::LoopbackOnly)
        .unwrap()
        .run_blocking(&feeds, None)
        .unwrap()
}

#[derive(serde::Deserialize)]
struct Sources {
    article: Vec<SourceArticle>,
}

#[derive(serde::Deserialize)]
struct SourceArticle {
    slug: String,
    body: Vec<String>,
    related: Vec<String>,
}

/// (outlet, slug) → the article's source paragraphs and related-box titles.
fn corpus_sources() -> HashMap<(String, String), SourceArticle> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/src");
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(outlet) = name.strip_suffix(".toml").and_then(|n| n.split('.').next()) else {
            continue;
        };
        let src: Sources = toml::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        for a in src.article {
            out.insert((outlet.to_string(), a.slug.clone()), a);
        }
    }
    out
}

// ------------------------------------------------------------------ the corpus

#[test]
fn whole_corpus_ingests_with_right_counts_titles_and_bodies_then_304s() {
    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let store = Store::open_temporary().unwrap();
    let config = config_with(corpus_feeds(&server));
    let report = ingest(config.clone(), &store);

    let labels = sample::labels().unwrap();
    let mut per_outlet: HashMap<&str, usize> = HashMap::new();
    for l in &labels {
        *per_outlet.entry(l.outlet.as_str()).or_default() += 1;
    }
    for f in &report.feeds {
        assert_eq!(f.outcome, FeedOutcome::Updated, "{}: {:?}", f.feed, f.notes);
        assert_eq!(
            f.new,
            per_outlet[f.feed.as_str()],
            "{}: {:?}",
            f.feed,
            f.notes
        );
        assert_eq!(
            (f.skipped, f.page_failures),
            (0, 0),
            "{}: {:?}",
            f.feed,
            f.notes
        );
    }
    assert_eq!(report.new_articles(), labels.len());
    assert_eq!(store.article_count().unwrap(), labels.len() as u64);

    let sources = corpus_sources();
    for l in &labels {
        let url = canonical_url(&server.url(&l.url_path)).unwrap();
        let id = store
            .known(&kessai::model::FeedId::new(l.outlet.clone()), &url, None)
            .unwrap()
            .unwrap_or_else(|| panic!("{} not stored", l.url_path));
        let a = store.get(id).unwrap().unwrap().draft;
        assert_eq!(a.title, normalize_line(&l.title), "{}", l.url_path);
        if l.outlet == "kinyu-shimbun" {
            // The list page gives the date without a time: midnight in Tokyo.
            let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
            assert_eq!(
                a.published.with_timezone(&jst).date_naive(),
                l.published.date_naive()
            );
        } else {
            assert_eq!(
                a.published,
                l.published.with_timezone(&chrono::Utc),
                "{}",
                l.url_path
            );
        }
        let src = &sources[&(l.outlet.clone(), l.slug.clone())];
        let want = normalize_paragraphs(&src.body.join("\n\n"));
        assert_eq!(a.body, want, "{}", l.url_path);
        for junk in [
            "関連記事",
            "ランキング",
            "PAGE TOP",
            "ツイート",
            "Copyright",
            "会社概要",
            "\u{fffd}",
        ] {
            assert!(!a.body.contains(junk), "{}: {junk:?} in body", l.url_path);
            assert!(!a.title.contains(junk), "{}: {junk:?} in title", l.url_path);
        }
        for r in &src.related {
            assert!(
                !a.body.contains(&normalize_line(r)),
                "{}: related box kept",
                l.url_path
            );
        }
        // The tagger ran on every article.
        assert!(store.analysis(id).unwrap().is_some(), "{}", l.url_path);
    }

    // Second run: every feed answers 304 to the stored validators; nothing new is stored.
    let served_before = server.served().len();
    let again = ingest(config, &store);
    for f in &again.feeds {
        assert_eq!(f.outcome, FeedOutcome::Unchanged, "{}", f.feed);
    }
    assert_eq!(again.new_articles(), 0);
    assert_eq!(store.article_count().unwrap(), labels.len() as u64);
    let second: Vec<(String, u16)> = server.served()[served_before..].to_vec();
    assert_eq!(
        second.len(),
        8,
        "only the 8 feeds are requested: {second:?}"
    );
    assert!(
        second.iter().all(|(_, status)| *status == 304),
        "{second:?}"
    );
    let state = store
        .feed_state(&kessai::model::FeedId::new("paysec"))
        .unwrap()
        .unwrap();
    assert_eq!(state.last_status, Some(304));
    assert!(state.etag.is_some() && state.last_success.is_some());
    assert_eq!(state.consecutive_failures, 0);
}

#[test]
fn moved_feed_is_followed_and_list_pages_paginate() {
    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let store = Store::open_temporary().unwrap();
    let press = server.outlets().iter().find(|o| o.id == "press").unwrap();
    let old = &press.redirects[0].from;
    let mut moved = FeedConfig::new("press", server.url(old));
    moved.format = FeedFormat::Atom;
    let mut list = FeedConfig::new("kinyu-shimbun", server.url("/kinyu-shimbun/news/"));
    list.format = FeedFormat::HtmlList;
    let config = config_with(vec![moved, list]);
    let report = ingest(config.clone(), &store);
    assert_eq!(report.feed("press").unwrap().new, 23, "{report:?}");
    assert_eq!(report.feed("kinyu-shimbun").unwrap().new, 21, "{report:?}");
    assert_eq!(server.hits("/kinyu-shimbun/news/index_2.html"), 1);
    // The validators survive the redirect: the second run ends in 304s.
    let again = ingest(config, &store);
    assert_eq!(again.unchanged(), 2, "{again:?}");
}

// ------------------------------------------------------------------ hostile feeds

#[test]
fn each_broken_class_fails_clearly_while_the_others_succeed() {
    let sample = SampleServer::start(SampleOptions {
        slow_feed: true,
        broken_feed: true,
    })
    .unwrap();
    let base = Arc::new(Mutex::new(String::new()));
    let hostile = Hostile::start(hostile_handler(base.clone()));
    *base.lock().unwrap() = hostile.base.clone();

    let mut feeds = corpus_feeds(&sample);
    let h = |name: &str, path: &str| FeedConfig::new(name, hostile.url(path));
    feeds.extend([
        h("good", "/good.xml"),
        h("deep-page", "/deep-page.xml"),
        h("bomb", "/bomb.xml"),
        h("big", "/big.xml"),
        h("loop", "/loop-a.xml"),
        h("to-file", "/to-file.xml"),
        h("html", "/html.xml"),
        h("mislabelled", "/mislabelled.xml"),
        h("binary", "/binary.xml"),
        h("garbage", "/garbage.xml"),
        h("empty", "/empty.xml"),
        h("http-404", "/404.xml"),
        h("http-500", "/500.xml"),
        h("laughs", "/laughs.xml"),
        h("xxe", "/xxe.xml"),
        h("truncated", "/truncated.xml"),
        h("one-guid", "/one-guid.xml"),
        h("escapes", "/escapes.xml"),
    ]);
    let store = Store::open_temporary().unwrap();
    let mut config = config_with(feeds);
    config.limits.request_timeout_secs = 2;
    let started = Instant::now();
    let report = ingest(config, &store);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    let reason = |name: &str| match &report.feed(name).unwrap().outcome {
        FeedOutcome::Failed(r) => r.clone(),
        other => panic!("{name} did not fail: {other:?} {:?}", report.feed(name)),
    };
    let expect = [
        ("slow", "timed out after 2 s"),
        ("broken", "truncated"),
        ("broken-http", "HTTP 500"),
        ("bomb", "after decompression"),
        ("big", "on the wire"),
        ("loop", "redirect loop"),
        ("to-file", "\"file\" is not http or https"),
        ("html", "not a feed: an HTML page"),
        ("binary", "binary data"),
        ("garbage", "not valid in any"),
        ("empty", "empty body"),
        ("http-404", "HTTP 404 Not Found"),
        ("http-500", "HTTP 500"),
        ("laughs", "declares entities"),
        ("xxe", "declares entities"),
        ("truncated", "truncated"),
    ];
    for (name, needle) in expect {
        let r = reason(name);
        assert!(r.contains(needle), "{name}: {r}");
        assert!(
            r.contains("http://127.0.0.1:"),
            "{name}: the reason names the URL: {r}"
        );
        let state = store
            .feed_state(&kessai::model::FeedId::new(name))
            .unwrap()
            .unwrap();
        assert_eq!(state.consecutive_failures, 1, "{name}");
        assert_eq!(state.last_error.as_deref(), Some(r.as_str()));
    }
    assert_eq!(report.failed(), expect.len(), "{report:#?}");

    // Every good feed got through.
    for f in [
        "paysec",
        "fintech-journal",
        "cryptowatch",
        "cashless-now",
        "kinyu-shimbun",
        "sec-blog",
        "bank-it",
        "press",
    ] {
        let r = report.feed(f).unwrap();
        assert_eq!(r.outcome, FeedOutcome::Updated, "{f}");
        assert!(r.new >= 19, "{f}: {r:?}");
    }
    assert_eq!(report.feed("good").unwrap().new, 3);
    let good = store
        .known(
            &kessai::model::FeedId::new("good"),
            &hostile.url("/page/1"),
            None,
        )
        .unwrap()
        .unwrap();
    let body = store.get(good).unwrap().unwrap().draft.body;
    assert!(
        body.starts_with("本文の段落です。") && !body.contains("関連記事"),
        "{body}"
    );

    // A Shift_JIS feed labelled UTF-8 is decoded right, and says so.
    let m = report.feed("mislabelled").unwrap();
    assert_eq!(
        (m.outcome.clone(), m.new),
        (FeedOutcome::Updated, 1),
        "{m:?}"
    );
    assert!(m.notes.iter().any(|n| n.contains("Shift_JIS")), "{m:?}");
    let id = store
        .known(
            &kessai::model::FeedId::new("mislabelled"),
            &hostile.url("/page/10"),
            None,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get(id).unwrap().unwrap().draft.title,
        "シフトJISなのにUTF-8と名乗るフィード"
    );

    // A page nested 200,000 levels deep is read without overflowing anything.
    let d = report.feed("deep-page").unwrap();
    assert_eq!((d.new, d.page_failures), (1, 0), "{d:?}");

    // 1,000 items with one GUID: stored once.
    let g = report.feed("one-guid").unwrap();
    assert_eq!(g.new, 1, "{g:?}");
    assert!(
        g.notes.iter().any(|n| n.contains("999 item(s) repeated")),
        "{g:?}"
    );

    // Escape sequences never reach the store; markup in a title stays inert text.
    let e = store
        .known(
            &kessai::model::FeedId::new("escapes"),
            &hostile.url("/page/600"),
            None,
        )
        .unwrap()
        .unwrap();
    let a = store.get(e).unwrap().unwrap().draft;
    assert!(!a.title.chars().any(|c| c.is_control()), "{:?}", a.title);
    assert!(
        !a.summary.chars().any(|c| c.is_control()),
        "{:?}",
        a.summary
    );
    assert!(
        !a.title.contains("alert(1)") || !a.title.contains("<script>"),
        "{:?}",
        a.title
    );
}

/// The fields of an exported article that come from the feed.
fn exported_texts(v: &serde_json::Value) -> Vec<String> {
    ["title", "summary", "body", "url", "guid", "feed"]
        .iter()
        .filter_map(|k| v[k].as_str().map(str::to_string))
        .collect()
}

/// The line of the fetch report about `feed`: `STATUS name ...`.
fn report_line<'a>(out: &'a str, feed: &str) -> &'a str {
    out.lines()
        .find(|l| {
            let mut w = l.split_whitespace();
            matches!(w.next(), Some("ok" | "FAILED" | "LIMIT" | "unchanged"))
                && w.next() == Some(feed)
        })
        .unwrap_or_else(|| panic!("no line for {feed}:\n{out}"))
}

/// `new N` of an ok / LIMIT line.
fn new_count(line: &str) -> usize {
    let mut w = line.split_whitespace();
    w.find(|x| *x == "new");
    w.next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {line}"))
}

#[test]
fn one_fetch_over_every_hostile_class_through_the_binary() {
    let sample = SampleServer::start(SampleOptions::default()).unwrap();
    let server = Hostile::every_class();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let store = dir.path().join("store");
    let settings = kessai::config::Settings {
        per_host_concurrency: 8,
        retries: 0,
        ..Default::default()
    };
    // Good feeds beside the hostile ones: two outlets of the sample corpus.
    let good: Vec<FeedConfig> = corpus_feeds(&sample)
        .into_iter()
        .filter(|f| f.name == "paysec" || f.name == "press")
        .collect();
    let text = hostile::config_text(&server, &settings, &hostile::test_limits(), &good);
    std::fs::write(&cfg, text).unwrap();
    let labels = sample::labels().unwrap();
    let per_outlet = |o: &str| labels.iter().filter(|l| l.outlet == o).count();

    let output = kessai()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "fetch",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    eprintln!("{out}");
    assert_eq!(
        output.status.code(),
        Some(2),
        "some feeds failed: exit 2\n{out}\n{err}"
    );

    // Every class has its line, with its status and reason.
    let classes = hostile::classes();
    for c in &classes {
        let line = report_line(&out, c.name);
        assert!(line.starts_with(c.status), "{}: {line}", c.name);
        assert!(line.contains(c.reason), "{}: {line}", c.name);
        if c.status == "FAILED" {
            assert!(
                line.contains(&server.base),
                "{}: the reason names the URL: {line}",
                c.name
            );
        } else {
            assert_eq!(new_count(line), c.stores, "{}: {line}", c.name);
        }
    }
    for f in &good {
        let line = report_line(&out, &f.name);
        assert!(line.starts_with("ok"), "{line}");
        assert_eq!(new_count(line), per_outlet(&f.name), "{line}");
    }
    let failed = classes.iter().filter(|c| c.status != "ok").count();
    let limited = classes.iter().filter(|c| c.status == "LIMIT").count();
    let stored: usize = classes.iter().map(|c| c.stores).sum::<usize>()
        + per_outlet("paysec")
        + per_outlet("press");
    let total = format!(
        "{} feeds: {stored} new articles, 0 already stored, 0 unchanged, {failed} failed ({limited} over a limit)",
        classes.len() + good.len()
    );
    assert!(out.contains(&total), "want {total:?} in\n{out}");
    // The mislabelled feed's note says how it was read.
    assert!(out.contains("decoded as Shift_JIS"), "{out}");
    // Nothing a terminal would act on reached the report or the errors.
    assert!(!hostile::has_terminal_controls(&out), "{out:?}");
    assert!(!hostile::has_terminal_controls(&err), "{err:?}");

    // Every good item is stored, once, and no stored text carries escape sequences, bidi
    // controls, or anything read from the local disk.
    let export = kessai()
        .args([
            "--store",
            store.to_str().unwrap(),
            "export",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(export.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), stored);
    let mut per_feed: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        *per_feed
            .entry(r["feed"].as_str().unwrap().to_string())
            .or_default() += 1;
        for t in exported_texts(r) {
            assert!(!hostile::has_terminal_controls(&t), "{t:?}");
            assert!(!t.contains("root:x:0:0"), "a local file leaked: {t:?}");
            // Whole sequences are gone, payloads too (not just their ESC).
            for payload in ["pwned-title", "c1-title", "52;c;", "[2J"] {
                assert!(!t.contains(payload), "{payload:?} left in {t:?}");
            }
        }
    }
    for c in &classes {
        assert_eq!(
            per_feed.get(c.name).copied().unwrap_or(0),
            c.stores,
            "{}",
            c.name
        );
    }
    let long = rows.iter().find(|r| r["feed"] == "long").unwrap();
    assert_eq!(long["title"].as_str().unwrap().chars().count(), 300);
    assert!(long["body"].as_str().unwrap().chars().count() <= 20_000);
    let many: Vec<&serde_json::Value> = rows.iter().filter(|r| r["feed"] == "many").collect();
    assert!(
        many.iter()
            .all(|r| r["guid"].as_str().unwrap()["many-".len()..]
                .parse::<usize>()
                .unwrap()
                < 200),
        "the first 200 items are the ones kept"
    );
    let page = rows
        .iter()
        .find(|r| r["guid"] == "esc-1")
        .expect("the escape-laden article is stored");
    let body = page["body"].as_str().unwrap();
    assert!(
        body.contains("危険な本文") && body.contains("二つ目の段落"),
        "{body}"
    );
    assert!(
        !body.contains("alert(1)") && !body.contains("<"),
        "markup is not text: {body}"
    );

    // The store is sound after all of it.
    kessai()
        .args(["--store", store.to_str().unwrap(), "store", "check"])
        .assert()
        .success();
}

#[test]
fn offsite_links_are_ingested_without_full_text_and_full_text_off_fetches_no_pages() {
    let base = Arc::new(Mutex::new(String::new()));
    let hostile = Hostile::start(hostile_handler(base.clone()));
    *base.lock().unwrap() = hostile.base.clone();
    let offsite = FeedConfig::new("offsite", hostile.url("/offsite.xml"));
    let mut summaries_only = FeedConfig::new("summaries", hostile.url("/good.xml"));
    summaries_only.full_text = Some(false);
    let store = Store::open_temporary().unwrap();
    let report = ingest(config_with(vec![offsite, summaries_only]), &store);

    let o = report.feed("offsite").unwrap();
    assert_eq!(
        (o.outcome.clone(), o.new),
        (FeedOutcome::Updated, 1),
        "{o:?}"
    );
    assert!(
        o.notes.iter().any(|n| n.contains("full text skipped")),
        "{o:?}"
    );
    let id = store
        .known(
            &kessai::model::FeedId::new("offsite"),
            "https://example.com/news/1",
            None,
        )
        .unwrap()
        .unwrap();
    let a = store.get(id).unwrap().unwrap().draft;
    assert_eq!(a.body, "");
    assert!(a.summary.starts_with("外部サイトにある記事"));

    let s = report.feed("summaries").unwrap();
    assert_eq!(s.new, 3, "{s:?}");
    assert_eq!(hostile.hits("/page/"), 0, "full_text = false fetched pages");
}

// ------------------------------------------------------------------ the commands

fn kessai() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kessai").unwrap();
    c.env_remove("KESSAI_STORE").env_remove("KESSAI_CONFIG");
    c.timeout(Duration::from_secs(120));
    c
}

#[test]
fn commands_fetch_feeds_export_and_demo() {
    let dir = tempfile::tempdir().unwrap();
    let server = SampleServer::start(SampleOptions {
        slow_feed: false,
        broken_feed: true,
    })
    .unwrap();
    // A user config pointing at the loopback corpus, plus the broken feeds.
    let mut text = String::from("[settings]\nper_host_concurrency = 8\nretries = 0\n\n");
    for f in corpus_feeds(&server) {
        text.push_str(&f.to_toml_block());
        text.push('\n');
    }
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(&cfg, &text).unwrap();
    let store = dir.path().join("store");

    // feeds check / list
    kessai()
        .args(["--config", cfg.to_str().unwrap(), "feeds", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("ok: 10 feeds"));
    kessai()
        .args(["--config", cfg.to_str().unwrap(), "feeds", "list"])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("kinyu-shimbun")
                .and(predicates::str::contains("週刊金融新報")),
        );

    // fetch: the broken feeds fail (exit 2), the others are stored.
    let out = kessai()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "fetch",
        ])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("FAILED    broken-http"), "{out}");
    assert!(out.contains("10 feeds: 171 new articles"), "{out}");
    // Only the good feeds, by name: exit 0 and everything unchanged.
    let out = kessai()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "fetch",
            "--feed",
            "paysec",
            "--feed",
            "press",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("2 feeds: 0 new articles, 0 already stored, 2 unchanged")
    );
    kessai()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "fetch",
            "--feed",
            "nope",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no feed named \"nope\""));

    // export: one JSON object per stored article, with tags and facts.
    let out = kessai()
        .args([
            "--store",
            store.to_str().unwrap(),
            "export",
            "--format",
            "jsonl",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 171);
    for key in [
        "id",
        "feed",
        "url",
        "title",
        "published",
        "summary",
        "body",
        "tags",
        "facts",
    ] {
        assert!(lines[0].get(key).is_some(), "{key} missing");
    }
    assert!(lines.iter().any(|l| {
        l["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["tag"] == "7pay-2019"))
    }));

    // feeds: OPML round trip through import into a fresh file.
    let opml = kessai()
        .args(["--config", cfg.to_str().unwrap(), "feeds", "export-opml"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let opml_path = dir.path().join("subs.opml");
    std::fs::write(&opml_path, opml).unwrap();
    let fresh = dir.path().join("fresh.toml");
    std::fs::write(&fresh, "").unwrap();
    kessai()
        .args([
            "--config",
            fresh.to_str().unwrap(),
            "feeds",
            "import-opml",
            opml_path.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains("10 added"));
    kessai()
        .args(["--config", fresh.to_str().unwrap(), "feeds", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("ok: 10 feeds"));

    // feeds check names the line of every problem.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[feed]]\nname = \"a\"\nurl = \"ftp://x/\"\n\n[[feed]]\nname = \"a\"\nurl = \"https://x/\"\n").unwrap();
    kessai()
        .args(["--config", bad.to_str().unwrap(), "feeds", "check"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            ":3:7: feed \"a\": url \"ftp://x/\" has scheme \"ftp\"",
        ))
        .stdout(predicates::str::contains(
            ":6:8: feed name \"a\" is used twice",
        ));

    // demo: the sample corpus into a fresh store, summary printed.
    let demo_store = dir.path().join("demo");
    kessai()
        .args(["--store", demo_store.to_str().unwrap(), "demo", "--no-tui"])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("8 feeds: 171 new articles")
                .and(predicates::str::contains("incidents: ")),
        );
}

use predicates::prelude::PredicateBooleanExt;

// ------------------------------------------------------------------ kill -9 during fetch

/// A small xorshift generator: the test prints its seed, so a failing run can be replayed
/// with `KESSAI_KILL_SEED`.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const KILL_FEEDS: usize = 20;
const KILL_ITEMS: usize = 200;

/// 20 feeds × up to 200 items (the first `visible` of them, newest first, as a feed that
/// grows between fetches); even items report 不正利用 (they match the alert query), odd ones
/// do not.
fn generated_feeds(
    base: Arc<Mutex<String>>,
    visible: Arc<std::sync::atomic::AtomicUsize>,
) -> hostile::Handler {
    Arc::new(move |path: &str| {
        let base = base.lock().unwrap().clone();
        let n: usize = path
            .strip_prefix("/f")?
            .strip_suffix(".xml")?
            .parse()
            .ok()?;
        let visible = visible.load(std::sync::atomic::Ordering::SeqCst);
        let items: String = (0..visible)
            .rev()
            .map(|i| {
                let what = if i % 2 == 0 {
                    "決済サービスで不正利用が発生"
                } else {
                    "決済サービスの新機能を発表"
                };
                format!(
                    "<item><title>{what} f{n}-{i}</title><link>{base}/f{n}/a{i}</link><guid>f{n}-{i}</guid><pubDate>Mon, 02 Nov 2026 {:02}:{:02}:00 GMT</pubDate><description>{what}した（記事番号 f{n}-{i}）。</description></item>",
                    i / 60,
                    i % 60
                )
            })
            .collect();
        Some(hostile::xml_response(
            hostile::rss(&items),
            "application/rss+xml",
        ))
    })
}

/// Every article of the export, as (feed, guid).
fn exported_guids(store: &Path) -> Vec<(String, String)> {
    let out = kessai()
        .args([
            "--store",
            store.to_str().unwrap(),
            "export",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["feed"].as_str().unwrap().to_string(),
                v["guid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn store_check(store: &Path) {
    let out = kessai()
        .args(["--store", store.to_str().unwrap(), "store", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "store check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// When to kill a run.
enum KillAt {
    /// After this many milliseconds.
    Time(u64),
    /// Once its standard output holds this many feed lines, then `jitter` ms more: in the
    /// middle of writes, since other feeds are being stored when one reports.
    Lines(usize, u64),
    /// Once this file has grown past this many bytes, then `jitter` ms more.
    FileLen(std::path::PathBuf, u64, u64),
}

/// Starts `kessai ARGS` with stdout and stderr into files and kills it with SIGKILL at
/// `at` if it is still running (in any case after 60 s). Returns its stdout, whether the
/// kill landed, and how long it ran.
fn run_and_kill(args: &[&str], dir: &Path, round: usize, at: &KillAt) -> (String, bool, Duration) {
    let started = Instant::now();
    let out_path = dir.join(format!("run{round}.out"));
    let err_path = dir.join(format!("run{round}.err"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kessai"))
        .env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut killed = false;
    let mut fire_at: Option<Instant> = None;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let now = Instant::now();
        if fire_at.is_none() {
            fire_at = match at {
                KillAt::Time(ms) => Some(started + Duration::from_millis(*ms)),
                KillAt::Lines(n, jitter) => {
                    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
                    (out.lines().count() >= *n).then(|| now + Duration::from_millis(*jitter))
                }
                KillAt::FileLen(path, len, jitter) => std::fs::metadata(path)
                    .is_ok_and(|m| m.len() >= *len)
                    .then(|| now + Duration::from_millis(*jitter)),
            };
        }
        if fire_at.is_some_and(|t| now >= t) || started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = started.elapsed();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        !err.contains("panicked"),
        "round {round}: the run panicked: {err}"
    );
    (
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        killed,
        took,
    )
}

#[test]
fn sigkill_during_fetch_and_delivery_stores_and_alerts_every_item_exactly_once() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let seed = std::env::var("KESSAI_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("KESSAI_KILL_SEED={seed}");
    let mut rng = Rng(seed);

    let base = Arc::new(Mutex::new(String::new()));
    let visible = Arc::new(AtomicUsize::new(0));
    let server = Hostile::start(generated_feeds(base.clone(), visible.clone()));
    *base.lock().unwrap() = server.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let store = dir.path().join("store");
    let alerts = dir.path().join("alerts.jsonl");
    let mut text =
        String::from("[settings]\nper_host_concurrency = 8\nretries = 0\nfull_text = false\n\n");
    for n in 0..KILL_FEEDS {
        text.push_str(
            &FeedConfig::new(format!("f{n}"), server.url(&format!("/f{n}.xml"))).to_toml_block(),
        );
        text.push('\n');
    }
    std::fs::write(&cfg, text).unwrap();
    let (cfg_s, store_s) = (cfg.to_str().unwrap(), store.to_str().unwrap());
    kessai()
        .args([
            "--config",
            cfg_s,
            "--store",
            store_s,
            "alert",
            "add",
            "fraud",
            "--query",
            "不正利用",
            "--to",
        ])
        .arg(format!("file:{}", alerts.display()))
        .assert()
        .success();

    // Fetches killed at random points until five kills landed, each followed by the checks:
    // the store opens and is sound, every feed reported as stored is there in full, nothing
    // is twice. The feeds grow by 25 items before each of the first eight runs, so each has
    // new articles to write when the kill comes: a few milliseconds after a random number of
    // feeds reported (while the others are being written), or at a random time within the
    // length of the last run that finished (this run has more to write, so it lasts longer;
    // a fixed window would miss on a faster build, where a run ends before its kill).
    let mut kills = 0;
    let mut round = 0;
    let mut last_full: Option<Duration> = None;
    while kills < 5 && round < 12 {
        round += 1;
        let shown = (KILL_ITEMS * round / 8).min(KILL_ITEMS);
        visible.store(shown, Ordering::SeqCst);
        let at = match last_full {
            Some(d) if rng.next() % 4 != 0 => {
                let window = (d.as_millis() as u64 * 9 / 10).max(41);
                KillAt::Time(rng.between(40, window))
            }
            _ => KillAt::Lines(
                rng.between(1, KILL_FEEDS as u64 / 2) as usize,
                rng.between(0, 10),
            ),
        };
        let (out, killed, took) = run_and_kill(
            &["--config", cfg_s, "--store", store_s, "fetch"],
            dir.path(),
            round,
            &at,
        );
        kills += usize::from(killed);
        if !killed {
            last_full = Some(took);
        }
        let stored = exported_guids(&store);
        let unique: HashSet<&(String, String)> = stored.iter().collect();
        assert_eq!(
            unique.len(),
            stored.len(),
            "round {round} (seed {seed}): duplicates"
        );
        for line in out.lines().filter(|l| l.starts_with("ok ")) {
            let feed = line.split_whitespace().nth(1).unwrap();
            let n = stored.iter().filter(|(f, _)| f == feed).count();
            assert_eq!(
                n, shown,
                "round {round} (seed {seed}): {feed} was reported stored: {line}"
            );
        }
        store_check(&store);
        eprintln!(
            "round {round}: {shown} items per feed, killed: {killed} after {took:?}, {} reported, {} stored",
            out.lines().filter(|l| l.starts_with("ok ")).count(),
            stored.len()
        );
    }
    assert!(
        kills >= 4,
        "the runs should be cut off mid-fetch (seed {seed})"
    );

    // Run to completion: every item exactly once.
    visible.store(KILL_ITEMS, Ordering::SeqCst);
    let out = kessai()
        .args(["--config", cfg_s, "--store", store_s, "fetch"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&format!("{KILL_FEEDS} feeds: ")), "{out}");
    let stored = exported_guids(&store);
    let unique: HashSet<&(String, String)> = stored.iter().collect();
    assert_eq!(stored.len(), KILL_FEEDS * KILL_ITEMS, "seed {seed}");
    assert_eq!(unique.len(), stored.len(), "seed {seed}");
    store_check(&store);

    // Re-tagging, re-indexing and rebuilding killed mid-way: the store stays sound (an
    // interrupted reindex or rebuild is finished by running it again), nothing is lost or
    // doubled, and none of them enqueues alerts (checked with the deliveries below).
    // (Each takes a few hundred milliseconds over these 4,000 articles.)
    for (round, args, within) in [
        (7, vec!["retag"], 260),
        (8, vec!["reindex"], 300),
        (9, vec!["store", "rebuild"], 420),
    ] {
        let mut full = vec!["--config", cfg_s, "--store", store_s];
        full.extend(args.iter());
        let (_, killed, took) = run_and_kill(
            &full,
            dir.path(),
            round,
            &KillAt::Time(rng.between(60, within)),
        );
        eprintln!("{args:?}: killed: {killed} after {took:?}");
        if args[0] != "retag" {
            // An interrupted rebuild is named by check; running it again finishes it.
            kessai().args(&full).assert().success();
        }
        store_check(&store);
        let again = exported_guids(&store);
        assert_eq!(
            again.len(),
            KILL_FEEDS * KILL_ITEMS,
            "{args:?} (seed {seed})"
        );
    }

    // Delivery, killed three times at random points while the alert file grows, then to
    // completion: the file holds each matching article exactly once.
    let mut delivery_kills = 0;
    for round in 10..13 {
        let len = std::fs::metadata(&alerts).map_or(0, |m| m.len());
        // The first round: as soon as the first batch reached the file (before the outbox
        // knows), so at least one kill lands mid-delivery however fast delivery is. Then
        // mostly just after a batch, sometimes at a random time.
        let at = if round == 10 {
            KillAt::FileLen(alerts.clone(), len + 1, 0)
        } else if rng.next() % 4 == 0 {
            KillAt::Time(rng.between(50, 300))
        } else {
            KillAt::FileLen(
                alerts.clone(),
                len + rng.between(1, 250_000),
                rng.between(0, 5),
            )
        };
        let (_, killed, took) = run_and_kill(
            &["--config", cfg_s, "--store", store_s, "watch", "--once"],
            dir.path(),
            round,
            &at,
        );
        delivery_kills += usize::from(killed);
        let lines = std::fs::read_to_string(&alerts)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        eprintln!("delivery round {round}: killed: {killed} after {took:?}, {lines} lines");
    }
    assert!(delivery_kills >= 1, "seed {seed}");
    kessai()
        .args(["--config", cfg_s, "--store", store_s, "watch", "--once"])
        .assert()
        .success();
    let lines: Vec<String> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            v["article"]["url"].as_str().unwrap().to_string()
        })
        .collect();
    let delivered: HashSet<&String> = lines.iter().collect();
    assert_eq!(
        delivered.len(),
        lines.len(),
        "an alert was delivered twice (seed {seed})"
    );
    let want: HashSet<String> = (0..KILL_FEEDS)
        .flat_map(|n| (0..KILL_ITEMS).step_by(2).map(move |i| (n, i)))
        .map(|(n, i)| server.url(&format!("/f{n}/a{i}")))
        .collect();
    assert_eq!(lines.len(), want.len(), "seed {seed}");
    assert!(lines.iter().all(|u| want.contains(u)), "seed {seed}");
    store_check(&store);
}
