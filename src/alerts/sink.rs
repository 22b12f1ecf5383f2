//! Sink specifications: where an alert goes, as the user writes it after `--to`.
//!
//! `stdout`, `notice`, `file:PATH`, `exec:COMMAND ARGS`, `webhook:URL[#OPTIONS]`. The
//! canonical text of a spec ([`SinkSpec`]'s `Display`) parses back to the same spec and is
//! the sink's identity: idempotency keys, per-sink retry state and the outbox all use it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use url::Url;

/// Default time a webhook request may take, connection included.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest timeout a webhook sink may ask for.
pub const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a sink specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkSpecError {
    /// Nothing was given.
    #[error("empty sink (expected stdout, notice, file:PATH, exec:COMMAND or webhook:URL)")]
    Empty,
    /// The part before the colon is not a sink kind.
    #[error(
        "unknown sink kind `{kind}` (expected stdout, notice, file:PATH, exec:COMMAND or webhook:URL)"
    )]
    UnknownKind {
        /// What was written.
        kind: String,
    },
    /// `file:` without a path.
    #[error("file sink needs a path: file:PATH")]
    EmptyPath,
    /// The command line of an `exec:` sink could not be split into words.
    #[error("exec sink `{text}`: unbalanced quotes or a trailing backslash")]
    ExecQuoting {
        /// The command text.
        text: String,
    },
    /// `exec:` without a command.
    #[error("exec sink needs a command: exec:COMMAND ARGS")]
    ExecEmpty,
    /// A word of the command holds a NUL byte, which no program can receive.
    #[error("exec sink `{text}`: NUL byte in the command line")]
    ExecNul {
        /// The command text.
        text: String,
    },
    /// The webhook URL does not parse.
    #[error("webhook URL `{url}`: {reason}")]
    BadUrl {
        /// The URL text.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The webhook URL is not http or https.
    #[error("webhook URL `{url}`: only http and https are allowed")]
    NotHttp {
        /// The URL text.
        url: String,
    },
    /// An option after `#` is not `header=NAME:env=VAR` or `timeout=DURATION`.
    #[error(
        "webhook option `{option}`: expected header=NAME:env=VARIABLE or timeout=DURATION (e.g. 10s)"
    )]
    BadOption {
        /// The option text.
        option: String,
    },
    /// The header name is not an HTTP token.
    #[error("webhook header name `{name}` is not a valid HTTP header name")]
    BadHeaderName {
        /// The name.
        name: String,
    },
    /// The environment variable name is not a portable one.
    #[error("environment variable name `{name}` must be letters, digits and _ (not first a digit)")]
    BadEnvName {
        /// The name.
        name: String,
    },
    /// The timeout is unreadable or out of range.
    #[error("webhook timeout `{value}`: give 1s to 300s, e.g. timeout=10s")]
    BadTimeout {
        /// The value.
        value: String,
    },
}

/// A secret header whose value is read from the environment at delivery time, so the
/// secret never sits in the store or in an exported subscription file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretHeader {
    /// The header name, e.g. `X-Token`.
    pub name: String,
    /// The environment variable holding the value, e.g. `KESSAI_HOOK_TOKEN`.
    pub env: String,
}

/// An HTTP webhook: POST of the alert JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookSpec {
    /// Where to POST (http or https; never a fragment: `#` starts the options).
    pub url: Url,
    /// Optional secret header.
    pub secret: Option<SecretHeader>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// One place alerts are delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SinkSpec {
    /// A JSON line per alert on standard output (of `kessai watch`).
    Stdout,
    /// A notice in the reader: recorded in the store with the article, polled by the TUI.
    Notice,
    /// JSON lines appended (and fsynced) to a file.
    File {
        /// The file; absolute once [`SinkSpec::resolve`] ran.
        path: PathBuf,
    },
    /// A program run directly (never through a shell) with the alert JSON on stdin.
    Exec {
        /// Program and arguments.
        argv: Vec<String>,
    },
    /// An HTTP POST.
    Webhook(WebhookSpec),
}

impl SinkSpec {
    /// Parses a sink as written after `--to`. Relative file paths stay relative until
    /// [`SinkSpec::resolve`].
    pub fn parse(text: &str) -> Result<SinkSpec, SinkSpecError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SinkSpecError::Empty);
        }
        let (kind, rest) = match text.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (text, None),
        };
        match (kind.to_ascii_lowercase().as_str(), rest) {
            ("stdout", None) => Ok(SinkSpec::Stdout),
            ("notice" | "terminal", None) => Ok(SinkSpec::Notice),
            ("file", Some(path)) => {
                if path.is_empty() {
                    Err(SinkSpecError::EmptyPath)
                } else {
                    Ok(SinkSpec::File {
                        path: PathBuf::from(path),
                    })
                }
            }
            ("file", None) => Err(SinkSpecError::EmptyPath),
            ("exec", Some(cmd)) => parse_exec(cmd),
            ("exec", None) => Err(SinkSpecError::ExecEmpty),
            ("webhook", Some(rest)) => parse_webhook(rest).map(SinkSpec::Webhook),
            ("webhook", None) => Err(SinkSpecError::BadUrl {
                url: String::new(),
                reason: "missing URL".into(),
            }),
            _ => Err(SinkSpecError::UnknownKind {
                kind: kind.to_string(),
            }),
        }
    }

    /// Makes a file path absolute: `~/` is the home directory, a relative path is taken
    /// from `cwd`, because `kessai watch` may run elsewhere than `alert add` did.
    pub fn resolve(self, cwd: &Path, home: Option<&Path>) -> SinkSpec {
        match self {
            SinkSpec::File { path } => SinkSpec::File {
                path: resolve_path(&path, cwd, home),
            },
            other => other,
        }
    }

    /// The short kind name (`file`, `webhook`, ...), for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Stdout => "stdout",
            SinkSpec::Notice => "notice",
            SinkSpec::File { .. } => "file",
            SinkSpec::Exec { .. } => "exec",
            SinkSpec::Webhook(_) => "webhook",
        }
    }

    /// Whether alerts for this sink go through the outbox (everything but `notice`,
    /// which is written with the article itself).
    pub fn uses_outbox(&self) -> bool {
        !matches!(self, SinkSpec::Notice)
    }
}

fn resolve_path(path: &Path, cwd: &Path, home: Option<&Path>) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
        return home.join(rest);
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

fn parse_exec(cmd: &str) -> Result<SinkSpec, SinkSpecError> {
    if cmd.contains('\0') {
        return Err(SinkSpecError::ExecNul {
            text: cmd.to_string(),
        });
    }
    let argv = shlex::split(cmd).ok_or_else(|| SinkSpecError::ExecQuoting {
        text: cmd.to_string(),
    })?;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(SinkSpecError::ExecEmpty);
    }
    Ok(SinkSpec::Exec { argv })
}

fn parse_webhook(rest: &str) -> Result<WebhookSpec, SinkSpecError> {
    // The fragment is never sent to a server, so `#` can carry kessai's own options.
    let (url_text, options) = match rest.split_once('#') {
        Some((u, o)) => (u, Some(o)),
        None => (rest, None),
    };
    let url = Url::parse(url_text).map_err(|e| SinkSpecError::BadUrl {
        url: url_text.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SinkSpecError::NotHttp {
            url: url_text.to_string(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SinkSpecError::BadUrl {
            url: url_text.to_string(),
            reason: "no host".into(),
        });
    }
    let mut spec = WebhookSpec {
        url,
        secret: None,
        timeout: DEFAULT_WEBHOOK_TIMEOUT,
    };
    for option in options.into_iter().flat_map(|o| o.split('&')) {
        if option.is_empty() {
            continue;
        }
        let bad = || SinkSpecError::BadOption {
            option: option.to_string(),
        };
        let (key, value) = option.split_once('=').ok_or_else(bad)?;
        match key {
            "header" => {
                let (name, env) = value.split_once(':').ok_or_else(bad)?;
                let env = env.strip_prefix("env=").ok_or_else(bad)?;
                if !is_header_name(name) {
                    return Err(SinkSpecError::BadHeaderName {
                        name: name.to_string(),
                    });
                }
                if !is_env_name(env) {
                    return Err(SinkSpecError::BadEnvName {
                        name: env.to_string(),
                    });
                }
                spec.secret = Some(SecretHeader {
                    name: name.to_string(),
                    env: env.to_string(),
                });
            }
            "timeout" => {
                let t = humantime::parse_duration(value)
                    .ok()
                    .filter(|t| *t >= Duration::from_secs(1) && *t <= MAX_WEBHOOK_TIMEOUT)
                    .ok_or_else(|| SinkSpecError::BadTimeout {
                        value: value.to_string(),
                    })?;
                spec.timeout = t;
            }
            _ => return Err(bad()),
        }
    }
    Ok(spec)
}

/// RFC 9110 token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 128
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Stdout => f.write_str("stdout"),
            SinkSpec::Notice => f.write_str("notice"),
            SinkSpec::File { path } => write!(f, "file:{}", path.display()),
            SinkSpec::Exec { argv } => {
                // Words were NUL-free when parsed, so quoting cannot fail; fall back to
                // plain joining rather than panic if a caller built argv by hand.
                let joined = shlex::try_join(argv.iter().map(String::as_str))
                    .unwrap_or_else(|_| argv.join(" "));
                write!(f, "exec:{joined}")
            }
            SinkSpec::Webhook(w) => {
                write!(f, "webhook:{}", w.url)?;
                let mut sep = '#';
                if let Some(s) = &w.secret {
                    write!(f, "{sep}header={}:env={}", s.name, s.env)?;
                    sep = '&';
                }
                if w.timeout != DEFAULT_WEBHOOK_TIMEOUT {
                    write!(f, "{sep}timeout={}", humantime::format_duration(w.timeout))?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for SinkSpec {
    type Err = SinkSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SinkSpec::parse(s)
    }
}

impl serde::Serialize for SinkSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SinkSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SinkSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> SinkSpec {
        let spec = SinkSpec::parse(text).unwrap();
        let again = SinkSpec::parse(&spec.to_string()).unwrap();
        assert_eq!(spec, again, "{text} → {spec}");
        spec
    }

    #[test]
    fn simple_kinds() {
        assert_eq!(roundtrip("stdout"), SinkSpec::Stdout);
        assert_eq!(roundtrip("notice"), SinkSpec::Notice);
        assert_eq!(SinkSpec::parse(" terminal ").unwrap(), SinkSpec::Notice);
        assert_eq!(
            roundtrip("file:/var/log/kessai alerts.jsonl"),
            SinkSpec::File {
                path: "/var/log/kessai alerts.jsonl".into()
            }
        );
    }

    #[test]
    fn exec_splits_like_a_shell_but_keeps_metacharacters_as_data() {
        let spec = roundtrip(r#"exec:notify-send --app "kessai alerts" '$(rm -rf ~)' a\ b ; x"#);
        assert_eq!(
            spec,
            SinkSpec::Exec {
                argv: vec![
                    "notify-send".into(),
                    "--app".into(),
                    "kessai alerts".into(),
                    "$(rm -rf ~)".into(),
                    "a b".into(),
                    ";".into(),
                    "x".into(),
                ]
            }
        );
    }

    #[test]
    fn exec_errors() {
        assert_eq!(SinkSpec::parse("exec:"), Err(SinkSpecError::ExecEmpty));
        assert_eq!(SinkSpec::parse("exec"), Err(SinkSpecError::ExecEmpty));
        assert_eq!(SinkSpec::parse("exec:   "), Err(SinkSpecError::ExecEmpty));
        assert_eq!(SinkSpec::parse("exec:''"), Err(SinkSpecError::ExecEmpty));
        assert!(matches!(
            SinkSpec::parse("exec:echo 'unclosed"),
            Err(SinkSpecError::ExecQuoting { .. })
        ));
        assert!(matches!(
            SinkSpec::parse("exec:echo \\"),
            Err(SinkSpecError::ExecQuoting { .. })
        ));
        assert!(matches!(
            SinkSpec::parse("exec:echo a\0b"),
            Err(SinkSpecError::ExecNul { .. })
        ));
    }

    #[test]
    fn webhook_with_options() {
        let spec = roundtrip(
            "webhook:https://hooks.example/T1/x?y=1#header=X-Token:env=KESSAI_HOOK_TOKEN&timeout=3s",
        );
        let SinkSpec::Webhook(w) = spec else {
            panic!("not a webhook")
        };
        assert_eq!(w.url.as_str(), "https://hooks.example/T1/x?y=1");
        assert_eq!(
            w.secret,
            Some(SecretHeader {
                name: "X-Token".into(),
                env: "KESSAI_HOOK_TOKEN".into()
            })
        );
        assert_eq!(w.timeout, Duration::from_secs(3));
        let plain = roundtrip("webhook:http://127.0.0.1:8080/hook");
        assert_eq!(plain.to_string(), "webhook:http://127.0.0.1:8080/hook");
    }

    #[test]
    fn webhook_errors() {
        for (text, want) in [
            ("webhook:", "webhook URL ``"),
            ("webhook:not a url", "webhook URL `not a url`"),
            ("webhook:file:///etc/passwd", "only http and https"),
            ("webhook:javascript:alert(1)", "only http and https"),
            ("webhook:http://x/#header=X-Token", "webhook option"),
            ("webhook:http://x/#header=X Token:env=A", "header name"),
            (
                "webhook:http://x/#header=X-Token:env=1A",
                "environment variable name",
            ),
            (
                "webhook:http://x/#header=X-Token:env=A;rm",
                "environment variable name",
            ),
            ("webhook:http://x/#timeout=0s", "timeout"),
            ("webhook:http://x/#timeout=1h", "timeout"),
            ("webhook:http://x/#timeout=soon", "timeout"),
            ("webhook:http://x/#retries=3", "webhook option"),
        ] {
            let err = SinkSpec::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_and_empty() {
        assert_eq!(SinkSpec::parse(""), Err(SinkSpecError::Empty));
        assert_eq!(SinkSpec::parse("file:"), Err(SinkSpecError::EmptyPath));
        assert_eq!(SinkSpec::parse("file"), Err(SinkSpecError::EmptyPath));
        assert!(matches!(
            SinkSpec::parse("mailto:x@example.org"),
            Err(SinkSpecError::UnknownKind { .. })
        ));
        assert!(matches!(
            SinkSpec::parse("stdout:extra"),
            Err(SinkSpecError::UnknownKind { .. })
        ));
    }

    #[test]
    fn resolve_makes_file_paths_absolute() {
        let cwd = Path::new("/work/here");
        let home = Path::new("/home/analyst");
        let r = |t: &str| SinkSpec::parse(t).unwrap().resolve(cwd, Some(home));
        assert_eq!(
            r("file:alerts.jsonl"),
            SinkSpec::File {
                path: "/work/here/alerts.jsonl".into()
            }
        );
        assert_eq!(
            r("file:~/a.jsonl"),
            SinkSpec::File {
                path: "/home/analyst/a.jsonl".into()
            }
        );
        assert_eq!(
            r("file:/abs.jsonl"),
            SinkSpec::File {
                path: "/abs.jsonl".into()
            }
        );
        assert_eq!(r("stdout"), SinkSpec::Stdout);
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "\u{202e}exec:x",
            "webhook:http://[::1",
            "webhook:http://x/#&&&",
            "webhook:http://x/##",
            "exec:\"\u{0}\"",
            "FILE:/x",
            "ＷＥＢＨＯＯＫ:http://x",
        ] {
            let _ = SinkSpec::parse(text);
        }
        let long = format!("exec:{}", "'a' ".repeat(10_000));
        assert!(SinkSpec::parse(&long).is_ok());
    }
}
