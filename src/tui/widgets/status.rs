//! The status bar: the search prompt while typing; otherwise refresh progress, the latest
//! message, and key hints.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::dim;
use crate::tui::state::{App, Refresh, StatusKind, View};
use crate::tui::text::{clean_line, truncate, width};

/// The status bar.
pub struct StatusBar<'a> {
    /// State.
    pub app: &'a App,
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let w = usize::from(area.width);
        buf.set_style(area, Style::default().bg(Color::Black));
        if let Some(text) = &app.prompt {
            let hint = "  words \"phrase\" OR -word tag: feed: since: is:unread · Enter · Esc";
            let q = clean_line(text);
            let line = Line::from(vec![
                Span::styled(
                    "/ ",
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(q.clone()),
                Span::styled(
                    truncate(hint, w.saturating_sub(width(&q) + 2)).into_owned(),
                    dim(),
                ),
            ]);
            buf.set_line(area.x, area.y, &line, area.width);
            return;
        }
        let hints = match app.view {
            View::Reader => " ? help  q quit",
            View::Timeline => " Enter list  w buckets  T back  ? help",
        };
        let mut left: Vec<Span<'static>> = Vec::new();
        if let Refresh::Running { done, total, new } = app.refresh {
            let text = if total == 0 {
                "refreshing… ".to_string()
            } else {
                format!("refreshing {done}/{total} feeds, {new} new ")
            };
            left.push(Span::styled(text, Style::default().fg(Color::Cyan)));
        }
        if let Some(s) = &app.status {
            let style = match s.kind {
                StatusKind::Info => Style::default(),
                StatusKind::Error => Style::default()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            };
            left.push(Span::styled(clean_line(&s.text), style));
        }
        let room = w.saturating_sub(width(hints) + 1);
        let mut used = 0;
        let mut spans = Vec::new();
        for s in left {
            let t = truncate(&s.content, room.saturating_sub(used)).into_owned();
            used += width(&t);
            spans.push(Span::styled(t, s.style));
        }
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
        if w > width(hints) {
            buf.set_string(area.x + (w - width(hints)) as u16, area.y, hints, dim());
        }
    }
}
