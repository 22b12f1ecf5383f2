//! Tagging articles with taxonomy entries, with evidence.
