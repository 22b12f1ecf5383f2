//! The delivery loop: takes outbox entries, hands them to their sinks, deletes them only
//! after the sink took them, and backs off per sink on failure.
//!
//! Delivery is at-least-once with an idempotency key, and exactly-once for file sinks:
//! before a file write, each entry is marked with the file's length and the mark is
//! flushed; after a crash the file past that length is searched for the entries' keys, so
//! a line that was written is never written again.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::AlertError;
use super::outbox::{OutboxEntry, RetryPolicy};
use super::payload::{plain_line, terminal_safe_json};
use super::sink::{SinkSpec, WebhookSpec};
use super::state::AlertState;

/// Time an `exec:` command may take before it is killed and counted as failed.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// Most entries delivered to one sink in one round.
pub const BATCH_LIMIT: usize = 500;
/// Most bytes of a file read back when checking an interrupted write.
const RECOVERY_READ_LIMIT: u64 = 64 << 20;
/// Most bytes of an exec command's stderr kept for the error message.
const STDERR_KEEP: usize = 2048;

/// Why a delivery failed (the entry stays in the outbox).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The file could not be written.
    #[error("file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The command could not be started.
    #[error("exec `{program}`: could not start: {source}")]
    Spawn {
        /// Program name.
        program: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The command failed.
    #[error("exec `{program}`: {status}{stderr}")]
    ExecFailed {
        /// Program name.
        program: String,
        /// Exit status text.
        status: String,
        /// `: ` and the first line of its stderr, or nothing.
        stderr: String,
    },
    /// The command took too long.
    #[error("exec `{program}`: no exit within {secs} s, killed")]
    ExecTimeout {
        /// Program name.
        program: String,
        /// The limit.
        secs: u64,
    },
    /// The secret header's variable is not set.
    #[error("webhook {url}: environment variable {var} (value of header {header}) is not set")]
    MissingSecret {
        /// The URL.
        url: String,
        /// The variable.
        var: String,
        /// The header.
        header: String,
    },
    /// The request failed.
    #[error("webhook {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The receiver answered with an error status.
    #[error("webhook {url}: HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Standard output is closed.
    #[error("stdout: {0}")]
    Stdout(io::Error),
}

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Alerts handed to their sinks.
    pub delivered: usize,
    /// Entries found already written to a file after an interrupted run.
    pub recovered: usize,
    /// Deliveries that failed this round.
    pub failed: usize,
    /// Entries not tried because their sink is backing off.
    pub deferred: usize,
    /// Entries still waiting after the round.
    pub pending: usize,
    /// One line per failing sink.
    pub errors: Vec<String>,
    /// Earliest time a backing-off sink may be retried.
    pub next_retry: Option<DateTime<Utc>>,
}

/// Reads an environment variable (replaceable so tests need not change the process's).
pub type EnvLookup = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Hands outbox entries to their sinks.
pub struct Deliverer {
    state: AlertState,
    env: EnvLookup,
    policy: RetryPolicy,
    http: reqwest::Client,
    stdout: Box<dyn Write + Send>,
    exec_timeout: Duration,
}

impl Deliverer {
    /// A deliverer with the default retry policy, writing the stdout sink to stdout.
    pub fn new(state: AlertState) -> Result<Deliverer, AlertError> {
        let http = reqwest::Client::builder()
            // A webhook that redirects could send the secret header elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kessai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertError::Http {
                reason: e.to_string(),
            })?;
        Ok(Deliverer {
            state,
            env: std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
            policy: RetryPolicy::default(),
            http,
            stdout: Box::new(io::stdout()),
            exec_timeout: EXEC_TIMEOUT,
        })
    }

    /// Sets the back-off.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends the `stdout` sink somewhere else (tests, the reader).
    pub fn with_stdout(mut self, out: Box<dyn Write + Send>) -> Self {
        self.stdout = out;
        self
    }

    /// Reads webhook secrets through `lookup` instead of the process environment.
    pub fn with_env(mut self, lookup: EnvLookup) -> Self {
        self.env = lookup;
        self
    }

    /// Sets the time limit of `exec:` commands.
    pub fn with_exec_timeout(mut self, limit: Duration) -> Self {
        self.exec_timeout = limit;
        self
    }

    /// One round: recover interrupted file writes, then deliver what is due, sink by sink
    /// in outbox order, stopping at a sink's first failure.
    pub async fn run_once(&mut self) -> Result<DeliveryReport, AlertError> {
        let now = Utc::now();
        let mut report = DeliveryReport::default();

        // One pass over the outbox, keeping at most BATCH_LIMIT entries per sink in
        // memory (a sink that is down for weeks may have many waiting).
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, Vec<(Vec<u8>, OutboxEntry)>> = HashMap::new();
        let mut totals: HashMap<String, usize> = HashMap::new();
        let mut in_flight = Vec::new();
        for item in self.state.outbox_iter() {
            let (k, e) = item?;
            if e.in_flight.is_some() {
                in_flight.push((k, e));
                continue;
            }
            add_to_group(&mut order, &mut groups, &mut totals, k, e);
        }
        let (unsettled, stuck) = self.recover_in_flight(in_flight, &mut report)?;
        report.pending += stuck;
        for (k, e) in unsettled {
            add_to_group(&mut order, &mut groups, &mut totals, k, e);
        }
        for group in groups.values_mut() {
            group.sort_by(|a, b| a.0.cmp(&b.0));
            group.truncate(BATCH_LIMIT);
        }

        let mut live: HashSet<String> = HashSet::new();
        for sink_text in order {
            let Some(group) = groups.remove(&sink_text) else {
                continue;
            };
            let total = totals.get(&sink_text).copied().unwrap_or(group.len());
            let mut sink_state = self.state.sink_state(&sink_text)?;
            if !sink_state.due(now) {
                report.deferred += total;
                report.pending += total;
                report.next_retry = min_time(report.next_retry, sink_state.next_attempt);
                live.insert(sink_text);
                continue;
            }
            let (done, failure) = self.deliver_group(&sink_text, &group).await?;
            report.delivered += done;
            let left = total.saturating_sub(done);
            report.pending += left;
            match failure {
                None => sink_state.succeeded(Utc::now()),
                Some(err) => {
                    report.failed += 1;
                    let line = plain_line(&err.to_string());
                    sink_state.failed(Utc::now(), &self.policy, line.clone());
                    report.next_retry = min_time(report.next_retry, sink_state.next_attempt);
                    report.errors.push(line.clone());
                    if let Some((k, e)) = group.get(done) {
                        let mut e = e.clone();
                        e.attempts = e.attempts.saturating_add(1);
                        e.last_error = Some(line);
                        e.in_flight = None;
                        self.state.update_entries([(k.as_slice(), &e)])?;
                    }
                }
            }
            if left > 0 {
                live.insert(sink_text.clone());
            }
            self.state.set_sink_state(&sink_text, &sink_state)?;
        }
        self.state.forget_sinks_except(&live)?;
        self.state.prune_notices()?;
        self.state.flush()?;
        Ok(report)
    }

    /// Delivers up to [`BATCH_LIMIT`] entries of one sink; returns how many went out (a
    /// prefix of `group`) and the failure that stopped it, if any.
    async fn deliver_group(
        &mut self,
        sink_text: &str,
        group: &[(Vec<u8>, OutboxEntry)],
    ) -> Result<(usize, Option<DeliveryError>), AlertError> {
        let group = &group[..group.len().min(BATCH_LIMIT)];
        let sink = match SinkSpec::parse(sink_text) {
            Ok(s) => s,
            Err(e) => {
                return Ok((
                    0,
                    Some(DeliveryError::Http {
                        url: sink_text.to_string(),
                        reason: e.to_string(),
                    }),
                ));
            }
        };
        match &sink {
            SinkSpec::File { path } => self.deliver_file(path, group).await,
            _ => {
                let mut done = 0;
                for (k, e) in group {
                    let result = match &sink {
                        SinkSpec::Stdout => self.deliver_stdout(e),
                        SinkSpec::Exec { argv } => deliver_exec(argv, e, self.exec_timeout).await,
                        SinkSpec::Webhook(w) => {
                            deliver_webhook(&self.http, w, e, self.env.as_ref()).await
                        }
                        // Notices are written with the article; an outbox entry for one is
                        // stale (written by a future version?) and is simply done.
                        SinkSpec::Notice | SinkSpec::File { .. } => Ok(()),
                    };
                    if let Err(err) = result {
                        self.state.flush()?;
                        return Ok((done, Some(err)));
                    }
                    self.state.remove_entries([k.as_slice()])?;
                    done += 1;
                }
                self.state.flush()?;
                Ok((done, None))
            }
        }
    }

    fn deliver_stdout(&mut self, e: &OutboxEntry) -> Result<(), DeliveryError> {
        let line = terminal_safe_json(&e.payload.to_json());
        writeln!(self.stdout, "{line}")
            .and_then(|_| self.stdout.flush())
            .map_err(DeliveryError::Stdout)
    }

    async fn deliver_file(
        &mut self,
        path: &Path,
        group: &[(Vec<u8>, OutboxEntry)],
    ) -> Result<(usize, Option<DeliveryError>), AlertError> {
        let file_err = |source| DeliveryError::File {
            path: path.to_path_buf(),
            source,
        };
        let len = match file_len(path) {
            Ok(l) => l,
            Err(e) => return Ok((0, Some(file_err(e)))),
        };
        // 1. Mark, durably, where the write begins.
        let marked: Vec<(Vec<u8>, OutboxEntry)> = group
            .iter()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.in_flight = Some(len);
                (k.clone(), e)
            })
            .collect();
        self.state
            .update_entries(marked.iter().map(|(k, e)| (k.as_slice(), e)))?;
        self.state.flush()?;
        // 2. Write and fsync.
        let lines: Vec<String> = group.iter().map(|(_, e)| e.payload.to_json()).collect();
        if let Err(e) = append_lines(path, &lines) {
            // The marks stay: the next round checks the file and retries what is missing.
            return Ok((0, Some(file_err(e))));
        }
        // 3. Only now forget the entries.
        self.state
            .remove_entries(group.iter().map(|(k, _)| k.as_slice()))?;
        self.state.flush()?;
        Ok((group.len(), None))
    }

    /// Settles entries whose file write was interrupted: those found in the file are
    /// removed, the others lose their mark and are returned to be delivered as usual.
    /// Entries whose file cannot be read now keep their mark; their count is returned.
    #[allow(clippy::type_complexity)]
    fn recover_in_flight(
        &mut self,
        entries: Vec<(Vec<u8>, OutboxEntry)>,
        report: &mut DeliveryReport,
    ) -> Result<(Vec<(Vec<u8>, OutboxEntry)>, usize), AlertError> {
        if entries.is_empty() {
            return Ok((entries, 0));
        }
        let mut by_file: HashMap<PathBuf, u64> = HashMap::new();
        for (_, e) in &entries {
            if let (Some(off), Ok(SinkSpec::File { path })) =
                (e.in_flight, SinkSpec::parse(&e.sink))
            {
                let slot = by_file.entry(path).or_insert(off);
                *slot = (*slot).min(off);
            }
        }
        let mut found: HashMap<PathBuf, HashSet<String>> = HashMap::new();
        for (path, off) in &by_file {
            // Unreadable now: leave the marks, try again next round.
            if let Ok(keys) = keys_written_since(path, *off) {
                found.insert(path.clone(), keys);
            }
        }
        let none = HashSet::new();
        let mut unsettled = Vec::new();
        let mut remove = Vec::new();
        let mut stuck = 0;
        for (k, mut e) in entries {
            let keys = match SinkSpec::parse(&e.sink) {
                Ok(SinkSpec::File { path }) => found.get(&path),
                // Only file sinks are marked; a mark elsewhere is meaningless.
                _ => Some(&none),
            };
            match keys {
                Some(keys) if keys.contains(&e.id) => remove.push(k),
                Some(_) => {
                    e.in_flight = None;
                    unsettled.push((k, e));
                }
                None => stuck += 1,
            }
        }
        report.recovered += remove.len();
        report.delivered += remove.len();
        self.state
            .update_entries(unsettled.iter().map(|(k, e)| (k.as_slice(), e)))?;
        self.state
            .remove_entries(remove.iter().map(Vec::as_slice))?;
        self.state.flush()?;
        Ok((unsettled, stuck))
    }
}

fn add_to_group(
    order: &mut Vec<String>,
    groups: &mut HashMap<String, Vec<(Vec<u8>, OutboxEntry)>>,
    totals: &mut HashMap<String, usize>,
    key: Vec<u8>,
    entry: OutboxEntry,
) {
    *totals.entry(entry.sink.clone()).or_default() += 1;
    let group = groups.entry(entry.sink.clone()).or_insert_with(|| {
        order.push(entry.sink.clone());
        Vec::new()
    });
    // Keep a little more than a batch so that settled in-flight entries can sort in front.
    if group.len() < BATCH_LIMIT {
        group.push((key, entry));
    }
}

fn min_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Length of a file, 0 when it does not exist yet.
fn file_len(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Appends one line per alert and fsyncs. If the file does not end in a newline (someone
/// else's partial line), a newline is written first so every alert is its own line.
pub fn append_lines(path: &Path, lines: &[String]) -> io::Result<()> {
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let mut buf = String::new();
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            buf.push('\n');
        }
    }
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    file.write_all(buf.as_bytes())?;
    file.sync_data()?;
    if created {
        // A new file's directory entry must be durable too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// Idempotency keys of the complete JSON lines after byte `offset`; a partial last line
/// past `offset` (a write cut short) is truncated away so it cannot merge with the next.
pub fn keys_written_since(path: &Path, offset: u64) -> io::Result<HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        idempotency_key: String,
    }
    let mut keys = HashSet::new();
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    // A shorter file was rotated or truncated by the user: read all of it.
    let start = if offset > len { 0 } else { offset };
    file.seek(SeekFrom::Start(start))?;
    let mut data = Vec::new();
    Read::by_ref(&mut file)
        .take(RECOVERY_READ_LIMIT)
        .read_to_end(&mut data)?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in data[..complete].split(|&b| b == b'\n') {
        if let Ok(k) = serde_json::from_slice::<KeyOnly>(line) {
            keys.insert(k.idempotency_key);
        }
    }
    let end = start + data.len() as u64;
    if complete < data.len() && end == len {
        file.set_len(start + complete as u64)?;
        file.sync_data()?;
    }
    Ok(keys)
}

async fn deliver_exec(
    argv: &[String],
    e: &OutboxEntry,
    limit: Duration,
) -> Result<(), DeliveryError> {
    let program = argv.first().cloned().unwrap_or_default();
    // Direct exec: the alert (feed text) only ever travels on stdin, never as arguments
    // and never through a shell.
    let mut child = tokio::process::Command::new(&program)
        .args(argv.iter().skip(1))
        .env("KESSAI_ALERT_ID", &e.id)
        .env("KESSAI_ALERT_SUBSCRIPTION", &e.subscription)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| DeliveryError::Spawn {
            program: program.clone(),
            source,
        })?;
    let mut input = e.payload.to_json();
    input.push('\n');
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let run = async {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input is judged by its exit status alone.
            let _ = stdin.write_all(input.as_bytes()).await;
            drop(stdin);
        }
        let mut err_text = Vec::new();
        if let Some(stderr) = stderr {
            let _ = stderr
                .take(STDERR_KEEP as u64)
                .read_to_end(&mut err_text)
                .await;
        }
        let status = child.wait().await;
        (status, err_text)
    };
    match tokio::time::timeout(limit, run).await {
        Err(_) => Err(DeliveryError::ExecTimeout {
            program,
            secs: limit.as_secs(),
        }),
        Ok((Err(source), _)) => Err(DeliveryError::Spawn { program, source }),
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), err_text)) => {
            let first = String::from_utf8_lossy(&err_text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {}", plain_line(l.trim())))
                .unwrap_or_default();
            Err(DeliveryError::ExecFailed {
                program,
                status: status.to_string(),
                stderr: first,
            })
        }
    }
}

async fn deliver_webhook(
    http: &reqwest::Client,
    w: &WebhookSpec,
    e: &OutboxEntry,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<(), DeliveryError> {
    let url = w.url.to_string();
    let mut req = http
        .post(w.url.clone())
        .timeout(w.timeout)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &e.id)
        .body(e.payload.to_json());
    if let Some(secret) = &w.secret {
        let value = env(&secret.env).ok_or_else(|| DeliveryError::MissingSecret {
            url: url.clone(),
            var: secret.env.clone(),
            header: secret.name.clone(),
        })?;
        req = req.header(secret.name.as_str(), value);
    }
    let resp = req.send().await.map_err(|err| DeliveryError::Http {
        url: url.clone(),
        reason: describe_reqwest(&err),
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::HttpStatus {
            url,
            status: status.as_u16(),
        })
    }
}

fn describe_reqwest(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else {
        let mut text = err.to_string();
        let mut src = std::error::Error::source(err);
        while let Some(s) = src {
            text = format!("{text}: {s}");
            src = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::payload::AlertPayload;
    use crate::alerts::testutil::article;
    use crate::model::{Analysis, ArticleId};

    fn entry(id: u64, sink: &str, title: &str) -> OutboxEntry {
        let a = article(id, title, "https://paysec.example/a");
        let payload = AlertPayload::new("s", "q", sink, &a, &Analysis::default(), Utc::now());
        OutboxEntry {
            id: payload.idempotency_key.clone(),
            subscription: "s".into(),
            sink: sink.into(),
            article: ArticleId(id),
            enqueued: Utc::now(),
            attempts: 0,
            last_error: None,
            in_flight: None,
            payload,
        }
    }

    #[test]
    fn append_adds_lines_and_repairs_a_missing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        append_lines(&path, &["{\"a\":1}".into()]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"partial\":")
            .unwrap();
        append_lines(&path, &["{\"b\":2}".into(), "{\"c\":3}".into()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"partial\":\n{\"b\":2}\n{\"c\":3}\n");
    }

    #[test]
    fn recovery_finds_written_keys_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let e1 = entry(1, "file:/x", "one");
        let e2 = entry(2, "file:/x", "two");
        append_lines(&path, &[e1.payload.to_json()]).unwrap();
        let offset = std::fs::metadata(&path).unwrap().len();
        // A crash after e2's line and half of a third.
        let torn = entry(3, "file:/x", "three").payload.to_json();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", e2.payload.to_json()).unwrap();
        f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(f);

        let keys = keys_written_since(&path, offset).unwrap();
        assert!(keys.contains(&e2.id));
        assert!(!keys.contains(&e1.id), "before the offset");
        assert_eq!(keys.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "torn line cut: {text}");
        assert_eq!(text.lines().count(), 2);
        // A file that shrank (rotated) is read from the start.
        let all = keys_written_since(&path, 1 << 40).unwrap();
        assert!(all.contains(&e1.id) && all.contains(&e2.id));
        // A missing file has no keys.
        assert!(
            keys_written_since(&dir.path().join("none"), 0)
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn exec_gets_hostile_title_as_data_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        let marker = dir.path().join("x");
        let title = format!(
            "$(touch {}); rm -rf ~ `touch {}` | tee /dev/null",
            marker.display(),
            marker.display()
        );
        let e = entry(5, "exec:tee", &title);
        let argv = vec!["tee".to_string(), out.display().to_string()];
        deliver_exec(&argv, &e, Duration::from_secs(10))
            .await
            .unwrap();
        let got: AlertPayload =
            serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
        assert_eq!(got.article.title, title);
        assert!(!marker.exists(), "the title ran as a command");
    }

    #[tokio::test]
    async fn exec_failures_are_typed() {
        let e = entry(5, "exec:x", "t");
        let err = deliver_exec(&["false".into()], &e, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::ExecFailed { .. }), "{err}");
        let err = deliver_exec(
            &["kessai-no-such-program-here".into()],
            &e,
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DeliveryError::Spawn { .. }), "{err}");
        let err = deliver_exec(
            &["sleep".into(), "5".into()],
            &e,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DeliveryError::ExecTimeout { .. }), "{err}");
        let err = deliver_exec(
            &[
                "sh".into(),
                "-c".into(),
                "echo 'bad \u{1b}[31mthing' >&2; exit 3".into(),
            ],
            &e,
            Duration::from_secs(10),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("bad thing") && !err.contains('\u{1b}'),
            "{err}"
        );
        // A command that ignores stdin still succeeds.
        deliver_exec(&["true".into()], &e, Duration::from_secs(10))
            .await
            .unwrap();
    }
}
