//! The filter language: text -> [`Filter`] (an AST parsed once, evaluated many times).
//!
//! ```text
//! filter   := or
//! or       := and ( OR and )*
//! and      := unary ( AND unary )*
//! unary    := NOT unary | primary
//! primary  := '(' filter ')'
//!           | EXISTS field
//!           | field ( '=' | '!=' | '<' | '<=' | '>' | '>=' ) literal
//!           | field IN '(' literal ( ',' literal )* ')'
//!           | field CONTAINS ( string | integer | float )
//! field    := [A-Za-z_][A-Za-z0-9_.]*      (not a keyword)
//! literal  := string | integer | float | TRUE | FALSE | NULL
//! string   := '"' ( any char but '"' and '\' | '\"' | '\\' )* '"'
//! integer  := '-'? digits                  (within ±2^53)
//! float    := '-'? digits '.' digits ( [eE] [+-]? digits )?  |  '-'? digits [eE] [+-]? digits
//! ```
//!
//! Keywords (`AND OR NOT IN CONTAINS EXISTS TRUE FALSE NULL`) are case-insensitive and cannot
//! be field names. Precedence: NOT binds tighter than AND, which binds tighter than OR.
//! `<`, `<=`, `>`, `>=` take a number or a string, never a boolean or null; CONTAINS takes a
//! string (a list of strings holds it) or a number (a list of numbers holds it).
//! The parser never panics, and its nesting (parentheses and NOT) is capped at
//! [`MAX_DEPTH`] so that neither parsing nor evaluation can exhaust the stack.

use std::fmt;

use super::value::MAX_EXACT_INT;

/// Deepest nesting of parentheses and NOT accepted.
pub const MAX_DEPTH: usize = 64;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether this is one of `<`, `<=`, `>`, `>=`.
    pub fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer within ±2^53.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`: equals a field stored as JSON null.
    Null,
}

impl Literal {
    /// The literal on the number line shared by integers and floats (`-0.0` reads as `0.0`).
    pub fn as_number(&self) -> Option<f64> {
        match *self {
            Literal::Int(i) => Some(i as f64),
            Literal::Float(f) => Some(f + 0.0),
            _ => None,
        }
    }
}

/// A parsed filter. See the module doc for the grammar and `store` for what each node matches.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `field op literal`.
    Compare {
        /// Field name.
        field: String,
        /// Operator.
        op: CompareOp,
        /// Right-hand side.
        value: Literal,
    },
    /// `field IN (v1, v2, ...)`: the field equals one of the values (at least one).
    In {
        /// Field name.
        field: String,
        /// Candidate values.
        values: Vec<Literal>,
    },
    /// `field CONTAINS "x"` / `field CONTAINS 3`: the field is a list of strings holding the
    /// string, or a list of numbers holding the number.
    Contains {
        /// Field name.
        field: String,
        /// The item looked for: a string or a number.
        value: Literal,
    },
    /// `EXISTS field`: the record has the field, whatever its value.
    Exists {
        /// Field name.
        field: String,
    },
    /// `NOT f`.
    Not(Box<Filter>),
    /// `f1 AND f2 AND ...` (two or more).
    And(Vec<Filter>),
    /// `f1 OR f2 OR ...` (two or more).
    Or(Vec<Filter>),
}

/// Why filter text did not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the filter text of the token or character at fault
    /// (the text's length when the filter ended too early).
    pub offset: usize,
    /// What was expected and what was found, e.g. "expected a value after '>=', found ')'".
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for crate::Error {
    fn from(e: ParseError) -> Self {
        crate::Error::FilterSyntax { offset: e.offset, message: e.message }
    }
}

impl Filter {
    /// Parses filter text. Never panics; an error names what was expected and the byte offset.
    pub fn parse(text: &str) -> Result<Filter, ParseError> {
        let tokens = lex(text)?;
        let mut p = Parser { tokens, pos: 0, depth: 0, text_len: text.len() };
        let f = p.or()?;
        let t = p.peek();
        if t.kind != Tok::End {
            return Err(p.error_at(t, "expected AND, OR or the end of the filter"));
        }
        Ok(f)
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(CompareOp),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Tok,
    offset: usize,
    /// The token's text, for messages.
    text: String,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_rest(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// The character starting at byte `at` (which is a char boundary), quoted for a message.
fn char_at(text: &str, at: usize) -> String {
    text.get(at..)
        .and_then(|s| s.chars().next())
        .map_or_else(|| "the end of the filter".to_string(), |c| format!("'{c}'"))
}

fn err(offset: usize, message: impl Into<String>) -> ParseError {
    ParseError { offset, message: message.into() }
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = match c {
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'=' => {
                i += 1;
                Tok::Op(CompareOp::Eq)
            }
            b'!' => {
                if b.get(i + 1) != Some(&b'=') {
                    return Err(err(i + 1, format!("expected '=' after '!', found {}", char_at(text, i + 1))));
                }
                i += 2;
                Tok::Op(CompareOp::Ne)
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                i += 1 + eq as usize;
                Tok::Op(match (c, eq) {
                    (b'<', false) => CompareOp::Lt,
                    (b'<', true) => CompareOp::Le,
                    (_, false) => CompareOp::Gt,
                    (_, true) => CompareOp::Ge,
                })
            }
            b'"' => {
                let (s, end) = lex_string(text, i)?;
                i = end;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let (t, end) = lex_number(text, i)?;
                i = end;
                t
            }
            c if is_ident_start(c) => {
                while i < b.len() && is_ident_rest(b[i]) {
                    i += 1;
                }
                Tok::Ident(text[start..i].to_string())
            }
            b'\'' => return Err(err(i, "unexpected character '''; strings take double quotes")),
            _ => {
                return Err(err(
                    i,
                    format!(
                        "unexpected character {}; expected a field name, a value, an operator or a parenthesis",
                        char_at(text, i)
                    ),
                ))
            }
        };
        out.push(Token { kind, offset: start, text: text[start..i].to_string() });
    }
    out.push(Token { kind: Tok::End, offset: text.len(), text: String::new() });
    Ok(out)
}

/// Reads a string whose opening quote is at `start`; returns it and the offset past the
/// closing quote.
fn lex_string(text: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut s = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return Ok((s, start + 1 + j + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => s.push('"'),
                Some((_, '\\')) => s.push('\\'),
                Some((k, other)) => {
                    return Err(err(
                        start + 1 + k,
                        format!("unknown escape '\\{other}' in a string; only \\\" and \\\\ are allowed"),
                    ))
                }
                None => break,
            },
            c => s.push(c),
        }
    }
    Err(err(start, "this string has no closing '\"'"))
}

/// Reads a number starting at `start` (a digit or '-'); returns it and the offset past it.
fn lex_number(text: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = text.as_bytes();
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits(i);
    if int_end == i {
        return Err(err(i, format!("expected a digit after '-', found {}", char_at(text, i))));
    }
    i = int_end;
    let mut is_float = false;
    if i < b.len() && b[i] == b'.' {
        let frac_end = digits(i + 1);
        if frac_end == i + 1 {
            return Err(err(i + 1, format!("expected a digit after '.', found {}", char_at(text, i + 1))));
        }
        i = frac_end;
        is_float = true;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end == j {
            return Err(err(j, format!("expected a digit in the exponent, found {}", char_at(text, j))));
        }
        i = exp_end;
        is_float = true;
    }
    if i < b.len() && (is_ident_rest(b[i])) {
        return Err(err(i, format!("unexpected {} right after the number {}", char_at(text, i), &text[start..i])));
    }
    let lexeme = &text[start..i];
    if is_float {
        match lexeme.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Tok::Float(f), i)),
            _ => Err(err(start, format!("the number {lexeme} is out of the range of a 64-bit float"))),
        }
    } else {
        match lexeme.parse::<i64>() {
            Ok(n) if (-MAX_EXACT_INT..=MAX_EXACT_INT).contains(&n) => Ok((Tok::Int(n), i)),
            _ => Err(err(
                start,
                format!("the integer {lexeme} is outside ±2^53 ({MAX_EXACT_INT}), the range compared exactly"),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
    In,
    Contains,
    Exists,
    True,
    False,
    Null,
}

fn keyword(word: &str) -> Option<Keyword> {
    const ALL: [(&str, Keyword); 9] = [
        ("AND", Keyword::And),
        ("OR", Keyword::Or),
        ("NOT", Keyword::Not),
        ("IN", Keyword::In),
        ("CONTAINS", Keyword::Contains),
        ("EXISTS", Keyword::Exists),
        ("TRUE", Keyword::True),
        ("FALSE", Keyword::False),
        ("NULL", Keyword::Null),
    ];
    ALL.iter().find(|(k, _)| k.eq_ignore_ascii_case(word)).map(|&(_, kw)| kw)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    text_len: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends the list with End, and `next` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn peek_keyword(&self) -> Option<Keyword> {
        match &self.peek().kind {
            Tok::Ident(w) => keyword(w),
            _ => None,
        }
    }

    fn describe(t: &Token) -> String {
        match t.kind {
            Tok::End => "the end of the filter".to_string(),
            _ => format!("'{}'", t.text),
        }
    }

    fn error_at(&self, t: &Token, expected: &str) -> ParseError {
        err(t.offset.min(self.text_len), format!("{expected}, found {}", Self::describe(t)))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(self.peek().offset, format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut parts = vec![self.and()?];
        while self.peek_keyword() == Some(Keyword::Or) {
            self.next();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap_or(Filter::And(Vec::new())) } else { Filter::Or(parts) })
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut parts = vec![self.unary()?];
        while self.peek_keyword() == Some(Keyword::And) {
            self.next();
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap_or(Filter::And(Vec::new())) } else { Filter::And(parts) })
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.peek_keyword() == Some(Keyword::Not) {
            self.next();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn field_name(&mut self, after: &str) -> Result<String, ParseError> {
        let t = self.next();
        match &t.kind {
            Tok::Ident(w) if keyword(w).is_none() => Ok(w.clone()),
            Tok::Ident(_) => {
                Err(self.error_at(&t, &format!("expected a field name after {after} (keywords cannot name fields)")))
            }
            _ => Err(self.error_at(&t, &format!("expected a field name after {after}"))),
        }
    }

    fn primary(&mut self) -> Result<Filter, ParseError> {
        let t = self.next();
        match &t.kind {
            Tok::LParen => {
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.next();
                if close.kind != Tok::RParen {
                    return Err(self.error_at(&close, "expected ')', AND or OR"));
                }
                Ok(inner)
            }
            Tok::Ident(w) => match keyword(w) {
                Some(Keyword::Exists) => Ok(Filter::Exists { field: self.field_name("EXISTS")? }),
                Some(_) => Err(self.error_at(&t, "expected a field name, NOT, EXISTS or '('")),
                None => self.after_field(w.clone()),
            },
            _ => Err(self.error_at(&t, "expected a field name, NOT, EXISTS or '('")),
        }
    }

    /// What follows a field name: an operator, IN or CONTAINS.
    fn after_field(&mut self, field: String) -> Result<Filter, ParseError> {
        let t = self.next();
        match &t.kind {
            Tok::Op(op) => {
                let op = *op;
                let value = self.literal(&format!("'{}'", op.as_str()))?;
                if op.is_ordering() && matches!(value.0, Literal::Bool(_) | Literal::Null) {
                    let what = if value.0 == Literal::Null { "null" } else { "booleans" };
                    return Err(err(
                        value.1,
                        format!("'{}' compares numbers or strings, not {what}; use '=' or '!='", op.as_str()),
                    ));
                }
                Ok(Filter::Compare { field, op, value: value.0 })
            }
            Tok::Ident(w) if keyword(w) == Some(Keyword::In) => {
                let open = self.next();
                if open.kind != Tok::LParen {
                    return Err(self.error_at(&open, "expected '(' after IN"));
                }
                let mut values = vec![self.literal("'('")?.0];
                loop {
                    let t = self.next();
                    match t.kind {
                        Tok::Comma => values.push(self.literal("','")?.0),
                        Tok::RParen => break,
                        _ => return Err(self.error_at(&t, "expected ',' or ')' in the IN list")),
                    }
                }
                Ok(Filter::In { field, values })
            }
            Tok::Ident(w) if keyword(w) == Some(Keyword::Contains) => {
                let (value, at) = self.literal("CONTAINS")?;
                match value {
                    Literal::Str(_) | Literal::Int(_) | Literal::Float(_) => Ok(Filter::Contains { field, value }),
                    _ => Err(err(at, "CONTAINS takes a string or a number (lists hold strings or numbers)")),
                }
            }
            _ => Err(self.error_at(
                &t,
                &format!("expected an operator (=, !=, <, <=, >, >=), IN or CONTAINS after the field name '{field}'"),
            )),
        }
    }

    /// A literal, and its offset; `after` names what came before it, for the message.
    fn literal(&mut self, after: &str) -> Result<(Literal, usize), ParseError> {
        let t = self.next();
        let lit = match &t.kind {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Int(i) => Literal::Int(*i),
            Tok::Float(f) => Literal::Float(*f),
            Tok::Ident(w) if keyword(w) == Some(Keyword::True) => Literal::Bool(true),
            Tok::Ident(w) if keyword(w) == Some(Keyword::False) => Literal::Bool(false),
            Tok::Ident(w) if keyword(w) == Some(Keyword::Null) => Literal::Null,
            Tok::Ident(_) => {
                return Err(self.error_at(
                    &t,
                    &format!("expected a value after {after} (a \"string\", a number, true, false or null; field-to-field comparisons are not supported)"),
                ))
            }
            _ => return Err(self.error_at(&t, &format!("expected a value after {after}"))),
        };
        Ok((lit, t.offset))
    }
}

// ---------------------------------------------------------------------------------------------
// Display: canonical text that parses back to the same filter.

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_string(f, s),
            Literal::Int(i) => write!(f, "{i}"),
            // Debug keeps a '.' or an exponent, so the text reads back as a float.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Children of AND / OR / NOT that bind looser than their parent get parentheses.
        fn child(f: &mut fmt::Formatter<'_>, c: &Filter, paren: bool) -> fmt::Result {
            if paren {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        }
        match self {
            Filter::Compare { field, op, value } => write!(f, "{field} {} {value}", op.as_str()),
            Filter::In { field, values } => {
                write!(f, "{field} IN (")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Filter::Contains { field, value } => write!(f, "{field} CONTAINS {value}"),
            Filter::Exists { field } => write!(f, "EXISTS {field}"),
            Filter::Not(inner) => {
                f.write_str("NOT ")?;
                child(f, inner, matches!(**inner, Filter::And(_) | Filter::Or(_)))
            }
            Filter::And(parts) | Filter::Or(parts) => {
                let is_and = matches!(self, Filter::And(_));
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if is_and { " AND " } else { " OR " })?;
                    }
                    // A nested list of the same kind also gets parentheses, so that the text
                    // reads back to the same tree shape.
                    let paren = match p {
                        Filter::Or(_) => true,
                        Filter::And(_) => is_and,
                        _ => false,
                    };
                    child(f, p, paren)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Filter {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn e(text: &str) -> ParseError {
        match Filter::parse(text) {
            Err(e) => e,
            Ok(f) => panic!("{text:?} parsed as {f:?}"),
        }
    }

    fn cmp(field: &str, op: CompareOp, value: Literal) -> Filter {
        Filter::Compare { field: field.into(), op, value }
    }

    fn s(x: &str) -> Literal {
        Literal::Str(x.into())
    }

    #[test]
    fn each_comparison() {
        use CompareOp::*;
        assert_eq!(p("a = 1"), cmp("a", Eq, Literal::Int(1)));
        assert_eq!(p("a!=1"), cmp("a", Ne, Literal::Int(1)));
        assert_eq!(p("a < -2"), cmp("a", Lt, Literal::Int(-2)));
        assert_eq!(p("a <= 2.5"), cmp("a", Le, Literal::Float(2.5)));
        assert_eq!(p("a > 1e3"), cmp("a", Gt, Literal::Float(1000.0)));
        assert_eq!(p("a >= -1.5E-2"), cmp("a", Ge, Literal::Float(-0.015)));
        assert_eq!(p("a.b_c9 = \"x\""), cmp("a.b_c9", Eq, s("x")));
        assert_eq!(p("_x = TRUE"), cmp("_x", Eq, Literal::Bool(true)));
        assert_eq!(p("x != false"), cmp("x", Ne, Literal::Bool(false)));
        assert_eq!(p("x < \"m\""), cmp("x", Lt, s("m")));
        assert_eq!(p("n = 9007199254740992"), cmp("n", Eq, Literal::Int(MAX_EXACT_INT)));
        assert_eq!(p("n = -9007199254740992"), cmp("n", Eq, Literal::Int(-MAX_EXACT_INT)));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(p(r#"a = "say \"hi\" \\ there""#), cmp("a", CompareOp::Eq, s(r#"say "hi" \ there"#)));
        assert_eq!(p(r#"a = """#), cmp("a", CompareOp::Eq, s("")));
        assert_eq!(p("a = \"日本 é\""), cmp("a", CompareOp::Eq, s("日本 é")));
        assert_eq!(p("a = \"AND OR ( ) ,\""), cmp("a", CompareOp::Eq, s("AND OR ( ) ,")));
    }

    #[test]
    fn in_contains_exists() {
        assert_eq!(
            p(r#"genre IN ("a", "b", 3, 2.5, true)"#),
            Filter::In {
                field: "genre".into(),
                values: vec![s("a"), s("b"), Literal::Int(3), Literal::Float(2.5), Literal::Bool(true)]
            }
        );
        assert_eq!(p("g in (1)"), Filter::In { field: "g".into(), values: vec![Literal::Int(1)] });
        assert_eq!(p(r#"tags CONTAINS "x""#), Filter::Contains { field: "tags".into(), value: s("x") });
        assert_eq!(p("v contains 3"), Filter::Contains { field: "v".into(), value: Literal::Int(3) });
        assert_eq!(p("v = NULL"), cmp("v", CompareOp::Eq, Literal::Null));
        assert_eq!(p("v IN (null, 1)"), Filter::In { field: "v".into(), values: vec![Literal::Null, Literal::Int(1)] });
        assert_eq!(p(r#"tags contains "x""#), p(r#"tags CoNtAiNs "x""#));
        assert_eq!(p("EXISTS price"), Filter::Exists { field: "price".into() });
        assert_eq!(p("exists price"), Filter::Exists { field: "price".into() });
    }

    #[test]
    fn precedence_not_and_or() {
        let a = || cmp("a", CompareOp::Eq, Literal::Int(1));
        let b = || cmp("b", CompareOp::Eq, Literal::Int(2));
        let c = || cmp("c", CompareOp::Eq, Literal::Int(3));
        // OR is loosest.
        assert_eq!(p("a = 1 OR b = 2 AND c = 3"), Filter::Or(vec![a(), Filter::And(vec![b(), c()])]));
        assert_eq!(p("a = 1 AND b = 2 OR c = 3"), Filter::Or(vec![Filter::And(vec![a(), b()]), c()]));
        // NOT is tightest.
        assert_eq!(p("NOT a = 1 AND b = 2"), Filter::And(vec![Filter::Not(Box::new(a())), b()]));
        assert_eq!(p("not a = 1 or b = 2"), Filter::Or(vec![Filter::Not(Box::new(a())), b()]));
        assert_eq!(p("NOT NOT a = 1"), Filter::Not(Box::new(Filter::Not(Box::new(a())))));
        // Parentheses override.
        assert_eq!(p("(a = 1 OR b = 2) AND c = 3"), Filter::And(vec![Filter::Or(vec![a(), b()]), c()]));
        assert_eq!(p("NOT (a = 1 AND b = 2)"), Filter::Not(Box::new(Filter::And(vec![a(), b()]))));
        // Chains flatten.
        assert_eq!(p("a = 1 AND b = 2 AND c = 3"), Filter::And(vec![a(), b(), c()]));
        assert_eq!(p("a = 1 or b = 2 Or c = 3"), Filter::Or(vec![a(), b(), c()]));
        assert_eq!(p("((a = 1))"), a());
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&str, usize, &str)] = &[
            ("price >= ", 9, "expected a value after '>=', found the end of the filter"),
            ("price >= )", 9, "expected a value after '>=', found ')'"),
            ("price >= other", 9, "expected a value after '>='"),
            ("", 0, "expected a field name, NOT, EXISTS or '(', found the end of the filter"),
            ("a = 1 AND", 9, "expected a field name, NOT, EXISTS or '('"),
            ("a = 1 b = 2", 6, "expected AND, OR or the end of the filter, found 'b'"),
            ("(a = 1", 6, "expected ')', AND or OR, found the end of the filter"),
            ("a = 1)", 5, "expected AND, OR or the end of the filter, found ')'"),
            ("a", 1, "expected an operator (=, !=, <, <=, >, >=), IN or CONTAINS after the field name 'a'"),
            ("a == 1", 3, "expected a value after '='"),
            ("a ! 1", 3, "expected '=' after '!'"),
            ("a = \"abc", 4, "this string has no closing '\"'"),
            ("a = \"ab\\", 4, "this string has no closing '\"'"),
            ("a = \"a\\nb\"", 7, "unknown escape '\\n'"),
            ("a = -", 5, "expected a digit after '-'"),
            ("a = 1.", 6, "expected a digit after '.'"),
            ("a = 1e", 6, "expected a digit in the exponent"),
            ("a = 12ab", 6, "unexpected 'a' right after the number 12"),
            ("a = 9007199254740993", 4, "outside ±2^53"),
            ("a = 1e999", 4, "out of the range of a 64-bit float"),
            ("a < true", 4, "'<' compares numbers or strings, not booleans"),
            ("a IN 1", 5, "expected '(' after IN"),
            ("a IN ()", 6, "expected a value after '('"),
            ("a IN (1,)", 8, "expected a value after ','"),
            ("a IN (1 2)", 8, "expected ',' or ')' in the IN list"),
            ("t CONTAINS true", 11, "CONTAINS takes a string or a number"),
            ("t CONTAINS null", 11, "CONTAINS takes a string or a number"),
            ("a >= null", 5, "'>=' compares numbers or strings, not null"),
            ("EXISTS", 6, "expected a field name after EXISTS"),
            ("EXISTS and", 7, "keywords cannot name fields"),
            ("AND = 1", 0, "expected a field name, NOT, EXISTS or '('"),
            ("a = 1 # x", 6, "unexpected character '#'"),
            ("a = 'x'", 4, "strings take double quotes"),
            ("é = 1", 0, "unexpected character 'é'"),
            ("NOT", 3, "expected a field name, NOT, EXISTS or '('"),
        ];
        for &(text, offset, msg) in cases {
            let got = e(text);
            assert!(got.message.contains(msg), "{text:?}: got {got:?}, want message with {msg:?}");
            assert_eq!(got.offset, offset, "{text:?}: {got}");
        }
        assert_eq!(e("price >= )").to_string(), "expected a value after '>=', found ')' at byte 9");
        let err: crate::Error = e("x").into();
        assert!(matches!(err, crate::Error::FilterSyntax { offset: 1, ref message } if message.starts_with("expected an operator")));
        assert!(err.to_string().starts_with("filter syntax error at byte 1: expected an operator"));
    }

    #[test]
    fn nesting_is_capped_not_a_stack_overflow() {
        let ok = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(Filter::parse(&ok).is_ok());
        let deep = format!("{}a = 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(e(&deep).message.contains("nests deeper than 64 levels"));
        assert!(Filter::parse(&format!("{}a = 1", "NOT ".repeat(MAX_DEPTH))).is_ok());
        assert!(e(&format!("{}a = 1", "NOT ".repeat(MAX_DEPTH + 1))).message.contains("nests deeper"));
        assert!(e(&"(".repeat(1_000_000)).message.contains("nests deeper"));
        // Long flat chains are not nesting.
        let chain = vec!["a = 1"; 10_000].join(" AND ");
        assert!(matches!(p(&chain), Filter::And(v) if v.len() == 10_000));
    }

    #[test]
    fn display_reads_back() {
        for text in [
            r#"a = 1 OR b != "x\"y\\" AND NOT (c < 2.5 OR EXISTS d)"#,
            r#"(a = 1 OR b = 2) AND (c = 3 OR d = 4) AND t CONTAINS "q""#,
            "NOT NOT x >= -0.0 AND y IN (1, 2.0, \"z\", false)",
            "a = 1e300 OR a = 1e-300 OR a = 3.0",
        ] {
            let f = p(text);
            assert_eq!(p(&f.to_string()), f, "{text} -> {f}");
        }
        // Same-kind nesting keeps its shape.
        let nested = Filter::And(vec![
            Filter::And(vec![Filter::Exists { field: "a".into() }, Filter::Exists { field: "b".into() }]),
            Filter::Exists { field: "c".into() },
        ]);
        assert_eq!(p(&nested.to_string()), nested);
    }

    /// Xorshift, so the test is deterministic without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_never_panics(text: &str) {
        match Filter::parse(text) {
            Ok(f) => {
                let again = Filter::parse(&f.to_string());
                assert_eq!(again.as_ref(), Ok(&f), "{text:?} -> {f}");
            }
            Err(e) => {
                assert!(e.offset <= text.len(), "{text:?}: offset {} past the end", e.offset);
                assert!(text.is_char_boundary(e.offset), "{text:?}: offset {} inside a character", e.offset);
                assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn random_and_mutated_text_never_panics() {
        const PIECES: &[&str] = &[
            "a",
            "tags",
            "x.y",
            "_z",
            " ",
            "  ",
            "=",
            "!=",
            "!",
            "<",
            "<=",
            ">",
            ">=",
            "(",
            ")",
            ",",
            "\"",
            "\\",
            "\"s\"",
            "\"q\\\"\"",
            "1",
            "-",
            "-7",
            "2.5",
            "1e",
            "1e5",
            "9007199254740993",
            ".",
            "e",
            "AND",
            "or",
            "Not",
            "IN",
            "contains",
            "EXISTS",
            "true",
            "FALSE",
            "é",
            "日",
            "\u{0}",
            "\t",
            "#",
            "'",
            "99999999999999999999",
        ];
        const SEEDS: &[&str] = &[
            r#"genre = "jazz" AND (year >= 1990 OR NOT tags CONTAINS "live")"#,
            r#"EXISTS price AND price IN (1, 2.5, "x") OR flag != false"#,
            r#"NOT (a < -1e-3 AND b <= "m\"n\\")"#,
        ];
        let mut rng = Rng(0x5EED_F11E);
        for _ in 0..20_000 {
            let n = rng.below(12);
            let text: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            check_never_panics(&text);
        }
        for _ in 0..20_000 {
            let mut bytes = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 if at < bytes.len() => bytes[at] = rng.next() as u8,
                    _ => {
                        let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                        bytes.splice(at..at, piece.iter().copied());
                    }
                }
            }
            // Invalid UTF-8 cannot reach the parser (it takes &str); keep what is valid.
            check_never_panics(&String::from_utf8_lossy(&bytes));
        }
    }
}
