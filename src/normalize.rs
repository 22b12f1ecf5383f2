//! Normalising text and URLs, and hashing content for de-duplication.
