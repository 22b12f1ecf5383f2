//! HTTP fetching with limits, retries and conditional GET.
//!
//! Every bound a remote server could abuse is enforced here: connection and whole-request
//! time (a server dripping one byte a second is cut off at the deadline), bytes on the wire
//! and bytes after decompression (a gzip bomb stops at the cap, it is never inflated whole),
//! redirects (count, loops, and only http/https targets), and concurrency overall and per
//! host. Decompression is done here rather than by reqwest so both sizes can be counted.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, redirect};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use url::Url;

use crate::config::{Limits, Settings};

/// Which hosts the fetcher may contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkScope {
    /// Any http(s) host.
    Any,
    /// Only 127.0.0.0/8, ::1 and `localhost` (the demo and the tests: nothing leaves the machine).
    LoopbackOnly,
}

/// What the request asks for, which sets the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A feed (RSS, Atom, JSON Feed) or a list page.
    Feed,
    /// An article's HTML page.
    Page,
}

/// HTTP validators for conditional GET, kept per feed between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag` the server sent.
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to send.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A successful response, body decompressed.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL after redirects.
    pub url: Url,
    /// The HTTP status (2xx).
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, decompressed.
    pub body: Vec<u8>,
    /// Bytes received on the wire (before decompression).
    pub wire_bytes: u64,
    /// Validators to send next time.
    pub validators: Validators,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// The result of a fetch that did not fail.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 304: unchanged since the validators were stored.
    NotModified {
        /// The URL after redirects.
        url: Url,
        /// Attempts it took.
        attempts: u32,
    },
    /// A body.
    Fetched(Fetched),
}

/// How far a request got before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting or waiting for the response headers.
    Headers,
    /// Reading the body.
    Body,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Headers => "waiting for the response",
            Stage::Body => "reading the body",
        })
    }
}

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not a URL.
    #[error("{url}: not a valid URL ({reason})")]
    BadUrl {
        /// The text given.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// A URL the fetcher will not contact (scheme or network scope).
    #[error("{url}: refused: {reason}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The connection could not be made.
    #[error("{url}: cannot connect: {detail}")]
    Connect {
        /// The URL.
        url: String,
        /// The underlying error.
        detail: String,
    },
    /// A deadline passed.
    #[error("{url}: timed out after {secs} s {stage}")]
    Timeout {
        /// The URL.
        url: String,
        /// The deadline.
        secs: u64,
        /// Where it was.
        stage: Stage,
    },
    /// A non-success status.
    #[error("{url}: HTTP {status}{}", if .reason.is_empty() { String::new() } else { format!(" {}", .reason) })]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The canonical reason phrase.
        reason: String,
    },
    /// The body is larger than a limit.
    #[error("{url}: body exceeds {limit} bytes {what}")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
        /// "on the wire" or "after decompression".
        what: &'static str,
    },
    /// A redirect was refused (too many, a loop, a non-http(s) target, out of scope).
    #[error("{url}: redirect refused: {reason}")]
    Redirect {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body could not be decompressed.
    #[error("{url}: cannot decompress {encoding} body: {detail}")]
    Decompress {
        /// The URL.
        url: String,
        /// The Content-Encoding.
        encoding: String,
        /// What went wrong.
        detail: String,
    },
    /// The server asked to come back later than kessai is willing to wait.
    #[error("{url}: HTTP {status} asks to retry after {secs} s (more than the {limit} s limit)")]
    RetryAfter {
        /// The URL.
        url: String,
        /// 429 or 503.
        status: u16,
        /// Seconds asked for.
        secs: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Any other transport error.
    #[error("{url}: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// The underlying error.
        detail: String,
    },
}

impl FetchError {
    /// The URL the error is about.
    pub fn url(&self) -> &str {
        match self {
            FetchError::BadUrl { url, .. }
            | FetchError::Refused { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Redirect { url, .. }
            | FetchError::Decompress { url, .. }
            | FetchError::RetryAfter { url, .. }
            | FetchError::Http { url, .. } => url,
        }
    }
}

/// A redirect the policy refused; found again in reqwest's error chain.
#[derive(Debug)]
struct RedirectRefusal(String);

impl fmt::Display for RedirectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefusal {}

/// Whether a URL is allowed under a scope (http/https always required).
pub fn url_allowed(url: &Url, scope: NetworkScope) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(format!("scheme {other:?} is not http or https")),
    }
    match (scope, url.host()) {
        (_, None) => Err("no host".to_string()),
        (NetworkScope::Any, Some(_)) => Ok(()),
        (NetworkScope::LoopbackOnly, Some(host)) => {
            let ok = match host {
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{host} is not a loopback address (offline mode)"))
            }
        }
    }
}

/// The shared HTTP client with its limits and semaphores; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: Arc<Limits>,
    retries: u32,
    retry_base: Duration,
    max_retry_after: Duration,
    scope: NetworkScope,
    global: Arc<Semaphore>,
    per_host_limit: usize,
    per_host: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("limits", &self.limits)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the client from the configuration.
    pub fn new(
        settings: &Settings,
        limits: &Limits,
        scope: NetworkScope,
    ) -> Result<Fetcher, FetchError> {
        let max_redirects = limits.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            let next = attempt.url().clone();
            if attempt.previous().len() > max_redirects {
                let msg = format!("more than {max_redirects} redirects");
                return attempt.error(RedirectRefusal(msg));
            }
            if attempt.previous().iter().any(|u| u == &next) {
                let msg = format!("redirect loop back to {next}");
                return attempt.error(RedirectRefusal(msg));
            }
            if let Err(reason) = url_allowed(&next, scope) {
                return attempt.error(RedirectRefusal(format!("to {next}: {reason}")));
            }
            attempt.follow()
        });
        let mut headers = HeaderMap::new();
        // Compression is negotiated and undone here, not by reqwest, so that both the wire
        // size and the decompressed size can be bounded.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("ja,en;q=0.5"),
        );
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .default_headers(headers)
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .redirect(policy)
            .connect_timeout(limits.connect_timeout())
            .pool_max_idle_per_host(settings.per_host_concurrency.max(1))
            // A fetch run is a burst: keep connections for its duration, not 90 s. Servers
            // that park a thread per open connection (tiny_http among them) otherwise starve
            // new connections while ours sit idle in the pool.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| FetchError::Http {
                url: String::new(),
                detail: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            client,
            limits: Arc::new(limits.clone()),
            retries: settings.retries,
            retry_base: Duration::from_millis(settings.retry_base_ms),
            max_retry_after: Duration::from_secs(settings.max_retry_after_secs),
            scope,
            global: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            per_host_limit: settings.per_host_concurrency.max(1),
            per_host: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The network scope.
    pub fn scope(&self) -> NetworkScope {
        self.scope
    }

    /// Whether this fetcher would contact the URL.
    pub fn allows(&self, url: &Url) -> bool {
        url_allowed(url, self.scope).is_ok()
    }

    fn host_semaphore(&self, url: &Url) -> Arc<Semaphore> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        // A poisoned lock only means another fetch panicked mid-insert; the map is still usable.
        let mut map = self.per_host.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host_limit)))
            .clone()
    }

    /// GETs a URL, conditionally when validators are given, retrying transient failures.
    pub async fn fetch(
        &self,
        url: &str,
        accept: Accept,
        validators: Option<&Validators>,
    ) -> Result<Outcome, FetchError> {
        let parsed = Url::parse(url.trim()).map_err(|e| FetchError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        url_allowed(&parsed, self.scope).map_err(|reason| FetchError::Refused {
            url: url.to_string(),
            reason,
        })?;
        let host_sem = self.host_semaphore(&parsed);
        // All attempts together get twice the request timeout, so retries cannot stretch a
        // fetch of an unresponsive server into minutes.
        let budget = self.limits.request_timeout().saturating_mul(2);
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = {
                // Host first, then global: waiting for a busy host never holds a global slot.
                let _host = host_sem.acquire().await.map_err(|e| closed(url, e))?;
                let _global = self.global.acquire().await.map_err(|e| closed(url, e))?;
                let remaining = budget.saturating_sub(started.elapsed());
                let deadline = self.limits.request_timeout().min(remaining);
                self.attempt(&parsed, accept, validators, deadline).await
            };
            match result {
                Ok(mut outcome) => {
                    match &mut outcome {
                        Outcome::NotModified { attempts, .. } => *attempts = attempt,
                        Outcome::Fetched(f) => f.attempts = attempt,
                    }
                    return Ok(outcome);
                }
                Err(Failure { error, retry }) => {
                    let Some(wait) = retry else {
                        return Err(error);
                    };
                    if attempt > self.retries {
                        return Err(error);
                    }
                    let wait = wait.unwrap_or_else(|| self.backoff(attempt, url));
                    if started.elapsed() + wait + Duration::from_millis(100) >= budget {
                        return Err(error);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Exponential backoff with a little jitter derived from the URL, so that many feeds on
    /// one host that failed together do not retry in lockstep.
    fn backoff(&self, attempt: u32, url: &str) -> Duration {
        let base = self
            .retry_base
            .saturating_mul(1u32 << (attempt - 1).min(10));
        let jitter = url.bytes().fold(attempt as u64, |h, b| {
            h.wrapping_mul(31).wrapping_add(b as u64)
        }) % 250;
        base + Duration::from_millis(jitter * base.as_millis().min(1000) as u64 / 1000)
    }

    async fn attempt(
        &self,
        url: &Url,
        accept: Accept,
        validators: Option<&Validators>,
        deadline: Duration,
    ) -> Result<Outcome, Failure> {
        let mut stage = Stage::Headers;
        let run = self.attempt_inner(url, accept, validators, &mut stage);
        match tokio::time::timeout(deadline, run).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                error: FetchError::Timeout {
                    url: url.to_string(),
                    secs: deadline.as_secs_f64().ceil() as u64,
                    stage,
                },
                // A server that answered and then dripped is not retried: it would only drip
                // again. One that never answered may have been briefly overloaded.
                retry: (stage == Stage::Headers).then_some(None),
            }),
        }
    }

    async fn attempt_inner(
        &self,
        url: &Url,
        accept: Accept,
        validators: Option<&Validators>,
        stage: &mut Stage,
    ) -> Result<Outcome, Failure> {
        let mut req = self.client.get(url.clone()).header(
            header::ACCEPT,
            match accept {
                Accept::Feed => {
                    "application/rss+xml, application/rdf+xml, application/atom+xml, \
                     application/feed+json, application/xml;q=0.9, text/xml;q=0.9, \
                     text/html;q=0.8, */*;q=0.5"
                }
                Accept::Page => "text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
            },
        );
        if let Some(v) = validators {
            if let Some(etag) = v.etag.as_deref().and_then(header_value) {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = v.last_modified.as_deref().and_then(header_value) {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_failure(url, e))?;
        let final_url = resp.url().clone();
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified {
                url: final_url,
                attempts: 0,
            });
        }
        if status.is_redirection() {
            // reqwest hands back, unfollowed, a redirect whose target it will not even offer
            // to the policy (a `file:` or other non-http Location).
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let reason = match final_url.join(location) {
                Ok(target) => match url_allowed(&target, self.scope) {
                    Err(why) => format!("to {target}: {why}"),
                    Ok(()) => format!("HTTP {status} to {target} was not followed"),
                },
                Err(_) => format!("HTTP {status} with an unusable Location {location:?}"),
            };
            return Err(Failure::fatal(FetchError::Redirect {
                url: url.to_string(),
                reason,
            }));
        }
        if !status.is_success() {
            return Err(self.status_failure(url, status, resp.headers()));
        }
        let limit_wire = self.limits.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > limit_wire) {
            return Err(Failure::fatal(FetchError::TooLarge {
                url: url.to_string(),
                limit: limit_wire,
                what: "on the wire",
            }));
        }
        let headers = resp.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let validators = Validators {
            etag: headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            last_modified: headers
                .get(header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .trim()
            .to_ascii_lowercase();
        let mut body = BodyDecoder::new(&encoding, self.limits.max_decoded_bytes as usize)
            .map_err(|detail| {
                Failure::fatal(FetchError::Decompress {
                    url: url.to_string(),
                    encoding: encoding.clone(),
                    detail,
                })
            })?;
        *stage = Stage::Body;
        let mut wire: u64 = 0;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::fatal(FetchError::Http {
                        url: url.to_string(),
                        detail: format!("body interrupted: {}", error_chain(&e)),
                    }));
                }
            };
            wire += chunk.len() as u64;
            if wire > limit_wire {
                return Err(Failure::fatal(FetchError::TooLarge {
                    url: url.to_string(),
                    limit: limit_wire,
                    what: "on the wire",
                }));
            }
            body.write(&chunk)
                .map_err(|e| self.decode_failure(url, &encoding, e))?;
        }
        let body = body
            .finish()
            .map_err(|e| self.decode_failure(url, &encoding, e))?;
        Ok(Outcome::Fetched(Fetched {
            url: final_url,
            status: status.as_u16(),
            content_type,
            body,
            wire_bytes: wire,
            validators,
            attempts: 0,
        }))
    }

    fn decode_failure(&self, url: &Url, encoding: &str, e: DecodeError) -> Failure {
        Failure::fatal(match e {
            DecodeError::TooLarge => FetchError::TooLarge {
                url: url.to_string(),
                limit: self.limits.max_decoded_bytes,
                what: "after decompression",
            },
            DecodeError::Corrupt(detail) => FetchError::Decompress {
                url: url.to_string(),
                encoding: encoding.to_string(),
                detail,
            },
        })
    }

    fn transport_failure(&self, url: &Url, e: reqwest::Error) -> Failure {
        let url_s = url.to_string();
        if let Some(refusal) = find_source::<RedirectRefusal>(&e) {
            return Failure::fatal(FetchError::Redirect {
                url: url_s,
                reason: refusal.0.clone(),
            });
        }
        if e.is_redirect() {
            return Failure::fatal(FetchError::Redirect {
                url: url_s,
                reason: error_chain(&e),
            });
        }
        if e.is_connect() {
            let detail = if e.is_timeout() {
                format!(
                    "no connection within {} s",
                    self.limits.connect_timeout_secs
                )
            } else {
                error_chain(&e)
            };
            return Failure {
                error: FetchError::Connect { url: url_s, detail },
                retry: Some(None),
            };
        }
        if e.is_timeout() {
            return Failure {
                error: FetchError::Timeout {
                    url: url_s,
                    secs: self.limits.request_timeout_secs,
                    stage: Stage::Headers,
                },
                retry: Some(None),
            };
        }
        // Connection reset / closed before a response: treat like a connect failure.
        Failure {
            error: FetchError::Http {
                url: url_s,
                detail: error_chain(&e),
            },
            retry: Some(None),
        }
    }

    fn status_failure(&self, url: &Url, status: StatusCode, headers: &HeaderMap) -> Failure {
        let error = FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
        };
        let transient = matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504);
        if !transient {
            return Failure::fatal(error);
        }
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        match retry_after {
            Some(wait) if wait > self.max_retry_after => Failure::fatal(FetchError::RetryAfter {
                url: url.to_string(),
                status: status.as_u16(),
                secs: wait.as_secs(),
                limit: self.max_retry_after.as_secs(),
            }),
            Some(wait) => Failure {
                error,
                retry: Some(Some(wait)),
            },
            None => Failure {
                error,
                retry: Some(None),
            },
        }
    }
}

/// An attempt's failure and whether (and after how long) to retry it: `None` = do not retry,
/// `Some(None)` = retry after the backoff, `Some(Some(d))` = retry after `d` (Retry-After).
struct Failure {
    error: FetchError,
    retry: Option<Option<Duration>>,
}

impl Failure {
    fn fatal(error: FetchError) -> Failure {
        Failure { error, retry: None }
    }
}

fn closed(url: &str, e: tokio::sync::AcquireError) -> FetchError {
    FetchError::Http {
        url: url.to_string(),
        detail: format!("fetcher shut down: {e}"),
    }
}

/// A stored validator as a header value, when it is one (a hostile server could have sent
/// bytes that are not valid in a header).
fn header_value(v: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(v).ok()
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// An error and its causes on one line, without reqwest's repetition of the URL.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let mut s = err.to_string();
        if let Some(i) = s.find(" for url (") {
            s.truncate(i);
        }
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// More than the decompressed-size limit.
    TooLarge,
    /// Not valid data for its Content-Encoding.
    Corrupt(String),
}

/// A `Vec` that refuses to grow past a cap.
struct CappedVec {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl Write for CappedVec {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("decompressed size limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams a body through its Content-Encoding into a capped buffer.
pub struct BodyDecoder(Codec);

enum Codec {
    Identity(CappedVec),
    Gzip(Box<flate2::write::MultiGzDecoder<CappedVec>>),
    Deflate(Box<flate2::write::ZlibDecoder<CappedVec>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<CappedVec>>),
}

impl BodyDecoder {
    /// A decoder for a Content-Encoding value, capped at `cap` decoded bytes.
    pub fn new(encoding: &str, cap: usize) -> Result<BodyDecoder, String> {
        let sink = CappedVec {
            buf: Vec::new(),
            cap,
            overflowed: false,
        };
        Ok(BodyDecoder(match encoding {
            "" | "identity" => Codec::Identity(sink),
            "gzip" | "x-gzip" => Codec::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            "deflate" => Codec::Deflate(Box::new(flate2::write::ZlibDecoder::new(sink))),
            "br" => Codec::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                sink, 8192,
            ))),
            other => return Err(format!("unsupported Content-Encoding {other:?}")),
        }))
    }

    fn sink(&self) -> &CappedVec {
        match &self.0 {
            Codec::Identity(s) => s,
            Codec::Gzip(d) => d.get_ref(),
            Codec::Deflate(d) => d.get_ref(),
            Codec::Brotli(d) => d.get_ref(),
        }
    }

    fn classify(&self, e: io::Error) -> DecodeError {
        if self.sink().overflowed {
            DecodeError::TooLarge
        } else {
            DecodeError::Corrupt(e.to_string())
        }
    }

    /// Feeds compressed bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let r = match &mut self.0 {
            Codec::Identity(s) => s.write_all(data),
            Codec::Gzip(d) => d.write_all(data),
            Codec::Deflate(d) => d.write_all(data),
            Codec::Brotli(d) => d.write_all(data),
        };
        r.map_err(|e| self.classify(e))
    }

    /// Ends the stream; a truncated compressed stream is an error.
    pub fn finish(self) -> Result<Vec<u8>, DecodeError> {
        match self.0 {
            Codec::Identity(s) => Ok(s.buf),
            Codec::Gzip(mut d) => match d.try_finish() {
                Ok(()) => Ok(std::mem::take(&mut d.get_mut().buf)),
                Err(_) if d.get_ref().overflowed => Err(DecodeError::TooLarge),
                Err(e) => Err(DecodeError::Corrupt(e.to_string())),
            },
            Codec::Deflate(mut d) => match d.try_finish() {
                Ok(()) => Ok(std::mem::take(&mut d.get_mut().buf)),
                Err(_) if d.get_ref().overflowed => Err(DecodeError::TooLarge),
                Err(e) => Err(DecodeError::Corrupt(e.to_string())),
            },
            Codec::Brotli(d) => match d.into_inner() {
                Ok(s) => Ok(s.buf),
                Err(s) if s.overflowed => Err(DecodeError::TooLarge),
                Err(_) => Err(DecodeError::Corrupt(
                    "truncated or invalid brotli stream".into(),
                )),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A reader of `n` zero bytes, produced lazily (an endless-ish body that costs no memory).
    struct Zeros(usize);
    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0);
            buf[..n].fill(b'a');
            self.0 -= n;
            Ok(n)
        }
    }

    /// A request the test server saw: its path and lower-cased headers.
    pub(crate) type Hit = (String, Vec<(String, String)>);

    /// A loopback test server; each request is answered on its own thread.
    pub(crate) struct TestServer {
        pub addr: SocketAddr,
        pub hits: Arc<Mutex<Vec<Hit>>>,
        /// (in flight now, most in flight at once) for `/slow-ok`.
        max_inflight: Arc<(AtomicUsize, AtomicUsize)>,
        server: Arc<tiny_http::Server>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl TestServer {
        pub fn url(&self, path: &str) -> String {
            format!("http://{}{}", self.addr, path)
        }
        pub fn hits_for(&self, path: &str) -> Vec<Vec<(String, String)>> {
            self.hits
                .lock()
                .unwrap()
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, h)| h.clone())
                .collect()
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn header(name: &str, value: &str) -> tiny_http::Header {
        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
    }

    fn start() -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let flaky = Arc::new(AtomicUsize::new(0));
        let inflight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (s2, h2, i2) = (server.clone(), hits.clone(), inflight.clone());
        let thread = std::thread::spawn(move || {
            for req in s2.incoming_requests() {
                let path = req.url().to_string();
                let headers: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.to_string().to_ascii_lowercase(),
                            h.value.to_string(),
                        )
                    })
                    .collect();
                h2.lock().unwrap().push((path.clone(), headers.clone()));
                let flaky = flaky.clone();
                let inflight = i2.clone();
                std::thread::spawn(move || {
                    if path == "/slow-ok" {
                        let now = inflight.0.fetch_add(1, Ordering::SeqCst) + 1;
                        inflight.1.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        inflight.0.fetch_sub(1, Ordering::SeqCst);
                        let _ = req.respond(tiny_http::Response::from_string("ok"));
                        return;
                    }
                    respond(req, &path, &headers, &flaky)
                });
            }
        });
        TestServer {
            addr,
            hits,
            max_inflight: inflight,
            server,
            thread: Some(thread),
        }
    }

    fn respond(
        req: tiny_http::Request,
        path: &str,
        headers: &[(String, String)],
        flaky: &AtomicUsize,
    ) {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let r = match path {
            "/ok" => {
                let _ = req.respond(
                    tiny_http::Response::from_string("<rss/>")
                        .with_header(header("Content-Type", "application/rss+xml"))
                        .with_header(header("ETag", "\"v1\""))
                        .with_header(header("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")),
                );
                return;
            }
            "/etag" => {
                if get("if-none-match") == Some("\"v1\"") {
                    req.respond(tiny_http::Response::empty(304))
                } else {
                    req.respond(
                        tiny_http::Response::from_string("body")
                            .with_header(header("ETag", "\"v1\"")),
                    )
                }
            }
            "/gzip" => req.respond(
                tiny_http::Response::from_data(gzip("決済".repeat(1000).as_bytes()))
                    .with_header(header("Content-Encoding", "gzip")),
            ),
            "/bomb" => {
                // 64 MiB of zeros, about 64 KiB compressed.
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let block = vec![0u8; 1 << 20];
                for _ in 0..64 {
                    e.write_all(&block).unwrap();
                }
                req.respond(
                    tiny_http::Response::from_data(e.finish().unwrap())
                        .with_header(header("Content-Encoding", "gzip")),
                )
            }
            "/big" => req.respond(tiny_http::Response::new(
                200.into(),
                vec![],
                Zeros(64 << 20),
                Some(64 << 20),
                None,
            )),
            "/endless" => req.respond(tiny_http::Response::new(
                200.into(),
                vec![],
                Zeros(256 << 20),
                None,
                None,
            )),
            "/loop-a" => req.respond(
                tiny_http::Response::empty(302).with_header(header("Location", "/loop-b")),
            ),
            "/loop-b" => req.respond(
                tiny_http::Response::empty(302).with_header(header("Location", "/loop-a")),
            ),
            p if p.starts_with("/chain/") => {
                let n: u32 = p[7..].parse().unwrap_or(0);
                if n == 0 {
                    req.respond(tiny_http::Response::from_string("end"))
                } else {
                    req.respond(
                        tiny_http::Response::empty(301)
                            .with_header(header("Location", &format!("/chain/{}", n - 1))),
                    )
                }
            }
            "/to-file" => req.respond(
                tiny_http::Response::empty(302)
                    .with_header(header("Location", "file:///etc/passwd")),
            ),
            "/to-remote" => req.respond(
                tiny_http::Response::empty(302)
                    .with_header(header("Location", "http://192.0.2.1/feed")),
            ),
            "/404" => req.respond(tiny_http::Response::from_string("no").with_status_code(404)),
            "/500" => req.respond(tiny_http::Response::from_string("err").with_status_code(500)),
            "/flaky" => {
                // 503 twice, then success.
                if flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                    req.respond(tiny_http::Response::from_string("busy").with_status_code(503))
                } else {
                    req.respond(tiny_http::Response::from_string("fine"))
                }
            }
            "/429" => req.respond(
                tiny_http::Response::from_string("slow down")
                    .with_status_code(429)
                    .with_header(header("Retry-After", "3600")),
            ),
            "/429-short" => {
                if flaky.fetch_add(1, Ordering::SeqCst) < 1 {
                    req.respond(
                        tiny_http::Response::from_string("slow down")
                            .with_status_code(429)
                            .with_header(header("Retry-After", "1")),
                    )
                } else {
                    req.respond(tiny_http::Response::from_string("fine"))
                }
            }
            "/badgzip" => req.respond(
                tiny_http::Response::from_data(b"this is not gzip".to_vec())
                    .with_header(header("Content-Encoding", "gzip")),
            ),
            "/truncgzip" => {
                let g = gzip(&[b'x'; 10_000]);
                req.respond(
                    tiny_http::Response::from_data(g[..g.len() / 2].to_vec())
                        .with_header(header("Content-Encoding", "gzip")),
                )
            }
            _ => req.respond(tiny_http::Response::empty(404)),
        };
        let _ = r;
    }

    fn fetcher_with(f: impl FnOnce(&mut Settings, &mut Limits)) -> Fetcher {
        let mut s = Settings {
            retry_base_ms: 10,
            ..Settings::default()
        };
        let mut l = Limits {
            request_timeout_secs: 2,
            connect_timeout_secs: 2,
            max_body_bytes: 1 << 20,
            max_decoded_bytes: 2 << 20,
            ..Limits::default()
        };
        f(&mut s, &mut l);
        Fetcher::new(&s, &l, NetworkScope::LoopbackOnly).unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn get(f: &Fetcher, url: &str) -> Result<Outcome, FetchError> {
        rt().block_on(f.fetch(url, Accept::Feed, None))
    }

    fn body(o: Outcome) -> Fetched {
        match o {
            Outcome::Fetched(f) => f,
            Outcome::NotModified { .. } => panic!("unexpected 304"),
        }
    }

    #[test]
    fn plain_fetch_sends_user_agent_and_returns_validators() {
        let srv = start();
        let f = body(get(&fetcher_with(|_, _| {}), &srv.url("/ok")).unwrap());
        assert_eq!(f.body, b"<rss/>");
        assert_eq!(f.content_type.as_deref(), Some("application/rss+xml"));
        assert_eq!(f.validators.etag.as_deref(), Some("\"v1\""));
        assert!(f.validators.last_modified.is_some());
        let hits = srv.hits_for("/ok");
        let ua = hits[0].iter().find(|(k, _)| k == "user-agent").unwrap();
        assert!(ua.1.starts_with("kessai/") && ua.1.contains("(+https://github.com/kessai)"));
    }

    #[test]
    fn conditional_get_gets_304() {
        let srv = start();
        let fetcher = fetcher_with(|_, _| {});
        let first = body(get(&fetcher, &srv.url("/etag")).unwrap());
        let second = rt()
            .block_on(fetcher.fetch(&srv.url("/etag"), Accept::Feed, Some(&first.validators)))
            .unwrap();
        assert!(matches!(second, Outcome::NotModified { .. }));
        let hits = srv.hits_for("/etag");
        assert!(
            hits[1]
                .iter()
                .any(|(k, v)| k == "if-none-match" && v == "\"v1\"")
        );
    }

    #[test]
    fn gzip_is_decompressed() {
        let srv = start();
        let f = body(get(&fetcher_with(|_, _| {}), &srv.url("/gzip")).unwrap());
        assert_eq!(f.body, "決済".repeat(1000).as_bytes());
        assert!(f.wire_bytes < 1000);
    }

    #[test]
    fn gzip_bomb_is_cut_off() {
        let srv = start();
        let err = get(&fetcher_with(|_, _| {}), &srv.url("/bomb")).unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { what: "after decompression", limit, .. } if limit == 2 << 20),
            "{err}"
        );
        assert!(err.to_string().contains("/bomb"));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let srv = start();
        let f = fetcher_with(|_, _| {});
        // Declared length over the limit: refused before reading.
        let err = get(&f, &srv.url("/big")).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    what: "on the wire",
                    ..
                }
            ),
            "{err}"
        );
        // No length (chunked): cut off while streaming.
        let err = get(&f, &srv.url("/endless")).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    what: "on the wire",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// A raw server that sends headers at once and then one body byte every 50 ms, for at
    /// most `conns` connections and 15 seconds.
    fn drip_server(conns: usize) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = accepted.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(15);
            while Instant::now() < until && acc.load(Ordering::SeqCst) < conns {
                let Ok((mut sock, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                acc.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    sock.set_nonblocking(false).unwrap();
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf);
                    let head =
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 300\r\n\r\n";
                    if sock.write_all(head).is_err() {
                        return;
                    }
                    for _ in 0..300 {
                        std::thread::sleep(Duration::from_millis(50));
                        if sock.write_all(b"x").and_then(|_| sock.flush()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    #[test]
    fn slow_drip_hits_the_whole_request_deadline() {
        let (addr, accepted) = drip_server(3);
        let started = Instant::now();
        let err = get(
            &fetcher_with(|_, l| l.request_timeout_secs = 1),
            &format!("http://{addr}/feed"),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Timeout {
                    stage: Stage::Body,
                    secs: 1,
                    ..
                }
            ),
            "{err}"
        );
        // Cut at the deadline, not held for the 15 s the drip would take, and not retried.
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn unanswered_requests_stay_within_the_overall_budget() {
        // Accepts connections and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let err = get(
            &fetcher_with(|s, l| {
                l.request_timeout_secs = 1;
                s.retries = 5;
            }),
            &format!("http://{addr}/"),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Timeout {
                    stage: Stage::Headers,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{:?}",
            started.elapsed()
        );
        drop(listener);
    }

    #[test]
    fn redirect_loops_chains_and_bad_targets_are_refused() {
        let srv = start();
        let f = fetcher_with(|_, l| l.max_redirects = 3);
        let err = get(&f, &srv.url("/loop-a")).unwrap_err();
        assert!(
            matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("loop")),
            "{err}"
        );
        let err = get(&f, &srv.url("/chain/5")).unwrap_err();
        assert!(
            matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("more than 3")),
            "{err}"
        );
        let ok = body(get(&f, &srv.url("/chain/3")).unwrap());
        assert_eq!(ok.body, b"end");
        assert!(ok.url.path().ends_with("/chain/0"));
        let err = get(&f, &srv.url("/to-file")).unwrap_err();
        assert!(
            matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("\"file\"")),
            "{err}"
        );
        let err = get(&f, &srv.url("/to-remote")).unwrap_err();
        assert!(
            matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("loopback")),
            "{err}"
        );
    }

    #[test]
    fn client_errors_fail_at_once_server_errors_are_retried() {
        let srv = start();
        let f = fetcher_with(|s, _| s.retries = 2);
        let err = get(&f, &srv.url("/404")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: HTTP 404 Not Found", srv.url("/404"))
        );
        assert_eq!(srv.hits_for("/404").len(), 1);
        let err = get(&f, &srv.url("/500")).unwrap_err();
        assert!(matches!(err, FetchError::Status { status: 500, .. }));
        assert_eq!(srv.hits_for("/500").len(), 3);
        let ok = body(get(&f, &srv.url("/flaky")).unwrap());
        assert_eq!((ok.body.as_slice(), ok.attempts), (&b"fine"[..], 3));
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let srv = start();
        let f = fetcher_with(|s, _| s.max_retry_after_secs = 5);
        let err = get(&f, &srv.url("/429")).unwrap_err();
        assert!(
            matches!(err, FetchError::RetryAfter { secs: 3600, .. }),
            "{err}"
        );
        assert_eq!(srv.hits_for("/429").len(), 1);
        let started = Instant::now();
        let ok = body(get(&f, &srv.url("/429-short")).unwrap());
        assert_eq!(ok.attempts, 2);
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    #[test]
    fn refused_urls_and_connection_errors() {
        let f = fetcher_with(|s, _| s.retries = 0);
        assert!(matches!(
            get(&f, "file:///etc/passwd"),
            Err(FetchError::Refused { .. })
        ));
        assert!(matches!(
            get(&f, "http://192.0.2.1/"),
            Err(FetchError::Refused { .. })
        ));
        assert!(matches!(
            get(&f, "not a url"),
            Err(FetchError::BadUrl { .. })
        ));
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = get(&f, &format!("http://127.0.0.1:{port}/")).unwrap_err();
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
    }

    #[test]
    fn corrupt_compressed_bodies_are_errors() {
        let srv = start();
        let f = fetcher_with(|_, _| {});
        for path in ["/badgzip", "/truncgzip"] {
            let err = get(&f, &srv.url(path)).unwrap_err();
            assert!(
                matches!(err, FetchError::Decompress { .. }),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn per_host_concurrency_is_bounded() {
        for (per_host, expect) in [(1, 1), (3, 3)] {
            let srv = start();
            let f = fetcher_with(|s, _| {
                s.per_host_concurrency = per_host;
                s.concurrency = 8;
            });
            let url = srv.url("/slow-ok");
            rt().block_on(async {
                let futs: Vec<_> = (0..6)
                    .map(|_| {
                        let f = f.clone();
                        let url = url.clone();
                        async move { f.fetch(&url, Accept::Page, None).await }
                    })
                    .collect();
                for r in futures_util::future::join_all(futs).await {
                    assert!(r.is_ok());
                }
            });
            assert_eq!(srv.hits_for("/slow-ok").len(), 6);
            assert_eq!(srv.max_inflight.1.load(Ordering::SeqCst), expect);
            assert_eq!(f.global.available_permits(), 8);
        }
    }

    #[test]
    fn body_decoder_handles_brotli_and_deflate_and_caps() {
        let text = "キャッシュレス決済のセキュリティ".repeat(500);
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 9, 22);
            w.write_all(text.as_bytes()).unwrap();
        }
        let mut d = BodyDecoder::new("br", 1 << 20).unwrap();
        d.write(&br).unwrap();
        assert_eq!(d.finish().unwrap(), text.as_bytes());

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text.as_bytes()).unwrap();
        let z = z.finish().unwrap();
        let mut d = BodyDecoder::new("deflate", 1 << 20).unwrap();
        d.write(&z).unwrap();
        assert_eq!(d.finish().unwrap(), text.as_bytes());

        let mut d = BodyDecoder::new("br", 1000).unwrap();
        assert!(matches!(d.write(&br), Err(DecodeError::TooLarge)));
        let mut d = BodyDecoder::new("br", 1 << 20).unwrap();
        d.write(&br[..br.len() / 2]).unwrap();
        assert!(matches!(d.finish(), Err(DecodeError::Corrupt(_))));
        assert!(BodyDecoder::new("zstd", 10).is_err());
    }

    #[test]
    fn retry_after_parsing() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn scope_checks() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(url_allowed(&u("http://127.0.0.1:8080/x"), NetworkScope::LoopbackOnly).is_ok());
        assert!(url_allowed(&u("http://[::1]/x"), NetworkScope::LoopbackOnly).is_ok());
        assert!(url_allowed(&u("http://localhost/x"), NetworkScope::LoopbackOnly).is_ok());
        assert!(url_allowed(&u("https://example.com/"), NetworkScope::LoopbackOnly).is_err());
        assert!(url_allowed(&u("https://example.com/"), NetworkScope::Any).is_ok());
        assert!(url_allowed(&u("ftp://127.0.0.1/"), NetworkScope::Any).is_err());
        assert!(url_allowed(&u("javascript:alert(1)"), NetworkScope::Any).is_err());
    }
}
