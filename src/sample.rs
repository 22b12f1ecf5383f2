//! The built-in sample corpus and the loopback server that serves it.
//!
//! The corpus (assets/corpus: outlets.toml, labels.toml and the rendered `sites/`) is
//! embedded in the binary, so `kessai demo` and the tests work from any directory.
//! [`SampleServer`] serves it on `127.0.0.1` only, the way real sites do: per-outlet
//! content types and charsets, ETag and Last-Modified with 304 answers, gzip for outlets
//! that compress, 301s from old paths, and optional slow and broken feeds for ingest tests.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use include_dir::{Dir, include_dir};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::TagId;

static SITES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/corpus/sites");
const OUTLETS_TOML: &str = include_str!("../assets/corpus/outlets.toml");
const LABELS_TOML: &str = include_str!("../assets/corpus/labels.toml");
// Not used at run time; including it makes cargo rebuild when the page templates change.
const _GENERATOR: &str = include_str!("../assets/corpus/generate.py");

/// The placeholder that the corpus files carry wherever the server's base URL belongs.
pub const BASE_PLACEHOLDER: &str = "{{BASE}}";
/// How long the slow feed takes to send its whole body.
pub const SLOW_FEED_DURATION: Duration = Duration::from_secs(6);
/// Path of the slow feed (served only with [`SampleOptions::slow_feed`]).
pub const SLOW_FEED_PATH: &str = "/slow/feed.xml";
/// Path of the truncated feed (served only with [`SampleOptions::broken_feed`]).
pub const BROKEN_FEED_PATH: &str = "/broken/feed.xml";
/// Path of the feed that always answers HTTP 500 (served only with [`SampleOptions::broken_feed`]).
pub const BROKEN_HTTP_PATH: &str = "/broken/500.xml";
/// Bytes per write of the slow feed: at least tiny_http's 1 KiB buffer, so each write
/// reaches the client at once instead of waiting in the buffer.
const SLOW_CHUNK: usize = 1100;
/// Last-Modified of files that no article date covers.
const FALLBACK_MODIFIED: &str = "2026-10-31T00:00:00+09:00";

/// A problem with the embedded corpus itself (never with network input).
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// outlets.toml or labels.toml does not parse.
    #[error("embedded {file} is malformed: {source}")]
    Toml {
        /// Which file.
        file: &'static str,
        /// The parser's complaint.
        #[source]
        source: toml::de::Error,
    },
    /// A value in the corpus metadata is not what the contract allows.
    #[error("embedded corpus: {0}")]
    Invalid(String),
}

impl From<SampleError> for io::Error {
    fn from(e: SampleError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Feed format of an outlet (`format` in outlets.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FeedFormat {
    /// RSS 1.0 (RDF).
    #[serde(rename = "rss1")]
    Rss1,
    /// RSS 2.0.
    #[serde(rename = "rss2")]
    Rss2,
    /// Atom 1.0.
    #[serde(rename = "atom")]
    Atom,
    /// JSON Feed 1.1.
    #[serde(rename = "json")]
    Json,
    /// No feed: an HTML page listing links to the articles.
    #[serde(rename = "html-list")]
    HtmlList,
}

/// The main way an outlet declares its charset (`declares` in outlets.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Declares {
    /// `charset=` in the HTTP Content-Type header.
    Header,
    /// The XML declaration's `encoding`.
    Xml,
    /// `<meta charset>` or `<meta http-equiv="Content-Type">`.
    Meta,
    /// Nowhere: readers must detect it.
    None,
}

/// An old path that answers 301 with a new one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Redirect {
    /// The old path.
    pub from: String,
    /// Where it moved.
    pub to: String,
}

/// One outlet of the corpus, as described in assets/corpus/outlets.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Outlet {
    /// Stable id, also the first path segment (`paysec`).
    pub id: String,
    /// Japanese display name.
    pub name: String,
    /// Feed format.
    pub format: FeedFormat,
    /// Encoding of the article pages (`utf-8`, `shift_jis`, `euc-jp`).
    pub encoding: String,
    /// Main way the charset is declared.
    pub declares: Declares,
    /// Path of the feed (or list page) under the server.
    pub feed: String,
    /// Content-Type of the feed as sent.
    pub content_type: String,
    /// Encoding of the feed itself.
    pub feed_encoding: String,
    /// Every way the feed declares its charset (`header`, `xml`, `meta`).
    pub feed_declares: Vec<String>,
    /// Every way article pages declare theirs (`header`, `meta-charset`, `meta-http-equiv`).
    pub page_declares: Vec<String>,
    /// Content-Type of article pages as sent.
    pub page_content_type: String,
    /// Whether responses are gzip-compressed for clients that accept it.
    pub gzip: bool,
    /// Old paths that 301 to new ones.
    pub redirects: Vec<Redirect>,
    /// Human description of the page template.
    pub style: String,
    /// True only for the synthetic slow/broken feeds added by [`SampleOptions`].
    #[serde(default)]
    pub test_only: bool,
}

#[derive(Deserialize)]
struct OutletsFile {
    outlet: Vec<Outlet>,
}

/// The expected labels of one corpus article (assets/corpus/labels.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Outlet id.
    pub outlet: String,
    /// Slug, unique within the outlet.
    pub slug: String,
    /// Path of the article page under the server.
    pub url_path: String,
    /// Headline.
    pub title: String,
    /// Publication time (JST).
    pub published: DateTime<FixedOffset>,
    /// Every taxonomy id a careful analyst gives the article.
    pub tags: Vec<TagId>,
    /// The incident the article reports, if it reports one.
    pub incident: Option<TagId>,
}

#[derive(Deserialize)]
struct RawLabel {
    outlet: String,
    slug: String,
    url_path: String,
    title: String,
    published: String,
    tags: Vec<String>,
    incident: Option<String>,
}

#[derive(Deserialize)]
struct LabelsFile {
    #[serde(default)]
    article: Vec<RawLabel>,
}

/// The corpus outlets (without the synthetic test feeds).
pub fn outlets() -> Result<Vec<Outlet>, SampleError> {
    let file: OutletsFile = toml::from_str(OUTLETS_TOML).map_err(|source| SampleError::Toml {
        file: "outlets.toml",
        source,
    })?;
    Ok(file.outlet)
}

/// The expected labels of every corpus article.
pub fn labels() -> Result<Vec<Label>, SampleError> {
    let file: LabelsFile = toml::from_str(LABELS_TOML).map_err(|source| SampleError::Toml {
        file: "labels.toml",
        source,
    })?;
    file.article
        .into_iter()
        .map(|r| {
            let published = DateTime::parse_from_rfc3339(&r.published).map_err(|e| {
                SampleError::Invalid(format!("{}: published {:?}: {e}", r.url_path, r.published))
            })?;
            Ok(Label {
                outlet: r.outlet,
                slug: r.slug,
                url_path: r.url_path,
                title: r.title,
                published,
                tags: r.tags.into_iter().map(TagId::new).collect(),
                incident: r.incident.map(TagId::new),
            })
        })
        .collect()
}

/// The stored bytes of a corpus file, placeholders unreplaced; `path` as served
/// (`/paysec/feed.rdf`). For tests that need a page without starting a server.
pub fn raw_file(path: &str) -> Option<&'static [u8]> {
    SITES
        .get_file(path.trim_start_matches('/'))
        .map(|f| f.contents())
}

/// Every corpus file path as served (`/paysec/feed.rdf`, ...), sorted.
pub fn file_paths() -> Vec<String> {
    let mut out = Vec::new();
    collect_paths(&SITES, &mut out);
    out.sort();
    out
}

fn collect_paths(dir: &Dir<'static>, out: &mut Vec<String>) {
    for f in dir.files() {
        out.push(format!(
            "/{}",
            f.path().to_string_lossy().replace('\\', "/")
        ));
    }
    for d in dir.dirs() {
        collect_paths(d, out);
    }
}

/// Switches for the extra, misbehaving feeds used by ingest tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleOptions {
    /// Serve [`SLOW_FEED_PATH`]: an RSS 2.0 feed whose body trickles out over
    /// [`SLOW_FEED_DURATION`] (it does complete).
    pub slow_feed: bool,
    /// Serve [`BROKEN_FEED_PATH`] (200 with truncated XML) and [`BROKEN_HTTP_PATH`] (500).
    pub broken_feed: bool,
}

/// What the server does for one path.
#[derive(Debug)]
enum Route {
    File(Arc<Resource>),
    Slow(Arc<Resource>),
    Redirect(String),
    Error500,
}

/// A body with its validators, ready to send.
#[derive(Debug)]
struct Resource {
    body: Vec<u8>,
    gzipped: Option<Vec<u8>>,
    content_type: String,
    etag: String,
    last_modified: DateTime<Utc>,
}

impl Resource {
    fn new(
        body: Vec<u8>,
        content_type: &str,
        last_modified: DateTime<Utc>,
        gzip: bool,
    ) -> io::Result<Self> {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..10]));
        let gzipped = if gzip { Some(gzip_bytes(&body)?) } else { None };
        Ok(Self {
            body,
            gzipped,
            content_type: content_type.to_owned(),
            etag,
            last_modified,
        })
    }

    fn gzip_etag(&self) -> String {
        format!("{}-gzip\"", self.etag.trim_end_matches('"'))
    }
}

fn gzip_bytes(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    enc.finish()
}

/// Replaces every `{{BASE}}` in `data` (ASCII, so safe in Shift_JIS and EUC-JP bytes too).
fn replace_base(data: &[u8], base: &str) -> Vec<u8> {
    let pat = BASE_PLACEHOLDER.as_bytes();
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(pat) {
            out.extend_from_slice(base.as_bytes());
            i += pat.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Formats an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an HTTP-date as clients send it in If-Modified-Since; None if malformed.
fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// True when an If-None-Match value names one of `etags` (weak comparison, `*` matches).
fn etag_matches(header: &str, etags: &[&str]) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || etags.contains(&candidate.trim_start_matches("W/")))
}

/// True when Accept-Encoding offers gzip with a non-zero quality.
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let coding = it.next().unwrap_or("");
        if !coding.eq_ignore_ascii_case("gzip") && !coding.eq_ignore_ascii_case("x-gzip") {
            return false;
        }
        !it.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        })
    })
}

/// Request bookkeeping that tests read back.
#[derive(Debug, Default)]
struct Log {
    hits: HashMap<String, usize>,
    served: Vec<(String, u16)>,
}

struct Shared {
    routes: HashMap<String, Route>,
    log: Mutex<Log>,
    stop: AtomicBool,
    base: String,
}

/// The loopback server for the sample corpus. Stops (and joins its thread) on drop.
pub struct SampleServer {
    addr: SocketAddr,
    base: String,
    outlets: Vec<Outlet>,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SampleServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleServer")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SampleServer {
    /// Binds 127.0.0.1 on a free port and starts serving on a background thread.
    pub fn start(options: SampleOptions) -> io::Result<SampleServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        // Accepted connections inherit TCP_NODELAY from the listener (Linux): tiny_http
        // writes a response's head and body separately, and with Nagle on, the body of a
        // response over one segment waits for the client's delayed ACK (~40 ms a page).
        socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| io::Error::other(format!("serving on 127.0.0.1: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("sample server has no IP address"))?;
        let base = format!("http://{addr}");
        let mut outlets = outlets()?;
        let labels = labels()?;
        let routes = build_routes(&base, &outlets, &labels, options)?;
        outlets.extend(test_outlets(options));
        let shared = Arc::new(Shared {
            routes,
            log: Mutex::new(Log::default()),
            stop: AtomicBool::new(false),
            base: base.clone(),
        });
        let server = Arc::new(server);
        let acceptor = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("kessai-sample".into())
                .spawn(move || accept_loop(&server, &shared))?
        };
        Ok(SampleServer {
            addr,
            base,
            outlets,
            shared,
            server,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The bound socket address (always on 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Feed (or list page) URL of an outlet; None for an unknown id. For `press` this is
    /// the current path; its old path (see [`Outlet::redirects`]) answers 301.
    pub fn feed_url(&self, outlet_id: &str) -> Option<String> {
        self.outlets
            .iter()
            .find(|o| o.id == outlet_id)
            .map(|o| self.url(&o.feed))
    }

    /// The outlets served, including the enabled synthetic test feeds (`test_only`).
    pub fn outlets(&self) -> &[Outlet] {
        &self.outlets
    }

    /// How many requests reached `path` (query string ignored), whatever the answer.
    pub fn hits(&self, path: &str) -> usize {
        let log = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        log.hits.get(path).copied().unwrap_or(0)
    }

    /// Every answered request so far, in order: (path, HTTP status).
    pub fn served(&self) -> Vec<(String, u16)> {
        let log = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        log.served.clone()
    }
}

impl Drop for SampleServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

fn test_outlets(options: SampleOptions) -> Vec<Outlet> {
    let make = |id: &str, name: &str, feed: &str| Outlet {
        id: id.into(),
        name: name.into(),
        format: FeedFormat::Rss2,
        encoding: "utf-8".into(),
        declares: Declares::Header,
        feed: feed.into(),
        content_type: "application/rss+xml; charset=utf-8".into(),
        feed_encoding: "utf-8".into(),
        feed_declares: vec!["header".into()],
        page_declares: vec!["header".into()],
        page_content_type: "text/html; charset=utf-8".into(),
        gzip: false,
        redirects: Vec::new(),
        style: "synthetic feed for ingest tests".into(),
        test_only: true,
    };
    let mut out = Vec::new();
    if options.slow_feed {
        out.push(make("slow", "遅いフィード（試験用）", SLOW_FEED_PATH));
    }
    if options.broken_feed {
        out.push(make("broken", "壊れたフィード（試験用）", BROKEN_FEED_PATH));
        out.push(make(
            "broken-http",
            "エラーを返すフィード（試験用）",
            BROKEN_HTTP_PATH,
        ));
    }
    out
}

fn build_routes(
    base: &str,
    outlets: &[Outlet],
    labels: &[Label],
    options: SampleOptions,
) -> io::Result<HashMap<String, Route>> {
    let fallback = DateTime::parse_from_rfc3339(FALLBACK_MODIFIED)
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_timezone(&Utc);
    let published: HashMap<&str, DateTime<Utc>> = labels
        .iter()
        .map(|l| (l.url_path.as_str(), l.published.with_timezone(&Utc)))
        .collect();
    let newest = |outlet: &str| {
        labels
            .iter()
            .filter(|l| l.outlet == outlet)
            .map(|l| l.published.with_timezone(&Utc))
            .max()
            .unwrap_or(fallback)
    };
    let mut routes = HashMap::new();
    for path in file_paths() {
        let Some(raw) = raw_file(&path) else { continue };
        let outlet_id = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let Some(outlet) = outlets.iter().find(|o| o.id == outlet_id) else {
            return Err(SampleError::Invalid(format!("{path}: no outlet {outlet_id:?}")).into());
        };
        let is_feed = path == outlet.feed
            || (outlet.format == FeedFormat::HtmlList
                && path.rsplit_once('/').map(|(dir, _)| dir)
                    == outlet.feed.rsplit_once('/').map(|(dir, _)| dir));
        let (content_type, modified) = if is_feed {
            (&outlet.content_type, newest(&outlet.id))
        } else {
            (
                &outlet.page_content_type,
                published.get(path.as_str()).copied().unwrap_or(fallback),
            )
        };
        let body = replace_base(raw, base);
        let res = Resource::new(body, content_type, modified, outlet.gzip)?;
        routes.insert(path, Route::File(Arc::new(res)));
    }
    for o in outlets {
        for r in &o.redirects {
            routes.insert(r.from.clone(), Route::Redirect(r.to.clone()));
        }
    }
    if options.slow_feed {
        let body = synthetic_feed(base, labels, "遅いフィード（試験用）", "slow");
        let res = Resource::new(body, "application/rss+xml; charset=utf-8", fallback, false)?;
        routes.insert(SLOW_FEED_PATH.into(), Route::Slow(Arc::new(res)));
    }
    if options.broken_feed {
        let mut body = synthetic_feed(base, labels, "壊れたフィード（試験用）", "broken");
        // Cut inside an element, the way an interrupted upload or a full disk leaves a file.
        // The cut lands on a character boundary, so readers see broken XML, not bad UTF-8.
        let mut cut = body.len() * 3 / 5;
        while cut > 0 && (body[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        body.truncate(cut);
        let res = Resource::new(body, "application/rss+xml; charset=utf-8", fallback, false)?;
        routes.insert(BROKEN_FEED_PATH.into(), Route::File(Arc::new(res)));
        routes.insert(BROKEN_HTTP_PATH.into(), Route::Error500);
    }
    Ok(routes)
}

/// A valid RSS 2.0 feed over the fintech-journal articles, with its own guids.
fn synthetic_feed(base: &str, labels: &[Label], title: &str, guid_prefix: &str) -> Vec<u8> {
    use std::fmt::Write as _;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut items = String::new();
    for l in labels.iter().filter(|l| l.outlet == "fintech-journal") {
        let _ = writeln!(
            items,
            "<item><title>{t}</title><link>{base}{p}</link><guid isPermaLink=\"false\">{g}-{s}</guid>\
             <pubDate>{d}</pubDate><description>{t}</description></item>",
            t = esc(&l.title),
            p = l.url_path,
            g = guid_prefix,
            s = l.slug,
            d = l.published.to_rfc2822(),
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>{title}</title><link>{base}/</link><description>{title}</description>\n{items}</channel></rss>\n"
    )
    .into_bytes()
}

fn accept_loop(server: &tiny_http::Server, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match server.recv() {
            Ok(request) => {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let shared = Arc::clone(shared);
                // One thread per request, so a slow feed never holds up the others.
                let spawned = thread::Builder::new()
                    .name("kessai-sample-req".into())
                    .spawn(move || handle(request, &shared));
                if spawned.is_err() {
                    // Out of threads: the request is dropped and the client sees a reset.
                    continue;
                }
            }
            Err(_) => break,
        }
    }
}

fn header(request: &tiny_http::Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

fn mk_header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// A small text response with the given headers (invalid header values are skipped).
fn text_response(
    status: u16,
    body: String,
    headers: &[(&str, &str)],
) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
    for (k, v) in headers {
        if let Some(h) = mk_header(k, v) {
            resp.add_header(h);
        }
    }
    resp
}

fn handle(request: tiny_http::Request, shared: &Shared) {
    let path = request
        .url()
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .to_owned();
    respond(request, &path, shared);
}

/// Logs a request before its answer goes out, so a client that has read the answer
/// always finds it counted.
fn record(shared: &Shared, path: &str, status: u16) {
    let mut log = shared.log.lock().unwrap_or_else(PoisonError::into_inner);
    *log.hits.entry(path.to_owned()).or_insert(0) += 1;
    log.served.push((path.to_owned(), status));
}

/// Answers one request and returns the status sent.
fn respond(request: tiny_http::Request, path: &str, shared: &Shared) -> u16 {
    use tiny_http::Method;
    let get_or_head = matches!(request.method(), Method::Get | Method::Head);
    if !get_or_head {
        record(shared, path, 405);
        let resp = text_response(
            405,
            "method not allowed\n".into(),
            &[("Allow", "GET, HEAD")],
        );
        let _ = request.respond(resp);
        return 405;
    }
    match shared.routes.get(path) {
        None => {
            record(shared, path, 404);
            let resp = text_response(
                404,
                "<html><body><h1>404 Not Found</h1></body></html>\n".into(),
                &[("Content-Type", "text/html; charset=utf-8")],
            );
            let _ = request.respond(resp);
            404
        }
        Some(Route::Error500) => {
            record(shared, path, 500);
            let resp = text_response(
                500,
                "Internal Server Error\n".into(),
                &[("Content-Type", "text/plain; charset=utf-8")],
            );
            let _ = request.respond(resp);
            500
        }
        Some(Route::Redirect(to)) => {
            let location = format!("{}{}", shared.base, to);
            record(shared, path, 301);
            let resp = text_response(
                301,
                format!(
                    "<html><body>Moved to <a href=\"{location}\">{location}</a></body></html>\n"
                ),
                &[
                    ("Location", &location),
                    ("Content-Type", "text/html; charset=utf-8"),
                ],
            );
            let _ = request.respond(resp);
            301
        }
        Some(Route::File(res)) => send_resource(request, path, res, shared, false),
        Some(Route::Slow(res)) => send_resource(request, path, res, shared, true),
    }
}

fn send_resource(
    request: tiny_http::Request,
    path: &str,
    res: &Arc<Resource>,
    shared: &Shared,
    slow: bool,
) -> u16 {
    let gzip = res.gzipped.is_some()
        && header(&request, "Accept-Encoding").is_some_and(|v| accepts_gzip(&v));
    let etag = if gzip {
        res.gzip_etag()
    } else {
        res.etag.clone()
    };
    let not_modified = match header(&request, "If-None-Match") {
        Some(inm) => etag_matches(&inm, &[&res.etag, &res.gzip_etag()]),
        None => header(&request, "If-Modified-Since")
            .and_then(|v| parse_http_date(&v))
            .is_some_and(|since| res.last_modified <= since),
    };
    let mut headers: Vec<tiny_http::Header> = [
        ("ETag", etag.as_str()),
        ("Last-Modified", http_date(res.last_modified).as_str()),
        ("Cache-Control", "max-age=0, must-revalidate"),
    ]
    .iter()
    .filter_map(|(k, v)| mk_header(k, v))
    .collect();
    if res.gzipped.is_some() {
        headers.extend(mk_header("Vary", "Accept-Encoding"));
    }
    if not_modified {
        record(shared, path, 304);
        let resp = tiny_http::Response::new(304.into(), headers, io::empty(), Some(0), None);
        let _ = request.respond(resp);
        return 304;
    }
    headers.extend(mk_header("Content-Type", &res.content_type));
    let body: &[u8] = match (&res.gzipped, gzip) {
        (Some(gz), true) => {
            headers.extend(mk_header("Content-Encoding", "gzip"));
            gz
        }
        _ => &res.body,
    };
    let len = body.len();
    record(shared, path, 200);
    if slow {
        let reader = SlowReader::new(Arc::clone(res), gzip, &shared.stop);
        let resp = tiny_http::Response::new(200.into(), headers, reader, Some(len), None);
        let _ = request.respond(resp);
    } else {
        let resp = tiny_http::Response::new(200.into(), headers, body, Some(len), None);
        let _ = request.respond(resp);
    }
    200
}

/// Hands out a body a chunk at a time, spread evenly over [`SLOW_FEED_DURATION`]; gives up
/// (short body) when the server stops.
struct SlowReader<'a> {
    res: Arc<Resource>,
    gzip: bool,
    pos: usize,
    started: Instant,
    chunks_sent: u32,
    total_chunks: u32,
    stop: &'a AtomicBool,
}

impl<'a> SlowReader<'a> {
    fn new(res: Arc<Resource>, gzip: bool, stop: &'a AtomicBool) -> Self {
        let len = if gzip {
            res.gzipped.as_ref().map_or(0, Vec::len)
        } else {
            res.body.len()
        };
        let total_chunks = u32::try_from(len.div_ceil(SLOW_CHUNK).max(1)).unwrap_or(u32::MAX);
        Self {
            res,
            gzip,
            pos: 0,
            started: Instant::now(),
            chunks_sent: 0,
            total_chunks,
            stop,
        }
    }

    fn body(&self) -> &[u8] {
        match (&self.res.gzipped, self.gzip) {
            (Some(gz), true) => gz,
            _ => &self.res.body,
        }
    }
}

impl Read for SlowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.body().len();
        if self.pos >= len {
            return Ok(0);
        }
        // Chunk n is due at n/total of the duration; the first goes out at once.
        let due = SLOW_FEED_DURATION * self.chunks_sent / self.total_chunks;
        while self.started.elapsed() < due {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(0);
            }
            thread::sleep(Duration::from_millis(20).min(due - self.started.elapsed()));
        }
        let end = (self.pos + SLOW_CHUNK).min(len).min(self.pos + buf.len());
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.body()[self.pos..end]);
        self.pos = end;
        self.chunks_sent += 1;
        Ok(n)
    }
}

/// Converts a JST publication time to the HTTP-date a page is served with.
pub fn last_modified_of(published: DateTime<FixedOffset>) -> String {
    http_date(published.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;

    /// A minimal HTTP/1.1 response as read by the raw client below.
    #[derive(Debug)]
    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn get(server: &SampleServer, method: &str, path: &str, extra: &[(&str, &str)]) -> Resp {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            server.addr()
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).expect("write");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .expect("status")
            .parse()
            .expect("num");
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header colon");
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let mut body = Vec::new();
        reader.read_to_end(&mut body).expect("body");
        Resp {
            status,
            headers,
            body,
        }
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    }

    #[test]
    fn pure_helpers() {
        assert_eq!(
            replace_base(b"a{{BASE}}/x{{BASE}}", "http://h"),
            b"ahttp://h/xhttp://h"
        );
        assert_eq!(replace_base(b"{{BASE", "X"), b"{{BASE");
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
        assert!(etag_matches("\"a\", W/\"b\"", &["\"b\""]));
        assert!(etag_matches("*", &["\"x\""]));
        assert!(!etag_matches("\"a\"", &["\"b\""]));
        let t = DateTime::parse_from_rfc3339("2019-07-04T18:30:00+09:00").expect("date");
        assert_eq!(last_modified_of(t), "Thu, 04 Jul 2019 09:30:00 GMT");
        assert_eq!(
            parse_http_date("Thu, 04 Jul 2019 09:30:00 GMT"),
            Some(t.with_timezone(&Utc))
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[test]
    fn embedded_corpus_is_consistent() {
        let outlets = outlets().expect("outlets");
        assert_eq!(outlets.len(), 8);
        let labels = labels().expect("labels");
        assert!(!labels.is_empty());
        for l in &labels {
            assert!(
                raw_file(&l.url_path).is_some(),
                "no page for {}",
                l.url_path
            );
            assert!(outlets.iter().any(|o| o.id == l.outlet));
        }
        for o in &outlets {
            assert!(raw_file(&o.feed).is_some(), "no feed for {}", o.id);
        }
    }

    #[test]
    fn serves_every_feed_with_its_content_type_and_encoding() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        assert!(server.base_url().starts_with("http://127.0.0.1:"));
        for o in server.outlets() {
            let url = server.feed_url(&o.id).expect("feed url");
            let path = url.strip_prefix(server.base_url()).expect("same base");
            let r = get(&server, "GET", path, &[]);
            assert_eq!(r.status, 200, "{}", o.id);
            let ct = r.header("Content-Type").expect("content type");
            assert_eq!(ct, o.content_type, "{}", o.id);
            assert_eq!(
                ct.contains("charset"),
                o.feed_declares.iter().any(|d| d == "header"),
                "{}: charset in header only when declared there",
                o.id
            );
            assert!(r.header("ETag").is_some() && r.header("Last-Modified").is_some());
            let text = String::from_utf8_lossy(&r.body);
            assert!(
                !text.contains(BASE_PLACEHOLDER),
                "{}: placeholder left",
                o.id
            );
            let enc = encoding_rs::Encoding::for_label(o.feed_encoding.as_bytes()).expect("label");
            let (_, had_errors) = enc.decode_without_bom_handling(&r.body);
            assert!(
                !had_errors,
                "{} feed does not decode as {}",
                o.id, o.feed_encoding
            );
            let (decoded, _) = enc.decode_without_bom_handling(&r.body);
            assert!(
                decoded.contains(server.base_url()),
                "{}: links use the base",
                o.id
            );
        }
    }

    #[test]
    fn article_pages_carry_page_content_type() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        let labels = labels().expect("labels");
        for o in server.outlets() {
            let Some(l) = labels.iter().find(|l| l.outlet == o.id) else {
                continue;
            };
            let r = get(&server, "GET", &l.url_path, &[]);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Content-Type"), Some(o.page_content_type.as_str()));
            assert_eq!(
                r.header("Last-Modified"),
                Some(last_modified_of(l.published).as_str())
            );
            let enc = encoding_rs::Encoding::for_label(o.encoding.as_bytes()).expect("label");
            let (text, _, bad) = enc.decode(&r.body);
            assert!(!bad, "{} page does not decode", l.url_path);
            assert!(text.contains("PAGE TOP") && text.contains("関連記事"));
        }
    }

    #[test]
    fn conditional_requests_get_304_and_are_counted() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        let path = "/paysec/feed.rdf";
        let first = get(&server, "GET", path, &[]);
        let etag = first.header("ETag").expect("etag").to_owned();
        let lm = first.header("Last-Modified").expect("lm").to_owned();
        let by_etag = get(&server, "GET", path, &[("If-None-Match", &etag)]);
        assert_eq!(by_etag.status, 304);
        assert!(by_etag.body.is_empty());
        assert_eq!(by_etag.header("ETag"), Some(etag.as_str()));
        let by_date = get(&server, "GET", path, &[("If-Modified-Since", &lm)]);
        assert_eq!(by_date.status, 304);
        let stale = get(
            &server,
            "GET",
            path,
            &[("If-Modified-Since", "Mon, 01 Jan 2018 00:00:00 GMT")],
        );
        assert_eq!(stale.status, 200);
        // A non-matching ETag wins over a matching date.
        let other = get(
            &server,
            "GET",
            path,
            &[("If-None-Match", "\"nope\""), ("If-Modified-Since", &lm)],
        );
        assert_eq!(other.status, 200);
        let garbage = get(
            &server,
            "GET",
            path,
            &[("If-Modified-Since", "\u{7}not a date")],
        );
        assert_eq!(garbage.status, 200);
        assert_eq!(server.hits(path), 6);
        let statuses: Vec<u16> = server
            .served()
            .into_iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(statuses.iter().filter(|s| **s == 304).count(), 2);
        assert_eq!(
            server.hits("/paysec/feed.rdf?x=1"),
            0,
            "hits are keyed by path"
        );
    }

    #[test]
    fn gzip_only_when_asked_and_only_for_compressing_outlets() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        let plain = get(&server, "GET", "/bank-it/rss/index.xml", &[]);
        assert_eq!(plain.header("Content-Encoding"), None);
        let gz = get(
            &server,
            "GET",
            "/bank-it/rss/index.xml",
            &[("Accept-Encoding", "gzip, deflate")],
        );
        assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
        assert_eq!(gz.header("Vary"), Some("Accept-Encoding"));
        assert_ne!(gz.header("ETag"), plain.header("ETag"));
        assert_eq!(gunzip(&gz.body), plain.body);
        // The gzip variant's ETag revalidates too.
        let etag = gz.header("ETag").expect("etag").to_owned();
        let again = get(
            &server,
            "GET",
            "/bank-it/rss/index.xml",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
        );
        assert_eq!(again.status, 304);
        let sjis = get(
            &server,
            "GET",
            "/paysec/feed.rdf",
            &[("Accept-Encoding", "gzip")],
        );
        assert_eq!(sjis.header("Content-Encoding"), None);
    }

    #[test]
    fn redirects_head_errors() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        let r = get(&server, "GET", "/press/atom.xml", &[]);
        assert_eq!(r.status, 301);
        assert_eq!(
            r.header("Location"),
            Some(server.url("/press/feed/atom.xml").as_str())
        );
        let r = get(&server, "GET", "/kinyu-shimbun/news/", &[]);
        assert_eq!(r.status, 301);
        let head = get(&server, "HEAD", "/press/feed/atom.xml", &[]);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(
            get(&server, "POST", "/press/feed/atom.xml", &[]).status,
            405
        );
        assert_eq!(get(&server, "GET", "/nope", &[]).status, 404);
        assert_eq!(get(&server, "GET", "/../../etc/passwd", &[]).status, 404);
        assert_eq!(
            get(&server, "GET", SLOW_FEED_PATH, &[]).status,
            404,
            "slow feed is off"
        );
        assert_eq!(
            get(&server, "GET", BROKEN_FEED_PATH, &[]).status,
            404,
            "broken feed is off"
        );
        assert!(server.outlets().iter().all(|o| !o.test_only));
    }

    #[test]
    fn broken_feeds_when_switched_on() {
        let server = SampleServer::start(SampleOptions {
            slow_feed: false,
            broken_feed: true,
        })
        .expect("start");
        assert!(
            server
                .outlets()
                .iter()
                .any(|o| o.id == "broken" && o.test_only)
        );
        let r = get(&server, "GET", BROKEN_FEED_PATH, &[]);
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body).expect("utf-8 prefix");
        assert!(text.starts_with("<?xml") && !text.trim_end().ends_with("</rss>"));
        assert_eq!(get(&server, "GET", BROKEN_HTTP_PATH, &[]).status, 500);
        assert_eq!(server.served().last().map(|(_, s)| *s), Some(500));
    }

    #[test]
    fn slow_feed_trickles_and_does_not_block_others() {
        let server = SampleServer::start(SampleOptions {
            slow_feed: true,
            broken_feed: false,
        })
        .expect("start");
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .write_all(
                format!("GET {SLOW_FEED_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .expect("write");
        stream
            .set_read_timeout(Some(Duration::from_millis(400)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let timed_out = loop {
            match stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break true;
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        assert!(
            timed_out,
            "the slow feed finished within the first read timeout"
        );
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "headers arrive early: {text:.60}"
        );
        assert!(!text.contains("</rss>"));
        // Meanwhile other paths answer at once.
        assert_eq!(get(&server, "GET", "/paysec/feed.rdf", &[]).status, 200);
        drop(stream);
    }

    #[test]
    fn stops_on_drop() {
        let server = SampleServer::start(SampleOptions::default()).expect("start");
        let addr = server.addr();
        assert!(addr.ip().is_loopback());
        drop(server);
        // The listener closes as tiny_http's accept thread winds down; allow it a moment.
        let closed = (0..100).any(|_| {
            let refused = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err();
            if !refused {
                thread::sleep(Duration::from_millis(20));
            }
            refused
        });
        assert!(closed, "still accepting after drop");
    }
}
