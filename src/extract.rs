//! Extracting an article's main text from its HTML page.
//!
//! A per-feed CSS selector names the body when the site needs it; otherwise a heuristic in
//! the spirit of Readability, tuned for Japanese pages: the page is cut into paragraph runs
//! (`<p>`, and text between `<br>`s in table layouts), each run is scored by its Japanese
//! text and credited to its container, and the best container's runs are the body.
//! Navigation, headers, footers, sidebars, share buttons, breadcrumbs, forms, ads and blocks
//! headed 関連記事 / ランキング / PR and the like never take part.
//!
//! Every walk over the tree uses an explicit stack, so a page nested hundreds of thousands
//! of levels deep cannot overflow the call stack; the input is cut to `max_html_bytes`
//! before parsing.

use std::collections::{HashMap, HashSet};

use ego_tree::NodeId;
use scraper::{Html, Node, Selector};

use crate::config::Limits;
use crate::parse::{MAX_HTML_DEPTH, limit_depth};

/// How the text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The feed's `body_selector`.
    Selector,
    /// The heuristic.
    Heuristic,
    /// Nothing that looks like an article body.
    Nothing,
}

/// An article body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Paragraphs separated by blank lines.
    pub text: String,
    /// Number of paragraphs.
    pub paragraphs: usize,
    /// How it was found.
    pub method: Method,
    /// The page's `<title>`, if any.
    pub page_title: Option<String>,
}

/// Why extraction could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The configured body selector does not parse.
    #[error("invalid body_selector {selector:?}: {detail}")]
    Selector {
        /// The selector.
        selector: String,
        /// The parser's complaint.
        detail: String,
    },
}

/// Elements whose whole subtree is never article text.
const DROP_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
    "form", "button", "select", "textarea", "input", "nav", "header", "footer", "aside", "menu",
    "head", "title", "figure",
];

/// Words in a class or id (split at `-`, `_`, spaces and camel humps are not split) that mark
/// boilerplate containers.
const DROP_WORDS: &[&str] = &[
    "nav",
    "navi",
    "gnav",
    "gnavi",
    "navigation",
    "menu",
    "breadcrumb",
    "breadcrumbs",
    "pankuzu",
    "topicpath",
    "share",
    "sns",
    "social",
    "related",
    "kanren",
    "ranking",
    "rank",
    "pr",
    "ad",
    "ads",
    "advert",
    "advertisement",
    "banner",
    "sidebar",
    "side",
    "widget",
    "footer",
    "header",
    "masthead",
    "pagetop",
    "comment",
    "comments",
    "trackback",
    "tags",
    "tagcloud",
    "newsletter",
    "subscribe",
    "koudoku",
    "pager",
    "pagination",
    "popular",
    "recommend",
    "sponsor",
    "colophon",
    "meta",
    "byline",
    "author",
    "date",
    "hizuke",
    "contact",
    "bookmark",
];

/// Headings that mark a block as boilerplate (the block is dropped with its heading).
const BOILERPLATE_HEADINGS: &[&str] = &[
    "関連記事",
    "関連ニュース",
    "関連リンク",
    "ランキング",
    "人気記事",
    "おすすめ記事",
    "こんな記事も",
    "注目記事",
    "新着記事",
    "メールマガジン",
    "ニュースレター",
    "購読のご案内",
    "スポンサーリンク",
    "広告",
    "PR",
];

/// Whole-paragraph texts that are navigation remnants, not content.
const BOILERPLATE_RUNS: &[&str] = &[
    "PAGE TOP",
    "ページトップ",
    "ページトップへ",
    "ページの先頭へ",
    "ページの先頭へ戻る",
    "トップへ戻る",
    "続きを読む",
    "もっと見る",
    "記事一覧へ",
    "印刷する",
];

/// Runs shorter than this (in weighted characters) do not vote for their container.
const MIN_RUN_WEIGHT: f64 = 20.0;
/// Runs shorter than this are scraps (dates, bylines, labels), not paragraphs.
const MIN_KEPT_WEIGHT: f64 = 8.0;

/// Extracts the main text of an article page. `selector` (the feed's `body_selector`)
/// overrides the heuristic when it matches something.
pub fn extract(
    html: &str,
    selector: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let selector = selector
        .map(|s| {
            Selector::parse(s).map_err(|e| ExtractError::Selector {
                selector: s.to_string(),
                detail: e.to_string(),
            })
        })
        .transpose()?;
    let html = limit_depth(
        &html[..floor_boundary(html, limits.max_html_bytes)],
        MAX_HTML_DEPTH,
    );
    let doc = Html::parse_document(&html);
    let page = Page::analyse(&doc);
    let page_title = page.title.clone();

    if let Some(sel) = &selector {
        let roots: Vec<NodeId> = doc.select(sel).map(|e| e.id()).collect();
        if !roots.is_empty() {
            let inside = page.subtree_blocks(&doc, &roots);
            let runs: Vec<&Run> = page
                .runs
                .iter()
                .filter(|r| inside.contains(&r.holder) && r.is_content())
                .collect();
            if !runs.is_empty() {
                return Ok(finish(&runs, Method::Selector, page_title, limits));
            }
        }
    }
    let Some(best) = page.best_container(&doc) else {
        return Ok(Extracted {
            text: String::new(),
            paragraphs: 0,
            method: Method::Nothing,
            page_title,
        });
    };
    let inside = page.subtree_blocks(&doc, &[best]);
    let siblings = sibling_paragraphs(&doc, best);
    let runs: Vec<&Run> = page
        .runs
        .iter()
        .filter(|r| {
            r.is_content()
                && (inside.contains(&r.holder)
                    || (siblings.contains(&r.holder)
                        && r.weight >= 40.0
                        && r.link_density() < 0.25))
        })
        .collect();
    Ok(finish(&runs, Method::Heuristic, page_title, limits))
}

/// Paragraph text of an HTML fragment (a feed's full-content field): every content run, in
/// order, boilerplate blocks dropped, no container selection.
pub fn fragment_paragraphs(html: &str, limits: &Limits) -> String {
    let html = limit_depth(
        &html[..floor_boundary(html, limits.max_html_bytes)],
        MAX_HTML_DEPTH,
    );
    let doc = Html::parse_fragment(&html);
    let page = Page::analyse(&doc);
    let runs: Vec<&Run> = page.runs.iter().filter(|r| r.is_content()).collect();
    finish(&runs, Method::Heuristic, None, limits).text
}

fn finish(runs: &[&Run], method: Method, page_title: Option<String>, limits: &Limits) -> Extracted {
    let mut text = String::new();
    let mut paragraphs = 0;
    let mut chars = 0;
    for r in runs {
        let n = r.text.chars().count();
        if chars + n > limits.max_body_chars {
            // Stop at a paragraph boundary rather than cutting a sentence.
            if paragraphs == 0 {
                text = r.text.chars().take(limits.max_body_chars).collect();
                paragraphs = 1;
            }
            break;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&r.text);
        chars += n + 2;
        paragraphs += 1;
    }
    Extracted {
        text,
        paragraphs,
        method: if paragraphs == 0 {
            Method::Nothing
        } else {
            method
        },
        page_title,
    }
}

/// A run of inline text inside one block element.
#[derive(Debug)]
struct Run {
    /// The block element whose children hold the text.
    holder: NodeId,
    /// Whether the holder is a paragraph-like element (p, li, blockquote, ...).
    holder_is_para: bool,
    /// Whether the holder is an `<h1>` (the headline, stored apart from the body).
    holder_is_h1: bool,
    /// The text, whitespace squeezed.
    text: String,
    /// Characters inside links.
    link_chars: usize,
    /// Characters.
    chars: usize,
    /// Japanese characters count fully, others a third (Latin text is denser per meaning).
    weight: f64,
}

impl Run {
    fn link_density(&self) -> f64 {
        if self.chars == 0 {
            1.0
        } else {
            self.link_chars as f64 / self.chars as f64
        }
    }
    /// Worth keeping as a paragraph of the body: not link-dominated, not a navigation
    /// remnant, not the headline, and not a scrap (a date and byline, a lone label).
    fn is_content(&self) -> bool {
        self.chars > 0
            && self.weight >= MIN_KEPT_WEIGHT
            && !self.holder_is_h1
            && self.link_density() < 0.5
            && !is_boilerplate_run(&self.text)
            && !is_dateline(&self.text)
    }
}

/// A short line that starts with a date: a dateline or byline ("2020/05/26 三浦", "2019年9月9日
/// （月）付 経済部"), not a paragraph.
fn is_dateline(text: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = RE
        .get_or_init(|| regex::Regex::new(r"^[\[(（【]?\s*(\d{4}|令和|平成)\s*\d*\s*[年/.\-]").ok())
        .as_ref()
    else {
        return false;
    };
    text.chars().count() <= 40 && re.is_match(text)
}

fn is_boilerplate_run(text: &str) -> bool {
    let t = text
        .trim_matches(|c: char| c.is_whitespace() || "▲△↑^＾»«>＞<＜|｜・".contains(c))
        .trim();
    BOILERPLATE_RUNS.iter().any(|b| t.eq_ignore_ascii_case(b))
}

/// What one walk of the page learns.
struct Page {
    runs: Vec<Run>,
    title: Option<String>,
}

impl Page {
    fn analyse(doc: &Html) -> Page {
        let dropped = dropped_subtrees(doc);
        let mut runs = Vec::new();
        let title = Selector::parse("title")
            .ok()
            .and_then(|sel| doc.select(&sel).next())
            .map(|t| squeeze(&t.text().collect::<String>()))
            .filter(|t| !t.is_empty());
        // Frames of open block elements: (block, paragraph-like, run text, link chars).
        struct Frame {
            node: NodeId,
            para: bool,
            h1: bool,
            text: String,
            link_chars: usize,
        }
        let root = doc.tree.root();
        let mut frames = vec![Frame {
            node: root.id(),
            para: false,
            h1: false,
            text: String::new(),
            link_chars: 0,
        }];
        let mut in_link = 0usize;
        enum Step {
            Enter(NodeId),
            Exit(NodeId),
        }
        let flush = |f: &mut Frame, runs: &mut Vec<Run>| {
            let text = squeeze(&f.text);
            f.text.clear();
            let link_chars = std::mem::take(&mut f.link_chars);
            if text.is_empty() {
                return;
            }
            let chars = text.chars().count();
            runs.push(Run {
                holder: f.node,
                holder_is_para: f.para,
                holder_is_h1: f.h1,
                weight: weight(&text),
                link_chars: link_chars.min(chars),
                chars,
                text,
            });
        };
        let mut stack: Vec<Step> = root.children().rev().map(|c| Step::Enter(c.id())).collect();
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(id) => {
                    let Some(node) = doc.tree.get(id) else {
                        continue;
                    };
                    match node.value() {
                        Node::Text(t) => {
                            if let Some(f) = frames.last_mut() {
                                f.text.push_str(t);
                                if in_link > 0 {
                                    f.link_chars +=
                                        t.chars().filter(|c| !c.is_whitespace()).count();
                                }
                            }
                        }
                        Node::Element(e) => {
                            let name = e.name();
                            if dropped.contains(&id) {
                                // A dropped block still ends the run before it.
                                if let Some(f) = frames.last_mut() {
                                    flush(f, &mut runs);
                                }
                                continue;
                            }
                            if name == "br" || name == "hr" {
                                if let Some(f) = frames.last_mut() {
                                    flush(f, &mut runs);
                                }
                                continue;
                            }
                            if is_block(name) {
                                if let Some(f) = frames.last_mut() {
                                    flush(f, &mut runs);
                                }
                                frames.push(Frame {
                                    node: id,
                                    para: is_para(name),
                                    h1: name == "h1",
                                    text: String::new(),
                                    link_chars: 0,
                                });
                            } else if name == "a" {
                                in_link += 1;
                            }
                            stack.push(Step::Exit(id));
                            stack.extend(node.children().rev().map(|c| Step::Enter(c.id())));
                        }
                        _ => {}
                    }
                }
                Step::Exit(id) => {
                    let Some(Node::Element(e)) = doc.tree.get(id).map(|n| n.value()) else {
                        continue;
                    };
                    let name = e.name();
                    if is_block(name) {
                        if let Some(mut f) = frames.pop() {
                            flush(&mut f, &mut runs);
                        }
                        // Text after a block inside the same parent starts a new run.
                    } else if name == "a" {
                        in_link = in_link.saturating_sub(1);
                    }
                }
            }
        }
        if let Some(f) = frames.last_mut() {
            flush(f, &mut runs);
        }
        Page { runs, title }
    }

    /// The container that the paragraph runs vote for most.
    fn best_container(&self, doc: &Html) -> Option<NodeId> {
        let mut score: HashMap<NodeId, f64> = HashMap::new();
        for r in &self.runs {
            if r.weight < MIN_RUN_WEIGHT || r.link_density() >= 0.5 || !r.is_content() {
                continue;
            }
            let s = 1.0 + (r.weight / 100.0).min(3.0);
            let holder = doc.tree.get(r.holder)?;
            // A <p> votes for the block around it; a block holding bare text (a table cell
            // in an old layout) votes for itself.
            let first = if r.holder_is_para {
                holder.parent()
            } else {
                Some(holder)
            };
            if let Some(first) = first {
                *score.entry(first.id()).or_default() += s;
                if let Some(second) = first.parent() {
                    *score.entry(second.id()).or_default() += s / 2.0;
                }
            }
        }
        score
            .into_iter()
            .filter(|(id, _)| doc.tree.get(*id).is_some_and(|n| n.value().is_element()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id)
    }

    /// Every block element in the subtrees of `roots` (roots included).
    fn subtree_blocks(&self, doc: &Html, roots: &[NodeId]) -> HashSet<NodeId> {
        let mut out = HashSet::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if !out.insert(id) {
                continue;
            }
            if let Some(n) = doc.tree.get(id) {
                stack.extend(
                    n.children()
                        .filter(|c| c.value().is_element())
                        .map(|c| c.id()),
                );
            }
        }
        out
    }
}

/// `<p>` siblings of the chosen container (a lead paragraph set apart from the body block).
fn sibling_paragraphs(doc: &Html, best: NodeId) -> HashSet<NodeId> {
    let Some(parent) = doc.tree.get(best).and_then(|n| n.parent()) else {
        return HashSet::new();
    };
    parent
        .children()
        .filter(|c| c.id() != best)
        .filter(|c| c.value().as_element().is_some_and(|e| e.name() == "p"))
        .map(|c| c.id())
        .collect()
}

/// Roots of the subtrees that never hold article text: boilerplate tags, boilerplate
/// class/id words, and blocks headed 関連記事 / ランキング / PR and the like.
fn dropped_subtrees(doc: &Html) -> HashSet<NodeId> {
    let mut dropped = HashSet::new();
    // Pre-order list with parents, for bottom-up sums without recursion.
    let mut order: Vec<NodeId> = Vec::new();
    let mut stack = vec![doc.tree.root().id()];
    while let Some(id) = stack.pop() {
        order.push(id);
        if let Some(n) = doc.tree.get(id) {
            stack.extend(n.children().map(|c| c.id()));
        }
    }
    let index: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let parent_of: Vec<Option<usize>> = order
        .iter()
        .map(|id| {
            doc.tree
                .get(*id)
                .and_then(|n| n.parent())
                .and_then(|p| index.get(&p.id()).copied())
        })
        .collect();
    // Text characters and node counts per subtree.
    let mut chars = vec![0usize; order.len()];
    let mut link_chars = vec![0usize; order.len()];
    let mut nodes = vec![1usize; order.len()];
    let mut paragraphs = vec![0usize; order.len()];
    for (i, id) in order.iter().enumerate() {
        if doc
            .tree
            .get(*id)
            .and_then(|n| n.value().as_element().map(|e| e.name() == "p"))
            .unwrap_or(false)
        {
            paragraphs[i] = 1;
        }
        if let Some(Node::Text(t)) = doc.tree.get(*id).map(|n| n.value()) {
            chars[i] = t.chars().filter(|c| !c.is_whitespace()).count();
        }
    }
    for i in (1..order.len()).rev() {
        if let Some(p) = parent_of[i] {
            chars[p] += chars[i];
            nodes[p] += nodes[i];
            paragraphs[p] += paragraphs[i];
            let is_link = doc
                .tree
                .get(order[i])
                .and_then(|n| n.value().as_element().map(|e| e.name() == "a"))
                .unwrap_or(false);
            link_chars[p] += if is_link { chars[i] } else { link_chars[i] };
        }
    }
    // Whether a node is inside (or is) a dropped subtree; parents precede children.
    let mut inside_dropped = vec![false; order.len()];
    for (i, id) in order.iter().enumerate() {
        if parent_of[i].is_some_and(|p| inside_dropped[p]) {
            inside_dropped[i] = true;
            continue;
        }
        let Some(node) = doc.tree.get(*id) else {
            continue;
        };
        let Some(el) = node.value().as_element() else {
            continue;
        };
        if DROP_TAGS.contains(&el.name()) || has_drop_word(el) {
            dropped.insert(*id);
            inside_dropped[i] = true;
            continue;
        }
        // A short, small element whose text is a boilerplate heading: drop the smallest
        // enclosing block that holds more than the heading, if that block is link lists or
        // short text (never a large text block, which may be the article itself).
        if chars[i] == 0 || chars[i] > 40 || nodes[i] > 12 {
            continue;
        }
        let text = squeeze(&node.text_content());
        if !is_boilerplate_heading(&text) {
            continue;
        }
        let mut j = i;
        while let Some(p) = parent_of[j] {
            j = p;
            if chars[j] > chars[i] {
                break;
            }
        }
        let structural = doc
            .tree
            .get(order[j])
            .and_then(|n| {
                n.value()
                    .as_element()
                    .map(|e| matches!(e.name(), "html" | "body" | "main" | "article"))
            })
            .unwrap_or(true);
        if j == i || parent_of[j].is_none() || structural {
            continue;
        }
        // Only a block of links, or a short blurb without paragraphs, goes: a block with
        // real text around the heading may be the article itself.
        let rest = chars[j] - chars[i];
        let linky = link_chars[j] * 2 >= rest;
        if linky || (rest <= 100 && paragraphs[j] == 0) {
            dropped.insert(order[j]);
            // Its descendants are now inside a dropped subtree; later headings in it are moot.
        }
    }
    dropped
}

trait TextContent {
    fn text_content(&self) -> String;
}

impl TextContent for ego_tree::NodeRef<'_, Node> {
    /// The text of a small subtree (callers bound its size).
    fn text_content(&self) -> String {
        self.descendants()
            .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
            .collect()
    }
}

fn is_boilerplate_heading(text: &str) -> bool {
    let t = text.trim_matches(|c: char| c.is_whitespace() || "【】[]［］■□●◆◇▼▽・:：".contains(c));
    BOILERPLATE_HEADINGS.iter().any(|h| {
        if *h == "PR" || *h == "広告" {
            // "PR" only as the whole heading or a leading label ("PR 記事"), never inside
            // a word such as "PRESS".
            t == *h
                || t.strip_prefix(h).is_some_and(|rest| {
                    rest.starts_with(|c: char| c.is_whitespace() || "：:｜|）)】］]".contains(c))
                })
        } else {
            t.contains(h)
        }
    })
}

fn has_drop_word(el: &scraper::node::Element) -> bool {
    let attrs = [el.attr("class"), el.attr("id")];
    attrs.into_iter().flatten().any(|v| {
        v.split(|c: char| c.is_whitespace() || c == '-' || c == '_')
            .any(|w| DROP_WORDS.iter().any(|d| w.eq_ignore_ascii_case(d)))
    })
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "html"
            | "body"
            | "div"
            | "p"
            | "section"
            | "article"
            | "main"
            | "table"
            | "tbody"
            | "thead"
            | "tfoot"
            | "tr"
            | "td"
            | "th"
            | "ul"
            | "ol"
            | "li"
            | "dl"
            | "dt"
            | "dd"
            | "blockquote"
            | "pre"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "center"
            | "address"
            | "details"
            | "summary"
            | "caption"
            | "figcaption"
            | "hgroup"
    )
}

fn is_para(name: &str) -> bool {
    matches!(
        name,
        "p" | "li" | "dd" | "dt" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
    )
}

/// Japanese characters (kana, kanji, full-width forms) count 1, other visible characters 1/3.
fn weight(text: &str) -> f64 {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if is_japanese(c) { 1.0 } else { 1.0 / 3.0 })
        .sum()
}

/// Kana, kanji, and CJK punctuation / full-width forms.
pub fn is_japanese(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}' | '\u{FF00}'..='\u{FFEF}')
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn floor_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn ex(html: &str) -> Extracted {
        extract(html, None, &limits()).unwrap()
    }

    const P1: &str = "みずほ銀行によると、J-Coin Payの加盟店管理システムのテスト環境は、8月16日から27日まで外部から接続できる状態だった。";
    const P2: &str =
        "閲覧された可能性があるのは、加盟店法人7,930件、個人10,539件、金融機関の名称32件である。";
    const P3: &str =
        "利用者の口座番号や暗証番号はテスト環境になく、本番の決済システムとも切り離されていた。";

    #[test]
    fn modern_layout_keeps_body_and_drops_boilerplate() {
        let html = format!(
            r##"<html><head><title>記事</title></head><body>
<header><nav><ul><li><a href="/">ホーム</a></li><li><a href="/x">決済ニュースの一覧ページへ</a></li></ul></nav></header>
<ol class="breadcrumb"><li><a href="/">ホーム</a></li><li>事件・事故の記事です</li></ol>
<main><article class="article"><h1>見出し</h1>
<div class="article-meta">2019年9月9日 記者</div>
<div class="share-bar"><a href="/s">ツイート</a><a href="/h">はてなブックマーク</a></div>
<div class="article-body"><p>{P1}</p><p>{P2}</p><p>{P3}</p></div>
</article>
<aside class="related"><h2>関連記事</h2><ul><li><a href="/a">セブンペイ不正利用、被害は900人に拡大している</a></li></ul></aside>
<div class="ad"><span>PR</span> 決済代行サービスの比較はこちらから、いまなら無料で資料請求</div>
</main>
<section class="ranking"><h2>アクセスランキング</h2><ol><li><a href="/r">ドコモ口座の不正出金、被害は全国に広がる</a></li></ol></section>
<p class="pagetop"><a href="#">PAGE TOP</a></p>
<footer>会社概要 プライバシーポリシー Copyright</footer></body></html>"##
        );
        let e = ex(&html);
        assert_eq!(e.method, Method::Heuristic);
        assert_eq!(e.text, format!("{P1}\n\n{P2}\n\n{P3}"));
        assert_eq!(e.paragraphs, 3);
        assert_eq!(e.page_title.as_deref(), Some("記事"));
    }

    #[test]
    fn table_layout_with_br_paragraphs() {
        let html = format!(
            r##"<html><body><table><tr><td class="menu"><a href="/">事件・事故</a><br>PR：加盟店向け決済端末のご相談はお気軽に、導入実績多数です。</td>
<td><h2>見出し</h2><font size="2">2018年11月30日 10時00分</font>
<table><tr><td class="honbun">
{P1}<br><br>
{P2}<br><br>
{P3}
</td></tr></table>
<table><tr><td class="boxtitle">関連記事</td></tr><tr><td>・<a href="/">キャッシュレス決済の本人確認、事業者ごとに差</a></td></tr></table>
<table><tr><td><font size="2">PR　不正検知サービスの資料請求はこちら</font></td></tr></table>
</td></tr>
<tr><td align="right"><a href="#top">▲PAGE TOP</a></td></tr></table></body></html>"##
        );
        let e = ex(&html);
        assert_eq!(e.text, format!("{P1}\n\n{P2}\n\n{P3}"));
    }

    #[test]
    fn div_soup_prefers_the_block_with_more_paragraphs() {
        let long_ad = "週刊金融新報は、銀行・証券・保険・決済の各業界で働く皆さまに向けて、毎週月曜日に最新の動向と解説をお届けしています。年間購読は送料込みでお得な価格です。";
        let html = format!(
            r#"<div id="contents"><div class="kiji"><h1 class="midashi">見出し</h1><p class="hizuke">2019年9月9日付</p>
<div class="kiji-honbun"><p>{P1}</p><p>{P2}</p><p>{P3}</p></div><p class="kiji-note">本紙の記事・写真の無断転載を禁じます。</p></div>
<div class="koudoku"><div class="box-title">購読のご案内</div><p>{long_ad}</p></div>
<div class="box"><p>{long_ad}</p></div></div>"#
        );
        assert_eq!(ex(&html).text, format!("{P1}\n\n{P2}\n\n{P3}"));
    }

    #[test]
    fn lead_paragraph_beside_the_body_is_kept() {
        let lead = "スマホ決済のPayPayが、4日から「100億円あげちゃうキャンペーン」を始めます。期間中に支払うと20%が戻ります。";
        let html = format!(
            r#"<article class="c-article"><h1>t</h1><p class="c-article__info"><time>2018/12/03</time> 藤田</p>
<ul class="c-share"><li><a href="/">ツイート</a></li></ul>
<p class="c-article__lead">{lead}</p><section class="c-article__body"><p>{P1}</p><p>{P2}</p></section></article>
<section class="c-related"><h2>関連記事 この記事を読んだ人はこんな記事も</h2><ul><li><a href="/">PayPay、クレジットカードの不正利用で全額補償へ</a></li></ul></section>"#
        );
        assert_eq!(ex(&html).text, format!("{lead}\n\n{P1}\n\n{P2}"));
    }

    #[test]
    fn selector_overrides_and_falls_back() {
        let html = format!(
            r#"<div class="a"><p>{P1}</p><p>{P2}</p></div><div class="b"><p>{P3}</p><div class="share">ツイート</div></div>"#
        );
        let e = extract(&html, Some("div.b"), &limits()).unwrap();
        assert_eq!((e.method, e.text.as_str()), (Method::Selector, P3));
        let e = extract(&html, Some("div.nothing"), &limits()).unwrap();
        assert_eq!(e.method, Method::Heuristic);
        assert!(e.text.starts_with(P1));
        assert!(matches!(
            extract(&html, Some("div[["), &limits()),
            Err(ExtractError::Selector { .. })
        ));
    }

    #[test]
    fn no_body_gives_nothing() {
        for html in [
            "",
            "<html></html>",
            "<nav><a href=/>ホームへ戻るリンクです</a></nav>",
            "\u{0}\u{1}binary",
        ] {
            let e = ex(html);
            assert_eq!(e.method, Method::Nothing, "{html:?}");
            assert!(e.text.is_empty() || html.contains("binary"));
        }
    }

    #[test]
    fn scripts_styles_and_markup_in_text_never_appear() {
        let html = format!(
            r#"<div><p>{P1}<script>alert("x")</script></p><style>p{{color:red}}</style><p>{P2} &lt;script&gt;</p></div>"#
        );
        let e = ex(&html);
        assert!(!e.text.contains("alert"));
        assert!(!e.text.contains("color:red"));
        assert!(e.text.contains("<script>"), "escaped markup is text");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 200_000;
        let html = format!(
            "<html><body>{}<p>{P1}</p>{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        // Run on a thread with a small stack: recursion anywhere would overflow it.
        let e = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || extract(&html, None, &Limits::default()).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(e.text, P1);
        let spans = format!("{}{P2}{}", "<span>".repeat(depth), "</span>".repeat(depth));
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || fragment_paragraphs(&spans, &Limits::default()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(t, P2);
    }

    #[test]
    fn huge_pages_are_cut_before_parsing_and_bodies_capped() {
        let para = format!("<p>{P1}</p>");
        let html = format!("<div>{}</div>", para.repeat(50_000));
        let l = Limits {
            max_html_bytes: 200_000,
            max_body_chars: 1_000,
            ..Limits::default()
        };
        let e = extract(&html, None, &l).unwrap();
        assert!(e.text.chars().count() <= 1_000);
        assert!(e.paragraphs >= 5);
        assert!(e.text.ends_with('。'), "cut at a paragraph boundary");
    }

    #[test]
    fn fragment_paragraphs_of_feed_content() {
        let t = fragment_paragraphs(
            &format!(
                "<p>{P1}</p><div class=\"share\">ツイート</div><p>{P2}<br>二行目は改行のあとに続く文です。</p>"
            ),
            &limits(),
        );
        assert_eq!(
            t,
            format!("{P1}\n\n{P2}\n\n二行目は改行のあとに続く文です。")
        );
    }

    #[test]
    fn a_short_article_next_to_a_related_heading_survives() {
        let html = format!(
            "<html><body><div class=\"article-body\"><p>{P1}</p><p>{P2}</p></div><aside class=\"related\"><h2>関連記事</h2></aside><div><h3>PR</h3></div></body></html>"
        );
        assert_eq!(ex(&html).text, format!("{P1}\n\n{P2}"));
        let bare = format!("<body><h2>関連記事</h2><p>{P3}</p></body>");
        assert_eq!(ex(&bare).text, P3);
    }

    #[test]
    fn boilerplate_heading_rules() {
        assert!(is_boilerplate_heading("関連記事"));
        assert!(is_boilerplate_heading(
            "人気記事ランキング（アクセスランキング）"
        ));
        assert!(is_boilerplate_heading("PR"));
        assert!(is_boilerplate_heading("【PR】 セミナー"));
        assert!(!is_boilerplate_heading("PRESS"));
        assert!(!is_boilerplate_heading("プレスリリース"));
        assert!(is_boilerplate_run("▲PAGE TOP"));
        assert!(is_boilerplate_run("続きを読む »"));
        assert!(!is_boilerplate_run(
            "続きを読むと分かるが、被害は拡大した。"
        ));
    }

    /// Every article page of the sample corpus: the extracted body is exactly the article's
    /// paragraphs (from the corpus sources), with none of the page's boilerplate.
    #[test]
    fn corpus_pages_extract_to_their_source_paragraphs() {
        #[derive(serde::Deserialize)]
        struct Source {
            article: Vec<SourceArticle>,
        }
        #[derive(serde::Deserialize)]
        struct SourceArticle {
            slug: String,
            body: Vec<String>,
            related: Vec<String>,
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus");
        let mut checked = 0;
        let mut entries: Vec<_> = std::fs::read_dir(root.join("src"))
            .unwrap()
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(outlet) = name.split('.').next().filter(|_| name.ends_with(".toml")) else {
                continue;
            };
            let src: Source = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for a in src.article {
                let page = root.join(format!("sites/{outlet}/articles/{}.html", a.slug));
                let bytes = std::fs::read(&page).unwrap();
                let decoded =
                    crate::charset::decode(&bytes, None, crate::charset::DocKind::Html).unwrap();
                let e = extract(&decoded.text, None, &limits()).unwrap();
                let want: Vec<String> = a.body.iter().map(|p| squeeze(p)).collect();
                assert_eq!(e.text, want.join("\n\n"), "{outlet}/{}", a.slug);
                assert_eq!(e.method, Method::Heuristic);
                for junk in [
                    "関連記事",
                    "ランキング",
                    "PAGE TOP",
                    "ツイート",
                    "Copyright",
                    "会社概要",
                ] {
                    assert!(!e.text.contains(junk), "{outlet}/{}: {junk}", a.slug);
                }
                for r in &a.related {
                    assert!(
                        !e.text.contains(r.as_str()),
                        "{outlet}/{}: related {r}",
                        a.slug
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 150, "only {checked} corpus pages");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_html_never_panics(s in ".{0,500}", sel in proptest::option::of("[a-z.#\\[\\] ]{0,10}")) {
            let _ = extract(&s, sel.as_deref(), &Limits::default());
            let _ = extract(&format!("<div><p>{s}</p><p>{s}</p></div>"), None, &Limits::default());
            let _ = fragment_paragraphs(&s, &Limits::default());
        }
    }
}
