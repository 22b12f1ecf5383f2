//! Turning feed documents (and list pages of sites without feeds) into items.
