//! Building a [`Digest`] from articles: grouping into stories, merging facts, counting.
//! Pure: no store, no clock; every order comes from an explicit sort key.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Analysis, Article, ArticleId, Family, FeedId, TagHit, TagId};

use super::text::{clean_link, shorten};
use super::{
    AmountEntry, ArticleEntry, CauseEntry, CountEntry, DateEntry, Digest, FactSource, FailedSource,
    LEAD_CHARS, Labels, NewsSection, Period, PeriodInfo, SCHEMA_VERSION, Story, StoryFacts,
    StoryKind, StorySource, Summary, TagCount, TagRef, section_title,
};

/// A feed's display name (its title in feeds.toml, else its id).
pub type FeedName = String;

/// What [`build`] needs besides the articles.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Tag labels.
    pub labels: Labels,
    /// The query that selected the articles, shown in the digest.
    pub query: Option<String>,
}

/// Which story an article belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum StoryKey {
    Incident(TagId),
    ServiceThreat { service: TagId, threat: TagId },
}

impl StoryKey {
    fn text(&self) -> String {
        match self {
            StoryKey::Incident(id) => format!("incident:{id}"),
            StoryKey::ServiceThreat { service, threat } => {
                format!("service-threat:{service}+{threat}")
            }
        }
    }
}

/// One article with what the digest needs of its analysis.
struct Item {
    entry: ArticleEntry,
    analysis: Analysis,
}

/// Builds the digest of `period` from its articles (any order; articles outside the period
/// and repeated ids are ignored) and the feeds' failures (those outside the period are
/// ignored).
pub fn build(
    articles: impl IntoIterator<Item = (Article, Analysis, FeedName)>,
    period: &Period,
    failures: impl IntoIterator<Item = FailedSource>,
    options: &BuildOptions,
) -> Digest {
    let labels = &options.labels;
    let mut seen = BTreeSet::new();
    let mut items: Vec<Item> = articles
        .into_iter()
        .filter(|(a, _, _)| period.contains(a.draft.published) && seen.insert(a.id))
        .map(|(article, analysis, name)| Item {
            entry: entry_of(&article, &analysis, name, labels),
            analysis,
        })
        .collect();
    items.sort_by(|a, b| order_key(&a.entry).cmp(&order_key(&b.entry)));

    // Group: an incident tag wins; else the main service/exchange with the main threat.
    let mains: Vec<Option<StoryKey>> = items.iter().map(|i| main_key(&i.analysis)).collect();
    let mut main_counts: BTreeMap<&StoryKey, usize> = BTreeMap::new();
    for key in mains.iter().flatten() {
        *main_counts.entry(key).or_default() += 1;
    }
    let mut stories: BTreeMap<StoryKey, Vec<usize>> = BTreeMap::new();
    let mut sections: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        match story_key(&item.analysis, mains[i].as_ref(), &main_counts) {
            Some(key) => stories.entry(key).or_default().push(i),
            None => sections
                .entry(section_rank(&item.analysis))
                .or_default()
                .push(i),
        }
    }

    let mut incidents: Vec<Story> = stories
        .iter()
        .map(|(key, members)| story(key, members, &items, labels))
        .collect();
    // Known incidents first, then the most outlets, the most articles, the earliest, the key.
    incidents.sort_by(|a, b| {
        (a.kind != super::StoryKind::Incident)
            .cmp(&(b.kind != super::StoryKind::Incident))
            .then(b.sources.len().cmp(&a.sources.len()))
            .then(b.articles.len().cmp(&a.articles.len()))
            .then(a.first_published.cmp(&b.first_published))
            .then(a.key.cmp(&b.key))
    });

    let other_news = sections
        .into_iter()
        .map(|(rank, members)| {
            let family = SECTION_ORDER.get(rank).copied();
            NewsSection {
                family,
                title: section_title(family).to_string(),
                articles: members.iter().map(|&i| items[i].entry.clone()).collect(),
            }
        })
        .collect();

    let mut failed_sources: Vec<FailedSource> = failures
        .into_iter()
        .filter(|f| period.contains(f.last_attempt))
        .collect();
    // The latest attempt of each feed.
    failed_sources.sort_by(|a, b| {
        a.feed
            .cmp(&b.feed)
            .then(b.last_attempt.cmp(&a.last_attempt))
    });
    failed_sources.dedup_by(|next, kept| next.feed == kept.feed);

    let feeds: BTreeSet<&FeedId> = items.iter().map(|i| &i.entry.feed).collect();
    let summary = Summary {
        articles: items.len() as u64,
        incidents: incidents.len() as u64,
        known_incidents: incidents
            .iter()
            .filter(|s| s.kind == StoryKind::Incident)
            .count() as u64,
        sources: feeds.len() as u64,
        failed_sources: failed_sources.len() as u64,
        services: tag_counts(
            items.iter().map(|i| &i.analysis),
            |f| matches!(f, Family::Service | Family::Exchange),
            labels,
            true,
        ),
    };

    Digest {
        schema_version: SCHEMA_VERSION,
        period: PeriodInfo {
            first_day: period.first_day(),
            last_day: period.last_day(),
            time_zone: period.tz().name().to_string(),
            start: period.start_utc(),
            end: period.end_utc(),
        },
        query: options.query.clone(),
        summary,
        incidents,
        other_news,
        failed_sources,
    }
}

/// Sections of "other news", in this order; articles without tags come after them.
const SECTION_ORDER: [Family; 5] = [
    Family::Service,
    Family::Exchange,
    Family::Threat,
    Family::Control,
    Family::Actor,
];

fn section_rank(analysis: &Analysis) -> usize {
    SECTION_ORDER
        .iter()
        .position(|f| analysis.tags.iter().any(|t| t.family == *f))
        .unwrap_or(SECTION_ORDER.len())
}

/// Oldest first; ties by feed, then id.
fn order_key(e: &ArticleEntry) -> (chrono::DateTime<chrono::Utc>, &FeedId, ArticleId) {
    (e.published, &e.feed, e.id)
}

fn entry_of(
    article: &Article,
    analysis: &Analysis,
    source: FeedName,
    labels: &Labels,
) -> ArticleEntry {
    let d = &article.draft;
    let mut tags: Vec<&TagHit> = analysis.tags.iter().collect();
    tags.sort_by(|a, b| {
        family_rank(a.family)
            .cmp(&family_rank(b.family))
            .then(a.tag.cmp(&b.tag))
    });
    tags.dedup_by(|a, b| a.tag == b.tag);
    let tags = tags
        .into_iter()
        .map(|t| TagRef {
            id: t.tag.clone(),
            family: t.family,
            label: labels.label(&t.tag),
        })
        .collect();
    ArticleEntry {
        id: article.id,
        feed: d.feed.clone(),
        source,
        title: d.title.clone(),
        url: d.url.clone(),
        link: clean_link(&d.url),
        published: d.published,
        lead: shorten(&d.summary, LEAD_CHARS),
        tags,
    }
}

/// Families in display order (incident first).
fn family_rank(f: Family) -> usize {
    Family::ALL
        .iter()
        .position(|x| *x == f)
        .unwrap_or(usize::MAX)
}

/// The tag of a family the article is most about: most matches, then the lowest id.
fn main_tag(analysis: &Analysis, families: &[Family]) -> Option<TagId> {
    analysis
        .tags
        .iter()
        .filter(|t| families.contains(&t.family))
        .max_by(|a, b| a.count.cmp(&b.count).then(b.tag.cmp(&a.tag)))
        .map(|t| t.tag.clone())
}

/// The story an article is mainly about: its main incident tag, else its main service (or
/// exchange) with its main threat.
fn main_key(analysis: &Analysis) -> Option<StoryKey> {
    if let Some(incident) = main_tag(analysis, &[Family::Incident]) {
        return Some(StoryKey::Incident(incident));
    }
    let service = main_tag(analysis, &[Family::Service, Family::Exchange])?;
    let threat = main_tag(analysis, &[Family::Threat])?;
    Some(StoryKey::ServiceThreat { service, threat })
}

/// The story an article joins. Incident tags decide alone. Without one, the article joins
/// the service+threat pair it mentions that is the main pair of the most OTHER articles
/// (ties: its own main pair, then the lowest key), so that an article naming two services
/// still lands with the other outlets' reports of the same story, in any input order.
fn story_key(
    analysis: &Analysis,
    main: Option<&StoryKey>,
    main_counts: &BTreeMap<&StoryKey, usize>,
) -> Option<StoryKey> {
    let main = main?;
    if matches!(main, StoryKey::Incident(_)) {
        return Some(main.clone());
    }
    let subjects = tags_of(analysis, &[Family::Service, Family::Exchange]);
    let threats = tags_of(analysis, &[Family::Threat]);
    let mut best: (usize, bool, Option<StoryKey>) = (0, false, None);
    for service in &subjects {
        for threat in &threats {
            let key = StoryKey::ServiceThreat {
                service: (*service).clone(),
                threat: (*threat).clone(),
            };
            let own = &key == main;
            let others = main_counts.get(&key).copied().unwrap_or(0) - usize::from(own);
            // Pairs are visited in key order, so a strict `>` keeps the lowest key on ties.
            if best.2.is_none() || (others, own) > (best.0, best.1) {
                best = (others, own, Some(key));
            }
        }
    }
    best.2.or_else(|| Some(main.clone()))
}

/// Distinct tag ids of some families, sorted.
fn tags_of<'a>(analysis: &'a Analysis, families: &[Family]) -> BTreeSet<&'a TagId> {
    analysis
        .tags
        .iter()
        .filter(|t| families.contains(&t.family))
        .map(|t| &t.tag)
        .collect()
}

fn story(key: &StoryKey, members: &[usize], items: &[Item], labels: &Labels) -> Story {
    // `members` is in article order (oldest first), and non-empty by construction.
    let entries: Vec<&ArticleEntry> = members.iter().map(|&i| &items[i].entry).collect();
    let first = entries.first().map(|e| e.published).unwrap_or_default();
    let last = entries.last().map(|e| e.published).unwrap_or_default();

    let mut sources: Vec<StorySource> = Vec::new();
    for e in &entries {
        match sources.iter_mut().find(|s| s.feed == e.feed) {
            Some(s) => s.articles += 1,
            None => sources.push(StorySource {
                feed: e.feed.clone(),
                name: e.source.clone(),
                articles: 1,
            }),
        }
    }

    let (kind, title, incident, service, threat) = match key {
        StoryKey::Incident(id) => (
            StoryKind::Incident,
            labels.label(id),
            Some(id.clone()),
            None,
            None,
        ),
        StoryKey::ServiceThreat { service, threat } => (
            StoryKind::ServiceThreat,
            format!("{} — {}", labels.label(service), labels.label(threat)),
            None,
            Some(service.clone()),
            Some(threat.clone()),
        ),
    };

    Story {
        key: key.text(),
        kind,
        title,
        headline: entries.first().map(|e| e.title.clone()).unwrap_or_default(),
        incident,
        service,
        threat,
        first_published: first,
        last_published: last,
        sources,
        tags: tag_counts(
            members.iter().map(|&i| &items[i].analysis),
            |_| true,
            labels,
            false,
        ),
        facts: merge_facts(members.iter().map(|&i| &items[i])),
        articles: entries.into_iter().cloned().collect(),
    }
}

/// Articles per tag over `analyses`, for the families `keep` accepts. Sorted by family then
/// most articles then id, or (`by_count`) by most articles then id.
fn tag_counts<'a>(
    analyses: impl Iterator<Item = &'a Analysis>,
    keep: impl Fn(Family) -> bool,
    labels: &Labels,
    by_count: bool,
) -> Vec<TagCount> {
    let mut counts: BTreeMap<(TagId, Family), u64> = BTreeMap::new();
    for analysis in analyses {
        let distinct: BTreeSet<(&TagId, Family)> = analysis
            .tags
            .iter()
            .filter(|t| keep(t.family))
            .map(|t| (&t.tag, t.family))
            .collect();
        for (tag, family) in distinct {
            *counts.entry((tag.clone(), family)).or_default() += 1;
        }
    }
    let mut out: Vec<TagCount> = counts
        .into_iter()
        .map(|((id, family), articles)| TagCount {
            label: labels.label(&id),
            id,
            family,
            articles,
        })
        .collect();
    out.sort_by(|a, b| {
        let by_articles = b.articles.cmp(&a.articles).then(a.id.cmp(&b.id));
        if by_count {
            by_articles
        } else {
            family_rank(a.family)
                .cmp(&family_rank(b.family))
                .then(by_articles)
        }
    });
    out
}

fn fact_source(item: &Item) -> FactSource {
    FactSource {
        article: item.entry.id,
        feed: item.entry.feed.clone(),
        source: item.entry.source.clone(),
    }
}

fn add_source(sources: &mut Vec<FactSource>, source: &FactSource) {
    if !sources.iter().any(|s| s.article == source.article) {
        sources.push(source.clone());
    }
}

/// Merges the facts of a story's articles (given oldest first): one entry per count value and
/// unit, amount, date and role, and cause wording; each keeps the first wording and every
/// article that states it.
fn merge_facts<'a>(items: impl Iterator<Item = &'a Item>) -> StoryFacts {
    let mut counts: BTreeMap<(u64, String), CountEntry> = BTreeMap::new();
    let mut amounts: BTreeMap<u64, AmountEntry> = BTreeMap::new();
    let mut dates: BTreeMap<(chrono::NaiveDate, usize), DateEntry> = BTreeMap::new();
    let mut causes: BTreeMap<String, CauseEntry> = BTreeMap::new();
    for item in items {
        let src = fact_source(item);
        let facts = &item.analysis.facts;
        for c in &facts.counts {
            let e = counts
                .entry((c.value, c.unit.clone()))
                .or_insert_with(|| CountEntry {
                    value: c.value,
                    unit: c.unit.clone(),
                    qualifier: c.qualifier.clone(),
                    text: c.text.clone(),
                    sources: Vec::new(),
                });
            add_source(&mut e.sources, &src);
        }
        for a in &facts.amounts {
            let e = amounts.entry(a.yen).or_insert_with(|| AmountEntry {
                yen: a.yen,
                qualifier: a.qualifier.clone(),
                text: a.text.clone(),
                sources: Vec::new(),
            });
            add_source(&mut e.sources, &src);
        }
        for d in &facts.dates {
            let e = dates
                .entry((d.date, role_rank(d.role)))
                .or_insert_with(|| DateEntry {
                    date: d.date,
                    role: d.role,
                    text: d.text.clone(),
                    sources: Vec::new(),
                });
            add_source(&mut e.sources, &src);
        }
        for cause in &facts.causes {
            let wording = cause.trim();
            if wording.is_empty() {
                continue;
            }
            let e = causes
                .entry(wording.to_string())
                .or_insert_with(|| CauseEntry {
                    cause: wording.to_string(),
                    sources: Vec::new(),
                });
            add_source(&mut e.sources, &src);
        }
    }
    let mut counts: Vec<CountEntry> = counts.into_values().collect();
    counts.sort_by(|a, b| b.value.cmp(&a.value).then(a.unit.cmp(&b.unit)));
    let mut amounts: Vec<AmountEntry> = amounts.into_values().collect();
    amounts.reverse();
    let mut causes: Vec<CauseEntry> = causes.into_values().collect();
    causes.sort_by(|a, b| {
        b.sources
            .len()
            .cmp(&a.sources.len())
            .then(a.cause.cmp(&b.cause))
    });
    StoryFacts {
        counts,
        amounts,
        dates: without_redundant_mentions(dates.into_values().collect()),
        causes,
    }
}

/// Drops a "mentioned" date whose every source also gives the same date a definite role
/// (occurred, discovered, announced): it says nothing new. `dates` is sorted by date, role.
fn without_redundant_mentions(dates: Vec<DateEntry>) -> Vec<DateEntry> {
    let definite: BTreeSet<(chrono::NaiveDate, ArticleId)> = dates
        .iter()
        .filter(|d| d.role != crate::model::DateRole::Mentioned)
        .flat_map(|d| d.sources.iter().map(move |s| (d.date, s.article)))
        .collect();
    dates
        .into_iter()
        .filter(|d| {
            d.role != crate::model::DateRole::Mentioned
                || !d
                    .sources
                    .iter()
                    .all(|s| definite.contains(&(d.date, s.article)))
        })
        .collect()
}

fn role_rank(role: crate::model::DateRole) -> usize {
    use crate::model::DateRole::*;
    match role {
        Occurred => 0,
        Discovered => 1,
        Announced => 2,
        Mentioned => 3,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{
        AmountFact, ArticleDraft, CountFact, DateFact, DateRole, Facts, Field, Span,
    };
    use chrono::{DateTime, NaiveDate, Utc};

    pub(crate) fn tokyo_day(s: &str) -> Period {
        Period::day(
            NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap(),
            chrono_tz::Asia::Tokyo,
        )
    }

    pub(crate) fn hit(tag: &str, family: Family, count: u32) -> TagHit {
        TagHit {
            tag: TagId::new(tag),
            family,
            count,
            spans: vec![Span {
                field: Field::Title,
                start: 0,
                end: 1,
            }],
        }
    }

    fn article(id: u64, feed: &str, published: &str, title: &str) -> Article {
        Article {
            id: ArticleId(id),
            draft: ArticleDraft {
                feed: FeedId::new(feed),
                url: format!("http://127.0.0.1:1/{feed}/{id}"),
                guid: None,
                title: title.to_string(),
                summary: format!("{title}の要旨"),
                body: String::new(),
                published: published.parse::<DateTime<Utc>>().unwrap(),
                fetched: published.parse::<DateTime<Utc>>().unwrap(),
                content_hash: format!("h{id}"),
            },
        }
    }

    pub(crate) fn item(
        id: u64,
        feed: &str,
        published: &str,
        tags: Vec<TagHit>,
        facts: Facts,
    ) -> (Article, Analysis, FeedName) {
        (
            article(id, feed, published, &format!("記事{id}")),
            Analysis { tags, facts },
            format!("{feed}の名前"),
        )
    }

    fn count(value: u64, unit: &str, text: &str) -> CountFact {
        CountFact {
            value,
            unit: unit.into(),
            qualifier: None,
            text: text.into(),
        }
    }

    pub(crate) fn jcoin_day() -> Vec<(Article, Analysis, FeedName)> {
        let incident = || hit("j-coin-pay-2019", Family::Incident, 1);
        let svc = || hit("j-coin-pay", Family::Service, 3);
        vec![
            item(
                2,
                "paysec",
                "2019-09-04T19:30:00+09:00",
                vec![
                    svc(),
                    hit("unauthorized-access", Family::Threat, 2),
                    incident(),
                ],
                Facts {
                    counts: vec![count(18501, "件", "18,501件")],
                    amounts: vec![],
                    dates: vec![DateFact {
                        date: NaiveDate::from_ymd_opt(2019, 8, 16).unwrap(),
                        role: DateRole::Occurred,
                        text: "8月16日".into(),
                    }],
                    causes: vec!["人為ミス".into()],
                },
            ),
            item(
                1,
                "press",
                "2019-09-04T16:50:00+09:00",
                vec![svc(), hit("mizuho", Family::Actor, 1), incident()],
                Facts {
                    counts: vec![count(18501, "件", "1万8501件"), count(5, "社", "5社")],
                    amounts: vec![],
                    dates: vec![DateFact {
                        date: NaiveDate::from_ymd_opt(2019, 8, 16).unwrap(),
                        role: DateRole::Occurred,
                        text: "8月16日から".into(),
                    }],
                    causes: vec![" 人為ミス ".into(), "設定不備".into()],
                },
            ),
            // An article on another incident the same day.
            item(
                3,
                "cryptowatch",
                "2019-09-04T10:00:00+09:00",
                vec![
                    hit("bitpoint", Family::Exchange, 2),
                    hit("asset-theft", Family::Threat, 1),
                    hit("bitpoint-2019", Family::Incident, 1),
                ],
                Facts {
                    amounts: vec![AmountFact {
                        yen: 3_020_000_000,
                        qualifier: Some("約".into()),
                        text: "約30億2千万円".into(),
                    }],
                    ..Facts::default()
                },
            ),
            // No incident tag: grouped by service + threat.
            item(
                4,
                "cashless-now",
                "2019-09-04T12:00:00+09:00",
                vec![
                    hit("paypay", Family::Service, 2),
                    hit("phishing", Family::Threat, 1),
                ],
                Facts::default(),
            ),
            item(
                5,
                "fintech-journal",
                "2019-09-04T13:00:00+09:00",
                vec![
                    hit("paypay", Family::Service, 1),
                    hit("line-pay", Family::Service, 1),
                    hit("phishing", Family::Threat, 3),
                ],
                Facts::default(),
            ),
            // Other news.
            item(
                6,
                "fintech-journal",
                "2019-09-04T09:00:00+09:00",
                vec![hit("fsa", Family::Actor, 1), hit("2fa", Family::Control, 1)],
                Facts::default(),
            ),
            item(
                7,
                "bank-it",
                "2019-09-04T08:00:00+09:00",
                vec![],
                Facts::default(),
            ),
            // Outside the day (the next Tokyo day): ignored.
            item(
                8,
                "paysec",
                "2019-09-04T15:00:00Z",
                vec![incident()],
                Facts::default(),
            ),
        ]
    }

    #[test]
    fn same_incident_from_several_outlets_is_one_story() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        assert_eq!(d.summary.articles, 7);
        assert_eq!(d.summary.incidents, 3);
        assert_eq!(d.summary.known_incidents, 2);
        assert_eq!(d.summary.sources, 6);
        let j = &d.incidents[0];
        assert_eq!(j.key, "incident:j-coin-pay-2019");
        assert_eq!(j.kind, StoryKind::Incident);
        let feeds: Vec<&str> = j.sources.iter().map(|s| s.feed.as_str()).collect();
        assert_eq!(feeds, ["press", "paysec"], "in order of first report");
        assert_eq!(j.headline, "記事1");
        assert_eq!(
            j.articles.iter().map(|a| a.id.0).collect::<Vec<_>>(),
            [1, 2]
        );
        // Tags of both articles, incident family first.
        let tags: Vec<&str> = j.tags.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            tags,
            [
                "j-coin-pay-2019",
                "j-coin-pay",
                "unauthorized-access",
                "mizuho"
            ]
        );
        assert_eq!(j.tags[1].articles, 2);
    }

    #[test]
    fn facts_are_merged_deduplicated_and_keep_their_sources() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let f = &d.incidents[0].facts;
        assert_eq!(f.counts.len(), 2);
        assert_eq!(f.counts[0].value, 18501);
        assert_eq!(f.counts[0].text, "1万8501件", "first source's wording");
        let from: Vec<u64> = f.counts[0].sources.iter().map(|s| s.article.0).collect();
        assert_eq!(from, [1, 2]);
        assert_eq!(f.counts[1].value, 5);
        assert_eq!(f.dates.len(), 1);
        assert_eq!(f.dates[0].sources.len(), 2);
        assert_eq!(f.causes[0].cause, "人為ミス");
        assert_eq!(f.causes[0].sources.len(), 2);
        assert_eq!(f.causes[1].cause, "設定不備");
        assert_eq!(f.causes[1].sources[0].feed.as_str(), "press");
    }

    #[test]
    fn a_mention_of_a_date_a_source_already_dated_is_dropped() {
        let date = |role, text: &str| DateFact {
            date: NaiveDate::from_ymd_opt(2019, 8, 27).unwrap(),
            role,
            text: text.into(),
        };
        let facts = |dates| Facts {
            dates,
            ..Facts::default()
        };
        let tags = || vec![hit("j-coin-pay-2019", Family::Incident, 1)];
        let items = vec![
            item(
                1,
                "press",
                "2019-09-04T16:50:00+09:00",
                tags(),
                facts(vec![date(DateRole::Discovered, "8月27日")]),
            ),
            item(
                2,
                "paysec",
                "2019-09-04T19:30:00+09:00",
                tags(),
                facts(vec![
                    date(DateRole::Discovered, "8月27日に"),
                    date(DateRole::Mentioned, "27日"),
                ]),
            ),
        ];
        let d = build(
            items.clone(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let dates = &d.incidents[0].facts.dates;
        assert_eq!(dates.len(), 1, "{dates:?}");
        assert_eq!(dates[0].role, DateRole::Discovered);
        assert_eq!(dates[0].sources.len(), 2);

        // A mention by a source that gives no role for that date is kept.
        let mut items = items;
        items[1].1.facts.dates.remove(0);
        let d = build(
            items,
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let roles: Vec<DateRole> = d.incidents[0].facts.dates.iter().map(|d| d.role).collect();
        assert_eq!(roles, [DateRole::Discovered, DateRole::Mentioned]);
    }

    #[test]
    fn untagged_incidents_group_by_main_service_and_threat() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let s = d
            .incidents
            .iter()
            .find(|s| s.kind == StoryKind::ServiceThreat)
            .unwrap();
        assert_eq!(s.key, "service-threat:paypay+phishing");
        assert_eq!(s.articles.len(), 2);
        assert_eq!(s.title, "paypay — phishing");
        assert_eq!(
            d.incidents.last().unwrap().key,
            s.key,
            "known incidents first"
        );
    }

    #[test]
    fn other_news_goes_by_family_then_untagged() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let sections: Vec<(Option<Family>, Vec<u64>)> = d
            .other_news
            .iter()
            .map(|s| (s.family, s.articles.iter().map(|a| a.id.0).collect()))
            .collect();
        assert_eq!(
            sections,
            [(Some(Family::Control), vec![6]), (None, vec![7])]
        );
    }

    #[test]
    fn services_are_counted_per_article_most_first() {
        let d = build(
            jcoin_day(),
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let s: Vec<(&str, u64)> = d
            .summary
            .services
            .iter()
            .map(|t| (t.id.as_str(), t.articles))
            .collect();
        assert_eq!(
            s,
            [
                ("j-coin-pay", 2),
                ("paypay", 2),
                ("bitpoint", 1),
                ("line-pay", 1)
            ]
        );
    }

    #[test]
    fn input_order_and_repeats_do_not_change_the_digest() {
        let period = tokyo_day("2019-09-04");
        let a = build(jcoin_day(), &period, [], &BuildOptions::default());
        let mut shuffled = jcoin_day();
        shuffled.reverse();
        shuffled.extend(jcoin_day());
        let b = build(shuffled, &period, [], &BuildOptions::default());
        assert_eq!(a, b);
    }

    #[test]
    fn labels_name_the_stories() {
        let options = BuildOptions {
            labels: Labels::from_pairs([
                (TagId::new("paypay"), "PayPay".to_string()),
                (TagId::new("phishing"), "フィッシング".to_string()),
            ]),
            query: Some("PayPay".into()),
        };
        let d = build(jcoin_day(), &tokyo_day("2019-09-04"), [], &options);
        assert!(
            d.incidents
                .iter()
                .any(|s| s.title == "PayPay — フィッシング")
        );
        assert_eq!(d.query.as_deref(), Some("PayPay"));
    }

    #[test]
    fn failures_in_the_period_only_one_per_feed() {
        let fail = |feed: &str, at: &str| FailedSource {
            feed: FeedId::new(feed),
            name: feed.into(),
            last_attempt: at.parse().unwrap(),
            error: "HTTP 503".into(),
            consecutive_failures: 2,
            last_success: None,
        };
        let d = build(
            [],
            &tokyo_day("2019-09-04"),
            [
                fail("zeta", "2019-09-04T08:00:00+09:00"),
                fail("alpha", "2019-09-04T23:00:00+09:00"),
                fail("old", "2019-09-03T23:00:00+09:00"),
                fail("alpha", "2019-09-04T07:00:00+09:00"),
            ],
            &BuildOptions::default(),
        );
        let got: Vec<&str> = d.failed_sources.iter().map(|f| f.feed.as_str()).collect();
        assert_eq!(got, ["alpha", "zeta"]);
        assert_eq!(d.summary.failed_sources, 2);
        assert_eq!(d.summary.articles, 0);
        assert!(d.incidents.is_empty() && d.other_news.is_empty());
    }

    #[test]
    fn unsafe_links_are_not_links() {
        let mut items = jcoin_day();
        items[0].0.draft.url = "javascript:alert(1)".into();
        let d = build(
            items,
            &tokyo_day("2019-09-04"),
            [],
            &BuildOptions::default(),
        );
        let a = d
            .incidents
            .iter()
            .flat_map(|s| &s.articles)
            .find(|a| a.id.0 == 2)
            .unwrap();
        assert_eq!(a.link, None);
        assert_eq!(a.url, "javascript:alert(1)");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const TAGS: [(&str, Family); 8] = [
            ("j-coin-pay-2019", Family::Incident),
            ("7pay-2019", Family::Incident),
            ("paypay", Family::Service),
            ("line-pay", Family::Service),
            ("coincheck", Family::Exchange),
            ("phishing", Family::Threat),
            ("data-leak", Family::Threat),
            ("2fa", Family::Control),
        ];

        fn arb_item() -> impl Strategy<Value = (Article, Analysis, FeedName)> {
            (
                0u64..40,
                0usize..4,
                0i64..86_400,
                proptest::collection::vec((0usize..TAGS.len(), 1u32..4), 0..5),
                any::<String>(),
                proptest::collection::vec((0u64..5, 0usize..3), 0..3),
            )
                .prop_map(|(id, feed, secs, tags, title, counts)| {
                    let published = "2019-09-04T00:00:00+09:00"
                        .parse::<DateTime<Utc>>()
                        .unwrap()
                        + chrono::Duration::seconds(secs);
                    let mut a = article(id, &format!("feed{feed}"), "2019-09-04T00:00:00Z", "");
                    a.draft.published = published;
                    a.draft.title = title;
                    let tags = tags
                        .into_iter()
                        .map(|(t, n)| hit(TAGS[t].0, TAGS[t].1, n))
                        .collect();
                    let facts = Facts {
                        counts: counts
                            .into_iter()
                            .map(|(v, u)| count(v, ["件", "人", "社"][u], "x"))
                            .collect(),
                        ..Facts::default()
                    };
                    (a, Analysis { tags, facts }, format!("name{feed}"))
                })
        }

        proptest! {
            #[test]
            fn every_article_lands_once_and_order_never_matters(
                items in proptest::collection::vec(arb_item(), 0..30)
            ) {
                let period = tokyo_day("2019-09-04");
                let d = build(items.clone(), &period, [], &BuildOptions::default());
                let mut ids: Vec<u64> = d
                    .incidents
                    .iter()
                    .flat_map(|s| s.articles.iter())
                    .chain(d.other_news.iter().flat_map(|s| s.articles.iter()))
                    .map(|a| a.id.0)
                    .collect();
                let listed = ids.len();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(listed, ids.len(), "no article twice");
                prop_assert_eq!(d.summary.articles as usize, ids.len());
                let distinct: BTreeSet<u64> = items.iter().map(|i| i.0.id.0).collect();
                prop_assert_eq!(distinct.len(), ids.len());
                for s in &d.incidents {
                    prop_assert!(!s.articles.is_empty() && !s.sources.is_empty());
                    for c in &s.facts.counts {
                        prop_assert!(!c.sources.is_empty());
                    }
                }
                // The first of several items with one id wins; keep one per id so that a
                // permutation cannot change which one.
                let mut unique = Vec::new();
                let mut seen = BTreeSet::new();
                for i in items {
                    if seen.insert(i.0.id) {
                        unique.push(i);
                    }
                }
                let a = build(unique.clone(), &period, [], &BuildOptions::default());
                unique.reverse();
                let b = build(unique, &period, [], &BuildOptions::default());
                prop_assert_eq!(
                    super::super::super::markdown::render(&a),
                    super::super::super::markdown::render(&b)
                );
                prop_assert_eq!(a, b);
            }
        }
    }
}
