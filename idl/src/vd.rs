//! `api.vd` validation rules: Hertz's go-tagexpr expressions, parsed when
//! the IDL loads and evaluated on a request's JSON value before the call.
//!
//! The syntax is go-tagexpr's: `$` is the field's value, `(Name)$` a
//! sibling field's (`(A.B)$` through nested structs), `$['k']` and `$[0]`
//! index maps and lists; numbers are doubles, strings are single-quoted,
//! `nil` is an unset value; `+ - * / %`, `== != < <= > >=`, `&& || !`
//! and parentheses, with go-tagexpr's precedence. The functions are `len`
//! (bytes of a string, elements of a list or map), `mblen` (characters),
//! `regexp('re')` / `regexp('re', v)`, `in(v, a, b, …)` and `email(v)`.
//! A rule may carry its own message: `{@:expr}{msg:'text'}` or
//! `expr; msg:'text'`, where the message may be `sprintf('…%v', $)`.
//! Anything else (an unknown function such as `phone`, a bad regex, a
//! syntax error) is an error when the IDL loads, never ignored.
//!
//! ```
//! use serde_json::json;
//! let rule = idl::vd::Rule::parse("len($)<=8 && regexp('^[a-z]+$')").unwrap();
//! let none = |_: &str| None;
//! assert!(rule.check(&json!("abc"), &none).is_ok());
//! assert!(rule.check(&json!("ABC"), &none).is_err());
//! ```

use regex::Regex;
use serde_json::Value;

/// One field's rule: the expression, and the message a failure gives.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written in the IDL.
    pub source: String,
    expr: Expr,
    msg: Option<Expr>,
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    /// `$` (empty path) or `(A.B)$`, then indexes.
    Field(Vec<String>, Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Len(Box<Expr>, bool),
    Regexp(Box<Regex>, Box<Expr>),
    In(Vec<Expr>),
    Email(Box<Expr>),
    Sprintf(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Rule {
    /// Parses an `api.vd` value, or says why kitegate cannot check it.
    pub fn parse(source: &str) -> Result<Rule, String> {
        let s = source.trim();
        let (expr, msg) = if let Some(rest) = s.strip_prefix("{@:") {
            // `{@:expr}{msg:…}`: the braces of the first part are balanced.
            let end = closing_brace(rest).ok_or("an unclosed `{@:` block")?;
            let msg = rest[end + 1..].trim();
            let msg = match msg.strip_prefix("{msg:") {
                Some(m) => Some(m.strip_suffix('}').ok_or("an unclosed `{msg:` block")?),
                None if msg.is_empty() => None,
                None => return Err(format!("unexpected `{msg}` after the rule")),
            };
            (&rest[..end], msg)
        } else {
            let s = s.strip_prefix("@:").unwrap_or(s);
            match split_msg(s) {
                Some((e, m)) => (e, Some(m)),
                None => (s, None),
            }
        };
        let expr = Parser::new(expr).whole()?;
        let msg = msg.map(|m| Parser::new(m).whole()).transpose()?;
        Ok(Rule {
            source: source.to_string(),
            expr,
            msg,
        })
    }

    /// Checks `value` (the field's); `sibling` gives another field of the
    /// same struct by its dotted name (`None`: no such field). The error
    /// is the rule's message, else the failed expression.
    pub fn check(
        &self,
        value: &Value,
        sibling: &dyn Fn(&str) -> Option<Value>,
    ) -> Result<(), String> {
        let cx = Cx { value, sibling };
        if cx.eval(&self.expr) == Value::Bool(true) {
            return Ok(());
        }
        Err(match &self.msg {
            Some(m) => match cx.eval(m) {
                Value::String(s) => s,
                other => text(&other),
            },
            None => format!("fails api.vd \"{}\"", self.source),
        })
    }
}

/// The Go field name Hertz's generator makes of an IDL field name
/// (`user_id` -> `UserId`): what `(Name)$` calls a sibling in IDLs
/// written for generated Go code.
pub fn go_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The index of the `}` closing a block whose `{` came just before `s`.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted && depth == 0 => return Some(i),
            '}' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `expr; msg:…` split at the `;` outside quotes.
fn split_msg(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ';' if !quoted => {
                let rest = s[i + 1..].trim();
                return Some((&s[..i], rest.strip_prefix("msg:").unwrap_or(rest).trim()));
            }
            _ => {}
        }
    }
    None
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

type P<T> = Result<T, String>;

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser { s, at: 0 }
    }

    fn whole(mut self) -> P<Expr> {
        let e = self.or()?;
        self.ws();
        if self.at < self.s.len() {
            return Err(format!("unexpected `{}`", &self.s[self.at..]));
        }
        Ok(e)
    }

    fn ws(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n', '\r']) {
            self.at += 1;
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.at += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> P<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected `{tok}` at `{}`", self.rest()))
        }
    }

    fn binary(&mut self, ops: &[(&str, Op)], next: fn(&mut Self) -> P<Expr>) -> P<Expr> {
        let mut left = next(self)?;
        'outer: loop {
            for (tok, op) in ops {
                self.ws();
                // `<` is not `<=`, `!` in `!=` is not a negation.
                let longer = ops
                    .iter()
                    .any(|(t, _)| t.len() > tok.len() && self.rest().starts_with(t));
                if !longer && self.eat(tok) {
                    let right = next(self)?;
                    left = Expr::Bin(*op, Box::new(left), Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn or(&mut self) -> P<Expr> {
        self.binary(&[("||", Op::Or)], Self::and)
    }
    fn and(&mut self) -> P<Expr> {
        self.binary(&[("&&", Op::And)], Self::eq)
    }
    fn eq(&mut self) -> P<Expr> {
        self.binary(&[("==", Op::Eq), ("!=", Op::Ne)], Self::cmp)
    }
    fn cmp(&mut self) -> P<Expr> {
        self.binary(
            &[("<=", Op::Le), ("<", Op::Lt), (">=", Op::Ge), (">", Op::Gt)],
            Self::add,
        )
    }
    fn add(&mut self) -> P<Expr> {
        self.binary(&[("+", Op::Add), ("-", Op::Sub)], Self::mul)
    }
    fn mul(&mut self) -> P<Expr> {
        self.binary(
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> P<Expr> {
        self.ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> P<Expr> {
        self.ws();
        let rest = self.rest();
        if rest.starts_with('$') {
            self.at += 1;
            return self.indexes(Vec::new());
        }
        if rest.starts_with('(') {
            // `(A.B)$` names a field; any other parenthesis groups.
            if let Some(close) = rest.find(')') {
                let name = &rest[1..close];
                let is_path = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
                if is_path && rest[close + 1..].starts_with('$') {
                    self.at += close + 2;
                    return self.indexes(name.split('.').map(str::to_string).collect());
                }
            }
            self.at += 1;
            let e = self.or()?;
            self.expect(")")?;
            return Ok(e);
        }
        if rest.starts_with('\'') {
            return Ok(Expr::Lit(Value::String(self.string()?)));
        }
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E'))
                .unwrap_or(rest.len());
            let n: f64 = rest[..end]
                .parse()
                .map_err(|_| format!("bad number `{}`", &rest[..end]))?;
            self.at += end;
            return Ok(Expr::Lit(num(n)));
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        self.at += end;
        match word {
            "true" => return Ok(Expr::Lit(Value::Bool(true))),
            "false" => return Ok(Expr::Lit(Value::Bool(false))),
            "nil" => return Ok(Expr::Lit(Value::Null)),
            "" => return Err(format!("expected a value at `{rest}`")),
            _ => {}
        }
        self.expect("(")?;
        let call = match word {
            "len" | "mblen" => {
                let arg = self.opt_arg()?;
                Expr::Len(Box::new(arg), word == "mblen")
            }
            "regexp" => {
                self.ws();
                let pattern = self.string()?;
                let re = Regex::new(&pattern).map_err(|e| format!("regexp('{pattern}'): {e}"))?;
                let arg = if self.eat(",") {
                    self.or()?
                } else {
                    Expr::Field(Vec::new(), Vec::new())
                };
                Expr::Regexp(Box::new(re), Box::new(arg))
            }
            "in" => Expr::In(self.args()?),
            "email" => Expr::Email(Box::new(self.opt_arg()?)),
            "sprintf" => {
                self.ws();
                let format = self.string()?;
                let mut args = Vec::new();
                while self.eat(",") {
                    args.push(self.or()?);
                }
                Expr::Sprintf(format, args)
            }
            other => {
                return Err(format!(
                    "the function `{other}` is not one kitegate checks (len, mblen, regexp, in, email, sprintf)"
                ));
            }
        };
        if !matches!(call, Expr::In(_)) {
            self.expect(")")?;
        }
        Ok(call)
    }

    /// One argument, or none for the current field (`len()`).
    fn opt_arg(&mut self) -> P<Expr> {
        self.ws();
        if self.rest().starts_with(')') {
            return Ok(Expr::Field(Vec::new(), Vec::new()));
        }
        self.or()
    }

    /// Comma-separated arguments and the closing parenthesis.
    fn args(&mut self) -> P<Vec<Expr>> {
        let mut out = Vec::new();
        if self.eat(")") {
            return Ok(out);
        }
        loop {
            out.push(self.or()?);
            if self.eat(")") {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }

    fn indexes(&mut self, path: Vec<String>) -> P<Expr> {
        let mut idx = Vec::new();
        while self.rest().starts_with('[') {
            self.at += 1;
            idx.push(self.or()?);
            self.expect("]")?;
        }
        Ok(Expr::Field(path, idx))
    }

    fn string(&mut self) -> P<String> {
        let rest = self.rest();
        let Some(body) = rest.strip_prefix('\'') else {
            return Err(format!("expected a quoted string at `{rest}`"));
        };
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.at += i + 2;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\'')) => out.push('\''),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(format!("an unterminated string at `{rest}`"))
    }
}

fn num(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

fn as_num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A value as `%v` shows it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

struct Cx<'a> {
    value: &'a Value,
    sibling: &'a dyn Fn(&str) -> Option<Value>,
}

impl Cx<'_> {
    fn eval(&self, e: &Expr) -> Value {
        match e {
            Expr::Lit(v) => v.clone(),
            Expr::Field(path, idx) => {
                let mut v = if path.is_empty() {
                    self.value.clone()
                } else {
                    (self.sibling)(&path.join(".")).unwrap_or(Value::Null)
                };
                for i in idx {
                    v = match (self.eval(i), &v) {
                        (Value::String(k), Value::Object(m)) => {
                            m.get(&k).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Number(n), Value::Array(a)) => n
                            .as_f64()
                            .and_then(|f| a.get(f as usize))
                            .cloned()
                            .unwrap_or(Value::Null),
                        (k, Value::Object(m)) => m.get(&text(&k)).cloned().unwrap_or(Value::Null),
                        _ => Value::Null,
                    };
                }
                v
            }
            Expr::Not(e) => Value::Bool(!truthy(&self.eval(e))),
            Expr::Neg(e) => match as_num(&self.eval(e)) {
                Some(n) => num(-n),
                None => Value::Null,
            },
            Expr::Bin(op, l, r) => {
                let l = self.eval(l);
                match op {
                    Op::And => return Value::Bool(truthy(&l) && truthy(&self.eval(r))),
                    Op::Or => return Value::Bool(truthy(&l) || truthy(&self.eval(r))),
                    _ => {}
                }
                let r = self.eval(r);
                binary(*op, &l, &r)
            }
            Expr::Len(e, chars) => num(match self.eval(e) {
                Value::String(s) if *chars => s.chars().count() as f64,
                Value::String(s) => s.len() as f64,
                Value::Array(a) => a.len() as f64,
                Value::Object(m) => m.len() as f64,
                _ => 0.0,
            }),
            Expr::Regexp(re, e) => Value::Bool(match self.eval(e) {
                Value::String(s) => re.is_match(&s),
                _ => false,
            }),
            Expr::In(args) => {
                let mut vals = args.iter().map(|a| self.eval(a));
                match vals.next() {
                    None => Value::Bool(true),
                    Some(first) => Value::Bool(vals.any(|v| same(&first, &v))),
                }
            }
            Expr::Email(e) => Value::Bool(match self.eval(e) {
                Value::String(s) => is_email(&s),
                _ => false,
            }),
            Expr::Sprintf(format, args) => {
                let mut vals = args.iter().map(|a| self.eval(a));
                let mut out = String::new();
                let mut chars = format.chars().peekable();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some(_) => {
                            out.push_str(&vals.next().map_or("%!v(MISSING)".into(), |v| text(&v)))
                        }
                        None => out.push('%'),
                    }
                }
                Value::String(out)
            }
        }
    }
}

fn truthy(v: &Value) -> bool {
    *v == Value::Bool(true)
}

/// Equality as go-tagexpr has it: numbers by value, else same type and value.
fn same(a: &Value, b: &Value) -> bool {
    match (as_num(a), as_num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn binary(op: Op, l: &Value, r: &Value) -> Value {
    use std::cmp::Ordering;
    let order = match (l, r) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => match (as_num(l), as_num(r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
    };
    let cmp = |want: fn(Ordering) -> bool| Value::Bool(order.is_some_and(want));
    let arith = |f: fn(f64, f64) -> f64| match (as_num(l), as_num(r)) {
        (Some(a), Some(b)) => num(f(a, b)),
        _ => Value::Null,
    };
    match op {
        Op::Eq => Value::Bool(same(l, r)),
        Op::Ne => Value::Bool(!same(l, r)),
        Op::Lt => cmp(Ordering::is_lt),
        Op::Le => cmp(Ordering::is_le),
        Op::Gt => cmp(Ordering::is_gt),
        Op::Ge => cmp(Ordering::is_ge),
        Op::Add => match (l, r) {
            (Value::String(a), Value::String(b)) => Value::String(format!("{a}{b}")),
            _ => arith(|a, b| a + b),
        },
        Op::Sub => arith(|a, b| a - b),
        Op::Mul => arith(|a, b| a * b),
        Op::Div => arith(|a, b| a / b),
        // As go-tagexpr: the remainder of the integer parts.
        Op::Rem => arith(|a, b| {
            let (a, b) = (a as i64, b as i64);
            if b == 0 { f64::NAN } else { (a % b) as f64 }
        }),
        Op::And | Op::Or => unreachable!("evaluated lazily"),
    }
}

/// A plain address check: local part, `@`, a domain with a dot and a
/// top-level name of letters.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let ok = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && local.chars().all(ok)
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        && (2..=24).contains(&tld.len())
        && tld.chars().all(|c| c.is_alphabetic())
}

#[cfg(test)]
mod tests;
