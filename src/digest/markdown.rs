//! Markdown rendering. Every piece of untrusted text goes through [`text::md`] (one clean
//! line, markup escaped) and every link through [`text::md_link`] (http/https only), so
//! the file is safe to paste into a report renderer and, via `sanitize::terminal`, to print.

use std::fmt::Write as _;

use chrono_tz::Tz;

use super::text::{self, FactItem, digits, md, short_time, source_names};
use super::{ArticleEntry, Digest, Story, TOP_SERVICES, TagCount};
use crate::model::Family;

/// Renders the digest as Markdown (CommonMark; GitHub-flavoured renderers show it the same).
pub fn render(d: &Digest) -> String {
    let tz: Tz = d.period.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let one_day = d.period.first_day == d.period.last_day;
    let mut out = String::new();
    let label = period_label(d);
    // `write!` to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# kessai digest: {label}\n");
    let _ = writeln!(
        out,
        "Period: {} – {} ({})",
        text::local_time(d.period.start, tz),
        text::local_time(d.period.end, tz),
        md(&d.period.time_zone)
    );
    if let Some(q) = &d.query {
        let _ = writeln!(out, "Query: {}", md(q));
    }
    let s = &d.summary;
    let _ = writeln!(
        out,
        "\n**{} · {} ({} known) · {} · {}**",
        plural(s.articles, "article"),
        plural(s.incidents, "incident"),
        s.known_incidents,
        plural(s.sources, "source"),
        plural(s.failed_sources, "failed source"),
    );
    if !s.services.is_empty() {
        let top: Vec<String> = s
            .services
            .iter()
            .take(TOP_SERVICES)
            .map(|t| format!("{} ({})", md(&t.label), t.articles))
            .collect();
        let _ = writeln!(out, "\nMost mentioned: {}", top.join(" · "));
    }

    let _ = writeln!(out, "\n## Incidents\n");
    if d.incidents.is_empty() {
        let _ = writeln!(out, "No incidents reported in this period.\n");
    }
    for (n, story) in d.incidents.iter().enumerate() {
        render_story(&mut out, n + 1, story, tz, one_day);
    }

    let _ = writeln!(out, "## Other news\n");
    if d.other_news.is_empty() {
        let _ = writeln!(out, "No other articles in this period.\n");
    }
    for section in &d.other_news {
        let _ = writeln!(
            out,
            "### {} ({})\n",
            md(&section.title),
            section.articles.len()
        );
        for a in &section.articles {
            let _ = writeln!(out, "- {}", article_line(a, tz, one_day));
            if !a.tags.is_empty() {
                let tags: Vec<String> = a.tags.iter().map(|t| md(&t.label)).collect();
                let _ = writeln!(out, "  Tags: {}", tags.join(", "));
            }
            if !a.lead.is_empty() {
                let _ = writeln!(out, "  {}", md(&a.lead));
            }
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Appendix: sources that failed to fetch\n");
    if d.failed_sources.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for f in &d.failed_sources {
        let since = match f.last_success {
            Some(t) => format!("last success {}", text::local_time(t, tz)),
            None => "never fetched successfully".to_string(),
        };
        let _ = writeln!(
            out,
            "- **{}** ({}): {} · last attempt {}, {} in a row, {}",
            md(&f.name),
            md(f.feed.as_str()),
            md(&f.error),
            text::local_time(f.last_attempt, tz),
            plural(u64::from(f.consecutive_failures), "failure"),
            since,
        );
    }
    out
}

fn period_label(d: &Digest) -> String {
    if d.period.first_day == d.period.last_day {
        d.period.first_day.format("%Y-%m-%d").to_string()
    } else {
        format!(
            "{} – {}",
            d.period.first_day.format("%Y-%m-%d"),
            d.period.last_day.format("%Y-%m-%d")
        )
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn article_line(a: &ArticleEntry, tz: Tz, one_day: bool) -> String {
    let title = md(&a.title);
    let title = match text::clean_link(&a.url) {
        Some(link) => format!("[{title}](<{link}>)"),
        None => title,
    };
    format!(
        "{} — {} — {}",
        short_time(a.published, tz, one_day),
        md(&a.source),
        title
    )
}

fn tag_line(tags: &[TagCount]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for family in Family::ALL {
        let of: Vec<String> = tags
            .iter()
            .filter(|t| t.family == family)
            .map(|t| md(&t.label))
            .collect();
        if !of.is_empty() {
            parts.push(format!("{}: {}", family.as_str(), of.join(", ")));
        }
    }
    parts.join(" · ")
}

/// Notes facts left out of a list.
fn more(items: &mut Vec<String>, hidden: usize) {
    if hidden > 0 {
        items.push(format!("… {hidden} more in the JSON digest"));
    }
}

/// One fact with the names of its sources.
fn fact(item: &FactItem<'_>) -> String {
    let names = |sources| md(&source_names(sources).join(", "));
    match item {
        FactItem::Count(c) => format!(
            "{}{} “{}” ({})",
            digits(c.value),
            md(&c.unit),
            md(&c.text),
            names(&c.sources)
        ),
        FactItem::Amount(a) => format!(
            "¥{} “{}” ({})",
            digits(a.yen),
            md(&a.text),
            names(&a.sources)
        ),
        FactItem::Date(e) => format!(
            "{} {} “{}” ({})",
            e.date.format("%Y-%m-%d"),
            e.role.name(),
            md(&e.text),
            names(&e.sources)
        ),
        FactItem::Cause(c) => format!("{} ({})", md(&c.cause), names(&c.sources)),
    }
}

fn render_story(out: &mut String, n: usize, s: &Story, tz: Tz, one_day: bool) {
    let _ = writeln!(out, "### {n}. {}\n", md(&s.title));
    let _ = writeln!(
        out,
        "- **First report:** {} · {}",
        text::local_time(s.first_published, tz),
        md(&s.headline)
    );
    let sources: Vec<String> = s
        .sources
        .iter()
        .map(|src| format!("{} ({})", md(&src.name), src.articles))
        .collect();
    let _ = writeln!(
        out,
        "- **Sources ({}):** {}",
        s.sources.len(),
        sources.join(", ")
    );
    if !s.tags.is_empty() {
        let _ = writeln!(out, "- **Tags:** {}", tag_line(&s.tags));
    }
    for list in text::fact_lists(&s.facts) {
        let mut items: Vec<String> = list.shown.iter().map(fact).collect();
        more(&mut items, list.hidden);
        let _ = writeln!(out, "- **{}:** {}", list.label, items.join("; "));
    }
    let _ = writeln!(out, "\nArticles:\n");
    for a in &s.articles {
        let _ = writeln!(out, "- {}", article_line(a, tz, one_day));
    }
    out.push('\n');
}
