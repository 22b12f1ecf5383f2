//! Extracting an article's main text from its HTML page.
