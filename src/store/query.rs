//! Paging newest first: one index drives the scan (the smallest one the filter allows, by
//! its counter), the other filters are point lookups on the shared `time ‖ id` suffix, and
//! the work per page is bounded.

use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::codec::{self, Pair};
use super::keys::{self, IndexPrefix, Pos};
use super::{Inner, Result, Store, StoreError, read};
use crate::model::{Analysis, Article, ArticleId, Family, FeedId, Flags, TagId};

/// Which articles a page lists. All set conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this feed.
    pub feed: Option<FeedId>,
    /// Only articles with this tag.
    pub tag: Option<TagId>,
    /// Only articles with at least one tag of this family.
    pub family: Option<Family>,
    /// Published at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Published strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only unread articles.
    pub unread_only: bool,
    /// Only starred articles.
    pub starred_only: bool,
}

impl ListFilter {
    /// Whether one article passes the filter: the same conditions [`Store::page`] answers
    /// from its indexes, for results that come from elsewhere (a search engine's ranking).
    ///
    /// [`Store::page`]: super::Store::page
    pub fn accepts(&self, article: &Article, analysis: &Analysis, flags: Flags) -> bool {
        let d = &article.draft;
        self.feed.as_ref().is_none_or(|f| *f == d.feed)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| analysis.tags.iter().any(|h| h.tag == *t))
            && self
                .family
                .is_none_or(|f| analysis.tags.iter().any(|h| h.family == f))
            && self.since.is_none_or(|t| d.published >= t)
            && self.until.is_none_or(|t| d.published < t)
            && (!self.unread_only || !flags.read)
            && (!self.starred_only || flags.starred)
    }
}

/// Where the next page starts: an opaque position shared by every index.
/// Prints as 32 hex digits and parses back ([`FromStr`]), for command lines and UIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(Pos);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.0.time, self.0.id)
    }
}

impl FromStr for Cursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Cursor> {
        let bad = || StoreError::Invalid {
            what: format!("cursor {:?}", s.chars().take(40).collect::<String>()),
            why: "expected 32 hex digits".into(),
        };
        if s.len() != 32 || !s.is_ascii() {
            return Err(bad());
        }
        let time = u64::from_str_radix(&s[..16], 16).map_err(|_| bad())?;
        let id = u64::from_str_radix(&s[16..], 16).map_err(|_| bad())?;
        Ok(Cursor(Pos { time, id }))
    }
}

/// One page of article ids, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The ids, newest first. May hold fewer than `limit` ids while `next` is `Some`: the
    /// page stopped at its work bound; keep paging.
    pub items: Vec<ArticleId>,
    /// Pass this to get the next page; `None` at the end.
    pub next: Option<Cursor>,
}

/// The index that drives a scan, and the ones checked per candidate.
struct Plan {
    drive: IndexPrefix,
    checks: Vec<IndexPrefix>,
}

fn pair_at(inner: &Inner, key: &[u8]) -> Result<u64> {
    Ok(match inner.main.get(key).map_err(|e| inner.sled_err(e))? {
        None => 0,
        Some(v) => Pair::from(&v).map(|p| p.total).unwrap_or(u64::MAX),
    })
}

/// Picks the driving index with the smallest count among those the filter names.
fn plan(inner: &Inner, f: &ListFilter) -> Result<Plan> {
    let totals = read::totals(inner)?;
    let mut candidates: Vec<(u64, IndexPrefix)> = Vec::new();
    if let Some(feed) = &f.feed {
        let c = match inner
            .main
            .get(keys::count_feed(feed))
            .map_err(|e| inner.sled_err(e))?
        {
            None => 0,
            // The scan walks every entry of the index, read or not: cost is its size.
            Some(v) => Pair::from(&v).map(|p| p.total).unwrap_or(u64::MAX),
        };
        candidates.push((c, IndexPrefix::feed(feed)));
    }
    if let Some(tag) = &f.tag {
        let c = match inner
            .main
            .get(keys::count_tag(tag))
            .map_err(|e| inner.sled_err(e))?
        {
            None => 0,
            Some(v) => codec::tag_count_from(&v)
                .map(|x| x.1.total)
                .unwrap_or(u64::MAX),
        };
        candidates.push((c, IndexPrefix::tag(tag)));
    }
    if let Some(fam) = f.family {
        candidates.push((
            pair_at(inner, &keys::count_family(fam))?,
            IndexPrefix::family(fam),
        ));
    }
    if f.unread_only {
        candidates.push((totals.unread, IndexPrefix::unread()));
    }
    if f.starred_only {
        candidates.push((totals.starred, IndexPrefix::starred()));
    }
    if candidates.is_empty() {
        return Ok(Plan {
            drive: IndexPrefix::date(),
            checks: Vec::new(),
        });
    }
    // Stable sort: on equal counts the order above (feed, tag, family, unread, starred) wins.
    candidates.sort_by_key(|(c, _)| *c);
    let mut it = candidates.into_iter().map(|(_, p)| p);
    let drive = it.next().unwrap_or_else(IndexPrefix::date);
    Ok(Plan {
        drive,
        checks: it.collect(),
    })
}

impl Store {
    /// One page of article ids matching `filter`, newest first, starting after `cursor`.
    /// Examines at most the configured scan budget of index entries, so a page costs the
    /// same however large the store is; see [`Page`] for what that means for short pages.
    /// `limit` 0 gives an empty page.
    pub fn page(&self, filter: &ListFilter, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        let inner = &self.inner;
        if limit == 0 {
            return Ok(Page {
                items: Vec::new(),
                next: cursor,
            });
        }
        let plan = plan(inner, filter)?;
        let lower = match filter.since {
            Some(t) => plan.drive.at_time(keys::time_code(t)),
            None => plan.drive.0.clone(),
        };
        let mut upper = match filter.until {
            Some(t) => plan.drive.at_time(keys::time_code(t)),
            None => plan.drive.end(),
        };
        if let Some(Cursor(pos)) = cursor {
            upper = upper.min(plan.drive.key(pos));
        }
        if lower >= upper {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let range = inner
            .main
            .range::<Vec<u8>, _>((Bound::Included(lower), Bound::Excluded(upper)))
            .keys()
            .rev();
        let budget = inner.options.page_scan_budget.max(1);
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut last: Option<Pos> = None;
        let mut scanned = 0usize;
        for key in range {
            let key = key.map_err(|e| inner.sled_err(e))?;
            let Some(pos) = Pos::from_key_suffix(&key) else {
                continue;
            };
            if items.len() == limit {
                // One more match exists beyond this page: hand out a cursor.
                if matches(inner, &plan, pos)? {
                    return Ok(Page {
                        next: last.map(Cursor),
                        items,
                    });
                }
            } else if matches(inner, &plan, pos)? {
                items.push(ArticleId(pos.id));
            }
            last = Some(pos);
            scanned += 1;
            if scanned >= budget {
                return Ok(Page {
                    next: last.map(Cursor),
                    items,
                });
            }
        }
        Ok(Page { items, next: None })
    }

    /// Every article id, newest first (reverse it for oldest first). Lazy: nothing is
    /// loaded ahead.
    pub fn ids_newest_first(
        &self,
    ) -> impl DoubleEndedIterator<Item = Result<ArticleId>> + Send + 'static {
        self.ids_in(IndexPrefix::date().0, IndexPrefix::date().end())
    }

    /// Ids of articles published in `[since, until)`, newest first (reverse it for oldest
    /// first). Lazy.
    pub fn ids_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl DoubleEndedIterator<Item = Result<ArticleId>> + Send + 'static {
        let p = IndexPrefix::date();
        let lower = p.at_time(keys::time_code(since));
        let upper = p.at_time(keys::time_code(until)).max(lower.clone());
        self.ids_in(lower, upper)
    }

    fn ids_in(
        &self,
        lower: Vec<u8>,
        upper: Vec<u8>,
    ) -> impl DoubleEndedIterator<Item = Result<ArticleId>> + Send + 'static {
        let inner = self.inner.clone();
        self.inner
            .main
            .range::<Vec<u8>, _>(lower..upper)
            .keys()
            .rev()
            .filter_map(move |k| match k {
                Err(e) => Some(Err(inner.sled_err(e))),
                Ok(k) => Pos::from_key_suffix(&k).map(|p| Ok(ArticleId(p.id))),
            })
    }
}

fn matches(inner: &Inner, plan: &Plan, pos: Pos) -> Result<bool> {
    for c in &plan.checks {
        if !inner
            .main
            .contains_key(c.key(pos))
            .map_err(|e| inner.sled_err(e))?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_rejects_garbage() {
        let c = Cursor(Pos {
            time: 0xdead_beef,
            id: 42,
        });
        let s = c.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<Cursor>().unwrap(), c);
        for bad in ["", "zz", &"g".repeat(32), &"é".repeat(16), &"0".repeat(33)] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
