//! The ingest pipeline end to end, against servers on 127.0.0.1 only: the sample corpus
//! (every outlet, format and encoding), conditional re-fetches, hostile feeds of every class
//! the hardening issue names, offline full-text rules, and the `fetch` / `feeds` / `export`
//! / `demo` commands.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kessai::config::{Config, FeedConfig, FeedFormat};
use kessai::fetch::NetworkScope;
use kessai::ingest::{FeedOutcome, FetchReport, Ingest};
use kessai::normalize::{canonical_url, normalize_line, normalize_paragraphs};
use kessai::sample::{self, SampleOptions, SampleServer};
use kessai::store::Store;

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

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

type Handler = Arc<dyn Fn(&str) -> Option<tiny_http::ResponseBox> + Send + Sync>;

/// A loopback server answering from a handler; stops on drop.
struct Hostile {
    base: String,
    server: Arc<tiny_http::Server>,
    hits: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    fn start(handler: Handler) -> Hostile {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (s2, h2) = (server.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for req in s2.incoming_requests() {
                let path = req.url().to_string();
                h2.lock().unwrap().push(path.clone());
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let resp =
                        handler(&path).unwrap_or_else(|| tiny_http::Response::empty(404).boxed());
                    let _ = req.respond(resp);
                });
            }
        });
        Hostile {
            base,
            server,
            hits,
            thread: Some(thread),
        }
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn hits(&self, prefix: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    )
}

fn xml_response(body: impl Into<Vec<u8>>, content_type: &str) -> tiny_http::ResponseBox {
    tiny_http::Response::from_data(body.into())
        .with_header(header("Content-Type", content_type))
        .boxed()
}

/// A reader of `n` bytes of `b`, produced lazily.
struct Fill(usize, u8);
impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0);
        buf[..n].fill(self.1);
        self.0 -= n;
        Ok(n)
    }
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

fn hostile_handler(base: Arc<Mutex<String>>) -> Handler {
    Arc::new(move |path: &str| {
        let base = base.lock().unwrap().clone();
        let item = |i: usize, title: &str| {
            format!(
                "<item><title>{title}</title><link>{base}/page/{i}</link><guid>g{i}</guid><description>要約{i}：決済サービスで不正利用が発生した。</description></item>"
            )
        };
        Some(match path {
            "/good.xml" => xml_response(
                rss(&(1..=3).map(|i| item(i, &format!("正常な記事{i}"))).collect::<String>()),
                "application/rss+xml; charset=utf-8",
            ),
            p if p.starts_with("/page/") => tiny_http::Response::from_string(
                "<html><body><div class=\"article-body\"><p>本文の段落です。キャッシュレス決済の不正利用について、事業者が調査結果を公表した。</p><p>二つ目の段落です。被害額は約1,000万円に上るという。</p></div><aside class=\"related\"><h2>関連記事</h2></aside></body></html>"
            )
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .boxed(),
            "/deep-page.xml" => xml_response(
                rss(&format!(
                    "<item><title>深い入れ子のページ</title><link>{base}/deep/1</link></item>"
                )),
                "application/rss+xml",
            ),
            "/deep/1" => {
                let n = 200_000;
                tiny_http::Response::from_string(format!(
                    "<html><body>{}<p>入れ子の奥にある本文の段落。決済の不正利用の記事である。</p>{}</body></html>",
                    "<div>".repeat(n),
                    "</div>".repeat(n)
                ))
                .boxed()
            }
            "/bomb.xml" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let block = vec![b' '; 1 << 20];
                for _ in 0..64 {
                    e.write_all(&block).unwrap();
                }
                tiny_http::Response::from_data(e.finish().unwrap())
                    .with_header(header("Content-Encoding", "gzip"))
                    .boxed()
            }
            "/big.xml" => tiny_http::Response::new(200.into(), vec![], Fill(64 << 20, b' '), None, None)
                .boxed(),
            "/loop-a.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "/loop-b.xml"))
                .boxed(),
            "/loop-b.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "/loop-a.xml"))
                .boxed(),
            "/to-file.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "file:///etc/passwd"))
                .boxed(),
            "/html.xml" => tiny_http::Response::from_string(
                "<!DOCTYPE html><html><head><title>ようこそ</title></head><body><p>フィードではありません</p></body></html>",
            )
            .with_header(header("Content-Type", "text/html"))
            .boxed(),
            "/mislabelled.xml" => {
                let doc = rss(&item(10, "シフトJISなのにUTF-8と名乗るフィード"));
                let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&doc);
                xml_response(bytes.into_owned(), "application/rss+xml; charset=utf-8")
            }
            "/binary.xml" => xml_response(
                (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
                "application/rss+xml",
            ),
            "/garbage.xml" => xml_response(
                (0..4096).map(|i| [0x80u8, 0xA0, 0xFD, 0xFF][i % 4]).collect::<Vec<u8>>(),
                "application/rss+xml",
            ),
            "/empty.xml" => xml_response(Vec::new(), "application/rss+xml"),
            "/404.xml" => tiny_http::Response::from_string("gone").with_status_code(404).boxed(),
            "/500.xml" => tiny_http::Response::from_string("oops").with_status_code(500).boxed(),
            "/laughs.xml" => xml_response(
                format!(
                    "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\">{}]><rss version=\"2.0\"><channel><title>&e9;</title></channel></rss>",
                    (1..10)
                        .map(|i| format!("<!ENTITY e{i} \"{}\">", format!("&e{};", i - 1).replace("&e0;", "&a;").repeat(10)))
                        .collect::<String>()
                ),
                "application/rss+xml",
            ),
            "/xxe.xml" => xml_response(
                "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><rss version=\"2.0\"><channel><title>t</title><item><title>&xxe;</title><link>/x</link></item></channel></rss>",
                "application/rss+xml",
            ),
            "/truncated.xml" => {
                let doc = rss(&(1..=3).map(|i| item(100 + i, "途中で切れるフィード")).collect::<String>());
                xml_response(doc[..doc.len() - 40].to_string(), "application/rss+xml")
            }
            "/one-guid.xml" => xml_response(
                rss(&(0..1000)
                    .map(|i| format!("<item><title>同じGUID {i}</title><link>{base}/page/500</link><guid>same-guid</guid></item>"))
                    .collect::<String>()),
                "application/rss+xml",
            ),
            "/escapes.xml" => xml_response(
                rss(&format!(
                    "<item><title>\u{1b}]0;pwned\u{7}\u{1b}[2J赤字 &lt;script&gt;alert(1)&lt;/script&gt;\u{202e}逆順</title><link>{base}/page/600</link><description>\u{1b}[31m本文\u{9b}31m</description></item>"
                )),
                "application/rss+xml",
            ),
            "/offsite.xml" => xml_response(
                rss(
                    "<item><title>外部サイトの記事</title><link>https://example.com/news/1</link><description>外部サイトにある記事の要約である。決済の不正利用が起きた。</description></item>",
                ),
                "application/rss+xml",
            ),
            _ => return None,
        })
    })
}

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
