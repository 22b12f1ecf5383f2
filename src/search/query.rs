//! The query language: a lexer and a recursive-descent parser from text to a [`Query`] tree.
//!
//! ```text
//! query    := or EOF
//! or       := and ( "OR" and )*
//! and      := unary ( ["AND"] unary )*          implicit AND between neighbours
//! unary    := ("NOT" | "-") unary | primary
//! primary  := "(" or ")" | "\"phrase\"" | field ":" value | term
//! field    := tag | feed | since | until | is
//! ```
//!
//! Parsing is pure syntax: it needs neither the tokenizer nor the taxonomy. Turning terms
//! into token sequences and `tag:` values into taxonomy entries happens when the query is
//! compiled for matching (see `search::matcher`), which reports its errors with the same
//! column numbers.

use chrono::NaiveDate;
use unicode_width::UnicodeWidthChar;

use crate::model::{Family, FeedId};

/// Longest query accepted, in characters (a query is typed by a person or kept in a file).
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Deepest nesting of parentheses and NOT accepted, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// A parsed query: a tree of boolean operators over text and structured leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A bare term (`京都`, `J-Coin`) or a quoted phrase (`"J-Coin Pay"`). Either is tokenised
    /// and matches its tokens consecutively; a phrase may contain spaces.
    Text {
        /// The text as typed (inside the quotes for a phrase).
        text: String,
        /// Whether it was quoted.
        phrase: bool,
        /// 1-based character column where it starts (the quote for a phrase).
        col: usize,
    },
    /// `tag:ID` — an article carrying this tag. The value is resolved against the taxonomy
    /// when the query is compiled (an id, or any spelling variant of an entry).
    Tag {
        /// The value as typed.
        value: String,
        /// 1-based column of the value.
        col: usize,
    },
    /// `tag:FAMILY` — an article carrying any tag of this family.
    Family(Family),
    /// `feed:NAME` — articles from this feed.
    Feed(FeedId),
    /// `since:YYYY-MM-DD` — published on or after this day (Japan time).
    Since(NaiveDate),
    /// `until:YYYY-MM-DD` — published on or before this day (Japan time).
    Until(NaiveDate),
    /// `is:unread`, `is:read`, `is:starred`.
    Is(Status),
    /// `NOT x` or `-x`.
    Not(Box<Query>),
    /// All of these (implicit between neighbours, or `AND`).
    And(Vec<Query>),
    /// Any of these (`OR`).
    Or(Vec<Query>),
}

/// The reading states `is:` can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not yet opened.
    Unread,
    /// Opened.
    Read,
    /// Starred.
    Starred,
}

impl Status {
    /// The name used after `is:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unread => "unread",
            Status::Read => "read",
            Status::Starred => "starred",
        }
    }
}

/// Why a query was rejected, with the 1-based character column where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing but spaces.
    #[error("column {col}: the query is empty")]
    Empty {
        /// Column.
        col: usize,
    },
    /// Longer than [`MAX_QUERY_CHARS`].
    #[error("column {col}: the query is longer than {max} characters")]
    TooLong {
        /// Column of the first character past the limit.
        col: usize,
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("column {col}: parentheses and NOT are nested more than {max} deep")]
    TooDeep {
        /// Column.
        col: usize,
        /// The limit.
        max: usize,
    },
    /// A `"` with no closing `"`.
    #[error("column {col}: this quote is never closed")]
    UnterminatedQuote {
        /// Column of the opening quote.
        col: usize,
    },
    /// `""`.
    #[error("column {col}: empty phrase")]
    EmptyPhrase {
        /// Column of the opening quote.
        col: usize,
    },
    /// A `(` with no matching `)`.
    #[error("column {col}: this parenthesis is never closed")]
    UnclosedParen {
        /// Column of the `(`.
        col: usize,
    },
    /// A `)` with no matching `(`.
    #[error("column {col}: ')' without a matching '('")]
    UnexpectedClose {
        /// Column of the `)`.
        col: usize,
    },
    /// `()`.
    #[error("column {col}: empty parentheses")]
    EmptyGroup {
        /// Column of the `(`.
        col: usize,
    },
    /// An operator with nothing to work on (`OR` at the start or end, `NOT` at the end, a
    /// lone `-`).
    #[error("column {col}: {op} needs a search term {side} it")]
    MissingOperand {
        /// Column of the operator.
        col: usize,
        /// The operator as written.
        op: String,
        /// "before" or "after".
        side: &'static str,
    },
    /// `name:` where name is not a field.
    #[error("column {col}: unknown field '{name}:' (fields: tag, feed, since, until, is)")]
    UnknownField {
        /// Column of the field name.
        col: usize,
        /// The name as written.
        name: String,
    },
    /// `tag:` with nothing after it.
    #[error("column {col}: '{field}:' needs a value")]
    MissingValue {
        /// Column where the value should be.
        col: usize,
        /// The field.
        field: &'static str,
    },
    /// A date that is not a calendar day in the form YYYY-MM-DD.
    #[error("column {col}: '{value}' is not a date; {field}: takes YYYY-MM-DD")]
    BadDate {
        /// Column of the value.
        col: usize,
        /// The field (`since` or `until`).
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// `is:` with a state it does not know.
    #[error("column {col}: unknown state 'is:{value}' (is:unread, is:read, is:starred)")]
    BadStatus {
        /// Column of the value.
        col: usize,
        /// The value as written.
        value: String,
    },
    /// `tag:` with a value that is neither a taxonomy id, a family, nor a spelling of an
    /// entry (reported when the query is compiled).
    #[error(
        "column {col}: unknown tag '{value}' (a taxonomy id such as 7pay, or a family: {families})"
    )]
    UnknownTag {
        /// Column of the value.
        col: usize,
        /// The value as written.
        value: String,
        /// The family names, for the message.
        families: &'static str,
    },
    /// A term or phrase made only of punctuation: nothing to look for (reported when the
    /// query is compiled).
    #[error("column {col}: '{text}' has no searchable words")]
    NoWords {
        /// Column of the term.
        col: usize,
        /// The term as written.
        text: String,
    },
}

impl QueryError {
    /// The 1-based character column where the query went wrong.
    pub fn col(&self) -> usize {
        match self {
            QueryError::Empty { col }
            | QueryError::TooLong { col, .. }
            | QueryError::TooDeep { col, .. }
            | QueryError::UnterminatedQuote { col }
            | QueryError::EmptyPhrase { col }
            | QueryError::UnclosedParen { col }
            | QueryError::UnexpectedClose { col }
            | QueryError::EmptyGroup { col }
            | QueryError::MissingOperand { col, .. }
            | QueryError::UnknownField { col, .. }
            | QueryError::MissingValue { col, .. }
            | QueryError::BadDate { col, .. }
            | QueryError::BadStatus { col, .. }
            | QueryError::UnknownTag { col, .. }
            | QueryError::NoWords { col, .. } => *col,
        }
    }
}

/// The family names `tag:` accepts, as listed in error messages.
pub const FAMILY_NAMES: &str = "incident, service, exchange, threat, control, actor";

/// Renders the query and a caret under column `col` (1-based, in characters), two lines
/// with the given indent. The caret is placed by display width, so it lines up under
/// Japanese text; control characters are shown as spaces so nothing hostile is echoed.
pub fn render_caret(query: &str, col: usize, indent: &str) -> String {
    let mut line = String::new();
    let mut pad = 0usize;
    for (i, c) in query.chars().enumerate() {
        let shown = if c.is_control() || is_invisible(c) {
            ' '
        } else {
            c
        };
        if i + 1 < col {
            pad += shown.width().unwrap_or(0);
        }
        line.push(shown);
    }
    format!("{indent}{line}\n{indent}{}^", " ".repeat(pad))
}

/// Characters that are not controls but must not reach a terminal raw (bidi overrides and
/// isolates, line/paragraph separators).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Parses a query. Pure syntax: see the module docs for the grammar.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = input.chars().map(ascii_form).collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong {
            col: MAX_QUERY_CHARS + 1,
            max: MAX_QUERY_CHARS,
        });
    }
    let tokens = lex(&chars)?;
    if tokens.is_empty() {
        return Err(QueryError::Empty { col: 1 });
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        end_col: chars.len() + 1,
    };
    let query = parser.or(0)?;
    match parser.peek() {
        None => Ok(query),
        Some(tok) => match tok.kind {
            Kind::Close => Err(QueryError::UnexpectedClose { col: tok.col }),
            // `or` only stops at `)` or the end; anything else is a bug caught here gently.
            _ => Err(QueryError::UnexpectedClose { col: tok.col }),
        },
    }
}

/// Full-width ASCII forms (what a Japanese IME types: `（`, `＂`, `ｔａｇ：`, `－`) read as
/// ASCII, one character for one, so columns stay the same. Terms are folded (NFKC) anyway.
fn ascii_form(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// One lexical token with the column it starts at.
#[derive(Debug, Clone, PartialEq)]
struct Tok {
    kind: Kind,
    col: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Open,
    Close,
    Or,
    And,
    Not,
    Minus,
    Word(String),
    Phrase(String),
    /// `name:value`; `value_col` is where the value starts.
    Field {
        name: String,
        value: String,
        value_col: usize,
    },
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_invisible(c)
}

/// Ends a bare word.
fn is_word_end(c: char) -> bool {
    is_space(c) || c == '(' || c == ')' || c == '"'
}

fn lex(chars: &[char]) -> Result<Vec<Tok>, QueryError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if is_space(c) {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push(Tok {
                    kind: Kind::Open,
                    col,
                });
                i += 1;
            }
            ')' => {
                out.push(Tok {
                    kind: Kind::Close,
                    col,
                });
                i += 1;
            }
            '"' => {
                let (text, next) = quoted(chars, i)?;
                if text.trim().is_empty() {
                    return Err(QueryError::EmptyPhrase { col });
                }
                out.push(Tok {
                    kind: Kind::Phrase(text),
                    col,
                });
                i = next;
            }
            '-' => {
                // A minus negates what follows it directly; with a space (or nothing, or a
                // closing parenthesis) after it, it has nothing to negate.
                match chars.get(i + 1) {
                    Some(&n) if !is_space(n) && n != ')' && n != '-' => {
                        out.push(Tok {
                            kind: Kind::Minus,
                            col,
                        });
                        i += 1;
                    }
                    _ => {
                        return Err(QueryError::MissingOperand {
                            col,
                            op: "'-'".into(),
                            side: "directly after",
                        });
                    }
                }
            }
            _ => {
                let start = i;
                while i < chars.len() && !is_word_end(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let kind = match word.as_str() {
                    "OR" => Kind::Or,
                    "AND" => Kind::And,
                    "NOT" => Kind::Not,
                    _ => match field_name(&word) {
                        Some(name) => {
                            let value_col = start + name.chars().count() + 2;
                            let mut value: String = word[name.len() + 1..].to_string();
                            // `feed:"日経 xTECH"`: a quoted value right after the colon.
                            if value.is_empty() && chars.get(i) == Some(&'"') {
                                let (text, next) = quoted(chars, i)?;
                                value = text;
                                i = next;
                            }
                            Kind::Field {
                                name: name.to_string(),
                                value,
                                value_col,
                            }
                        }
                        None => Kind::Word(word),
                    },
                };
                out.push(Tok {
                    kind,
                    col: start + 1,
                });
            }
        }
    }
    Ok(out)
}

/// The text between the quote at `open` and the next quote, and the index after it.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), QueryError> {
    let rest = &chars[open + 1..];
    match rest.iter().position(|&c| c == '"') {
        Some(len) => Ok((rest[..len].iter().collect(), open + 1 + len + 1)),
        None => Err(QueryError::UnterminatedQuote { col: open + 1 }),
    }
}

/// `name` of `name:value` when the word has that shape: one or more ASCII letters, then a
/// colon. (`10:30` or `https://…` are not fields by this rule only in part; see `parse`.)
fn field_name(word: &str) -> Option<&str> {
    let colon = word.find(':')?;
    let name = &word[..colon];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic())).then_some(name)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
    end_col: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    /// Whether the next token can start an operand.
    fn operand_follows(&self) -> bool {
        match self.peek() {
            None => false,
            Some(t) => !matches!(t.kind, Kind::Close | Kind::Or | Kind::And),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut items = vec![self.and(depth)?];
        while let Some(tok) = self.peek() {
            if tok.kind != Kind::Or {
                break;
            }
            let col = tok.col;
            self.pos += 1;
            if !self.operand_follows() {
                return Err(QueryError::MissingOperand {
                    col,
                    op: "OR".into(),
                    side: "after",
                });
            }
            items.push(self.and(depth)?);
        }
        Ok(flatten(items, true))
    }

    fn and(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut items = Vec::new();
        loop {
            match self.peek().map(|t| (&t.kind, t.col)) {
                None | Some((Kind::Close, _)) => break,
                Some((Kind::Or, col)) | Some((Kind::And, col)) if items.is_empty() => {
                    let op = if self.peek().map(|t| &t.kind) == Some(&Kind::Or) {
                        "OR"
                    } else {
                        "AND"
                    };
                    return Err(QueryError::MissingOperand {
                        col,
                        op: op.into(),
                        side: "before",
                    });
                }
                Some((Kind::Or, _)) => break,
                Some((Kind::And, col)) => {
                    self.pos += 1;
                    if !self.operand_follows() {
                        return Err(QueryError::MissingOperand {
                            col,
                            op: "AND".into(),
                            side: "after",
                        });
                    }
                }
                Some(_) => items.push(self.unary(depth)?),
            }
        }
        if items.is_empty() {
            // Only reachable as `(` followed by `)`, reported by `primary`, or an empty
            // input, rejected before parsing; keep a sensible error anyway.
            return Err(QueryError::Empty {
                col: self.col_here(),
            });
        }
        Ok(flatten(items, false))
    }

    fn col_here(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    fn unary(&mut self, depth: usize) -> Result<Query, QueryError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(QueryError::Empty { col: self.end_col });
        };
        if depth >= MAX_DEPTH {
            return Err(QueryError::TooDeep {
                col: tok.col,
                max: MAX_DEPTH,
            });
        }
        match tok.kind {
            Kind::Not | Kind::Minus => {
                self.pos += 1;
                if !self.operand_follows() {
                    return Err(QueryError::MissingOperand {
                        col: tok.col,
                        op: if tok.kind == Kind::Not {
                            "NOT".into()
                        } else {
                            "'-'".into()
                        },
                        side: "after",
                    });
                }
                Ok(Query::Not(Box::new(self.unary(depth + 1)?)))
            }
            _ => self.primary(depth),
        }
    }

    fn primary(&mut self, depth: usize) -> Result<Query, QueryError> {
        let Some(tok) = self.next() else {
            return Err(QueryError::Empty { col: self.end_col });
        };
        match tok.kind {
            Kind::Open => {
                if matches!(
                    self.peek(),
                    Some(Tok {
                        kind: Kind::Close,
                        ..
                    })
                ) {
                    return Err(QueryError::EmptyGroup { col: tok.col });
                }
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Tok {
                        kind: Kind::Close, ..
                    }) => Ok(inner),
                    _ => Err(QueryError::UnclosedParen { col: tok.col }),
                }
            }
            Kind::Close => Err(QueryError::UnexpectedClose { col: tok.col }),
            Kind::Word(text) => Ok(Query::Text {
                text,
                phrase: false,
                col: tok.col,
            }),
            Kind::Phrase(text) => Ok(Query::Text {
                text,
                phrase: true,
                col: tok.col,
            }),
            Kind::Field {
                name,
                value,
                value_col,
            } => field(&name, value, tok.col, value_col),
            // Operators are consumed by `or`/`and`/`unary` before reaching here.
            Kind::Or | Kind::And | Kind::Not | Kind::Minus => Err(QueryError::MissingOperand {
                col: tok.col,
                op: "an operator".into(),
                side: "after",
            }),
        }
    }
}

/// Builds the leaf for `name:value`.
fn field(name: &str, value: String, col: usize, value_col: usize) -> Result<Query, QueryError> {
    let field: &'static str = match name.to_ascii_lowercase().as_str() {
        "tag" => "tag",
        "feed" => "feed",
        "since" => "since",
        "until" => "until",
        "is" => "is",
        _ => {
            return Err(QueryError::UnknownField {
                col,
                name: name.to_string(),
            });
        }
    };
    if value.trim().is_empty() {
        return Err(QueryError::MissingValue {
            col: value_col,
            field,
        });
    }
    match field {
        "tag" => {
            let lower = value.to_lowercase();
            Ok(match Family::parse(&lower) {
                Some(family) => Query::Family(family),
                None => Query::Tag {
                    value,
                    col: value_col,
                },
            })
        }
        "feed" => Ok(Query::Feed(FeedId::new(value))),
        "since" | "until" => {
            let date = parse_date(&value).ok_or_else(|| QueryError::BadDate {
                col: value_col,
                field,
                value: value.clone(),
            })?;
            Ok(if field == "since" {
                Query::Since(date)
            } else {
                Query::Until(date)
            })
        }
        _ => match value.to_ascii_lowercase().as_str() {
            "unread" => Ok(Query::Is(Status::Unread)),
            "read" => Ok(Query::Is(Status::Read)),
            "starred" => Ok(Query::Is(Status::Starred)),
            _ => Err(QueryError::BadStatus {
                col: value_col,
                value,
            }),
        },
    }
}

/// `YYYY-MM-DD` exactly (four-digit year, two-digit month and day), a real calendar day.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// One item stays itself; nested nodes of the same operator are merged into their parent.
fn flatten(items: Vec<Query>, or: bool) -> Query {
    if items.len() == 1 {
        return items.into_iter().next().unwrap_or(Query::And(Vec::new()));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match (item, or) {
            (Query::Or(inner), true) | (Query::And(inner), false) => out.extend(inner),
            (other, _) => out.push(other),
        }
    }
    if or { Query::Or(out) } else { Query::And(out) }
}

impl Query {
    /// Whether this query (anywhere in the tree) contains text to look for.
    pub fn has_text(&self) -> bool {
        match self {
            Query::Text { .. } => true,
            Query::Not(q) => q.has_text(),
            Query::And(qs) | Query::Or(qs) => qs.iter().any(Query::has_text),
            _ => false,
        }
    }
}

impl std::fmt::Display for Query {
    /// Writes the query back in the language, fully parenthesised where it matters; parsing
    /// the output gives the same tree (up to columns).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Query::Text { text, phrase, .. } => {
                if *phrase {
                    write!(f, "\"{text}\"")
                } else {
                    f.write_str(text)
                }
            }
            Query::Tag { value, .. } => write_field(f, "tag", value),
            Query::Family(fam) => write!(f, "tag:{}", fam.as_str()),
            Query::Feed(feed) => write_field(f, "feed", feed.as_str()),
            Query::Since(d) => write!(f, "since:{}", d.format("%Y-%m-%d")),
            Query::Until(d) => write!(f, "until:{}", d.format("%Y-%m-%d")),
            Query::Is(s) => write!(f, "is:{}", s.as_str()),
            Query::Not(q) => match **q {
                Query::And(_) | Query::Or(_) => write!(f, "NOT ({q})"),
                _ => write!(f, "NOT {q}"),
            },
            Query::And(qs) | Query::Or(qs) => {
                let sep = if matches!(self, Query::Or(_)) {
                    " OR "
                } else {
                    " "
                };
                for (i, q) in qs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    match q {
                        Query::And(_) | Query::Or(_) => write!(f, "({q})")?,
                        _ => write!(f, "{q}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// `name:value`, quoting the value when it holds characters that end a word.
fn write_field(f: &mut std::fmt::Formatter<'_>, name: &str, value: &str) -> std::fmt::Result {
    if value.is_empty() || value.chars().any(is_word_end) {
        write!(f, "{name}:\"{value}\"")
    } else {
        write!(f, "{name}:{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, col: usize) -> Query {
        Query::Text {
            text: text.into(),
            phrase: false,
            col,
        }
    }
    fn p(text: &str, col: usize) -> Query {
        Query::Text {
            text: text.into(),
            phrase: true,
            col,
        }
    }
    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn implicit_and_and_phrases() {
        assert_eq!(
            parse(r#"京都 "J-Coin Pay""#).unwrap(),
            Query::And(vec![t("京都", 1), p("J-Coin Pay", 4)])
        );
        assert_eq!(parse("  7pay  ").unwrap(), t("7pay", 3));
    }

    #[test]
    fn or_binds_looser_than_and() {
        assert_eq!(
            parse("a b OR c").unwrap(),
            Query::Or(vec![Query::And(vec![t("a", 1), t("b", 3)]), t("c", 8)])
        );
        assert_eq!(
            parse("a AND b").unwrap(),
            Query::And(vec![t("a", 1), t("b", 7)])
        );
    }

    #[test]
    fn not_and_minus() {
        assert_eq!(
            parse("セブンペイ -京都 NOT 大阪").unwrap(),
            Query::And(vec![
                t("セブンペイ", 1),
                Query::Not(Box::new(t("京都", 8))),
                Query::Not(Box::new(t("大阪", 15))),
            ])
        );
        assert_eq!(
            parse("-(a OR b)").unwrap(),
            Query::Not(Box::new(Query::Or(vec![t("a", 3), t("b", 8)])))
        );
        // A hyphen inside a word is part of the word.
        assert_eq!(parse("J-Coin").unwrap(), t("J-Coin", 1));
    }

    #[test]
    fn parentheses_nest_and_flatten() {
        assert_eq!(
            parse("(a b) c").unwrap(),
            Query::And(vec![t("a", 2), t("b", 4), t("c", 7)])
        );
        assert_eq!(
            parse("a (b OR c)").unwrap(),
            Query::And(vec![t("a", 1), Query::Or(vec![t("b", 4), t("c", 9)])])
        );
    }

    #[test]
    fn fields() {
        assert_eq!(
            parse("tag:7pay tag:threat feed:paysec since:2019-08-01 until:2019-09-30 is:unread is:starred")
                .unwrap(),
            Query::And(vec![
                Query::Tag {
                    value: "7pay".into(),
                    col: 5
                },
                Query::Family(Family::Threat),
                Query::Feed(FeedId::new("paysec")),
                Query::Since(d("2019-08-01")),
                Query::Until(d("2019-09-30")),
                Query::Is(Status::Unread),
                Query::Is(Status::Starred),
            ])
        );
        assert_eq!(
            parse(r#"feed:"日経 xTECH""#).unwrap(),
            Query::Feed(FeedId::new("日経 xTECH"))
        );
        // Full-width forms typed through an IME read as ASCII.
        assert_eq!(
            parse("ｔａｇ：ｔｈｒｅａｔ　（ａ）").unwrap(),
            Query::And(vec![Query::Family(Family::Threat), t("a", 13)])
        );
    }

    #[test]
    fn error_columns() {
        let col = |q: &str| parse(q).unwrap_err().col();
        assert_eq!(col(""), 1);
        assert_eq!(col("   "), 1);
        assert_eq!(col(r#"a "bc"#), 3);
        assert_eq!(col(r#"a """#), 3);
        assert_eq!(col("a (b c"), 3);
        assert_eq!(col("a b)"), 4);
        assert_eq!(col("a ()"), 3);
        assert_eq!(col("OR a"), 1);
        assert_eq!(col("a OR"), 3);
        assert_eq!(col("a OR OR b"), 3);
        assert_eq!(col("a NOT"), 3);
        assert_eq!(col("a - b"), 3);
        assert_eq!(col("a AND"), 3);
        assert_eq!(col("京都 foo:bar"), 4);
        assert_eq!(col("京都 tag:"), 8);
        assert_eq!(col("since:2019-13-01"), 7);
        assert_eq!(col("京都 until:2019/08/01"), 10);
        assert_eq!(col("is:new"), 4);
        assert_eq!(col("(a OR (b)"), 1);
    }

    #[test]
    fn error_kinds_and_messages() {
        assert!(matches!(
            parse(r#""abc"#),
            Err(QueryError::UnterminatedQuote { col: 1 })
        ));
        let e = parse("since:2019-8-1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 7: '2019-8-1' is not a date; since: takes YYYY-MM-DD"
        );
        assert!(matches!(
            parse("a OR"),
            Err(QueryError::MissingOperand { side: "after", .. })
        ));
    }

    #[test]
    fn limits_hold_against_hostile_input() {
        let deep = "(".repeat(10_000);
        assert!(matches!(parse(&deep), Err(QueryError::TooLong { .. })));
        let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        assert!(matches!(parse(&deep), Err(QueryError::TooDeep { .. })));
        let nots = format!("{}a", "NOT ".repeat(400));
        assert!(matches!(parse(&nots), Err(QueryError::TooDeep { .. })));
        let ok = format!("{}a{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(parse(&ok).unwrap(), t("a", 31));
    }

    #[test]
    fn controls_are_spaces() {
        assert_eq!(
            parse("a\u{1b}[31mb").unwrap(),
            Query::And(vec![t("a", 1), t("[31mb", 3)])
        );
        assert_eq!(
            parse("a\u{202E}b").unwrap(),
            Query::And(vec![t("a", 1), t("b", 3)])
        );
    }

    #[test]
    fn caret_lines_up_under_wide_characters() {
        let q = "京都 foo:bar";
        let e = parse(q).unwrap_err();
        assert_eq!(render_caret(q, e.col(), "  "), "  京都 foo:bar\n       ^");
        assert_eq!(render_caret("a\u{1b}b", 3, ""), "a b\n  ^");
    }

    #[test]
    fn display_round_trips() {
        for q in [
            r#"京都 "J-Coin Pay" OR (7pay -tag:outage) since:2019-07-01"#,
            "NOT (a OR b) is:unread tag:threat feed:x",
            r#"feed:"a b" c"#,
        ] {
            let parsed = parse(q).unwrap();
            let again = parse(&parsed.to_string()).unwrap();
            assert_eq!(strip_cols(&parsed), strip_cols(&again), "{q}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_strings_with_controls_never_panic(s in proptest::prelude::any::<String>()) {
            match parse(&s) {
                Ok(q) => {
                    // What it prints parses again.
                    proptest::prop_assert!(parse(&q.to_string()).is_ok(), "{:?} -> {}", s, q);
                }
                Err(e) => proptest::prop_assert!(e.col() >= 1 && e.col() <= s.chars().count() + 1),
            }
        }

        #[test]
        fn never_panics_and_errors_point_inside(s in "\\PC{0,80}") {
            if let Err(e) = parse(&s) {
                proptest::prop_assert!(e.col() >= 1 && e.col() <= s.chars().count().max(1) + 1);
            }
        }

        #[test]
        fn query_shaped_input_never_panics(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "(", ")", "\"", "-", "OR", "AND", "NOT", " ", "京都", "a", "tag:", "tag:7pay",
                    "since:", "since:2019-08-01", "is:", "is:unread", "feed:\"", "ｔａｇ：", "（", "\u{1b}",
                ]),
                0..24,
            )
        ) {
            let s: String = parts.concat();
            match parse(&s) {
                Ok(q) => {
                    let again = parse(&q.to_string());
                    proptest::prop_assert!(again.is_ok(), "{} -> {}", s, q);
                    proptest::prop_assert_eq!(strip_cols(&again.unwrap()), strip_cols(&q));
                }
                Err(e) => proptest::prop_assert!(e.col() >= 1 && e.col() <= s.chars().count() + 1),
            }
        }
    }

    pub(crate) fn strip_cols(q: &Query) -> Query {
        match q {
            Query::Text { text, phrase, .. } => Query::Text {
                text: text.clone(),
                phrase: *phrase,
                col: 0,
            },
            Query::Tag { value, .. } => Query::Tag {
                value: value.clone(),
                col: 0,
            },
            Query::Not(inner) => Query::Not(Box::new(strip_cols(inner))),
            Query::And(qs) => Query::And(qs.iter().map(strip_cols).collect()),
            Query::Or(qs) => Query::Or(qs.iter().map(strip_cols).collect()),
            other => other.clone(),
        }
    }
}
