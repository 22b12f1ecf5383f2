//! The terminal reader: a keyboard-driven three-pane browser over the store (sources and
//! tags / article list / article), with search, filters, an incident timeline and a
//! background refresh.
//!
//! The parts, one job each: [`state`] is plain data; [`input`] maps keys to actions (a pure
//! function over keymap tables); [`update`] applies actions and worker messages to the state
//! and returns commands; [`worker`] carries commands out against the store; [`draw`] and
//! [`widgets`] render the state; [`run`] is the event loop and the terminal's life cycle.
//! [`Harness`] drives the same pieces synchronously for tests and benchmarks.

pub mod draw;
pub mod input;
pub mod refresh;
pub mod run;
pub mod state;
pub mod text;
pub mod update;
pub mod widgets;
pub mod worker;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use crate::store::Store;

use state::App;
use update::Command;
use worker::Worker;

/// Progress callback of a refresh: (feeds done, feeds in all, new articles so far).
pub type Progress = Box<dyn Fn(usize, usize, usize) + Send + Sync>;

/// Something that fetches all feeds into the store (the reader's `R`). It runs on a tokio
/// task; new articles show up in the reader as it reports progress.
pub trait Refresher: Send + Sync + 'static {
    /// Fetches every feed into the store, calling `progress` as feeds finish; returns a
    /// one-line summary for the status bar.
    fn refresh(
        &self,
        progress: Progress,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>>;
}

/// How the reader runs.
#[derive(Clone)]
pub struct Options {
    /// What `R` runs; `None` disables refreshing (the status bar says so).
    pub refresh: Option<Arc<dyn Refresher>>,
    /// The program links open with (program name only, never a shell); default
    /// `$BROWSER`, else `xdg-open`.
    pub browser: Option<OsString>,
    /// Clock tick.
    pub tick: Duration,
    /// The store's name, for display.
    pub store_label: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh: None,
            browser: None,
            tick: run::DEFAULT_TICK,
            store_label: String::new(),
        }
    }
}

/// Opens the reader on `store` in the current terminal and returns when the user quits.
/// Builds its own tokio runtime; from async code call [`run_async`].
pub fn run(store: Store, options: Options) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(store, options))
}

/// [`run`] for callers already inside a tokio runtime.
pub async fn run_async(store: Store, options: Options) -> anyhow::Result<()> {
    let worker = Worker::new(store, options.browser.clone());
    run::run_terminal(worker, options).await
}

/// Drives the reader without a terminal or threads: keys in, commands carried out on the
/// spot, frames rendered to a `TestBackend`. For tests and benchmarks.
pub struct Harness {
    /// The state.
    pub app: App,
    worker: Worker,
    queue: VecDeque<Command>,
    terminal: Terminal<TestBackend>,
    /// Links `o` asked to open (not opened).
    pub opened: Vec<String>,
    /// How many refreshes `R` asked for.
    pub refreshes: usize,
}

impl Harness {
    /// A reader of `cols`×`rows` on `store`, with the first page and sidebar loaded.
    pub fn new(store: Store, cols: u16, rows: u16) -> anyhow::Result<Harness> {
        let mut app = App::new((cols, rows), "test");
        let first = update::start(&mut app);
        let terminal =
            Terminal::new(TestBackend::new(cols, rows)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut h = Harness {
            app,
            worker: Worker::new(store, None),
            queue: first.into(),
            terminal,
            opened: Vec::new(),
            refreshes: 0,
        };
        h.settle();
        Ok(h)
    }

    /// Carries out queued commands (and those they lead to) until none is left.
    pub fn settle(&mut self) {
        // Bounded: a title filter over a huge store pages on its own for a while.
        for _ in 0..10_000 {
            let Some(cmd) = self.queue.pop_front() else {
                return;
            };
            match cmd {
                Command::OpenLink(url) => self.opened.push(url),
                Command::Refresh => self.refreshes += 1,
                Command::Suspend => {}
                other => {
                    for msg in self.worker.execute(other) {
                        let more = update::apply(&mut self.app, msg);
                        self.queue.extend(more);
                    }
                }
            }
        }
    }

    /// Applies one key (by name, as in [`Harness::press`]) without carrying out the work
    /// it asks for: what the event loop does before it redraws. Call [`Harness::settle`]
    /// for the store's answers.
    pub fn press_only(&mut self, key: &str) {
        if let Some(a) = input::action(key_event(key), self.app.mode()) {
            let cmds = update::update(&mut self.app, a);
            self.queue.extend(cmds);
        }
    }

    /// Presses keys given by name (`j`, `Enter`, `Esc`, `Tab`, `BackTab`, `Up`, `Down`,
    /// `PageUp`, `PageDown`, `Home`, `End`, `Backspace`, `C-x` for Ctrl), then settles.
    pub fn press(&mut self, keys: &[&str]) {
        for k in keys {
            let ev = key_event(k);
            if let Some(a) = input::action(ev, self.app.mode()) {
                let cmds = update::update(&mut self.app, a);
                self.queue.extend(cmds);
                self.settle();
            }
        }
    }

    /// Delivers a message as if a background task had sent it (a refresh finishing, ...).
    pub fn deliver(&mut self, msg: update::Msg) {
        let cmds = update::apply(&mut self.app, msg);
        self.queue.extend(cmds);
        self.settle();
    }

    /// Types text into a prompt, one character per key press.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let s = c.to_string();
            self.press(&[s.as_str()]);
        }
    }

    /// Resizes the terminal.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.terminal.backend_mut().resize(cols, rows);
        update::resize(&mut self.app, cols, rows);
    }

    /// Renders a frame and returns the screen.
    pub fn render(&mut self) -> &Buffer {
        let app = &self.app;
        // TestBackend never fails to draw.
        let _ = self.terminal.draw(|f| draw::draw(f, app));
        self.terminal.backend().buffer()
    }

    /// Renders and returns the screen as text, one line per row, trailing blanks kept.
    pub fn screen(&mut self) -> String {
        let buf = self.render().clone();
        buffer_text(&buf)
    }
}

/// A buffer's text, one line per row. A 2-cell character's second cell is skipped (it
/// holds nothing), so each line reads as a terminal shows it.
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut skip = 0;
        for x in area.left()..area.right() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            out.push_str(sym);
            skip = text::width(sym).saturating_sub(1);
        }
        out.push('\n');
    }
    out
}

fn key_event(name: &str) -> KeyEvent {
    let (code, mods) = match name {
        "Enter" => (KeyCode::Enter, KeyModifiers::NONE),
        "Esc" => (KeyCode::Esc, KeyModifiers::NONE),
        "Tab" => (KeyCode::Tab, KeyModifiers::NONE),
        "BackTab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
        "Up" => (KeyCode::Up, KeyModifiers::NONE),
        "Down" => (KeyCode::Down, KeyModifiers::NONE),
        "Left" => (KeyCode::Left, KeyModifiers::NONE),
        "Right" => (KeyCode::Right, KeyModifiers::NONE),
        "PageUp" => (KeyCode::PageUp, KeyModifiers::NONE),
        "PageDown" => (KeyCode::PageDown, KeyModifiers::NONE),
        "Home" => (KeyCode::Home, KeyModifiers::NONE),
        "End" => (KeyCode::End, KeyModifiers::NONE),
        "Backspace" => (KeyCode::Backspace, KeyModifiers::NONE),
        s if s.starts_with("C-") && s.chars().count() == 3 => (
            KeyCode::Char(s.chars().nth(2).unwrap_or(' ')),
            KeyModifiers::CONTROL,
        ),
        s => (
            KeyCode::Char(s.chars().next().unwrap_or(' ')),
            KeyModifiers::NONE,
        ),
    };
    KeyEvent {
        code,
        modifiers: mods,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    }
}
