//! JSON rendering: the [`Digest`] as it is, pretty-printed. Its shape is described by the
//! JSON Schema in `docs/digest-schema.json`; `schema_version` says which. Strings are the
//! stored text (JSON-escaped, not HTML-escaped): consumers escape for where they put them,
//! and should use `link` (http/https or null), never `url`, as a link target.

use super::Digest;

/// Renders the digest as pretty-printed JSON with a final newline.
pub fn render(d: &Digest) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(d)?;
    s.push('\n');
    Ok(s)
}

/// Reads a digest back (for tools and tests).
pub fn parse(text: &str) -> Result<Digest, serde_json::Error> {
    serde_json::from_str(text)
}
