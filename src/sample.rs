//! The built-in sample corpus and the loopback server that serves it.
