//! Extracting incident facts: counts, amounts, dates and causes.
//!
//! Works on folded text ([`crate::tokenize::Folded`]), so full-width digits and commas read
//! like ASCII ones, and reports what it read in the original spelling. Japanese numbers mix
//! Arabic digits, kanji digits and the myriad units (約1.8万件, 4億8千万円, 1万8400件);
//! dates come with or without a year or an era (2019年8月16日, 令和2年9月, 9月7日, 4日)
//! and take what they lack from the article's date.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;

use crate::model::{AmountFact, CountFact, DateFact, DateRole, Facts};
use crate::tokenize::Folded;

/// Counter words read as affected counts.
const COUNTERS: &str = "件|人|名|口座|アカウント|社|行|店舗|店|カ所|か所|ヶ所|回|組";

/// Causes named in the text, longest spelling first.
const CAUSES: &[&str] = &[
    "アクセス権限の設定不備",
    "権限設定の誤り",
    "環境設定ミス",
    "人為的なミス",
    "人為的ミス",
    "人為ミス",
    "ヒューマンエラー",
    "設定の不備",
    "設定の誤り",
    "設定ミス",
    "設定不備",
    "誤設定",
    "管理上の不備",
    "管理不備",
    "手順の誤り",
    "作業ミス",
    "内部不正",
];

fn number_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let num = r"[0-9〇一二三四五六七八九十][0-9,.〇一二三四五六七八九十百千万億兆]*";
        let pattern = format!(
            r"(?P<pre>約|およそ|最大で|最大|合計で|合計|計|総額|少なくとも|推計で|推定)?(?P<num>{num})(?P<unit>円|{COUNTERS})(?P<post>超え|超|以上|余り|余|あまり|強|程度|前後|近く|ほど|相当)?"
        );
        Regex::new(&pattern).unwrap_or_else(|e| panic!("number pattern: {e}"))
    })
}

fn cause_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Alternation is leftmost-first: CAUSES lists longer spellings first.
        let alternatives: Vec<String> = CAUSES.iter().map(|c| regex::escape(c)).collect();
        Regex::new(&alternatives.join("|")).unwrap_or_else(|e| panic!("cause pattern: {e}"))
    })
}

fn date_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A month (with or without a day) or a day, after an optional year or era year.
        let pattern = r"(?:(?P<era>令和|平成)(?P<eyear>元|[0-9]{1,2})年|(?P<year>[0-9]{4})年)?(?:(?P<month>[0-9]{1,2})月(?:(?P<day>[0-9]{1,2})日)?|(?P<dayonly>[0-9]{1,2})日)";
        Regex::new(pattern).unwrap_or_else(|e| panic!("date pattern: {e}"))
    })
}

fn digit_value(c: char) -> Option<u64> {
    match c {
        '0'..='9' => c.to_digit(10).map(u64::from),
        '〇' => Some(0),
        '一' => Some(1),
        '二' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        '六' => Some(6),
        '七' => Some(7),
        '八' => Some(8),
        '九' => Some(9),
        _ => None,
    }
}

/// Reads a Japanese number: Arabic digits (with thousands commas and a decimal point),
/// kanji digits, and the units 十百千万億兆 in any mix. `None` when it is not well formed
/// or too large.
pub fn parse_japanese_number(s: &str) -> Option<u64> {
    let chars: Vec<char> = s.chars().collect();
    let mut total: f64 = 0.0; // finished myriad groups
    let mut section: f64 = 0.0; // value below the current myriad unit
    let mut literal: Option<f64> = None; // the digits just read
    let mut last_myriad = f64::INFINITY;
    if !chars
        .iter()
        .any(|&c| digit_value(c).is_some() || matches!(c, '十' | '百' | '千'))
    {
        return None;
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            if literal.is_some() {
                return None;
            }
            let start = i;
            let mut seen_dot = false;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == ',' && !seen_dot {
                    // A thousands separator must be followed by exactly three digits.
                    let next3 = chars.get(i + 1..i + 4)?;
                    if !next3.iter().all(char::is_ascii_digit) {
                        break;
                    }
                    i += 1;
                } else if d == '.'
                    && !seen_dot
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                {
                    seen_dot = true;
                    i += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[start..i].iter().filter(|&&c| c != ',').collect();
            literal = Some(text.parse::<f64>().ok()?);
            continue;
        }
        if let Some(d) = digit_value(c) {
            // Kanji digits: positional when several follow each other (二〇一九).
            let mut v = literal.unwrap_or(0.0);
            if literal.is_some()
                && !matches!(chars.get(i.wrapping_sub(1)), Some(p) if digit_value(*p).is_some() && !p.is_ascii_digit())
            {
                return None;
            }
            v = v * 10.0 + d as f64;
            literal = Some(v);
            i += 1;
            continue;
        }
        let small = match c {
            '十' => Some(10.0),
            '百' => Some(100.0),
            '千' => Some(1000.0),
            _ => None,
        };
        if let Some(unit) = small {
            section += literal.take().unwrap_or(1.0) * unit;
            i += 1;
            continue;
        }
        let myriad = match c {
            '万' => 1e4,
            '億' => 1e8,
            '兆' => 1e12,
            _ => return None,
        };
        // Myriad units must decrease (4億8千万, not 8千万4億).
        if myriad >= last_myriad {
            return None;
        }
        let group = section + literal.take().unwrap_or(0.0);
        if group == 0.0 {
            return None;
        }
        total += group * myriad;
        section = 0.0;
        last_myriad = myriad;
        i += 1;
    }
    total += section + literal.unwrap_or(0.0);
    if !total.is_finite() || !(0.0..=1e18).contains(&total) {
        return None;
    }
    Some(total.round() as u64)
}

/// A calendar date stated in the text, before its role is known.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FoundDate {
    date: NaiveDate,
    /// Byte range in the folded text.
    start: usize,
    end: usize,
}

/// Role keywords, looked for after a date within its sentence.
const ROLE_WORDS: &[(&str, DateRole)] = &[
    ("発覚", DateRole::Discovered),
    ("判明", DateRole::Discovered),
    ("発見", DateRole::Discovered),
    ("検知", DateRole::Discovered),
    ("見つか", DateRole::Discovered),
    ("気づ", DateRole::Discovered),
    ("気付", DateRole::Discovered),
    ("確認", DateRole::Discovered),
    ("公表", DateRole::Announced),
    ("発表", DateRole::Announced),
    ("明らかにし", DateRole::Announced),
    ("会見", DateRole::Announced),
    ("開示", DateRole::Announced),
    ("告知", DateRole::Announced),
    ("お知らせ", DateRole::Announced),
    ("注意喚起", DateRole::Announced),
    ("謝罪", DateRole::Announced),
    ("発生", DateRole::Occurred),
    ("起き", DateRole::Occurred),
    ("起こ", DateRole::Occurred),
    ("被害", DateRole::Occurred),
    ("不正アクセス", DateRole::Occurred),
    ("不正利用", DateRole::Occurred),
    ("流出", DateRole::Occurred),
    ("盗ま", DateRole::Occurred),
    ("侵入", DateRole::Occurred),
    ("にかけて", DateRole::Occurred),
    ("閲覧可能", DateRole::Occurred),
];

/// Words after a day number that make it a duration, not a date (10日間, 30日以内).
const DURATION_AFTER: &[&str] = &[
    "間", "以内", "以上", "余", "後", "前", "分", "目", "ほど", "程度", "連続", "超", "未満", "付",
];

/// The facts stated in the given texts (title, lead, body paragraphs), with years, months
/// and eras resolved against `published` (the article's date in Japan).
pub fn extract(texts: &[&str], published: NaiveDate) -> Facts {
    let folded: Vec<Folded> = texts.iter().map(|t| Folded::new(t)).collect();
    let pairs: Vec<(&str, &Folded)> = texts.iter().copied().zip(&folded).collect();
    extract_folded(&pairs, published)
}

/// [`extract`] for texts already folded (each with its original).
pub fn extract_folded(texts: &[(&str, &Folded)], published: NaiveDate) -> Facts {
    let mut facts = Facts::default();
    for (text, folded) in texts {
        extract_into(text, folded, published, &mut facts);
    }
    facts
}

fn extract_into(text: &str, folded: &Folded, published: NaiveDate, facts: &mut Facts) {
    if text.is_empty() {
        return;
    }
    let f = folded.as_str();
    let original = |s: usize, e: usize| -> String {
        let r = folded.original_range(s, e);
        text.get(r).unwrap_or_default().to_string()
    };

    for caps in number_re().captures_iter(f) {
        let (Some(all), Some(num), Some(unit)) = (caps.get(0), caps.name("num"), caps.name("unit"))
        else {
            continue;
        };
        let num_text = num.as_str().trim_end_matches([',', '.']);
        // A kanji-only number needs a myriad unit or two digits: 一人, 一件 are phrasing.
        let kanji_only = !num_text.chars().any(|c| c.is_ascii_digit());
        if kanji_only && num_text.chars().count() < 2 && !num_text.contains(['万', '億', '兆']) {
            continue;
        }
        // Preceded by a digit or a number-ish char means we started mid-number.
        if f[..all.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            continue;
        }
        let Some(value) = parse_japanese_number(num_text) else {
            continue;
        };
        let qualifier = caps
            .name("pre")
            .or_else(|| caps.name("post"))
            .map(|m| original(m.start(), m.end()));
        let written = original(all.start(), all.end());
        if unit.as_str() == "円" {
            if !facts
                .amounts
                .iter()
                .any(|a| a.yen == value && a.qualifier == qualifier)
            {
                facts.amounts.push(AmountFact {
                    yen: value,
                    qualifier,
                    text: written,
                });
            }
        } else {
            let unit_text = unit.as_str().to_string();
            if !facts
                .counts
                .iter()
                .any(|c| c.value == value && c.unit == unit_text && c.qualifier == qualifier)
            {
                facts.counts.push(CountFact {
                    value,
                    unit: unit_text,
                    qualifier,
                    text: written,
                });
            }
        }
    }

    let dates = find_dates(f, published);
    // Roles from the back, so that the start of a range (8月16日から27日にかけて) takes the
    // role of its end.
    let mut roles = vec![DateRole::Mentioned; dates.len()];
    for k in (0..dates.len()).rev() {
        let d = &dates[k];
        let next = dates.get(k + 1);
        let limit = next.map_or(f.len(), |n| n.start);
        let between = f[d.end..limit].trim();
        roles[k] = if next.is_some() && matches!(between, "から" | "~" | "-" | "から同" | "と")
        {
            roles[k + 1]
        } else {
            role_after(f, d.end, limit)
        };
    }
    for (d, &role) in dates.iter().zip(&roles) {
        let written = original(d.start, d.end);
        // One fact per date and role; a role beats "mentioned" for the same date.
        let same_date = |x: &DateFact| x.date == d.date;
        if role == DateRole::Mentioned && facts.dates.iter().any(same_date) {
            continue;
        }
        if let Some(x) = facts
            .dates
            .iter_mut()
            .find(|x| same_date(x) && x.role == DateRole::Mentioned)
        {
            x.role = role;
            continue;
        }
        if facts.dates.iter().any(|x| same_date(x) && x.role == role) {
            continue;
        }
        facts.dates.push(DateFact {
            date: d.date,
            role,
            text: written,
        });
    }

    for m in cause_re().find_iter(f) {
        let written = original(m.start(), m.end());
        if !facts.causes.contains(&written) {
            facts.causes.push(written);
        }
    }
}

/// The role a date plays, from the first role word after it in its sentence (up to `limit`).
fn role_after(f: &str, end: usize, limit: usize) -> DateRole {
    let rest = &f[end..limit.max(end)];
    let sentence_end = rest.find('。').unwrap_or(rest.len());
    let window = &rest[..sentence_end];
    ROLE_WORDS
        .iter()
        .filter_map(|(w, role)| window.find(w).map(|p| (p, *role)))
        .min_by_key(|(p, _)| *p)
        .map_or(DateRole::Mentioned, |(_, role)| role)
}

/// Every date in folded text, in order, resolved against `published`.
fn find_dates(f: &str, published: NaiveDate) -> Vec<FoundDate> {
    let mut out: Vec<FoundDate> = Vec::new();
    // The last explicit year and month seen in the text, for 8月16日から27日 and the like.
    let mut context: Option<(i32, u32)> = None;
    for caps in date_re().captures_iter(f) {
        let Some(all) = caps.get(0) else { continue };
        if all.as_str().is_empty() {
            continue;
        }
        // Inside a longer number (2019年 is not 019年) or a word (月日, 曜日).
        if f[..all.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            continue;
        }
        let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let year: Option<i32> = if let Some(era) = caps.name("era") {
            let n = match caps.name("eyear").map(|m| m.as_str()) {
                Some("元") => 1,
                Some(n) => n.parse::<i32>().unwrap_or(0),
                None => 0,
            };
            match era.as_str() {
                "令和" => Some(2018 + n),
                _ => Some(1988 + n),
            }
        } else {
            caps.name("year")
                .and_then(|m| m.as_str().parse::<i32>().ok())
        };
        let month = num("month");
        let day = num("day").or_else(|| num("dayonly"));
        let after = &f[all.end()..];
        let (date, explicit) = match (year, month, day) {
            // A bare year (2019年) is not a date.
            (_, None, None) => continue,
            (Some(y), Some(m), d) => (NaiveDate::from_ymd_opt(y, m, d.unwrap_or(1)), true),
            (None, Some(m), d) => {
                let y = match context {
                    Some((cy, _)) => cy,
                    None => year_for_month(published, m),
                };
                (NaiveDate::from_ymd_opt(y, m, d.unwrap_or(1)), true)
            }
            (y, None, Some(d)) => {
                if y.is_some() || DURATION_AFTER.iter().any(|w| after.starts_with(w)) {
                    continue;
                }
                // A later day followed by まで/から/以降 is ahead in the same month (17日までに報告).
                let ahead = ["まで", "から", "以降", "をめど", "に予定"]
                    .iter()
                    .any(|w| after.starts_with(w));
                let (cy, cm) = context.unwrap_or_else(|| {
                    if ahead && d > published.day() {
                        (published.year(), published.month())
                    } else {
                        month_for_day(published, d)
                    }
                });
                (NaiveDate::from_ymd_opt(cy, cm, d), false)
            }
        };
        let Some(date) = date else { continue };
        if !(1990..=2100).contains(&date.year()) {
            continue;
        }
        // A month with no day must be followed by a word, not be part of 3カ月 etc.
        if explicit {
            context = Some((date.year(), date.month()));
        }
        out.push(FoundDate {
            date,
            start: all.start(),
            end: all.end(),
        });
    }
    out
}

/// The year of a month named without one: the article's year, or the year before when
/// that would put the month more than two months after the article.
fn year_for_month(published: NaiveDate, month: u32) -> i32 {
    if month > published.month() + 2 {
        published.year() - 1
    } else {
        published.year()
    }
}

/// The year and month of a day named alone (4日): the article's month, or the month
/// before when the day is later than the article's day.
fn month_for_day(published: NaiveDate, day: u32) -> (i32, u32) {
    if day <= published.day() {
        (published.year(), published.month())
    } else if published.month() == 1 {
        (published.year() - 1, 12)
    } else {
        (published.year(), published.month() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn facts(text: &str) -> Facts {
        extract(&[text], d(2019, 9, 5))
    }

    #[test]
    fn japanese_numbers() {
        for (s, v) in [
            ("1.8万", 18_000),
            ("46万", 460_000),
            ("1,500", 1_500),
            ("808", 808),
            ("5500万", 55_000_000),
            ("482億", 48_200_000_000),
            ("4億8千万", 480_000_000),
            ("38,615,473", 38_615_473),
            ("3,861万", 38_610_000),
            ("1万8400", 18_400),
            ("2,007万", 20_070_000),
            ("7.54億", 754_000_000),
            ("七十七", 77),
            ("三千", 3_000),
            ("十", 10),
            ("二〇一九", 2019),
        ] {
            assert_eq!(parse_japanese_number(s), Some(v), "{s}");
        }
        for s in [
            "",
            "万",
            "8千万4億",
            "1,50",
            "1..2",
            "億億",
            "9".repeat(40).as_str(),
        ] {
            assert_eq!(parse_japanese_number(s), None, "{s}");
        }
    }

    #[test]
    fn counts_with_qualifiers() {
        let f = facts("約1.8万件の情報が閲覧可能で、46万人に影響。1,500件超、808人。");
        let got: Vec<(u64, &str, Option<&str>)> = f
            .counts
            .iter()
            .map(|c| (c.value, c.unit.as_str(), c.qualifier.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (18_000, "件", Some("約")),
                (460_000, "人", None),
                (1_500, "件", Some("超")),
                (808, "人", None)
            ]
        );
        assert_eq!(f.counts[0].text, "約1.8万件");
    }

    #[test]
    fn full_width_counts_keep_their_spelling() {
        let f = facts("被害は１，５７４人に");
        assert_eq!(f.counts[0].value, 1574);
        assert_eq!(f.counts[0].text, "１，５７４人");
    }

    #[test]
    fn money_forms() {
        let f = facts(
            "被害額は5500万円、約482億円相当、4億8千万円、38,615,473円、3,861万円、3,240万円余り。",
        );
        let got: Vec<(u64, Option<&str>)> = f
            .amounts
            .iter()
            .map(|a| (a.yen, a.qualifier.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (55_000_000, None),
                (48_200_000_000, Some("約")),
                (480_000_000, None),
                (38_615_473, None),
                (38_610_000, None),
                (32_400_000, Some("余り")),
            ]
        );
    }

    #[test]
    fn vague_numbers_and_words_are_not_facts() {
        let f = facts("十数億円、数百万円、一部の利用者、一人ひとり、七十七銀行、事件、案件");
        assert!(f.amounts.is_empty(), "{:?}", f.amounts);
        assert!(f.counts.is_empty(), "{:?}", f.counts);
    }

    #[test]
    fn dates_with_years_eras_and_without() {
        let f = facts("2019年8月16日に発生し、令和2年9月に公表、9月7日に判明した。");
        let got: Vec<(NaiveDate, DateRole)> = f.dates.iter().map(|x| (x.date, x.role)).collect();
        assert_eq!(
            got,
            vec![
                (d(2019, 8, 16), DateRole::Occurred),
                (d(2020, 9, 1), DateRole::Announced),
                // 9月7日 after 令和2年9月 takes the year of the last explicit date.
                (d(2020, 9, 7), DateRole::Discovered),
            ]
        );
        assert_eq!(f.dates[1].text, "令和2年9月");
    }

    #[test]
    fn month_day_without_year_takes_the_article_year() {
        let f = extract(&["9月7日に発表した。"], d(2020, 9, 10));
        assert_eq!(f.dates[0].date, d(2020, 9, 7));
        assert_eq!(f.dates[0].role, DateRole::Announced);
        // December named in a January article is last December.
        let f = extract(&["12月27日に公表"], d(2019, 1, 5));
        assert_eq!(f.dates[0].date, d(2018, 12, 27));
        // 令和元年
        let f = extract(&["令和元年7月1日"], d(2019, 9, 5));
        assert_eq!(f.dates[0].date, d(2019, 7, 1));
    }

    #[test]
    fn date_ranges_share_the_month() {
        let f = facts("8月16日から27日にかけて、外部から閲覧可能な状態だった。");
        let got: Vec<NaiveDate> = f.dates.iter().map(|x| x.date).collect();
        assert_eq!(got, vec![d(2019, 8, 16), d(2019, 8, 27)]);
        assert!(f.dates.iter().all(|x| x.role == DateRole::Occurred));
    }

    #[test]
    fn day_alone_takes_the_article_month() {
        let f = extract(&["同社は4日、不正利用があったと発表した。"], d(2019, 7, 4));
        assert_eq!(f.dates[0].date, d(2019, 7, 4));
        assert_eq!(f.dates[0].role, DateRole::Occurred);
        let f = extract(&["10日間停止し、30日以内に"], d(2019, 7, 4));
        assert!(f.dates.is_empty(), "{:?}", f.dates);
        let f = extract(&["28日に発表"], d(2019, 7, 4));
        assert_eq!(f.dates[0].date, d(2019, 6, 28));
        let f = extract(&["17日までに報告するよう求めた"], d(2020, 9, 14));
        assert_eq!(f.dates[0].date, d(2020, 9, 17));
        // The same date with a role and without is one fact.
        let f = extract(&["4日に発表した。4日の会見で。"], d(2019, 7, 4));
        assert_eq!(f.dates.len(), 1);
        assert_eq!(f.dates[0].role, DateRole::Announced);
    }

    #[test]
    fn invalid_dates_are_skipped() {
        let f = facts("2019年13月40日、2月30日、0年");
        assert!(f.dates.is_empty(), "{:?}", f.dates);
    }

    #[test]
    fn causes_as_written() {
        let f =
            facts("人為ミスが原因。人為的なミスで、設定ミスと設定不備、誤設定、管理不備があった。");
        assert_eq!(
            f.causes,
            vec![
                "人為ミス",
                "人為的なミス",
                "設定ミス",
                "設定不備",
                "誤設定",
                "管理不備"
            ]
        );
        let f = facts("アクセス権限の設定不備が原因");
        assert_eq!(f.causes, vec!["アクセス権限の設定不備"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn never_panics(text in "\\PC{0,60}") {
            let _ = extract(&[&text], d(2020, 1, 1));
        }

        #[test]
        fn never_panics_on_numberish(text in "[0-9０-９,，.．約超万億兆千百十一二三四五六七八九〇年月日円件人令和元平成から]{0,40}") {
            let f = extract(&[&text], d(2020, 1, 31));
            for c in f.counts { prop_assert!(text.contains(&c.text)); }
            for a in f.amounts { prop_assert!(text.contains(&a.text)); }
        }
    }
}
