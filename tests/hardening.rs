//! Hardening across commands: every command's human output passes feed text through the
//! sanitiser (a store and config full of hostile titles and names, each command run through
//! the binary; the digest on a real terminal is tests/digest.rs's pty test), and a store that cannot be opened — in use, not a store, unreadable, lost
//! data, disk full — gives one line on stderr naming the path and what to do, from every
//! command that opens the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use kessai::model::{Analysis, ArticleDraft, Family, FeedId, TagHit, TagId};
use kessai::store::{FeedState, Store};

mod hostile;
use hostile::{ESCAPES, Hostile, has_terminal_controls};

fn kessai() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kessai").unwrap();
    c.env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .env_remove("KESSAI_TZ")
        .env("HOME", std::env::temp_dir())
        .timeout(Duration::from_secs(120));
    c
}

/// Runs `kessai ARGS` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kessai().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A title carrying every terminal attack around a visible word.
fn evil(word: &str) -> String {
    format!("{ESCAPES}{word}{ESCAPES}")
}

/// A feed id carrying escapes (ids come from feeds.toml names, which are checked, but a
/// store may hold anything).
fn evil_feed(i: usize) -> FeedId {
    FeedId::new(format!("evil{i}\u{1b}]0;FEED\u{7}\u{202e}"))
}

const DAY: (i32, u32, u32) = (2026, 11, 20);

fn fraud() -> Analysis {
    Analysis {
        tags: vec![
            TagHit {
                tag: TagId::new("fraudulent-use"),
                family: Family::Threat,
                count: 1,
                spans: vec![],
            },
            TagHit {
                tag: TagId::new("7pay"),
                family: Family::Service,
                count: 1,
                spans: vec![],
            },
        ],
        facts: Default::default(),
    }
}

/// Fills a store on disk with hostile articles (with the search index and the alert
/// indexer attached, as every writing command does, so subscriptions enqueue them) and a
/// hostile feed state.
fn fill(path: &Path) {
    let store = Store::open(path).unwrap();
    kessai::indexers::attach(&store, kessai::taxonomy::Taxonomy::builtin());
    let (y, m, d) = DAY;
    for i in 0..6 {
        let draft = ArticleDraft {
            feed: evil_feed(i % 2),
            url: format!("http://127.0.0.1:9/evil/{i}"),
            guid: Some(format!("evil-{i}")),
            title: evil(&format!("危険な見出し{i}")),
            summary: evil("要約"),
            body: format!("{}\n\n{}", evil("本文"), evil("二段落目")),
            published: Utc.with_ymd_and_hms(y, m, d, 3, i as u32, 0).unwrap(),
            fetched: Utc.with_ymd_and_hms(y, m, d, 3, 30, 0).unwrap(),
            content_hash: format!("evil-{i}"),
        };
        store.insert(draft, &fraud()).unwrap();
    }
    let state = FeedState {
        last_attempt: Some(Utc.with_ymd_and_hms(y, m, d, 4, 0, 0).unwrap()),
        last_error: Some(evil("HTTP 500")),
        error_count: 1,
        consecutive_failures: 1,
        ..Default::default()
    };
    store.set_feed_state(&evil_feed(0), &state).unwrap();
    store.flush().unwrap();
}

/// A TOML basic string holding `s`, control characters as `\uXXXX`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !has_terminal_controls(text),
        "{what}: terminal controls in the output: {text:?}"
    );
    for leak in ["PWNED", "pwned-title", "c1-title"] {
        assert!(!text.contains(leak), "{what}: {leak:?} leaked: {text:?}");
    }
}

#[test]
fn every_command_sanitises_feed_text_in_its_human_output() {
    let server = Hostile::every_class();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_s = store.to_str().unwrap();
    let alerts = dir.path().join("alerts.jsonl");

    // Feeds with hostile titles and categories; one of them serves escapes, one fails.
    let cfg = dir.path().join("feeds.toml");
    let mut text = String::from("[settings]\nretries = 0\nper_host_concurrency = 8\n\n");
    for (name, path) in [("escapes", "/escape-page.xml"), ("broken", "/500.xml")] {
        text.push_str(&format!(
            "[[feed]]\nname = \"{name}\"\nurl = \"{}\"\ntitle = {}\ncategory = {}\n\n",
            server.url(path),
            toml_str(&evil("フィード名")),
            toml_str(&evil("分類"))
        ));
    }
    std::fs::write(&cfg, &text).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let with = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["--config".to_string(), cfg_s.to_string()];
        v.extend(["--store".to_string(), store_s.to_string()]);
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let go = |args: &[&str]| {
        let v = with(args);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        run(&refs)
    };

    // Subscriptions first (so the articles enqueue alerts): one file, one webhook that is
    // down (its waiting alerts are listed by `alert outbox`).
    let file_sink = format!("file:{}", alerts.display());
    let (code, out, err) = go(&[
        "alert",
        "add",
        "fraud",
        "--query",
        "tag:fraudulent-use",
        "--to",
        &file_sink,
        "--to",
        "webhook:http://127.0.0.1:1/hook#timeout=1s",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    fill(&store);

    let date = format!("{}-{:02}-{:02}", DAY.0, DAY.1, DAY.2);
    let commands: Vec<Vec<&str>> = vec![
        vec!["feeds", "list"],
        vec!["feeds", "check"],
        vec!["fetch"],
        vec!["alert", "list"],
        vec!["alert", "test", "fraud"],
        vec!["search", "危険な見出し"],
        vec!["search", "--sort", "date", "tag:fraudulent-use"],
        vec!["search", "見出し", "("],
        vec!["reindex"],
        vec!["watch", "--once"],
        vec!["alert", "outbox"],
        vec!["digest", "--date", &date],
        vec!["store", "info"],
        vec!["store", "check"],
        vec!["retag", "--dry-run"],
        vec!["export", "--format", "jsonl", "-o"],
    ];
    let export = dir.path().join("export.jsonl");
    for args in &commands {
        let mut args = args.clone();
        let export_s = export.to_str().unwrap();
        if args.last() == Some(&"-o") {
            args.push(export_s);
        }
        let (code, out, err) = go(&args);
        eprintln!("kessai {args:?} -> {code:?}\n{out}{err}");
        assert!(
            matches!(code, Some(0..=2)),
            "{args:?}: exit {code:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_clean(&format!("{args:?} stdout"), &out);
        assert_clean(&format!("{args:?} stderr"), &err);
    }

    // What the commands show is the feed text itself, cleaned, not nothing.
    let (_, out, _) = go(&["feeds", "list"]);
    assert!(out.contains("フィード名") && out.contains("分類"), "{out}");
    let (_, out, _) = go(&["alert", "test", "fraud"]);
    assert!(out.contains("危険な見出し5"), "{out}");
    let (_, out, _) = go(&["search", "危険な見出し"]);
    assert!(out.contains("危険な見出し"), "{out}");
    let (_, out, _) = go(&["alert", "outbox"]);
    assert!(out.contains("危険な見出し"), "{out}");
    let (_, out, _) = go(&["digest", "--date", &date]);
    assert!(
        out.contains("危険な見出し") && out.contains("evil0"),
        "{out}"
    );
    let (code, out, _) = go(&["fetch"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("FAILED    broken"), "{out}");
    assert!(out.contains("フィード名"), "{out}");

    // The file sink got the alerts as JSON: escapes escaped, never raw.
    let delivered = std::fs::read_to_string(&alerts).unwrap();
    assert_eq!(
        delivered
            .lines()
            .filter(|l| l.contains("危険な見出し"))
            .count(),
        6,
        "{delivered}"
    );
    assert!(!delivered.contains('\u{1b}'), "{delivered:?}");

    // store check names a damaged counter of a hostile feed, sanitised.
    {
        let db = sled::open(&store).unwrap();
        let mut key = vec![b'C'];
        key.extend_from_slice(evil_feed(1).as_str().as_bytes());
        assert!(db.remove(&key).unwrap().is_some(), "feed counter key");
        db.flush().unwrap();
    }
    let (code, out, err) = go(&["store", "check"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("evil1"), "{out}");
    assert_clean("store check with a violation", &out);
    assert_clean("store check with a violation", &err);

    // Hostile text in files the user is handed: an OPML to import, an HTML page to tag.
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        format!(
            "<?xml version=\"1.0\"?><opml version=\"2.0\"><head><title>t</title></head><body><outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"http://127.0.0.1:9/feed.xml\"/><outline type=\"rss\" text=\"bad\" xmlUrl=\"ftp://127.0.0.1/{t}\"/></body></opml>",
            t = "&#x202e;購読&#x9b;2J"
        ),
    )
    .unwrap();
    let (code, out, err) = go(&["feeds", "import-opml", opml.to_str().unwrap(), "--dry-run"]);
    assert!(matches!(code, Some(0 | 1)), "{out}{err}");
    assert_clean("import-opml", &out);
    assert_clean("import-opml", &err);
    let page = dir.path().join("page.html");
    std::fs::write(
        &page,
        format!(
            "<html><head><title>{ESCAPES}7payで不正利用</title></head><body><article><p>{ESCAPES}セブンペイで不正利用が発生した。二要素認証はなかった。</p></article></body></html>"
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["tag", page.to_str().unwrap(), "--format", "text"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("7pay"), "{out}");
    assert_clean("tag", &out);
    assert_clean("tag", &err);

    // Error messages quote what they were given, sanitised.
    let weird = dir
        .path()
        .join(format!("not{}a store", ESCAPES.replace('/', "_")));
    std::fs::create_dir(&weird).unwrap();
    std::fs::write(weird.join("thesis.txt"), "x").unwrap();
    let (code, out, err) = run(&["--store", weird.to_str().unwrap(), "store", "info"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not a kessai store"), "{err}");
    assert_clean("error", &out);
    assert_clean("error", &err);
    // (These quote the argument escaped, `\u{1b}]0;...`: visible, inert.)
    let name = format!("x{ESCAPES}");
    let (code, _, err) = go(&["fetch", "--feed", &name]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no feed named"), "{err}");
    assert!(!has_terminal_controls(&err), "{err:?}");
    let (code, _, err) = go(&["alert", "pause", &name]);
    assert_eq!(code, Some(1));
    assert!(!has_terminal_controls(&err), "{err:?}");
}

// ------------------------------------------------------------------ unusable stores

/// Commands that open the store, with the arguments they need.
fn store_commands(cfg: &Path) -> Vec<Vec<String>> {
    let c = cfg.to_str().unwrap().to_string();
    [
        vec!["store", "info"],
        vec!["store", "check"],
        vec!["store", "rebuild"],
        vec!["fetch"],
        vec!["export", "--format", "jsonl"],
        vec!["digest"],
        vec!["alert", "list"],
        vec!["search", "決済"],
        vec!["reindex"],
        vec!["retag"],
        vec!["watch", "--once"],
        vec![],
    ]
    .into_iter()
    .map(|a| {
        let mut v = vec!["--config".to_string(), c.clone()];
        v.extend(a.into_iter().map(String::from));
        v
    })
    .collect()
}

/// Every command on `store` fails with exit 1 and one line on stderr that names `named`
/// (the store or a file in it) and says what to do (`remedy`), with no trace.
fn assert_one_line_everywhere(store: &Path, named: &Path, cfg: &Path, remedy: &str) {
    for args in store_commands(cfg) {
        let mut full = vec!["--store".to_string(), store.to_str().unwrap().to_string()];
        full.extend(args.iter().cloned());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let (code, _, err) = run(&refs);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("kessai: "), "{args:?}: {err}");
        assert!(
            err.contains(&named.display().to_string()),
            "{args:?}: names {}: {err}",
            named.display()
        );
        assert!(err.contains(remedy), "{args:?}: says {remedy:?}: {err}");
        for trace in ["panicked", "RUST_BACKTRACE", "stack backtrace", "Error {"] {
            assert!(!err.contains(trace), "{args:?}: {err}");
        }
    }
}

fn empty_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("feeds.toml");
    std::fs::write(
        &cfg,
        "[[feed]]\nname = \"local\"\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
    )
    .unwrap();
    cfg
}

#[test]
fn unusable_stores_give_one_line_naming_the_path_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = empty_config(dir.path());

    // In use by another kessai.
    let held = dir.path().join("held");
    let holder = Store::open(&held).unwrap();
    assert_one_line_everywhere(&held, &held, &cfg, "is in use by another kessai");
    assert_one_line_everywhere(&held, &held, &cfg, "close it or use --store");
    drop(holder);

    // A folder of someone else's files: never written into.
    let foreign = dir.path().join("docs");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.txt"), "do not touch").unwrap();
    assert_one_line_everywhere(&foreign, &foreign, &cfg, "pick an empty or new folder");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // Files sled cannot read at all: restore or move aside (no command can repair them).
    let unreadable = dir.path().join("unreadable");
    fill(&unreadable);
    for name in ["conf", "db"] {
        std::fs::write(unreadable.join(name), vec![0xA5u8; 4096]).unwrap();
    }
    assert_one_line_everywhere(&unreadable, &unreadable, &cfg, "move it aside");

    // Files that came back empty: the data is lost, and the remedy it names works.
    let wiped = dir.path().join("wiped");
    fill(&wiped);
    std::fs::write(wiped.join("db"), b"").unwrap();
    assert_one_line_everywhere(&wiped, &wiped, &cfg, "store rebuild --accept-loss");
    let (code, _, err) = run(&[
        "--store",
        wiped.to_str().unwrap(),
        "store",
        "rebuild",
        "--accept-loss",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["--store", wiped.to_str().unwrap(), "store", "check"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_full_disk_gives_one_line_and_loses_nothing_stored() {
    // A tiny tmpfs in a mount namespace of its own (nothing to clean up if the test dies);
    // needs root. The script fills the disk, then every command must say so in one line.
    let dir = tempfile::tempdir().unwrap();
    let cfg = empty_config(dir.path());
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let store = mnt.join("store");
    let bin = env!("CARGO_BIN_EXE_kessai");
    let mut script = format!(
        "set -u\nmount -t tmpfs -o size=4m tmpfs '{m}' || exit 99\n'{bin}' --store '{s}' store info >/dev/null || exit 98\ndd if=/dev/zero of='{m}/fill' bs=4k 2>/dev/null\n",
        m = mnt.display(),
        s = store.display()
    );
    let commands = store_commands(&cfg);
    for args in &commands {
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        script.push_str(&format!(
            "'{bin}' --store '{}' {} </dev/null >/dev/null 2>'{}/err.txt'; echo \"rc=$?\"; cat '{}/err.txt'; echo '--'\n",
            store.display(),
            quoted.join(" "),
            dir.path().display(),
            dir.path().display()
        ));
    }
    // Space again: the store opens and is sound.
    script.push_str(&format!(
        "rm '{m}/fill'; '{bin}' --store '{s}' store check >/dev/null 2>&1; echo \"after=$?\"\n",
        m = mnt.display(),
        s = store.display()
    ));
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .output();
    // 99: the mount failed; 1: unshare itself was refused (the script never ends with 1).
    let out = match out {
        Ok(o) if !matches!(o.status.code(), Some(99 | 1)) => o,
        _ => {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs in a mount namespace here (needs root: unshare -m, mount -t tmpfs)"
            );
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks: Vec<&str> = text.split("--\n").collect();
    for (args, block) in commands.iter().zip(&blocks) {
        let mut lines = block.lines();
        let rc = lines.next().unwrap_or_default();
        let err: Vec<&str> = lines.collect();
        assert_eq!(rc, "rc=1", "{args:?}: {block}");
        assert_eq!(err.len(), 1, "{args:?}: one line: {block}");
        assert!(err[0].starts_with("kessai: "), "{args:?}: {block}");
        assert!(
            err[0].contains(&store.display().to_string()),
            "{args:?}: {block}"
        );
        assert!(
            err[0].contains("the disk is full; free some space and run the command again"),
            "{args:?}: {block}"
        );
        assert!(!err[0].contains("panicked"), "{args:?}: {block}");
    }
    assert!(text.trim_end().ends_with("after=0"), "{text}");
}
