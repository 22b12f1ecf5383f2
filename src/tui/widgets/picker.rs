//! The tag / feed picker: a pop-up list narrowed by what is typed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{centered, dim, overlay_frame, selected_style};
use crate::tui::state::{App, PickerKind};
use crate::tui::text::{clean_line, fit, width};

/// The picker overlay.
pub struct PickerOverlay<'a> {
    /// State.
    pub app: &'a App,
}

impl Widget for PickerOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(p) = &self.app.picker else { return };
        let title = match p.kind {
            PickerKind::Tag => " Filter by tag — type to narrow, Enter chooses, Esc cancels ",
            PickerKind::Feed => " Filter by feed — type to narrow, Enter chooses, Esc cancels ",
        };
        let rect = centered(area, 64, area.height.saturating_sub(2).max(8));
        let inner = overlay_frame(Line::from(title), rect, buf);
        let w = usize::from(inner.width);
        let prompt = Line::from(vec![
            Span::styled("> ", Style::default().fg(Color::Cyan)),
            Span::raw(clean_line(&p.query)),
        ]);
        buf.set_line(inner.x, inner.y, &prompt, inner.width);
        let visible = p.visible();
        let rows = usize::from(inner.height.saturating_sub(1));
        let offset = (p.selected + 1).saturating_sub(rows);
        for (i, &idx) in visible.iter().enumerate().skip(offset).take(rows) {
            let Some(item) = p.items.get(idx) else {
                continue;
            };
            let count = item.count.map(|c| c.to_string()).unwrap_or_default();
            let label_w = w.saturating_sub(width(&count) + 2);
            let mut line = Line::from(vec![
                Span::raw(" "),
                Span::raw(fit(&item.label, label_w)),
                Span::raw(" "),
                Span::styled(count, dim()),
            ]);
            if i == p.selected {
                line = line.patch_style(selected_style(true));
            }
            buf.set_line(
                inner.x,
                inner.y + 1 + (i - offset) as u16,
                &line,
                inner.width,
            );
        }
        if visible.is_empty() {
            buf.set_string(inner.x + 1, inner.y + 2, "no match", dim());
        }
    }
}
