//! The query language and the full-text index.
