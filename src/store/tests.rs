//! Unit tests of the store against temporary sled databases.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::model::{Span, TagHit};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 7, 1, 9, 0, 0).unwrap()
}

fn draft(feed: &str, n: u32) -> ArticleDraft {
    ArticleDraft {
        feed: FeedId::new(feed),
        url: format!("http://127.0.0.1/{feed}/{n}"),
        guid: Some(format!("{feed}-{n}")),
        title: format!("記事 {n} セブンペイ"),
        summary: "要約".into(),
        body: "本文。二要素認証がなかった。".into(),
        published: t0() + Duration::hours(i64::from(n)),
        fetched: t0() + Duration::days(30),
        content_hash: format!("hash-{feed}-{n}"),
    }
}

fn hit(tag: &str, family: Family) -> TagHit {
    TagHit {
        tag: TagId::new(tag),
        family,
        count: 1,
        spans: vec![Span {
            field: crate::model::Field::Title,
            start: 0,
            end: 3,
        }],
    }
}

fn analysis(tags: &[(&str, Family)]) -> Analysis {
    Analysis {
        tags: tags.iter().map(|(t, f)| hit(t, *f)).collect(),
        facts: Default::default(),
    }
}

fn all_pages(store: &Store, f: &ListFilter, limit: usize) -> Vec<ArticleId> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let p = store.page(f, cursor, limit).unwrap();
        out.extend(p.items);
        match p.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end");
}

#[test]
fn insert_get_and_dedup_by_url_guid_and_hash() {
    let s = Store::open_temporary().unwrap();
    let a = s.insert(draft("paysec", 1), &analysis(&[])).unwrap();
    let Inserted::New(id) = a else {
        panic!("{a:?}")
    };
    assert_eq!(s.get(id).unwrap().unwrap().draft, draft("paysec", 1));
    assert_eq!(s.flags(id).unwrap(), Some(Flags::default()));

    // Same url, different everything else.
    let mut d = draft("other", 9);
    d.url = draft("paysec", 1).url;
    assert_eq!(
        s.insert(d, &analysis(&[])).unwrap(),
        Inserted::Duplicate(id)
    );
    // Same feed + guid.
    let mut d = draft("paysec", 8);
    d.guid = Some("paysec-1".into());
    assert_eq!(
        s.insert(d, &analysis(&[])).unwrap(),
        Inserted::Duplicate(id)
    );
    // Same guid in another feed is not a duplicate.
    let mut d = draft("other", 7);
    d.guid = Some("paysec-1".into());
    assert!(s.insert(d, &analysis(&[])).unwrap().is_new());
    // Same content hash.
    let mut d = draft("third", 3);
    d.content_hash = "hash-paysec-1".into();
    assert_eq!(
        s.insert(d, &analysis(&[])).unwrap(),
        Inserted::Duplicate(id)
    );
    // Empty url, no guid, empty hash: never a duplicate of anything.
    for _ in 0..2 {
        let mut d = draft("bare", 1);
        d.url.clear();
        d.guid = None;
        d.content_hash.clear();
        assert!(s.insert(d, &analysis(&[])).unwrap().is_new());
    }
    assert_eq!(s.article_count().unwrap(), 4);
    assert_eq!(s.find_duplicate(&draft("paysec", 1)).unwrap(), Some(id));
    assert_eq!(
        s.known(&FeedId::new("paysec"), "nope", Some("paysec-1"))
            .unwrap(),
        Some(id)
    );
    assert!(s.check().unwrap().is_ok(), "{:?}", s.check().unwrap());
}

#[test]
fn paging_is_newest_first_and_cursors_continue() {
    let s = Store::open_temporary().unwrap();
    for n in [5, 1, 9, 3, 7, 2] {
        s.insert(draft("f", n), &analysis(&[])).unwrap();
    }
    let ids = all_pages(&s, &ListFilter::default(), 4);
    let hours: Vec<i64> = ids
        .iter()
        .map(|id| (s.get(*id).unwrap().unwrap().draft.published - t0()).num_hours())
        .collect();
    assert_eq!(hours, vec![9, 7, 5, 3, 2, 1]);
    let first = s.page(&ListFilter::default(), None, 4).unwrap();
    assert_eq!(first.items.len(), 4);
    let c = first.next.unwrap();
    // The cursor survives a round trip through text.
    let again = s
        .page(
            &ListFilter::default(),
            Some(c.to_string().parse().unwrap()),
            4,
        )
        .unwrap();
    assert_eq!(again.items.len(), 2);
    assert_eq!(again.next, None);
    // Exactly `limit` left: no empty trailing page.
    let p = s.page(&ListFilter::default(), None, 6).unwrap();
    assert_eq!((p.items.len(), p.next), (6, None));
    assert!(
        s.page(&ListFilter::default(), None, 0)
            .unwrap()
            .items
            .is_empty()
    );
    let newest: Vec<_> = s.ids_newest_first().map(|r| r.unwrap()).collect();
    assert_eq!(newest, ids);
    let between: Vec<_> = s
        .ids_between(t0() + Duration::hours(2), t0() + Duration::hours(7))
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(between, ids[2..5].to_vec());
    let oldest_first: Vec<_> = s.ids_newest_first().rev().map(|r| r.unwrap()).collect();
    assert_eq!(oldest_first.first(), ids.last());
}

#[test]
fn filters_combine_and_counters_follow_flags_and_retags() {
    let s = Store::open_temporary().unwrap();
    let seven = analysis(&[
        ("7pay", Family::Service),
        ("account-takeover", Family::Threat),
    ]);
    let jcoin = analysis(&[("j-coin-pay", Family::Service)]);
    let a = s.insert(draft("a", 1), &seven).unwrap().id();
    let b = s.insert(draft("a", 2), &jcoin).unwrap().id();
    let c = s.insert(draft("b", 3), &seven).unwrap().id();
    let d = s.insert(draft("b", 4), &analysis(&[])).unwrap().id();

    let f = |feed: Option<&str>, tag: Option<&str>, family: Option<Family>| ListFilter {
        feed: feed.map(FeedId::new),
        tag: tag.map(TagId::new),
        family,
        ..Default::default()
    };
    assert_eq!(all_pages(&s, &f(Some("a"), None, None), 10), vec![b, a]);
    assert_eq!(all_pages(&s, &f(None, Some("7pay"), None), 10), vec![c, a]);
    assert_eq!(
        all_pages(&s, &f(Some("b"), Some("7pay"), None), 10),
        vec![c]
    );
    assert_eq!(
        all_pages(&s, &f(None, None, Some(Family::Threat)), 10),
        vec![c, a]
    );
    assert_eq!(
        all_pages(&s, &f(None, None, Some(Family::Service)), 1),
        vec![c, b, a]
    );
    assert!(all_pages(&s, &f(None, Some("nope"), None), 10).is_empty());

    s.set_flags(
        a,
        Flags {
            read: true,
            starred: true,
        },
    )
    .unwrap();
    s.set_flags(
        d,
        Flags {
            read: true,
            starred: false,
        },
    )
    .unwrap();
    let unread = ListFilter {
        unread_only: true,
        ..Default::default()
    };
    assert_eq!(all_pages(&s, &unread, 10), vec![c, b]);
    let starred = ListFilter {
        starred_only: true,
        ..Default::default()
    };
    assert_eq!(all_pages(&s, &starred, 10), vec![a]);
    assert_eq!(s.unread_count().unwrap(), 2);
    assert_eq!(s.starred_count().unwrap(), 1);
    assert_eq!(
        s.feed_counts().unwrap(),
        vec![
            FeedCount {
                feed: FeedId::new("a"),
                total: 2,
                unread: 1
            },
            FeedCount {
                feed: FeedId::new("b"),
                total: 2,
                unread: 1
            },
        ]
    );
    let tags = s.tag_counts().unwrap();
    assert!(tags.contains(&(TagId::new("7pay"), Family::Service, 2)));
    let detailed = s.tag_counts_detailed().unwrap();
    let t7 = detailed.iter().find(|t| t.tag.as_str() == "7pay").unwrap();
    assert_eq!((t7.total, t7.unread), (2, 1));

    // Retag: 7pay leaves a, j-coin-pay arrives.
    s.set_analysis(a, &jcoin).unwrap();
    assert_eq!(all_pages(&s, &f(None, Some("7pay"), None), 10), vec![c]);
    assert_eq!(
        all_pages(&s, &f(None, Some("j-coin-pay"), None), 10),
        vec![b, a]
    );
    assert_eq!(s.analysis(a).unwrap(), Some(jcoin.clone()));
    assert!(s.check().unwrap().is_ok(), "{:#?}", s.check().unwrap());

    // Remove: everything about it goes, counters too.
    assert!(s.remove(c).unwrap());
    assert!(!s.remove(c).unwrap());
    assert!(s.get(c).unwrap().is_none());
    assert!(all_pages(&s, &f(None, Some("7pay"), None), 10).is_empty());
    assert!(
        !s.tag_counts()
            .unwrap()
            .iter()
            .any(|t| t.0.as_str() == "7pay")
    );
    assert_eq!(s.article_count().unwrap(), 3);
    // Its url can be stored again.
    assert!(s.insert(draft("b", 3), &seven).unwrap().is_new());
    assert!(s.check().unwrap().is_ok(), "{:#?}", s.check().unwrap());
    assert!(matches!(
        s.set_flags(ArticleId(999), Flags::default()),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn since_until_bound_every_index() {
    let s = Store::open_temporary().unwrap();
    let tags = analysis(&[("7pay", Family::Service)]);
    let ids: Vec<_> = (0..10)
        .map(|n| s.insert(draft("f", n), &tags).unwrap().id())
        .collect();
    for tag in [None, Some(TagId::new("7pay"))] {
        let filter = ListFilter {
            tag: tag.clone(),
            since: Some(t0() + Duration::hours(3)),
            until: Some(t0() + Duration::hours(6)),
            ..Default::default()
        };
        assert_eq!(all_pages(&s, &filter, 2), vec![ids[5], ids[4], ids[3]]);
    }
}

#[test]
fn a_small_scan_budget_gives_short_pages_that_still_reach_everything() {
    let s = Store::open_temporary_with(StoreOptions {
        page_scan_budget: 3,
        ..Default::default()
    })
    .unwrap();
    let mut want = Vec::new();
    for n in 0..40 {
        let id = s.insert(draft("f", n), &analysis(&[])).unwrap().id();
        if n % 10 == 0 {
            s.set_flags(
                id,
                Flags {
                    read: false,
                    starred: true,
                },
            )
            .unwrap();
            want.push(id);
        }
        // Make the unread index bigger than the starred one but keep both small... and
        // the date index the only other candidate.
    }
    want.reverse();
    let f = ListFilter {
        starred_only: true,
        feed: Some(FeedId::new("f")),
        ..Default::default()
    };
    assert_eq!(all_pages(&s, &f, 2), want);
    let first = s.page(&ListFilter::default(), None, 10).unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.next.is_some());
}

/// Records calls and can be told to fail.
struct Probe {
    fail_on: Option<u32>,
    calls: AtomicUsize,
    seen: Mutex<Vec<(IndexReason, ArticleId)>>,
}

impl Indexer for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn on_insert(
        &self,
        ctx: &IndexCtx,
        a: &Article,
        _: &Analysis,
        batch: &mut Batch,
    ) -> IndexResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push((ctx.reason(), a.id));
        // A read-modify-write counter in our own tree: reads must see pending writes.
        let n = batch
            .get("probe", b"count")?
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
            .unwrap_or(0);
        batch.insert("probe", b"count".to_vec(), (n + 1).to_be_bytes().to_vec())?;
        batch.insert(
            "probe",
            format!("doc/{}", a.id).into_bytes(),
            a.draft.title.as_bytes(),
        )?;
        if Some(a.draft.title.as_str())
            == self
                .fail_on
                .map(|n| format!("記事 {n} セブンペイ"))
                .as_deref()
        {
            return Err("refused".into());
        }
        Ok(())
    }
    fn on_remove(&self, _: &IndexCtx, a: &Article, _: &Analysis, batch: &mut Batch) -> IndexResult {
        batch.remove("probe", format!("doc/{}", a.id).into_bytes())?;
        Ok(())
    }
    fn derived_trees(&self) -> Vec<String> {
        vec!["probe".into()]
    }
}

fn probe(fail_on: Option<u32>) -> Arc<Probe> {
    Arc::new(Probe {
        fail_on,
        calls: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    })
}

fn probe_count(s: &Store) -> u64 {
    s.tree("probe")
        .unwrap()
        .get(b"count")
        .unwrap()
        .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
        .unwrap_or(0)
}

#[test]
fn registering_an_indexer_twice_keeps_one() {
    let s = Store::open_temporary().unwrap();
    s.register_indexer(probe(None));
    s.register_indexer(probe(None));
    assert_eq!(s.indexer_names(), vec!["probe".to_string()]);
    s.insert(draft("f", 1), &analysis(&[])).unwrap();
    // One registration means one write per article, not two.
    assert_eq!(probe_count(&s), 1);
}

#[test]
fn an_indexer_error_aborts_the_whole_write() {
    let s = Store::open_temporary().unwrap();
    let p = probe(Some(2));
    s.register_indexer(p.clone());
    s.insert(draft("f", 1), &analysis(&[("7pay", Family::Service)]))
        .unwrap();
    let err = s
        .insert(draft("f", 2), &analysis(&[("7pay", Family::Service)]))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Indexer { indexer, .. } if indexer == "probe"),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused"));
    // Nothing of article 2 is visible: no record, index, dedup key, counter or probe write.
    assert_eq!(s.article_count().unwrap(), 1);
    assert_eq!(all_pages(&s, &ListFilter::default(), 10).len(), 1);
    assert_eq!(s.find_duplicate(&draft("f", 2)).unwrap(), None);
    assert_eq!(
        s.tag_counts().unwrap(),
        vec![(TagId::new("7pay"), Family::Service, 1)]
    );
    assert_eq!(probe_count(&s), 1);
    assert!(s.get(ArticleId(2)).unwrap().is_none());
    assert!(s.check().unwrap().is_ok());
    // The next id was not consumed either.
    let id = s.insert(draft("f", 3), &analysis(&[])).unwrap().id();
    assert_eq!(id, ArticleId(2));
}

#[test]
fn insert_many_is_per_article_atomic_and_sees_earlier_items() {
    let s = Store::open_temporary().unwrap();
    let p = probe(Some(2));
    s.register_indexer(p.clone());
    let items = vec![
        (draft("f", 1), analysis(&[])),
        (draft("f", 2), analysis(&[])),
        (draft("f", 3), analysis(&[])),
        (draft("f", 1), analysis(&[])),
    ];
    let r = s.insert_many(items).unwrap();
    assert!(r[0].as_ref().unwrap().is_new());
    assert!(matches!(r[1], Err(StoreError::Indexer { .. })));
    assert!(r[2].as_ref().unwrap().is_new());
    let first = r[0].as_ref().unwrap().id();
    assert_eq!(r[3].as_ref().unwrap(), &Inserted::Duplicate(first));
    assert_eq!(s.article_count().unwrap(), 2);
    // The counter read through the batch saw the earlier items' pending writes; the rolled
    // back item's increment is gone.
    assert_eq!(probe_count(&s), 2);
    assert!(s.check().unwrap().is_ok(), "{:#?}", s.check().unwrap());
}

#[test]
fn remove_calls_indexers_and_rebuild_rederives_their_trees() {
    let s = Store::open_temporary().unwrap();
    let p = probe(None);
    s.register_indexer(p.clone());
    let ids: Vec<_> = (0..5)
        .map(|n| s.insert(draft("f", n), &analysis(&[])).unwrap().id())
        .collect();
    s.remove(ids[0]).unwrap();
    let t = s.tree("probe").unwrap();
    assert!(t.get(format!("doc/{}", ids[0])).unwrap().is_none());
    // Rebuild clears the derived tree and re-inserts the 4 remaining articles.
    let report = s
        .rebuild(|d| {
            if d.title.contains('3') {
                analysis(&[("7pay", Family::Service)])
            } else {
                Analysis::default()
            }
        })
        .unwrap();
    assert_eq!(report.articles, 4);
    assert_eq!(probe_count(&s), 4);
    let seen = p.seen.lock().unwrap();
    assert_eq!(
        seen.iter()
            .filter(|(r, _)| *r == IndexReason::Rebuild)
            .count(),
        4
    );
    assert_eq!(
        s.tag_counts().unwrap(),
        vec![(TagId::new("7pay"), Family::Service, 1)]
    );
    assert!(s.check().unwrap().is_ok());
}

#[test]
fn check_finds_damage_and_rebuild_repairs_it() {
    let s = Store::open_temporary().unwrap();
    let tags = analysis(&[("7pay", Family::Service), ("2fa", Family::Control)]);
    let ids: Vec<_> = (0..6)
        .map(|n| s.insert(draft("f", n), &tags).unwrap().id())
        .collect();
    s.set_flags(
        ids[1],
        Flags {
            read: true,
            starred: true,
        },
    )
    .unwrap();
    let main = &s.inner.main;
    let pos = keys::Pos::of(draft("f", 2).published, ids[2]);
    // A missing index entry, a dangling one, a wrong counter, a missing analysis, an orphan.
    main.remove(keys::IndexPrefix::tag(&TagId::new("2fa")).key(pos))
        .unwrap();
    main.insert(
        keys::IndexPrefix::date().key(keys::Pos { time: 1, id: 777 }),
        &[][..],
    )
    .unwrap();
    main.insert(
        keys::count_feed(&FeedId::new("f")),
        codec::Pair {
            total: 99,
            unread: 0,
        }
        .bytes()
        .to_vec(),
    )
    .unwrap();
    main.remove(keys::by_id(keys::ANALYSIS, ids[3])).unwrap();
    main.insert(keys::by_id(keys::FLAGS, ArticleId(4242)), &[0u8][..])
        .unwrap();
    let report = s.check().unwrap();
    let lines: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("missing from the tag 2fa index"), "{lines:#?}");
    assert!(has("date index points at article 777"), "{lines:#?}");
    assert!(has("counter feed f says 99 total"), "{lines:#?}");
    assert!(
        has(&format!("article {} has no analysis", ids[3])),
        "{lines:#?}"
    );
    assert!(has("flags record of article 4242"), "{lines:#?}");
    assert!(!report.is_ok());

    main.insert(keys::by_id(keys::ANALYSIS, ids[4]), &b"{not json"[..])
        .unwrap();
    let r = s.rebuild_keeping_analysis().unwrap();
    assert_eq!(r.articles, 6);
    assert_eq!(r.orphans_removed, 1);
    assert_eq!(r.analyses_reset, vec![ids[4]]);
    let after = s.check().unwrap();
    assert!(after.is_ok(), "{:#?}", after);
    // Flags survived the rebuild.
    assert_eq!(
        s.flags(ids[1]).unwrap(),
        Some(Flags {
            read: true,
            starred: true
        })
    );
    assert_eq!(s.starred_count().unwrap(), 1);
}

#[test]
fn an_interrupted_rebuild_is_reported_and_finished_by_the_next() {
    let s = Store::open_temporary().unwrap();
    for n in 0..3 {
        s.insert(draft("f", n), &analysis(&[])).unwrap();
    }
    // Simulate a crash right after the derived data was cleared.
    s.inner
        .main
        .insert(keys::meta(keys::meta::REBUILDING), &[1u8][..])
        .unwrap();
    super::check::tests_support::clear_derived(&s);
    assert!(s.needs_rebuild().unwrap());
    let report = s.check().unwrap();
    assert!(report.violations.contains(&Violation::RebuildPending));
    s.rebuild_keeping_analysis().unwrap();
    assert!(!s.needs_rebuild().unwrap());
    assert!(s.check().unwrap().is_ok());
    assert_eq!(all_pages(&s, &ListFilter::default(), 10).len(), 3);
}

#[test]
fn feed_state_round_trips_and_tolerates_unknown_fields() {
    let s = Store::open_temporary().unwrap();
    let feed = FeedId::new("paysec");
    assert_eq!(s.feed_state(&feed).unwrap(), None);
    let mut st = FeedState {
        etag: Some("\"abc\"".into()),
        ..Default::default()
    };
    st.record_failure(t0(), "HTTP 503");
    st.record_failure(t0(), "timeout");
    st.record_success(t0() + Duration::hours(1));
    s.set_feed_state(&feed, &st).unwrap();
    let back = s.feed_state(&feed).unwrap().unwrap();
    assert_eq!(back, st);
    assert_eq!((back.error_count, back.consecutive_failures), (2, 0));
    assert_eq!(back.last_error.as_deref(), Some("timeout"));
    // JSON written by a future version with an extra field still reads.
    s.inner
        .main
        .insert(keys::feed_state(&feed), &br#"{"etag":"x","future":1}"#[..])
        .unwrap();
    assert_eq!(
        s.feed_state(&feed).unwrap().unwrap().etag.as_deref(),
        Some("x")
    );
    assert_eq!(s.feed_states().unwrap().len(), 1);
    assert!(s.set_feed_state(&FeedId::new(""), &st).is_err());
}

#[test]
fn reader_trees_and_store_write() {
    let s = Store::open_temporary().unwrap();
    assert!(s.tree("").is_err());
    assert!(s.tree("__sled__default").is_err());
    assert!(s.tree("Search").is_err());
    let t = s.tree("alerts").unwrap();
    s.write(|b| -> Result<()> {
        b.insert("alerts", b"sub/1".to_vec(), &b"q"[..])?;
        b.insert("alerts", b"sub/2".to_vec(), &b"r"[..])?;
        assert_eq!(b.scan_prefix("alerts", b"sub/", 10)?.len(), 2);
        Ok(())
    })
    .unwrap();
    assert_eq!(t.len(), 2);
    // A failing write leaves nothing.
    let r: Result<()> = s.write(|b| {
        b.insert("alerts", b"sub/3".to_vec(), &b"x"[..])?;
        Err(StoreError::Invalid {
            what: "test".into(),
            why: "abort".into(),
        })
    });
    assert!(r.is_err());
    assert_eq!(t.len(), 2);
    // Pending removals and inserts merge with stored entries, in both directions.
    s.write(|b| -> Result<()> {
        b.remove("alerts", b"sub/1".to_vec())?;
        b.insert("alerts", b"sub/0".to_vec(), &b"z"[..])?;
        b.insert("alerts", b"sub/9".to_vec(), &b"z"[..])?;
        let keys: Vec<_> = b
            .scan_prefix("alerts", b"sub/", usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
            .collect();
        assert_eq!(keys, ["sub/0", "sub/2", "sub/9"]);
        let last = b.last_in_prefix("alerts", b"sub/")?.unwrap();
        assert_eq!(last.0.as_ref(), b"sub/9");
        assert_eq!(b.scan_prefix("alerts", b"sub/", 1)?.len(), 1);
        assert!(b.get("alerts", b"sub/1")?.is_none());
        Ok(())
    })
    .unwrap();
    assert_eq!(t.len(), 3);
}

#[test]
fn info_reports_counts_and_schema() {
    let s = Store::open_temporary().unwrap();
    s.insert(draft("f", 1), &analysis(&[("7pay", Family::Service)]))
        .unwrap();
    s.flush().unwrap();
    let info = s.info().unwrap();
    assert_eq!(info.schema_version, SCHEMA_VERSION);
    assert_eq!(
        (info.articles, info.unread, info.feeds, info.tags),
        (1, 1, 1, 1)
    );
    assert!(info.size_on_disk > 0);
    assert!(!info.rebuild_pending);
}

#[test]
fn oversized_ids_are_rejected_not_truncated() {
    let s = Store::open_temporary().unwrap();
    let mut d = draft("f", 1);
    d.feed = FeedId::new("x".repeat(keys::MAX_NAME + 1));
    assert!(matches!(
        s.insert(d, &analysis(&[])),
        Err(StoreError::Invalid { .. })
    ));
    let long_tag = "t".repeat(keys::MAX_NAME + 1);
    assert!(
        s.insert(
            draft("f", 1),
            &analysis(&[(long_tag.as_str(), Family::Threat)])
        )
        .is_err()
    );
    assert_eq!(s.article_count().unwrap(), 0);
    // Hostile but legal values are fine: control characters, huge urls.
    let mut d = draft("f\u{1b}[31m", 2);
    d.url = format!("http://127.0.0.1/{}", "a".repeat(100_000));
    assert!(s.insert(d, &analysis(&[])).unwrap().is_new());
    assert!(s.check().unwrap().is_ok());
}

/// A fake old store: version 1 where flags were JSON text; the test migration rewrites them.
fn migrate_flags_from_json(store: &Store) -> Result<()> {
    let main = &store.inner.main;
    for kv in main.scan_prefix([keys::FLAGS]) {
        let (k, v) = kv.map_err(|e| store.inner.sled_err(e))?;
        if let Ok(f) = serde_json::from_slice::<Flags>(&v) {
            main.insert(k, codec::flags_byte(f).to_vec())
                .map_err(|e| store.inner.sled_err(e))?;
        }
    }
    store.rebuild_keeping_analysis().map(|_| ())
}

#[test]
fn migrations_run_in_order_and_refuse_newer_stores() {
    let s = Store::open_temporary().unwrap();
    let ids: Vec<_> = (0..3)
        .map(|n| s.insert(draft("f", n), &analysis(&[])).unwrap().id())
        .collect();
    // Rewrite it into the "old" layout: JSON flags, one read, and no counters.
    for (i, id) in ids.iter().enumerate() {
        let f = Flags {
            read: i == 0,
            starred: false,
        };
        s.inner
            .main
            .insert(
                keys::by_id(keys::FLAGS, *id),
                serde_json::to_vec(&f).unwrap(),
            )
            .unwrap();
    }
    s.inner.main.remove(keys::meta(keys::meta::COUNTS)).unwrap();
    assert!(!s.check().unwrap().is_ok());

    let table = [Migration {
        from: 1,
        what: "flags as one byte",
        run: migrate_flags_from_json,
    }];
    schema::prepare_to(&s.inner, &table, 2).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    assert_eq!(
        s.flags(ids[0]).unwrap(),
        Some(Flags {
            read: true,
            starred: false
        })
    );
    assert_eq!(s.unread_count().unwrap(), 2);
    assert!(s.check().unwrap().is_ok(), "{:#?}", s.check().unwrap());
    // Running it again is a no-op; a store newer than the build is refused.
    schema::prepare_to(&s.inner, &table, 2).unwrap();
    let e = schema::prepare_to(&s.inner, &table, 1).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::TooNew {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{e:?}"
    );
    // A gap in the table is an error that names the version.
    let e = schema::prepare_to(&s.inner, &table, 3).unwrap_err();
    assert!(
        e.to_string().contains("schema version 2 has no migration"),
        "{e}"
    );
    // A failing step leaves the version where it was.
    let failing = [Migration {
        from: 2,
        what: "always fails",
        run: |_| {
            Err(StoreError::Invalid {
                what: "x".into(),
                why: "y".into(),
            })
        },
    }];
    let e = schema::prepare_to(&s.inner, &failing, 3).unwrap_err();
    assert!(matches!(e, StoreError::Migration { from: 2, .. }), "{e:?}");
    assert_eq!(s.schema_version().unwrap(), 2);
}

#[test]
fn reopen_after_drop_keeps_everything_and_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let id;
    {
        let s = Store::open(&path).unwrap();
        id = s
            .insert(draft("f", 1), &analysis(&[("7pay", Family::Service)]))
            .unwrap()
            .id();
        s.set_flags(
            id,
            Flags {
                read: true,
                starred: true,
            },
        )
        .unwrap();
        // A second open in the same process is refused with our own pid.
        match Store::open(&path) {
            Err(StoreError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.get(id).unwrap().unwrap().draft, draft("f", 1));
    assert_eq!(
        s.flags(id).unwrap(),
        Some(Flags {
            read: true,
            starred: true
        })
    );
    assert_eq!(s.tag_counts().unwrap().len(), 1);
    assert!(s.check().unwrap().is_ok());
}

#[test]
fn foreign_folders_and_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e:?}");
    assert!(!dir.path().join("db").exists());
    let file = dir.path().join("notes.txt");
    assert!(matches!(
        Store::open(&file),
        Err(StoreError::NotAStore { .. })
    ));
}

#[test]
fn store_handles_are_send_sync_and_clone() {
    fn assert_handle<T: Send + Sync + Clone + 'static>() {}
    assert_handle::<Store>();
    // Clones share one database: a write through one is visible through the other.
    let s = Store::open_temporary().unwrap();
    let t = s.clone();
    let id =
        std::thread::spawn(move || t.insert(draft("f", 1), &Analysis::default()).unwrap().id())
            .join()
            .unwrap();
    assert!(s.get(id).unwrap().is_some());
}
