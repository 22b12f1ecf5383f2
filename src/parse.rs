//! Turning a decoded feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) or a list page into items.
//!
//! Feeds go through feed-rs, after a check of the XML prolog: a DOCTYPE that declares
//! entities is refused before any parser sees it (billion laughs, external entities). List
//! pages (sites with no feed) are scraped with per-feed CSS selectors, or by a heuristic
//! that finds the page's main list of article links.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::config::{FeedFormat, Limits, ListSelectors};

/// Bytes of an HTML fragment (a summary or title) that are parsed; the rest is dropped.
const MAX_FRAGMENT_BYTES: usize = 64 * 1024;

/// One item of a feed or list page, before normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedItem {
    /// Headline as plain text.
    pub title: String,
    /// The article's absolute http(s) URL, when it has one.
    pub link: Option<String>,
    /// GUID / Atom id / JSON Feed id, when the feed gave one.
    pub guid: Option<String>,
    /// Publication (or, failing that, update) time.
    pub published: Option<DateTime<Utc>>,
    /// Summary as plain text (may be empty).
    pub summary: String,
    /// Full content HTML the feed carried (`content:encoded`, Atom content, JSON content_html).
    pub content_html: Option<String>,
}

/// What a feed or list page held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFeed {
    /// The feed's own title.
    pub title: Option<String>,
    /// Items, in the feed's order, at most `max_items_per_feed`, without repeats.
    pub items: Vec<ParsedItem>,
    /// Items dropped because the feed had more than the limit.
    pub over_limit: usize,
    /// Items dropped because they repeated an earlier item's GUID or link.
    pub repeated: usize,
    /// The next (older) page of a list page, when it links one.
    pub next_page: Option<String>,
}

/// Why a body could not be read as a feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty body")]
    Empty,
    /// The XML prolog declares entities.
    #[error(
        "XML DOCTYPE declares entities (refused: entity expansion and external entities are never processed)"
    )]
    EntityDeclaration,
    /// Parsed as something, but not a feed.
    #[error("not a feed: {0}")]
    NotAFeed(String),
    /// A feed, but malformed.
    #[error("malformed feed: {0}")]
    Malformed(String),
    /// A selector in the config is invalid.
    #[error("invalid CSS selector {selector:?}: {detail}")]
    Selector {
        /// The selector.
        selector: String,
        /// The parser's complaint.
        detail: String,
    },
}

/// Parses a feed body (already decoded to UTF-8, XML declaration saying UTF-8).
pub fn parse_feed(text: &str, base: &Url, limits: &Limits) -> Result<ParsedFeed, ParseError> {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    if trimmed.starts_with('<') {
        check_xml_prolog(trimmed)?;
        check_xml_complete(trimmed)?;
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        // Items without an id get an empty one (→ no GUID) instead of a made-up hash, so
        // that de-duplication relies on real ids and canonical links only.
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser
        .parse(trimmed.as_bytes())
        .map_err(|e| classify_feed_error(trimmed, e))?;
    let title = feed.title.map(|t| text_of(&t)).filter(|t| !t.is_empty());
    let mut out = ParsedFeed {
        title,
        ..ParsedFeed::default()
    };
    let mut seen = Seen::default();
    for entry in feed.entries {
        let link = pick_link(&entry.links, base).or_else(|| {
            // RSS 2.0 guid with isPermaLink: the id is the link.
            Url::parse(entry.id.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(String::from)
        });
        let guid = Some(entry.id.trim().to_string()).filter(|g| !g.is_empty());
        let title = entry.title.as_ref().map(text_of).unwrap_or_default();
        let summary = entry.summary.as_ref().map(text_of).unwrap_or_default();
        let content_html = entry
            .content
            .and_then(|c| c.body)
            .filter(|b| !b.trim().is_empty());
        let item = ParsedItem {
            title: truncate_chars(&title, limits.max_title_chars),
            link,
            guid,
            published: entry.published.or(entry.updated),
            summary: truncate_chars(&summary, limits.max_summary_chars),
            content_html,
        };
        out.push(item, &mut seen, limits.max_items_per_feed);
    }
    Ok(out)
}

#[derive(Default)]
struct Seen {
    guids: HashSet<String>,
    links: HashSet<String>,
}

impl ParsedFeed {
    fn push(&mut self, item: ParsedItem, seen: &mut Seen, max: usize) {
        let repeat = item.guid.as_ref().is_some_and(|g| seen.guids.contains(g))
            || item.link.as_ref().is_some_and(|l| seen.links.contains(l));
        if repeat {
            self.repeated += 1;
            return;
        }
        if self.items.len() >= max {
            self.over_limit += 1;
            return;
        }
        if let Some(g) = &item.guid {
            seen.guids.insert(g.clone());
        }
        if let Some(l) = &item.link {
            seen.links.insert(l.clone());
        }
        self.items.push(item);
    }
}

/// Refuses a DOCTYPE that declares entities. Only the prolog is looked at: a DOCTYPE inside
/// an item's CDATA is content, not a declaration.
pub fn check_xml_prolog(text: &str) -> Result<(), ParseError> {
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("<?") {
            let Some(end) = r.find("?>") else {
                return Ok(());
            };
            rest = r[end + 2..].trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            let Some(end) = r.find("-->") else {
                return Ok(());
            };
            rest = r[end + 3..].trim_start();
        } else if rest
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("<!DOCTYPE"))
        {
            let decl = &rest[9..];
            let bracket = decl.find('[');
            let close = decl.find('>');
            let end = match (bracket, close) {
                (Some(b), Some(c)) if b < c => decl[b..]
                    .find(']')
                    .map(|e| b + e)
                    .and_then(|e| decl[e..].find('>').map(|g| e + g)),
                (_, c) => c,
            };
            let body = &decl[..end.unwrap_or(decl.len())];
            if body.contains("<!ENTITY")
                || body.contains("<!entity")
                || end.is_none() && bracket.is_some()
            {
                return Err(ParseError::EntityDeclaration);
            }
            rest = decl[end.map_or(decl.len(), |e| e + 1)..].trim_start();
        } else {
            return Ok(());
        }
    }
}

/// Refuses an XML document that stops before its root element is closed (a body cut off in
/// transit), which XML parsers may otherwise read as a shorter, silently incomplete feed.
fn check_xml_complete(text: &str) -> Result<(), ParseError> {
    let Some(root) = root_element_name(text) else {
        return Ok(());
    };
    let mut end = text.trim_end();
    // Comments and processing instructions may follow the root element.
    while end.ends_with("-->") || end.ends_with("?>") {
        let open = if end.ends_with("-->") { "<!--" } else { "<?" };
        match end.rfind(open) {
            Some(i) => end = end[..i].trim_end(),
            None => break,
        }
    }
    let closed = end
        .rfind("</")
        .is_some_and(|i| end[i + 2..].trim_end_matches('>').trim() == root && end.ends_with('>'))
        || (end.ends_with("/>")
            && end
                .find(&format!("<{root}"))
                .is_some_and(|i| end[i..].matches('<').count() == 1));
    if closed {
        Ok(())
    } else {
        Err(ParseError::Malformed(format!(
            "truncated: the document ends before </{root}>"
        )))
    }
}

/// The name of the first element after the prolog.
fn root_element_name(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let i = rest.find('<')?;
        rest = &rest[i..];
        if rest.starts_with("<?") || rest.starts_with("<!") {
            // Prolog items; a DOCTYPE's internal subset was vetted by check_xml_prolog.
            let close = if rest.starts_with("<!--") { "-->" } else { ">" };
            let e = rest.find(close)?;
            rest = &rest[e + close.len()..];
            continue;
        }
        let name_end = rest[1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(rest.len(), |e| e + 1);
        let name = &rest[1..name_end];
        return (!name.is_empty()).then_some(name);
    }
}

fn classify_feed_error(text: &str, e: feed_rs::parser::ParseFeedError) -> ParseError {
    use feed_rs::parser::{ParseErrorKind, ParseFeedError};
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            ParseError::NotAFeed(describe_non_feed(text))
        }
        ParseFeedError::JsonUnsupportedVersion(v) => {
            ParseError::NotAFeed(format!("JSON with unsupported feed version {v:?}"))
        }
        ParseFeedError::JsonSerde(e) if !looks_like_json_feed(text) => {
            ParseError::NotAFeed(format!("JSON that is not a JSON Feed ({e})"))
        }
        other => ParseError::Malformed(other.to_string()),
    }
}

fn looks_like_json_feed(text: &str) -> bool {
    text[..floor_char_boundary(text, 512)].contains("jsonfeed.org")
}

fn describe_non_feed(text: &str) -> String {
    let head = text[..floor_char_boundary(text, 2048)].to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype html") || head.contains("<body") {
        "an HTML page (if the site has no feed, set format = \"html-list\")".to_string()
    } else if head.starts_with('<') {
        let root: String = head
            .trim_start_matches(|c| c != '<')
            .chars()
            .skip(1)
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '_')
            .take(40)
            .collect();
        format!("XML whose root is not rss, RDF or feed ({root:?})")
    } else if head.starts_with('{') || head.starts_with('[') {
        "JSON that is not a JSON Feed".to_string()
    } else {
        "the body is neither XML nor JSON".to_string()
    }
}

/// The article link among an entry's links: an `alternate` (or unlabelled) http(s) link,
/// preferring HTML, resolved against the feed's URL.
fn pick_link(links: &[feed_rs::model::Link], base: &Url) -> Option<String> {
    let usable = |l: &&feed_rs::model::Link| {
        matches!(l.rel.as_deref(), None | Some("alternate") | Some(""))
            && absolute_http(&l.href, base).is_some()
    };
    links
        .iter()
        .filter(usable)
        .find(|l| l.media_type.as_deref().is_none_or(|m| m.contains("html")))
        .or_else(|| links.iter().find(usable))
        .and_then(|l| absolute_http(&l.href, base))
}

/// `href` resolved against `base`, when the result is http(s).
pub fn absolute_http(href: &str, base: &Url) -> Option<String> {
    let u = base.join(href.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// Plain text of a feed text field. RSS puts entity-encoded HTML in fields it labels plain
/// text, so anything with markup or entities is read as HTML whatever its label says.
fn text_of(t: &feed_rs::model::Text) -> String {
    html_fragment_text(&t.content)
}

/// The text of an HTML fragment, tags dropped, whitespace squeezed to single spaces.
pub fn html_fragment_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return squeeze(html);
    }
    let html = limit_depth(
        &html[..floor_char_boundary(html, MAX_FRAGMENT_BYTES)],
        MAX_HTML_DEPTH,
    );
    let doc = Html::parse_fragment(&html);
    let mut out = String::new();
    // An explicit stack keeps deep nesting off the call stack.
    let mut stack = vec![doc.tree.root()];
    while let Some(node) = stack.pop() {
        match node.value() {
            scraper::Node::Text(t) => out.push_str(t),
            scraper::Node::Element(e) => {
                if matches!(e.name(), "script" | "style" | "template") {
                    continue;
                }
                if matches!(e.name(), "br" | "p" | "div" | "li") {
                    out.push(' ');
                }
            }
            _ => {}
        }
        let children: Vec<_> = node.children().collect();
        stack.extend(children.into_iter().rev());
    }
    squeeze(&out)
}

/// Collapses runs of whitespace to one space and trims.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters of `s`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Deepest element nesting handed to the HTML parser. html5ever's scope checks walk the
/// stack of open elements, so very deep nesting costs quadratic time; real pages stay far
/// below this.
pub const MAX_HTML_DEPTH: usize = 256;

/// `html` with every start tag nested deeper than `max_depth` (and its end tag) removed,
/// keeping all text. Borrowed when nothing is that deep (the usual case). The nesting is
/// tracked the way browsers mostly do it: void elements do not nest, an unclosed `<p>`,
/// `<li>`, `<td>` and the like is closed by its next sibling, raw-text elements (script,
/// style) are skipped whole, and an end tag closes up to its matching start tag.
pub fn limit_depth(html: &str, max_depth: usize) -> Cow<'_, str> {
    if !exceeds_depth(html, max_depth) {
        return Cow::Borrowed(html);
    }
    Cow::Owned(walk_tags(html, max_depth, true).1)
}

fn exceeds_depth(html: &str, max_depth: usize) -> bool {
    walk_tags(html, max_depth, false).0
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen",
];
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title", "xmp", "noscript"];
/// Start tags that close an open `<p>` (HTML's "close a p element").
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];
const SELF_CLOSING_SIBLINGS: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot",
];

/// One pass over the tags: (whether any tag was deeper than the limit, the limited text
/// when `emit`).
fn walk_tags(html: &str, max_depth: usize, emit: bool) -> (bool, String) {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(if emit { html.len() } else { 0 });
    // Open elements: (lower-case name, whether its tags are kept).
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut exceeded = false;
    let mut i = 0;
    let copy = |out: &mut String, s: &str| {
        if emit {
            out.push_str(s);
        }
    };
    while i < bytes.len() {
        let Some(lt) = html[i..].find('<').map(|p| i + p) else {
            copy(&mut out, &html[i..]);
            break;
        };
        copy(&mut out, &html[i..lt]);
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map_or(html.len(), |e| lt + e + 3);
            copy(&mut out, &html[lt..end]);
            i = end;
            continue;
        }
        let closing = rest.starts_with("</");
        let name_start = lt + if closing { 2 } else { 1 };
        let name_len = html[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .unwrap_or(html.len() - name_start);
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            // "<" that starts no tag ("<!DOCTYPE", "a < b"): plain text to us.
            let next = if rest.starts_with("<!") || rest.starts_with("<?") {
                rest.find('>').map_or(html.len(), |e| lt + e + 1)
            } else {
                lt + 1
            };
            copy(&mut out, &html[lt..next]);
            i = next;
            continue;
        }
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        let end = html[name_start..]
            .find('>')
            .map_or(html.len(), |e| name_start + e + 1);
        let tag = &html[lt..end];
        i = end;
        if closing {
            if let Some(pos) = stack.iter().rposition(|(n, _)| *n == name) {
                let kept = stack[pos].1;
                stack.truncate(pos);
                if kept {
                    copy(&mut out, tag);
                }
            } else {
                copy(&mut out, tag);
            }
            continue;
        }
        if VOID.contains(&name.as_str()) || tag.ends_with("/>") {
            if stack.len() < max_depth {
                copy(&mut out, tag);
            }
            continue;
        }
        if (SELF_CLOSING_SIBLINGS.contains(&name.as_str())
            && stack.last().is_some_and(|(n, _)| *n == name))
            || (CLOSES_P.contains(&name.as_str()) && stack.last().is_some_and(|(n, _)| n == "p"))
        {
            stack.pop();
        }
        let kept = stack.len() < max_depth;
        exceeded |= !kept;
        if kept {
            copy(&mut out, tag);
        }
        if RAW_TEXT.contains(&name.as_str()) {
            // Copy the raw text and its end tag as they are.
            let close = format!("</{name}");
            let body_end = html[i..]
                .to_ascii_lowercase()
                .find(&close)
                .map_or(html.len(), |e| i + e);
            let close_end = html[body_end..]
                .find('>')
                .map_or(html.len(), |e| body_end + e + 1);
            if kept {
                copy(&mut out, &html[i..close_end]);
            }
            i = close_end;
            continue;
        }
        stack.push((name, kept));
        if !emit && exceeded {
            return (true, out);
        }
    }
    (exceeded, out)
}

fn selector(s: &str) -> Result<Selector, ParseError> {
    Selector::parse(s).map_err(|e| ParseError::Selector {
        selector: s.to_string(),
        detail: e.to_string(),
    })
}

/// Scrapes a list page (a site with no feed): `sel` picks items, else a heuristic finds the
/// page's main list of article links. Dates written without a zone are read in `tz`.
pub fn parse_list_page(
    html: &str,
    base: &Url,
    sel: Option<&ListSelectors>,
    tz: chrono_tz::Tz,
    limits: &Limits,
) -> Result<ParsedFeed, ParseError> {
    if html.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let html = limit_depth(
        &html[..floor_char_boundary(html, limits.max_html_bytes)],
        MAX_HTML_DEPTH,
    );
    let doc = Html::parse_document(&html);
    let default = ListSelectors::default();
    let sel = sel.unwrap_or(&default);
    let link_sel = selector(sel.link.as_deref().unwrap_or("a[href]"))?;
    let title_sel = sel.title.as_deref().map(selector).transpose()?;
    let date_sel = sel.date.as_deref().map(selector).transpose()?;
    let next_page = find_next_page(&doc, base, sel.next.as_deref())?;
    let items: Vec<ElementRef<'_>> = match sel.item.as_deref() {
        Some(s) => doc.select(&selector(s)?).collect(),
        None => main_list_items(&doc),
    };
    let title = Selector::parse("title")
        .ok()
        .and_then(|t| doc.select(&t).next())
        .map(|t| squeeze(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let mut out = ParsedFeed {
        title,
        next_page,
        ..ParsedFeed::default()
    };
    let mut seen = Seen::default();
    for item in items {
        let Some(a) = item.select(&link_sel).next() else {
            continue;
        };
        let href = a.value().attr("href").or_else(|| {
            a.select(&link_sel)
                .next()
                .and_then(|x| x.value().attr("href"))
        });
        let Some(link) = href.and_then(|h| absolute_http(h, base)) else {
            continue;
        };
        let title_text = match &title_sel {
            Some(ts) => item
                .select(ts)
                .next()
                .map(|t| element_text(&t))
                .unwrap_or_default(),
            None => element_text(&a),
        };
        if title_text.is_empty() {
            continue;
        }
        let date_text = match &date_sel {
            Some(ds) => item.select(ds).next().map(|d| element_text(&d)),
            None => Some(element_text(&item)),
        };
        let published = date_text.and_then(|t| parse_loose_date(&t, tz));
        let parsed = ParsedItem {
            title: truncate_chars(&title_text, limits.max_title_chars),
            link: Some(link),
            guid: None,
            published,
            summary: String::new(),
            content_html: None,
        };
        out.push(parsed, &mut seen, limits.max_items_per_feed);
    }
    if out.items.is_empty() && out.repeated == 0 {
        return Err(ParseError::NotAFeed(
            "a page with no list of article links (set list selectors for this feed)".into(),
        ));
    }
    Ok(out)
}

/// The next-page link: the feed's `next` selector, else `rel="next"`, else a link whose
/// whole text is 次へ / 次のページ / Next and the like.
fn find_next_page(
    doc: &Html,
    base: &Url,
    next: Option<&str>,
) -> Result<Option<String>, ParseError> {
    let href_of = |e: ElementRef<'_>| e.value().attr("href").and_then(|h| absolute_http(h, base));
    if let Some(s) = next {
        return Ok(doc.select(&selector(s)?).find_map(href_of));
    }
    if let Ok(rel) = Selector::parse("link[rel~=next][href], a[rel~=next][href]")
        && let Some(h) = doc.select(&rel).find_map(href_of)
    {
        return Ok(Some(h));
    }
    let Ok(a) = Selector::parse("a[href]") else {
        return Ok(None);
    };
    Ok(doc
        .select(&a)
        .filter(|e| {
            let t = element_text(e);
            let t = t.trim_matches(|c: char| c.is_whitespace() || "<>＜＞«»›‹→".contains(c));
            matches!(
                t,
                "次へ"
                    | "次のページ"
                    | "次ページ"
                    | "次の20件"
                    | "Next"
                    | "next"
                    | "NEXT"
                    | "過去の記事"
            )
        })
        .find_map(href_of))
}

fn element_text(e: &ElementRef<'_>) -> String {
    squeeze(&e.text().collect::<String>())
}

/// The heuristic for list pages: the list (ul, ol, dl, table body) with the most items that
/// each hold a link with a real title (8+ characters), outside nav, header, footer and aside.
fn main_list_items<'a>(doc: &'a Html) -> Vec<ElementRef<'a>> {
    let mut best: Option<(usize, ElementRef<'a>)> = None;
    for node in doc.tree.nodes() {
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        if !matches!(el.value().name(), "ul" | "ol" | "dl" | "tbody" | "table") {
            continue;
        }
        if el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| matches!(a.value().name(), "nav" | "header" | "footer" | "aside"))
        {
            continue;
        }
        let score = list_children(el)
            .filter(|c| titled_link(c).is_some())
            .count();
        if score >= 1 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, el));
        }
    }
    best.map(|(_, el)| {
        list_children(el)
            .filter(|c| titled_link(c).is_some())
            .collect()
    })
    .unwrap_or_default()
}

fn list_children<'a>(el: ElementRef<'a>) -> impl Iterator<Item = ElementRef<'a>> {
    el.children()
        .filter_map(ElementRef::wrap)
        .filter(|c| matches!(c.value().name(), "li" | "dt" | "dd" | "tr"))
}

fn titled_link<'a>(item: &ElementRef<'a>) -> Option<ElementRef<'a>> {
    item.descendants().filter_map(ElementRef::wrap).find(|e| {
        e.value().name() == "a"
            && e.value().attr("href").is_some()
            && element_text(e).chars().count() >= 8
    })
}

/// A date (and optional time) in the forms Japanese sites write: `2024年1月5日`,
/// `2024/01/05 10:30`, `2024-01-05`, `2024.1.5`, `令和6年1月5日`; full-width digits too.
pub fn parse_loose_date(text: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(
                r"(令和|平成)?\s*(\d{1,4}|元)\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*日?(?:\s*[(（][^)）]{1,3}[)）])?(?:\s*(\d{1,2})[:：時](\d{2}))?",
            )
            .ok()
        })
        .as_ref()?;
    let ascii: String = text
        .chars()
        .take(4096)
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '／' => '/',
            '－' => '-',
            '．' => '.',
            _ => c,
        })
        .collect();
    let caps = re.captures(&ascii)?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let raw_year = if caps.get(2).map(|m| m.as_str()) == Some("元") {
        1
    } else {
        num(2)?
    };
    let year = match caps.get(1).map(|m| m.as_str()) {
        Some("令和") => 2018 + raw_year,
        Some("平成") => 1988 + raw_year,
        _ if raw_year >= 1900 => raw_year,
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year as i32, num(3)?, num(4)?)?;
    let time = match (num(5), num(6)) {
        (Some(h), Some(m)) => NaiveTime::from_hms_opt(h, m, 0)?,
        _ => NaiveTime::MIN,
    };
    let local = tz.from_local_datetime(&date.and_time(time)).earliest()?;
    Some(local.with_timezone(&Utc))
}

/// Whether a configured format means a list page rather than a feed.
pub fn is_list_format(format: FeedFormat) -> bool {
    format == FeedFormat::HtmlList
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080/paysec/feed.rdf").unwrap()
    }

    fn limits() -> Limits {
        Limits::default()
    }

    const RSS1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel rdf:about="http://127.0.0.1:8080/paysec/"><title>決済セキュリティ通信</title><link>http://127.0.0.1:8080/paysec/</link><description>d</description></channel>
 <item rdf:about="http://127.0.0.1:8080/paysec/articles/a.html">
  <title>セブンペイで不正利用</title>
  <link>http://127.0.0.1:8080/paysec/articles/a.html</link>
  <description>&lt;p&gt;被害は&lt;b&gt;約900人&lt;/b&gt;。&lt;/p&gt;</description>
  <dc:date>2019-07-04T18:30:00+09:00</dc:date>
 </item>
</rdf:RDF>"#;

    #[test]
    fn rss1_with_dc_date_and_html_description() {
        let f = parse_feed(RSS1, &base(), &limits()).unwrap();
        assert_eq!(f.title.as_deref(), Some("決済セキュリティ通信"));
        let it = &f.items[0];
        assert_eq!(it.title, "セブンペイで不正利用");
        assert_eq!(
            it.link.as_deref(),
            Some("http://127.0.0.1:8080/paysec/articles/a.html")
        );
        assert_eq!(it.summary, "被害は約900人。");
        assert_eq!(
            it.published.unwrap().to_rfc3339(),
            "2019-07-04T09:30:00+00:00"
        );
    }

    #[test]
    fn rss2_atom_and_json_feed() {
        let rss2 = r#"<rss version="2.0"><channel><title>t</title>
          <item><title>A &amp; B</title><link>/a</link><guid isPermaLink="false">id-1</guid>
          <pubDate>Thu, 04 Jul 2019 09:30:00 +0000</pubDate><description>plain</description></item>
          <item><title>guid only</title><guid>http://127.0.0.1:8080/b</guid></item>
        </channel></rss>"#;
        let f = parse_feed(rss2, &base(), &limits()).unwrap();
        assert_eq!(f.items[0].title, "A & B");
        assert_eq!(f.items[0].link.as_deref(), Some("http://127.0.0.1:8080/a"));
        assert_eq!(f.items[0].guid.as_deref(), Some("id-1"));
        assert_eq!(f.items[1].link.as_deref(), Some("http://127.0.0.1:8080/b"));

        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>p</title><id>x</id><updated>2020-01-01T00:00:00Z</updated>
          <entry><title type="html">&lt;b&gt;プレス&lt;/b&gt;</title><id>urn:1</id>
           <link rel="enclosure" href="/file.pdf"/><link rel="alternate" type="text/html" href="/press/1.html"/>
           <updated>2020-01-02T00:00:00Z</updated><summary>要約</summary>
           <content type="html">&lt;p&gt;本文&lt;/p&gt;</content></entry></feed>"#;
        let f = parse_feed(atom, &base(), &limits()).unwrap();
        let it = &f.items[0];
        assert_eq!(it.title, "プレス");
        assert_eq!(
            it.link.as_deref(),
            Some("http://127.0.0.1:8080/press/1.html")
        );
        assert_eq!(
            it.published.unwrap().to_rfc3339(),
            "2020-01-02T00:00:00+00:00"
        );
        assert_eq!(it.summary, "要約");
        assert!(it.content_html.as_deref().unwrap().contains("本文"));

        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"c","items":[
           {"id":"1","url":"http://127.0.0.1:8080/c/1","title":"キャッシュレス","summary":"s","date_published":"2021-03-01T10:00:00+09:00","content_html":"<p>x</p>"}]}"#;
        let f = parse_feed(json, &base(), &limits()).unwrap();
        assert_eq!(f.items[0].title, "キャッシュレス");
        assert_eq!(
            f.items[0].link.as_deref(),
            Some("http://127.0.0.1:8080/c/1")
        );
        assert_eq!(f.items[0].summary, "s");
    }

    #[test]
    fn non_http_links_are_dropped() {
        let rss = r#"<rss version="2.0"><channel><title>t</title>
          <item><title>x</title><link>javascript:alert(1)</link></item>
          <item><title>y</title><link>file:///etc/passwd</link></item></channel></rss>"#;
        let f = parse_feed(rss, &base(), &limits()).unwrap();
        assert!(f.items.iter().all(|i| i.link.is_none()));
    }

    #[test]
    fn entity_declarations_are_refused() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0"><channel><title>&lol3;</title></channel></rss>"#;
        assert_eq!(
            parse_feed(laughs, &base(), &limits()),
            Err(ParseError::EntityDeclaration)
        );
        let xxe = r#"<?xml version="1.0"?><!-- c --><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title></item></channel></rss>"#;
        assert_eq!(
            parse_feed(xxe, &base(), &limits()),
            Err(ParseError::EntityDeclaration)
        );
        // A parameter entity pulling an external DTD subset.
        let pe = r#"<!DOCTYPE rss [<!ENTITY % ext SYSTEM "http://127.0.0.1:1/x.dtd"> %ext;]><rss version="2.0"/>"#;
        assert_eq!(
            parse_feed(pe, &base(), &limits()),
            Err(ParseError::EntityDeclaration)
        );
        // An unterminated internal subset is refused too.
        assert_eq!(
            check_xml_prolog("<!DOCTYPE x [ <!ELEMENT"),
            Err(ParseError::EntityDeclaration)
        );
    }

    #[test]
    fn plain_doctype_and_doctype_in_cdata_are_fine() {
        let rss091 = r#"<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>t</title><link>http://127.0.0.1/</link><description>d</description>
<item><title>old</title><link>http://127.0.0.1/o</link><description><![CDATA[<!DOCTYPE x [<!ENTITY a "b">]>]]></description></item></channel></rss>"#;
        let f = parse_feed(rss091, &base(), &limits()).unwrap();
        assert_eq!(f.items[0].title, "old");
    }

    #[test]
    fn hostile_bodies_give_clear_errors() {
        assert_eq!(parse_feed("", &base(), &limits()), Err(ParseError::Empty));
        assert_eq!(
            parse_feed(" \n\u{feff}", &base(), &limits()),
            Err(ParseError::Empty)
        );
        let html =
            "<!DOCTYPE html><html><head><title>x</title></head><body><p>hi</p></body></html>";
        let err = parse_feed(html, &base(), &limits()).unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
        let err = parse_feed("<svg><g/></svg>", &base(), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::NotAFeed(_)), "{err}");
        let err = parse_feed("{\"hello\": 1}", &base(), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::NotAFeed(_)), "{err}");
        let err = parse_feed("\u{1}\u{2}garbage\u{3}", &base(), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::NotAFeed(_)), "{err}");
        // Truncated between elements and inside a tag.
        let cut = &RSS1[..RSS1.find("<dc:date>").unwrap()];
        let err = parse_feed(cut, &base(), &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed feed: truncated: the document ends before </rdf:RDF>"
        );
        let err = parse_feed(
            "<rss version=\"2.0\"><channel><item><title>x</ti",
            &base(),
            &limits(),
        );
        assert!(matches!(err, Err(ParseError::Malformed(_))));
        let cut_json =
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"c","items":[{"id":"1","#;
        assert!(matches!(
            parse_feed(cut_json, &base(), &limits()),
            Err(ParseError::Malformed(_))
        ));
        // Self-closed roots and trailing comments/whitespace are complete documents.
        assert!(check_xml_complete("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"/>\n").is_ok());
        assert!(check_xml_complete("<feed xmlns=\"a\"></feed >\n<!-- generated -->").is_ok());
        assert!(check_xml_complete("<feed xmlns=\"a\"><entry/>").is_err());
    }

    #[test]
    fn repeated_guids_and_links_are_kept_once_and_items_capped() {
        let items: String = (0..1000)
            .map(|i| format!("<item><title>t{i}</title><guid>same</guid></item>"))
            .collect();
        let rss = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
        let f = parse_feed(&rss, &base(), &limits()).unwrap();
        assert_eq!((f.items.len(), f.repeated), (1, 999));

        let items: String = (0..50)
            .map(|i| format!("<item><title>t{i}</title><link>/a/{i}</link></item>"))
            .collect();
        let rss = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
        let l = Limits {
            max_items_per_feed: 10,
            max_title_chars: 2,
            ..limits()
        };
        let f = parse_feed(&rss, &base(), &l).unwrap();
        assert_eq!((f.items.len(), f.over_limit), (10, 40));
        assert_eq!(f.items[9].title, "t9");
        assert_eq!(f.items[0].title.chars().count(), 2);
    }

    #[test]
    fn huge_feed_parses_within_limits() {
        let summary = "決済".repeat(5000);
        let items: String = (0..2000)
            .map(|i| format!("<item><title>t{i}</title><link>/a/{i}</link><description>{summary}</description></item>"))
            .collect();
        let rss = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
        let f = parse_feed(&rss, &base(), &limits()).unwrap();
        assert_eq!(f.items.len(), 500);
        assert_eq!(f.items[0].summary.chars().count(), 2000);
    }

    const LIST: &str = r#"<html><head><meta charset="Shift_JIS"><title>週刊金融新報 ニュース</title></head><body>
<div id="header"><ul class="gnav"><li><a href="/">トップページへ戻る</a></li><li><a href="/about">会社概要のページです</a></li><li><a href="/x">購読のお申し込み案内</a></li></ul></div>
<div id="contents"><ul class="news-list">
<li><span class="date">2019年07月04日</span> <a href="/kinyu-shimbun/news/a.html">セブンペイ不正利用、被害900人に</a></li>
<li><span class="date">2019年09月13日</span> <a href="b.html">J-Coin Pay加盟店情報が流出か</a></li>
<li><span class="date">令和2年9月8日</span> <a href="c.html?x=1">ドコモ口座で不正出金が相次ぐ</a></li>
<li><a href="mailto:x@example.com">メールでのお問い合わせはこちら</a></li>
</ul>
<div class="side"><ul><li><a href="/r1">ランキング一位の記事です</a></li><li><a href="/r2">ランキング二位の記事です</a></li></ul></div>
</div><footer><ul><li><a href="/1">フッターリンク一つ目です</a></li><li><a href="/2">フッターリンク二つ目です</a></li><li><a href="/3">フッターリンク三つ目です</a></li><li><a href="/4">フッターリンク四つ目です</a></li><li><a href="/5">フッターリンク五つ目です</a></li></ul></footer>
</body></html>"#;

    #[test]
    fn list_page_heuristic_finds_the_main_list() {
        let base = Url::parse("http://127.0.0.1:9/kinyu-shimbun/news/index.html").unwrap();
        let f = parse_list_page(LIST, &base, None, chrono_tz::Asia::Tokyo, &limits()).unwrap();
        let titles: Vec<&str> = f.items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(
            titles,
            vec![
                "セブンペイ不正利用、被害900人に",
                "J-Coin Pay加盟店情報が流出か",
                "ドコモ口座で不正出金が相次ぐ"
            ]
        );
        assert_eq!(
            f.items[1].link.as_deref(),
            Some("http://127.0.0.1:9/kinyu-shimbun/news/b.html")
        );
        assert_eq!(
            f.items[0].published.unwrap().to_rfc3339(),
            "2019-07-03T15:00:00+00:00"
        );
        assert_eq!(
            f.items[2].published.unwrap().to_rfc3339(),
            "2020-09-07T15:00:00+00:00"
        );
        assert_eq!(f.title.as_deref(), Some("週刊金融新報 ニュース"));
        assert_eq!(f.next_page, None);
        let with_next = LIST.replace(
            "</ul>\n<div class=\"side\">",
            "</ul><div class=\"pager\"><a href=\"index_2.html\">次へ &gt;&gt;</a></div>\n<div class=\"side\">",
        );
        let f =
            parse_list_page(&with_next, &base, None, chrono_tz::Asia::Tokyo, &limits()).unwrap();
        assert_eq!(
            f.next_page.as_deref(),
            Some("http://127.0.0.1:9/kinyu-shimbun/news/index_2.html")
        );
        let rel = LIST.replace("<title>", "<link rel=\"next\" href=\"/p2\"><title>");
        let f = parse_list_page(&rel, &base, None, chrono_tz::Asia::Tokyo, &limits()).unwrap();
        assert_eq!(f.next_page.as_deref(), Some("http://127.0.0.1:9/p2"));
    }

    #[test]
    fn list_page_with_selectors() {
        let base = Url::parse("http://127.0.0.1:9/kinyu-shimbun/news/index.html").unwrap();
        let sel = ListSelectors {
            item: Some("div.side li".into()),
            link: Some("a".into()),
            title: None,
            date: Some("span.nodate".into()),
            next: None,
        };
        let f =
            parse_list_page(LIST, &base, Some(&sel), chrono_tz::Asia::Tokyo, &limits()).unwrap();
        assert_eq!(f.items.len(), 2);
        assert_eq!(f.items[0].link.as_deref(), Some("http://127.0.0.1:9/r1"));
        assert_eq!(f.items[0].published, None);
        let bad = ListSelectors {
            item: Some("li[[".into()),
            ..Default::default()
        };
        assert!(matches!(
            parse_list_page(LIST, &base, Some(&bad), chrono_tz::Asia::Tokyo, &limits()),
            Err(ParseError::Selector { .. })
        ));
        let err = parse_list_page(
            "<p>nothing</p>",
            &base,
            None,
            chrono_tz::Asia::Tokyo,
            &limits(),
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::NotAFeed(_)));
    }

    #[test]
    fn corpus_list_pages_paginate() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/corpus/sites/kinyu-shimbun/news");
        let page = |name: &str| {
            let bytes = std::fs::read(root.join(name)).unwrap();
            let text =
                crate::charset::decode(&bytes, Some("text/html"), crate::charset::DocKind::Html)
                    .unwrap()
                    .text
                    .replace("{{BASE}}", "http://127.0.0.1:9");
            let base =
                Url::parse(&format!("http://127.0.0.1:9/kinyu-shimbun/news/{name}")).unwrap();
            parse_list_page(&text, &base, None, chrono_tz::Asia::Tokyo, &limits()).unwrap()
        };
        let p1 = page("index.html");
        assert_eq!(p1.items.len(), 20);
        assert!(p1.items.iter().all(|i| {
            i.published.is_some()
                && i.link
                    .as_deref()
                    .unwrap()
                    .contains("/kinyu-shimbun/articles/")
        }));
        assert_eq!(
            p1.next_page.as_deref(),
            Some("http://127.0.0.1:9/kinyu-shimbun/news/index_2.html")
        );
        let p2 = page("index_2.html");
        assert_eq!(p2.items.len(), 1);
        assert_eq!(p2.next_page, None);
        assert!(p2.items[0].title.contains("コインチェック"));
    }

    #[test]
    fn loose_dates() {
        let tz = chrono_tz::Asia::Tokyo;
        let d = |s: &str| parse_loose_date(s, tz).map(|d| d.to_rfc3339());
        assert_eq!(
            d("2024/01/05 10:30"),
            Some("2024-01-05T01:30:00+00:00".into())
        );
        assert_eq!(
            d("掲載日：２０２４年１月５日（金）"),
            Some("2024-01-04T15:00:00+00:00".into())
        );
        assert_eq!(d("2024-1-5"), Some("2024-01-04T15:00:00+00:00".into()));
        assert_eq!(
            d("令和元年5月1日"),
            Some("2019-04-30T15:00:00+00:00".into())
        );
        assert_eq!(
            d("平成31年4月30日"),
            Some("2019-04-29T15:00:00+00:00".into())
        );
        assert_eq!(d("2024年13月40日"), None);
        assert_eq!(d("no date here"), None);
        assert_eq!(d("99/12/31"), None);
    }

    #[test]
    fn depth_limit_keeps_text_and_normal_pages() {
        let normal = "<html><body><div><p>a<p>b<ul><li>x<li>y</ul><br><img src=x><script>if (a<b) {}</script></div></body></html>";
        assert!(matches!(limit_depth(normal, 5), Cow::Borrowed(_)));
        let deep = format!("{}text{}", "<div class=a>".repeat(10), "</div>".repeat(10));
        let limited = limit_depth(&deep, 3);
        assert_eq!(
            limited,
            format!("{}text{}", "<div class=a>".repeat(3), "</div>".repeat(3))
        );
        // Many unclosed siblings do not count as nesting.
        let siblings = format!("<ul>{}</ul>", "<li>item".repeat(1000));
        assert!(matches!(limit_depth(&siblings, 5), Cow::Borrowed(_)));
        // Deep nesting inside raw text is not nesting at all.
        let script = format!("<script>{}</script><p>x</p>", "<div>".repeat(100));
        assert!(matches!(limit_depth(&script, 5), Cow::Borrowed(_)));
        let cut = limit_depth("<div><div><div><b>x</b></div>", 2);
        assert_eq!(cut, "<div><div>x");
    }

    #[test]
    fn deep_fragment_does_not_overflow() {
        let deep = format!("{}x{}", "<b>".repeat(100_000), "</b>".repeat(100_000));
        let t = html_fragment_text(&deep);
        assert!(t.len() <= 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_feeds_never_panic(s in ".{0,600}") {
            let _ = parse_feed(&s, &base(), &limits());
            let _ = parse_feed(&format!("<rss version=\"2.0\"><channel><item>{s}</item></channel></rss>"), &base(), &limits());
            let _ = parse_list_page(&s, &base(), None, chrono_tz::Asia::Tokyo, &limits());
            let _ = check_xml_prolog(&s);
            let _ = parse_loose_date(&s, chrono_tz::Asia::Tokyo);
            let _ = limit_depth(&s, 3);
        }
    }
}
