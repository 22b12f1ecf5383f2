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
use kessai::model::{Analysis, ArticleDraft, Family, FeedId, TagHit, TagId};
use kessai::store::Store;

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
