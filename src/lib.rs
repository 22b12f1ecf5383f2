//! kessai — a terminal news desk for the security of cashless payments in Japan.
//!
//! The library is the pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! config ─► fetch (+ charset) ─► parse ─► extract ─► normalize ─► tag (+ tokenize,
//! taxonomy, facts) ─► store ─► { tui, search, digest, alerts }
//! ```
//!
//! `ingest` drives the stages for a set of feeds; `sample` serves the built-in corpus on
//! loopback for the demo and the tests; `sanitize` makes untrusted text safe for the
//! terminal and for HTML. See ARCHITECTURE.md for what may depend on what.

pub mod model;
pub mod sanitize;

pub mod config;
pub mod opml;

pub mod charset;
pub mod extract;
pub mod fetch;
pub mod normalize;
pub mod parse;

pub mod facts;
pub mod tag;
pub mod taxonomy;
pub mod tokenize;

pub mod ingest;
pub mod store;

pub mod alerts;
pub mod digest;
pub mod indexers;
pub mod search;
pub mod tui;

pub mod sample;
