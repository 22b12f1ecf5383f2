//! Store tests across processes and through the `kessai store` command: the second-process
//! lock message, SIGKILL at random points while ingesting, check/rebuild from the command
//! line, damaged files, and a property test of paging against a brute-force filter.
//!
//! Child processes are this test binary re-executed with an environment variable that
//! selects the child role (see `child_role`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, TimeZone, Utc};
use kessai::model::{
    Analysis, Article, ArticleDraft, ArticleId, Family, FeedId, Flags, TagHit, TagId,
};
use kessai::store::{
    Batch, IndexCtx, IndexResult, Indexer, ListFilter, Store, StoreError, StoreOptions,
};
use proptest::prelude::*;

const CHILD_ENV: &str = "KESSAI_STORE_TEST_CHILD";
const CRASH_ARTICLES: u32 = 3000;
const CHUNK: u32 = 20;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 9, 1, 0, 0, 0).unwrap()
}

/// Article `i` of the crash corpus (deterministic, so every run inserts the same ones).
fn crash_draft(i: u32) -> ArticleDraft {
    ArticleDraft {
        feed: FeedId::new(format!("feed-{}", i % 7)),
        url: format!("http://127.0.0.1:1/a/{i}"),
        guid: Some(format!("guid-{i}")),
        title: format!("ドコモ口座 不正引き出し 第{i}報"),
        summary: "口座振替の不正利用が相次いだ。".repeat(3),
        body: "本人確認が不十分だった。".repeat(20),
        published: t0() + chrono::Duration::minutes(i64::from(i % 997) * 13),
        fetched: t0(),
        content_hash: format!("h{i}"),
    }
}

fn crash_analysis(i: u32) -> Analysis {
    let mut tags = vec![TagHit {
        tag: TagId::new("docomo-koza"),
        family: Family::Service,
        count: 1,
        spans: vec![],
    }];
    if i % 3 == 0 {
        tags.push(TagHit {
            tag: TagId::new("fraudulent-use"),
            family: Family::Threat,
            count: 2,
            spans: vec![],
        });
    }
    Analysis {
        tags,
        facts: Default::default(),
    }
}

/// An indexer writing to its own tree, so the crash test covers multi-tree transactions.
struct DocIndexer;

impl Indexer for DocIndexer {
    fn name(&self) -> &str {
        "docs"
    }
    fn on_insert(&self, _: &IndexCtx, a: &Article, _: &Analysis, batch: &mut Batch) -> IndexResult {
        batch.insert("docs", a.id.to_be_bytes().to_vec(), a.draft.url.as_bytes())?;
        Ok(())
    }
    fn on_remove(&self, _: &IndexCtx, a: &Article, _: &Analysis, batch: &mut Batch) -> IndexResult {
        batch.remove("docs", a.id.to_be_bytes().to_vec())?;
        Ok(())
    }
    fn derived_trees(&self) -> Vec<String> {
        vec!["docs".into()]
    }
}

/// Opens a store, retrying briefly while a killed child's lock is being released.
fn open_retrying(path: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(path) {
            Ok(s) => return s,
            Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("open {}: {e}", path.display()),
        }
    }
}

/// The child role, selected by `KESSAI_STORE_TEST_CHILD=role:path`. Runs inside the test
/// named `child_role` so the harness can start it.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let (role, path) = spec.split_once(':').expect("role:path");
    let path = Path::new(path);
    match role {
        "ingest" => {
            let store = open_retrying(path);
            store.register_indexer(Arc::new(DocIndexer));
            // Resume like ingest does: skip whole chunks already stored (dedup covers the
            // partly stored one), so each run's kills land in fresh writes.
            let mut i = 0;
            while i < CRASH_ARTICLES
                && store
                    .find_duplicate(&crash_draft((i + CHUNK).min(CRASH_ARTICLES) - 1))
                    .unwrap()
                    .is_some()
            {
                i += CHUNK;
            }
            while i < CRASH_ARTICLES {
                let end = (i + CHUNK).min(CRASH_ARTICLES);
                let items = (i..end)
                    .map(|n| (crash_draft(n), crash_analysis(n)))
                    .collect();
                for r in store.insert_many(items).unwrap() {
                    r.unwrap();
                }
                // Read some, retag some: crashes land inside these writes too.
                if let Some(id) = store.find_duplicate(&crash_draft(i)).unwrap() {
                    store
                        .set_flags(
                            id,
                            Flags {
                                read: true,
                                starred: i % 40 == 0,
                            },
                        )
                        .unwrap();
                    store.set_analysis(id, &crash_analysis(i + 1)).unwrap();
                }
                store.flush().unwrap();
                // Only now is the chunk reported as stored.
                println!("FLUSHED {end}");
                i = end;
            }
            println!("DONE");
        }
        "rebuild" => {
            let store = open_retrying(path);
            store.register_indexer(Arc::new(DocIndexer));
            println!("REBUILDING");
            for round in 0..1000u32 {
                // Retag differently each round so every round rewrites tags and counters.
                store
                    .rebuild(|d| crash_analysis(d.title.len() as u32 + round))
                    .unwrap();
            }
        }
        "hold" => {
            let _store = Store::open(path).unwrap();
            println!("HOLDING");
            std::thread::sleep(Duration::from_secs(30));
        }
        other => panic!("unknown child role {other}"),
    }
}

fn child(role: &str, path: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child_role", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{role}:{}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The count in a child's `FLUSHED n` line (the harness may print its own text before it).
fn flushed_in(line: &str) -> Option<u32> {
    line.split("FLUSHED ").nth(1)?.trim().parse().ok()
}

/// A small xorshift so the kill points vary per run; the seed is printed for replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_points_loses_no_flushed_article_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let seed = std::env::var("KESSAI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1);
    eprintln!("crash test seed {seed} (KESSAI_CRASH_SEED replays it)");
    let mut rng = Rng(seed);
    let mut flushed_max = 0u32;
    let mut kills = 0;
    let mut killed_mid_run = 0;
    for round in 0..6 {
        let mut c = child("ingest", &path).spawn().unwrap();
        let stdout = c.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill after a random number of reported chunks, at a random moment after it.
        let target_chunks = 1 + rng.next() % 30;
        let mut seen = 0;
        let mut done = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen < target_chunks && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(l) if flushed_in(&l).is_some() => {
                    seen += 1;
                    flushed_max = flushed_max.max(flushed_in(&l).unwrap_or(0));
                }
                Ok(l) if l.ends_with("DONE") => {
                    done = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 30_000));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        kills += 1;
        // Lines that arrived before the kill count as reported.
        while let Ok(l) = rx.try_recv() {
            if let Some(n) = flushed_in(&l) {
                flushed_max = flushed_max.max(n);
            }
        }
        reader.join().unwrap();
        eprintln!("round {round}: killed after {seen} chunks, {flushed_max} articles reported");
        if !done {
            killed_mid_run += 1;
        }

        let store = open_retrying(&path);
        store.register_indexer(Arc::new(DocIndexer));
        let report = store.check().unwrap();
        assert!(
            report.is_ok(),
            "round {round} (seed {seed}): {:#?}",
            report.violations
        );
        assert_every_reported_article_once(&store, flushed_max, round, seed);
        drop(store);
        if done {
            break;
        }
    }
    assert!(kills >= 1);
    assert!(
        killed_mid_run >= 1 && flushed_max > 0,
        "no kill landed mid-run"
    );

    // Finish the run: everything ends up stored exactly once.
    let out = child("ingest", &path).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("DONE"));
    let store = open_retrying(&path);
    assert!(store.check().unwrap().is_ok());
    assert_every_reported_article_once(&store, CRASH_ARTICLES, 99, seed);
    assert_eq!(store.article_count().unwrap(), u64::from(CRASH_ARTICLES));
    drop(store);

    // Kill rebuilds (retag + reindex + indexer trees) at random moments.
    for round in 0..3 {
        let mut c = child("rebuild", &path).spawn().unwrap();
        let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.map(|l| l.ends_with("REBUILDING")).unwrap_or(false)));
        std::thread::sleep(Duration::from_millis(50 + rng.next() % 700));
        c.kill().unwrap();
        c.wait().unwrap();
        let store = open_retrying(&path);
        store.register_indexer(Arc::new(DocIndexer));
        let pending = store.needs_rebuild().unwrap();
        eprintln!("rebuild round {round}: killed, rebuild pending: {pending}");
        if pending {
            // Reads still work; check names the interrupted rebuild; a rebuild finishes it.
            assert!(!store.check().unwrap().is_ok());
            store.rebuild_keeping_analysis().unwrap();
        }
        let report = store.check().unwrap();
        assert!(
            report.is_ok(),
            "rebuild round {round} (seed {seed}): {:#?}",
            report.violations
        );
        assert_every_reported_article_once(&store, CRASH_ARTICLES, 100 + round, seed);
    }
}

fn assert_every_reported_article_once(store: &Store, flushed: u32, round: u32, seed: u64) {
    // Each reported article is findable, under one id whose record is that article.
    for i in 0..flushed {
        let d = crash_draft(i);
        let id = store
            .find_duplicate(&d)
            .unwrap()
            .unwrap_or_else(|| panic!("round {round} seed {seed}: article {i} reported but lost"));
        assert_eq!(store.get(id).unwrap().unwrap().draft.url, d.url);
    }
    // No url is stored twice, and the docs tree (written by the indexer in the same
    // transaction) matches the articles one to one.
    let ids: Vec<ArticleId> = store.ids_newest_first().map(|r| r.unwrap()).collect();
    let mut urls = HashSet::new();
    for id in &ids {
        let url = store.get(*id).unwrap().unwrap().draft.url;
        assert!(
            urls.insert(url.clone()),
            "round {round} seed {seed}: {url} stored twice"
        );
    }
    assert_eq!(ids.len() as u64, store.article_count().unwrap());
    let docs = store.tree("docs").unwrap();
    assert_eq!(
        docs.len(),
        ids.len(),
        "round {round} seed {seed}: indexer tree out of step"
    );
}

#[test]
fn a_second_process_is_told_who_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::open(&path).unwrap();
    // Through the command line...
    let out = Command::cargo_bin("kessai")
        .unwrap()
        .args(["--store", path.to_str().unwrap(), "store", "info"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "store {} is in use by another kessai (pid {}); close it or use --store",
        path.display(),
        std::process::id()
    );
    assert!(err.contains(&want), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, no trace: {err}");
    drop(store);

    // ...and the other way round: a child holds it, we get its pid.
    let mut c = child("hold", &path).spawn().unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.map(|l| l.ends_with("HOLDING")).unwrap_or(false)));
    match Store::open(&path) {
        Err(StoreError::InUse { pid, .. }) => assert_eq!(pid, Some(c.id())),
        other => panic!("expected InUse, got {other:?}"),
    }
    c.kill().unwrap();
    c.wait().unwrap();
    // The dead holder's lock file is taken over.
    let s = open_retrying(&path);
    assert_eq!(s.article_count().unwrap(), 0);
}

fn kessai(path: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("kessai")
        .unwrap()
        .arg("--store")
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn store_commands_report_check_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let s = Store::open(&path).unwrap();
        for i in 0..50 {
            s.insert(crash_draft(i), &crash_analysis(i)).unwrap();
        }
        s.flush().unwrap();
    }
    let out = kessai(&path, &["store", "info"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("schema version  1"), "{text}");
    assert!(
        text.contains("articles        50 (50 unread, 0 starred)"),
        "{text}"
    );
    let out = kessai(&path, &["store", "info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["articles"], 50);

    assert!(kessai(&path, &["store", "check"]).status.success());

    // Damage it behind the store's back: drop a date-index entry and a tag counter.
    {
        let db = sled::open(&path).unwrap();
        let first_date = db.scan_prefix(b"d").keys().next().unwrap().unwrap();
        db.remove(first_date).unwrap();
        db.remove(b"Tdocomo-koza").unwrap();
        db.flush().unwrap();
    }
    let out = kessai(&path, &["store", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is missing from the date index"), "{text}");
    assert!(
        text.contains("counter tag docomo-koza says nothing"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");

    let out = kessai(&path, &["store", "rebuild"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("50 articles"));
    assert!(kessai(&path, &["store", "check"]).status.success());
}

#[test]
fn rebuild_retag_uses_the_tagger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let s = Store::open(&path).unwrap();
        let mut d = crash_draft(1);
        d.title = "セブンペイ、二要素認証なしで不正アクセス被害".into();
        d.body = "セブン&アイ・ホールディングスは、スマートフォン決済「7pay」で不正アクセスによる被害が発生したと発表した。二要素認証を導入していなかった。".into();
        s.insert(d, &Analysis::default()).unwrap();
        s.flush().unwrap();
    }
    let out = kessai(&path, &["store", "rebuild", "--retag"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-tagged and rebuilt"));
    let s = Store::open(&path).unwrap();
    let tags: Vec<String> = s.tag_counts().unwrap().into_iter().map(|t| t.0.0).collect();
    assert!(tags.iter().any(|t| t == "7pay"), "{tags:?}");
    assert!(tags.iter().any(|t| t == "2fa"), "{tags:?}");
    assert!(s.check().unwrap().is_ok());
}

#[test]
fn damaged_or_foreign_stores_give_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // A folder of someone else's files.
    let foreign = dir.path().join("docs");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.txt"), "do not touch").unwrap();
    let out = kessai(&foreign, &["store", "info"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a kessai store"), "{err}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // A store whose files were overwritten with garbage.
    let path = dir.path().join("store");
    {
        let s = Store::open(&path).unwrap();
        s.insert(crash_draft(1), &crash_analysis(1)).unwrap();
        s.flush().unwrap();
    }
    for name in ["conf", "db"] {
        std::fs::write(path.join(name), vec![0xA5u8; 4096]).unwrap();
    }
    let out = kessai(&path, &["store", "info"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("kessai: "), "{err}");
    assert!(last.contains(&path.display().to_string()), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}

// ---------------------------------------------------------------- property: paging

#[derive(Debug, Clone)]
struct Gen {
    feed: u8,
    tags: u8,
    hour: u8,
    read: bool,
    starred: bool,
}

const TAGS: [(&str, Family); 4] = [
    ("7pay", Family::Service),
    ("j-coin-pay", Family::Service),
    ("phishing", Family::Threat),
    ("2fa", Family::Control),
];

fn gen_analysis(mask: u8) -> Analysis {
    Analysis {
        tags: TAGS
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, (t, f))| TagHit {
                tag: TagId::new(*t),
                family: *f,
                count: 1,
                spans: vec![],
            })
            .collect(),
        facts: Default::default(),
    }
}

fn gen_article() -> impl Strategy<Value = Gen> {
    (0u8..3, 0u8..16, 0u8..24, any::<bool>(), any::<bool>()).prop_map(
        |(feed, tags, hour, read, starred)| Gen {
            feed,
            tags,
            hour,
            read,
            starred,
        },
    )
}

fn gen_filter() -> impl Strategy<Value = ListFilter> {
    (
        prop::option::of(0u8..4),
        prop::option::of(0usize..5),
        prop::option::of(0usize..3),
        prop::option::of(0u8..26),
        prop::option::of(0u8..26),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(feed, tag, fam, since, until, unread_only, starred_only)| ListFilter {
                feed: feed.map(|f| FeedId::new(format!("feed{f}"))),
                tag: tag.map(|t| TagId::new(TAGS.get(t).map(|x| x.0).unwrap_or("none"))),
                family: fam.map(|f| [Family::Service, Family::Threat, Family::Incident][f]),
                since: since.map(|h| t0() + chrono::Duration::hours(i64::from(h))),
                until: until.map(|h| t0() + chrono::Duration::hours(i64::from(h))),
                unread_only,
                starred_only,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn paging_agrees_with_a_brute_force_filter(
        articles in prop::collection::vec(gen_article(), 0..40),
        retag in prop::collection::vec((0usize..40, 0u8..16), 0..6),
        remove in prop::collection::vec(0usize..40, 0..4),
        filters in prop::collection::vec(gen_filter(), 1..6),
        limit in 1usize..7,
        budget in 1usize..30,
    ) {
        let store = Store::open_temporary_with(StoreOptions {
            page_scan_budget: budget,
            ..Default::default()
        }).unwrap();
        // The model: id → (feed, tag mask, hour, flags).
        let mut model: BTreeMap<ArticleId, (u8, u8, u8, Flags)> = BTreeMap::new();
        for (i, g) in articles.iter().enumerate() {
            let d = ArticleDraft {
                feed: FeedId::new(format!("feed{}", g.feed)),
                url: format!("http://127.0.0.1/{i}"),
                guid: None,
                title: format!("t{i}"),
                summary: String::new(),
                body: String::new(),
                published: t0() + chrono::Duration::hours(i64::from(g.hour)),
                fetched: t0(),
                content_hash: format!("c{i}"),
            };
            let id = store.insert(d, &gen_analysis(g.tags)).unwrap().id();
            let flags = Flags { read: g.read, starred: g.starred };
            store.set_flags(id, flags).unwrap();
            model.insert(id, (g.feed, g.tags, g.hour, flags));
        }
        let ids: Vec<ArticleId> = model.keys().copied().collect();
        for (i, mask) in retag {
            if let Some(id) = ids.get(i) {
                store.set_analysis(*id, &gen_analysis(mask)).unwrap();
                model.get_mut(id).unwrap().1 = mask;
            }
        }
        for i in remove {
            if let Some(id) = ids.get(i) {
                store.remove(*id).unwrap();
                model.remove(id);
            }
        }
        prop_assert!(store.check().unwrap().is_ok());
        for f in filters {
            let mut want: Vec<(u8, ArticleId)> = model
                .iter()
                .filter(|(_, (feed, mask, hour, flags))| {
                    let t = t0() + chrono::Duration::hours(i64::from(*hour));
                    let tags: BTreeSet<usize> = (0..4).filter(|i| mask & (1 << i) != 0).collect();
                    f.feed.as_ref().is_none_or(|x| x.as_str() == format!("feed{feed}"))
                        && f.tag.as_ref().is_none_or(|x| tags.iter().any(|i| TAGS[*i].0 == x.as_str()))
                        && f.family.is_none_or(|fam| tags.iter().any(|i| TAGS[*i].1 == fam))
                        && f.since.is_none_or(|s| t >= s)
                        && f.until.is_none_or(|u| t < u)
                        && (!f.unread_only || !flags.read)
                        && (!f.starred_only || flags.starred)
                })
                .map(|(id, (_, _, hour, _))| (*hour, *id))
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            let want: Vec<ArticleId> = want.into_iter().map(|(_, id)| id).collect();

            let mut got = Vec::new();
            let mut cursor = None;
            for _ in 0..10_000 {
                let p = store.page(&f, cursor, limit).unwrap();
                prop_assert!(p.items.len() <= limit);
                got.extend(p.items);
                match p.next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            // ListFilter::accepts (for results ranked elsewhere) says the same of each article.
            for id in model.keys() {
                let a = store.get(*id).unwrap().unwrap();
                let an = store.analysis(*id).unwrap().unwrap_or_default();
                let fl = store.flags(*id).unwrap().unwrap_or_default();
                prop_assert_eq!(f.accepts(&a, &an, fl), want.contains(id), "filter {:?}", f);
            }
            prop_assert_eq!(got, want, "filter {:?}", f);
        }
    }
}

#[test]
fn scribbled_store_files_give_typed_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let s = Store::open(&path).unwrap();
        let items = (0..2000)
            .map(|i| (crash_draft(i), crash_analysis(i)))
            .collect();
        s.insert_many(items).unwrap();
        s.flush().unwrap();
    }
    let db = path.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    for (k, at) in [len / 3, len / 2, len - 70_000].into_iter().enumerate() {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&vec![0xA5u8 ^ k as u8; 64 * 1024]).unwrap();
        drop(f);
        let outcome = std::panic::catch_unwind(|| match Store::open(&path) {
            Err(e) => format!("open: {e}"),
            Ok(s) => match s.check() {
                Err(e) => format!("check: {e}"),
                Ok(r) => format!(
                    "check: {} violations, {} articles",
                    r.violations.len(),
                    r.articles
                ),
            },
        });
        eprintln!("scribble {k} at {at}: {outcome:?}");
        let outcome = outcome.unwrap_or_else(|_| panic!("sled panicked on scribble {k}"));
        // Never silently an empty store: either an error naming the damage, or the data.
        assert!(
            outcome.contains("lost flushed articles")
                || outcome.contains("is damaged")
                || outcome.contains("2000 articles"),
            "{outcome}"
        );
    }
    // The command line says so in one line, and --accept-loss keeps what survived.
    let out = kessai(&path, &["store", "check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("lost flushed articles (ids up to 2000 were stored"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = kessai(&path, &["store", "rebuild", "--accept-loss"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kessai(&path, &["store", "check"]).status.success());
}
