//! OPML import and export of the feed list (the format newsboat, Miniflux and most readers
//! exchange subscriptions in).
//!
//! Import takes text (the caller decodes bytes first) and reads every `<outline xmlUrl=…>`,
//! using enclosing outlines' titles as the category. A DOCTYPE is refused outright: OPML never
//! needs one, and refusing it closes the door on entity tricks.

use std::collections::HashSet;

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::config::{FeedConfig, FeedFormat, check_feed_url};

/// The largest OPML document import reads.
pub const MAX_OPML_BYTES: usize = 8 * 1024 * 1024;
/// The most subscriptions one import takes.
pub const MAX_OPML_FEEDS: usize = 10_000;
/// The deepest outline nesting import follows.
pub const MAX_OPML_DEPTH: usize = 64;

/// Why an OPML document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// Larger than [`MAX_OPML_BYTES`].
    #[error("OPML document is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Contains a DOCTYPE declaration.
    #[error("OPML document has a DOCTYPE declaration (refused: OPML needs none)")]
    Doctype,
    /// Malformed XML.
    #[error("OPML is not well-formed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the reader stopped.
        position: u64,
        /// The reader's message.
        message: String,
    },
    /// Well-formed XML, but the root element is not `<opml>`.
    #[error("not an OPML document (root element is <{root}>)")]
    NotOpml {
        /// The root element's name.
        root: String,
    },
    /// Nested deeper than [`MAX_OPML_DEPTH`].
    #[error("OPML outlines nest deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More subscriptions than [`MAX_OPML_FEEDS`].
    #[error("OPML lists more than {limit} feeds")]
    TooManyFeeds {
        /// The limit.
        limit: usize,
    },
}

/// One subscription read from an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `title` or `text` attribute.
    pub title: Option<String>,
    /// The feed URL (`xmlUrl`).
    pub xml_url: String,
    /// The site (`htmlUrl`).
    pub html_url: Option<String>,
    /// The enclosing outline's title, or the `category` attribute.
    pub category: Option<String>,
    /// The `type` attribute (`rss`, `atom`, ...).
    pub kind: Option<String>,
}

/// Reads every subscription in an OPML document.
pub fn parse_opml(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    if text.len() > MAX_OPML_BYTES {
        return Err(OpmlError::TooLarge {
            size: text.len(),
            limit: MAX_OPML_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    // Stack of open <outline> elements: Some(title) for folders, None otherwise.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut feeds = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| OpmlError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::DocType(_) => return Err(OpmlError::Doctype),
            Event::Start(e) | Event::Empty(e) if !saw_root => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if !name.eq_ignore_ascii_case("opml") {
                    return Err(OpmlError::NotOpml { root: name });
                }
                saw_root = true;
            }
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let is_start = matches!(ev, Event::Start(_));
                let (Event::Start(e) | Event::Empty(e)) = ev else {
                    continue;
                };
                if !e.local_name().as_ref().eq_ignore_ascii_case(b"outline") {
                    // Other elements (head, body, title, ...) only matter for nesting depth.
                    if is_start {
                        stack.push(None);
                    }
                } else {
                    let attrs = outline_attrs(&e);
                    if let Some(url) = attrs.xml_url.clone() {
                        if feeds.len() >= MAX_OPML_FEEDS {
                            return Err(OpmlError::TooManyFeeds {
                                limit: MAX_OPML_FEEDS,
                            });
                        }
                        let folder = stack.iter().rev().find_map(|s| s.clone());
                        feeds.push(OpmlFeed {
                            title: attrs.title.clone(),
                            xml_url: url,
                            html_url: attrs.html_url,
                            category: attrs.category.or(folder),
                            kind: attrs.kind,
                        });
                    }
                    if is_start {
                        // An outline with a URL is a feed, not a folder.
                        stack.push(if attrs.xml_url.is_some() {
                            None
                        } else {
                            attrs.title
                        });
                    }
                }
                if stack.len() > MAX_OPML_DEPTH {
                    return Err(OpmlError::TooDeep {
                        limit: MAX_OPML_DEPTH,
                    });
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(OpmlError::NotOpml {
            root: String::new(),
        });
    }
    Ok(feeds)
}

#[derive(Default)]
struct OutlineAttrs {
    title: Option<String>,
    xml_url: Option<String>,
    html_url: Option<String>,
    category: Option<String>,
    kind: Option<String>,
}

fn outline_attrs(e: &BytesStart<'_>) -> OutlineAttrs {
    let mut out = OutlineAttrs::default();
    let mut text = None;
    // Malformed attributes are skipped rather than failing the whole file.
    for attr in e.attributes().with_checks(false).flatten() {
        let Ok(value) = attr.unescape_value() else {
            continue;
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        match attr.key.local_name().as_ref() {
            b"title" => out.title = Some(value),
            b"text" => text = Some(value),
            b"xmlUrl" | b"xmlurl" => out.xml_url = Some(value),
            b"htmlUrl" | b"htmlurl" => out.html_url = Some(value),
            b"category" => {
                // OPML 2.0: comma-separated slash paths; keep the first, last segment.
                out.category = value
                    .split(',')
                    .next()
                    .and_then(|c| c.trim().trim_matches('/').rsplit('/').next())
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
            }
            b"type" => out.kind = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    out.title = out.title.or(text);
    out
}

/// What an import would add and what it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// Feeds to append to the config.
    pub new: Vec<FeedConfig>,
    /// Subscriptions left out, with the reason.
    pub skipped: Vec<(OpmlFeed, String)>,
}

/// Turns OPML subscriptions into new feed entries, skipping URLs already configured (or
/// repeated in the file) and anything that is not http(s). Names are made unique.
pub fn plan_import(items: &[OpmlFeed], existing: &[FeedConfig]) -> ImportPlan {
    let mut names: HashSet<String> = existing.iter().map(|f| f.name.clone()).collect();
    let mut urls: HashSet<String> = existing.iter().map(|f| f.url.trim().to_string()).collect();
    let mut plan = ImportPlan::default();
    for item in items {
        let url = item.xml_url.trim().to_string();
        if let Err(reason) = check_feed_url(&url) {
            plan.skipped.push((item.clone(), reason));
            continue;
        }
        if !urls.insert(url.clone()) {
            plan.skipped
                .push((item.clone(), "already subscribed".to_string()));
            continue;
        }
        let name = unique_name(&feed_name_for(item), &names);
        names.insert(name.clone());
        let mut f = FeedConfig::new(name, url);
        f.title = item.title.clone().map(|t| strip_controls(&t));
        f.category = item.category.clone().map(|c| strip_controls(&c));
        f.format = match item.kind.as_deref() {
            Some("rss") => FeedFormat::Rss,
            Some("atom") => FeedFormat::Atom,
            Some("json") => FeedFormat::Json,
            _ => FeedFormat::Auto,
        };
        plan.new.push(f);
    }
    plan
}

fn strip_controls(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// A short ASCII name from the title, else from the URL's host and path.
fn feed_name_for(item: &OpmlFeed) -> String {
    let from_title = item.title.as_deref().map(slug).unwrap_or_default();
    if from_title.len() >= 2 {
        return from_title;
    }
    let from_url = url::Url::parse(item.xml_url.trim())
        .ok()
        .map(|u| {
            let host = u.host_str().unwrap_or("").trim_start_matches("www.");
            let first_path = u.path_segments().and_then(|mut s| s.next()).unwrap_or("");
            slug(&format!("{host} {first_path}"))
        })
        .unwrap_or_default();
    if from_url.is_empty() {
        "feed".to_string()
    } else {
        from_url
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

fn unique_name(base: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| base.to_string())
}

/// An OPML 2.0 document listing the feeds, folders by category.
pub fn export_opml(feeds: &[FeedConfig], title: &str) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        escape(title)
    ));
    let mut categories: Vec<Option<&str>> = Vec::new();
    for f in feeds {
        if !categories.contains(&f.category.as_deref()) {
            categories.push(f.category.as_deref());
        }
    }
    for cat in categories {
        let indent = if let Some(c) = cat {
            out.push_str(&format!(
                "    <outline text=\"{0}\" title=\"{0}\">\n",
                escape(c)
            ));
            "      "
        } else {
            "    "
        };
        for f in feeds.iter().filter(|f| f.category.as_deref() == cat) {
            let kind = match f.format {
                FeedFormat::Atom => "atom",
                FeedFormat::Json => "json",
                FeedFormat::HtmlList => "html",
                FeedFormat::Rss | FeedFormat::Auto => "rss",
            };
            out.push_str(&format!(
                "{indent}<outline type=\"{kind}\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{u}\"/>\n",
                t = escape(f.display_title()),
                u = escape(&f.url),
            ));
        }
        if cat.is_some() {
            out.push_str("    </outline>\n");
        }
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>subs</title></head>
  <body>
    <outline text="セキュリティ" title="セキュリティ">
      <outline type="rss" text="JPCERT/CC" xmlUrl="https://www.jpcert.or.jp/rss/jpcert.rdf" htmlUrl="https://www.jpcert.or.jp/"/>
      <outline type="atom" text="ピヨログ" xmlUrl="https://piyolog.hatenadiary.jp/feed"/>
    </outline>
    <outline type="rss" text="A &amp; B" xmlUrl="https://example.com/a?x=1&amp;y=2" category="/news/fintech"/>
    <outline type="rss" text="local" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="dup" xmlUrl="https://www.jpcert.or.jp/rss/jpcert.rdf"/>
  </body>
</opml>"#;

    #[test]
    fn reads_nested_outlines_with_categories() {
        let feeds = parse_opml(SAMPLE).unwrap();
        assert_eq!(feeds.len(), 5);
        assert_eq!(feeds[0].category.as_deref(), Some("セキュリティ"));
        assert_eq!(feeds[0].title.as_deref(), Some("JPCERT/CC"));
        assert_eq!(feeds[1].kind.as_deref(), Some("atom"));
        assert_eq!(feeds[2].title.as_deref(), Some("A & B"));
        assert_eq!(feeds[2].xml_url, "https://example.com/a?x=1&y=2");
        assert_eq!(feeds[2].category.as_deref(), Some("fintech"));
        assert_eq!(feeds[3].category, None);
    }

    #[test]
    fn plan_skips_bad_schemes_duplicates_and_existing_and_names_uniquely() {
        let existing = vec![FeedConfig::new("jpcert-cc", "https://other.example/")];
        let plan = plan_import(&parse_opml(SAMPLE).unwrap(), &existing);
        let names: Vec<&str> = plan.new.iter().map(|f| f.name.as_str()).collect();
        // "JPCERT/CC" slugs to jpcert-cc, taken → jpcert-cc-2; ピヨログ has no ASCII → host.
        assert_eq!(
            names,
            vec!["jpcert-cc-2", "piyolog-hatenadiary-jp-feed", "a-b"]
        );
        assert_eq!(plan.new[1].format, FeedFormat::Atom);
        assert_eq!(plan.skipped.len(), 2);
        assert!(plan.skipped[0].1.contains("\"file\""));
        assert_eq!(plan.skipped[1].1, "already subscribed");
    }

    #[test]
    fn export_then_import_round_trips() {
        let mut a = FeedConfig::new("a", "https://example.com/feed?x=1&y=\"2\"");
        a.title = Some("<script>決済</script>".into());
        a.category = Some("crypto & 決済".into());
        a.format = FeedFormat::Atom;
        let b = FeedConfig::new("b", "https://b.example/rss");
        let text = export_opml(&[a.clone(), b.clone()], "kessai & co");
        assert!(!text.contains("<script>"));
        let back = parse_opml(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].xml_url, a.url);
        assert_eq!(back[0].title.as_deref(), a.title.as_deref());
        assert_eq!(back[0].category.as_deref(), Some("crypto & 決済"));
        assert_eq!(back[0].kind.as_deref(), Some("atom"));
        assert_eq!(back[1].category, None);
    }

    #[test]
    fn hostile_documents_get_clear_errors() {
        let doctype = r#"<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body><outline xmlUrl="&x;"/></body></opml>"#;
        assert!(matches!(parse_opml(doctype), Err(OpmlError::Doctype)));
        let laughs = format!(
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]><opml/>",
            (1..10)
                .map(|i| format!(
                    "<!ENTITY lol{i} \"{}\">",
                    format!("&lol{};", i - 1).repeat(10)
                ))
                .collect::<String>()
        );
        assert!(matches!(parse_opml(&laughs), Err(OpmlError::Doctype)));
        assert!(matches!(
            parse_opml("<html><body/></html>"),
            Err(OpmlError::NotOpml { .. })
        ));
        assert!(matches!(parse_opml(""), Err(OpmlError::NotOpml { .. })));
        assert!(matches!(
            parse_opml("<opml><body><outline></body></opml>"),
            Err(OpmlError::Xml { .. })
        ));
        let deep = format!(
            "<opml><body>{}{}</body></opml>",
            "<outline text=\"x\">".repeat(10_000),
            "</outline>".repeat(10_000)
        );
        assert!(matches!(parse_opml(&deep), Err(OpmlError::TooDeep { .. })));
        let big = "x".repeat(MAX_OPML_BYTES + 1);
        assert!(matches!(parse_opml(&big), Err(OpmlError::TooLarge { .. })));
        let many = format!(
            "<opml><body>{}</body></opml>",
            "<outline xmlUrl=\"https://a/\"/>".repeat(MAX_OPML_FEEDS + 1)
        );
        assert!(matches!(
            parse_opml(&many),
            Err(OpmlError::TooManyFeeds { .. })
        ));
    }

    #[test]
    fn undefined_entities_and_odd_attributes_do_not_fail_the_file() {
        let text = "<opml><body><outline text=\"&bogus;\" xmlUrl=\"https://a/\" a b/><outline xmlUrl=\"https://b/\" text=\"\u{1b}]0;pwn\u{7}x\"/></body></opml>";
        let feeds = parse_opml(text).unwrap();
        assert_eq!(feeds.len(), 2);
        let plan = plan_import(&feeds, &[]);
        assert!(!plan.new[1].title.as_ref().unwrap().contains('\u{1b}'));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,400}") {
            let _ = parse_opml(&s);
            let _ = parse_opml(&format!("<opml><body>{s}</body></opml>"));
        }
    }
}
