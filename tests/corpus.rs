//! Checks the sample corpus in assets/corpus against every count of the foundation issue:
//! outlets, formats, encodings and charset declarations, article and incident counts,
//! boilerplate, traps, labels, and that the rendered files are up to date with the sources.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use kessai::sample;
use serde::Deserialize;

const TAXONOMY: &[(&str, &str)] = &[
    (
        "service",
        "j-coin-pay 7pay paypay line-pay rakuten-pay d-barai au-pay merpay yucho-pay famipay kyash \
         docomo-koza bank-pay suica nanaco waon origami-pay amazon-pay japan-post-bank \
         sbi-securities mufg-bank",
    ),
    (
        "exchange",
        "coincheck zaif dmm-bitcoin bitflyer bitpoint liquid sbi-vc binance-japan",
    ),
    (
        "threat",
        "unauthorized-access account-takeover fraudulent-use data-leak asset-theft ransomware \
         phishing insider misconfiguration outage vulnerability",
    ),
    (
        "control",
        "2fa 3d-secure ekyc ip-restriction cold-wallet multisig",
    ),
    (
        "actor",
        "fsa meti npa ppc mizuho seven-and-i ntt-docomo softbank z-holdings line-corp rakuten \
         japan-post jpcert ipa",
    ),
    (
        "incident",
        "7pay-2019 j-coin-pay-2019 docomo-koza-2020 paypay-merchant-data-2020 \
         line-pay-github-2021 coincheck-nem-2018 zaif-2018 dmm-bitcoin-2024 sbi-securities-2020 \
         japan-post-bank-2020 bitpoint-2019 liquid-quoine-2021 paypay-card-fraud-2018 \
         securities-account-takeover-2025 coincheck-domain-hijack-2020",
    ),
];

fn family_of() -> HashMap<&'static str, &'static str> {
    TAXONOMY
        .iter()
        .flat_map(|(fam, ids)| ids.split_whitespace().map(move |id| (id, *fam)))
        .collect()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus")
}

#[derive(Debug, Deserialize)]
struct OutletsFile {
    outlet: Vec<OutletRow>,
}

#[derive(Debug, Deserialize)]
struct OutletRow {
    id: String,
    format: String,
    encoding: String,
    declares: String,
    feed: String,
    content_type: String,
    feed_encoding: String,
    feed_declares: Vec<String>,
    page_declares: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct LabelsFile {
    #[serde(default)]
    article: Vec<LabelRow>,
}

#[derive(Debug, Deserialize)]
struct LabelRow {
    outlet: String,
    slug: String,
    url_path: String,
    title: String,
    published: String,
    tags: Vec<String>,
    incident: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SourceFile {
    #[serde(default)]
    article: Vec<SourceArticle>,
}

#[derive(Debug, Clone, Deserialize)]
struct SourceArticle {
    slug: String,
    title: String,
    summary: String,
    body: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
    tags: Vec<String>,
    incident: Option<String>,
}

impl SourceArticle {
    /// Title, summary and body: the text the labels are judged on.
    fn text(&self) -> String {
        format!("{}\n{}\n{}", self.title, self.summary, self.body.join("\n"))
    }
}

fn load_outlets() -> Vec<OutletRow> {
    let text = std::fs::read_to_string(corpus_dir().join("outlets.toml")).expect("outlets.toml");
    toml::from_str::<OutletsFile>(&text)
        .expect("parse outlets")
        .outlet
}

fn load_labels() -> Vec<LabelRow> {
    let text = std::fs::read_to_string(corpus_dir().join("labels.toml")).expect("labels.toml");
    toml::from_str::<LabelsFile>(&text)
        .expect("parse labels")
        .article
}

/// (outlet id, article) for every source article.
fn load_sources() -> Vec<(String, SourceArticle)> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(corpus_dir().join("src"))
        .expect("src dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
        let outlet = stem
            .rsplit_once('.')
            .expect("<outlet>.<writer>.toml")
            .0
            .to_owned();
        let text = std::fs::read_to_string(&p).expect("read source");
        let file: SourceFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.extend(file.article.into_iter().map(|a| (outlet.clone(), a)));
    }
    out
}

fn site_file(path: &str) -> Vec<u8> {
    let p = corpus_dir()
        .join("sites")
        .join(path.trim_start_matches('/'));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn encoding(label: &str) -> &'static encoding_rs::Encoding {
    encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or_else(|| panic!("encoding {label}"))
}

/// Decodes strictly: any malformed sequence fails the test.
fn decode(bytes: &[u8], label: &str, what: &str) -> String {
    let (text, had_errors) = encoding(label).decode_without_bom_handling(bytes);
    assert!(!had_errors, "{what} does not decode as {label}");
    text.into_owned()
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn list_page_paths(o: &OutletRow) -> Vec<String> {
    let dir = o.feed.rsplit_once('/').expect("feed dir").0.to_owned();
    let mut out: Vec<String> =
        std::fs::read_dir(corpus_dir().join("sites").join(dir.trim_start_matches('/')))
            .expect("list dir")
            .map(|e| format!("{dir}/{}", e.expect("entry").file_name().to_string_lossy()))
            .filter(|p| p.ends_with(".html"))
            .collect();
    out.sort();
    out
}

#[test]
fn outlets_formats_and_encodings() {
    let outlets = load_outlets();
    assert!(
        outlets.len() >= 8,
        "need at least 8 outlets, have {}",
        outlets.len()
    );
    let formats: BTreeSet<&str> = outlets.iter().map(|o| o.format.as_str()).collect();
    for f in ["rss1", "rss2", "atom", "json", "html-list"] {
        assert!(formats.contains(f), "no outlet with format {f}");
    }
    let encodings: BTreeSet<&str> = outlets.iter().map(|o| o.encoding.as_str()).collect();
    assert!(encodings.contains("shift_jis"), "no Shift_JIS outlet");
    assert!(encodings.contains("euc-jp"), "no EUC-JP outlet");
    let declares: BTreeSet<&str> = outlets.iter().map(|o| o.declares.as_str()).collect();
    for d in ["header", "xml", "meta", "none"] {
        assert!(
            declares.contains(d),
            "no outlet declaring its charset by {d}"
        );
    }
    for o in &outlets {
        assert_eq!(
            o.content_type.contains("charset"),
            o.feed_declares.iter().any(|d| d == "header"),
            "{}: charset in Content-Type exactly when the feed declares it in the header",
            o.id
        );
        assert!(
            corpus_dir()
                .join("sites")
                .join(o.feed.trim_start_matches('/'))
                .is_file(),
            "{}: no feed file",
            o.id
        );
    }
}

#[test]
fn at_least_150_articles_dated_2018_to_2026() {
    let labels = load_labels();
    for l in &labels {
        let d = chrono::DateTime::parse_from_rfc3339(&l.published).expect("rfc3339");
        let ym = d.format("%Y-%m").to_string();
        assert!(
            ("2018-01".."2026-11").contains(&ym.as_str()),
            "{}: {ym} out of range",
            l.url_path
        );
    }
    assert!(
        labels.len() >= 150,
        "need at least 150 articles, have {}",
        labels.len()
    );
}

#[test]
fn twelve_incidents_each_covered_by_two_outlets() {
    let mut outlets_per_incident: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in load_labels() {
        if let Some(i) = l.incident {
            outlets_per_incident.entry(i).or_default().insert(l.outlet);
        }
    }
    let covered: Vec<_> = outlets_per_incident
        .iter()
        .filter(|(_, o)| o.len() >= 2)
        .map(|(i, _)| i.clone())
        .collect();
    assert!(
        covered.len() >= 12,
        "need 12 incidents covered by 2+ outlets, have {}: {covered:?} (all: {outlets_per_incident:?})",
        covered.len()
    );
}

#[test]
fn at_least_30_percent_non_incident() {
    let labels = load_labels();
    let non = labels.iter().filter(|l| l.incident.is_none()).count();
    assert!(!labels.is_empty());
    assert!(
        non * 10 >= labels.len() * 3,
        "{non} of {} articles are non-incident (< 30%)",
        labels.len()
    );
}

#[test]
fn every_article_has_a_label_and_labels_use_the_taxonomy() {
    let fam = family_of();
    let labels = load_labels();
    let sources = load_sources();
    assert_eq!(labels.len(), sources.len(), "one label per source article");
    let label_keys: BTreeSet<(String, String)> = labels
        .iter()
        .map(|l| (l.outlet.clone(), l.slug.clone()))
        .collect();
    assert_eq!(label_keys.len(), labels.len(), "duplicate labels");
    for (outlet, a) in &sources {
        assert!(
            label_keys.contains(&(outlet.clone(), a.slug.clone())),
            "{outlet}/{} has no label",
            a.slug
        );
    }
    for l in &labels {
        assert_eq!(
            l.url_path,
            format!("/{}/articles/{}.html", l.outlet, l.slug)
        );
        for t in &l.tags {
            assert!(
                fam.contains_key(t.as_str()),
                "{}: unknown tag {t}",
                l.url_path
            );
        }
        match &l.incident {
            Some(i) => {
                assert_eq!(
                    fam.get(i.as_str()),
                    Some(&"incident"),
                    "{}: {i} is not an incident",
                    l.url_path
                );
                assert!(
                    l.tags.contains(i),
                    "{}: incident not among tags",
                    l.url_path
                );
            }
            None => assert!(
                l.tags
                    .iter()
                    .all(|t| fam.get(t.as_str()) != Some(&"incident")),
                "{}: incident tag without incident",
                l.url_path
            ),
        }
    }
    // Every article page on disk has a label, and nothing else sits in articles/.
    let outlets = load_outlets();
    let mut pages = BTreeSet::new();
    for o in &outlets {
        let dir = corpus_dir().join("sites").join(&o.id).join("articles");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd {
                pages.insert(format!(
                    "/{}/articles/{}",
                    o.id,
                    e.expect("entry").file_name().to_string_lossy()
                ));
            }
        }
    }
    let labelled: BTreeSet<String> = labels.iter().map(|l| l.url_path.clone()).collect();
    assert_eq!(pages, labelled, "article pages and labels differ");
}

#[test]
fn pages_decode_declare_and_carry_boilerplate() {
    let outlets = load_outlets();
    let labels = load_labels();
    assert!(!labels.is_empty());
    for l in &labels {
        let o = outlets.iter().find(|o| o.id == l.outlet).expect("outlet");
        let bytes = site_file(&l.url_path);
        let text = decode(&bytes, &o.encoding, &l.url_path);
        assert!(
            unescape_html(&text).contains(&l.title),
            "{}: title not in page",
            l.url_path
        );
        for marker in [
            "関連記事",
            "アクセスランキング",
            "PAGE TOP",
            "ツイート",
            "はてなブックマーク",
            "LINEで送る",
            "会社概要",
            "プライバシーポリシー",
            "Copyright",
            "PR",
        ] {
            assert!(text.contains(marker), "{}: no {marker}", l.url_path);
        }
        let head = text
            .split("</head>")
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let has_equiv = head.contains("http-equiv=\"content-type\"") && head.contains("charset=");
        let has_meta = head.contains("<meta charset=");
        assert_eq!(
            has_equiv,
            o.page_declares.iter().any(|d| d == "meta-http-equiv"),
            "{}",
            l.url_path
        );
        assert_eq!(
            has_meta,
            o.page_declares.iter().any(|d| d == "meta-charset"),
            "{}",
            l.url_path
        );
        if o.page_declares.is_empty() {
            assert!(
                !text.to_ascii_lowercase().contains("charset"),
                "{}: declares a charset",
                l.url_path
            );
        }
        assert!(
            text.contains("{{BASE}}/"),
            "{}: links must use the {{BASE}} placeholder",
            l.url_path
        );
    }
    // The encodings really differ: Shift_JIS and EUC-JP pages are not valid UTF-8.
    for enc in ["shift_jis", "euc-jp"] {
        let o = outlets.iter().find(|o| o.encoding == enc).expect("outlet");
        if let Some(l) = labels.iter().find(|l| l.outlet == o.id) {
            assert!(
                std::str::from_utf8(&site_file(&l.url_path)).is_err(),
                "{} page is UTF-8",
                o.id
            );
        }
    }
}

#[test]
fn feeds_parse_and_list_every_article() {
    let outlets = load_outlets();
    let labels = load_labels();
    for o in &outlets {
        let expected: BTreeSet<String> = labels
            .iter()
            .filter(|l| l.outlet == o.id)
            .map(|l| format!("http://127.0.0.1:1{}", l.url_path))
            .collect();
        let raw = site_file(&o.feed);
        let text = decode(&raw, &o.feed_encoding, &o.feed);
        let first_line = text.lines().next().unwrap_or("");
        assert_eq!(
            first_line.contains("encoding="),
            o.feed_declares.iter().any(|d| d == "xml"),
            "{}: XML declaration encoding vs feed_declares",
            o.id
        );
        if o.feed_declares.is_empty() {
            assert!(
                !text.to_ascii_lowercase().contains("charset") && !first_line.contains("encoding")
            );
        }
        let links: BTreeSet<String> = if o.format == "html-list" {
            let mut links = BTreeSet::new();
            for page in list_page_paths(o) {
                let html = decode(&site_file(&page), &o.feed_encoding, &page);
                assert!(
                    html.contains(r#"<meta charset="Shift_JIS">"#)
                        || o.feed_encoding != "shift_jis"
                );
                for part in html.split("href=\"{{BASE}}").skip(1) {
                    let href = part.split('"').next().unwrap_or("");
                    if href.contains("/articles/") {
                        links.insert(format!("http://127.0.0.1:1{href}"));
                    }
                }
            }
            links
        } else {
            // feed-rs reads the XML declaration itself (see notes/feed-charsets.md).
            let bytes = String::from_utf8_lossy(&raw).contains("{{BASE}}");
            let replaced = replace_bytes(&raw, b"{{BASE}}", b"http://127.0.0.1:1");
            assert!(
                bytes || expected.is_empty(),
                "{}: feed has no placeholders",
                o.id
            );
            let feed = feed_rs::parser::parse(&replaced[..])
                .unwrap_or_else(|e| panic!("{} feed: {e}", o.id));
            for e in &feed.entries {
                assert!(e.title.is_some(), "{}: entry without title", o.id);
                assert!(
                    e.published.is_some() || e.updated.is_some(),
                    "{}: entry without date",
                    o.id
                );
                assert!(e.summary.is_some(), "{}: entry without summary", o.id);
            }
            let titles: BTreeSet<String> = feed
                .entries
                .iter()
                .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
                .collect();
            let expected_titles: BTreeSet<String> = labels
                .iter()
                .filter(|l| l.outlet == o.id)
                .map(|l| l.title.clone())
                .collect();
            assert_eq!(
                titles, expected_titles,
                "{}: feed titles (decoded by feed-rs) vs labels",
                o.id
            );
            feed.entries
                .iter()
                .filter_map(|e| e.links.first().map(|l| l.href.clone()))
                .collect()
        };
        assert_eq!(links, expected, "{}: feed links vs labels", o.id);
    }
}

fn replace_bytes(data: &[u8], pat: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(pat) {
            out.extend_from_slice(with);
            i += pat.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Keywords by which a related-articles title names an incident.
const INCIDENT_WORDS: &[(&str, &[&str])] = &[
    ("7pay-2019", &["セブンペイ", "7pay"]),
    ("j-coin-pay-2019", &["J-Coin Pay", "Jコイン"]),
    ("docomo-koza-2020", &["ドコモ口座"]),
    ("coincheck-nem-2018", &["NEM", "ネム"]),
    ("line-pay-github-2021", &["GitHub"]),
    (
        "paypay-card-fraud-2018",
        &["クレジットカードの不正利用", "クレジットカード不正利用"],
    ),
    ("paypay-merchant-data-2020", &["加盟店情報に不正アクセス"]),
    ("dmm-bitcoin-2024", &["DMMビットコイン", "DMM Bitcoin"]),
    ("zaif-2018", &["Zaif"]),
    ("bitpoint-2019", &["ビットポイント"]),
];

#[test]
fn traps_are_present_at_least_twice() {
    let sources = load_sources();
    let count =
        |pred: &dyn Fn(&SourceArticle) -> bool| sources.iter().filter(|(_, a)| pred(a)).count();

    let seven_eleven = count(&|a| {
        let t = a.text();
        t.contains("セブン-イレブン")
            && !t.contains("7pay")
            && !t.contains("セブンペイ")
            && !a.tags.iter().any(|t| t == "7pay" || t == "7pay-2019")
    });
    let kyoto = count(&|a| {
        let t = a.text();
        t.contains("東京都") && t.replace("東京都", "").contains("京都")
    });
    let pei_words = count(&|a| {
        let t = a.text();
        ["ペイント", "ペイオフ", "ペイロード"]
            .iter()
            .any(|w| t.contains(w))
    });
    let two_step_not_auth = count(&|a| {
        let t = a.text().replace("2段階認証", "").replace("二段階認証", "");
        (t.contains("2段階") || t.contains("二段階")) && a.incident.is_none()
    });
    let related_names_other_incident = count(&|a| {
        a.related.iter().any(|r| {
            INCIDENT_WORDS.iter().any(|(inc, words)| {
                words.iter().any(|w| r.contains(w)) && a.incident.as_deref() != Some(*inc)
            })
        })
    });
    let control_without_incident =
        count(&|a| a.incident.is_none() && a.tags.iter().any(|t| t == "2fa"));
    for (name, n) in [
        ("セブン-イレブン without 7pay", seven_eleven),
        ("京都 beside 東京都", kyoto),
        ("ペイ inside unrelated words", pei_words),
        ("2段階 outside authentication", two_step_not_auth),
        (
            "related box naming another incident",
            related_names_other_incident,
        ),
        ("2FA column without an incident", control_without_incident),
    ] {
        assert!(n >= 2, "trap '{name}' present {n} times, need 2");
    }
}

#[test]
fn embedded_copy_matches_the_files_on_disk() {
    let paths = sample::file_paths();
    assert!(!paths.is_empty());
    for p in &paths {
        assert_eq!(
            sample::raw_file(p).expect("embedded"),
            site_file(p).as_slice(),
            "{p}: rebuild needed"
        );
    }
    let mut on_disk = Vec::new();
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(format!(
                    "/{}",
                    p.strip_prefix(root).expect("prefix").to_string_lossy()
                ));
            }
        }
    }
    let root = corpus_dir().join("sites");
    walk(&root, &root, &mut on_disk);
    on_disk.sort();
    assert_eq!(paths, on_disk);
    assert_eq!(sample::labels().expect("labels").len(), load_labels().len());
}

#[test]
fn generator_output_is_up_to_date() {
    let script = corpus_dir().join("generate.py");
    // The generator needs Python 3.11+ (tomllib); without it, fall back to what Rust can check.
    let python_ok = Command::new("python3")
        .args(["-c", "import tomllib"])
        .output()
        .is_ok_and(|o| o.status.success());
    let run = if python_ok {
        Command::new("python3").arg(&script).arg("--check").output()
    } else {
        Err(std::io::Error::other(
            "python3 with tomllib (3.11+) not found",
        ))
    };
    match run {
        Ok(out) => assert!(
            out.status.success(),
            "generate.py --check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            // No python3 here: fall back to the checks that need no generator.
            eprintln!("{e}; comparing labels with sources only");
            let sources = load_sources();
            let labels = load_labels();
            let by_key: HashMap<(String, String), &LabelRow> = labels
                .iter()
                .map(|l| ((l.outlet.clone(), l.slug.clone()), l))
                .collect();
            assert_eq!(sources.len(), labels.len());
            for (outlet, a) in &sources {
                let l = by_key
                    .get(&(outlet.clone(), a.slug.clone()))
                    .expect("label");
                assert_eq!(l.title, a.title);
                assert_eq!(l.tags, a.tags);
                assert_eq!(l.incident, a.incident);
            }
        }
    }
}
