//! The help overlay: every key of every mode, read from the keymap tables themselves so it
//! can never disagree with them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{centered, dim, overlay_frame};
use crate::tui::input::{Binding, GLOBAL, PROMPT, READER, TIMELINE};
use crate::tui::state::App;
use crate::tui::text::fit;

/// The help overlay.
pub struct HelpOverlay<'a> {
    /// State (for the scroll position).
    pub app: &'a App,
}

const KEY_W: usize = 12;
const COL_W: usize = 46;

/// Every help line: a heading per mode, then one line per binding.
pub fn help_lines() -> Vec<Line<'static>> {
    let sections: [(&str, &[Binding]); 4] = [
        ("Everywhere", GLOBAL),
        ("Reader", READER),
        ("Timeline (T)", TIMELINE),
        ("Search prompt (/) and pickers (t, f)", PROMPT),
    ];
    let mut out = Vec::new();
    for (i, (name, table)) in sections.iter().enumerate() {
        if i > 0 {
            out.push(Line::default());
        }
        out.push(Line::from(Span::styled(
            name.to_string(),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        )));
        for b in table.iter() {
            out.push(Line::from(vec![
                Span::styled(fit(b.label, KEY_W), Style::default().fg(Color::Yellow)),
                Span::raw(" "),
                Span::raw(fit(b.help, COL_W - KEY_W - 2)),
            ]));
        }
        if i == 0 {
            // The wheel is not a key, so it is not in the tables.
            out.push(Line::from(vec![
                Span::styled(fit("wheel", KEY_W), Style::default().fg(Color::Yellow)),
                Span::raw(" "),
                Span::raw("mouse wheel scrolls"),
            ]));
        }
    }
    out
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lines = help_lines();
        // As many columns as fit; then scroll (j/k) whatever still does not.
        let cols = (usize::from(area.width.saturating_sub(2)) / (COL_W + 1)).clamp(1, 3);
        let per_col = lines.len().div_ceil(cols);
        let w = (cols * (COL_W + 1) + 1) as u16;
        let h = (per_col + 3) as u16;
        let rect = centered(area, w, h);
        let inner = overlay_frame(
            Line::from(" Keys — j/k scroll, any other key closes "),
            rect,
            buf,
        );
        let rows = usize::from(inner.height.saturating_sub(1));
        let scroll = self.app.help_scroll.min(per_col.saturating_sub(rows));
        for c in 0..cols {
            let x = inner.x + 1 + (c * (COL_W + 1)) as u16;
            let col_lines = lines.iter().skip(c * per_col).take(per_col);
            for (i, line) in col_lines.skip(scroll).take(rows).enumerate() {
                let width = inner.right().saturating_sub(x).min(COL_W as u16);
                buf.set_line(x, inner.y + i as u16, line, width);
            }
        }
        if per_col > rows {
            let y = inner.bottom().saturating_sub(1);
            buf.set_string(
                inner.x + 1,
                y,
                format!("more: j/k ({}/{})", scroll + rows, per_col),
                dim(),
            );
        }
    }
}
