//! The sidebar: all articles, feeds with unread/total counts, tag families with their tags
//! and counts, saved searches.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{dim, family_color, pane_block, selected_style};
use crate::tui::state::{App, Load, SidebarEntry};
use crate::tui::text::{clean_line, fit, width};

/// The sidebar pane.
pub struct SidebarPane<'a> {
    /// State.
    pub app: &'a App,
    /// Whether it has the keyboard.
    pub focused: bool,
}

fn row(indent: usize, label: &str, count: &str, w: usize, style: Style) -> Line<'static> {
    let cw = width(count);
    let label_w = w.saturating_sub(indent + cw + 1);
    Line::from(vec![
        Span::raw(" ".repeat(indent.min(w))),
        Span::styled(fit(label, label_w), style),
        Span::raw(" "),
        Span::styled(count.to_string(), dim()),
    ])
}

/// The line an entry is drawn as, `w` cells wide.
pub fn entry_line(e: &SidebarEntry, w: usize) -> Line<'static> {
    match e {
        SidebarEntry::Header(h) => Line::from(Span::styled(
            h.to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        )),
        SidebarEntry::All { total, unread } => row(
            0,
            "All articles",
            &format!("{unread}/{total}"),
            w,
            Style::default().add_modifier(Modifier::BOLD),
        ),
        SidebarEntry::Feed(f) => row(
            1,
            &clean_line(f.feed.as_str()),
            &format!("{}/{}", f.unread, f.total),
            w,
            if f.unread > 0 {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            },
        ),
        SidebarEntry::Family { family, count } => row(
            1,
            family.as_str(),
            &count.to_string(),
            w,
            Style::default()
                .fg(family_color(*family))
                .add_modifier(Modifier::BOLD),
        ),
        SidebarEntry::Tag { tag, family, count } => row(
            3,
            &clean_line(tag.as_str()),
            &count.to_string(),
            w,
            Style::default().fg(family_color(*family)),
        ),
        SidebarEntry::Saved(s) => row(
            1,
            &format!("/ {}", clean_line(&s.name)),
            "",
            w,
            Style::default(),
        ),
    }
}

impl Widget for SidebarPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let sb = &self.app.sidebar;
        let block = pane_block(Line::from(" Sources & tags "), self.focused);
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        match &sb.load {
            Load::Idle | Load::Loading if sb.entries.is_empty() => {
                buf.set_string(inner.x, inner.y, "Loading…", dim());
                return;
            }
            Load::Error(e) if sb.entries.is_empty() => {
                let msg = fit(&format!("error: {}", clean_line(e)), w);
                buf.set_string(
                    inner.x,
                    inner.y,
                    msg,
                    Style::default().fg(ratatui::style::Color::Red),
                );
                return;
            }
            _ => {}
        }
        let rows = usize::from(inner.height);
        for (i, e) in sb.entries.iter().enumerate().skip(sb.offset).take(rows) {
            let y = inner.y + (i - sb.offset) as u16;
            let mut line = entry_line(e, w);
            if i == sb.selected {
                line = line.patch_style(selected_style(self.focused));
            }
            buf.set_line(inner.x, y, &line, inner.width);
        }
    }
}
