//! Configuration: feeds.toml, settings and limits, and where files live.
//!
//! The file has three parts: `[settings]` (politeness and defaults), `[limits]` (every bound
//! the fetcher and the parsers enforce) and one `[[feed]]` table per source. Everything has a
//! default, so a file with only `[[feed]]` tables is complete. Errors name the file, the line
//! and the column.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::model::FeedId;

/// The feeds.toml shipped with kessai, used when the user has none of their own.
pub const BUILTIN_FEEDS_TOML: &str = include_str!("../feeds.toml");

/// The environment variable that names a config file.
pub const CONFIG_ENV: &str = "KESSAI_CONFIG";

/// The file name kessai looks for in the XDG config directory.
pub const CONFIG_FILE_NAME: &str = "feeds.toml";

/// The User-Agent every request carries unless the config says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "kessai/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/kessai)"
);

/// A line and column (both 1-based) in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    /// The line and column of a byte offset in `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config PATH`.
    Flag(PathBuf),
    /// `$KESSAI_CONFIG`.
    Env(PathBuf),
    /// `feeds.toml` in the XDG config directory.
    Xdg(PathBuf),
    /// The feeds.toml compiled into kessai.
    Builtin,
}

impl ConfigSource {
    /// The file, when the configuration lives in one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p) | ConfigSource::Env(p) | ConfigSource::Xdg(p) => Some(p),
            ConfigSource::Builtin => None,
        }
    }
    /// How error messages name the source.
    pub fn display_name(&self) -> String {
        match self.path() {
            Some(p) => p.display().to_string(),
            None => "<built-in feeds.toml>".to_string(),
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Flag(p) => write!(f, "{} (from --config)", p.display()),
            ConfigSource::Env(p) => write!(f, "{} (from ${CONFIG_ENV})", p.display()),
            ConfigSource::Xdg(p) => write!(f, "{}", p.display()),
            ConfigSource::Builtin => f.write_str("the built-in feeds.toml"),
        }
    }
}

/// One thing wrong with a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a configuration could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write config {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("{origin}:{location}: {message}")]
    Syntax {
        /// The file's name.
        origin: String,
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// The file parses but says something impossible (bad URL scheme, duplicate name, ...).
    #[error("{origin}:{}{}", .problems.first().map(|p| p.to_string()).unwrap_or_default(),
        if .problems.len() > 1 { format!(" (and {} more; run `kessai feeds check`)", .problems.len() - 1) } else { String::new() })]
    Invalid {
        /// The file's name.
        origin: String,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
    /// No config directory could be determined for this user.
    #[error("no config directory for this user (set $HOME, or use --config PATH)")]
    NoConfigDir,
}

/// How a feed publishes; `auto` lets the parser sniff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// Detect RSS, Atom or JSON Feed from the body.
    #[default]
    Auto,
    /// RSS 0.9x, 1.0 (RDF) or 2.0.
    #[serde(alias = "rss1", alias = "rss2", alias = "rdf")]
    Rss,
    /// Atom 1.0.
    Atom,
    /// JSON Feed 1.x.
    Json,
    /// An HTML page that lists articles; scraped with the feed's `list` selectors.
    HtmlList,
}

impl FeedFormat {
    /// The name used in feeds.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Auto => "auto",
            FeedFormat::Rss => "rss",
            FeedFormat::Atom => "atom",
            FeedFormat::Json => "json",
            FeedFormat::HtmlList => "html-list",
        }
    }
}

/// CSS selectors for scraping a list page (a site with no feed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSelectors {
    /// One element per article (e.g. `ul.news li`).
    pub item: Option<String>,
    /// The link inside an item (default: the first `a[href]`).
    pub link: Option<String>,
    /// The title inside an item (default: the link's text).
    pub title: Option<String>,
    /// The date inside an item (optional; `2024年1月5日`, `2024/01/05`, `2024-01-05`).
    pub date: Option<String>,
    /// The link to the next (older) list page (default: `rel="next"`, or a 次へ link).
    pub next: Option<String>,
}

impl ListSelectors {
    fn selectors(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("item", self.item.as_deref()),
            ("link", self.link.as_deref()),
            ("title", self.title.as_deref()),
            ("date", self.date.as_deref()),
            ("next", self.next.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// One source of articles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedConfig {
    /// Stable short name; the feed's id in the store (`FeedId`).
    pub name: String,
    /// Human title, e.g. `JPCERT/CC 注意喚起`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The feed (or list page) URL; http or https.
    pub url: String,
    /// How it publishes.
    pub format: FeedFormat,
    /// A category for grouping (security, regulator, payments, crypto, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Free-form labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Minutes between fetches (default: `settings.default_interval_minutes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_minutes: Option<u64>,
    /// CSS selector of the article body on this site's pages, overriding the heuristic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_selector: Option<String>,
    /// Fetch each new article's page for its full text (default: `settings.full_text`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_text: Option<bool>,
    /// Selectors for `format = "html-list"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<ListSelectors>,
    /// Whether `kessai fetch` fetches it.
    pub enabled: bool,
    /// Where the `[[feed]]` table starts in its file, for messages.
    #[serde(skip)]
    pub location: Option<Location>,
}

impl FeedConfig {
    /// A feed with default settings.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> FeedConfig {
        FeedConfig {
            name: name.into(),
            title: None,
            url: url.into(),
            format: FeedFormat::Auto,
            category: None,
            tags: Vec::new(),
            interval_minutes: None,
            body_selector: None,
            full_text: None,
            list: None,
            enabled: true,
            location: None,
        }
    }
    /// The feed's id in the store.
    pub fn id(&self) -> FeedId {
        FeedId::new(self.name.clone())
    }
    /// Whether to fetch article pages, with the global default applied.
    pub fn full_text(&self, settings: &Settings) -> bool {
        self.full_text.unwrap_or(settings.full_text)
    }
    /// Time between fetches, with the global default applied.
    pub fn interval(&self, settings: &Settings) -> Duration {
        Duration::from_secs(
            self.interval_minutes
                .unwrap_or(settings.default_interval_minutes)
                .saturating_mul(60),
        )
    }
    /// The title to show: `title`, else `name`.
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
    /// This feed as a `[[feed]]` TOML table, for appending to a config file.
    pub fn to_toml_block(&self) -> String {
        #[derive(Serialize)]
        struct One<'a> {
            feed: [&'a FeedConfig; 1],
        }
        // Serialising plain strings and numbers cannot fail; fall back to a comment if the
        // serializer ever disagrees, so callers never write half a table.
        toml::to_string(&One { feed: [self] })
            .unwrap_or_else(|e| format!("# could not serialise feed {:?}: {e}\n", self.name))
    }
}

/// Politeness and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The User-Agent header.
    pub user_agent: String,
    /// IANA time zone for dates written without one (list pages: `2024年1月5日`).
    pub timezone: String,
    /// Fetches in flight at once, over all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host_concurrency: usize,
    /// Retries after a transient failure (5xx, 429, timeout, connection error).
    pub retries: u32,
    /// First backoff delay in milliseconds; doubles per retry.
    pub retry_base_ms: u64,
    /// Longest `Retry-After` kessai honours, in seconds; longer waits fail the fetch.
    pub max_retry_after_secs: u64,
    /// Minutes between fetches of a feed that sets no `interval_minutes`.
    pub default_interval_minutes: u64,
    /// Default for each feed's `full_text`.
    pub full_text: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            timezone: "Asia/Tokyo".to_string(),
            concurrency: 16,
            per_host_concurrency: 2,
            retries: 2,
            retry_base_ms: 500,
            max_retry_after_secs: 30,
            default_interval_minutes: 30,
            full_text: true,
        }
    }
}

impl Settings {
    /// The configured time zone (Asia/Tokyo when the name is unknown; `validate` reports it).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Asia::Tokyo)
    }
}

/// Every bound on what a remote server can make kessai do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Seconds to establish a connection.
    pub connect_timeout_secs: u64,
    /// Seconds for a whole request, headers and body (a slow drip is cut off here).
    pub request_timeout_secs: u64,
    /// Bytes accepted on the wire (compressed) per response.
    pub max_body_bytes: u64,
    /// Bytes accepted after decompression per response (a gzip bomb stops here).
    pub max_decoded_bytes: u64,
    /// Redirects followed per request.
    pub max_redirects: usize,
    /// Items taken from one feed per fetch (the newest first, as the feed orders them).
    pub max_items_per_feed: usize,
    /// Characters kept of a title.
    pub max_title_chars: usize,
    /// Characters kept of a summary.
    pub max_summary_chars: usize,
    /// Characters kept of an article body.
    pub max_body_chars: usize,
    /// Bytes of HTML the extractor parses (longer pages are cut before parsing).
    pub max_html_bytes: usize,
    /// List pages followed per fetch of an `html-list` feed (page 1 plus older pages).
    pub max_list_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout_secs: 10,
            request_timeout_secs: 30,
            max_body_bytes: 8 * 1024 * 1024,
            max_decoded_bytes: 16 * 1024 * 1024,
            max_redirects: 5,
            max_items_per_feed: 500,
            max_title_chars: 300,
            max_summary_chars: 2_000,
            max_body_chars: 100_000,
            max_html_bytes: 4 * 1024 * 1024,
            max_list_pages: 5,
        }
    }
}

impl Limits {
    /// `connect_timeout_secs` as a Duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// `request_timeout_secs` as a Duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Politeness and defaults.
    pub settings: Settings,
    /// Bounds.
    pub limits: Limits,
    /// Every feed, enabled or not, in file order.
    pub feeds: Vec<FeedConfig>,
    /// Where it came from.
    pub source: ConfigSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    feed: Vec<Spanned<RawFeed>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: Spanned<String>,
    title: Option<String>,
    url: Spanned<String>,
    #[serde(default)]
    format: FeedFormat,
    category: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    interval_minutes: Option<u64>,
    body_selector: Option<Spanned<String>>,
    full_text: Option<bool>,
    list: Option<Spanned<ListSelectors>>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Parses and validates config text; `source` names it in errors.
    pub fn parse(text: &str, source: ConfigSource) -> Result<Config, ConfigError> {
        let origin = source.display_name();
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.clone(),
            location: Location::of_offset(text, e.span().map_or(0, |s| s.start)),
            message: e.message().trim().to_string(),
        })?;
        let mut problems = Vec::new();
        validate_settings(&raw.settings, &raw.limits, &mut problems);
        let mut feeds = Vec::with_capacity(raw.feed.len());
        for spanned in raw.feed {
            let table_loc = Location::of_offset(text, spanned.span().start);
            let f = spanned.into_inner();
            let at = |span: std::ops::Range<usize>| Some(Location::of_offset(text, span.start));
            let name_loc = at(f.name.span());
            let url_loc = at(f.url.span());
            let name = f.name.into_inner();
            let url = f.url.into_inner();
            if let Some(msg) = name_problem(&name) {
                problems.push(Problem {
                    location: name_loc,
                    message: msg,
                });
            } else if let Some(prev) = feeds.iter().find(|p: &&FeedConfig| p.name == name) {
                problems.push(Problem {
                    location: name_loc,
                    message: format!(
                        "feed name {name:?} is used twice (first at line {})",
                        prev.location.map_or(0, |l| l.line)
                    ),
                });
            }
            if let Err(msg) = check_feed_url(&url) {
                problems.push(Problem {
                    location: url_loc,
                    message: format!("feed {name:?}: {msg}"),
                });
            }
            let body_selector = f.body_selector.map(|s| {
                let loc = at(s.span());
                let s = s.into_inner();
                if let Err(msg) = check_selector(&s) {
                    problems.push(Problem {
                        location: loc,
                        message: format!("feed {name:?}: body_selector {s:?}: {msg}"),
                    });
                }
                s
            });
            let list = f.list.map(|l| {
                let loc = at(l.span());
                let l = l.into_inner();
                for (key, sel) in l.selectors() {
                    if let Err(msg) = check_selector(sel) {
                        problems.push(Problem {
                            location: loc,
                            message: format!("feed {name:?}: list.{key} {sel:?}: {msg}"),
                        });
                    }
                }
                l
            });
            if f.interval_minutes == Some(0) {
                problems.push(Problem {
                    location: Some(table_loc),
                    message: format!("feed {name:?}: interval_minutes must be at least 1"),
                });
            }
            feeds.push(FeedConfig {
                name,
                title: f.title,
                url,
                format: f.format,
                category: f.category,
                tags: f.tags,
                interval_minutes: f.interval_minutes,
                body_selector,
                full_text: f.full_text,
                list,
                enabled: f.enabled,
                location: Some(table_loc),
            });
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.location.map(|l| (l.line, l.column)));
            return Err(ConfigError::Invalid { origin, problems });
        }
        Ok(Config {
            settings: raw.settings,
            limits: raw.limits,
            feeds,
            source,
        })
    }

    /// Reads and validates the file (or the built-in text) a source names.
    pub fn load(source: ConfigSource) -> Result<Config, ConfigError> {
        match source.path() {
            None => Config::parse(BUILTIN_FEEDS_TOML, source),
            Some(path) => {
                let text = fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.to_path_buf(),
                    source: e,
                })?;
                Config::parse(&text, source)
            }
        }
    }

    /// Finds and loads the configuration: `--config`, `$KESSAI_CONFIG`, the XDG config dir,
    /// then the built-in file.
    pub fn discover(flag: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(locate(
            flag,
            std::env::var_os(CONFIG_ENV),
            xdg_config_dir().as_deref(),
        ))
    }

    /// A configuration with default settings and limits and the given feeds (demo, tests).
    pub fn with_feeds(feeds: Vec<FeedConfig>) -> Config {
        Config {
            settings: Settings::default(),
            limits: Limits::default(),
            feeds,
            source: ConfigSource::Builtin,
        }
    }

    /// The feed with this name.
    pub fn feed(&self, name: &str) -> Option<&FeedConfig> {
        self.feeds.iter().find(|f| f.name == name)
    }

    /// Enabled feeds, in file order.
    pub fn enabled_feeds(&self) -> impl Iterator<Item = &FeedConfig> {
        self.feeds.iter().filter(|f| f.enabled)
    }
}

/// Picks the config source. Pure: the caller passes the environment in.
///
/// An explicit `--config` or `$KESSAI_CONFIG` is used even if the file is missing (loading
/// then fails naming it); the XDG file only when it exists.
pub fn locate(flag: Option<&Path>, env: Option<OsString>, xdg_dir: Option<&Path>) -> ConfigSource {
    if let Some(p) = flag {
        return ConfigSource::Flag(p.to_path_buf());
    }
    if let Some(p) = env.filter(|v| !v.is_empty()) {
        return ConfigSource::Env(PathBuf::from(p));
    }
    if let Some(dir) = xdg_dir {
        let p = dir.join(CONFIG_FILE_NAME);
        if p.is_file() {
            return ConfigSource::Xdg(p);
        }
    }
    ConfigSource::Builtin
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "kessai")
}

/// kessai's XDG config directory (`~/.config/kessai` on Linux).
pub fn xdg_config_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().to_path_buf())
}

/// The default store directory (`~/.local/share/kessai/store` on Linux).
pub fn default_store_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().join("store"))
}

/// The file that `feeds import-opml` should append to for this source, creating it from the
/// built-in text when the user has no file yet. Returns the path.
pub fn writable_config_path(source: &ConfigSource) -> Result<PathBuf, ConfigError> {
    if let Some(p) = source.path() {
        return Ok(p.to_path_buf());
    }
    let dir = xdg_config_dir().ok_or(ConfigError::NoConfigDir)?;
    let path = dir.join(CONFIG_FILE_NAME);
    if !path.exists() {
        fs::create_dir_all(&dir).map_err(|e| ConfigError::Write {
            path: dir.clone(),
            source: e,
        })?;
        fs::write(&path, BUILTIN_FEEDS_TOML).map_err(|e| ConfigError::Write {
            path: path.clone(),
            source: e,
        })?;
    }
    Ok(path)
}

/// Appends feed tables to a config file, keeping everything already in it (comments too).
pub fn append_feeds(path: &Path, feeds: &[FeedConfig]) -> Result<(), ConfigError> {
    use std::io::Write;
    let existing = fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        out.push('\n');
    }
    for f in feeds {
        out.push('\n');
        out.push_str(&f.to_toml_block());
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ConfigError::Write {
            path: path.to_path_buf(),
            source: e,
        })?;
    file.write_all(out.as_bytes())
        .map_err(|e| ConfigError::Write {
            path: path.to_path_buf(),
            source: e,
        })
}

/// Checks a feed URL: parseable, http or https, with a host. Returns the reason otherwise.
pub fn check_feed_url(raw: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(raw.trim()).map_err(|e| format!("url {raw:?} is not a URL ({e})"))?;
    match u.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "url {raw:?} has scheme {other:?}; only http and https are fetched"
            ));
        }
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("url {raw:?} has no host"));
    }
    Ok(u)
}

/// Whether a feed name is usable as an id: non-empty, short, no control characters.
fn name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("feed name is empty".to_string())
    } else if name.chars().any(char::is_control) {
        Some(format!("feed name {name:?} contains control characters"))
    } else if name.chars().count() > 100 {
        Some("feed name is longer than 100 characters".to_string())
    } else if name != name.trim() {
        Some(format!("feed name {name:?} has leading or trailing spaces"))
    } else {
        None
    }
}

fn check_selector(sel: &str) -> Result<(), String> {
    scraper::Selector::parse(sel)
        .map(|_| ())
        .map_err(|e| format!("not a valid CSS selector ({e})"))
}

fn validate_settings(s: &Settings, l: &Limits, problems: &mut Vec<Problem>) {
    let mut bad = |msg: String| {
        problems.push(Problem {
            location: None,
            message: msg,
        })
    };
    if s.timezone.parse::<chrono_tz::Tz>().is_err() {
        bad(format!(
            "settings.timezone {:?} is not an IANA time zone (e.g. Asia/Tokyo)",
            s.timezone
        ));
    }
    if s.user_agent.trim().is_empty() || s.user_agent.chars().any(char::is_control) {
        bad("settings.user_agent must be non-empty printable text".to_string());
    }
    for (name, v) in [
        ("settings.concurrency", s.concurrency as u64),
        (
            "settings.per_host_concurrency",
            s.per_host_concurrency as u64,
        ),
        (
            "settings.default_interval_minutes",
            s.default_interval_minutes,
        ),
        ("limits.connect_timeout_secs", l.connect_timeout_secs),
        ("limits.request_timeout_secs", l.request_timeout_secs),
        ("limits.max_body_bytes", l.max_body_bytes),
        ("limits.max_decoded_bytes", l.max_decoded_bytes),
        ("limits.max_items_per_feed", l.max_items_per_feed as u64),
        ("limits.max_title_chars", l.max_title_chars as u64),
        ("limits.max_summary_chars", l.max_summary_chars as u64),
        ("limits.max_body_chars", l.max_body_chars as u64),
        ("limits.max_html_bytes", l.max_html_bytes as u64),
        ("limits.max_list_pages", l.max_list_pages as u64),
    ] {
        if v == 0 {
            bad(format!("{name} must be at least 1"));
        }
    }
    if s.concurrency > 1024 || s.per_host_concurrency > 64 {
        bad("settings.concurrency is at most 1024 and per_host_concurrency at most 64".into());
    }
    if l.max_redirects > 20 {
        bad("limits.max_redirects is at most 20".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, ConfigSource::Flag(PathBuf::from("test.toml")))
    }

    #[test]
    fn builtin_file_is_valid_and_real() {
        let c = Config::load(ConfigSource::Builtin).unwrap();
        assert!(c.feeds.len() >= 8, "{} feeds", c.feeds.len());
        for f in &c.feeds {
            let u = check_feed_url(&f.url).unwrap();
            assert_eq!(u.scheme(), "https", "{}", f.name);
            assert!(f.title.is_some(), "{} has no title", f.name);
            assert!(f.category.is_some(), "{} has no category", f.name);
        }
        assert!(c.feed("jpcert").is_some());
        assert_eq!(c.settings.tz(), chrono_tz::Asia::Tokyo);
    }

    #[test]
    fn defaults_fill_a_minimal_file() {
        let c = parse("[[feed]]\nname = \"a\"\nurl = \"https://example.com/feed\"\n").unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.settings, Settings::default());
        let f = &c.feeds[0];
        assert!(f.enabled);
        assert_eq!(f.format, FeedFormat::Auto);
        assert!(f.full_text(&c.settings));
        assert_eq!(f.interval(&c.settings), Duration::from_secs(30 * 60));
        assert_eq!(f.location, Some(Location { line: 1, column: 1 }));
        assert!(c.settings.user_agent.starts_with("kessai/"));
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let text = "[settings]\nconcurrency = 4\n\n[[feed]]\nname = \"a\"\nurl = https://x\n";
        let err = parse(text).unwrap_err();
        match &err {
            ConfigError::Syntax { location, .. } => assert_eq!(location.line, 6),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().starts_with("test.toml:6:"), "{err}");
    }

    #[test]
    fn wrong_type_and_unknown_key_point_at_the_line() {
        let err = parse("[limits]\nmax_redirects = \"five\"\n").unwrap_err();
        assert!(err.to_string().starts_with("test.toml:2:"), "{err}");
        let err = parse("[[feed]]\nname = \"a\"\nurl = \"https://a/\"\nbody_selecter = \"x\"\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("body_selecter"), "{msg}");
        assert!(msg.starts_with("test.toml:4:"), "{msg}");
    }

    #[test]
    fn bad_scheme_duplicate_name_and_bad_selector_are_all_reported_with_lines() {
        let text = r#"
[[feed]]
name = "a"
url = "file:///etc/passwd"

[[feed]]
name = "a"
url = "https://example.com/"
body_selector = "div[["

[[feed]]
name = "c"
url = "not a url"
format = "html-list"
list = { item = "li", link = "a::" }
"#;
        let err = parse(text).unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err:?}")
        };
        let lines: Vec<usize> = problems.iter().map(|p| p.location.unwrap().line).collect();
        assert_eq!(lines, vec![4, 7, 9, 13, 15], "{problems:?}");
        assert!(problems[0].message.contains("\"file\""));
        assert!(problems[1].message.contains("used twice (first at line 2)"));
        assert!(err.to_string().contains("and 4 more"), "{err}");
    }

    #[test]
    fn settings_are_validated() {
        let err = parse("[settings]\ntimezone = \"Mars/Olympus\"\nconcurrency = 0\n").unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!()
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn format_aliases_and_list_selectors_parse() {
        let c = parse(
            r#"
[[feed]]
name = "x"
url = "http://127.0.0.1:1/list"
format = "html-list"
full_text = false
enabled = false
list = { item = "ul.news li", link = "a", date = "span.date" }
[[feed]]
name = "y"
url = "https://h/feed.rdf"
format = "rss1"
"#,
        )
        .unwrap();
        assert_eq!(c.feeds[0].format, FeedFormat::HtmlList);
        assert_eq!(c.feeds[1].format, FeedFormat::Rss);
        assert_eq!(c.enabled_feeds().count(), 1);
        assert!(!c.feeds[0].full_text(&c.settings));
        assert_eq!(
            c.feeds[0].list.as_ref().unwrap().date.as_deref(),
            Some("span.date")
        );
    }

    #[test]
    fn toml_block_round_trips() {
        let mut f = FeedConfig::new("jp \"quoted\"", "https://example.com/a?b=c");
        f.title = Some("日本語のタイトル".into());
        f.tags = vec!["a".into(), "b".into()];
        f.list = Some(ListSelectors {
            item: Some("li".into()),
            ..Default::default()
        });
        let block = f.to_toml_block();
        let c = parse(&block).unwrap();
        let mut back = c.feeds[0].clone();
        back.location = None;
        assert_eq!(back, f);
    }

    #[test]
    fn append_keeps_existing_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        fs::write(
            &path,
            "# my comment\n[[feed]]\nname = \"a\"\nurl = \"https://a/\"",
        )
        .unwrap();
        append_feeds(&path, &[FeedConfig::new("b", "https://b/")]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my comment\n"));
        let c = Config::load(ConfigSource::Flag(path)).unwrap();
        assert_eq!(c.feeds.len(), 2);
    }

    #[test]
    fn locate_prefers_flag_then_env_then_existing_xdg_file() {
        let dir = tempfile::tempdir().unwrap();
        let flag = Path::new("/x/flag.toml");
        assert_eq!(
            locate(Some(flag), Some("/e".into()), Some(dir.path())),
            ConfigSource::Flag(flag.into())
        );
        assert_eq!(
            locate(None, Some("/e.toml".into()), Some(dir.path())),
            ConfigSource::Env("/e.toml".into())
        );
        assert_eq!(
            locate(None, Some("".into()), Some(dir.path())),
            ConfigSource::Builtin
        );
        fs::write(dir.path().join(CONFIG_FILE_NAME), "").unwrap();
        assert_eq!(
            locate(None, None, Some(dir.path())),
            ConfigSource::Xdg(dir.path().join(CONFIG_FILE_NAME))
        );
    }

    #[test]
    fn missing_file_error_names_it() {
        let err = Config::load(ConfigSource::Env("/nonexistent/kessai.toml".into())).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/kessai.toml"),
            "{err}"
        );
    }

    #[test]
    fn location_counts_characters_not_bytes() {
        let t = "あい\nうえお";
        assert_eq!(
            Location::of_offset(t, t.find('お').unwrap()),
            Location { line: 2, column: 3 }
        );
        assert_eq!(
            Location::of_offset(t, 10_000),
            Location { line: 2, column: 4 }
        );
        assert_eq!(Location::of_offset(t, 1), Location { line: 1, column: 1 });
    }
}
