//! The query language and the full-text index: one language for search and alerts.
//!
//! - [`query`] parses text such as `"J-Coin Pay" OR 7pay -tag:outage since:2019-07-01` into a
//!   [`Query`] tree, with typed errors that point at the column where the query went wrong.
//! - [`matcher`] compiles a query against the tokenizer and taxonomy and evaluates it on one
//!   article: the exact meaning of the language, shared with alerts.
//! - [`index`] keeps an inverted index of every article's tokens (with positions, per field)
//!   and per-bucket sets of its tags, families, feed and reading state in the store's
//!   `search` tree, as a store [`Indexer`](crate::store::Indexer) (atomic with the article).
//! - [`refine`] splits the domain compounds the tagger keeps whole, so words match inside
//!   them.
//! - [`Engine`] answers queries bucket by bucket from the index (queries of filters only from
//!   the store's indexes), ranked by BM25 (title hits weigh more) with recency breaking ties,
//!   or by date; [`snippet`] marks the hits for display.
//! - [`saved`] keeps named searches for the reader's sidebar.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kessai::search::{self, Engine};
//! let store = kessai::store::Store::open_temporary()?;
//! let engine = Engine::new(&store)?;
//! let results = engine.search(&search::parse("\"J-Coin Pay\" -tag:outage")?, 20, None)?;
//! for hit in &results.hits {
//!     println!("{} {}", hit.article.draft.published, hit.title.to_terminal(false));
//! }
//! # Ok(()) }
//! ```

mod codec;
mod engine;
mod eval;
pub mod index;
pub mod matcher;
pub mod query;
pub mod rank;
pub mod refine;
pub mod saved;
pub mod snippet;

pub use codec::Corrupt;
pub use engine::{Cursor, Engine, Hit, Ranked, Results, SearchError, Stale};
pub use index::{SearchIndexer, merge, rebuild, register};
pub use matcher::{Compiled, Doc, TextLeaf};
pub use query::{Query, QueryError, Status, parse, render_caret};
pub use rank::{Scored, Sort};
pub use snippet::{Part, Snippet};
