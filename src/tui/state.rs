//! The reader's state: panes and focus, the article list's page cache, the open article,
//! filters, the sidebar, the timeline, overlays and the status line. Plain data; only
//! `update` changes it and only the worker fills it from the store.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use ratatui::text::Line;

use crate::model::{Analysis, Article, ArticleId, Family, FeedId, Flags, TagId};
use crate::store::ListFilter;

use super::input::Mode;
use super::worker::Cursor;

/// Articles fetched per list page.
pub const PAGE_SIZE: usize = 200;
/// Load the next page when the selection comes this close to the end of the loaded rows.
pub const PREFETCH_MARGIN: usize = 50;
/// Ticks a status message stays up.
pub const STATUS_TICKS: u64 = 20;

/// Progress of one request to the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Load {
    /// Nothing asked yet.
    #[default]
    Idle,
    /// A request is running.
    Loading,
    /// The last request succeeded.
    Loaded,
    /// The last request failed; the text is shown to the user.
    Error(String),
}

/// The three panes of the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Feeds, tags, saved searches.
    Sidebar,
    /// The article list.
    List,
    /// The open article.
    Article,
}

impl Pane {
    /// Tab order.
    pub fn next(self) -> Pane {
        match self {
            Pane::Sidebar => Pane::List,
            Pane::List => Pane::Article,
            Pane::Article => Pane::Sidebar,
        }
    }
    /// Shift-Tab order.
    pub fn prev(self) -> Pane {
        match self {
            Pane::Sidebar => Pane::Article,
            Pane::List => Pane::Sidebar,
            Pane::Article => Pane::List,
        }
    }
}

/// What narrows the article list (all conditions hold together): the store's own filter,
/// which the worker hands to `Store::page` as it is.
pub type Filters = ListFilter;

/// A short description of the filters for the list's title, such as
/// `feed:paysec tag:7pay unread`.
pub fn describe(filters: &Filters) -> String {
    let mut parts = Vec::new();
    if let Some(f) = &filters.feed {
        parts.push(format!("feed:{f}"));
    }
    if let Some(t) = &filters.tag {
        parts.push(format!("tag:{t}"));
    }
    if let Some(f) = filters.family {
        parts.push(format!("tag:{}", f.as_str()));
    }
    if let Some(s) = filters.since {
        parts.push(format!("since:{}", jst_date(s)));
    }
    if let Some(u) = filters.until {
        // `until` is exclusive; show the last day it includes.
        parts.push(format!("until:{}", jst_date(u - Duration::seconds(1))));
    }
    if filters.unread_only {
        parts.push("unread".into());
    }
    if filters.starred_only {
        parts.push("starred".into());
    }
    parts.join(" ")
}

/// The active search: a query in kessai's query language (`kessai::search`), matched
/// article by article, newest first, within the list's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The query as typed.
    pub query: String,
}

/// A tag as a list chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// The tag id (ASCII, from the taxonomy).
    pub tag: TagId,
    /// Its family (chooses the colour).
    pub family: Family,
}

/// One row of the article list: only what the row shows (no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// The article.
    pub id: ArticleId,
    /// Publication time.
    pub published: DateTime<Utc>,
    /// Source feed name (sanitised).
    pub feed: String,
    /// Headline (sanitised, one line).
    pub title: String,
    /// The article's link as stored (checked with `safe_link` before opening).
    pub url: String,
    /// Tags to show, most telling first.
    pub chips: Vec<Chip>,
    /// Read / starred.
    pub flags: Flags,
}

/// How a loaded page joins the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMode {
    /// The first page of a new query: replaces everything.
    Replace,
    /// The next page: appended.
    Append,
    /// The first page again after new articles arrived: new rows are put on top and the
    /// selection stays on the same article.
    Head,
}

/// The article list: rows loaded so far, a page at a time, newest first.
#[derive(Debug, Default)]
pub struct ArticleList {
    /// Loaded rows.
    pub rows: Vec<ListRow>,
    /// Where the next page starts; `None` when the end has been reached.
    pub next: Option<Cursor>,
    /// Whether the last page has been seen.
    pub exhausted: bool,
    /// State of the newest request.
    pub load: Load,
    /// Bumped when the query changes; pages of older generations are dropped.
    pub generation: u64,
    /// Selected row.
    pub selected: usize,
    /// First row shown.
    pub offset: usize,
    /// Articles the search has looked at so far (shown so the user knows the scope).
    pub scanned: usize,
}

impl ArticleList {
    /// The selected row, if any.
    pub fn current(&self) -> Option<&ListRow> {
        self.rows.get(self.selected)
    }
    /// Finds a row by article id.
    pub fn position(&self, id: ArticleId) -> Option<usize> {
        self.rows.iter().position(|r| r.id == id)
    }
    /// Whether more rows can be asked for now.
    pub fn wants_more(&self) -> bool {
        !self.exhausted
            && self.load != Load::Loading
            && self.rows.len().saturating_sub(self.selected) <= PREFETCH_MARGIN
    }
}

/// The opened article, with its body already wrapped for the pane's width.
#[derive(Debug)]
pub struct OpenArticle {
    /// The article.
    pub article: Article,
    /// Its tags and facts.
    pub analysis: Analysis,
    /// Read / starred.
    pub flags: Flags,
    /// Where the search matched (whole tokens, spelling variants), if a search is active.
    pub matches: Option<Vec<crate::model::Span>>,
    /// First line shown.
    pub scroll: usize,
    /// Wrapped lines (header, tags and facts, body) for `width`.
    pub lines: Vec<Line<'static>>,
    /// Lines that hold a search match (for n/N).
    pub match_lines: Vec<usize>,
    /// The width `lines` were wrapped for.
    pub width: u16,
}

/// A saved search shown in the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSearch {
    /// Display name.
    pub name: String,
    /// The query.
    pub query: String,
}

/// Per-feed counts for the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// The feed.
    pub feed: FeedId,
    /// Articles stored.
    pub total: u64,
    /// Of which unread.
    pub unread: u64,
}

/// What the sidebar shows, as loaded from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidebarData {
    /// All articles.
    pub total: u64,
    /// All unread articles.
    pub unread: u64,
    /// Feeds with counts.
    pub feeds: Vec<FeedRow>,
    /// Tags with article counts.
    pub tags: Vec<(TagId, Family, u64)>,
    /// Saved searches.
    pub saved: Vec<SavedSearch>,
}

/// One line of the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidebarEntry {
    /// A section title (not selectable).
    Header(&'static str),
    /// Every article.
    All {
        /// Total.
        total: u64,
        /// Unread.
        unread: u64,
    },
    /// A feed.
    Feed(FeedRow),
    /// A tag family.
    Family {
        /// The family.
        family: Family,
        /// Articles with a tag of it (sum over its tags; an article may count twice).
        count: u64,
    },
    /// A tag.
    Tag {
        /// The tag.
        tag: TagId,
        /// Its family.
        family: Family,
        /// Articles with it.
        count: u64,
    },
    /// A saved search.
    Saved(SavedSearch),
}

impl SidebarEntry {
    /// Whether the cursor can rest on it.
    pub fn selectable(&self) -> bool {
        !matches!(self, SidebarEntry::Header(_))
    }
}

/// Flattens sidebar data into its lines: all, feeds, tag families with their tags, saved
/// searches.
pub fn sidebar_entries(data: &SidebarData) -> Vec<SidebarEntry> {
    let mut out = vec![SidebarEntry::All {
        total: data.total,
        unread: data.unread,
    }];
    out.push(SidebarEntry::Header("Feeds"));
    out.extend(data.feeds.iter().cloned().map(SidebarEntry::Feed));
    out.push(SidebarEntry::Header("Tags"));
    for family in Family::ALL {
        let mut tags: Vec<&(TagId, Family, u64)> =
            data.tags.iter().filter(|(_, f, _)| *f == family).collect();
        if tags.is_empty() {
            continue;
        }
        tags.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        out.push(SidebarEntry::Family {
            family,
            count: tags.iter().map(|t| t.2).sum(),
        });
        out.extend(
            tags.into_iter()
                .map(|(tag, family, count)| SidebarEntry::Tag {
                    tag: tag.clone(),
                    family: *family,
                    count: *count,
                }),
        );
    }
    out.push(SidebarEntry::Header("Saved searches"));
    out.extend(data.saved.iter().cloned().map(SidebarEntry::Saved));
    out
}

/// The sidebar: loaded entries and the cursor.
#[derive(Debug, Default)]
pub struct Sidebar {
    /// Load state.
    pub load: Load,
    /// The lines.
    pub entries: Vec<SidebarEntry>,
    /// Selected line (always a selectable one once loaded).
    pub selected: usize,
    /// First line shown.
    pub offset: usize,
}

/// What a picker chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerKind {
    /// A tag (or a whole family).
    Tag,
    /// A feed.
    Feed,
}

/// What choosing a picker item does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickValue {
    /// Drop this kind of filter.
    Any,
    /// Filter by a feed.
    Feed(FeedId),
    /// Filter by a tag.
    Tag(TagId),
    /// Filter by a family.
    Family(Family),
}

/// One picker line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickItem {
    /// What is shown (sanitised).
    pub label: String,
    /// Count shown on the right.
    pub count: Option<u64>,
    /// What choosing it does.
    pub value: PickValue,
}

/// The tag/feed chooser overlay. Typing narrows the items.
#[derive(Debug, Clone)]
pub struct Picker {
    /// Tag or feed.
    pub kind: PickerKind,
    /// Typed text.
    pub query: String,
    /// All items.
    pub items: Vec<PickItem>,
    /// Index into `visible()`.
    pub selected: usize,
}

impl Picker {
    /// Indices of the items that contain the typed text (case-insensitive); the "any"
    /// item only while nothing is typed, so Enter after typing takes the first match.
    pub fn visible(&self) -> Vec<usize> {
        let q = self.query.to_lowercase();
        self.items
            .iter()
            .enumerate()
            .filter(|(_, it)| {
                if q.is_empty() {
                    true
                } else {
                    it.value != PickValue::Any && it.label.to_lowercase().contains(&q)
                }
            })
            .map(|(i, _)| i)
            .collect()
    }
    /// The chosen item.
    pub fn current(&self) -> Option<&PickItem> {
        self.visible()
            .get(self.selected)
            .and_then(|&i| self.items.get(i))
    }
}

/// Bucket size of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One bar per day.
    Day,
    /// One bar per ISO week (Monday start).
    Week,
    /// One bar per calendar month.
    Month,
}

impl Granularity {
    /// Day → week → month → day.
    pub fn cycle(self) -> Granularity {
        match self {
            Granularity::Day => Granularity::Week,
            Granularity::Week => Granularity::Month,
            Granularity::Month => Granularity::Day,
        }
    }
    /// Name for titles.
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
    /// The first day of the bucket holding `d`.
    pub fn bucket_start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => d,
            Granularity::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
            Granularity::Month => d.with_day(1).unwrap_or(d),
        }
    }
    /// The first day of the bucket after the one starting at `start`.
    pub fn next_start(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start + Duration::days(1),
            Granularity::Week => start + Duration::days(7),
            Granularity::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }
}

/// One incident-bearing article, as the timeline counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentItem {
    /// Publication day (JST).
    pub day: NaiveDate,
    /// The services and exchanges it names (its incident ids when it names none).
    pub services: Vec<TagId>,
    /// The incidents it reports.
    pub incidents: Vec<TagId>,
}

/// One timeline row: a service and its incident articles per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    /// The service (or exchange) tag.
    pub service: TagId,
    /// Articles per bucket, aligned with `TimelineData::buckets`.
    pub counts: Vec<u32>,
    /// The incidents seen in this row, most covered first.
    pub incidents: Vec<TagId>,
    /// All incident articles of the row.
    pub total: u32,
}

/// Incident coverage bucketed by time, one row per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineData {
    /// Bucket size.
    pub granularity: Granularity,
    /// First day of every bucket, oldest first, contiguous.
    pub buckets: Vec<NaiveDate>,
    /// Rows, the most covered service first.
    pub rows: Vec<TimelineRow>,
    /// The largest bucket count (for scaling bars).
    pub max: u32,
}

/// Buckets incident items by service and time. Buckets run contiguously from the oldest to
/// the newest item (capped at `max_buckets`, keeping the newest).
pub fn bucketize(
    items: &[IncidentItem],
    granularity: Granularity,
    max_buckets: usize,
) -> TimelineData {
    let empty = TimelineData {
        granularity,
        buckets: Vec::new(),
        rows: Vec::new(),
        max: 0,
    };
    let (Some(first), Some(last)) = (
        items.iter().map(|i| i.day).min(),
        items.iter().map(|i| i.day).max(),
    ) else {
        return empty;
    };
    let mut buckets = Vec::new();
    let mut b = granularity.bucket_start(first);
    let end = granularity.bucket_start(last);
    while b <= end {
        buckets.push(b);
        b = granularity.next_start(b);
    }
    if buckets.len() > max_buckets {
        buckets.drain(..buckets.len() - max_buckets);
    }
    let Some(&oldest) = buckets.first() else {
        return empty;
    };
    let mut rows: Vec<TimelineRow> = Vec::new();
    let mut incident_counts: Vec<Vec<(TagId, u32)>> = Vec::new();
    for item in items {
        let start = granularity.bucket_start(item.day);
        if start < oldest {
            continue;
        }
        let Ok(col) = buckets.binary_search(&start) else {
            continue;
        };
        for service in &item.services {
            let idx = match rows.iter().position(|r| &r.service == service) {
                Some(i) => i,
                None => {
                    rows.push(TimelineRow {
                        service: service.clone(),
                        counts: vec![0; buckets.len()],
                        incidents: Vec::new(),
                        total: 0,
                    });
                    incident_counts.push(Vec::new());
                    rows.len() - 1
                }
            };
            rows[idx].counts[col] += 1;
            rows[idx].total += 1;
            for inc in &item.incidents {
                let counts = &mut incident_counts[idx];
                match counts.iter_mut().find(|(t, _)| t == inc) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((inc.clone(), 1)),
                }
            }
        }
    }
    for (row, mut counts) in rows.iter_mut().zip(incident_counts) {
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        row.incidents = counts.into_iter().map(|(t, _)| t).collect();
    }
    rows.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.service.cmp(&b.service))
    });
    let max = rows
        .iter()
        .flat_map(|r| r.counts.iter().copied())
        .max()
        .unwrap_or(0);
    TimelineData {
        granularity,
        buckets,
        rows,
        max,
    }
}

/// The timeline view.
#[derive(Debug)]
pub struct Timeline {
    /// Bucket size asked for.
    pub granularity: Granularity,
    /// Load state.
    pub load: Load,
    /// The data, once loaded.
    pub data: Option<TimelineData>,
    /// Selected row.
    pub row: usize,
    /// Selected bucket.
    pub col: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            granularity: Granularity::Week,
            load: Load::Idle,
            data: None,
            row: 0,
            col: 0,
        }
    }
}

/// A background refresh of all feeds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Refresh {
    /// None running.
    #[default]
    Idle,
    /// Running: feeds done of total, new articles so far.
    Running {
        /// Feeds finished.
        done: usize,
        /// Feeds in all.
        total: usize,
        /// New articles stored so far.
        new: usize,
    },
}

/// Kind of status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Information.
    Info,
    /// Something failed.
    Error,
}

/// A message on the status line, until a tick count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The text (one line).
    pub text: String,
    /// Info or error.
    pub kind: StatusKind,
    /// Tick at which it disappears.
    pub until_tick: u64,
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The three panes.
    Reader,
    /// The incident timeline.
    Timeline,
}

/// The whole reader state.
#[derive(Debug)]
pub struct App {
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Reader or timeline.
    pub view: View,
    /// Focused pane.
    pub focus: Pane,
    /// Help overlay shown.
    pub help: bool,
    /// First help line shown (short terminals).
    pub help_scroll: usize,
    /// Search prompt open, with the text typed so far.
    pub prompt: Option<String>,
    /// Tag/feed picker open.
    pub picker: Option<Picker>,
    /// The list.
    pub list: ArticleList,
    /// The open article.
    pub article: Option<OpenArticle>,
    /// Load state of the article being opened.
    pub article_load: Load,
    /// Filters.
    pub filters: Filters,
    /// Active search.
    pub search: Option<Search>,
    /// The sidebar.
    pub sidebar: Sidebar,
    /// The timeline.
    pub timeline: Timeline,
    /// Background refresh.
    pub refresh: Refresh,
    /// Whether refreshing is possible (a feed source was given).
    pub can_refresh: bool,
    /// Status line message.
    pub status: Option<Status>,
    /// Ticks since start (status expiry).
    pub ticks: u64,
    /// Set when the user asked to quit.
    pub quit: bool,
    /// Name of the store for the title bar.
    pub store_label: String,
}

impl App {
    /// A fresh state for a terminal of this size.
    pub fn new(size: (u16, u16), store_label: impl Into<String>) -> App {
        App {
            size,
            view: View::Reader,
            focus: Pane::List,
            help: false,
            help_scroll: 0,
            prompt: None,
            picker: None,
            list: ArticleList::default(),
            article: None,
            article_load: Load::Idle,
            filters: Filters::default(),
            search: None,
            sidebar: Sidebar::default(),
            timeline: Timeline::default(),
            refresh: Refresh::Idle,
            can_refresh: false,
            status: None,
            ticks: 0,
            quit: false,
            store_label: store_label.into(),
        }
    }

    /// The input mode keys are read in.
    pub fn mode(&self) -> Mode {
        if self.help {
            Mode::Help
        } else if self.prompt.is_some() {
            Mode::Search
        } else if self.picker.is_some() {
            Mode::Picker
        } else if self.view == View::Timeline {
            Mode::Timeline
        } else {
            Mode::Reader
        }
    }

    /// Whether the terminal is too narrow for more than one pane.
    pub fn narrow(&self) -> bool {
        self.size.0 < NARROW_BELOW
    }

    /// Puts a message on the status line.
    pub fn say(&mut self, kind: StatusKind, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind,
            until_tick: self.ticks + STATUS_TICKS,
        });
    }
}

/// Terminals narrower than this show one pane at a time.
pub const NARROW_BELOW: u16 = 100;

/// A date as shown in lists: the JST calendar day.
pub fn jst_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%Y-%m-%d")
        .to_string()
}

/// A time as shown in the article header.
pub fn jst_datetime(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%Y-%m-%d %H:%M JST")
        .to_string()
}

/// The JST calendar day of a time.
pub fn jst_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Asia::Tokyo).date_naive()
}

/// Midnight JST at the start of `d`, in UTC.
pub fn jst_midnight(d: NaiveDate) -> DateTime<Utc> {
    // JST has no daylight saving: midnight JST is 15:00 UTC the day before.
    d.and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc() - Duration::hours(9))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn item(day: &str, services: &[&str], incidents: &[&str]) -> IncidentItem {
        IncidentItem {
            day: d(day),
            services: services.iter().map(|s| TagId::new(*s)).collect(),
            incidents: incidents.iter().map(|s| TagId::new(*s)).collect(),
        }
    }

    #[test]
    fn week_buckets_start_on_monday() {
        // 2019-07-04 was a Thursday.
        assert_eq!(
            Granularity::Week.bucket_start(d("2019-07-04")),
            d("2019-07-01")
        );
        assert_eq!(
            Granularity::Month.bucket_start(d("2019-07-04")),
            d("2019-07-01")
        );
        assert_eq!(
            Granularity::Month.next_start(d("2019-12-01")),
            d("2020-01-01")
        );
    }

    #[test]
    fn bucketize_counts_per_service_and_fills_gaps() {
        let items = vec![
            item("2019-07-03", &["7pay"], &["7pay-2019"]),
            item("2019-07-04", &["7pay"], &["7pay-2019"]),
            item("2019-07-20", &["7pay"], &["7pay-2019"]),
            item("2019-09-12", &["j-coin-pay"], &["j-coin-pay-2019"]),
        ];
        let t = bucketize(&items, Granularity::Week, 1000);
        assert_eq!(t.buckets.first(), Some(&d("2019-07-01")));
        assert_eq!(t.buckets.last(), Some(&d("2019-09-09")));
        // Contiguous weeks: 1 Jul .. 9 Sep is 11 buckets.
        assert_eq!(t.buckets.len(), 11);
        assert_eq!(t.rows[0].service.as_str(), "7pay");
        assert_eq!(t.rows[0].counts[0], 2);
        assert_eq!(t.rows[0].counts[2], 1);
        assert_eq!(t.rows[0].total, 3);
        assert_eq!(t.rows[1].counts[10], 1);
        assert_eq!(t.max, 2);
    }

    #[test]
    fn bucketize_caps_buckets_keeping_the_newest() {
        let items = vec![
            item("2018-01-01", &["coincheck"], &["coincheck-nem-2018"]),
            item("2024-05-31", &["dmm-bitcoin"], &["dmm-bitcoin-2024"]),
        ];
        let t = bucketize(&items, Granularity::Day, 10);
        assert_eq!(t.buckets.len(), 10);
        assert_eq!(t.buckets.last(), Some(&d("2024-05-31")));
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].service.as_str(), "dmm-bitcoin");
        assert!(bucketize(&[], Granularity::Week, 10).buckets.is_empty());
    }

    #[test]
    fn sidebar_lists_families_with_their_tags() {
        let data = SidebarData {
            total: 3,
            unread: 2,
            feeds: vec![FeedRow {
                feed: FeedId::new("paysec"),
                total: 3,
                unread: 2,
            }],
            tags: vec![
                (TagId::new("phishing"), Family::Threat, 1),
                (TagId::new("7pay"), Family::Service, 2),
                (TagId::new("account-takeover"), Family::Threat, 2),
            ],
            saved: vec![],
        };
        let e = sidebar_entries(&data);
        let threat = e
            .iter()
            .position(|x| {
                matches!(
                    x,
                    SidebarEntry::Family {
                        family: Family::Threat,
                        count: 3
                    }
                )
            })
            .unwrap();
        assert!(
            matches!(&e[threat + 1], SidebarEntry::Tag { tag, .. } if tag.as_str() == "account-takeover")
        );
        assert!(!e[1].selectable());
    }

    #[test]
    fn jst_day_boundaries() {
        let t = DateTime::parse_from_rfc3339("2019-07-03T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(jst_date(t), "2019-07-04");
        assert_eq!(
            jst_midnight(d("2019-07-04")).to_rfc3339(),
            "2019-07-03T15:00:00+00:00"
        );
    }

    #[test]
    fn picker_narrows_and_drops_any_while_typing() {
        let p = Picker {
            kind: PickerKind::Tag,
            query: "PAY".into(),
            items: vec![
                PickItem {
                    label: "(any tag)".into(),
                    count: None,
                    value: PickValue::Any,
                },
                PickItem {
                    label: "7pay".into(),
                    count: Some(2),
                    value: PickValue::Tag(TagId::new("7pay")),
                },
                PickItem {
                    label: "phishing".into(),
                    count: Some(1),
                    value: PickValue::Tag(TagId::new("phishing")),
                },
            ],
            selected: 0,
        };
        assert_eq!(p.visible(), vec![1]);
        assert_eq!(p.current().unwrap().label, "7pay");
    }

    #[test]
    fn filters_describe() {
        let f = Filters {
            feed: Some(FeedId::new("paysec")),
            unread_only: true,
            until: Some(jst_midnight(d("2019-07-08"))),
            ..Filters::default()
        };
        assert_eq!(describe(&f), "feed:paysec until:2019-07-07 unread");
        assert_eq!(describe(&Filters::default()), "");
    }
}
