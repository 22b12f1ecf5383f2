//! One widget per pane and overlay, plus the colours they share. Widgets borrow the state
//! and draw it; they never change it.

pub mod article;
pub mod help;
pub mod list;
pub mod picker;
pub mod sidebar;
pub mod status;
pub mod timeline;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};

use crate::model::Family;

/// The colour a tag family is drawn in (chips, evidence, sidebar).
pub fn family_color(f: Family) -> Color {
    match f {
        Family::Incident => Color::LightRed,
        Family::Service => Color::Cyan,
        Family::Exchange => Color::LightBlue,
        Family::Threat => Color::Magenta,
        Family::Control => Color::Green,
        Family::Actor => Color::Yellow,
    }
}

/// The style of a selected line: reversed when its pane has focus, underlined otherwise.
pub fn selected_style(focused: bool) -> Style {
    if focused {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::UNDERLINED)
    }
}

/// Search matches: the only style with REVERSED inside article text, which is how n/N finds
/// the lines that hold one.
pub fn match_style() -> Style {
    Style::default()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::REVERSED)
}

/// Dim text (counts, hints).
pub fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// A pane's frame; the title is sanitised by the caller.
pub fn pane_block<'a>(title: Line<'a>, focused: bool) -> Block<'a> {
    let border = if focused {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        dim()
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(border)
        .title(title)
}

/// Clears `area` and draws an overlay frame on it; returns the inner area.
pub fn overlay_frame(title: Line<'_>, area: Rect, buf: &mut Buffer) -> Rect {
    Clear.render(area, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::default().fg(Color::Cyan))
        .title(title);
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
