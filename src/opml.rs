//! OPML import and export of the feed list.
