//! `kessai tag [FILE|-]`: tags a text or an HTML page and prints its tags and facts
//! (JSON by default, `--format text` for people). `kessai retag`: re-tags every stored
//! article after the taxonomy changed.
//!
//! Exit codes: 0 success; 1 when the command stopped on an error (one line on stderr) or,
//! for `retag`, when some articles could not be read or written (the others are done).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::{Args, ValueEnum};
use scraper::{ElementRef, Html, Node, Selector};
use serde::Serialize;

use kessai::model::{ArticleDraft, CountFact, DateFact, Facts, FeedId, Field, group_digits};
use kessai::sanitize;
use kessai::store::Store;
use kessai::tag::{Tagger, field_text};

/// Inputs larger than this are refused (a page or an article, not a corpus).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object.
    Json,
    /// Lines for people.
    Text,
}

/// Arguments of `kessai tag`.
#[derive(Args, Debug, Clone)]
pub struct TagArgs {
    /// A text or HTML file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// The article's date (YYYY-MM-DD), for incident windows and dates without a year
    /// [default: the page's published date, else today].
    #[arg(long, value_name = "DATE")]
    pub date: Option<NaiveDate>,
}

/// Runs `kessai tag`.
pub fn run(args: &TagArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = read_input(args.file.as_ref())?;
    let text = decode(&bytes);
    let mut doc = if looks_like_html(&text) {
        from_html(&text)
    } else {
        from_text(&text)
    };
    if let Some(d) = args.date {
        doc.published = Some(d);
    }
    let published = doc
        .published
        .and_then(|d| d.and_hms_opt(3, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or_else(Utc::now);
    let draft = ArticleDraft {
        feed: FeedId::new("kessai-tag"),
        url: name,
        guid: None,
        title: doc.title,
        summary: doc.summary,
        body: doc.body,
        published,
        fetched: Utc::now(),
        content_hash: String::new(),
    };
    let tagger = Tagger::configured().context("loading the taxonomy")?;
    let analysis = tagger.analyze(&draft);
    let report = Report::new(tagger, &draft, published, &analysis);
    let out = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).context("writing JSON")?;
            s.push('\n');
            s
        }
        Format::Text => report.text(),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `kessai retag`.
#[derive(Args, Debug, Clone)]
pub struct RetagArgs {
    /// Count what would change without writing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `kessai retag` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetagReport {
    /// Articles looked at.
    pub articles: u64,
    /// Articles whose analysis changed (and was written, unless a dry run).
    pub changed: u64,
    /// Tags given that the old analyses did not have.
    pub tags_added: u64,
    /// Tags the old analyses had that are gone.
    pub tags_removed: u64,
    /// Articles that could not be read or written.
    pub failed: u64,
}

/// Runs `kessai retag`: every stored article, newest first, through the configured tagger
/// (built-in taxonomy plus the user's file); changed analyses are written with
/// `Store::set_analysis`, which keeps the tag indexes and indexers in step.
pub fn run_retag(args: &RetagArgs, global: &super::Global) -> anyhow::Result<ExitCode> {
    let path = global.store_path()?;
    let store = super::open_store(&path)?;
    let tagger = Tagger::configured().context("loading the taxonomy")?;
    let total = store.article_count().context("counting articles")?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("retag {bar:40} {pos}/{len} articles")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let report = retag(&store, tagger, args.dry_run, |done| {
        if let Some(b) = &bar {
            b.set_position(done);
        }
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if !args.dry_run {
        store.flush().context("writing the store")?;
    }
    println!(
        "{} {} articles: {} changed ({} tags added, {} removed){}",
        if args.dry_run {
            "would re-tag"
        } else {
            "re-tagged"
        },
        report.articles,
        report.changed,
        report.tags_added,
        report.tags_removed,
        if report.failed > 0 {
            format!(", {} could not be read or written", report.failed)
        } else {
            String::new()
        }
    );
    Ok(if report.failed > 0 {
        ExitCode::from(super::EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// Re-tags every article of `store`; `progress` gets the number done so far. An article
/// that cannot be read or written is counted and skipped; only a failure to list the
/// articles stops it.
pub fn retag(
    store: &Store,
    tagger: &Tagger,
    dry_run: bool,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<RetagReport> {
    let mut report = RetagReport::default();
    for id in store.ids_newest_first() {
        let id = id.context("listing the stored articles")?;
        report.articles += 1;
        progress(report.articles);
        let (article, old) = match (store.get(id), store.analysis(id)) {
            (Ok(Some(a)), Ok(old)) => (a, old.unwrap_or_default()),
            (Ok(None), _) => continue,
            _ => {
                report.failed += 1;
                continue;
            }
        };
        let new = tagger.analyze(&article.draft);
        if new == old {
            continue;
        }
        let tags = |a: &kessai::model::Analysis| {
            a.tags
                .iter()
                .map(|t| t.tag.clone())
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (before, after) = (tags(&old), tags(&new));
        report.tags_added += after.difference(&before).count() as u64;
        report.tags_removed += before.difference(&after).count() as u64;
        report.changed += 1;
        if !dry_run && store.set_analysis(id, &new).is_err() {
            report.failed += 1;
        }
    }
    Ok(report)
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = Vec::new();
    let name = match file.filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let f =
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
            f.take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {}", path.display()))?;
            path.display().to_string()
        }
        None => {
            std::io::stdin()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            "-".to_string()
        }
    };
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "{name}: input larger than {} MiB; tag one article at a time",
            MAX_INPUT_BYTES / 1024 / 1024
        );
    }
    Ok((name, bytes))
}

/// Decodes bytes: a BOM, else a `charset=` declaration near the top, else UTF-8 when
/// valid, else whatever chardetng guesses (Shift_JIS and EUC-JP pages are common).
pub fn decode(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    if let Some(pos) = head.find("charset=").or_else(|| head.find("encoding=")) {
        let rest = &head[pos..];
        let value = rest
            .split_once('=')
            .map(|(_, v)| v)
            .unwrap_or_default()
            .trim_start_matches(['"', '\''])
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .next()
            .unwrap_or_default();
        if let Some(enc) = encoding_rs::Encoding::for_label(value.as_bytes()) {
            return enc.decode_without_bom_handling(bytes).0.into_owned();
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    det.guess(Some(b"jp"), true)
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .trim_start()
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.contains("<body")
        || (head.starts_with('<') && (head.contains("<p>") || head.contains("<div")))
}

/// An article read from the input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Doc {
    /// Headline.
    pub title: String,
    /// Lead (the page's description), may be empty.
    pub summary: String,
    /// Paragraphs separated by blank lines.
    pub body: String,
    /// Publication date stated by the page.
    pub published: Option<NaiveDate>,
}

/// Plain text: the first line is the title, the rest the body.
pub fn from_text(text: &str) -> Doc {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.splitn(2, '\n');
    let first = lines.next().unwrap_or_default().trim().to_string();
    let rest = lines.next().unwrap_or_default().trim().to_string();
    if rest.is_empty() {
        // One line: it is all body, so that it is tagged as text rather than a headline.
        return Doc {
            body: first,
            ..Doc::default()
        };
    }
    Doc {
        title: first,
        body: rest,
        ..Doc::default()
    }
}

/// Elements whose text is never article text.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "select", "svg", "iframe", "head",
];

/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "br",
    "tr",
    "table",
    "dd",
    "dt",
    "dl",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "hr",
];

/// An HTML page: title from og:title, `<h1>` or `<title>`; lead from the description;
/// body from `<article>` (else `<main>`, else `<body>`) without navigation, asides,
/// headers, footers and scripts. Boilerplate left inside is for the tagger to drop.
pub fn from_html(text: &str) -> Doc {
    let html = Html::parse_document(text);
    let sel = |s: &str| Selector::parse(s).ok();
    let meta = |s: &str| {
        sel(s).and_then(|q| {
            html.select(&q)
                .find_map(|e| e.value().attr("content").map(|c| c.trim().to_string()))
        })
    };
    let element_text = |s: &str| {
        sel(s).and_then(|q| {
            html.select(&q)
                .next()
                .map(|e| squeeze(&e.text().collect::<String>()))
        })
    };
    let title = meta("meta[property='og:title']")
        .filter(|t| !t.is_empty())
        .or_else(|| element_text("h1").filter(|t| !t.is_empty()))
        .or_else(|| element_text("title").map(|t| strip_site_name(&t)))
        .unwrap_or_default();
    let summary = meta("meta[name='description']")
        .or_else(|| meta("meta[property='og:description']"))
        .unwrap_or_default();
    let published = meta("meta[property='article:published_time']")
        .or_else(|| {
            sel("time[datetime]").and_then(|q| {
                html.select(&q)
                    .find_map(|e| e.value().attr("datetime").map(str::to_string))
            })
        })
        .and_then(|s| parse_date(&s));
    let root = ["article", "main", "body"]
        .iter()
        .filter_map(|s| sel(s))
        .find_map(|q| html.select(&q).next());
    let mut body = String::new();
    // Old pages state the date only as text near the top (2019年7月4日 18時40分), often in
    // the article's header, which the body leaves out.
    let written_date = root.and_then(|r| first_date(&squeeze(&r.text().collect::<String>())));
    if let Some(root) = root {
        let mut para = String::new();
        collect_text(root, &mut para, &mut body, &title);
        flush_para(&mut para, &mut body, &title);
    }
    let body = body.trim().to_string();
    let published = published.or(written_date);
    Doc {
        title,
        summary,
        body,
        published,
    }
}

/// `記事の見出し - サイト名` → `記事の見出し` (the part before the last separator, when the
/// part after it is short enough to be a site name).
fn strip_site_name(title: &str) -> String {
    for sep in [" | ", " - ", "｜", " – ", " — "] {
        if let Some((head, tail)) = title.rsplit_once(sep) {
            if !head.trim().is_empty() && tail.chars().count() <= 30 {
                return head.trim().to_string();
            }
        }
    }
    title.to_string()
}

/// The first full date written in a text (2019年7月4日, 2019.07.04, 2019/7/4, 2019-07-04).
fn first_date(text: &str) -> Option<NaiveDate> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE
        .get_or_init(|| {
            regex::Regex::new(
                r"((?:19|20)[0-9]{2})(?:年|[./-])([0-9]{1,2})(?:月|[./-])([0-9]{1,2})",
            )
            .ok()
        })
        .as_ref()?;
    let head: String = text.chars().take(4000).collect();
    re.captures_iter(&kessai::tokenize::fold(&head))
        .find_map(|c| {
            let n = |i: usize| c.get(i)?.as_str().parse::<u32>().ok();
            NaiveDate::from_ymd_opt(i32::try_from(n(1)?).ok()?, n(2)?, n(3)?)
        })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.date_naive())
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s.trim().get(..10)?, "%Y-%m-%d").ok())
}

fn collect_text(el: ElementRef<'_>, para: &mut String, out: &mut String, title: &str) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => para.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) {
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block {
                    flush_para(para, out, title);
                }
                if let Some(child_el) = ElementRef::wrap(child) {
                    collect_text(child_el, para, out, title);
                }
                if block {
                    flush_para(para, out, title);
                }
            }
            _ => {}
        }
    }
}

/// Ends a paragraph: squeezed, and left out when it only repeats the headline.
fn flush_para(para: &mut String, out: &mut String, title: &str) {
    let p = squeeze(para);
    para.clear();
    if p.is_empty() || p == title {
        return;
    }
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&p);
}

/// Collapses runs of whitespace (HTML source line breaks) into one space.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What `kessai tag` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Headline as read.
    pub title: String,
    /// The date used for the article.
    pub published: NaiveDate,
    /// Tags with evidence.
    pub tags: Vec<ReportTag>,
    /// Facts.
    pub facts: Facts,
}

/// One tag in the report.
#[derive(Debug, Serialize)]
pub struct ReportTag {
    /// Taxonomy id.
    pub tag: String,
    /// Family.
    pub family: String,
    /// Japanese label.
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// Matches.
    pub count: u32,
    /// Where it matched, with the matched text.
    pub evidence: Vec<Evidence>,
}

/// One matched span.
#[derive(Debug, Serialize)]
pub struct Evidence {
    /// title, lead or body.
    pub field: Field,
    /// Byte offsets in that field's text.
    pub start: usize,
    /// End byte offset.
    pub end: usize,
    /// The matched text.
    pub text: String,
}

impl Report {
    fn new(
        tagger: &Tagger,
        draft: &ArticleDraft,
        published: DateTime<Utc>,
        analysis: &kessai::model::Analysis,
    ) -> Report {
        let tags = analysis
            .tags
            .iter()
            .map(|t| {
                let entry = tagger.entry(&t.tag);
                ReportTag {
                    tag: t.tag.0.clone(),
                    family: t.family.as_str().to_string(),
                    label_ja: entry.map(|e| e.label_ja.clone()).unwrap_or_default(),
                    label_en: entry.map(|e| e.label_en.clone()).unwrap_or_default(),
                    count: t.count,
                    evidence: t
                        .spans
                        .iter()
                        .map(|s| Evidence {
                            field: s.field,
                            start: s.start,
                            end: s.end,
                            text: field_text(draft, s.field)
                                .get(s.start..s.end)
                                .unwrap_or_default()
                                .to_string(),
                        })
                        .collect(),
                }
            })
            .collect();
        Report {
            title: draft.title.clone(),
            published: kessai::tag::japan_date(published),
            tags,
            facts: analysis.facts.clone(),
        }
    }

    /// The report as lines for a terminal; all article text goes through the sanitizer.
    pub fn text(&self) -> String {
        let clean = |s: &str| sanitize::terminal_line(s);
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&format!("{}  ({})\n", clean(&self.title), self.published));
        } else {
            out.push_str(&format!("({})\n", self.published));
        }
        if self.tags.is_empty() {
            out.push_str("no tags\n");
        }
        for t in &self.tags {
            let mut seen: Vec<&str> = Vec::new();
            for e in &t.evidence {
                if !seen.contains(&e.text.as_str()) {
                    seen.push(&e.text);
                }
            }
            out.push_str(&format!(
                "{:<9} {:<34} x{:<3} {}  [{}]\n",
                t.family,
                t.tag,
                t.count,
                clean(&t.label_ja),
                clean(&seen.join(", "))
            ));
        }
        let f = &self.facts;
        if !(f.counts.is_empty()
            && f.amounts.is_empty()
            && f.dates.is_empty()
            && f.causes.is_empty())
        {
            out.push_str("facts:\n");
        }
        for c in &f.counts {
            out.push_str(&format!(
                "  count   {}  [{}]\n",
                count_line(c),
                clean(&c.text)
            ));
        }
        for a in &f.amounts {
            let q = a
                .qualifier
                .as_deref()
                .map(|q| format!(" ({})", clean(q)))
                .unwrap_or_default();
            out.push_str(&format!(
                "  amount  {} yen{q}  [{}]\n",
                group_digits(a.yen),
                clean(&a.text)
            ));
        }
        for d in &f.dates {
            out.push_str(&format!(
                "  date    {}  [{}]\n",
                date_line(d),
                clean(&d.text)
            ));
        }
        for c in &f.causes {
            out.push_str(&format!("  cause   {}\n", clean(c)));
        }
        out
    }
}

fn count_line(c: &CountFact) -> String {
    let q = c
        .qualifier
        .as_deref()
        .map(|q| format!(" ({})", sanitize::terminal_line(q)))
        .unwrap_or_default();
    format!(
        "{} {}{q}",
        group_digits(c.value),
        sanitize::terminal_line(&c.unit)
    )
}

fn date_line(d: &DateFact) -> String {
    format!("{} {}", d.date, d.role.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_pages_lose_navigation_and_keep_paragraphs() {
        let page = r#"<!DOCTYPE html><html><head><title>T | Site</title>
<meta property="og:title" content="J-Coin Payに不正アクセス">
<meta name="description" content="みずほ銀行は4日、発表した。">
<meta property="article:published_time" content="2019-09-05T10:00:00+09:00"></head>
<body><header><nav><a>暗号資産</a><a>PayPay</a></nav></header>
<article><h1>J-Coin Payに不正アクセス</h1><p>第一段落で
7payに触れる。</p><p>第二段落。</p><aside><h2>関連記事</h2><ul><li>LINE Pay</li></ul></aside></article>
<footer>Copyright</footer><script>var x = "メルペイ";</script></body></html>"#;
        let d = from_html(page);
        assert_eq!(d.title, "J-Coin Payに不正アクセス");
        assert_eq!(d.summary, "みずほ銀行は4日、発表した。");
        assert_eq!(d.body, "第一段落で 7payに触れる。\n\n第二段落。");
        assert_eq!(d.published, NaiveDate::from_ymd_opt(2019, 9, 5));
    }

    #[test]
    fn text_first_line_is_the_title() {
        let d = from_text("見出し\n本文の一行目。\n\n二段落目。");
        assert_eq!(d.title, "見出し");
        assert_eq!(d.body, "本文の一行目。\n\n二段落目。");
        assert_eq!(from_text("一行だけ").body, "一行だけ");
    }

    #[test]
    fn decodes_japanese_encodings() {
        let (sjis, _, _) =
            encoding_rs::SHIFT_JIS.encode("セブンペイで不正利用が発生した。決済の安全性。");
        assert_eq!(
            decode(&sjis),
            "セブンペイで不正利用が発生した。決済の安全性。"
        );
        let (euc, _, _) = encoding_rs::EUC_JP.encode("<meta charset=\"euc-jp\"><p>ドコモ口座</p>");
        assert!(decode(&euc).contains("ドコモ口座"));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("7pay".as_bytes());
        assert_eq!(decode(&bom), "7pay");
        // Garbage never panics.
        let _ = decode(&[0xff, 0xfe, 0x00, 0x81, 0x82, 0xa0]);
    }

    #[test]
    fn old_table_pages_give_title_and_date() {
        let page = "<html><head><title>見出し - 決済セキュリティ通信</title></head><body><table><tr><td><font>２０１９年７月４日 18時40分</font></td></tr><tr><td>本文。</td></tr></table></body></html>";
        let d = from_html(page);
        assert_eq!(d.title, "見出し");
        assert_eq!(d.published, NaiveDate::from_ymd_opt(2019, 7, 4));
        assert_eq!(strip_site_name("A | B | Site"), "A | B");
        assert_eq!(
            first_date("2019.07.04 10:00"),
            NaiveDate::from_ymd_opt(2019, 7, 4)
        );
        assert_eq!(first_date("2019年13月40日"), None);
    }

    #[test]
    fn malformed_html_never_panics() {
        for page in [
            "<html><body><p>",
            "<div><<<>>>&&&;</div",
            "<html>\u{0}\u{1b}[31m</html>",
        ] {
            let _ = from_html(page);
        }
    }
}
