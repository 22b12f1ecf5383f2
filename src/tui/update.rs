//! Applies actions (from keys) and messages (from the worker) to the state. Nothing here does
//! I/O: work on the store, the network or the OS is returned as [`Command`]s, which the event
//! loop hands to the worker.

use crate::model::{ArticleId, Flags};

use super::draw::{Areas, areas};
use super::input::Action;
use super::state::{
    App, Filters, Granularity, ListRow, Load, OpenArticle, PageMode, Pane, PickItem, PickValue,
    Picker, PickerKind, Refresh, Search, SidebarData, SidebarEntry, StatusKind, TimelineData, View,
    jst_midnight, sidebar_entries,
};
use super::widgets::article::{QueryMarks, article_lines};
use super::worker::{Cursor, Opened};

/// Everything the list query depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Filters.
    pub filters: Filters,
    /// Search, if any.
    pub search: Option<Search>,
}

/// Work for the event loop and the worker.
#[derive(Debug, Clone)]
pub enum Command {
    /// Load a page of the list.
    LoadPage {
        /// List generation the page is for.
        generation: u64,
        /// The query.
        query: ListQuery,
        /// Where to start (`None`: the newest).
        cursor: Option<Cursor>,
        /// How the page joins the list.
        mode: PageMode,
    },
    /// Load feed and tag counts and saved searches.
    LoadSidebar,
    /// Load an article, its analysis and flags (and where the search matches it).
    OpenArticle {
        /// Which.
        id: ArticleId,
        /// The active search, for highlighting.
        search: Option<Search>,
    },
    /// Store an article's flags (`previous` is restored if that fails).
    SetFlags {
        /// The article.
        id: ArticleId,
        /// New flags.
        flags: Flags,
        /// Flags before the change.
        previous: Flags,
    },
    /// Compute the incident timeline.
    LoadTimeline(Granularity),
    /// Refresh all feeds in the background.
    Refresh,
    /// Open a link (already checked to be http/https) in the browser.
    OpenLink(String),
    /// Save a search to the sidebar.
    SaveSearch {
        /// Name shown.
        name: String,
        /// The query.
        query: String,
    },
    /// Stop the terminal and the process until resumed (Ctrl-Z).
    Suspend,
}

/// Results from the worker and the background refresh.
#[derive(Debug)]
pub enum Msg {
    /// A page of the list.
    Page {
        /// Generation it was asked for.
        generation: u64,
        /// How it joins the list.
        mode: PageMode,
        /// Rows.
        rows: Vec<ListRow>,
        /// Where the next page starts.
        next: Option<Cursor>,
        /// Articles looked at to produce it (title filter).
        scanned: usize,
        /// Something the user should know about the page (a stale index, a fallback).
        note: Option<String>,
    },
    /// A list page failed.
    PageFailed {
        /// Generation it was asked for.
        generation: u64,
        /// Why.
        error: String,
    },
    /// Sidebar data.
    Sidebar(SidebarData),
    /// The sidebar failed to load.
    SidebarFailed(String),
    /// An article to show.
    Article(Box<Opened>),
    /// An article could not be loaded.
    ArticleFailed {
        /// Which.
        id: ArticleId,
        /// Why.
        error: String,
    },
    /// Flags were stored.
    FlagsSaved(ArticleId),
    /// Flags could not be stored; the change is undone.
    FlagsFailed {
        /// Which article.
        id: ArticleId,
        /// The flags to restore.
        previous: Flags,
        /// Why.
        error: String,
    },
    /// Timeline data.
    Timeline(TimelineData),
    /// The timeline could not be computed.
    TimelineFailed(String),
    /// Refresh progress.
    RefreshProgress {
        /// Feeds done.
        done: usize,
        /// Feeds in all.
        total: usize,
        /// New articles so far.
        new: usize,
    },
    /// Refresh finished, with a one-line summary.
    RefreshDone(String),
    /// Refresh could not run.
    RefreshFailed(String),
    /// A search was saved.
    SearchSaved(String),
    /// A one-line note for the status bar.
    Info(String),
    /// A one-line error for the status bar.
    Error(String),
}

/// The commands that fill a fresh reader: the sidebar and the first page.
pub fn start(app: &mut App) -> Vec<Command> {
    app.sidebar.load = Load::Loading;
    vec![Command::LoadSidebar, reload(app)]
}

/// Starts the list over for the current filters and search.
fn reload(app: &mut App) -> Command {
    let list = &mut app.list;
    list.generation += 1;
    list.rows.clear();
    list.next = None;
    list.exhausted = false;
    list.selected = 0;
    list.offset = 0;
    list.scanned = 0;
    list.load = Load::Loading;
    Command::LoadPage {
        generation: list.generation,
        query: query(app),
        cursor: None,
        mode: PageMode::Replace,
    }
}

fn query(app: &App) -> ListQuery {
    ListQuery {
        filters: app.filters.clone(),
        search: app.search.clone(),
    }
}

/// Asks for the next page when the selection nears the end of the loaded rows.
fn more(app: &mut App) -> Option<Command> {
    if !app.list.wants_more() {
        return None;
    }
    let cursor = app.list.next?;
    app.list.load = Load::Loading;
    Some(Command::LoadPage {
        generation: app.list.generation,
        query: query(app),
        cursor: Some(cursor),
        mode: PageMode::Append,
    })
}

/// The terminal was resized: re-wrap the open article for its new width.
pub fn resize(app: &mut App, cols: u16, rows: u16) {
    app.size = (cols, rows);
    rewrap(app);
    let a = areas(app);
    keep_visible(app, &a);
}

fn article_width(a: &Areas) -> u16 {
    a.article.width.saturating_sub(2)
}

fn rewrap(app: &mut App) {
    let width = article_width(&areas(app));
    let search = app.search.clone();
    if let Some(open) = app.article.as_mut() {
        if open.width != width {
            let marks = match (&search, &open.matches) {
                (Some(_), Some(spans)) => QueryMarks::Spans(spans),
                // Until the matcher's answer arrives, mark the words as typed.
                (Some(s), None) => QueryMarks::Words(&s.query),
                _ => QueryMarks::None,
            };
            let (lines, matches) = article_lines(
                &open.article,
                &open.analysis,
                open.flags,
                marks,
                usize::from(width),
            );
            open.lines = lines;
            open.match_lines = matches;
            open.width = width;
            open.scroll = open.scroll.min(open.lines.len().saturating_sub(1));
        }
    }
}

fn list_height(a: &Areas) -> usize {
    usize::from(a.list.height.saturating_sub(2)).max(1)
}

fn article_height(a: &Areas) -> usize {
    usize::from(a.article.height.saturating_sub(2)).max(1)
}

fn sidebar_height(a: &Areas) -> usize {
    usize::from(a.sidebar.height.saturating_sub(2)).max(1)
}

/// Scrolls list and sidebar so their selections are on screen.
fn keep_visible(app: &mut App, a: &Areas) {
    let h = list_height(a);
    let l = &mut app.list;
    l.selected = l.selected.min(l.rows.len().saturating_sub(1));
    if l.selected < l.offset {
        l.offset = l.selected;
    } else if l.selected >= l.offset + h {
        l.offset = l.selected + 1 - h;
    }
    let h = sidebar_height(a);
    let s = &mut app.sidebar;
    if s.selected < s.offset {
        s.offset = s.selected;
    } else if s.selected >= s.offset + h {
        s.offset = s.selected + 1 - h;
    }
}

/// One clock tick: status messages expire.
pub fn tick(app: &mut App) {
    app.ticks += 1;
    if app
        .status
        .as_ref()
        .is_some_and(|s| s.until_tick <= app.ticks)
    {
        app.status = None;
    }
}

/// Applies a user action.
pub fn update(app: &mut App, action: Action) -> Vec<Command> {
    let mut out = Vec::new();
    match action {
        Action::Quit => app.quit = true,
        Action::Suspend => out.push(Command::Suspend),
        Action::Down if app.help => {
            app.help_scroll = (app.help_scroll + 1).min(super::widgets::help::help_lines().len());
        }
        Action::Up if app.help => app.help_scroll = app.help_scroll.saturating_sub(1),
        Action::Help => {
            app.help = !app.help;
            app.help_scroll = 0;
        }
        _ if app.help => {}
        _ if app.prompt.is_some() => prompt_action(app, action, &mut out),
        _ if app.picker.is_some() => picker_action(app, action, &mut out),
        _ if app.view == View::Timeline => timeline_action(app, action, &mut out),
        _ => reader_action(app, action, &mut out),
    }
    let a = areas(app);
    keep_visible(app, &a);
    out
}

fn prompt_action(app: &mut App, action: Action, out: &mut Vec<Command>) {
    let Some(text) = app.prompt.as_mut() else {
        return;
    };
    match action {
        Action::Input(c) => text.push(c),
        Action::Backspace => {
            text.pop();
        }
        Action::Back => app.prompt = None,
        Action::Open => {
            let q = text.trim().to_string();
            app.prompt = None;
            app.search = if q.is_empty() {
                None
            } else {
                Some(Search { query: q })
            };
            app.focus = Pane::List;
            out.push(reload(app));
            out.extend(search_changed(app));
        }
        _ => {}
    }
}

/// The search changed: the open article's marks must follow; the matcher's spans come
/// with the article again.
fn search_changed(app: &mut App) -> Option<Command> {
    let open = app.article.as_mut()?;
    open.matches = None;
    open.width = u16::MAX;
    let id = open.article.id;
    rewrap(app);
    app.search.as_ref().map(|s| Command::OpenArticle {
        id,
        search: Some(s.clone()),
    })
}

fn picker_action(app: &mut App, action: Action, out: &mut Vec<Command>) {
    let Some(p) = app.picker.as_mut() else {
        return;
    };
    match action {
        Action::Input(c) => {
            p.query.push(c);
            p.selected = 0;
        }
        Action::Backspace => {
            p.query.pop();
            p.selected = 0;
        }
        Action::Up => p.selected = p.selected.saturating_sub(1),
        Action::Down if p.selected + 1 < p.visible().len() => p.selected += 1,
        Action::Back => app.picker = None,
        Action::Open => {
            let kind = p.kind;
            let choice = p.current().map(|it| it.value.clone());
            app.picker = None;
            if let Some(value) = choice {
                apply_pick(app, kind, value);
                app.focus = Pane::List;
                out.push(reload(app));
            }
        }
        _ => {}
    }
}

fn apply_pick(app: &mut App, kind: PickerKind, value: PickValue) {
    let f = &mut app.filters;
    match (kind, value) {
        (PickerKind::Feed, PickValue::Any) => f.feed = None,
        (PickerKind::Tag, PickValue::Any) => {
            f.tag = None;
            f.family = None;
        }
        (_, PickValue::Feed(id)) => f.feed = Some(id),
        (_, PickValue::Tag(t)) => {
            f.tag = Some(t);
            f.family = None;
        }
        (_, PickValue::Family(fam)) => {
            f.family = Some(fam);
            f.tag = None;
        }
    }
}

fn open_picker(app: &mut App, kind: PickerKind) {
    if app.sidebar.load != Load::Loaded {
        app.say(StatusKind::Info, "feeds and tags are still loading");
        return;
    }
    let mut items = vec![PickItem {
        label: match kind {
            PickerKind::Tag => "(any tag)".into(),
            PickerKind::Feed => "(any feed)".into(),
        },
        count: None,
        value: PickValue::Any,
    }];
    for e in &app.sidebar.entries {
        match (kind, e) {
            (PickerKind::Feed, SidebarEntry::Feed(f)) => items.push(PickItem {
                label: super::text::clean_line(f.feed.as_str()),
                count: Some(f.total),
                value: PickValue::Feed(f.feed.clone()),
            }),
            (PickerKind::Tag, SidebarEntry::Family { family, count }) => items.push(PickItem {
                label: format!("tag:{}", family.as_str()),
                count: Some(*count),
                value: PickValue::Family(*family),
            }),
            (PickerKind::Tag, SidebarEntry::Tag { tag, count, .. }) => items.push(PickItem {
                label: super::text::clean_line(tag.as_str()),
                count: Some(*count),
                value: PickValue::Tag(tag.clone()),
            }),
            _ => {}
        }
    }
    app.picker = Some(Picker {
        kind,
        query: String::new(),
        items,
        selected: 0,
    });
}

fn timeline_action(app: &mut App, action: Action, out: &mut Vec<Command>) {
    let t = &mut app.timeline;
    let (rows, cols) = t
        .data
        .as_ref()
        .map(|d| (d.rows.len(), d.buckets.len()))
        .unwrap_or((0, 0));
    match action {
        Action::Up => t.row = t.row.saturating_sub(1),
        Action::Down => t.row = (t.row + 1).min(rows.saturating_sub(1)),
        Action::Left => t.col = t.col.saturating_sub(1),
        Action::Right => t.col = (t.col + 1).min(cols.saturating_sub(1)),
        Action::Top => t.col = 0,
        Action::Bottom => t.col = cols.saturating_sub(1),
        Action::CycleBuckets => {
            t.granularity = t.granularity.cycle();
            t.load = Load::Loading;
            out.push(Command::LoadTimeline(t.granularity));
        }
        Action::ToggleTimeline | Action::Back => app.view = View::Reader,
        Action::Refresh => refresh(app, out),
        Action::Open => {
            let Some(d) = t.data.as_ref() else { return };
            let (Some(row), Some(&start)) = (d.rows.get(t.row), d.buckets.get(t.col)) else {
                return;
            };
            let end = d.granularity.next_start(start);
            app.filters = Filters {
                tag: Some(row.service.clone()),
                family: Some(crate::model::Family::Incident),
                since: Some(jst_midnight(start)),
                until: Some(jst_midnight(end)),
                ..Filters::default()
            };
            app.search = None;
            app.view = View::Reader;
            app.focus = Pane::List;
            out.push(reload(app));
        }
        _ => {}
    }
}

fn refresh(app: &mut App, out: &mut Vec<Command>) {
    if !app.can_refresh {
        app.say(
            StatusKind::Error,
            "refresh: no feeds configured for this reader",
        );
    } else if app.refresh != Refresh::Idle {
        app.say(StatusKind::Info, "refresh already running");
    } else {
        app.refresh = Refresh::Running {
            done: 0,
            total: 0,
            new: 0,
        };
        out.push(Command::Refresh);
    }
}

fn reader_action(app: &mut App, action: Action, out: &mut Vec<Command>) {
    let a = areas(app);
    match action {
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => move_cursor(app, action, &a, out),
        Action::NextPane => app.focus = app.focus.next(),
        Action::PrevPane => app.focus = app.focus.prev(),
        Action::Open => match app.focus {
            Pane::Sidebar => sidebar_open(app, out),
            Pane::List => {
                if let Some(row) = app.list.current() {
                    app.article_load = Load::Loading;
                    out.push(Command::OpenArticle {
                        id: row.id,
                        search: app.search.clone(),
                    });
                    app.focus = Pane::Article;
                }
            }
            Pane::Article => {}
        },
        Action::Back => {
            app.focus = match app.focus {
                Pane::Article | Pane::Sidebar => Pane::List,
                Pane::List => Pane::List,
            }
        }
        Action::StartSearch => {
            app.prompt = Some(
                app.search
                    .as_ref()
                    .map(|s| s.query.clone())
                    .unwrap_or_default(),
            );
        }
        Action::NextMatch | Action::PrevMatch => next_match(app, action == Action::NextMatch, &a),
        Action::PickTag => open_picker(app, PickerKind::Tag),
        Action::PickFeed => open_picker(app, PickerKind::Feed),
        Action::ToggleUnread => {
            app.filters.unread_only = !app.filters.unread_only;
            out.push(reload(app));
        }
        Action::ClearFilters => {
            app.filters = Filters::default();
            app.search = None;
            out.push(reload(app));
            out.extend(search_changed(app));
        }
        Action::ToggleStar => toggle_flag(app, out, |f| f.starred = !f.starred),
        Action::ToggleRead => toggle_flag(app, out, |f| f.read = !f.read),
        Action::Refresh => refresh(app, out),
        Action::OpenLink => {
            let url = match app.focus {
                Pane::Article => app.article.as_ref().map(|o| o.article.draft.url.clone()),
                _ => app.list.current().map(|r| r.url.clone()),
            };
            match url {
                Some(u) => match crate::sanitize::safe_link(&u) {
                    Some(ok) => out.push(Command::OpenLink(ok.to_string())),
                    None => app.say(
                        StatusKind::Error,
                        format!(
                            "not opening {}: only http and https links open",
                            super::text::truncate(&super::text::clean_line(&u), 60)
                        ),
                    ),
                },
                None => app.say(StatusKind::Info, "no article selected"),
            }
        }
        Action::SaveSearch => match &app.search {
            Some(s) => out.push(Command::SaveSearch {
                name: s.query.clone(),
                query: s.query.clone(),
            }),
            None => app.say(StatusKind::Info, "no search to save: / starts one"),
        },
        Action::ToggleTimeline => {
            app.view = View::Timeline;
            if app.timeline.load == Load::Idle {
                app.timeline.load = Load::Loading;
                out.push(Command::LoadTimeline(app.timeline.granularity));
            }
        }
        _ => {}
    }
}

fn move_cursor(app: &mut App, action: Action, a: &Areas, out: &mut Vec<Command>) {
    match app.focus {
        Pane::List => {
            let n = app.list.rows.len();
            if n == 0 {
                return;
            }
            let page = list_height(a);
            let s = app.list.selected;
            app.list.selected = match action {
                Action::Up => s.saturating_sub(1),
                Action::Down => (s + 1).min(n - 1),
                Action::Top => 0,
                Action::Bottom => n - 1,
                Action::PageUp => s.saturating_sub(page),
                _ => (s + page).min(n - 1),
            };
            if action == Action::Bottom && !app.list.exhausted {
                app.say(StatusKind::Info, "last loaded article; more are loading");
            }
            out.extend(more(app));
        }
        Pane::Article => {
            let page = article_height(a);
            if let Some(open) = app.article.as_mut() {
                let last = open.lines.len().saturating_sub(page);
                let s = open.scroll;
                open.scroll = match action {
                    Action::Up => s.saturating_sub(1),
                    Action::Down => (s + 1).min(last),
                    Action::Top => 0,
                    Action::Bottom => last,
                    Action::PageUp => s.saturating_sub(page.saturating_sub(1).max(1)),
                    _ => (s + page.saturating_sub(1).max(1)).min(last),
                };
            }
        }
        Pane::Sidebar => {
            let entries = &app.sidebar.entries;
            let selectable: Vec<usize> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.selectable())
                .map(|(i, _)| i)
                .collect();
            let Some(pos) = selectable
                .iter()
                .position(|&i| i >= app.sidebar.selected)
                .or(selectable.len().checked_sub(1))
            else {
                return;
            };
            let page = sidebar_height(a);
            let last = selectable.len() - 1;
            let new = match action {
                Action::Up => pos.saturating_sub(1),
                Action::Down => (pos + 1).min(last),
                Action::Top => 0,
                Action::Bottom => last,
                Action::PageUp => pos.saturating_sub(page),
                _ => (pos + page).min(last),
            };
            app.sidebar.selected = selectable[new];
        }
    }
}

fn sidebar_open(app: &mut App, out: &mut Vec<Command>) {
    let Some(entry) = app.sidebar.entries.get(app.sidebar.selected).cloned() else {
        return;
    };
    match entry {
        SidebarEntry::Header(_) => return,
        SidebarEntry::All { .. } => {
            app.filters.feed = None;
            app.filters.tag = None;
            app.filters.family = None;
            app.filters.since = None;
            app.filters.until = None;
        }
        SidebarEntry::Feed(f) => app.filters.feed = Some(f.feed),
        SidebarEntry::Family { family, .. } => {
            app.filters.family = Some(family);
            app.filters.tag = None;
        }
        SidebarEntry::Tag { tag, .. } => {
            app.filters.tag = Some(tag);
            app.filters.family = None;
        }
        SidebarEntry::Saved(s) => {
            app.search = Some(Search { query: s.query });
            out.extend(search_changed(app));
        }
    }
    app.focus = Pane::List;
    out.push(reload(app));
}

fn next_match(app: &mut App, forward: bool, a: &Areas) {
    if app.search.is_none() {
        app.say(StatusKind::Info, "no search: / starts one");
        return;
    }
    if app.focus == Pane::Article {
        let page = article_height(a);
        if let Some(open) = app.article.as_mut() {
            let target = if forward {
                open.match_lines.iter().copied().find(|&l| l > open.scroll)
            } else {
                open.match_lines
                    .iter()
                    .rev()
                    .copied()
                    .find(|&l| l < open.scroll)
            };
            match target {
                Some(l) => open.scroll = l.min(open.lines.len().saturating_sub(page)),
                None => app.say(StatusKind::Info, "no more matches in this article"),
            }
        }
        return;
    }
    // Every row of a search is a match: n/N step through them.
    let n = app.list.rows.len();
    let s = app.list.selected;
    let next = if forward { s + 1 } else { s.wrapping_sub(1) };
    if next < n {
        app.list.selected = next;
    } else {
        app.say(StatusKind::Info, "no more results loaded");
    }
}

fn toggle_flag(app: &mut App, out: &mut Vec<Command>, change: impl Fn(&mut Flags)) {
    let target = match (app.focus, &app.article) {
        (Pane::Article, Some(open)) => Some((open.article.id, open.flags)),
        _ => app.list.current().map(|r| (r.id, r.flags)),
    };
    let Some((id, previous)) = target else {
        app.say(StatusKind::Info, "no article selected");
        return;
    };
    let mut flags = previous;
    change(&mut flags);
    set_local_flags(app, id, flags);
    out.push(Command::SetFlags {
        id,
        flags,
        previous,
    });
}

fn set_local_flags(app: &mut App, id: ArticleId, flags: Flags) {
    if let Some(i) = app.list.position(id) {
        app.list.rows[i].flags = flags;
    }
    if let Some(open) = app.article.as_mut() {
        if open.article.id == id && open.flags != flags {
            open.flags = flags;
            open.width = u16::MAX; // header shows the flags
        }
    }
    rewrap(app);
}

/// Applies a worker message.
pub fn apply(app: &mut App, msg: Msg) -> Vec<Command> {
    let mut out = Vec::new();
    match msg {
        Msg::Page {
            generation,
            mode,
            rows,
            next,
            scanned,
            note,
        } => {
            if generation != app.list.generation {
                return out;
            }
            if let Some(n) = note {
                app.say(StatusKind::Info, n);
            }
            let list = &mut app.list;
            list.scanned += scanned;
            match mode {
                PageMode::Replace => {
                    list.rows = rows;
                    list.selected = 0;
                    list.offset = 0;
                    list.next = next;
                    list.exhausted = list.next.is_none();
                }
                PageMode::Append => {
                    list.rows.extend(rows);
                    list.next = next;
                    list.exhausted = list.next.is_none();
                }
                PageMode::Head => merge_head(list, rows, next),
            }
            list.load = Load::Loaded;
            out.extend(more(app));
        }
        Msg::PageFailed { generation, error } => {
            if generation == app.list.generation {
                app.list.load = Load::Error(error.clone());
                app.say(StatusKind::Error, format!("list: {error}"));
            }
        }
        Msg::Sidebar(data) => {
            let entries = sidebar_entries(&data);
            let sel = app.sidebar.selected.min(entries.len().saturating_sub(1));
            app.sidebar.entries = entries;
            app.sidebar.selected = if app.sidebar.entries.get(sel).is_some_and(|e| e.selectable()) {
                sel
            } else {
                0
            };
            app.sidebar.load = Load::Loaded;
        }
        Msg::SidebarFailed(e) => {
            app.sidebar.load = Load::Error(e.clone());
            app.say(StatusKind::Error, format!("sidebar: {e}"));
        }
        Msg::Article(loaded) => {
            let Opened {
                article,
                analysis,
                mut flags,
                matches,
            } = *loaded;
            let id = article.id;
            // A key pressed while the article loaded (s, r) already changed the row and is
            // on its way to the store; the row's flags are the newer truth.
            if let Some(i) = app.list.position(id) {
                flags = app.list.rows[i].flags;
            }
            // The same article again (new search marks): keep the reading position.
            let scroll = app
                .article
                .as_ref()
                .filter(|o| o.article.id == id)
                .map_or(0, |o| o.scroll);
            if !flags.read {
                // Opening an article reads it.
                let previous = flags;
                flags.read = true;
                out.push(Command::SetFlags {
                    id,
                    flags,
                    previous,
                });
            }
            app.article = Some(OpenArticle {
                article,
                analysis,
                flags,
                matches,
                scroll,
                lines: Vec::new(),
                match_lines: Vec::new(),
                width: u16::MAX,
            });
            app.article_load = Load::Loaded;
            set_local_flags(app, id, flags);
            rewrap(app);
        }
        Msg::ArticleFailed { id, error } => {
            app.article_load = Load::Error(error.clone());
            app.say(StatusKind::Error, format!("article {id}: {error}"));
        }
        Msg::FlagsSaved(_) => out.push(Command::LoadSidebar),
        Msg::FlagsFailed {
            id,
            previous,
            error,
        } => {
            set_local_flags(app, id, previous);
            app.say(StatusKind::Error, format!("could not save flags: {error}"));
        }
        Msg::Timeline(data) => {
            app.timeline.row = app.timeline.row.min(data.rows.len().saturating_sub(1));
            // Start on the selected service's latest coverage.
            app.timeline.col = data
                .rows
                .get(app.timeline.row)
                .and_then(|r| r.counts.iter().rposition(|&c| c > 0))
                .unwrap_or(data.buckets.len().saturating_sub(1));
            app.timeline.data = Some(data);
            app.timeline.load = Load::Loaded;
        }
        Msg::TimelineFailed(e) => {
            app.timeline.load = Load::Error(e.clone());
            app.say(StatusKind::Error, format!("timeline: {e}"));
        }
        Msg::RefreshProgress { done, total, new } => {
            let before = match app.refresh {
                Refresh::Running { new, .. } => new,
                Refresh::Idle => 0,
            };
            app.refresh = Refresh::Running { done, total, new };
            if new > before {
                out.extend(head_reload(app));
            }
        }
        Msg::RefreshDone(summary) => {
            app.refresh = Refresh::Idle;
            app.say(StatusKind::Info, summary);
            out.extend(head_reload(app));
            app.timeline.load = Load::Idle; // recomputed when next shown
            if app.view == View::Timeline {
                app.timeline.load = Load::Loading;
                out.push(Command::LoadTimeline(app.timeline.granularity));
            }
        }
        Msg::RefreshFailed(e) => {
            app.refresh = Refresh::Idle;
            app.say(StatusKind::Error, format!("refresh: {e}"));
        }
        Msg::SearchSaved(name) => {
            app.say(
                StatusKind::Info,
                format!("saved search “{}”", super::text::clean_line(&name)),
            );
            out.push(Command::LoadSidebar);
        }
        Msg::Info(t) => app.say(StatusKind::Info, super::text::clean_line(&t)),
        Msg::Error(t) => app.say(StatusKind::Error, super::text::clean_line(&t)),
    }
    let a = areas(app);
    keep_visible(app, &a);
    out
}

/// New articles arrived: fetch the newest page again (merged on top) and the counts.
fn head_reload(app: &mut App) -> Vec<Command> {
    vec![
        Command::LoadSidebar,
        Command::LoadPage {
            generation: app.list.generation,
            query: query(app),
            cursor: None,
            mode: PageMode::Head,
        },
    ]
}

/// Takes in a fresh first page after new articles arrived. New articles can be older than
/// the top (feeds publish late), so the fresh page replaces every loaded row down to its
/// last one; older loaded rows stay below it, with their cursor. The selection stays on the
/// same article.
fn merge_head(list: &mut super::state::ArticleList, rows: Vec<ListRow>, next: Option<Cursor>) {
    let keep = list.current().map(|r| r.id);
    let order = |r: &ListRow| (r.published, r.id);
    let tail: Vec<ListRow> = match (rows.last(), next.is_some()) {
        (Some(boundary), true) => {
            let b = order(boundary);
            list.rows.drain(..).filter(|r| order(r) < b).collect()
        }
        _ => Vec::new(),
    };
    if tail.is_empty() {
        list.next = next;
    }
    // else: the old cursor continues after the old last row, which is still loaded.
    list.rows = rows;
    list.rows.extend(tail);
    list.exhausted = list.next.is_none();
    list.selected = keep.and_then(|id| list.position(id)).unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Analysis, ArticleDraft, FeedId};
    use crate::tui::state::StatusKind;
    use chrono::{TimeZone, Utc};

    fn row(id: u64) -> ListRow {
        ListRow {
            id: ArticleId(id),
            published: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
            feed: "f".into(),
            title: format!("t{id}"),
            url: format!("http://127.0.0.1/{id}"),
            chips: vec![],
            flags: Flags::default(),
        }
    }

    fn page(app: &App, ids: &[u64], mode: PageMode, more: bool) -> Msg {
        Msg::Page {
            generation: app.list.generation,
            mode,
            rows: ids.iter().map(|&i| row(i)).collect(),
            next: more.then_some(Cursor::Search(crate::search::Cursor(ids.len()))),
            scanned: 0,
            note: None,
        }
    }

    fn loaded(rows: &[u64]) -> App {
        let mut app = App::new((120, 40), "t");
        let _ = start(&mut app);
        let msg = page(&app, rows, PageMode::Replace, false);
        let _ = apply(&mut app, msg);
        app
    }

    #[test]
    fn stale_pages_are_dropped() {
        let mut app = loaded(&[3, 2, 1]);
        let old = page(&app, &[9], PageMode::Replace, false);
        let _ = update(&mut app, Action::ToggleUnread); // new generation
        let _ = apply(&mut app, old);
        assert!(
            app.list.rows.is_empty(),
            "a page of the old query must not show"
        );
    }

    #[test]
    fn new_articles_go_on_top_and_the_selection_stays() {
        let mut app = loaded(&[3, 2, 1]);
        let _ = update(&mut app, Action::Down);
        assert_eq!(app.list.current().unwrap().id, ArticleId(2));
        let msg = page(&app, &[5, 4, 3, 2, 1], PageMode::Head, false);
        let _ = apply(&mut app, msg);
        let ids: Vec<u64> = app.list.rows.iter().map(|r| r.id.0).collect();
        assert_eq!(ids, vec![5, 4, 3, 2, 1]);
        assert_eq!(app.list.current().unwrap().id, ArticleId(2));
    }

    #[test]
    fn late_articles_older_than_the_top_are_merged_in_place() {
        let mut app = loaded(&[]);
        // Two pages loaded: 10..=1 in steps, newest first; dates follow ids.
        let first = page(&app, &[10, 8, 6], PageMode::Replace, true);
        let _ = apply(&mut app, first);
        let second = page(&app, &[4, 2], PageMode::Append, false);
        let _ = apply(&mut app, second);
        app.list.selected = 3; // article 4
        // A fresh first page now also holds 9 and 7, late arrivals below the top.
        let mut fresh = page(&app, &[10, 9, 8, 7, 6], PageMode::Head, true);
        if let Msg::Page { rows, .. } = &mut fresh {
            for r in rows.iter_mut() {
                r.published += chrono::Duration::seconds(r.id.0 as i64);
            }
        }
        for r in app.list.rows.iter_mut() {
            r.published += chrono::Duration::seconds(r.id.0 as i64);
        }
        let _ = apply(&mut app, fresh);
        let ids: Vec<u64> = app.list.rows.iter().map(|r| r.id.0).collect();
        assert_eq!(ids, vec![10, 9, 8, 7, 6, 4, 2]);
        assert_eq!(app.list.current().unwrap().id, ArticleId(4));
    }

    #[test]
    fn refresh_progress_reloads_only_when_new_articles_arrive() {
        let mut app = loaded(&[1]);
        app.can_refresh = true;
        let cmds = update(&mut app, Action::Refresh);
        assert!(matches!(cmds.as_slice(), [Command::Refresh]));
        // A second R while running does not start another.
        assert!(update(&mut app, Action::Refresh).is_empty());
        let none = apply(
            &mut app,
            Msg::RefreshProgress {
                done: 1,
                total: 3,
                new: 0,
            },
        );
        assert!(none.is_empty());
        let some = apply(
            &mut app,
            Msg::RefreshProgress {
                done: 2,
                total: 3,
                new: 4,
            },
        );
        assert!(some.iter().any(|c| matches!(
            c,
            Command::LoadPage {
                mode: PageMode::Head,
                ..
            }
        )));
        let _ = apply(&mut app, Msg::RefreshDone("3 feeds, 4 new".into()));
        assert_eq!(app.refresh, crate::tui::state::Refresh::Idle);
        assert_eq!(app.status.as_ref().unwrap().text, "3 feeds, 4 new");
    }

    #[test]
    fn refresh_without_feeds_says_so() {
        let mut app = loaded(&[1]);
        assert!(update(&mut app, Action::Refresh).is_empty());
        assert_eq!(app.status.as_ref().unwrap().kind, StatusKind::Error);
    }

    #[test]
    fn flag_changes_are_optimistic_and_undone_on_failure() {
        let mut app = loaded(&[1]);
        let cmds = update(&mut app, Action::ToggleStar);
        assert!(matches!(cmds.as_slice(), [Command::SetFlags { flags, .. }] if flags.starred));
        assert!(app.list.rows[0].flags.starred);
        let _ = apply(
            &mut app,
            Msg::FlagsFailed {
                id: ArticleId(1),
                previous: Flags::default(),
                error: "disk full".into(),
            },
        );
        assert!(!app.list.rows[0].flags.starred);
        assert!(app.status.as_ref().unwrap().text.contains("disk full"));
    }

    #[test]
    fn search_prompt_edits_and_cancels() {
        let mut app = loaded(&[1]);
        let _ = update(&mut app, Action::StartSearch);
        for c in "7payx".chars() {
            let _ = update(&mut app, Action::Input(c));
        }
        let _ = update(&mut app, Action::Backspace);
        assert_eq!(app.prompt.as_deref(), Some("7pay"));
        let _ = update(&mut app, Action::Back);
        assert!(app.prompt.is_none() && app.search.is_none());
        let _ = update(&mut app, Action::StartSearch);
        let _ = update(&mut app, Action::Input('q'));
        let cmds = update(&mut app, Action::Open);
        assert_eq!(app.search.as_ref().unwrap().query, "q");
        assert!(
            matches!(cmds.as_slice(), [Command::LoadPage { query, .. }] if query.search.is_some())
        );
    }

    /// The worker's answer to opening article `id` (stored unread, no analysis).
    fn opened(id: u64, body: &str) -> Msg {
        let at = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        Msg::Article(Box::new(Opened {
            article: crate::model::Article {
                id: ArticleId(id),
                draft: ArticleDraft {
                    feed: FeedId::new("f"),
                    url: format!("http://127.0.0.1/{id}"),
                    guid: None,
                    title: format!("t{id}"),
                    summary: String::new(),
                    body: body.to_string(),
                    published: at,
                    fetched: at,
                    content_hash: "h".into(),
                },
            },
            analysis: Analysis::default(),
            flags: Flags::default(),
            matches: None,
        }))
    }

    #[test]
    fn opening_an_unread_article_marks_it_read() {
        let mut app = loaded(&[1]);
        let cmds = apply(&mut app, opened(1, "本文"));
        assert!(matches!(cmds.as_slice(), [Command::SetFlags { flags, .. }] if flags.read));
        assert!(app.list.rows[0].flags.read);
        assert!(!app.article.as_ref().unwrap().lines.is_empty());
    }

    #[test]
    fn a_star_given_while_the_article_loads_survives_marking_it_read() {
        let mut app = loaded(&[1]);
        let _ = update(&mut app, Action::Open);
        // s before the article arrives: the row is starred, a write is queued.
        let _ = update(&mut app, Action::ToggleStar);
        assert!(app.list.rows[0].flags.starred);
        // The article was read from the store before the star was written.
        let cmds = apply(&mut app, opened(1, ""));
        assert!(
            matches!(cmds.as_slice(), [Command::SetFlags { flags, .. }] if flags.read && flags.starred),
            "{cmds:?}"
        );
        assert!(app.article.as_ref().unwrap().flags.starred);
    }

    #[test]
    fn timeline_enter_filters_the_bucket() {
        use crate::tui::state::{IncidentItem, bucketize};
        let mut app = loaded(&[1]);
        let _ = update(&mut app, Action::ToggleTimeline);
        let d = chrono::NaiveDate::from_ymd_opt(2019, 7, 4).unwrap();
        let data = bucketize(
            &[IncidentItem {
                day: d,
                services: vec![crate::model::TagId::new("7pay")],
                incidents: vec![crate::model::TagId::new("7pay-2019")],
            }],
            Granularity::Week,
            100,
        );
        let _ = apply(&mut app, Msg::Timeline(data));
        let cmds = update(&mut app, Action::Open);
        assert_eq!(app.view, View::Reader);
        assert_eq!(app.filters.tag.as_ref().unwrap().as_str(), "7pay");
        assert_eq!(
            app.filters.since,
            Some(jst_midnight(
                chrono::NaiveDate::from_ymd_opt(2019, 7, 1).unwrap()
            ))
        );
        assert_eq!(
            app.filters.until,
            Some(jst_midnight(
                chrono::NaiveDate::from_ymd_opt(2019, 7, 8).unwrap()
            ))
        );
        assert!(matches!(cmds.as_slice(), [Command::LoadPage { .. }]));
    }
}
