//! The sled store: articles, state, tags and the indexes readers page through.
