//! Making untrusted text safe for the terminal and for HTML.
