//! Japanese tokenisation with lindera, and the text folding tagging and search share.
