//! The query language and the full-text index: one language for search and alerts.
//!
//! - [`query`] parses text such as `"J-Coin Pay" OR 7pay -tag:outage since:2019-07-01` into a
//!   [`Query`] tree, with typed errors that point at the column where the query went wrong.
//! - [`matcher`] compiles a query against the tokenizer and taxonomy and evaluates it on one
//!   article: the exact meaning of the language, shared with alerts.

mod codec;
mod eval;
pub mod matcher;
pub mod query;
pub mod rank;

pub use matcher::{Compiled, Doc, TextLeaf};
pub use query::{Query, QueryError, Status, parse, render_caret};
