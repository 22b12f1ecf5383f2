//! The incident timeline: one row per service, one cell per day/week/month, bar height by
//! the number of incident articles in that bucket. The selected cell is described below the
//! chart; Enter lists its articles.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{dim, family_color, pane_block, selected_style};
use crate::model::Family;
use crate::tui::state::{App, Granularity, Load, TimelineData};
use crate::tui::text::{clean_line, fit, truncate};

/// The timeline pane.
pub struct TimelinePane<'a> {
    /// State.
    pub app: &'a App,
}

const LABEL_W: usize = 18;
const TOTAL_W: usize = 6;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The bar glyph for `count` out of `max` (a dot for none).
pub fn bar(count: u32, max: u32) -> char {
    if count == 0 || max == 0 {
        return '·';
    }
    let level = (u64::from(count) * 8).div_ceil(u64::from(max)).clamp(1, 8);
    BARS[(level - 1) as usize]
}

/// The first bucket shown when `vis` fit and `col` is selected.
pub fn window_start(col: usize, vis: usize, len: usize) -> usize {
    let start = (col + 1).saturating_sub(vis);
    start.min(len.saturating_sub(vis))
}

fn bucket_name(g: Granularity, d: chrono::NaiveDate) -> String {
    match g {
        Granularity::Day => d.format("%Y-%m-%d").to_string(),
        Granularity::Week => format!("week of {}", d.format("%Y-%m-%d")),
        Granularity::Month => d.format("%Y-%m").to_string(),
    }
}

/// Axis labels: a date at the first bucket of each month (year for monthly buckets) where
/// there is room; each bucket is `cw` cells wide.
fn axis(data: &TimelineData, start: usize, vis: usize, cw: usize) -> String {
    let cells = vis * cw;
    let mut line = vec![' '; cells];
    let mut next_free = 0;
    let mut prev: Option<chrono::NaiveDate> = start
        .checked_sub(1)
        .and_then(|i| data.buckets.get(i).copied());
    for (i, d) in data.buckets.iter().enumerate().skip(start).take(vis) {
        let x = (i - start) * cw;
        let (label, new_unit) = match data.granularity {
            Granularity::Month => (
                d.format("%Y").to_string(),
                prev.is_none_or(|p| p.format("%Y").to_string() != d.format("%Y").to_string()),
            ),
            _ => (
                d.format("%Y-%m").to_string(),
                prev.is_none_or(|p| p.format("%Y-%m").to_string() != d.format("%Y-%m").to_string()),
            ),
        };
        prev = Some(*d);
        if new_unit && x >= next_free && x + label.len() <= cells {
            for (k, c) in label.chars().enumerate() {
                line[x + k] = c;
            }
            next_free = x + label.len() + 1;
        }
    }
    line.into_iter().collect()
}

impl Widget for TimelinePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = &self.app.timeline;
        let title = format!(
            " Incident timeline · articles per {} per service ",
            t.granularity.name()
        );
        let block = pane_block(Line::from(title), true);
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        let note = |msg: &str, style: Style, buf: &mut Buffer| {
            buf.set_string(inner.x, inner.y, fit(msg, w), style);
        };
        let data = match (&t.load, &t.data) {
            (Load::Error(e), _) => {
                return note(
                    &format!("error: {}", clean_line(e)),
                    Style::default().fg(Color::Red),
                    buf,
                );
            }
            (Load::Loading, _) | (Load::Idle, None) => {
                return note("Counting incident articles…", dim(), buf);
            }
            (_, None) => return,
            (_, Some(d)) => d,
        };
        if data.rows.is_empty() {
            return note("No articles tagged with an incident yet.", dim(), buf);
        }
        let room = w.saturating_sub(LABEL_W + TOTAL_W + 2).max(1);
        // Few buckets get wider bars (up to 3 cells) so the chart uses the pane.
        let cw = (room / data.buckets.len().max(1)).clamp(1, 3);
        let vis = room / cw;
        let start = window_start(t.col, vis, data.buckets.len());
        // Rows: label, bars, total. Three lines are kept for the axis and the description.
        let chart_rows = usize::from(inner.height).saturating_sub(4).max(1);
        let row_off = (t.row + 1).saturating_sub(chart_rows);
        for (ri, row) in data.rows.iter().enumerate().skip(row_off).take(chart_rows) {
            let y = inner.y + (ri - row_off) as u16;
            let label_style = if ri == t.row {
                Style::default()
                    .fg(family_color(Family::Service))
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(family_color(Family::Service))
            };
            let mut spans = vec![
                Span::styled(fit(&clean_line(row.service.as_str()), LABEL_W), label_style),
                Span::raw(" "),
            ];
            for (ci, &count) in row.counts.iter().enumerate().skip(start).take(vis) {
                let mut style = if count == 0 {
                    dim()
                } else {
                    Style::default().fg(family_color(Family::Incident))
                };
                if ri == t.row && ci == t.col {
                    style = style.patch(selected_style(true));
                } else if ci == t.col {
                    style = style.bg(Color::DarkGray);
                }
                let glyph = if count == 0 {
                    format!("·{}", " ".repeat(cw.saturating_sub(2)))
                } else {
                    bar(count, data.max)
                        .to_string()
                        .repeat(cw.saturating_sub(1).max(1))
                };
                spans.push(Span::styled(glyph, style));
                if cw > 1 {
                    spans.push(Span::raw(" "));
                }
            }
            let shown = row.counts.len().saturating_sub(start).min(vis);
            spans.push(Span::raw(" ".repeat(room - shown * cw + 1)));
            spans.push(Span::styled(
                format!("{:>width$}", row.total, width = TOTAL_W - 1),
                dim(),
            ));
            buf.set_line(inner.x, y, &Line::from(spans), inner.width);
        }
        let y_axis = inner.y + chart_rows.min(data.rows.len()) as u16;
        if y_axis < inner.bottom() {
            let line = format!("{}{}", " ".repeat(LABEL_W + 1), axis(data, start, vis, cw));
            buf.set_string(inner.x, y_axis, truncate(&line, w), dim());
        }
        let (Some(row), Some(&b)) = (data.rows.get(t.row), data.buckets.get(t.col)) else {
            return;
        };
        let count = row.counts.get(t.col).copied().unwrap_or(0);
        let incidents: Vec<String> = row
            .incidents
            .iter()
            .map(|i| clean_line(i.as_str()))
            .collect();
        let desc = format!(
            "{} · {} · {} article{} · incidents: {}",
            clean_line(row.service.as_str()),
            bucket_name(data.granularity, b),
            count,
            if count == 1 { "" } else { "s" },
            incidents.join(", ")
        );
        let y = y_axis + 2;
        if y < inner.bottom() {
            buf.set_string(
                inner.x,
                y,
                truncate(&desc, w),
                Style::default().add_modifier(Modifier::BOLD),
            );
        }
        if y + 1 < inner.bottom() {
            buf.set_string(inner.x, y + 1, truncate("h/l move in time · j/k service · Enter lists these articles · w day/week/month", w), dim());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_max() {
        assert_eq!(bar(0, 5), '·');
        assert_eq!(bar(5, 5), '█');
        assert_eq!(bar(1, 8), '▁');
        assert_eq!(bar(1, 100), '▁');
    }

    #[test]
    fn window_keeps_selection_visible() {
        assert_eq!(window_start(0, 10, 100), 0);
        assert_eq!(window_start(99, 10, 100), 90);
        assert_eq!(window_start(50, 10, 100), 41);
        assert_eq!(window_start(3, 10, 5), 0);
    }
}
