//! The digest end to end: a store filled with the sample corpus (each article tagged by the
//! real tagger), snapshots of all three formats for fixed days, hostile titles, the JSON
//! against its schema, the HTML in headless Chromium, and the `kessai digest` command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use kessai::digest::{self, BuildOptions, CollectOptions, Digest, Labels, Period};
use kessai::model::{ArticleDraft, FeedId};
use kessai::store::{FeedState, Store};
use kessai::tag::Tagger;
use kessai::taxonomy::Taxonomy;

// ───────────────────────────── the corpus as a store ─────────────────────────────

#[derive(Deserialize)]
struct SourceFile {
    #[serde(default)]
    article: Vec<SourceArticle>,
}

#[derive(Deserialize)]
struct SourceArticle {
    slug: String,
    published: String,
    title: String,
    summary: String,
    body: Vec<String>,
}

#[derive(Deserialize)]
struct Outlets {
    outlet: Vec<Outlet>,
}

#[derive(Deserialize)]
struct Outlet {
    id: String,
    name: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus")
}

/// The corpus outlets' display names, as feeds.toml titles would give them.
fn outlet_names() -> BTreeMap<FeedId, String> {
    let text = std::fs::read_to_string(corpus_dir().join("outlets.toml")).unwrap();
    let outlets: Outlets = toml::from_str(&text).unwrap();
    outlets
        .outlet
        .into_iter()
        .map(|o| (FeedId::new(o.id), o.name))
        .collect()
}

/// Base of the article URLs: the corpus server's placeholder made concrete, with a fixed
/// port so that snapshots do not change (nothing is fetched from it).
const BASE: &str = "http://127.0.0.1:8080";

fn draft(outlet: &str, a: &SourceArticle) -> ArticleDraft {
    let published: DateTime<Utc> = DateTime::parse_from_rfc3339(&a.published)
        .unwrap()
        .with_timezone(&Utc);
    let body = a.body.join("\n\n");
    let hash = Sha256::digest(format!("{}\n{}", a.title, body).as_bytes());
    let url = format!("{BASE}/{outlet}/articles/{}.html", a.slug);
    ArticleDraft {
        feed: FeedId::new(outlet),
        guid: Some(url.clone()),
        url,
        title: a.title.clone(),
        summary: a.summary.clone(),
        body,
        published,
        fetched: published,
        content_hash: hex::encode(hash),
    }
}

/// Every corpus article, oldest first (ties by outlet and URL), so ids are stable.
fn corpus_drafts() -> Vec<ArticleDraft> {
    let mut drafts = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outlet = name.split('.').next().unwrap().to_string();
        let file: SourceFile = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        drafts.extend(file.article.iter().map(|a| draft(&outlet, a)));
    }
    drafts.sort_by(|a, b| (a.published, &a.feed, &a.url).cmp(&(b.published, &b.feed, &b.url)));
    drafts
}

/// A feed whose fetch failed on the J-Coin Pay day, and one that failed on another day.
fn failing_feeds(store: &Store) {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let mut bank = FeedState::default();
    bank.record_success(at("2019-09-03T21:00:00Z"));
    bank.record_failure(
        at("2019-09-04T09:15:00+09:00"),
        "HTTP 503 Service Unavailable",
    );
    bank.record_failure(at("2019-09-04T21:15:00+09:00"), "timed out after 30 s");
    store
        .set_feed_state(&FeedId::new("bank-it"), &bank)
        .unwrap();
    let mut old = FeedState::default();
    old.record_failure(at("2019-08-01T10:00:00+09:00"), "HTTP 404 Not Found");
    store
        .set_feed_state(&FeedId::new("sec-blog"), &old)
        .unwrap();
}

fn fill(store: &Store, drafts: Vec<ArticleDraft>) {
    let tagger = Tagger::shared();
    let items = drafts
        .into_iter()
        .map(|d| {
            let analysis = tagger.analyze(&d);
            (d, analysis)
        })
        .collect();
    for r in store.insert_many(items).unwrap() {
        assert!(r.unwrap().is_new());
    }
}

/// The corpus store, built once for all tests in this binary.
fn corpus_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = Store::open_temporary().unwrap();
        fill(&store, corpus_drafts());
        failing_feeds(&store);
        store
    })
}

fn day(s: &str) -> NaiveDate {
    digest::parse_day(s).unwrap()
}

fn tokyo(first: &str, last: &str) -> Period {
    Period::range(day(first), day(last), chrono_tz::Asia::Tokyo).unwrap()
}

fn digest_of(store: &Store, period: &Period) -> Digest {
    let options = CollectOptions {
        names: outlet_names(),
        ..CollectOptions::default()
    };
    let articles = digest::collect(store, period, &options, |_, _, _| true).unwrap();
    let failures = digest::failed_sources(store, &options).unwrap();
    let build = BuildOptions {
        labels: Labels::from_taxonomy(Taxonomy::builtin()),
        query: None,
    };
    digest::build(articles, period, failures, &build)
}

// ───────────────────────────── snapshots ─────────────────────────────

/// 2019-09-04: Mizuho's release on J-Coin Pay's test environment and the first report.
#[test]
fn snapshot_j_coin_pay_announcement_day() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-04"));
    assert!(
        d.incidents
            .iter()
            .any(|s| s.key == "incident:j-coin-pay-2019")
    );
    insta::assert_snapshot!("jcoinpay_2019_09_04_md", digest::markdown::render(&d));
    insta::assert_snapshot!("jcoinpay_2019_09_04_html", digest::html::render(&d));
    insta::assert_snapshot!(
        "jcoinpay_2019_09_04_json",
        digest::json::render(&d).unwrap()
    );
}

/// 2019-09-02: one unrelated press release, no incident.
#[test]
fn snapshot_quiet_day() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-02", "2019-09-02"));
    assert_eq!(d.summary.incidents, 0);
    assert!(d.summary.articles >= 1);
    insta::assert_snapshot!("quiet_2019_09_02_md", digest::markdown::render(&d));
    insta::assert_snapshot!("quiet_2019_09_02_html", digest::html::render(&d));
    insta::assert_snapshot!("quiet_2019_09_02_json", digest::json::render(&d).unwrap());
}

/// The week of the J-Coin Pay breach: eight outlets' reports merged into one story.
#[test]
fn snapshot_j_coin_pay_week_merges_every_outlet() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-09"));
    let story = d
        .incidents
        .iter()
        .find(|s| s.key == "incident:j-coin-pay-2019")
        .expect("a J-Coin Pay story");
    let outlets: Vec<&str> = story.sources.iter().map(|s| s.feed.as_str()).collect();
    assert_eq!(outlets.len(), 8, "{outlets:?}");
    assert_eq!(
        story.articles.len(),
        8,
        "one entry holds every outlet's article"
    );
    assert_eq!(
        d.incidents
            .iter()
            .filter(|s| s.key == "incident:j-coin-pay-2019")
            .count(),
        1
    );
    insta::assert_snapshot!("jcoinpay_week_md", digest::markdown::render(&d));
}

#[test]
fn two_runs_give_identical_bytes() {
    let period = tokyo("2019-09-04", "2019-09-09");
    let a = digest_of(corpus_store(), &period);
    let b = digest_of(corpus_store(), &period);
    assert_eq!(digest::html::render(&a), digest::html::render(&b));
    assert_eq!(
        digest::json::render(&a).unwrap(),
        digest::json::render(&b).unwrap()
    );
    // A second store filled in the opposite order (other ids) gives the same story order.
    let store = Store::open_temporary().unwrap();
    let mut drafts = corpus_drafts();
    drafts.retain(|d| period.contains(d.published));
    drafts.reverse();
    fill(&store, drafts);
    let c = digest_of(&store, &period);
    let keys = |d: &Digest| -> Vec<String> { d.incidents.iter().map(|s| s.key.clone()).collect() };
    assert_eq!(keys(&a), keys(&c));
    let titles = |d: &Digest| -> Vec<String> {
        d.incidents
            .iter()
            .flat_map(|s| s.articles.iter().map(|a| a.title.clone()))
            .collect()
    };
    assert_eq!(titles(&a), titles(&c));
}

#[test]
fn facts_of_the_story_name_their_sources() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-09"));
    let story = d
        .incidents
        .iter()
        .find(|s| s.key == "incident:j-coin-pay-2019")
        .unwrap();
    let f = &story.facts;
    assert!(
        !f.is_empty(),
        "the tagger finds facts in the J-Coin Pay reports"
    );
    let all_sources = f
        .counts
        .iter()
        .map(|c| &c.sources)
        .chain(f.amounts.iter().map(|a| &a.sources))
        .chain(f.dates.iter().map(|d| &d.sources))
        .chain(f.causes.iter().map(|c| &c.sources));
    let story_ids: Vec<_> = story.articles.iter().map(|a| a.id).collect();
    for sources in all_sources {
        assert!(!sources.is_empty());
        for s in sources {
            assert!(
                story_ids.contains(&s.article),
                "a fact's source is one of the story's articles"
            );
        }
    }
    // De-duplicated: no two count entries with the same value and unit.
    let mut seen = std::collections::BTreeSet::new();
    for c in &f.counts {
        assert!(
            seen.insert((c.value, c.unit.clone())),
            "{} {}",
            c.value,
            c.unit
        );
    }
}

#[test]
fn a_period_over_the_limit_is_refused_not_cut() {
    let period = tokyo("2019-09-04", "2019-09-09");
    let options = CollectOptions {
        max_articles: 5,
        ..CollectOptions::default()
    };
    let err = digest::collect(corpus_store(), &period, &options, |_, _, _| true).unwrap_err();
    assert!(
        matches!(err, digest::DigestError::TooManyArticles { limit: 5 }),
        "{err}"
    );
    // The limit counts what is kept, not what is read.
    let kept = digest::collect(corpus_store(), &period, &options, |a, _, _| {
        a.draft.feed.as_str() == "paysec"
    })
    .unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].0.draft.body.is_empty(), "bodies are not kept");
}

#[test]
fn failed_feeds_are_listed_in_their_period_only() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-04"));
    let failed: Vec<&str> = d.failed_sources.iter().map(|f| f.feed.as_str()).collect();
    assert_eq!(failed, ["bank-it"]);
    assert_eq!(d.failed_sources[0].error, "timed out after 30 s");
    assert_eq!(d.failed_sources[0].consecutive_failures, 2);
    let d = digest_of(corpus_store(), &tokyo("2019-09-02", "2019-09-02"));
    assert!(d.failed_sources.is_empty());
}

// ───────────────────────────── JSON schema ─────────────────────────────

fn schema() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/digest-schema.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A validator for the part of JSON Schema 2020-12 that docs/digest-schema.json uses:
/// `$ref` to `#/$defs/…`, `type` (one or a list), `const`, `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `minItems`, `minimum`, `pattern`, `anyOf`.
/// Keywords it does not know make it fail, so the schema cannot drift past it.
fn validate(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for key in obj.keys() {
        let known = [
            "$schema",
            "$id",
            "$defs",
            "title",
            "description",
            "$ref",
            "type",
            "const",
            "enum",
            "required",
            "properties",
            "additionalProperties",
            "items",
            "minItems",
            "minimum",
            "pattern",
            "anyOf",
            "format",
        ];
        if !known.contains(&key.as_str()) {
            errors.push(format!("{path}: unsupported schema keyword {key}"));
        }
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("ref {r}"));
        validate(root, &root["$defs"][name], value, path, errors);
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{path}: {value} is not of type {t}"));
        }
    }
    if let Some(c) = obj.get("const") {
        if c != value {
            errors.push(format!("{path}: {value} is not {c}"));
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            errors.push(format!("{path}: {value} not in {e:?}"));
        }
    }
    if let Some(any) = obj.get("anyOf").and_then(Value::as_array) {
        let fits = any.iter().any(|s| {
            let mut errs = Vec::new();
            validate(root, s, value, path, &mut errs);
            errs.is_empty()
        });
        if !fits {
            errors.push(format!("{path}: {value} fits none of anyOf"));
        }
    }
    if let (Some(p), Some(s)) = (obj.get("pattern").and_then(Value::as_str), value.as_str()) {
        if !regex::Regex::new(p).unwrap().is_match(s) {
            errors.push(format!("{path}: {s:?} does not match {p}"));
        }
    }
    if let (Some(m), Some(n)) = (obj.get("minimum").and_then(Value::as_u64), value.as_u64()) {
        if n < m {
            errors.push(format!("{path}: {n} < {m}"));
        }
    }
    if let Some(map) = value.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        for req in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = req.as_str().unwrap();
            if !map.contains_key(req) {
                errors.push(format!("{path}: missing {req}"));
            }
        }
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, v, &format!("{path}.{k}"), errors),
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: undocumented field {k}"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(m) = obj.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < m {
                errors.push(format!("{path}: fewer than {m} items"));
            }
        }
        if let Some(s) = obj.get("items") {
            for (i, v) in items.iter().enumerate() {
                validate(root, s, v, &format!("{path}[{i}]"), errors);
            }
        }
    }
}

fn schema_errors(value: &Value) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    validate(&root, &root, value, "$", &mut errors);
    errors
}

#[test]
fn json_matches_its_documented_schema() {
    for (first, last) in [
        ("2019-09-04", "2019-09-09"),
        ("2019-09-02", "2019-09-02"),
        ("2020-09-16", "2020-09-18"),
    ] {
        let d = digest_of(corpus_store(), &tokyo(first, last));
        let value: Value = serde_json::from_str(&digest::json::render(&d).unwrap()).unwrap();
        let errors = schema_errors(&value);
        assert!(errors.is_empty(), "{first}..{last}: {errors:#?}");
        assert_eq!(value["schema_version"], digest::SCHEMA_VERSION);
    }
}

#[test]
fn the_schema_check_catches_drift() {
    let d = digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-04"));
    let mut value: Value = serde_json::from_str(&digest::json::render(&d).unwrap()).unwrap();
    value["summary"]["surprise"] = Value::from(1);
    value["incidents"][0]["kind"] = Value::from("rumour");
    value["period"].as_object_mut().unwrap().remove("time_zone");
    let errors = schema_errors(&value);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

// ───────────────────────────── hostile input ─────────────────────────────

const HOSTILE_TITLES: [&str; 5] = [
    "<script>alert('x')</script>J-Coin Payで不正アクセス",
    "\" onmouseover=\"alert(1)\" x=\"J-Coin Payの加盟店情報が流出",
    "<img src=x onerror=alert(2)>Jコインペイ、テスト環境に不正アクセス",
    "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}J-Coin Pay\u{202e}の情報漏えい",
    "</style><style>body{display:none}</style>J-Coin-Payの不正アクセス",
];

fn hostile_store() -> Store {
    let store = Store::open_temporary().unwrap();
    let base = corpus_drafts()
        .into_iter()
        .find(|d| d.feed.as_str() == "paysec" && d.title.contains("J-Coin Pay"))
        .unwrap();
    let urls = [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(3)</script>",
        "JaVaScRiPt:alert(4)",
        "http://127.0.0.1:8080/a\"><script>alert(5)</script>",
        "vbscript:msgbox(6)",
    ];
    let drafts = HOSTILE_TITLES
        .iter()
        .zip(urls)
        .enumerate()
        .map(|(i, (title, url))| ArticleDraft {
            feed: FeedId::new(format!("evil{i}")),
            url: url.to_string(),
            guid: None,
            title: title.to_string(),
            summary: format!("{title} {}", base.summary),
            body: base.body.clone(),
            published: base.published + chrono::Duration::minutes(i as i64),
            fetched: base.published,
            content_hash: format!("hostile{i}"),
        })
        .collect();
    fill(&store, drafts);
    let mut state = FeedState::default();
    state.record_failure(base.published, HOSTILE_TITLES[0]);
    store.set_feed_state(&FeedId::new("evil0"), &state).unwrap();
    store
}

fn hostile_digest() -> Digest {
    let store = hostile_store();
    let period = Period::day(base_day(), chrono_tz::Asia::Tokyo);
    let mut options = CollectOptions::default();
    options.names.insert(
        FeedId::new("evil1"),
        "<b onclick=alert(7)>悪い通信</b>".into(),
    );
    let articles = digest::collect(&store, &period, &options, |_, _, _| true).unwrap();
    assert_eq!(articles.len(), HOSTILE_TITLES.len());
    let failures = digest::failed_sources(&store, &options).unwrap();
    digest::build(
        articles,
        &period,
        failures,
        &BuildOptions {
            labels: Labels::from_taxonomy(Taxonomy::builtin()),
            query: Some("<script>alert(8)</script>".into()),
        },
    )
}

fn base_day() -> NaiveDate {
    day("2019-09-04")
}

/// Every start tag in an HTML text (text `<` is escaped, so each `<` opens a tag).
fn start_tags(html: &str) -> Vec<String> {
    regex::Regex::new(r"<[a-zA-Z][^>]*>")
        .unwrap()
        .find_iter(html)
        .map(|m| m.as_str().to_lowercase())
        .collect()
}

/// The safety rules of issue 10 for the HTML digest, checked on markup (ours or the DOM
/// Chromium built from it).
fn assert_html_inert(html: &str) {
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no script element");
    assert!(!lower.contains("<img"), "no injected element");
    assert!(!lower.contains("<b "), "no injected element");
    let handler = regex::Regex::new(r#"[\s"'/]on[a-z]+\s*="#).unwrap();
    let href = regex::Regex::new(r#"(?:href|src|action)\s*=\s*"([^"]*)""#).unwrap();
    let mut links = 0;
    for tag in start_tags(html) {
        assert!(!handler.is_match(&tag), "event handler in {tag}");
        for cap in href.captures_iter(&tag) {
            let target = cap[1].trim_start();
            assert!(
                target.starts_with("http://") || target.starts_with("https://"),
                "only http(s) links: {tag}"
            );
            links += 1;
        }
    }
    assert!(links >= 1, "the one http link is kept");
    let styles = lower.matches("<style").count();
    assert_eq!(styles, 1, "only our own style element");
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ) || html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:\">"
    ));
    for c in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!html.contains(c), "control {c:?}");
    }
}

#[test]
fn hostile_titles_are_inert_in_html() {
    let d = hostile_digest();
    let html = digest::html::render(&d);
    assert_html_inert(&html);
    // They are still there, as text.
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;J-Coin Payで不正アクセス")
    );
    assert!(
        html.contains(
            "&quot; onmouseover=&quot;alert(1)&quot; x=&quot;J-Coin Payの加盟店情報が流出"
        )
    );
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt;"));
    assert!(
        html.contains("J-Coin Payの情報漏えい"),
        "escape sequences removed, text kept"
    );
    // The non-http URLs are plain text: no link carries them.
    assert!(!html.to_lowercase().contains("href=\"javascript"));
    assert!(!html.contains("href=\"data:"));
    assert!(html.contains("&lt;b onclick=alert(7)&gt;悪い通信&lt;/b&gt;"));
}

#[test]
fn hostile_titles_are_inert_in_markdown_and_json() {
    let d = hostile_digest();
    let md = digest::markdown::render(&d);
    for c in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!md.contains(c));
    }
    let unescaped_lt = md.replace(r"\<", "").replace("](<http", "");
    assert!(!unescaped_lt.contains('<'), "raw HTML escaped: {md}");
    let unescaped = md.replace(r"\]", "");
    for bad in [
        "](javascript",
        "](<javascript",
        "](<data",
        "](data",
        "](<JaVaScRiPt",
    ] {
        assert!(!unescaped.contains(bad), "{bad}");
    }
    let json = digest::json::render(&d).unwrap();
    assert!(!json.contains('\u{1b}'), "JSON escapes controls");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(schema_errors(&v).is_empty());
    for story in v["incidents"].as_array().unwrap() {
        for a in story["articles"].as_array().unwrap() {
            let link = &a["link"];
            assert!(
                link.is_null() || link.as_str().unwrap().starts_with("http://"),
                "{a}"
            );
        }
    }
}

// ───────────────────────────── headless Chromium ─────────────────────────────

const CHROMIUM: &str = "/usr/bin/chromium";

/// Loads a file in headless Chromium; returns the DOM it built and its console/log output.
/// Bounded: a browser that hangs is killed after 90 s.
fn chromium_dump(file: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let stdout_path = out_dir.path().join("dom.html");
    let stderr_path = out_dir.path().join("log.txt");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium exited with {status}");
    (
        std::fs::read_to_string(&stdout_path).unwrap(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

/// Console messages (script errors, CSP violations) in Chromium's log.
fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

#[test]
fn html_renders_in_headless_chromium_and_stays_inert() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPED: {CHROMIUM} is missing (apt-get install -y chromium to run this check)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // First prove the check can fail: a page that breaks the rules is caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        format!(
            "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"></head><body><p>x</p><script>document.body.append('R'+'AN')</script><img src=\"http://127.0.0.1:9/x.png\"></body></html>",
            digest::html::CSP
        ),
    )
    .unwrap();
    let (dom, log) = chromium_dump(&bad);
    assert!(
        dom.contains("<script>"),
        "the bad page keeps its script element"
    );
    assert!(
        !dom.contains("RAN"),
        "the CSP stops the script (it would append RAN)"
    );
    assert!(
        !console_lines(&log).is_empty(),
        "a CSP violation is logged: {log}"
    );

    for (name, d) in [
        (
            "jcoin.html",
            digest_of(corpus_store(), &tokyo("2019-09-04", "2019-09-09")),
        ),
        ("hostile.html", hostile_digest()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, digest::html::render(&d)).unwrap();
        let (dom, log) = chromium_dump(&path);
        assert!(
            dom.contains("<h1>kessai digest 2019-09-04"),
            "{name} rendered: {dom}"
        );
        assert!(dom.contains("Articles per service"), "{name} has its chart");
        assert_html_inert(&dom);
        let console = console_lines(&log);
        assert!(
            console.is_empty(),
            "{name}: no script errors or CSP violations: {console:#?}"
        );
    }
}

// ───────────────────────────── the command ─────────────────────────────

/// A store folder on disk with the J-Coin Pay week in it.
fn disk_store(dir: &Path) -> PathBuf {
    let path = dir.join("store");
    let store = Store::open(&path).unwrap();
    let period = tokyo("2019-09-02", "2019-09-09");
    let mut drafts = corpus_drafts();
    drafts.retain(|d| period.contains(d.published));
    fill(&store, drafts);
    store.flush().unwrap();
    drop(store);
    path
}

fn kessai(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("kessai").unwrap();
    cmd.env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG")
        .env_remove("KESSAI_TZ")
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HOME", dir);
    cmd
}

#[test]
fn command_writes_each_format_for_a_day_and_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path());

    let html_path = dir.path().join("out/digest.html");
    std::fs::create_dir_all(html_path.parent().unwrap()).unwrap();
    kessai(dir.path())
        .args([
            "digest",
            "--date",
            "2019-09-04",
            "--format",
            "html",
            "--out",
        ])
        .arg(&html_path)
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .stdout("");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("J-Coin Pay"));
    assert_html_inert(&html);

    let out = kessai(dir.path())
        .args([
            "digest",
            "--since",
            "2019-09-04",
            "--until",
            "2019-09-09",
            "--format",
            "json",
        ])
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(schema_errors(&v).is_empty());
    assert_eq!(v["period"]["first_day"], "2019-09-04");
    assert_eq!(v["period"]["time_zone"], "Asia/Tokyo");
    assert_eq!(v["incidents"][0]["key"], "incident:j-coin-pay-2019");

    // Markdown by default; another zone moves the day's edges.
    let md = kessai(dir.path())
        .args(["digest", "--date", "2019-09-04", "--tz", "UTC"])
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with("# kessai digest: 2019-09-04\n"), "{md}");
    assert!(md.contains("(UTC)"));
}

#[test]
fn command_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path());
    for (args, expect) in [
        (vec!["digest", "--date", "2019-13-01"], "not a date"),
        (
            vec!["digest", "--since", "2019-09-09", "--until", "2019-09-04"],
            "the period is empty",
        ),
        (
            vec!["digest", "--date", "2019-09-04", "--tz", "Mars/Olympus"],
            "unknown time zone",
        ),
    ] {
        let out = kessai(dir.path())
            .args(&args)
            .arg("--store")
            .arg(&store)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("kessai: "), "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let missing = dir.path().join("nowhere");
    let out = kessai(dir.path())
        .args(["digest", "--date", "2019-09-04", "--store"])
        .arg(&missing)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no store at") && err.contains("kessai fetch"),
        "{err}"
    );
    assert!(!missing.exists(), "a digest does not create a store");
}

/// On a terminal every format passes through the terminal sanitiser: JSON keeps C1 controls
/// and bidi overrides as raw characters (serde_json escapes only C0), so it shows the
/// difference between a pipe (data kept) and a terminal (stripped).
#[test]
fn terminal_output_is_sanitised_but_pipes_get_the_data() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("SKIPPED: /usr/bin/script (util-linux) is missing, no pty to test with");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = Store::open(&path).unwrap();
        let base = corpus_drafts()
            .into_iter()
            .find(|d| d.feed.as_str() == "paysec" && d.title.contains("J-Coin Pay"))
            .unwrap();
        let mut d = base.clone();
        d.title = format!("\u{9b}2J\u{9d}0;pwned\u{9c}{}\u{202e}逆", base.title);
        fill(&store, vec![d]);
        store.flush().unwrap();
    }
    let args = [
        "digest",
        "--date",
        "2019-09-04",
        "--format",
        "json",
        "--store",
    ];

    let piped = kessai(dir.path())
        .args(args)
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let piped = String::from_utf8(piped).unwrap();
    assert!(
        piped.contains('\u{9b}') && piped.contains('\u{202e}'),
        "a pipe gets the data"
    );

    let bin = assert_cmd::cargo::cargo_bin("kessai");
    let command = format!("{} {} {}", bin.display(), args.join(" "), path.display());
    let out = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("KESSAI_CONFIG")
        .env_remove("KESSAI_TZ")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("J-Coin Pay"), "{shown}");
    for c in ['\u{9b}', '\u{9d}', '\u{9c}', '\u{202e}', '\u{1b}'] {
        assert!(!shown.contains(c), "{c:?} reached the terminal");
    }
}

// ───────────────────────────── through the pipeline ─────────────────────────────

/// The corpus fetched by the real pipeline (loopback sample server → ingest → tagger →
/// store) gives the same stories as the store built from the corpus sources.
#[test]
fn the_pipeline_store_gives_the_same_stories() {
    use kessai::config::{Config, FeedConfig, FeedFormat};
    use kessai::fetch::NetworkScope;
    use kessai::ingest::Ingest;
    use kessai::sample::{self, SampleOptions, SampleServer};

    let server = SampleServer::start(SampleOptions::default()).unwrap();
    let feeds: Vec<FeedConfig> = server
        .outlets()
        .iter()
        .map(|o| {
            let mut f = FeedConfig::new(o.id.clone(), server.url(&o.feed));
            f.title = Some(o.name.clone());
            if o.format == sample::FeedFormat::HtmlList {
                f.format = FeedFormat::HtmlList;
            }
            f
        })
        .collect();
    let mut config = Config::with_feeds(feeds.clone());
    config.settings.per_host_concurrency = 8;
    config.limits.request_timeout_secs = 10;
    let store = Store::open_temporary().unwrap();
    let report = Ingest::new(config.clone(), store.clone(), NetworkScope::LoopbackOnly)
        .unwrap()
        .run_blocking(&feeds, None)
        .unwrap();
    assert_eq!(report.failed(), 0, "{report:?}");

    let names = feeds
        .iter()
        .map(|f| (f.id(), f.display_title().to_string()))
        .collect();
    let options = CollectOptions {
        names,
        ..CollectOptions::default()
    };
    let period = tokyo("2019-09-04", "2019-09-09");
    let articles = digest::collect(&store, &period, &options, |_, _, _| true).unwrap();
    let build = BuildOptions {
        labels: Labels::from_taxonomy(Taxonomy::builtin()),
        query: None,
    };
    let fetched = digest::build(articles, &period, [], &build);
    let from_sources = digest_of(corpus_store(), &period);

    let shape = |d: &Digest| -> Vec<(String, Vec<(String, String)>)> {
        d.incidents
            .iter()
            .map(|s| {
                let arts = s
                    .articles
                    .iter()
                    .map(|a| (a.feed.as_str().to_string(), a.source.clone()))
                    .collect();
                (s.key.clone(), arts)
            })
            .collect()
    };
    assert_eq!(shape(&fetched), shape(&from_sources));
    assert_eq!(fetched.summary.articles, from_sources.summary.articles);
    let j = &fetched.incidents[0];
    assert_eq!(j.key, "incident:j-coin-pay-2019");
    assert_eq!(j.sources.len(), 8);
    for a in &j.articles {
        assert!(
            a.link
                .as_deref()
                .is_some_and(|l| l.starts_with(server.base_url())),
            "{a:?}"
        );
    }
    let html = digest::html::render(&fetched);
    assert_html_inert(&html);
}

// ───────────────────────────── --query ─────────────────────────────

fn query_digest(query: &str, period: &Period) -> Digest {
    let filter = digest::QueryFilter::new(&kessai::search::parse(query).unwrap()).unwrap();
    let options = CollectOptions {
        names: outlet_names(),
        ..CollectOptions::default()
    };
    let articles = digest::collect(corpus_store(), period, &options, |a, an, f| {
        filter.keeps(a, an, f)
    })
    .unwrap();
    digest::build(
        articles,
        period,
        [],
        &BuildOptions {
            labels: Labels::from_taxonomy(Taxonomy::builtin()),
            query: Some(query.to_string()),
        },
    )
}

#[test]
fn a_query_narrows_the_digest_with_the_search_language() {
    let period = tokyo("2020-09-01", "2020-09-30");
    let all = digest_of(corpus_store(), &period);
    assert!(all.incidents.len() >= 3, "docomo, SBI, Japan Post Bank");

    let by_tag = query_digest("tag:sbi-securities-2020", &period);
    let keys: Vec<&str> = by_tag.incidents.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["incident:sbi-securities-2020"]);
    assert_eq!(by_tag.query.as_deref(), Some("tag:sbi-securities-2020"));

    // A spelling in full width finds the same articles as the usual one.
    let a = query_digest("PayPay", &period);
    let b = query_digest("ＰａｙＰａｙ", &period);
    assert!(a.summary.articles > 0);
    assert!(a.summary.articles < all.summary.articles);
    assert_eq!(a.incidents, b.incidents);

    let none = query_digest("\"存在しない言い回し\"", &period);
    assert_eq!(none.summary.articles, 0);
    assert!(digest::markdown::render(&none).contains("Query: \"存在しない言い回し\""));
}

#[test]
fn command_query_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path());
    let config = dir.path().join("feeds.toml");
    std::fs::write(
        &config,
        "[settings]\ntimezone = \"UTC\"\n\n[[feed]]\nname = \"paysec\"\ntitle = \"決済セキュリティ通信（購読）\"\nurl = \"http://127.0.0.1:9/paysec/feed.rdf\"\n",
    )
    .unwrap();
    let md = kessai(dir.path())
        .args([
            "digest",
            "--date",
            "2019-09-04",
            "--query",
            "tag:j-coin-pay-2019 feed:paysec",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("(UTC)"), "the configured zone: {md}");
    assert!(
        md.contains("決済セキュリティ通信（購読）"),
        "the configured title: {md}"
    );
    assert!(md.contains("**1 article · 1 incident"), "{md}");
    assert!(
        md.contains("Query: tag:j-coin-pay-2019 feed:paysec"),
        "{md}"
    );

    let out = kessai(dir.path())
        .args(["digest", "--date", "2019-09-04", "--query", "(J-Coin"])
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("kessai: bad query: column 1"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// `--wait` lets a scheduled digest wait for a `kessai fetch` that holds the store.
#[test]
fn command_waits_for_a_store_in_use_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = disk_store(dir.path());
    let held = Store::open(&path).unwrap();

    let out = kessai(dir.path())
        .args(["digest", "--date", "2019-09-04", "--store"])
        .arg(&path)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("kessai: ") && err.lines().count() == 1,
        "{err}"
    );

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kessai"))
        .args(["digest", "--date", "2019-09-04", "--wait", "60", "--store"])
        .arg(&path)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("KESSAI_CONFIG")
        .env_remove("KESSAI_TZ")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting while the store is held"
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("J-Coin Pay"));
}
