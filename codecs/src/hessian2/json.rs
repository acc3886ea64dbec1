//! Renders a decoded Hessian [`Value`] as JSON text.
//!
//! | Hessian | JSON |
//! |---|---|
//! | null, boolean | `null`, `true`/`false` |
//! | int, long | number (all 64 bits, no quoting) |
//! | double | number; NaN and infinities become `null` |
//! | string | string |
//! | binary | string, standard base64 with padding |
//! | date | string, RFC 3339 in UTC with milliseconds, `1970-01-01T00:00:00.000Z` (years outside 0000–9999 get a sign and at least six digits, as ISO 8601 expanded years) |
//! | list (any type) | array |
//! | map | object; a string key is used as is, a date or binary key as its JSON string, any other key as its JSON text (`1`, `true`, `null`, `[1,2]`); keys that collide are all written |
//! | object | object of its fields in definition order; the class name is dropped |
//! | reference | a copy of the value it points to |
//!
//! A list, map or object met again inside itself (through a reference: a
//! cycle, such as an exception whose `cause` is itself) is written as `null`.
//!
//! References can make the text far larger than the input (a list holding two
//! references to the previous list, repeated), so output size and nesting depth
//! are bounded by [`JsonOptions`].

use crate::json_text::{write_base64, write_str};

use super::value::{RefTable, Value};
use crate::CodecError;

/// Bounds on the JSON text written for one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonOptions {
    /// Arrays and objects nested inside one another, references expanded.
    pub max_depth: usize,
    /// Bytes of JSON text.
    pub max_len: usize,
}

/// Default [`JsonOptions::max_depth`]: twice the reader's default depth, as an
/// expanded reference can nest one decoded tree inside another.
pub const DEFAULT_JSON_MAX_DEPTH: usize = 128;
/// Default [`JsonOptions::max_len`], 64 MiB: an 8 MiB Dubbo payload rendered in
/// full with room for base64 and escapes.
pub const DEFAULT_JSON_MAX_LEN: usize = 64 << 20;

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            max_depth: DEFAULT_JSON_MAX_DEPTH,
            max_len: DEFAULT_JSON_MAX_LEN,
        }
    }
}

/// Appends `value` as JSON text to `out`, resolving [`Value::Ref`]s in `refs`
/// (the table of the stream `value` was read from, see
/// [`Reader::refs`](super::Reader::refs)). On error `out` may hold a partial text.
pub fn write_json(
    value: &Value,
    refs: &RefTable,
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let mut w = JsonWriter {
        refs,
        opts,
        start: out.len(),
        ancestors: Vec::new(),
    };
    w.value(value, out)?;
    w.check_len(out)
}

struct JsonWriter<'r> {
    refs: &'r RefTable,
    opts: &'r JsonOptions,
    start: usize,
    /// Addresses of the lists, maps and objects being written, outermost first.
    ancestors: Vec<usize>,
}

impl JsonWriter<'_> {
    fn check_len(&self, out: &[u8]) -> Result<(), CodecError> {
        let len = out.len() - self.start;
        if len > self.opts.max_len {
            return Err(CodecError::TooLarge {
                what: "hessian2 json output",
                size: len as u64,
                max: self.opts.max_len as u64,
            });
        }
        Ok(())
    }

    fn enter(&mut self, addr: usize) -> Result<(), CodecError> {
        if self.ancestors.len() >= self.opts.max_depth {
            return Err(CodecError::TooLarge {
                what: "hessian2 json nesting depth",
                size: self.ancestors.len() as u64 + 1,
                max: self.opts.max_depth as u64,
            });
        }
        self.ancestors.push(addr);
        Ok(())
    }

    fn value(&mut self, v: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Value::Long(l) => out.extend_from_slice(itoa::Buffer::new().format(*l).as_bytes()),
            Value::Double(d) if d.is_finite() => {
                out.extend_from_slice(ryu::Buffer::new().format_finite(*d).as_bytes());
            }
            Value::Double(_) => out.extend_from_slice(b"null"),
            Value::String(s) => write_str(out, s),
            Value::Binary(b) => write_base64(out, b),
            Value::Date(ms) => {
                out.push(b'"');
                write_date_rfc3339(out, *ms);
                out.push(b'"');
            }
            Value::List(_) | Value::Map(_) | Value::Object(_)
                if self.ancestors.contains(&composite_addr(v)) =>
            {
                out.extend_from_slice(b"null");
            }
            Value::List(l) => {
                self.enter(composite_addr(v))?;
                out.push(b'[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.value(item, out)?;
                    self.check_len(out)?;
                }
                out.push(b']');
                self.ancestors.pop();
            }
            Value::Map(m) => {
                self.enter(composite_addr(v))?;
                out.push(b'{');
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.key(k, out)?;
                    out.push(b':');
                    self.value(v, out)?;
                    self.check_len(out)?;
                }
                out.push(b'}');
                self.ancestors.pop();
            }
            Value::Object(o) => {
                self.enter(composite_addr(v))?;
                out.push(b'{');
                for (i, (name, v)) in o.fields().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, name);
                    out.push(b':');
                    self.value(v, out)?;
                    self.check_len(out)?;
                }
                out.push(b'}');
                self.ancestors.pop();
            }
            Value::Ref(n) => {
                let target = self.refs.get(*n).ok_or_else(|| {
                    CodecError::wire(
                        super::PROTOCOL,
                        format!("reference #{n} is not in the stream's reference table"),
                    )
                })?;
                self.value(target, out)?;
            }
        }
        Ok(())
    }

    /// A map key: JSON strings as they are, any other JSON text quoted.
    fn key(&mut self, k: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if let Value::String(s) = k {
            write_str(out, s);
            return Ok(());
        }
        let mark = out.len();
        self.value(k, out)?;
        if out.get(mark) != Some(&b'"') {
            let text = out.split_off(mark);
            write_str(out, &String::from_utf8_lossy(&text));
        }
        Ok(())
    }
}

/// The address a list, map or object is known by in `ancestors` (the same
/// for the tree's copy and the reference table's); 0 for other values.
fn composite_addr(v: &Value) -> usize {
    match v {
        Value::List(l) => std::sync::Arc::as_ptr(l) as *const () as usize,
        Value::Map(m) => std::sync::Arc::as_ptr(m) as *const () as usize,
        Value::Object(o) => std::sync::Arc::as_ptr(o) as *const () as usize,
        _ => 0,
    }
}

/// Appends `millis` (since the Unix epoch) as an RFC 3339 UTC timestamp with
/// milliseconds, e.g. `2023-11-14T22:13:20.000Z`, without quotes. Years outside
/// 0000–9999 are written with a sign and at least six digits (ISO 8601
/// expanded), e.g. `+275760-09-13T00:00:00.000Z`.
pub fn write_date_rfc3339(out: &mut Vec<u8>, millis: i64) {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        push_padded(out, year as u64, 4);
    } else {
        out.push(if year < 0 { b'-' } else { b'+' });
        push_padded(out, year.unsigned_abs(), 6);
    }
    out.push(b'-');
    push_padded(out, u64::from(month), 2);
    out.push(b'-');
    push_padded(out, u64::from(day), 2);
    out.push(b'T');
    let secs = ms_of_day / 1000;
    push_padded(out, (secs / 3600) as u64, 2);
    out.push(b':');
    push_padded(out, (secs / 60 % 60) as u64, 2);
    out.push(b':');
    push_padded(out, (secs % 60) as u64, 2);
    out.push(b'.');
    push_padded(out, (ms_of_day % 1000) as u64, 3);
    out.push(b'Z');
}

fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01,
/// by eras of 400 years (146097 days), with years starting on March 1st so
/// the leap day falls at the end.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
