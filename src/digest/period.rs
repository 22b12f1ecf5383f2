//! The digest's period: whole calendar days in the analyst's time zone, as a UTC range.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::DigestError;

/// Whole local days `first_day ..= last_day` in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    first_day: NaiveDate,
    last_day: NaiveDate,
    tz: Tz,
}

impl Period {
    /// One local day.
    pub fn day(day: NaiveDate, tz: Tz) -> Period {
        Period {
            first_day: day,
            last_day: day,
            tz,
        }
    }

    /// Local days `since ..= until`; `until` before `since` is an error.
    pub fn range(since: NaiveDate, until: NaiveDate, tz: Tz) -> Result<Period, DigestError> {
        if until < since {
            return Err(DigestError::EmptyPeriod { since, until });
        }
        Ok(Period {
            first_day: since,
            last_day: until,
            tz,
        })
    }

    /// The local day before the one `now` falls on: the default digest.
    pub fn yesterday(now: DateTime<Utc>, tz: Tz) -> Period {
        let today = now.with_timezone(&tz).date_naive();
        Period::day(today.pred_opt().unwrap_or(today), tz)
    }

    /// The first local day.
    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The last local day (inclusive).
    pub fn last_day(&self) -> NaiveDate {
        self.last_day
    }

    /// The time zone the days are in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Start of the first day, in UTC (inclusive).
    pub fn start_utc(&self) -> DateTime<Utc> {
        local_midnight(self.first_day, self.tz)
    }

    /// Start of the day after the last day, in UTC (exclusive), so that
    /// `[start_utc, end_utc)` is exactly what `store.ids_between` takes.
    pub fn end_utc(&self) -> DateTime<Utc> {
        match self.last_day.checked_add_days(Days::new(1)) {
            Some(next) => local_midnight(next, self.tz),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Whether an instant lies in the period.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start_utc() && t < self.end_utc()
    }

    /// `2019-09-04`, or `2019-09-04 – 2019-09-09` for a range.
    pub fn label(&self) -> String {
        if self.first_day == self.last_day {
            self.first_day.format("%Y-%m-%d").to_string()
        } else {
            format!(
                "{} – {}",
                self.first_day.format("%Y-%m-%d"),
                self.last_day.format("%Y-%m-%d")
            )
        }
    }
}

/// The first instant of a local day. Where a DST change skips midnight (some zones do),
/// the day starts at the first local time that exists.
fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    for hour in 0..=3 {
        let candidate = midnight + chrono::Duration::hours(hour);
        if let Some(t) = tz.from_local_datetime(&candidate).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No real zone skips four hours; fall back to reading the date as UTC.
    midnight.and_utc()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<NaiveDate, DigestError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| DigestError::BadDate {
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    #[test]
    fn a_tokyo_day_is_15h_to_15h_utc() {
        let p = Period::day(d("2019-09-04"), chrono_tz::Asia::Tokyo);
        assert_eq!(p.start_utc().to_rfc3339(), "2019-09-03T15:00:00+00:00");
        assert_eq!(p.end_utc().to_rfc3339(), "2019-09-04T15:00:00+00:00");
        assert_eq!(p.label(), "2019-09-04");
        let late = "2019-09-04T23:59:59+09:00"
            .parse::<DateTime<Utc>>()
            .unwrap();
        let next = "2019-09-05T00:00:00+09:00"
            .parse::<DateTime<Utc>>()
            .unwrap();
        assert!(p.contains(late));
        assert!(!p.contains(next));
    }

    #[test]
    fn yesterday_is_taken_in_the_zone_not_in_utc() {
        // 2019-09-05 01:00 in Tokyo is still 2019-09-04 in UTC.
        let now = "2019-09-04T16:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let p = Period::yesterday(now, chrono_tz::Asia::Tokyo);
        assert_eq!(p.first_day(), d("2019-09-04"));
        let p = Period::yesterday(now, chrono_tz::UTC);
        assert_eq!(p.first_day(), d("2019-09-03"));
    }

    #[test]
    fn ranges_are_inclusive_and_ordered() {
        let p = Period::range(d("2019-09-04"), d("2019-09-09"), chrono_tz::Asia::Tokyo).unwrap();
        assert_eq!(p.label(), "2019-09-04 – 2019-09-09");
        assert_eq!(p.end_utc().to_rfc3339(), "2019-09-09T15:00:00+00:00");
        assert!(matches!(
            Period::range(d("2019-09-09"), d("2019-09-04"), chrono_tz::Asia::Tokyo),
            Err(DigestError::EmptyPeriod { .. })
        ));
    }

    #[test]
    fn dst_days_have_their_real_length() {
        // America/Santiago skipped 00:00-01:00 on 2019-09-08.
        let p = Period::day(d("2019-09-08"), chrono_tz::America::Santiago);
        assert_eq!(p.start_utc().to_rfc3339(), "2019-09-08T04:00:00+00:00");
        assert_eq!((p.end_utc() - p.start_utc()).num_hours(), 23);
    }

    #[test]
    fn bad_dates_are_typed_errors() {
        for bad in [
            "",
            "2019-13-01",
            "2019/09/04",
            "yesterday",
            "2019-02-30",
            "\u{1b}[31m",
        ] {
            assert!(
                matches!(parse_day(bad), Err(DigestError::BadDate { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(parse_day(" 2019-09-04 ").unwrap(), d("2019-09-04"));
    }
}
