//! One self-contained HTML file: inline CSS only (no script, no remote resource, a
//! Content-Security-Policy that forbids both), readable on screen and in print. Untrusted
//! text goes through `sanitize::terminal_line` then `sanitize::html_escape`; links through
//! `sanitize::safe_link`, anything else is plain text. The chart is CSS bars whose widths are
//! computed from counts only.

use std::fmt::Write as _;

use chrono_tz::Tz;

use super::text::{self, FactItem, digits, short_time, source_names};
use super::{ArticleEntry, Digest, FactSource, Story, TOP_SERVICES, TagCount};
use crate::model::Family;
use crate::sanitize;

/// The Content-Security-Policy the document carries: nothing may load or run; inline styles
/// and `data:` images only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Bars the chart shows at most; the rest are summed in one line.
pub const CHART_BARS: usize = 12;

const STYLE: &str = r#"
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;--accent:#0b5cad;--bar:#3a78c9;--warn:#9a3412}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;--accent:#6cb6ff;--bar:#4d8fe0;--warn:#f0883e}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:62rem;padding:1.5rem;font:16px/1.65 "Hiragino Sans","Noto Sans CJK JP","Yu Gothic",Meiryo,system-ui,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.6rem;margin:0 0 .25rem}
h2{font-size:1.25rem;margin:2rem 0 .75rem;padding-bottom:.25rem;border-bottom:2px solid var(--line)}
h3{font-size:1.05rem;margin:0 0 .5rem}
a{color:var(--accent)}
.meta,.muted,time,.src{color:var(--muted)}
.meta{margin:.1rem 0}
.stats{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0;padding:0}
.stats div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.4rem .9rem;min-width:7rem}
.stats dt{font-size:.8rem;color:var(--muted)}
.stats dd{margin:0;font-size:1.4rem;font-weight:700}
.top{margin:.5rem 0}
.chart{margin:1rem 0;padding:.75rem 1rem;background:var(--card);border:1px solid var(--line);border-radius:6px}
.chart figcaption{font-weight:700;margin-bottom:.4rem}
.chart table{width:100%;border-collapse:collapse}
.chart th{text-align:left;font-weight:400;white-space:nowrap;padding:.1rem .75rem .1rem 0;width:1%}
.chart td{padding:.1rem 0;display:flex;align-items:center}
.track{flex:1}
.bar{display:block;height:.85rem;min-width:2px;background:var(--bar);border-radius:2px;vertical-align:middle;print-color-adjust:exact;-webkit-print-color-adjust:exact}
.n{margin-left:.4rem;min-width:2.5rem;font-variant-numeric:tabular-nums}
.story{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.9rem 1.1rem;margin:0 0 1rem;background:var(--card)}
.story.untracked{border-left-color:var(--muted)}
.story dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}
.story dt{font-weight:700}
.story dd{margin:0}
.story dd ul{margin:0;padding-left:1.1rem}
.tag{display:inline-block;border:1px solid var(--line);border-radius:999px;padding:0 .55rem;margin:0 .25rem .25rem 0;font-size:.85rem;background:var(--bg)}
.tag .fam{color:var(--muted);font-size:.75rem;margin-right:.3rem}
ol.articles,ul.articles{margin:.4rem 0 0;padding-left:1.4rem}
.articles li{margin:.2rem 0}
.tags{margin:.15rem 0 0}
.lead{margin:.1rem 0 .4rem;color:var(--muted);font-size:.92rem}
table.failed{width:100%;border-collapse:collapse;font-size:.92rem}
table.failed th,table.failed td{text-align:left;border-bottom:1px solid var(--line);padding:.3rem .5rem;vertical-align:top}
table.failed td.err{color:var(--warn)}
footer{margin-top:2.5rem;font-size:.8rem;color:var(--muted)}
@media print{
 :root{--fg:#000;--muted:#444;--bg:#fff;--card:#fff;--line:#999;--accent:#000;--bar:#555}
 body{max-width:none;padding:0;font-size:10.5pt}
 a{text-decoration:none}
 a[href]::after{content:" <" attr(href) ">";font-size:.8em;color:#444;word-break:break-all}
 .story,.chart,tr{break-inside:avoid}
 h2,h3{break-after:avoid}
}
"#;

/// Escapes untrusted text as one clean line of HTML text.
fn h(text: &str) -> String {
    sanitize::html_escape(&sanitize::terminal_line(text)).into_owned()
}

/// Renders the digest as one HTML document.
pub fn render(d: &Digest) -> String {
    let tz: Tz = d.period.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let one_day = d.period.first_day == d.period.last_day;
    let label = if one_day {
        d.period.first_day.format("%Y-%m-%d").to_string()
    } else {
        format!(
            "{} – {}",
            d.period.first_day.format("%Y-%m-%d"),
            d.period.last_day.format("%Y-%m-%d")
        )
    };
    let mut o = String::with_capacity(32 * 1024);
    // `write!` into a String cannot fail; results are ignored on purpose.
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>kessai digest {label}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        csp = sanitize::html_escape(CSP),
    );
    let _ = writeln!(o, "<header>\n<h1>kessai digest {label}</h1>");
    let _ = writeln!(
        o,
        "<p class=\"meta\">Period: <time>{}</time> – <time>{}</time> ({})</p>",
        text::local_time(d.period.start, tz),
        text::local_time(d.period.end, tz),
        h(&d.period.time_zone)
    );
    if let Some(q) = &d.query {
        let _ = writeln!(o, "<p class=\"meta\">Query: <code>{}</code></p>", h(q));
    }
    let _ = writeln!(o, "</header>\n<main>");

    summary(&mut o, d);

    let _ = writeln!(o, "<section id=\"incidents\">\n<h2>Incidents</h2>");
    if d.incidents.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"muted\">No incidents reported in this period.</p>"
        );
    }
    for (n, s) in d.incidents.iter().enumerate() {
        story(&mut o, n + 1, s, tz, one_day);
    }
    let _ = writeln!(o, "</section>");

    let _ = writeln!(o, "<section id=\"other\">\n<h2>Other news</h2>");
    if d.other_news.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"muted\">No other articles in this period.</p>"
        );
    }
    for section in &d.other_news {
        let _ = writeln!(
            o,
            "<h3>{} <span class=\"muted\">({})</span></h3>\n<ul class=\"articles\">",
            h(&section.title),
            section.articles.len()
        );
        for a in &section.articles {
            let _ = write!(o, "<li>{}", article_line(a, tz, one_day));
            if !a.tags.is_empty() {
                let _ = write!(o, "<div class=\"tags\">");
                for t in &a.tags {
                    let _ = write!(
                        o,
                        "<span class=\"tag\"><span class=\"fam\">{}</span>{}</span>",
                        t.family.as_str(),
                        h(&t.label)
                    );
                }
                let _ = write!(o, "</div>");
            }
            if !a.lead.is_empty() {
                let _ = write!(o, "<p class=\"lead\">{}</p>", h(&a.lead));
            }
            let _ = writeln!(o, "</li>");
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "</section>");

    failures(&mut o, d, tz);

    let _ = writeln!(
        o,
        "</main>\n<footer>kessai digest · schema version {} · times in {}</footer>\n</body>\n</html>",
        d.schema_version,
        h(&d.period.time_zone)
    );
    o
}

fn summary(o: &mut String, d: &Digest) {
    let s = &d.summary;
    let _ = writeln!(o, "<section id=\"summary\" aria-label=\"Summary\">");
    let _ = writeln!(o, "<dl class=\"stats\">");
    for (name, n) in [
        ("Articles", s.articles),
        ("Incidents", s.incidents),
        ("Known incidents", s.known_incidents),
        ("Sources", s.sources),
        ("Failed sources", s.failed_sources),
    ] {
        let _ = writeln!(o, "<div><dt>{name}</dt><dd>{}</dd></div>", digits(n));
    }
    let _ = writeln!(o, "</dl>");
    if !s.services.is_empty() {
        let top: Vec<String> = s
            .services
            .iter()
            .take(TOP_SERVICES)
            .map(|t| format!("{} ({})", h(&t.label), t.articles))
            .collect();
        let _ = writeln!(
            o,
            "<p class=\"top\"><strong>Most mentioned:</strong> {}</p>",
            top.join(" · ")
        );
        chart(o, &s.services);
    }
    let _ = writeln!(o, "</section>");
}

/// Articles per service as CSS bars; widths come from the counts alone.
fn chart(o: &mut String, services: &[TagCount]) {
    let max = services
        .iter()
        .map(|t| t.articles)
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        o,
        "<figure class=\"chart\">\n<figcaption>Articles per service</figcaption>\n<table>"
    );
    for t in services.iter().take(CHART_BARS) {
        // Tenths of a percent, from integers: no float formatting surprises.
        let permille = t.articles.saturating_mul(1000) / max;
        let _ = writeln!(
            o,
            "<tr><th scope=\"row\">{}</th><td><span class=\"track\"><span class=\"bar\" style=\"width:{}.{}%\"></span></span><span class=\"n\">{}</span></td></tr>",
            h(&t.label),
            permille / 10,
            permille % 10,
            digits(t.articles)
        );
    }
    if services.len() > CHART_BARS {
        let rest: u64 = services.iter().skip(CHART_BARS).map(|t| t.articles).sum();
        let _ = writeln!(
            o,
            "<tr><th scope=\"row\" class=\"muted\">{} more</th><td><span class=\"n\">{}</span></td></tr>",
            services.len() - CHART_BARS,
            digits(rest)
        );
    }
    let _ = writeln!(o, "</table>\n</figure>");
}

fn link(a: &ArticleEntry) -> String {
    let title = h(&a.title);
    // safe_link (http/https only), re-serialised so the target holds no quote or bracket;
    // escaped all the same.
    match text::clean_link(&a.url) {
        Some(url) => format!(
            "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{title}</a>",
            sanitize::html_escape(&url)
        ),
        None => title,
    }
}

fn article_line(a: &ArticleEntry, tz: Tz, one_day: bool) -> String {
    format!(
        "<time datetime=\"{}\">{}</time> <span class=\"src\">{}</span> {}",
        a.published.to_rfc3339(),
        short_time(a.published, tz, one_day),
        h(&a.source),
        link(a)
    )
}

fn sources_note(sources: &[FactSource]) -> String {
    format!(
        "<span class=\"src\">({})</span>",
        h(&source_names(sources).join(", "))
    )
}

fn tags(tags: &[TagCount]) -> String {
    let mut out = String::new();
    for family in Family::ALL {
        for t in tags.iter().filter(|t| t.family == family) {
            let _ = write!(
                out,
                "<span class=\"tag\"><span class=\"fam\">{}</span>{}</span>",
                family.as_str(),
                h(&t.label)
            );
        }
    }
    out
}

/// Notes facts left out of a list.
fn more(o: &mut String, hidden: usize) {
    if hidden > 0 {
        let _ = write!(
            o,
            "<li class=\"muted\">… {hidden} more in the JSON digest</li>"
        );
    }
}

/// One fact as list-item content.
fn fact(item: &FactItem<'_>) -> String {
    match item {
        FactItem::Count(c) => format!(
            "{}{} “{}” {}",
            digits(c.value),
            h(&c.unit),
            h(&c.text),
            sources_note(&c.sources)
        ),
        FactItem::Amount(a) => format!(
            "¥{} “{}” {}",
            digits(a.yen),
            h(&a.text),
            sources_note(&a.sources)
        ),
        FactItem::Date(e) => format!(
            "<time datetime=\"{date}\">{date}</time> {} “{}” {}",
            e.role.name(),
            h(&e.text),
            sources_note(&e.sources),
            date = e.date.format("%Y-%m-%d"),
        ),
        FactItem::Cause(c) => format!("{} {}", h(&c.cause), sources_note(&c.sources)),
    }
}

fn story(o: &mut String, n: usize, s: &Story, tz: Tz, one_day: bool) {
    let class = match s.kind {
        super::StoryKind::Incident => "story",
        super::StoryKind::ServiceThreat => "story untracked",
    };
    let _ = writeln!(o, "<article class=\"{class}\" id=\"story-{n}\">");
    let _ = writeln!(o, "<h3>{n}. {}</h3>", h(&s.title));
    let _ = writeln!(o, "<dl>");
    let _ = writeln!(
        o,
        "<dt>First report</dt><dd><time>{}</time> {}</dd>",
        text::local_time(s.first_published, tz),
        h(&s.headline)
    );
    let sources: Vec<String> = s
        .sources
        .iter()
        .map(|src| format!("{} ({})", h(&src.name), src.articles))
        .collect();
    let _ = writeln!(
        o,
        "<dt>Sources ({})</dt><dd>{}</dd>",
        s.sources.len(),
        sources.join(", ")
    );
    if !s.tags.is_empty() {
        let _ = writeln!(o, "<dt>Tags</dt><dd>{}</dd>", tags(&s.tags));
    }
    for list in text::fact_lists(&s.facts) {
        let _ = write!(o, "<dt>{}</dt><dd><ul>", list.label);
        for item in &list.shown {
            let _ = write!(o, "<li>{}</li>", fact(item));
        }
        more(o, list.hidden);
        let _ = writeln!(o, "</ul></dd>");
    }
    let _ = writeln!(o, "</dl>\n<ol class=\"articles\">");
    for a in &s.articles {
        let _ = writeln!(o, "<li>{}</li>", article_line(a, tz, one_day));
    }
    let _ = writeln!(o, "</ol>\n</article>");
}

fn failures(o: &mut String, d: &Digest, tz: Tz) {
    let _ = writeln!(
        o,
        "<section id=\"failures\">\n<h2>Appendix: sources that failed to fetch</h2>"
    );
    if d.failed_sources.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">None.</p>\n</section>");
        return;
    }
    let _ = writeln!(
        o,
        "<table class=\"failed\">\n<thead><tr><th>Source</th><th>Last attempt</th><th>In a row</th><th>Last success</th><th>Error</th></tr></thead>\n<tbody>"
    );
    for f in &d.failed_sources {
        let last_success = f
            .last_success
            .map(|t| text::local_time(t, tz))
            .unwrap_or_else(|| "never".to_string());
        let _ = writeln!(
            o,
            "<tr><td>{} <span class=\"src\">({})</span></td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            h(&f.name),
            h(f.feed.as_str()),
            text::local_time(f.last_attempt, tz),
            f.consecutive_failures,
            last_success,
            h(&f.error)
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}
