//! Drawing: the layout and the frame. Reads the state, never changes it, never does I/O;
//! each pane is its own widget in `widgets/`.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::state::{App, Pane, View};
use super::widgets::{
    article::ArticlePane, help::HelpOverlay, list::ListPane, picker::PickerOverlay,
    sidebar::SidebarPane, status::StatusBar, timeline::TimelinePane,
};

/// Where everything goes for the current terminal size. In a narrow terminal every pane
/// gets the whole main area and only the focused one is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The sidebar.
    pub sidebar: Rect,
    /// The article list.
    pub list: Rect,
    /// The article.
    pub article: Rect,
    /// Everything above the status bar (the timeline takes all of it).
    pub main: Rect,
    /// The bottom line.
    pub status: Rect,
    /// One pane at a time.
    pub narrow: bool,
}

/// Computes the layout: sidebar on the left, list above the article on the right.
pub fn areas(app: &App) -> Areas {
    let (w, h) = app.size;
    let status = Rect::new(0, h.saturating_sub(1), w, h.min(1));
    let main = Rect::new(0, 0, w, h.saturating_sub(1));
    if app.narrow() {
        return Areas {
            sidebar: main,
            list: main,
            article: main,
            main,
            status,
            narrow: true,
        };
    }
    let side_w = (w / 5).clamp(24, 36);
    let sidebar = Rect::new(0, 0, side_w, main.height);
    let right_w = w - side_w;
    let list_h = (main.height * 2 / 5).max(7).min(main.height);
    let list = Rect::new(side_w, 0, right_w, list_h);
    let article = Rect::new(side_w, list_h, right_w, main.height - list_h);
    Areas {
        sidebar,
        list,
        article,
        main,
        status,
        narrow: false,
    }
}

/// Draws one frame.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let a = areas(app);
    let buf = frame.buffer_mut();
    match app.view {
        View::Timeline => {
            buf_render(TimelinePane { app }, a.main, buf);
        }
        View::Reader => {
            let show = |p: Pane| !a.narrow || app.focus == p;
            if show(Pane::Sidebar) {
                buf_render(
                    SidebarPane {
                        app,
                        focused: app.focus == Pane::Sidebar,
                    },
                    a.sidebar,
                    buf,
                );
            }
            if show(Pane::List) {
                buf_render(
                    ListPane {
                        app,
                        focused: app.focus == Pane::List,
                    },
                    a.list,
                    buf,
                );
            }
            if show(Pane::Article) {
                buf_render(
                    ArticlePane {
                        app,
                        focused: app.focus == Pane::Article,
                    },
                    a.article,
                    buf,
                );
            }
        }
    }
    buf_render(StatusBar { app }, a.status, buf);
    if app.picker.is_some() {
        buf_render(PickerOverlay { app }, a.main, buf);
    }
    if app.help {
        buf_render(HelpOverlay { app }, a.main, buf);
    }
    if let Some(text) = &app.prompt {
        // Put the terminal cursor at the end of the typed query.
        let x = a.status.x + 2 + super::text::width(&super::text::clean_line(text)) as u16;
        frame.set_cursor_position((x.min(a.status.right().saturating_sub(1)), a.status.y));
    }
}

fn buf_render<W: ratatui::widgets::Widget>(w: W, area: Rect, buf: &mut ratatui::buffer::Buffer) {
    if area.width > 0 && area.height > 0 {
        w.render(area, buf);
    }
}
