//! The daily digest: Markdown, HTML and JSON.
