//! The article list: unread/starred marks, date (JST), source, title and tag chips, one
//! article per row, every column measured in cells.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{dim, family_color, pane_block, selected_style};
use crate::tui::state::{App, Chip, ListRow, Load, jst_date};
use crate::tui::text::{clean_line, fit, truncate, width};

/// The list pane.
pub struct ListPane<'a> {
    /// State.
    pub app: &'a App,
    /// Whether it has the keyboard.
    pub focused: bool,
}

/// Source column width (cells) when the row is wide enough to have one.
const SOURCE_W: usize = 12;

/// The chips that fit in `max` cells, whole, in the order given.
fn chips_that_fit(chips: &[Chip], max: usize) -> (Vec<Span<'static>>, usize) {
    let mut spans = Vec::new();
    let mut used = 0;
    for c in chips {
        let text = format!("[{}]", clean_line(c.tag.as_str()));
        let w = width(&text) + usize::from(!spans.is_empty());
        if used + w > max {
            break;
        }
        if !spans.is_empty() {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(
            text,
            Style::default().fg(family_color(c.family)),
        ));
        used += w;
    }
    (spans, used)
}

/// One list row, exactly `w` cells wide.
pub fn row_line(r: &ListRow, w: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let marks = format!(
        "{}{} ",
        if r.flags.read { ' ' } else { 'N' },
        if r.flags.starred { '*' } else { ' ' }
    );
    spans.push(Span::styled(
        marks,
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    ));
    let mut rest = w.saturating_sub(3);
    if rest >= 11 {
        spans.push(Span::styled(format!("{} ", jst_date(r.published)), dim()));
        rest -= 11;
    }
    if rest >= 40 + SOURCE_W {
        spans.push(Span::styled(
            format!("{} ", fit(&r.feed, SOURCE_W)),
            Style::default().fg(Color::Blue),
        ));
        rest -= SOURCE_W + 1;
    }
    // Chips get at most a third of what is left, and only whole chips are shown.
    let (chip_spans, chip_w) = chips_that_fit(&r.chips, rest / 3);
    let title_w = rest.saturating_sub(chip_w + usize::from(chip_w > 0));
    let title_style = if r.flags.read {
        Style::default()
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    };
    spans.push(Span::styled(fit(&r.title, title_w), title_style));
    if chip_w > 0 {
        spans.push(Span::raw(" "));
        spans.extend(chip_spans);
    }
    Line::from(spans)
}

/// The pane title: what the list shows.
pub fn title(app: &App) -> String {
    let mut t = String::from(" Articles");
    let f = crate::tui::state::describe(&app.filters);
    if !f.is_empty() {
        t.push_str(" · ");
        t.push_str(&f);
    }
    if let Some(s) = &app.search {
        t.push_str(" · /");
        t.push_str(&clean_line(&s.query));
    }
    let l = &app.list;
    t.push_str(&format!(
        " · {}{} ",
        l.rows.len(),
        if l.exhausted { "" } else { "+" }
    ));
    if app.search.is_some() && !l.exhausted {
        // A search looks at the newest articles first and goes on as you scroll.
        t.push_str(&format!("({} searched) ", l.scanned));
    }
    t
}

impl Widget for ListPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let head = truncate(&title(app), usize::from(area.width.saturating_sub(2))).into_owned();
        let block = pane_block(Line::from(head), self.focused);
        let inner = block.inner(area);
        block.render(area, buf);
        let l = &app.list;
        let w = usize::from(inner.width);
        if l.rows.is_empty() {
            let (msg, style) = match &l.load {
                Load::Loading | Load::Idle => ("Loading…".to_string(), dim()),
                Load::Error(e) => (
                    format!("error: {}", clean_line(e)),
                    Style::default().fg(Color::Red),
                ),
                Load::Loaded if app.search.is_some() => (
                    "No matches. / edits the search, c clears it.".to_string(),
                    dim(),
                ),
                Load::Loaded => (
                    "No articles. c clears filters; R fetches feeds.".to_string(),
                    dim(),
                ),
            };
            buf.set_string(inner.x, inner.y, fit(&msg, w), style);
            return;
        }
        let rows = usize::from(inner.height);
        for (i, r) in l.rows.iter().enumerate().skip(l.offset).take(rows) {
            let y = inner.y + (i - l.offset) as u16;
            let mut line = row_line(r, w);
            if i == l.selected {
                line = line.patch_style(selected_style(self.focused));
            }
            buf.set_line(inner.x, y, &line, inner.width);
        }
        if matches!(l.load, Load::Loading) && l.offset + rows > l.rows.len() {
            let y = inner.y + (l.rows.len() - l.offset) as u16;
            if y < inner.bottom() {
                buf.set_string(inner.x, y, "Loading more…", dim());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArticleId, Family, Flags, TagId};
    use chrono::{TimeZone, Utc};

    fn line_text(l: &Line<'_>) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    fn row(title: &str) -> ListRow {
        ListRow {
            id: ArticleId(1),
            published: Utc.with_ymd_and_hms(2019, 7, 4, 1, 0, 0).unwrap(),
            feed: "セキュリティ速報ニュース".into(),
            title: title.into(),
            url: "http://127.0.0.1/a".into(),
            chips: vec![
                Chip {
                    tag: TagId::new("7pay-2019"),
                    family: Family::Incident,
                },
                Chip {
                    tag: TagId::new("7pay"),
                    family: Family::Service,
                },
            ],
            flags: Flags::default(),
        }
    }

    #[test]
    fn rows_are_exactly_the_pane_width() {
        for w in [20, 41, 60, 79, 80, 117, 200] {
            let l = row_line(
                &row("セブンペイ不正利用、被害は約900人・5500万円に　二要素認証なし"),
                w,
            );
            assert_eq!(width(&line_text(&l)), w, "width {w}: {:?}", line_text(&l));
        }
    }

    #[test]
    fn chips_are_whole_or_absent() {
        let (spans, used) = chips_that_fit(&row("x").chips, 12);
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "[7pay-2019]");
        assert_eq!(used, 11);
        assert_eq!(chips_that_fit(&row("x").chips, 5).1, 0);
    }
}
