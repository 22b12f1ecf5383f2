//! Subscriptions: a named standing query with its sinks, stored in the `alerts` tree and
//! exported/imported as TOML for a dotfiles repository.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sink::SinkSpec;

/// Longest subscription name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most sinks one subscription may have.
pub const MAX_SINKS: usize = 16;
/// Longest query, in bytes.
pub const MAX_QUERY_LEN: usize = 4096;

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// Bad name.
    #[error(
        "subscription name `{name}`: use 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
    )]
    BadName {
        /// The name as given.
        name: String,
    },
    /// No sink given.
    #[error(
        "subscription `{name}` has no sink: add --to SINK (stdout, notice, file:PATH, exec:COMMAND, webhook:URL)"
    )]
    NoSinks {
        /// Subscription.
        name: String,
    },
    /// Too many sinks.
    #[error("subscription `{name}` has {count} sinks; at most 16 are allowed")]
    TooManySinks {
        /// Subscription.
        name: String,
        /// How many were given.
        count: usize,
    },
    /// The same sink twice.
    #[error("subscription `{name}` lists sink `{sink}` twice")]
    DuplicateSink {
        /// Subscription.
        name: String,
        /// The sink.
        sink: String,
    },
    /// Query empty or too long.
    #[error("subscription `{name}`: the query must be 1 to 4096 bytes")]
    QueryLength {
        /// Subscription.
        name: String,
    },
}

/// A standing query and where its alerts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique name (also part of each alert's idempotency key).
    pub name: String,
    /// Query in the search language.
    pub query: String,
    /// Where alerts go, in order.
    #[serde(rename = "to")]
    pub sinks: Vec<SinkSpec>,
    /// Paused subscriptions match nothing (articles arriving while paused never alert).
    #[serde(default)]
    pub paused: bool,
    /// When it was added.
    pub created: DateTime<Utc>,
}

impl Subscription {
    /// Checks name, query length and sinks (the query's syntax is checked by the caller
    /// with the search parser).
    pub fn validate(&self) -> Result<(), SubscriptionError> {
        validate_name(&self.name)?;
        let q = self.query.trim();
        if q.is_empty() || self.query.len() > MAX_QUERY_LEN {
            return Err(SubscriptionError::QueryLength {
                name: self.name.clone(),
            });
        }
        if self.sinks.is_empty() {
            return Err(SubscriptionError::NoSinks {
                name: self.name.clone(),
            });
        }
        if self.sinks.len() > MAX_SINKS {
            return Err(SubscriptionError::TooManySinks {
                name: self.name.clone(),
                count: self.sinks.len(),
            });
        }
        for (i, s) in self.sinks.iter().enumerate() {
            if self.sinks[..i].contains(s) {
                return Err(SubscriptionError::DuplicateSink {
                    name: self.name.clone(),
                    sink: s.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Names are keys in the store, parts of outbox keys (so never a NUL) and shown in the
/// terminal (so plain ASCII).
pub fn validate_name(name: &str) -> Result<(), SubscriptionError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(SubscriptionError::BadName {
            name: name.to_string(),
        })
    }
}

/// The TOML document `alert export` writes and `alert import` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionFile {
    /// One `[[alert]]` table per subscription.
    #[serde(default, rename = "alert")]
    pub alerts: Vec<Subscription>,
}

/// Why an import file was refused (nothing is imported then).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not TOML, or not the expected shape.
    #[error("not a kessai alert file: {0}")]
    Toml(#[from] toml::de::Error),
    /// One entry is invalid.
    #[error(transparent)]
    Invalid(#[from] SubscriptionError),
    /// Two entries share a name.
    #[error("subscription `{name}` appears twice in the file")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

impl SubscriptionFile {
    /// TOML text, with a header comment.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# kessai alert subscriptions (kessai alert import FILE)\n# Secrets are not stored here: webhook headers name an environment variable.\n\n{body}"
        )
    }

    /// Parses and validates every entry (query syntax is the caller's to check).
    pub fn from_toml(text: &str) -> Result<SubscriptionFile, ImportError> {
        let file: SubscriptionFile = toml::from_str(text)?;
        for (i, s) in file.alerts.iter().enumerate() {
            s.validate()?;
            if file.alerts[..i].iter().any(|o| o.name == s.name) {
                return Err(ImportError::DuplicateName {
                    name: s.name.clone(),
                });
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sub(name: &str, sinks: &[&str]) -> Subscription {
        Subscription {
            name: name.into(),
            query: "tag:7pay OR セブンペイ".into(),
            sinks: sinks.iter().map(|s| SinkSpec::parse(s).unwrap()).collect(),
            paused: false,
            created: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn names() {
        for ok in ["7pay", "j-coin_pay.v2", "A"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a b",
            "a/b",
            "a\0b",
            "セブンペイ",
            &"x".repeat(65),
            "x\u{1b}[31m",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validate_sinks_and_query() {
        assert!(sub("a", &["stdout"]).validate().is_ok());
        assert!(matches!(
            sub("a", &[]).validate(),
            Err(SubscriptionError::NoSinks { .. })
        ));
        assert!(matches!(
            sub("a", &["stdout", "stdout"]).validate(),
            Err(SubscriptionError::DuplicateSink { .. })
        ));
        let mut s = sub("a", &["stdout"]);
        s.query = "  ".into();
        assert!(s.validate().is_err());
        s.query = "x".repeat(MAX_QUERY_LEN + 1);
        assert!(s.validate().is_err());
    }

    #[test]
    fn toml_roundtrip() {
        let file = SubscriptionFile {
            alerts: vec![
                sub(
                    "7pay",
                    &[
                        "file:/home/a/alerts.jsonl",
                        "webhook:https://hooks.example/x#header=X-Token:env=KESSAI_HOOK_TOKEN",
                        "exec:notify-send 'kessai alert'",
                    ],
                ),
                Subscription {
                    paused: true,
                    ..sub("quiet", &["notice"])
                },
            ],
        };
        let text = file.to_toml();
        assert!(text.contains("[[alert]]"), "{text}");
        assert!(text.contains("env=KESSAI_HOOK_TOKEN"), "{text}");
        assert_eq!(SubscriptionFile::from_toml(&text).unwrap(), file);
    }

    #[test]
    fn import_refuses_bad_files() {
        assert!(matches!(
            SubscriptionFile::from_toml("alert = 3"),
            Err(ImportError::Toml(_))
        ));
        let bad_sink = r#"
[[alert]]
name = "x"
query = "q"
to = ["webhook:file:///etc/passwd"]
created = "2026-11-27T00:00:00Z"
"#;
        let err = SubscriptionFile::from_toml(bad_sink)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only http and https"), "{err}");
        let dup = r#"
[[alert]]
name = "x"
query = "q"
to = ["stdout"]
created = "2026-11-27T00:00:00Z"
[[alert]]
name = "x"
query = "r"
to = ["notice"]
created = "2026-11-27T00:00:00Z"
"#;
        assert!(matches!(
            SubscriptionFile::from_toml(dup),
            Err(ImportError::DuplicateName { .. })
        ));
        assert_eq!(
            SubscriptionFile::from_toml("").unwrap(),
            SubscriptionFile::default()
        );
    }
}
