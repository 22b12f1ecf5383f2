//! End-to-end alert tests, on loopback only: subscriptions over the sample corpus, file
//! sinks across fetches and restarts, a flaky webhook receiver, and a killed `kessai`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kessai::alerts::{
    AlertIndexer, AlertPayload, AlertState, Deliverer, RetryPolicy, SinkSpec, Subscription,
};
use kessai::config::{Config, FeedConfig, FeedFormat};
use kessai::fetch::NetworkScope;
use kessai::ingest::{FetchReport, Ingest};
use kessai::model::{Analysis, ArticleDraft, Family, FeedId, TagHit, TagId};
use kessai::sample::{self, SampleOptions, SampleServer};
use kessai::store::Store;

// ------------------------------------------------------------------ corpus helpers

/// A feed per sample outlet.
fn corpus_feeds(server: &SampleServer) -> Vec<FeedConfig> {
    server
        .outlets()
        .iter()
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
            f.format = match o.format {
                sample::FeedFormat::HtmlList => FeedFormat::HtmlList,
                _ => FeedFormat::Auto,
            };
            f
        })
        .collect()
}

fn fetch(store: &Store, feeds: Vec<FeedConfig>) -> FetchReport {
    let mut config = Config::with_feeds(feeds.clone());
    config.settings.per_host_concurrency = 8;
    config.settings.retries = 1;
    config.settings.retry_base_ms = 10;
    Ingest::new(config, store.clone(), NetworkScope::LoopbackOnly)
        .unwrap()
        .run_blocking(&feeds, None)
        .unwrap()
}

/// URL paths (under the server) of the corpus articles reporting `incident`, and of the
/// traps: articles that name the incident's service without reporting the incident.
fn incident_paths(incident: &str, service: &str) -> (HashSet<String>, HashSet<String>) {
    let labels = sample::labels().unwrap();
    let yes = labels
        .iter()
        .filter(|l| l.incident.as_ref().is_some_and(|i| i.as_str() == incident))
        .map(|l| l.url_path.clone())
        .collect();
    let traps = labels
        .iter()
        .filter(|l| {
            l.tags.iter().any(|t| t.as_str() == service)
                && l.incident.as_ref().is_none_or(|i| i.as_str() != incident)
        })
        .map(|l| l.url_path.clone())
        .collect();
    (yes, traps)
}

fn path_of(url: &str) -> String {
    url::Url::parse(url).unwrap().path().to_string()
}

fn file_payloads(path: &std::path::Path) -> Vec<AlertPayload> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one alert JSON per line"))
        .collect()
}

fn subscription(name: &str, query: &str, sinks: Vec<SinkSpec>) -> Subscription {
    Subscription {
        name: name.into(),
        query: query.into(),
        sinks,
        paused: false,
        created: Utc::now(),
    }
}

// ------------------------------------------------------------------ corpus, fetches, restart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_subscriptions_fire_once_for_the_right_articles_across_fetches_and_restart() {
    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let file = dir.path().join("alerts.jsonl");
    let (jcoin, jcoin_traps) = incident_paths("j-coin-pay-2019", "j-coin-pay");
    let (seven, seven_traps) = incident_paths("7pay-2019", "7pay");
    assert!(jcoin.len() >= 4 && seven.len() >= 4 && !jcoin_traps.is_empty());
    let feeds = corpus_feeds(&server);
    let first: Vec<FeedConfig> = feeds
        .iter()
        .filter(|f| f.name == "paysec" || f.name == "sec-blog")
        .cloned()
        .collect();
    assert_eq!(first.len(), 2);

    {
        let store = Store::open(&store_dir).unwrap();
        AlertIndexer::register(&store);
        let state = AlertState::open(&store).unwrap();
        let to = vec![SinkSpec::File { path: file.clone() }, SinkSpec::Notice];
        state
            .add(&subscription("jcoin", "tag:j-coin-pay-2019", to.clone()))
            .unwrap();
        state
            .add(&subscription("seven", "tag:7pay-2019", to))
            .unwrap();
        // First fetch: two outlets; delivered.
        let store2 = store.clone();
        let report = tokio::task::spawn_blocking(move || fetch(&store2, first))
            .await
            .unwrap();
        assert_eq!(report.failed(), 0);
        let r = Deliverer::new(state.clone())
            .unwrap()
            .run_once()
            .await
            .unwrap();
        assert_eq!(r.failed, 0, "{r:?}");
        assert!(r.delivered > 0);
    }
    let after_first = file_payloads(&file).len();
    {
        // Restart, second fetch: every outlet (the first two again: nothing new there).
        let store = Store::open(&store_dir).unwrap();
        AlertIndexer::register(&store);
        let state = AlertState::open(&store).unwrap();
        let store2 = store.clone();
        let all = feeds.clone();
        let report = tokio::task::spawn_blocking(move || fetch(&store2, all))
            .await
            .unwrap();
        assert_eq!(report.failed(), 0);
        assert!(report.new_articles() > 0);
        let mut d = Deliverer::new(state.clone()).unwrap();
        assert_eq!(d.run_once().await.unwrap().failed, 0);
        // Third fetch, same process: nothing new, nothing delivered.
        let store2 = store.clone();
        let all = feeds.clone();
        let report = tokio::task::spawn_blocking(move || fetch(&store2, all))
            .await
            .unwrap();
        assert_eq!(report.new_articles(), 0);
        assert_eq!(d.run_once().await.unwrap().delivered, 0);
        let notices = state.recent_notices(1000).unwrap();
        assert_eq!(
            notices.len(),
            jcoin.len() + seven.len(),
            "one notice per match"
        );
    }
    {
        // Restart once more: still nothing to deliver.
        let store = Store::open(&store_dir).unwrap();
        let state = AlertState::open(&store).unwrap();
        assert_eq!(state.outbox_len(), 0);
        let r = Deliverer::new(state).unwrap().run_once().await.unwrap();
        assert_eq!(r.delivered, 0);
    }

    let alerts = file_payloads(&file);
    assert!(
        after_first > 0 && after_first < alerts.len(),
        "both fetches alerted"
    );
    let keys: HashSet<&str> = alerts.iter().map(|a| a.idempotency_key.as_str()).collect();
    assert_eq!(
        keys.len(),
        alerts.len(),
        "each alert exactly once in the file"
    );
    let matched = |name: &str| -> HashSet<String> {
        alerts
            .iter()
            .filter(|a| a.subscription == name)
            .map(|a| path_of(&a.article.url))
            .collect()
    };
    assert_eq!(matched("jcoin"), jcoin, "J-Coin Pay incident articles");
    assert_eq!(matched("seven"), seven, "7pay incident articles");
    assert!(
        matched("jcoin").is_disjoint(&jcoin_traps),
        "no J-Coin Pay trap"
    );
    assert!(matched("seven").is_disjoint(&seven_traps), "no 7pay trap");
}

fn draft(n: u32, title: &str) -> ArticleDraft {
    let t = Utc.with_ymd_and_hms(2019, 7, 4, 9, 0, 0).unwrap();
    ArticleDraft {
        feed: FeedId::new("paysec"),
        url: format!("http://127.0.0.1:9/a/{n}"),
        guid: Some(format!("g{n}")),
        title: title.into(),
        summary: String::new(),
        body: "本文。".into(),
        published: t,
        fetched: t,
        content_hash: format!("hash{n}"),
    }
}

fn tagged(tag: &str, family: Family) -> Analysis {
    Analysis {
        tags: vec![TagHit {
            tag: TagId::new(tag),
            family,
            count: 1,
            spans: vec![],
        }],
        ..Default::default()
    }
}

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    token: Option<String>,
    content_type: Option<String>,
    body: AlertPayload,
    answered: u16,
}

/// A webhook receiver on 127.0.0.1 that answers the first request slowly (past the
/// sink's timeout), the next `fail` requests with 503, and the rest with 200.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(fail: usize, slow: Duration) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (srv, log) = (server.clone(), seen.clone());
        let thread = thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let log = log.clone();
                // Each request on its own thread, so the slow one holds up nothing else.
                thread::spawn(move || {
                    let header = |name: &str| {
                        req.headers()
                            .iter()
                            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                            .map(|h| h.value.to_string())
                    };
                    let (key, token, ctype) = (
                        header("Idempotency-Key").unwrap_or_default(),
                        header("X-Token"),
                        header("Content-Type"),
                    );
                    let mut body = String::new();
                    let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
                    let status = if n == 0 {
                        thread::sleep(slow);
                        200
                    } else if n <= fail {
                        503
                    } else {
                        200
                    };
                    log.lock().unwrap().push(Seen {
                        key,
                        token,
                        content_type: ctype,
                        body: serde_json::from_str(&body).expect("alert JSON"),
                        answered: status,
                    });
                    let _ = req.respond(tiny_http::Response::empty(status));
                });
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            seen,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test]
async fn flaky_webhook_ends_with_every_alert_once_by_key() {
    let receiver = Receiver::start(3, Duration::from_millis(1500));
    let store = Store::open_temporary().unwrap();
    AlertIndexer::register(&store);
    let state = AlertState::open(&store).unwrap();
    let sink = SinkSpec::parse(&format!(
        "webhook:{}#header=X-Token:env=KESSAI_TEST_HOOK_TOKEN&timeout=1s",
        receiver.url
    ))
    .unwrap();
    state
        .add(&Subscription {
            name: "hook".into(),
            query: "tag:7pay".into(),
            sinks: vec![sink],
            paused: false,
            created: Utc::now(),
        })
        .unwrap();
    let seven = tagged("7pay", Family::Service);
    for n in 1..=5 {
        store
            .insert(draft(n, &format!("セブンペイ <b>続報</b> & {n}")), &seven)
            .unwrap();
    }
    store
        .insert(
            draft(99, "関係のない記事"),
            &tagged("paypay", Family::Service),
        )
        .unwrap();
    store.flush().unwrap();
    let expected: HashSet<String> = state
        .outbox_entries()
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.id)
        .collect();
    assert_eq!(expected.len(), 5);

    let mut deliverer = Deliverer::new(state.clone())
        .unwrap()
        .with_policy(RetryPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        })
        .with_env(Arc::new(|name: &str| {
            (name == "KESSAI_TEST_HOOK_TOKEN").then(|| "s3cret".to_string())
        }));
    let started = Instant::now();
    let mut rounds = 0;
    let mut failures = 0;
    while state.outbox_len() > 0 {
        assert!(
            rounds < 300 && started.elapsed() < Duration::from_secs(30),
            "not drained"
        );
        let r = deliverer.run_once().await.unwrap();
        failures += r.failed;
        rounds += 1;
        if r.pending > 0 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert!(failures >= 4, "one timeout and three 503s: {failures}");
    // Let the slow first answer finish being recorded.
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let seen = receiver.seen.lock().unwrap().clone();
    let mut accepted: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        assert_eq!(s.token.as_deref(), Some("s3cret"));
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
        assert_eq!(s.body.idempotency_key, s.key, "header and body agree");
        assert!(
            s.body
                .text
                .starts_with("[kessai] hook: <http://127.0.0.1:9/a/")
        );
        assert!(
            s.body.text.contains("&lt;b&gt;続報&lt;/b&gt; &amp;"),
            "{}",
            s.body.text
        );
        if s.answered == 200 {
            *accepted.entry(s.key.clone()).or_default() += 1;
        }
    }
    let keys: HashSet<String> = accepted.keys().cloned().collect();
    assert_eq!(keys, expected, "every alert reached the receiver");
    // The timed-out request was answered 200 by the receiver after the client gave up, so
    // its alert arrived twice: the key is what lets the receiver keep it once.
    assert_eq!(
        accepted.values().filter(|&&c| c == 2).count(),
        1,
        "{accepted:?}"
    );
    assert_eq!(accepted.values().sum::<usize>(), 6);
}

#[tokio::test]
async fn exec_sink_gets_hostile_titles_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("x");
    let out = dir.path().join("got.jsonl");
    let store = Store::open_temporary().unwrap();
    AlertIndexer::register(&store);
    let state = AlertState::open(&store).unwrap();
    state
        .add(&Subscription {
            name: "ex".into(),
            query: "tag:7pay".into(),
            sinks: vec![SinkSpec::parse(&format!("exec:tee -a '{}'", out.display())).unwrap()],
            paused: false,
            created: Utc::now(),
        })
        .unwrap();
    let title = format!(
        "$(touch {m}); rm -rf ~ `touch {m}` && touch {m} | touch {m}",
        m = marker.display()
    );
    store
        .insert(draft(1, &title), &tagged("7pay", Family::Service))
        .unwrap();
    let r = Deliverer::new(state).unwrap().run_once().await.unwrap();
    assert_eq!(r.delivered, 1, "{r:?}");
    let got: AlertPayload =
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    assert_eq!(got.article.title, title);
    assert!(!marker.exists(), "the title was run by a shell");
}

// ------------------------------------------------------------------ a killed kessai

/// A webhook receiver that, until `answer` is set, records each request and holds it
/// without answering; afterwards it answers 200 at once.
struct Stall {
    url: String,
    keys: Arc<Mutex<Vec<(String, bool)>>>,
    answer: Arc<std::sync::atomic::AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Stall {
    fn start() -> Stall {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (srv, log, ans) = (server.clone(), keys.clone(), answer.clone());
        let thread = thread::spawn(move || {
            for req in srv.incoming_requests() {
                let (log, ans) = (log.clone(), ans.clone());
                thread::spawn(move || {
                    let key = req
                        .headers()
                        .iter()
                        .find(|h| {
                            h.field
                                .as_str()
                                .as_str()
                                .eq_ignore_ascii_case("Idempotency-Key")
                        })
                        .map(|h| h.value.to_string())
                        .unwrap_or_default();
                    let answered = ans.load(Ordering::SeqCst);
                    log.lock().unwrap().push((key, answered));
                    let until = Instant::now() + Duration::from_secs(120);
                    while !ans.load(Ordering::SeqCst) && Instant::now() < until {
                        thread::sleep(Duration::from_millis(20));
                    }
                    let _ = req.respond(tiny_http::Response::empty(200));
                });
            }
        });
        Stall {
            url: format!("http://127.0.0.1:{port}/hook"),
            keys,
            answer,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.answer.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn kessai(cfg: &std::path::Path, store: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kessai"));
    c.env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .arg("--config")
        .arg(cfg)
        .arg("--store")
        .arg(store);
    c
}

fn run_ok(mut c: std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sigkill_between_commit_and_delivery_loses_nothing_and_duplicates_nothing() {
    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let hook = Stall::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let store = dir.path().join("store");
    let file = dir.path().join("alerts.jsonl");
    let mut text = String::from("[settings]\nper_host_concurrency = 8\nretries = 0\n\n");
    for f in corpus_feeds(&server) {
        text.push_str(&f.to_toml_block());
        text.push('\n');
    }
    std::fs::write(&cfg, text).unwrap();
    let (jcoin, _) = incident_paths("j-coin-pay-2019", "j-coin-pay");

    // Same query, two subscriptions: `a-hook` sorts first, so for every article its
    // webhook delivery comes before `b-file`'s file delivery.
    let mut add = kessai(&cfg, &store);
    add.args([
        "alert",
        "add",
        "a-hook",
        "--query",
        "tag:j-coin-pay-2019",
        "--to",
    ])
    .arg(format!("webhook:{}#timeout=60s", hook.url));
    run_ok(add);
    let mut add = kessai(&cfg, &store);
    add.args([
        "alert",
        "add",
        "b-file",
        "--query",
        "tag:j-coin-pay-2019",
        "--to",
    ])
    .arg(format!("file:{}", file.display()));
    run_ok(add);

    // Fetch and commit; kill -9 while the first delivery is in the receiver's hands.
    let log = std::fs::File::create(dir.path().join("watch1.log")).unwrap();
    let mut child = kessai(&cfg, &store)
        .args(["watch", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while hook.keys.lock().unwrap().is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "watch ended before delivering ({status}): {}",
                std::fs::read_to_string(dir.path().join("watch1.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no delivery began"
        );
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        file_payloads(&file).is_empty(),
        "the kill came before any file delivery"
    );

    // Restart: everything committed is delivered, once.
    hook.answer.store(true, Ordering::SeqCst);
    let mut again = kessai(&cfg, &store);
    again.args(["watch", "--once"]);
    run_ok(again);
    let mut third = kessai(&cfg, &store);
    third.args(["watch", "--once"]);
    run_ok(third);

    let alerts = file_payloads(&file);
    let paths: Vec<String> = alerts.iter().map(|a| path_of(&a.article.url)).collect();
    let unique: HashSet<String> = paths.iter().cloned().collect();
    assert_eq!(
        paths.len(),
        unique.len(),
        "no duplicate in the file: {paths:?}"
    );
    assert_eq!(unique, jcoin, "every matching article, once");
    let seen = hook.keys.lock().unwrap().clone();
    let delivered: HashSet<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(delivered.len(), jcoin.len(), "the webhook got every alert");
    let first_key = &seen[0].0;
    assert!(
        seen.iter().filter(|(k, _)| k == first_key).count() >= 2,
        "the interrupted alert was sent again with the same key"
    );
    let mut outbox = kessai(&cfg, &store);
    outbox.args(["alert", "outbox"]);
    assert!(run_ok(outbox).contains("no alerts waiting"));
}
