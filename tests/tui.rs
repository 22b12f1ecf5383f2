//! The terminal reader end to end: screens of a fixed store rendered on ratatui's
//! TestBackend and compared with reviewed snapshots (list, article, help, timeline, narrow
//! terminal, hostile and very long titles), the keys' effects on the store, and a real
//! terminal session scripted with tmux (skipped with a message when tmux is missing).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kessai::model::{
    AmountFact, Analysis, ArticleDraft, CountFact, DateFact, DateRole, Facts, Family, FeedId,
    Field, Span, TagHit, TagId,
};
use kessai::store::Store;
use kessai::tui::Harness;
use kessai::tui::text::width;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// A tag hit with evidence spans wherever `needle` occurs in the title or body.
fn hit(tag: &str, family: Family, needle: &str, title: &str, body: &str) -> TagHit {
    let mut spans = Vec::new();
    for (field, text) in [(Field::Title, title), (Field::Body, body)] {
        for (start, m) in text.match_indices(needle) {
            spans.push(Span {
                field,
                start,
                end: start + m.len(),
            });
        }
    }
    TagHit {
        tag: TagId::new(tag),
        family,
        count: spans.len().max(1) as u32,
        spans,
    }
}

struct Fixture {
    feed: &'static str,
    title: &'static str,
    body: &'static str,
    published: DateTime<Utc>,
    tags: Vec<(&'static str, Family, &'static str)>,
    facts: Facts,
}

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            feed: "paysec",
            title: "セブンペイ、不正利用で被害約900人　二要素認証なし",
            body: "セブン&アイ・ホールディングスは7月4日、スマートフォン決済「7pay」で不正利用が発生したと発表した。被害は約900人、約5500万円にのぼる。\n\n同社は二要素認証を導入していなかった。",
            published: at(2019, 7, 4, 3),
            tags: vec![
                ("7pay-2019", Family::Incident, "不正利用"),
                ("7pay", Family::Service, "7pay"),
                ("fraudulent-use", Family::Threat, "不正利用"),
                ("2fa", Family::Control, "二要素認証"),
                ("seven-and-i", Family::Actor, "セブン&アイ"),
            ],
            facts: Facts {
                counts: vec![CountFact {
                    value: 900,
                    unit: "人".into(),
                    qualifier: Some("約".into()),
                    text: "約900人".into(),
                }],
                amounts: vec![AmountFact {
                    yen: 55_000_000,
                    qualifier: Some("約".into()),
                    text: "約5500万円".into(),
                }],
                dates: vec![DateFact {
                    date: NaiveDate::from_ymd_opt(2019, 7, 4).unwrap(),
                    role: DateRole::Announced,
                    text: "7月4日".into(),
                }],
                causes: vec![],
            },
        },
        Fixture {
            feed: "kinyu-news",
            title: "7pay、サービス終了へ　不正アクセス問題受け",
            body: "7payは9月30日でサービスを終了する。不正利用の問題を受けた措置。",
            published: at(2019, 8, 1, 6),
            tags: vec![
                ("7pay-2019", Family::Incident, "7pay"),
                ("7pay", Family::Service, "7pay"),
            ],
            facts: Facts::default(),
        },
        Fixture {
            feed: "paysec",
            title: "J-Coin Pay加盟店管理システムの試験環境に不正アクセス、約1.8万件",
            body: "みずほ銀行は、J-Coin Payの加盟店管理システムの試験環境が8月16日から27日までIDとパスワードのみで接続できる状態だったと発表した。手続き上のミスが原因で、約1.8万件の情報が閲覧された可能性がある。",
            published: at(2019, 9, 12, 2),
            tags: vec![
                ("j-coin-pay-2019", Family::Incident, "不正アクセス"),
                ("j-coin-pay", Family::Service, "J-Coin Pay"),
                ("unauthorized-access", Family::Threat, "不正アクセス"),
                ("mizuho", Family::Actor, "みずほ銀行"),
            ],
            facts: Facts {
                counts: vec![CountFact {
                    value: 18_000,
                    unit: "件".into(),
                    qualifier: Some("約".into()),
                    text: "約1.8万件".into(),
                }],
                amounts: vec![],
                dates: vec![DateFact {
                    date: NaiveDate::from_ymd_opt(2019, 8, 16).unwrap(),
                    role: DateRole::Occurred,
                    text: "8月16日".into(),
                }],
                causes: vec!["手続き上のミス".into()],
            },
        },
        Fixture {
            feed: "sec-blog",
            title: "ドコモ口座経由の不正引き出し、ゆうちょ銀行でも",
            body: "ドコモ口座を使った不正な引き出しがゆうちょ銀行の口座でも確認された。",
            published: at(2020, 9, 14, 1),
            tags: vec![
                ("docomo-koza-2020", Family::Incident, "不正な引き出し"),
                ("docomo-koza", Family::Service, "ドコモ口座"),
                ("japan-post-bank", Family::Service, "ゆうちょ銀行"),
            ],
            facts: Facts::default(),
        },
        Fixture {
            feed: "sec-blog",
            title: "フィッシング注意喚起：実在の決済サービスを装うSMSが増加",
            body: "決済サービスを装ったSMS（スミッシング）が増えているとして、JPCERT/CCが注意を呼びかけた。",
            published: at(2021, 3, 2, 0),
            tags: vec![
                ("phishing", Family::Threat, "スミッシング"),
                ("jpcert", Family::Actor, "JPCERT/CC"),
            ],
            facts: Facts::default(),
        },
        Fixture {
            // Hostile: escape sequences (clear screen, set title, colour), a bidi override,
            // a carriage return that would overwrite the line, a BEL.
            feed: "evil\x1b[31m-feed",
            title: "\x1b[2J\x1b]0;pwned\x07速報\r\u{202e}gnp.exe\u{202c} 決済\x1b[31m赤\x1b[0mアプリ\x07",
            body: "本文\x1b[2Jに制御文字\u{202e}反転\u{202c}。\njavascript link below.",
            published: at(2021, 6, 1, 0),
            tags: vec![],
            facts: Facts::default(),
        },
        Fixture {
            // Very long, all 2-cell: every cut lands next to a wide character.
            feed: "kinyu-news",
            title: "キャッシュレス決済サービスにおける不正利用対策の現状と課題についての有識者会議報告書概要（第三次取りまとめ）を公表、二段階認証の義務化を提言",
            body: "長い見出しの記事。",
            published: at(2022, 1, 20, 5),
            tags: vec![("2fa", Family::Control, "二段階認証")],
            facts: Facts::default(),
        },
    ]
}

fn store() -> Store {
    let store = Store::open_temporary().expect("temporary store");
    // As every kessai process that writes: the search index and alert outbox kept in step.
    kessai::indexers::attach(&store, kessai::taxonomy::Taxonomy::builtin());
    for (i, f) in fixtures().into_iter().enumerate() {
        let tags = f
            .tags
            .iter()
            .map(|(t, fam, needle)| hit(t, *fam, needle, f.title, f.body))
            .collect();
        let url = if f.feed.starts_with("evil") {
            "javascript:alert(1)".to_string()
        } else {
            format!(
                "http://127.0.0.1:9/{}/{i}.html",
                f.feed.replace(['\x1b', '['], "")
            )
        };
        let draft = ArticleDraft {
            feed: FeedId::new(f.feed),
            url,
            guid: Some(format!("guid-{i}")),
            title: f.title.into(),
            summary: String::new(),
            body: f.body.into(),
            published: f.published,
            fetched: f.published,
            content_hash: format!("hash-{i}"),
        };
        store
            .insert(
                draft,
                &Analysis {
                    tags,
                    facts: f.facts,
                },
            )
            .expect("insert");
    }
    store
}

fn harness(cols: u16, rows: u16) -> (Harness, Store) {
    let s = store();
    let h = Harness::new(s.clone(), cols, rows).expect("harness");
    (h, s)
}

fn assert_clean(screen: &str) {
    for c in screen.chars() {
        assert!(
            !c.is_control() || c == '\n',
            "control character {c:?} reached the screen:\n{screen}"
        );
        assert!(
            !kessai::sanitize::is_bidi_control(c),
            "bidi control {c:?} reached the screen:\n{screen}"
        );
    }
}

/// Every row of the screen is exactly as wide as the terminal: nothing overflows.
fn assert_rows_fit(screen: &str, cols: usize) {
    for line in screen.lines() {
        assert_eq!(width(line), cols, "row is not {cols} cells: {line:?}");
    }
}

#[test]
fn list_screen() {
    let (mut h, _) = harness(120, 30);
    let screen = h.screen();
    assert_clean(&screen);
    assert_rows_fit(&screen, 120);
    assert!(screen.contains("Articles · 7 "), "{screen}");
    insta::assert_snapshot!("list", screen);
}

#[test]
fn article_screen_shows_tags_facts_and_marks_read() {
    let (mut h, s) = harness(120, 40);
    // Newest first: the 7pay announcement is the oldest, the last row.
    h.press(&["G", "Enter"]);
    let screen = h.screen();
    assert_clean(&screen);
    assert_rows_fit(&screen, 120);
    assert!(screen.contains("約900人"), "{screen}");
    assert!(screen.contains("¥55,000,000"), "{screen}");
    insta::assert_snapshot!("article", screen);
    let id = h.app.article.as_ref().unwrap().article.id;
    assert!(s.flags(id).unwrap().unwrap().read, "opening marks read");
}

#[test]
fn help_screen_lists_every_key() {
    let (mut h, _) = harness(150, 45);
    h.press(&["?"]);
    let screen = h.screen();
    for key in [
        "j  ↓", "PgDn", "Tab", "Enter", "/", "n", "N", "t", "f", "u", "s", "r", "R", "o", "q",
        "Ctrl-Z", "T",
    ] {
        assert!(screen.contains(key), "help lacks {key}:\n{screen}");
    }
    insta::assert_snapshot!("help", screen);
    h.press(&["x"]);
    assert!(!h.app.help);
}

#[test]
fn timeline_screen_and_enter_lists_the_bucket() {
    let (mut h, _) = harness(120, 24);
    h.press(&["T", "w"]); // week → month buckets
    let screen = h.screen();
    assert_clean(&screen);
    insta::assert_snapshot!("timeline", screen);
    // The newest bucket is selected; go to the 7pay row and July 2019.
    let data = h.app.timeline.data.clone().unwrap();
    let row = data
        .rows
        .iter()
        .position(|r| r.service.as_str() == "7pay")
        .unwrap();
    let col = data
        .buckets
        .iter()
        .position(|d| *d == NaiveDate::from_ymd_opt(2019, 7, 1).unwrap())
        .unwrap();
    h.app.timeline.row = row;
    h.app.timeline.col = col;
    h.press(&["Enter"]);
    let titles: Vec<&str> = h.app.list.rows.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(
        titles,
        vec!["セブンペイ、不正利用で被害約900人 二要素認証なし"]
    );
}

#[test]
fn narrow_terminal_shows_one_pane_at_a_time() {
    let (mut h, _) = harness(80, 24);
    let list = h.screen();
    assert_rows_fit(&list, 80);
    assert!(!list.contains("Sources & tags"));
    insta::assert_snapshot!("narrow_list", list);
    h.press(&["Enter"]);
    let article = h.screen();
    assert_rows_fit(&article, 80);
    assert!(article.contains("Article"));
    assert!(!article.contains("Articles ·"));
    insta::assert_snapshot!("narrow_article", article);
    h.press(&["Tab"]);
    assert!(h.screen().contains("Sources & tags"));
}

#[test]
fn hostile_and_long_titles_stay_in_their_row() {
    // 101 columns: the wide layout at its narrowest; the long title's cut meets 2-cell text.
    for cols in [100u16, 101, 117] {
        let (mut h, _) = harness(cols, 20);
        let screen = h.screen();
        assert_clean(&screen);
        assert_rows_fit(&screen, usize::from(cols));
        assert!(
            screen.contains('…'),
            "long title is cut with an ellipsis:\n{screen}"
        );
        if cols == 101 {
            insta::assert_snapshot!("hostile_titles", screen);
        }
    }
    // Open the hostile article: its body is sanitised too, and its link refused.
    let (mut h, _) = harness(120, 30);
    h.press(&["j", "Enter"]);
    let screen = h.screen();
    assert_clean(&screen);
    assert!(screen.contains("not http/https"), "{screen}");
    h.press(&["o"]);
    assert!(h.opened.is_empty(), "a javascript: link must never open");
}

#[test]
fn star_and_read_toggles_reach_the_store() {
    let (mut h, s) = harness(120, 30);
    let id = h.app.list.rows[0].id;
    h.press(&["s"]);
    assert!(s.flags(id).unwrap().unwrap().starred);
    assert!(h.screen().contains("N*"));
    h.press(&["r"]);
    assert!(s.flags(id).unwrap().unwrap().read);
    h.press(&["s", "r"]);
    let f = s.flags(id).unwrap().unwrap();
    assert!(!f.starred && !f.read);
}

#[test]
fn searches_saved_from_the_command_line_show_in_the_sidebar() {
    let s = store();
    kessai::search::saved::save(&s, "takeovers", "tag:account-takeover").unwrap();
    let h = Harness::new(s, 120, 30).expect("harness");
    assert!(h.app.sidebar.entries.iter().any(|e| matches!(
        e,
        kessai::tui::state::SidebarEntry::Saved(x) if x.name == "takeovers" && x.query == "tag:account-takeover"
    )));
}

#[test]
fn filters_by_tag_feed_unread_and_search() {
    let (mut h, store) = harness(120, 30);
    assert_eq!(h.app.list.rows.len(), 7);
    // t, type to narrow, Enter.
    h.press(&["t"]);
    h.type_text("7pay-");
    h.press(&["Enter"]);
    assert_eq!(h.app.list.rows.len(), 2);
    assert!(h.screen().contains("tag:7pay-2019"));
    // f picks a feed on top of the tag.
    h.press(&["f"]);
    h.type_text("kinyu");
    h.press(&["Enter"]);
    assert_eq!(h.app.list.rows.len(), 1);
    h.press(&["c"]);
    assert_eq!(h.app.list.rows.len(), 7);
    // u: unread only; open one article, toggle twice to reload.
    h.press(&["Enter", "Esc", "u"]);
    assert_eq!(h.app.list.rows.len(), 6);
    h.press(&["u"]);
    // Search with the query language: セブンペイ is a spelling of 7pay, so both 7pay
    // articles match, one of them only by the other spelling.
    h.press(&["/"]);
    h.type_text("セブンペイ");
    h.press(&["Enter"]);
    let titles: Vec<String> = h.app.list.rows.iter().map(|r| r.title.clone()).collect();
    assert_eq!(
        titles,
        vec![
            "7pay、サービス終了へ 不正アクセス問題受け",
            "セブンペイ、不正利用で被害約900人 二要素認証なし"
        ]
    );
    // 不正 is a dictionary word: the search finds it inside the domain compounds 不正利用 and
    // 不正アクセス too (search splits them back into their words).
    h.press(&["/"]);
    for _ in 0..5 {
        h.press(&["Backspace"]);
    }
    h.type_text("不正");
    h.press(&["Enter"]);
    let titles: Vec<String> = h.app.list.rows.iter().map(|r| r.title.clone()).collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "7pay、サービス終了へ 不正アクセス問題受け",
            "J-Coin Pay加盟店管理システムの試験環境に不正アクセス、約1.8万件",
            "キャッシュレス決済サービスにおける不正利用対策の現状と課題についての有識者会議報告書概要（第三次取りまとめ）を公表、二段階認証の義務化を提言",
            "セブンペイ、不正利用で被害約900人 二要素認証なし",
            "ドコモ口座経由の不正引き出し、ゆうちょ銀行でも",
        ]
    );
    // ... in the order `kessai search` ranks them: the reader's / is the same engine.
    let engine = kessai::search::Engine::new(&store).unwrap();
    let ranked = engine
        .search(&kessai::search::parse("不正").unwrap(), 50, None)
        .unwrap();
    let by_engine: Vec<_> = ranked.hits.iter().map(|h| h.id).collect();
    let listed: Vec<_> = h.app.list.rows.iter().map(|r| r.id).collect();
    assert_eq!(listed, by_engine);
    // A malformed query says where it went wrong.
    h.press(&["/"]);
    h.type_text(" (");
    h.press(&["Enter"]);
    let status = h
        .app
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(
        status.contains("bad query") && status.contains("column"),
        "{status}"
    );
    h.press(&["/"]);
    for _ in 0..4 {
        h.press(&["Backspace"]);
    }
    h.type_text("セブンペイ");
    h.press(&["Enter"]);
    assert_eq!(h.app.list.rows.len(), 2);
    // n/N walk the matches; the sidebar filter by feed works with Enter.
    h.press(&["n"]);
    assert_eq!(h.app.list.selected, 1);
    h.press(&["N"]);
    assert_eq!(h.app.list.selected, 0);
    // Opening a result marks where the matcher matched, and n/N jump between those lines.
    h.press(&["Enter"]);
    let open = h.app.article.as_ref().unwrap();
    assert!(open.matches.as_ref().is_some_and(|m| !m.is_empty()));
    assert!(!open.match_lines.is_empty());
    h.press(&["h"]);
    // Save the search: it appears in the sidebar.
    h.press(&["+"]);
    let saved = h.app.sidebar.entries.iter().any(
        |e| matches!(e, kessai::tui::state::SidebarEntry::Saved(s) if s.query == "セブンペイ"),
    );
    assert!(saved, "saved search in the sidebar");
    // ... and it is the same list `kessai search --saved` shows.
    assert!(
        kessai::search::saved::list(&store)
            .unwrap()
            .iter()
            .any(|s| s.query == "セブンペイ")
    );
    // Choosing it from the sidebar runs it again after clearing.
    h.press(&["c", "Tab", "Tab", "G", "Enter"]);
    assert_eq!(
        h.app.search.as_ref().map(|s| s.query.as_str()),
        Some("セブンペイ")
    );
    assert_eq!(h.app.list.rows.len(), 2);
}

#[test]
fn sidebar_counts_follow_reading() {
    let (mut h, _) = harness(120, 30);
    assert!(h.screen().contains("7/7"), "all unread at first");
    h.press(&["Enter"]);
    assert!(h.screen().contains("6/7"));
    // Enter focused the article; Tab goes on to the sidebar; choose a feed with Enter.
    h.press(&["Tab"]);
    assert_eq!(h.app.focus, kessai::tui::state::Pane::Sidebar);
    h.press(&["j", "Enter"]);
    assert!(h.app.filters.feed.is_some());
}

#[test]
fn open_link_only_for_http() {
    let (mut h, _) = harness(120, 30);
    h.press(&["o"]);
    assert_eq!(h.opened.len(), 1);
    assert!(h.opened[0].starts_with("http://127.0.0.1:9/"));
}

#[test]
fn long_lists_load_page_by_page() {
    let s = Store::open_temporary().unwrap();
    let n = 450;
    for i in 0..n {
        let draft = ArticleDraft {
            feed: FeedId::new("bulk"),
            url: format!("http://127.0.0.1:9/bulk/{i}"),
            guid: None,
            title: format!("記事 {i}"),
            summary: String::new(),
            body: String::new(),
            published: at(2020, 1, 1, 0) + chrono::Duration::minutes(i64::from(i)),
            fetched: at(2020, 1, 1, 0),
            content_hash: format!("bulk-{i}"),
        };
        s.insert(draft, &Analysis::default()).unwrap();
    }
    let mut h = Harness::new(s.clone(), 120, 30).unwrap();
    assert_eq!(h.app.list.rows.len(), 200, "one page at first");
    h.press(&["G"]);
    assert!(h.app.list.rows.len() > 200, "G loads further");
    for _ in 0..3 {
        h.press(&["G"]);
    }
    assert_eq!(h.app.list.rows.len(), n as usize);
    assert!(h.app.list.exhausted);
    assert_eq!(h.app.list.rows.last().unwrap().title, "記事 0");
    h.press(&["g"]);
    assert_eq!(h.app.list.selected, 0);
    // New articles arriving (a refresh) go on top without losing the selection.
    let selected = h.app.list.current().unwrap().id;
    let draft = ArticleDraft {
        feed: FeedId::new("bulk"),
        url: "http://127.0.0.1:9/bulk/new".into(),
        guid: None,
        title: "新着".into(),
        summary: String::new(),
        body: String::new(),
        published: at(2021, 1, 1, 0),
        fetched: at(2021, 1, 1, 0),
        content_hash: "bulk-new".into(),
    };
    s.insert(draft, &Analysis::default()).unwrap();
    h.deliver(kessai::tui::update::Msg::RefreshDone("1 new".into()));
    assert_eq!(h.app.list.rows[0].title, "新着");
    assert_eq!(h.app.list.current().unwrap().id, selected);
    assert_eq!(h.app.list.rows.len(), n as usize + 1);
}

/// A tmux server of its own (private socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new("tmux");
        c.env("LANG", "C.UTF-8").args(["-u", "-L", &self.socket]);
        c
    }
    fn run(&self, args: &[&str]) {
        let st = self.cmd().args(args).status().expect("tmux runs");
        assert!(st.success(), "tmux {args:?} failed");
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }
    fn literal(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }
    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Waits (at most 15 s) until the screen satisfies `pred`.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().args(["kill-server"]).status();
    }
}

#[test]
fn tmux_session_reads_stars_and_gives_the_prompt_back() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        // Fill a store on disk, then let go of it so the binary can open it.
        let s = Store::open(&store_dir).unwrap();
        kessai::indexers::attach(&s, kessai::taxonomy::Taxonomy::builtin());
        let tmp = store();
        let mut cursor = None;
        loop {
            let page = tmp.page(&Default::default(), cursor, 100).unwrap();
            for id in page.items {
                let a = tmp.get(id).unwrap().unwrap();
                let an = tmp.analysis(id).unwrap().unwrap_or_default();
                s.insert(a.draft, &an).unwrap();
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        s.flush().unwrap();
    }
    let tmux = Tmux {
        socket: format!("kessai-test-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "35",
        "bash --norc --noprofile",
    ]);
    tmux.literal("export PS1='READY> ' TERM=xterm-256color; clear");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell prompt", |s| s.contains("READY>"));
    let bin = env!("CARGO_BIN_EXE_kessai");
    tmux.literal(&format!("{bin} --store {}", store_dir.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the reader", |s| {
        s.contains("Sources & tags") && s.contains("Articles · 7")
    });

    // Move: j j Enter opens the third newest article.
    tmux.keys(&["j", "j", "Enter"]);
    tmux.wait_for("the third article", |s| {
        s.contains("Tags") && s.contains("sec-blog · 2021-03-02")
    });
    // Back to the list (h, not Esc: an Esc sent together with the next key reads as Alt).
    tmux.keys(&["h"]);

    // Search: セブンペイ finds both 7pay articles (one says only "7pay").
    tmux.keys(&["/"]);
    tmux.literal("セブンペイ");
    tmux.keys(&["Enter"]);
    tmux.wait_for("search results", |s| {
        s.contains("/セブンペイ · 2 ") && s.contains("サービス終了へ")
    });

    // Filter by tag: clear, t, type, Enter.
    tmux.keys(&["c", "t"]);
    tmux.wait_for("the tag picker", |s| s.contains("Filter by tag"));
    tmux.literal("7pay-2019");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the tag filter", |s| s.contains("tag:7pay-2019 · 2 "));

    // Open the first article and star it.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the article", |s| {
        s.contains("サービス終了") && s.contains("kinyu-news · 2019-08-01")
    });
    tmux.keys(&["s"]);
    tmux.wait_for("the star", |s| s.contains("* starred"));

    // Resize below 100 columns: one pane at a time (the focused article).
    tmux.run(&["resize-window", "-t", "t", "-x", "90", "-y", "30"]);
    tmux.wait_for("the narrow layout", |s| {
        !s.contains("Sources & tags") && s.contains("* starred")
    });
    tmux.run(&["resize-window", "-t", "t", "-x", "120", "-y", "35"]);
    tmux.wait_for("the wide layout", |s| s.contains("Sources & tags"));

    // Ctrl-Z gives the shell back; fg brings the reader back.
    tmux.keys(&["C-z"]);
    tmux.wait_for("the prompt after Ctrl-Z", |s| {
        !s.contains("Sources & tags") && s.lines().any(|l| l.starts_with("READY>"))
    });
    tmux.literal("fg");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the reader after fg", |s| {
        s.contains("Sources & tags") && s.contains("* starred")
    });

    // Quit: the prompt comes back on a clean screen, and the tty is cooked again.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the prompt after quitting", |s| {
        s.lines().filter(|l| l.starts_with("READY>")).count() >= 2
    });
    assert!(
        !screen.contains("Sources & tags"),
        "reader left on screen:\n{screen}"
    );
    assert!(
        !screen.contains('\u{1b}'),
        "escape codes on screen:\n{screen}"
    );
    tmux.literal(
        "stty -a | tr -s ' ;' '\\n\\n' | grep -x -e icanon -e echo | sort | tr '\\n' ,; echo",
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for("cooked tty modes", |s| s.contains("echo,icanon,"));

    // SIGTERM restores the terminal too.
    tmux.literal("clear");
    tmux.keys(&["Enter"]);
    tmux.literal(&format!("{bin} --store {}", store_dir.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the reader again", |s| s.contains("Sources & tags"));
    let shell_pid = String::from_utf8(
        tmux.cmd()
            .args(["list-panes", "-t", "t", "-F", "#{pane_pid}"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let children = std::process::Command::new("pgrep")
        .args(["-P", shell_pid.trim()])
        .output()
        .unwrap();
    let pid = String::from_utf8(children.stdout).unwrap();
    let pid = pid.split_whitespace().next().expect("the reader's pid");
    let st = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap();
    assert!(st.success());
    tmux.wait_for("the prompt after SIGTERM", |s| {
        !s.contains("Sources & tags") && s.lines().any(|l| l.starts_with("READY>"))
    });
    tmux.literal("clear; stty -a | tr -s ' ;' '\\n\\n' | grep -x -e icanon -e echo | sort | tr '\\n' ,; echo");
    tmux.keys(&["Enter"]);
    tmux.wait_for("cooked tty modes after SIGTERM", |s| {
        s.contains("echo,icanon,")
    });

    // The star is in the store.
    let s = Store::open(&store_dir).unwrap();
    let starred = s
        .page(
            &kessai::store::ListFilter {
                starred_only: true,
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap();
    assert_eq!(starred.items.len(), 1);
    let a = s.get(starred.items[0]).unwrap().unwrap();
    assert!(a.draft.title.contains("サービス終了"), "{}", a.draft.title);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_loop_runs_on_a_test_backend() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use futures_util::StreamExt;
    use kessai::tui::run::{NoSuspend, event_loop};

    let s = store();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    let mut app = kessai::tui::state::App::new((120, 30), "test");
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    // Each key waits a little, as a person would, so the store's answers come in between.
    let script = vec![
        key(KeyCode::Char('G')),
        key(KeyCode::Enter),
        Event::Resize(90, 30),
        key(KeyCode::Char('s')),
        key(KeyCode::Char('q')),
    ];
    let input = futures_util::stream::iter(script)
        .then(|ev| async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Ok::<_, std::io::Error>(ev)
        })
        .boxed();
    let worker = kessai::tui::worker::Worker::new(s.clone(), None);
    event_loop(
        &mut terminal,
        &mut app,
        worker,
        input,
        std::future::pending(),
        &mut NoSuspend,
        kessai::tui::Options::default(),
    )
    .await
    .unwrap();
    assert!(app.quit);
    let open = app.article.as_ref().expect("an article is open");
    assert!(open.article.draft.title.starts_with("セブンペイ"));
    assert!(s.flags(open.article.id).unwrap().unwrap().starred);
    // The last frame was drawn for the resized, narrow terminal: only the article pane.
    let screen = kessai::tui::buffer_text(terminal.backend().buffer());
    assert_eq!(app.size, (90, 30));
    assert!(screen.contains("* starred"), "{screen}");
    assert!(!screen.contains("Sources & tags"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_runs_in_the_background_and_new_articles_appear() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use futures_util::StreamExt;
    use kessai::config::{Config, FeedConfig, FeedFormat};
    use kessai::fetch::NetworkScope;
    use kessai::ingest::Ingest;
    use kessai::sample::{self, SampleOptions, SampleServer};
    use kessai::tui::refresh::IngestRefresher;
    use kessai::tui::run::{NoSuspend, event_loop};
    use kessai::tui::{Progress, Refresher};
    use std::sync::Arc;

    // The sample corpus on loopback, one feed per outlet (as `kessai demo` does).
    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let feeds = server
        .outlets()
        .iter()
        .filter(|o| !o.test_only)
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
            f.format = match o.format {
                sample::FeedFormat::Rss1 | sample::FeedFormat::Rss2 => FeedFormat::Rss,
                sample::FeedFormat::Atom => FeedFormat::Atom,
                sample::FeedFormat::Json => FeedFormat::Json,
                sample::FeedFormat::HtmlList => FeedFormat::HtmlList,
            };
            f
        })
        .collect();
    let mut config = Config::with_feeds(feeds);
    config.settings.per_host_concurrency = 8;
    let s = Store::open_temporary().unwrap();
    let ingest = Ingest::new(config, s.clone(), NetworkScope::LoopbackOnly).unwrap();

    // Tell the scripted input when the refresh has finished, so it can quit after that.
    struct Signal(IngestRefresher, Arc<tokio::sync::Notify>);
    impl Refresher for Signal {
        fn refresh(
            &self,
            progress: Progress,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>> + Send>>
        {
            let inner = self.0.refresh(progress);
            let done = self.1.clone();
            Box::pin(async move {
                let r = inner.await;
                done.notify_one();
                r
            })
        }
    }
    let done = Arc::new(tokio::sync::Notify::new());
    let options = kessai::tui::Options {
        refresh: Some(Arc::new(Signal(IngestRefresher::new(ingest), done.clone()))),
        ..Default::default()
    };

    let key = |c: char| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let steps: Vec<(Event, bool)> = vec![(key('R'), false), (key('q'), true)];
    let input = futures_util::stream::iter(steps)
        .then(move |(ev, after_refresh)| {
            let done = done.clone();
            async move {
                if after_refresh {
                    // Bounded: the whole corpus ingests in seconds; a minute means a hang.
                    tokio::time::timeout(std::time::Duration::from_secs(120), done.notified())
                        .await
                        .expect("refresh finished");
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                Ok::<_, std::io::Error>(ev)
            }
        })
        .boxed();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    let mut app = kessai::tui::state::App::new((120, 30), "test");
    let worker = kessai::tui::worker::Worker::new(s.clone(), None);
    event_loop(
        &mut terminal,
        &mut app,
        worker,
        input,
        std::future::pending(),
        &mut NoSuspend,
        options,
    )
    .await
    .unwrap();
    let stored = s.article_count().unwrap();
    assert!(stored > 100, "the corpus was ingested: {stored}");
    // The list shows the new articles without a restart, newest first, and the counts too.
    assert_eq!(app.list.rows.len() as u64, stored.min(200));
    let status = app
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(status.starts_with("refreshed 8 feeds:"), "{status}");
    let screen = kessai::tui::buffer_text(terminal.backend().buffer());
    assert!(screen.contains(&format!("{stored}/{stored}")), "{screen}");
}

#[test]
fn tmux_demo_ingests_the_sample_corpus_and_opens_the_reader() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("demo");
    let tmux = Tmux {
        socket: format!("kessai-demo-test-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "130",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    tmux.literal("export PS1='READY> ' TERM=xterm-256color; clear");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell prompt", |s| s.contains("READY>"));
    let bin = env!("CARGO_BIN_EXE_kessai");
    tmux.literal(&format!("{bin} demo --store {}", store_dir.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the reader on the demo store", |s| {
        s.contains("Sources & tags") && s.contains("Articles · 171")
    });
    // Move down two rows and back up one.
    tmux.keys(&["j", "j", "k"]);
    // Search: the engine knows セブンペイ as 7pay's spelling.
    tmux.keys(&["/"]);
    tmux.literal("セブンペイ");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("search results", |s| {
        s.contains("/セブンペイ · ") && !s.contains("/セブンペイ · 0 ")
    });
    assert!(
        screen.contains("セブンペイ") || screen.contains("7pay"),
        "{screen}"
    );
    // Filter by tag on top of a cleared list.
    tmux.keys(&["c", "t"]);
    tmux.wait_for("the tag picker", |s| s.contains("Filter by tag"));
    tmux.literal("7pay-2019");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the tag filter", |s| s.contains("tag:7pay-2019 · 14 "));
    // Open the first article, star it.
    tmux.keys(&["Enter"]);
    // The article's header (date in JST) and facts: only the article pane has those.
    tmux.wait_for("the article", |s| s.contains("Facts") && s.contains(" JST"));
    tmux.keys(&["s"]);
    tmux.wait_for("the star", |s| s.contains("* starred"));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the prompt after quitting", |s| {
        !s.contains("Sources & tags") && s.lines().filter(|l| l.starts_with("READY>")).count() >= 1
    });
    assert!(!screen.contains('\u{1b}'), "{screen}");
    let s = Store::open(&store_dir).unwrap();
    let starred = s
        .page(
            &kessai::store::ListFilter {
                starred_only: true,
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap();
    assert_eq!(starred.items.len(), 1);
}

/// Titles that each try one thing on the terminal, and what the reader must show instead.
const HOSTILE_TITLES: &[(&str, &str)] = &[
    ("\x1b]0;PWNED-0\x07題名0 タイトル設定", "題名0 タイトル設定"),
    (
        "\x1b]2;PWNED-2\x1b\\題名1 タイトル設定2",
        "題名1 タイトル設定2",
    ),
    (
        "\x1b]52;c;cHduZWQ=\x07題名2 クリップボード",
        "題名2 クリップボード",
    ),
    (
        "\x1b]52;p;cHduZWQ=\x1b\\題名3 選択バッファ",
        "題名3 選択バッファ",
    ),
    (
        "\x1b]8;;http://127.0.0.1:9/evil\x1b\\題名4 リンク\x1b]8;;\x1b\\",
        "題名4 リンク",
    ),
    ("\x1b[2J\x1b[H\x1b[3J題名5 画面消去", "題名5 画面消去"),
    (
        "\x1b[10;10H\x1b[A\x1b[5D\x1b7題名6 カーソル移動\x1b8",
        "題名6 カーソル移動",
    ),
    (
        "\u{202e}題名7 双方向\u{202c}\u{2067}隔離\u{2069}",
        "題名7 双方向隔離",
    ),
    (
        "\u{9b}2J\u{9d}0;PWNED-C1\u{9c}\u{85}題名8 C1制御",
        "題名8 C1制御",
    ),
    (
        "\x1bP1$qm\x1b\\\x1b_APC\x1b\\\x1b^PM\x1b\\\x1bc題名9 DCS",
        "題名9 DCS",
    ),
    (
        "題名10 終端なし\x1b]2;PWNED-unterminated",
        "題名10 終端なし",
    ),
];

#[test]
fn tmux_hostile_titles_leave_the_terminal_title_clipboard_and_screen_alone() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: tmux is not installed (apt-get install -y tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        let s = Store::open(&store_dir).unwrap();
        for (i, (title, _)) in HOSTILE_TITLES.iter().enumerate() {
            let draft = ArticleDraft {
                feed: FeedId::new(format!("evil{}\x1b]0;FEED-{i}\x07", i % 3)),
                url: format!("http://127.0.0.1:9/evil/{i}"),
                guid: Some(format!("evil-{i}")),
                title: (*title).into(),
                summary: format!("要約\x1b]52;c;cHduZWQ=\x07{i}"),
                body: format!(
                    "本文{i}\x1b[2J\x1b]0;PWNED-BODY\x07{title}\n\n二段落目\u{202e}逆\u{9b}H"
                ),
                published: at(2024, 1, 1, 0) + chrono::Duration::hours(i as i64),
                fetched: at(2024, 1, 1, 0),
                content_hash: format!("evil-{i}"),
            };
            s.insert(draft, &Analysis::default()).unwrap();
        }
        s.flush().unwrap();
    }
    let tmux = Tmux {
        socket: format!("kessai-hostile-test-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "140",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    // OSC 52 from a program would create a paste buffer; OSC 0/2 would set the pane title.
    tmux.run(&["set", "-g", "set-clipboard", "on"]);
    tmux.run(&["select-pane", "-t", "t", "-T", "KESSAI-TEST-TITLE"]);
    let title = || {
        let out = tmux
            .cmd()
            .args(["display", "-p", "-t", "t", "#{pane_title}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let buffers = || {
        let out = tmux.cmd().args(["list-buffers"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tmux.literal("export PS1='READY> ' TERM=xterm-256color; clear");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell prompt", |s| s.contains("READY>"));

    // The checks can fail: raw sequences written by the shell do change the title and
    // create a buffer in this very setup.
    tmux.literal("printf '\\033]2;RAW-TITLE\\033\\\\\\033]52;c;cmF3\\007'; clear");
    tmux.keys(&["Enter"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (title() != "RAW-TITLE" || buffers().is_empty()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        title(),
        "RAW-TITLE",
        "the control write did not set the title"
    );
    assert!(!buffers().is_empty(), "the control OSC 52 made no buffer");
    tmux.run(&["delete-buffer"]);
    assert!(buffers().is_empty());
    tmux.run(&["select-pane", "-t", "t", "-T", "KESSAI-TEST-TITLE"]);
    assert_eq!(title(), "KESSAI-TEST-TITLE");

    let bin = env!("CARGO_BIN_EXE_kessai");
    tmux.literal(&format!("{bin} --store {}", store_dir.display()));
    tmux.keys(&["Enter"]);
    let n = HOSTILE_TITLES.len();
    let screen = tmux.wait_for("the reader with every title", |s| {
        s.contains("Sources & tags") && HOSTILE_TITLES.iter().all(|(_, shown)| s.contains(shown))
    });
    assert!(screen.contains(&format!("Articles · {n}")), "{screen}");
    for word in ["PWNED", "cHduZWQ", "FEED-", "\u{1b}"] {
        assert!(!screen.contains(word), "{word:?} on screen:\n{screen}");
    }
    // Open each article in turn (its title and body are drawn too), back to the list.
    for i in 0..n {
        tmux.keys(&["Enter"]);
        let shown = HOSTILE_TITLES[n - 1 - i].1;
        let screen = tmux.wait_for("the article", |s| {
            s.contains("Tags") && s.matches(shown).count() >= 2
        });
        for word in ["PWNED", "cHduZWQ", "FEED-"] {
            assert!(!screen.contains(word), "{word:?} on screen:\n{screen}");
        }
        tmux.keys(&["h", "j"]);
    }
    // Sidebar (feed names) and the screen still whole: nothing cleared or moved it.
    let screen = tmux.wait_for("the list again", |s| s.contains("Sources & tags"));
    assert!(screen.contains("evil0"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("the prompt after quitting", |s| {
        !s.contains("Sources & tags") && s.lines().any(|l| l.starts_with("READY>"))
    });
    assert_eq!(title(), "KESSAI-TEST-TITLE", "a title reached the terminal");
    assert!(
        buffers().is_empty(),
        "an OSC 52 clipboard write reached the terminal: {}",
        buffers()
    );
}
