//! The event loop: terminal input, a clock tick and background messages merged into one
//! stream of events, each applied to the state, then one redraw. Store work runs on a worker
//! thread, refreshes on tokio tasks; both report by message. Generic over the ratatui
//! `Backend` and the input stream, so tests can drive it with a `TestBackend`.
//!
//! The real terminal is restored on every way out: quit, error, panic (a panic hook),
//! SIGTERM/SIGHUP/SIGINT; Ctrl-Z restores it, stops the process and sets it up again on
//! resume.

use std::future::Future;
use std::io::{self, Stdout};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::draw::draw;
use super::input::{action, mouse_action};
use super::state::App;
use super::update::{self, Command, Msg};
use super::worker::{Worker, coalesce};
use super::{Options, Progress, Refresher};

/// What the loop needs from the terminal beyond drawing (the real one suspends and restores;
/// a test terminal does nothing).
pub trait TerminalControl {
    /// Gives the terminal back to the shell, stops the process (SIGTSTP), and takes the
    /// terminal again when the shell resumes it.
    fn suspend(&mut self) -> io::Result<()>;
}

/// A terminal that cannot be suspended (tests).
pub struct NoSuspend;

impl TerminalControl for NoSuspend {
    fn suspend(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sets the real terminal up: raw mode, alternate screen, mouse reporting.
fn enter_terminal() -> io::Result<()> {
    enable_raw_mode()?;
    crossterm::execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    Ok(())
}

/// Gives the terminal back as it was. Best effort and idempotent: it runs from Drop and
/// from the panic hook, where an error can only be ignored.
pub fn restore_terminal() {
    let _ = crossterm::execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restores the terminal when dropped (normal exit, `?` errors, unwinding).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The real terminal's suspend.
struct RealTerminal;

impl TerminalControl for RealTerminal {
    fn suspend(&mut self) -> io::Result<()> {
        restore_terminal();
        // SAFETY: raise(3) with a valid signal number; the default action of SIGTSTP stops
        // the process until the shell sends SIGCONT, and then raise returns.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        enter_terminal()
    }
}

/// The worker thread's name; its panics are caught and shown in the status bar.
const WORKER_THREAD: &str = "kessai-tui-worker";

/// Installs a panic hook that restores the terminal before the panic message prints. A
/// panic on the worker thread is caught there and reported in the status bar instead, so
/// it must neither restore the terminal under the running reader nor print over it.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(WORKER_THREAD) {
            return;
        }
        restore_terminal();
        previous(info);
    }));
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP, SIGINT).
fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = hup.recv() => {},
            _ = int.recv() => {},
        }
    })
}

/// Runs the reader on the real terminal until the user quits.
pub async fn run_terminal(worker: Worker, options: Options) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        anyhow::bail!("the reader needs a terminal (stdin and stdout are not both a tty)");
    }
    install_panic_hook();
    enter_terminal().context("setting up the terminal")?;
    let _guard = Guard;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("setting up the terminal")?;
    terminal.hide_cursor().context("setting up the terminal")?;
    let size = terminal.size().context("reading the terminal size")?;
    let mut app = App::new((size.width, size.height), options.store_label.clone());
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    event_loop(
        &mut terminal,
        &mut app,
        worker,
        EventStream::new(),
        shutdown,
        &mut RealTerminal,
        options,
    )
    .await
}

/// The loop itself: draws, waits for the next event, applies it, hands out the commands,
/// and draws again, until the user quits, the input ends or `shutdown` resolves.
pub async fn event_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    worker: Worker,
    mut input: S,
    shutdown: impl Future<Output = ()>,
    control: &mut dyn TerminalControl,
    options: Options,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (msg_tx, mut msg_rx) = unbounded_channel::<Msg>();
    let (cmd_tx, cmd_rx) = mpsc::channel::<Vec<Command>>();
    let worker_thread = spawn_worker(worker.clone(), cmd_rx, msg_tx.clone())
        .context("starting the store worker")?;
    app.can_refresh = options.refresh.is_some();

    let mut dispatch = Dispatch {
        cmd_tx,
        msg_tx,
        refresher: options.refresh.clone(),
    };
    let first = update::start(app);
    dispatch.send(first, terminal, control)?;

    let mut tick = tokio::time::interval(options.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);

    terminal
        .draw(|f| draw(f, app))
        .map_err(anyhow::Error::new)?;
    while !app.quit {
        let cmds = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => handle_term_event(app, ev),
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading terminal input")),
                None => break, // input closed
            },
            Some(msg) = msg_rx.recv() => update::apply(app, msg),
            _ = tick.tick() => { update::tick(app); Vec::new() },
            _ = &mut shutdown => break,
        };
        let mut cmds = cmds;
        // Apply whatever else already arrived before drawing once.
        while let Ok(msg) = msg_rx.try_recv() {
            cmds.extend(update::apply(app, msg));
        }
        dispatch.send(cmds, terminal, control)?;
        if app.quit {
            break;
        }
        terminal
            .draw(|f| draw(f, app))
            .map_err(anyhow::Error::new)?;
    }
    drop(dispatch);
    // The worker ends when its channel closes; a request in flight finishes first.
    let _ = worker_thread.join();
    Ok(())
}

fn handle_term_event(app: &mut App, ev: TermEvent) -> Vec<Command> {
    match ev {
        TermEvent::Key(k) => match action(k, app.mode()) {
            Some(a) => update::update(app, a),
            None => Vec::new(),
        },
        TermEvent::Mouse(m) => match mouse_action(m, app.mode()) {
            Some(a) => update::update(app, a),
            None => Vec::new(),
        },
        TermEvent::Resize(w, h) => {
            update::resize(app, w, h);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Routes commands: store work to the worker thread, refreshes to tokio tasks, suspend to
/// the terminal.
struct Dispatch {
    cmd_tx: mpsc::Sender<Vec<Command>>,
    msg_tx: UnboundedSender<Msg>,
    refresher: Option<Arc<dyn Refresher>>,
}

impl Dispatch {
    fn send<B>(
        &mut self,
        cmds: Vec<Command>,
        terminal: &mut Terminal<B>,
        control: &mut dyn TerminalControl,
    ) -> anyhow::Result<()>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
    {
        let mut for_worker = Vec::new();
        for c in cmds {
            match c {
                Command::Suspend => {
                    control.suspend().context("suspending")?;
                    // The screen was given away: draw everything again.
                    terminal.clear().map_err(anyhow::Error::new)?;
                }
                Command::Refresh => self.spawn_refresh(),
                other => for_worker.push(other),
            }
        }
        if !for_worker.is_empty() {
            // A closed channel means the worker died; its last message explains why.
            let _ = self.cmd_tx.send(for_worker);
        }
        Ok(())
    }

    fn spawn_refresh(&self) {
        let tx = self.msg_tx.clone();
        let Some(refresher) = self.refresher.clone() else {
            let _ = tx.send(Msg::RefreshFailed("no feeds configured".into()));
            return;
        };
        let progress_tx = tx.clone();
        let progress: Progress = Box::new(move |done, total, new| {
            let _ = progress_tx.send(Msg::RefreshProgress { done, total, new });
        });
        tokio::spawn(async move {
            let msg = match refresher.refresh(progress).await {
                Ok(summary) => Msg::RefreshDone(summary),
                Err(e) => Msg::RefreshFailed(format!("{e:#}")),
            };
            let _ = tx.send(msg);
        });
    }
}

/// The worker thread: takes batches of commands, drops superseded ones, runs the rest and
/// sends their messages back. Ends when the command channel closes.
fn spawn_worker(
    worker: Worker,
    rx: mpsc::Receiver<Vec<Command>>,
    tx: UnboundedSender<Msg>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(WORKER_THREAD.into())
        .spawn(move || {
            while let Ok(mut batch) = rx.recv() {
                // Take everything queued meanwhile, so a burst of key presses costs one load.
                while let Ok(more) = rx.try_recv() {
                    batch.extend(more);
                }
                for cmd in coalesce(batch) {
                    let what = format!("{cmd:?}").chars().take(40).collect::<String>();
                    // A bug in a store request must not take the reader down with it.
                    let msgs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        worker.execute(cmd)
                    }))
                    .unwrap_or_else(|_| {
                        vec![Msg::Error(format!("internal error while handling {what}…"))]
                    });
                    for msg in msgs {
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                }
            }
        })
}

/// How often the clock ticks (status messages expire on ticks).
pub const DEFAULT_TICK: Duration = Duration::from_millis(250);
