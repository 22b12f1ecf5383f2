//! The I/O edge: carries out [`Command`]s against the store (and the OS, for opening links)
//! and answers with [`Msg`]s. The event loop runs it on its own thread; tests call
//! [`Worker::execute`] directly.

use std::ffi::OsString;
use std::process::Stdio;

use crate::model::{Analysis, Article, ArticleId, Family, Flags, Span};
use crate::search::{self, Compiled, Doc};
use crate::store::{ListFilter, Store};
use crate::tokenize::Tokenizer;

use super::state::{
    Chip, FeedRow, Granularity, IncidentItem, ListRow, PAGE_SIZE, SavedSearch, Search, SidebarData,
    bucketize, jst_day,
};
use super::text::clean_line;
use super::update::{Command, ListQuery, Msg};

/// Where a list page continues: the store's position in a plain list, or the offset into
/// the ranked results of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// A page of the store's newest-first list.
    List(crate::store::Cursor),
    /// A page of the search engine's ranking.
    Search(search::Cursor),
}

/// Ranked results taken per engine request while searching.
const SEARCH_CHUNK: usize = 250;
/// Ranked results one search request examines against the list's filters before handing
/// back a (possibly short) page; the list asks for more as the user scrolls.
const SEARCH_BUDGET: usize = 2_000;
/// Tag chips kept per row.
const MAX_CHIPS: usize = 6;
/// Timeline buckets kept (the newest).
const MAX_BUCKETS: usize = 5_000;
/// Incident articles the timeline reads at most (the newest), so its cost is bounded.
const TIMELINE_LIMIT: usize = 200_000;

/// Runs commands against one store.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    browser: Option<OsString>,
}

/// Compiles a query of kessai's query language (a malformed query names the column).
fn compile(text: &str) -> Result<Compiled, String> {
    let q = search::parse(text).map_err(|e| format!("bad query: {e}"))?;
    Compiled::new(&q).map_err(|e| format!("bad query: {e}"))
}

/// A list row of an article with its analysis and flags.
fn row_from(a: Article, analysis: &Analysis, flags: Flags) -> ListRow {
    let d = a.draft;
    ListRow {
        id: a.id,
        published: d.published,
        feed: clean_line(d.feed.as_str()),
        title: clean_line(&d.title),
        url: d.url,
        chips: chips(analysis),
        flags,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    clean_line(&e.to_string())
}

/// The chips of an analysis: incident, service, exchange, threat, control, actor order;
/// within a family the most mentioned first.
pub fn chips(analysis: &Analysis) -> Vec<Chip> {
    let rank = |f: Family| {
        Family::ALL
            .iter()
            .position(|x| *x == f)
            .unwrap_or(usize::MAX)
    };
    let mut tags: Vec<_> = analysis.tags.iter().collect();
    tags.sort_by(|a, b| {
        rank(a.family)
            .cmp(&rank(b.family))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    tags.into_iter()
        .take(MAX_CHIPS)
        .map(|t| Chip {
            tag: t.tag.clone(),
            family: t.family,
        })
        .collect()
}

impl Worker {
    /// A worker on `store`; links open with `browser` (a program name), else `$BROWSER`,
    /// else `xdg-open`.
    pub fn new(store: Store, browser: Option<OsString>) -> Worker {
        Worker { store, browser }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Carries out one command. `Refresh` and `Suspend` belong to the event loop and give
    /// nothing here.
    pub fn execute(&self, cmd: Command) -> Vec<Msg> {
        match cmd {
            Command::LoadPage {
                generation,
                query,
                cursor,
                mode,
            } => vec![match self.load_page(&query, cursor) {
                Ok(p) => Msg::Page {
                    generation,
                    mode,
                    rows: p.rows,
                    next: p.next,
                    scanned: p.scanned,
                    note: p.note,
                },
                Err(error) => Msg::PageFailed { generation, error },
            }],
            Command::LoadSidebar => vec![match self.sidebar() {
                Ok(d) => Msg::Sidebar(d),
                Err(e) => Msg::SidebarFailed(e),
            }],
            Command::OpenArticle { id, search } => vec![match self.article(id, search.as_ref()) {
                Ok(m) => m,
                Err(error) => Msg::ArticleFailed { id, error },
            }],
            Command::SetFlags {
                id,
                flags,
                previous,
            } => vec![match self.store.set_flags(id, flags) {
                Ok(()) => Msg::FlagsSaved(id),
                Err(e) => Msg::FlagsFailed {
                    id,
                    previous,
                    error: err(e),
                },
            }],
            Command::LoadTimeline(g) => vec![match self.timeline(g) {
                Ok(d) => Msg::Timeline(d),
                Err(e) => Msg::TimelineFailed(e),
            }],
            Command::SaveSearch { name, query } => vec![match self.save_search(&name, &query) {
                Ok(()) => Msg::SearchSaved(name),
                Err(e) => Msg::Error(format!("could not save the search: {e}")),
            }],
            Command::OpenLink(url) => vec![self.open_link(&url)],
            Command::Refresh | Command::Suspend => Vec::new(),
        }
    }

    fn row(&self, id: ArticleId) -> Result<Option<ListRow>, String> {
        let Some(a) = self.store.get(id).map_err(err)? else {
            return Ok(None); // removed between the page and now
        };
        self.row_of(a).map(Some)
    }

    fn row_of(&self, a: Article) -> Result<ListRow, String> {
        let analysis = self.store.analysis(a.id).map_err(err)?.unwrap_or_default();
        let flags = self.store.flags(a.id).map_err(err)?.unwrap_or_default();
        Ok(row_from(a, &analysis, flags))
    }

    /// One page of rows: straight from the store, or the search engine's ranking of the
    /// query (at most [`SEARCH_BUDGET`] ranked articles looked at) within the list's filters.
    fn load_page(&self, q: &ListQuery, cursor: Option<Cursor>) -> Result<LoadedPage, String> {
        let filter = q.filters.clone();
        let Some(s) = &q.search else {
            let from = match cursor {
                Some(Cursor::List(c)) => Some(c),
                _ => None,
            };
            let page = self.store.page(&filter, from, PAGE_SIZE).map_err(err)?;
            let mut rows = Vec::with_capacity(page.items.len());
            for id in page.items {
                rows.extend(self.row(id)?);
            }
            return Ok(LoadedPage {
                rows,
                next: page.next.map(Cursor::List),
                scanned: 0,
                note: None,
            });
        };
        let from = match cursor {
            Some(Cursor::Search(c)) => Some(c),
            _ => None,
        };
        self.search_page(s, &filter, from)
    }

    /// Ranks the query with the search index (BM25, title hits weighted up; the same engine
    /// as `kessai search`) and keeps the articles that pass the list's own filters.
    fn search_page(
        &self,
        s: &Search,
        filter: &ListFilter,
        cursor: Option<search::Cursor>,
    ) -> Result<LoadedPage, String> {
        let query = search::parse(&s.query).map_err(|e| format!("bad query: {e}"))?;
        let engine = search::Engine::new(&self.store).map_err(err)?;
        let compiled = engine
            .compile(&query)
            .map_err(|e| format!("bad query: {e}"))?;
        let note = engine.stale().map_err(err)?.map(|st| {
            format!(
                "search index covers {} of {} articles: run `kessai reindex`",
                st.indexed, st.stored
            )
        });
        let mut rows = Vec::new();
        let mut scanned = 0;
        let mut cur = cursor;
        loop {
            let ranked = engine
                .rank(&compiled, search::Sort::Relevance, SEARCH_CHUNK, cur)
                .map_err(err)?;
            for scored in ranked.items {
                scanned += 1;
                let id = ArticleId(scored.id);
                let Some(a) = self.store.get(id).map_err(err)? else {
                    continue; // removed since the index was read
                };
                let analysis = self.store.analysis(id).map_err(err)?.unwrap_or_default();
                let flags = self.store.flags(id).map_err(err)?.unwrap_or_default();
                if filter.accepts(&a, &analysis, flags) {
                    rows.push(row_from(a, &analysis, flags));
                }
            }
            cur = ranked.next;
            if cur.is_none() || rows.len() >= PAGE_SIZE || scanned >= SEARCH_BUDGET {
                return Ok(LoadedPage {
                    rows,
                    next: cur.map(Cursor::Search),
                    scanned,
                    note,
                });
            }
        }
    }

    fn sidebar(&self) -> Result<SidebarData, String> {
        let s = &self.store;
        let mut feeds: Vec<FeedRow> = s
            .feed_counts()
            .map_err(err)?
            .into_iter()
            .map(|c| FeedRow {
                feed: c.feed,
                total: c.total,
                unread: c.unread,
            })
            .collect();
        feeds.sort_by(|a, b| a.feed.cmp(&b.feed));
        Ok(SidebarData {
            total: s.article_count().map_err(err)?,
            unread: s.unread_count().map_err(err)?,
            feeds,
            tags: s.tag_counts().map_err(err)?,
            saved: self.saved_searches()?,
        })
    }

    /// The saved searches `kessai search --save` and the reader's `+` share.
    fn saved_searches(&self) -> Result<Vec<SavedSearch>, String> {
        Ok(search::saved::list(&self.store)
            .map_err(err)?
            .into_iter()
            .map(|s| SavedSearch {
                name: s.name,
                query: s.query,
            })
            .collect())
    }

    fn save_search(&self, name: &str, query: &str) -> Result<(), String> {
        // Refuse what would not run again.
        compile(query)?;
        search::saved::save(&self.store, name, query).map_err(err)?;
        self.store.flush().map_err(err)
    }

    fn article(&self, id: ArticleId, search: Option<&Search>) -> Result<Msg, String> {
        let a = self
            .store
            .get(id)
            .map_err(err)?
            .ok_or_else(|| "no longer in the store".to_string())?;
        let analysis = self.store.analysis(id).map_err(err)?.unwrap_or_default();
        let flags: Flags = self.store.flags(id).map_err(err)?.unwrap_or_default();
        let matches = search.and_then(|s| highlights(&a, &s.query));
        Ok(Msg::Article(Box::new(Opened {
            article: a,
            analysis,
            flags,
            matches,
        })))
    }

    /// Reads the incident-tagged articles (newest first, bounded) and buckets them.
    fn timeline(&self, g: Granularity) -> Result<super::state::TimelineData, String> {
        let filter = ListFilter {
            family: Some(Family::Incident),
            ..ListFilter::default()
        };
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.page(&filter, cursor, 1_000).map_err(err)?;
            for id in page.items {
                let (Some(a), Some(an)) = (
                    self.store.get(id).map_err(err)?,
                    self.store.analysis(id).map_err(err)?,
                ) else {
                    continue;
                };
                let incidents: Vec<_> = an
                    .tags
                    .iter()
                    .filter(|t| t.family == Family::Incident)
                    .map(|t| t.tag.clone())
                    .collect();
                if incidents.is_empty() {
                    continue;
                }
                let mut services: Vec<_> = an
                    .tags
                    .iter()
                    .filter(|t| matches!(t.family, Family::Service | Family::Exchange))
                    .map(|t| t.tag.clone())
                    .collect();
                if services.is_empty() {
                    services = incidents.clone();
                }
                items.push(IncidentItem {
                    day: jst_day(a.draft.published),
                    services,
                    incidents,
                });
            }
            cursor = page.next;
            if cursor.is_none() || items.len() >= TIMELINE_LIMIT {
                break;
            }
        }
        Ok(bucketize(&items, g, MAX_BUCKETS))
    }

    /// Opens an http(s) link with the browser program — never through a shell, the URL is
    /// one argument. `$BROWSER` is used as a program name only.
    fn open_link(&self, url: &str) -> Msg {
        let Some(url) = crate::sanitize::safe_link(url) else {
            return Msg::Error("only http and https links open".into());
        };
        let program = self
            .browser
            .clone()
            .or_else(|| std::env::var_os("BROWSER").filter(|b| !b.is_empty()))
            .unwrap_or_else(|| OsString::from("xdg-open"));
        match std::process::Command::new(&program)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                // Reap it so no zombie is left; the browser may outlive this thread.
                std::thread::spawn(move || child.wait());
                Msg::Info(format!("opened {url}"))
            }
            Err(e) => Msg::Error(format!(
                "could not start {}: {e}",
                program.to_string_lossy()
            )),
        }
    }
}

/// Where the search's words occur in the article, as the matcher finds them (whole tokens,
/// spelling variants); `None` when the query does not compile.
fn highlights(a: &Article, query: &str) -> Option<Vec<Span>> {
    let compiled = compile(query).ok()?;
    Some(compiled.highlights(&Doc::new(a, Tokenizer::shared())))
}

/// A page of rows as the worker produced it.
struct LoadedPage {
    rows: Vec<ListRow>,
    next: Option<Cursor>,
    scanned: usize,
    note: Option<String>,
}

/// An article to show, with where the search matched it.
#[derive(Debug)]
pub struct Opened {
    /// The article.
    pub article: Article,
    /// Its tags and facts.
    pub analysis: Analysis,
    /// Read / starred.
    pub flags: Flags,
    /// The search's matches, when a search is active.
    pub matches: Option<Vec<Span>>,
}

/// Drops commands made pointless by later ones in the same batch: sidebar and timeline
/// loads beyond the last, and list pages of older generations.
pub fn coalesce(cmds: Vec<Command>) -> Vec<Command> {
    let newest_gen = cmds
        .iter()
        .filter_map(|c| match c {
            Command::LoadPage { generation, .. } => Some(*generation),
            _ => None,
        })
        .max();
    let last_sidebar = cmds.iter().rposition(|c| matches!(c, Command::LoadSidebar));
    let last_timeline = cmds
        .iter()
        .rposition(|c| matches!(c, Command::LoadTimeline(_)));
    cmds.into_iter()
        .enumerate()
        .filter(|(i, c)| match c {
            Command::LoadSidebar => Some(*i) == last_sidebar,
            Command::LoadTimeline(_) => Some(*i) == last_timeline,
            Command::LoadPage { generation, .. } => Some(*generation) == newest_gen,
            _ => true,
        })
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TagHit, TagId};
    use crate::tui::state::PageMode;

    #[test]
    fn chips_put_incidents_first() {
        let hit = |t: &str, f: Family, c: u32| TagHit {
            tag: TagId::new(t),
            family: f,
            count: c,
            spans: vec![],
        };
        let an = Analysis {
            tags: vec![
                hit("2fa", Family::Control, 3),
                hit("7pay", Family::Service, 5),
                hit("7pay-2019", Family::Incident, 1),
                hit("account-takeover", Family::Threat, 2),
            ],
            ..Analysis::default()
        };
        let c: Vec<String> = chips(&an).into_iter().map(|c| c.tag.0).collect();
        assert_eq!(c, vec!["7pay-2019", "7pay", "account-takeover", "2fa"]);
    }

    #[test]
    fn coalesce_keeps_the_last_of_each_load() {
        let page = |generation| Command::LoadPage {
            generation,
            query: ListQuery {
                filters: Default::default(),
                search: None,
            },
            cursor: None,
            mode: PageMode::Replace,
        };
        let out = coalesce(vec![
            Command::LoadSidebar,
            page(1),
            Command::LoadSidebar,
            page(2),
            Command::OpenArticle {
                id: ArticleId(3),
                search: None,
            },
        ]);
        assert_eq!(out.len(), 3);
        assert!(matches!(out[0], Command::LoadSidebar));
        assert!(matches!(out[1], Command::LoadPage { generation: 2, .. }));
    }
}
