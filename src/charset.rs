//! Deciding a document's character set and decoding it to UTF-8.
