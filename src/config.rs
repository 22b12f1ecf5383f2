//! Configuration: feeds.toml, settings and limits, and where files live.
