//! The daily digest: a period's articles grouped into stories and sections, rendered as
//! Markdown, one self-contained HTML file, or versioned JSON.
//!
//! [`build`] is pure: it takes articles with their analyses and the failed feeds and returns
//! a [`Digest`], ordered only by sort keys so that two runs over the same store give the same
//! bytes. [`markdown`], [`html`] and [`json`] render a [`Digest`]; [`collect`] reads one
//! period from the store through its date index. The JSON shape is the [`Digest`] type itself,
//! described in `docs/digest-schema.json` ([`SCHEMA_VERSION`]).

mod build;
mod collect;
pub mod html;
pub mod json;
pub mod markdown;
mod period;
mod text;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ArticleId, DateRole, Family, FeedId, TagId};

pub use build::{BuildOptions, FeedName, build};
pub use collect::{CollectOptions, MAX_ARTICLES, QueryFilter, collect, failed_sources};
pub use period::{Period, parse_day};

/// Version of the JSON shape; bumped on any change that is not a pure addition.
pub const SCHEMA_VERSION: u32 = 1;

/// How many services the headline names.
pub const TOP_SERVICES: usize = 5;

/// What can go wrong building a digest.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// A date that is not `YYYY-MM-DD`.
    #[error("not a date (expected YYYY-MM-DD): {text:?}")]
    BadDate {
        /// What was given.
        text: String,
    },
    /// `--until` before `--since`.
    #[error("the period is empty: {until} is before {since}")]
    EmptyPeriod {
        /// First day asked for.
        since: NaiveDate,
        /// Last day asked for.
        until: NaiveDate,
    },
    /// The period holds more articles than a digest takes.
    #[error(
        "the period holds more than {limit} articles: choose a shorter period or narrow it with --query"
    )]
    TooManyArticles {
        /// The limit.
        limit: usize,
    },
    /// The store failed while the digest read it.
    #[error("reading the store for {what}: {source}")]
    Store {
        /// What was being read.
        what: String,
        /// The store's error.
        #[source]
        source: crate::store::StoreError,
    },
}

/// Display labels for tag ids (from the taxonomy); ids without one show as themselves.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    map: BTreeMap<TagId, String>,
}

impl Labels {
    /// Labels from `(id, label)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (TagId, String)>) -> Labels {
        Labels {
            map: pairs.into_iter().collect(),
        }
    }

    /// Japanese labels of every taxonomy entry.
    pub fn from_taxonomy(taxonomy: &crate::taxonomy::Taxonomy) -> Labels {
        Labels::from_pairs(
            taxonomy
                .entries()
                .iter()
                .map(|e| (e.id.clone(), e.label_ja.clone())),
        )
    }

    /// The label of a tag, or its id.
    pub fn label(&self, id: &TagId) -> String {
        self.map
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.as_str().to_string())
    }
}

/// A period's digest. Serialised as is for `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The days covered.
    pub period: PeriodInfo,
    /// The search query that filtered the articles, if any.
    pub query: Option<String>,
    /// Headline numbers.
    pub summary: Summary,
    /// Stories about incidents, most covered first.
    pub incidents: Vec<Story>,
    /// Articles that belong to no incident story, by tag family.
    pub other_news: Vec<NewsSection>,
    /// Feeds whose last fetch in the period failed.
    pub failed_sources: Vec<FailedSource>,
}

/// The period, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// First local day.
    pub first_day: NaiveDate,
    /// Last local day (inclusive).
    pub last_day: NaiveDate,
    /// IANA time zone of the days.
    pub time_zone: String,
    /// Start, inclusive, UTC.
    pub start: DateTime<Utc>,
    /// End, exclusive, UTC.
    pub end: DateTime<Utc>,
}

/// The headline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Articles in the digest.
    pub articles: u64,
    /// Incident stories (known incidents plus service+threat groups).
    pub incidents: u64,
    /// Of those, stories of a known incident (an `incident` tag).
    pub known_incidents: u64,
    /// Distinct feeds the articles came from.
    pub sources: u64,
    /// Feeds that failed to fetch in the period.
    pub failed_sources: u64,
    /// Services and exchanges by the number of articles that mention them, most first.
    pub services: Vec<TagCount>,
}

/// A tag and how many articles carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    /// Taxonomy id.
    pub id: TagId,
    /// Its family.
    pub family: Family,
    /// Display label.
    pub label: String,
    /// Articles carrying it.
    pub articles: u64,
}

/// What groups a story's articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoryKind {
    /// A known incident: the articles share an `incident` tag.
    Incident,
    /// No incident tag: the articles share their main service (or exchange) and threat.
    ServiceThreat,
}

/// One story: the articles about one incident from every outlet, merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    /// Stable key: `incident:<id>` or `service-threat:<service>+<threat>`.
    pub key: String,
    /// How the articles were grouped.
    pub kind: StoryKind,
    /// The incident's label, or `service — threat`.
    pub title: String,
    /// The earliest article's headline.
    pub headline: String,
    /// The incident tag (kind `incident`).
    pub incident: Option<TagId>,
    /// The service or exchange (kind `service-threat`).
    pub service: Option<TagId>,
    /// The threat (kind `service-threat`).
    pub threat: Option<TagId>,
    /// Earliest article.
    pub first_published: DateTime<Utc>,
    /// Latest article.
    pub last_published: DateTime<Utc>,
    /// Every outlet that covered it, in order of first report.
    pub sources: Vec<StorySource>,
    /// Every tag of its articles, by family, then most articles.
    pub tags: Vec<TagCount>,
    /// Facts stated by its articles, merged and de-duplicated, each with its sources.
    pub facts: StoryFacts,
    /// Its articles, oldest first.
    pub articles: Vec<ArticleEntry>,
}

/// One outlet's part in a story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorySource {
    /// Feed id.
    pub feed: FeedId,
    /// Feed display name.
    pub name: String,
    /// Its articles in the story.
    pub articles: u64,
}

/// An article as the digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleEntry {
    /// Store id.
    pub id: ArticleId,
    /// Feed id.
    pub feed: FeedId,
    /// Feed display name.
    pub source: String,
    /// Headline as stored (untrusted text: escape it wherever it goes).
    pub title: String,
    /// URL as stored (untrusted).
    pub url: String,
    /// The URL when it is an absolute http(s) URL (percent-encoded by the URL parser, so no
    /// quotes or brackets), else null: the only value to make clickable.
    pub link: Option<String>,
    /// Publication time.
    pub published: DateTime<Utc>,
    /// The feed's lead, shortened to [`LEAD_CHARS`] characters.
    pub lead: String,
    /// Its tags, by family then id.
    pub tags: Vec<TagRef>,
}

/// A tag as an article carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    /// Taxonomy id.
    pub id: TagId,
    /// Its family.
    pub family: Family,
    /// Display label.
    pub label: String,
}

/// How many characters of an article's lead the digest keeps.
pub const LEAD_CHARS: usize = 160;

/// Where a fact was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSource {
    /// The article.
    pub article: ArticleId,
    /// Its feed.
    pub feed: FeedId,
    /// The feed's display name.
    pub source: String,
}

/// A story's facts, merged across its articles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryFacts {
    /// Affected counts, largest first.
    pub counts: Vec<CountEntry>,
    /// Amounts of money, largest first.
    pub amounts: Vec<AmountEntry>,
    /// Dates, earliest first.
    pub dates: Vec<DateEntry>,
    /// Causes, most reported first.
    pub causes: Vec<CauseEntry>,
}

impl StoryFacts {
    /// Whether no fact was found.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
            && self.amounts.is_empty()
            && self.dates.is_empty()
            && self.causes.is_empty()
    }
}

/// A count (people, records, cases), one entry per value and unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountEntry {
    /// The number.
    pub value: u64,
    /// Counter word (件, 人, ...).
    pub unit: String,
    /// 約, 超, 最大 ... as the first source wrote it.
    pub qualifier: Option<String>,
    /// The text of the first source.
    pub text: String,
    /// Every article that states it.
    pub sources: Vec<FactSource>,
}

/// An amount in yen, one entry per value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountEntry {
    /// Yen.
    pub yen: u64,
    /// 約, 超 ... as the first source wrote it.
    pub qualifier: Option<String>,
    /// The text of the first source.
    pub text: String,
    /// Every article that states it.
    pub sources: Vec<FactSource>,
}

/// A date and what it is the date of, one entry per date and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateEntry {
    /// The date.
    pub date: NaiveDate,
    /// Occurred, discovered, announced or mentioned.
    pub role: DateRole,
    /// The text of the first source.
    pub text: String,
    /// Every article that states it.
    pub sources: Vec<FactSource>,
}

/// A named cause, one entry per wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseEntry {
    /// The cause as written.
    pub cause: String,
    /// Every article that names it.
    pub sources: Vec<FactSource>,
}

/// Articles outside every story, under the first family they have a tag of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsSection {
    /// The family; null for articles with no tag.
    pub family: Option<Family>,
    /// Section heading.
    pub title: String,
    /// Its articles, oldest first.
    pub articles: Vec<ArticleEntry>,
}

/// A feed whose most recent fetch in the period failed (from the store's feed state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSource {
    /// Feed id.
    pub feed: FeedId,
    /// Display name.
    pub name: String,
    /// When the failing fetch ran.
    pub last_attempt: DateTime<Utc>,
    /// Its error, one line.
    pub error: String,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Last time it worked, if ever.
    pub last_success: Option<DateTime<Utc>>,
}

/// English heading of an "other news" section.
pub fn section_title(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Service) => "Payment services",
        Some(Family::Exchange) => "Crypto exchanges",
        Some(Family::Threat) => "Threats",
        Some(Family::Control) => "Controls",
        Some(Family::Actor) => "Regulators and operators",
        Some(Family::Incident) => "Incidents",
        None => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::build::tests::{hit, item, jcoin_day, tokyo_day};
    use super::*;
    use crate::model::Facts;

    const HOSTILE: &str = "<script>alert(1)</script>\" onmouseover=\"alert(2)\u{1b}]0;pwned\u{7}\u{1b}[2J[x](javascript:alert(3))\u{202e}&amp;";

    fn hostile_digest() -> Digest {
        let mut items = jcoin_day();
        for (a, an, name) in items.iter_mut() {
            a.draft.title = format!("{HOSTILE}{}", a.draft.title);
            a.draft.summary = HOSTILE.to_string();
            *name = format!("<img src=x onerror=alert(4)>{name}");
            an.facts.causes.push(HOSTILE.to_string());
        }
        items[0].0.draft.url = "javascript:alert(5)".into();
        items[1].0.draft.url = "data:text/html,<script>alert(6)</script>".into();
        items[2].0.draft.url = "http://127.0.0.1:1/a\"onmouseover=\"alert(7)".into();
        items.push(item(
            9,
            "evil",
            "2019-09-04T11:00:00+09:00",
            vec![hit("<b>tag</b>", crate::model::Family::Service, 1)],
            Facts::default(),
        ));
        let failures = [FailedSource {
            feed: crate::model::FeedId::new("evil"),
            name: HOSTILE.into(),
            last_attempt: "2019-09-04T05:00:00Z".parse().unwrap(),
            error: HOSTILE.into(),
            consecutive_failures: 3,
            last_success: None,
        }];
        build(
            items,
            &tokyo_day("2019-09-04"),
            failures,
            &BuildOptions {
                labels: Labels::default(),
                query: Some(HOSTILE.into()),
            },
        )
    }

    #[test]
    fn html_of_hostile_text_is_inert() {
        let html = html::render(&hostile_digest());
        let lower = html.to_lowercase();
        assert!(!lower.contains("<script"), "no script element");
        assert!(!lower.contains("<img"), "no injected element");
        assert!(!lower.contains("<b>"), "tags are text");
        assert!(
            !lower.contains("javascript:alert(5)\""),
            "no javascript link"
        );
        assert!(!lower.contains("href=\"javascript"));
        assert!(!lower.contains("href=\"data"));
        // No element carries an event handler: look inside real tags only (text `<` is
        // escaped, so every `<` starts one).
        let tag = regex::Regex::new(r"<[^>]*>").unwrap();
        let handler = regex::Regex::new(r#"[\s"'/]on[a-z]+\s*="#).unwrap();
        for t in tag.find_iter(&lower) {
            assert!(!handler.is_match(t.as_str()), "{}", t.as_str());
        }
        assert!(!html.contains('\u{1b}') && !html.contains('\u{7}') && !html.contains('\u{202e}'));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;"));
        assert!(html.contains(&format!("content=\"{}\"", CSP_ESCAPED)));
        // The one http link whose text tries to break out stays one escaped attribute.
        assert!(html.contains("href=\"http://127.0.0.1:1/a%22onmouseover=%22alert(7)\""));
    }

    const CSP_ESCAPED: &str =
        "default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:";

    #[test]
    fn markdown_of_hostile_text_is_inert() {
        let md = markdown::render(&hostile_digest());
        assert!(!md.contains('\u{1b}') && !md.contains('\u{7}') && !md.contains('\u{202e}'));
        // Raw HTML is escaped for renderers that pass it: the only `<` left open a link
        // target (`](<http…>)`).
        let rest = md.replace(r"\<", "").replace("](<http", "");
        assert!(!rest.contains('<'), "{rest}");
        let links = md.replace(r"\]", "");
        assert!(!links.contains("](javascript") && !links.contains("](<javascript"));
        assert!(!links.contains("](data:") && !links.contains("](<data:"));
        assert!(md.contains(r"\<script\>alert(1)\</script\>"));
        assert!(md.contains(r"\[x\](javascript:alert(3))"));
        // Every Markdown link target is http(s).
        for target in md.split("](<").skip(1) {
            assert!(
                target.starts_with("http://") || target.starts_with("https://"),
                "{target}"
            );
        }
    }

    #[test]
    fn json_round_trips_and_keeps_the_data() {
        let d = hostile_digest();
        let text = json::render(&d).unwrap();
        assert_eq!(json::parse(&text).unwrap(), d);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert!(!text.contains('\u{1b}'), "controls are JSON-escaped");
        // The unsafe URL is kept as data, but never offered as a link.
        let all: Vec<&serde_json::Value> = v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["articles"].as_array().unwrap())
            .collect();
        let js = all
            .iter()
            .find(|a| a["url"] == "javascript:alert(5)")
            .unwrap();
        assert!(js["link"].is_null());
    }

    #[test]
    fn long_fact_lists_are_cut_in_text_not_in_json() {
        let mut items = jcoin_day();
        items[0].1.facts.counts = (1..=12)
            .chain([18501])
            .map(|v| crate::model::CountFact {
                value: v,
                unit: "件".into(),
                qualifier: None,
                text: format!("{v}件"),
            })
            .collect();
        let d = build(
            items,
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        assert_eq!(
            d.incidents[0].facts.counts.len(),
            14,
            "13 + the press count of 5社"
        );
        let md = markdown::render(&d);
        assert!(md.contains("… 6 more in the JSON digest"), "{md}");
        // The two-source 18,501件 is kept; the smallest single-source ones are cut.
        assert!(
            md.contains("18,501件 “1万8501件” (pressの名前, paysecの名前)"),
            "{md}"
        );
        assert!(!md.contains("1件 “1件”"), "{md}");
        let html = html::render(&d);
        assert!(html.contains("<li class=\"muted\">… 6 more in the JSON digest</li>"));
    }

    #[test]
    fn chart_widths_come_from_counts() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let html = html::render(&d);
        assert!(html.contains("style=\"width:100.0%\"></span></span><span class=\"n\">2</span>"));
        assert!(html.contains("style=\"width:50.0%\"></span></span><span class=\"n\">1</span>"));
    }

    #[test]
    fn an_empty_day_renders_in_every_format() {
        let d = build([], &tokyo_day("2019-09-01"), [], &BuildOptions::default());
        let md = markdown::render(&d);
        assert!(md.contains("No incidents reported in this period."));
        assert!(
            md.contains("**0 articles · 0 incidents (0 known) · 0 sources · 0 failed sources**")
        );
        let html = html::render(&d);
        assert!(html.contains("No incidents reported in this period."));
        assert!(!html.contains("class=\"chart\""));
        assert_eq!(json::parse(&json::render(&d).unwrap()).unwrap(), d);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// The elements the HTML renderer writes; anything else came from the data.
        const OURS: [&str; 33] = [
            "!doctype",
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "header",
            "h1",
            "h2",
            "h3",
            "p",
            "time",
            "code",
            "main",
            "section",
            "dl",
            "div",
            "dt",
            "dd",
            "strong",
            "figure",
            "figcaption",
            "table",
            "tr",
            "th",
            "td",
            "span",
            "article",
            "ul",
            "ol",
            "li",
            "a",
        ];
        const OURS_MORE: [&str; 4] = ["thead", "tbody", "footer", "br"];

        /// Arbitrary text, half of it made of markup and URL characters.
        fn markupish() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "(<|>|\"|'|&|=| |/|:|javascript|data|http|script|on[a-z]+|[a-z]|\u{1b}|\u{202e})*",
            ]
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_makes_markup(
                title in markupish(),
                url in markupish(),
                name in markupish(),
                cause in markupish(),
            ) {
                let mut items = jcoin_day();
                items[0].0.draft.title = title.clone();
                items[0].0.draft.url = url;
                items[0].0.draft.summary = title;
                items[0].2 = name.clone();
                items[0].1.facts.causes.push(cause);
                let failures = [FailedSource {
                    feed: crate::model::FeedId::new(name.clone()),
                    name: name.clone(),
                    last_attempt: "2019-09-04T05:00:00Z".parse().unwrap(),
                    error: name,
                    consecutive_failures: 1,
                    last_success: None,
                }];
                let d = build(items, &tokyo_day("2019-09-04"), failures, &BuildOptions::default());
                let html = html::render(&d);
                // Past our own style sheet (its print rule writes "<" as CSS text).
                let body = html.split_once("</style>").map(|(_, b)| b).unwrap_or_default();
                prop_assert!(!body.is_empty());
                let mut rest = body;
                while let Some(at) = rest.find('<') {
                    rest = &rest[at + 1..];
                    let tag: String = rest
                        .trim_start_matches('/')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                        .collect::<String>()
                        .to_ascii_lowercase();
                    prop_assert!(
                        OURS.contains(&tag.as_str()) || OURS_MORE.contains(&tag.as_str()),
                        "unexpected element <{}", tag
                    );
                }
                for a in regex::Regex::new(r#"href="([^"]*)""#).unwrap().captures_iter(&html) {
                    prop_assert!(a[1].starts_with("http://") || a[1].starts_with("https://"));
                }
                let md = markdown::render(&d);
                prop_assert!(md.chars().all(|c| !c.is_control() || c == '\n'));
                prop_assert!(!md.chars().any(crate::sanitize::is_bidi_control));
            }
        }
    }
}
