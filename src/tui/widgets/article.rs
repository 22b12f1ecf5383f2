//! The article pane: title, source, date, link, tags with their facts, and the body with the
//! tagger's evidence and the search terms highlighted. The lines are built (and wrapped to
//! the pane's width) once when the article opens or the width changes, not on every frame.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{dim, family_color, match_style, pane_block};
use crate::model::{Analysis, Article, Family, Field, Flags, Span as MSpan};
use crate::tui::state::{App, Load, jst_datetime};
use crate::tui::text::{clean_line, fit, highlight_runs, truncate, wrap};

/// The article pane.
pub struct ArticlePane<'a> {
    /// State.
    pub app: &'a App,
    /// Whether it has the keyboard.
    pub focused: bool,
}

/// Byte ranges where any word of `query` occurs in `text`, ignoring ASCII case (which keeps
/// byte offsets valid, unlike full lowercasing).
pub fn query_ranges(text: &str, query: &str) -> Vec<(usize, usize)> {
    let hay = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for word in query.split_whitespace() {
        // Query syntax (tag:..., -term, quotes) is not text to find.
        let word = word.trim_matches('"');
        if word.is_empty() || word.starts_with('-') || word.contains(':') {
            continue;
        }
        let needle = word.to_ascii_lowercase();
        let mut from = 0;
        while let Some(pos) = hay[from..].find(&needle) {
            let s = from + pos;
            out.push((s, s + needle.len()));
            from = s + needle.len();
        }
    }
    out
}

fn evidence(analysis: &Analysis, field: Field) -> Vec<(usize, usize, Style)> {
    analysis
        .tags
        .iter()
        .flat_map(|t| {
            let style = Style::default()
                .fg(family_color(t.family))
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            t.spans
                .iter()
                .filter(move |s| s.field == field)
                .map(move |s| (s.start, s.end, style))
        })
        .collect()
}

/// What of the active search to mark in the article.
#[derive(Debug, Clone, Copy)]
pub enum QueryMarks<'a> {
    /// No search.
    None,
    /// The query's words, found as text (the title filter).
    Words(&'a str),
    /// Where the full-text engine matched (whole tokens, spelling variants).
    Spans(&'a [MSpan]),
}

fn marks(
    text: &str,
    analysis: &Analysis,
    field: Field,
    query: QueryMarks<'_>,
) -> Vec<(usize, usize, Style)> {
    let mut m = evidence(analysis, field);
    match query {
        QueryMarks::None => {}
        QueryMarks::Words(q) => m.extend(
            query_ranges(text, q)
                .into_iter()
                .map(|(s, e)| (s, e, match_style())),
        ),
        QueryMarks::Spans(spans) => m.extend(
            spans
                .iter()
                .filter(|s| s.field == field)
                .map(|s| (s.start, s.end, match_style())),
        ),
    }
    m
}

fn yen(n: u64) -> String {
    format!("¥{}", crate::model::group_digits(n))
}

/// The article's lines wrapped to `width` cells, and the indices of lines holding a search
/// match (for n/N).
pub fn article_lines(
    article: &Article,
    analysis: &Analysis,
    flags: Flags,
    query: QueryMarks<'_>,
    width: usize,
) -> (Vec<Line<'static>>, Vec<usize>) {
    if width == 0 {
        return (Vec::new(), Vec::new());
    }
    let d = &article.draft;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let bold = Style::default().add_modifier(Modifier::BOLD);
    // Title: one line of text, wrapped, with its evidence.
    let title = d.title.replace(['\n', '\r'], " ");
    lines.extend(wrap(
        &highlight_runs(&title, &marks(&title, analysis, Field::Title, query), bold),
        width,
    ));
    let mut meta = vec![
        Span::styled(
            clean_line(d.feed.as_str()),
            Style::default().fg(Color::Blue),
        ),
        Span::styled(format!(" · {}", jst_datetime(d.published)), dim()),
    ];
    if !flags.read {
        meta.push(Span::styled(
            " · unread",
            Style::default().fg(Color::Yellow),
        ));
    }
    if flags.starred {
        meta.push(Span::styled(
            " · * starred",
            Style::default().fg(Color::Yellow),
        ));
    }
    lines.extend(wrap(
        &[meta
            .into_iter()
            .map(|s| (s.content.into_owned(), s.style))
            .collect()],
        width,
    ));
    let link = match crate::sanitize::safe_link(&d.url) {
        Some(u) => (
            u.to_string(),
            Style::default()
                .fg(Color::Blue)
                .add_modifier(Modifier::UNDERLINED),
        ),
        None => (
            format!(
                "{} (not http/https: o will not open it)",
                clean_line(&d.url)
            ),
            Style::default().fg(Color::Red),
        ),
    };
    lines.extend(wrap(&[vec![link]], width));
    lines.push(Line::default());

    // Tags, one family per line, then the facts.
    if !analysis.tags.is_empty() {
        lines.push(Line::from(Span::styled("Tags", bold)));
        for family in Family::ALL {
            let tags: Vec<_> = analysis
                .tags
                .iter()
                .filter(|t| t.family == family)
                .collect();
            if tags.is_empty() {
                continue;
            }
            let mut run = vec![(format!("  {:<11}", family.as_str()), dim())];
            for (i, t) in tags.iter().enumerate() {
                if i > 0 {
                    run.push((", ".into(), Style::default()));
                }
                run.push((
                    clean_line(t.tag.as_str()),
                    Style::default().fg(family_color(family)),
                ));
                // The taxonomy's Japanese name, when it says more than the id.
                if let Some(e) = crate::taxonomy::Taxonomy::builtin().get(t.tag.as_str()) {
                    if !e.label_ja.is_empty() && e.label_ja != t.tag.as_str() {
                        run.push((format!(" {}", clean_line(&e.label_ja)), dim()));
                    }
                }
                if t.count > 1 {
                    run.push((format!(" ×{}", t.count), dim()));
                }
            }
            lines.extend(wrap(&[run], width));
        }
    }
    let f = &analysis.facts;
    let mut facts: Vec<Vec<(String, Style)>> = Vec::new();
    let label = |s: &str| (format!("  {s:<11}"), dim());
    for c in &f.counts {
        facts.push(vec![
            label("count"),
            (clean_line(&c.text), Style::default()),
            (format!("  = {} {}", c.value, clean_line(&c.unit)), dim()),
        ]);
    }
    for a in &f.amounts {
        facts.push(vec![
            label("amount"),
            (clean_line(&a.text), Style::default()),
            (format!("  = {}", yen(a.yen)), dim()),
        ]);
    }
    for dt in &f.dates {
        facts.push(vec![
            label(dt.role.name()),
            (dt.date.format("%Y-%m-%d").to_string(), Style::default()),
            (format!("  ({})", clean_line(&dt.text)), dim()),
        ]);
    }
    for c in &f.causes {
        facts.push(vec![label("cause"), (clean_line(c), Style::default())]);
    }
    if !facts.is_empty() {
        lines.push(Line::from(Span::styled("Facts", bold)));
        lines.extend(wrap(&facts, width));
    }
    if !analysis.tags.is_empty() || !facts.is_empty() {
        lines.push(Line::default());
    }

    // The lead (feed summary) when the body does not already begin with it, then the body.
    let summary = d.summary.trim();
    let body = d.body.trim_end();
    if !summary.is_empty() && !body.trim_start().starts_with(summary) {
        let base = Style::default().add_modifier(Modifier::ITALIC);
        lines.extend(wrap(
            &highlight_runs(
                &d.summary,
                &marks(&d.summary, analysis, Field::Lead, query),
                base,
            ),
            width,
        ));
        lines.push(Line::default());
    }
    if body.is_empty() && summary.is_empty() {
        lines.push(Line::from(Span::styled(
            "(no text stored for this article)",
            dim(),
        )));
    } else {
        lines.extend(wrap(
            &highlight_runs(
                body,
                &marks(body, analysis, Field::Body, query),
                Style::default(),
            ),
            width,
        ));
    }
    let match_lines = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.spans
                .iter()
                .any(|s| s.style.add_modifier.contains(Modifier::REVERSED))
        })
        .map(|(i, _)| i)
        .collect();
    (lines, match_lines)
}

impl Widget for ArticlePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let title = match &app.article {
            Some(o) => format!(" Article {} ", o.article.id),
            None => " Article ".to_string(),
        };
        let mut block = pane_block(Line::from(title), self.focused);
        if let Some(o) = &app.article {
            let h = usize::from(area.height.saturating_sub(2));
            if o.lines.len() > h {
                let end = (o.scroll + h).min(o.lines.len());
                block = block
                    .title_bottom(Line::from(format!(" {end}/{} ", o.lines.len())).right_aligned());
            }
        }
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        let note = |msg: String, style: Style, buf: &mut Buffer| {
            buf.set_string(inner.x, inner.y, fit(&msg, w), style);
        };
        match (&app.article_load, &app.article) {
            (Load::Loading, _) => return note("Loading…".into(), dim(), buf),
            (Load::Error(e), _) => {
                return note(
                    format!("error: {}", clean_line(e)),
                    Style::default().fg(Color::Red),
                    buf,
                );
            }
            (_, None) => {
                return note(
                    truncate("Enter opens the selected article.", w).into_owned(),
                    dim(),
                    buf,
                );
            }
            _ => {}
        }
        let Some(open) = &app.article else { return };
        for (i, line) in open
            .lines
            .iter()
            .skip(open.scroll)
            .take(usize::from(inner.height))
            .enumerate()
        {
            buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArticleDraft, ArticleId, FeedId, TagHit, TagId};
    use crate::tui::text::width;
    use chrono::{TimeZone, Utc};

    fn article(body: &str) -> Article {
        Article {
            id: ArticleId(7),
            draft: ArticleDraft {
                feed: FeedId::new("paysec"),
                url: "javascript:alert(1)".into(),
                guid: None,
                title: "7payで不正利用".into(),
                summary: String::new(),
                body: body.into(),
                published: Utc.with_ymd_and_hms(2019, 7, 4, 1, 0, 0).unwrap(),
                fetched: Utc.with_ymd_and_hms(2019, 7, 4, 2, 0, 0).unwrap(),
                content_hash: "h".into(),
            },
        }
    }

    fn text(l: &Line<'_>) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn query_ranges_ignore_ascii_case_and_syntax() {
        let t = "PayPayとpaypay、tag:x";
        assert_eq!(query_ranges(t, "paypay tag:x -no"), vec![(0, 6), (9, 15)]);
        assert_eq!(query_ranges("二要素認証", "要素"), vec![(3, 9)]);
    }

    #[test]
    fn lines_fit_and_mark_matches_and_evidence() {
        let body = "セブンペイでは二要素認証が導入されていなかった。\n\n不正利用の被害は約900人。";
        let start = body.find("二要素認証").unwrap();
        let analysis = Analysis {
            tags: vec![TagHit {
                tag: TagId::new("2fa"),
                family: Family::Control,
                count: 1,
                spans: vec![MSpan {
                    field: Field::Body,
                    start,
                    end: start + "二要素認証".len(),
                }],
            }],
            ..Analysis::default()
        };
        let (lines, matches) = article_lines(
            &article(body),
            &analysis,
            Flags::default(),
            QueryMarks::Words("不正利用"),
            20,
        );
        for l in &lines {
            assert!(width(&text(l)) <= 20, "{:?}", text(l));
        }
        // The title and the body each hold the term.
        assert_eq!(matches.len(), 2);
        assert_eq!(matches[0], 0);
        assert!(text(&lines[matches[1]]).contains("不正利用"));
        let ev = lines
            .iter()
            .flat_map(|l| l.spans.iter())
            // The wrap may split the evidence over two rows; its first part is "二要素".
            .find(|s| s.content.starts_with("二要素") && "二要素認証".contains(s.content.as_ref()))
            .unwrap();
        assert!(ev.style.add_modifier.contains(Modifier::UNDERLINED));
        // A javascript: link is shown as refused, never as a link.
        assert!(lines.iter().any(|l| text(l).contains("not http/https")));
    }

    #[test]
    fn yen_groups_digits() {
        assert_eq!(yen(48_200_000_000), "¥48,200,000,000");
        assert_eq!(yen(900), "¥900");
    }
}
