//! A Java Dubbo service described by a Thrift IDL, as kitex-contrib/codec-dubbo
//! reads one (wire.md §5.7): Thrift types to Java types and JVM parameter
//! descriptors, JSON to Hessian2 arguments, and Hessian2 results to JSON.
//!
//! Annotations:
//! - struct, exception, enum: `JavaClassName = "com.x.Foo"` (default: the
//!   main file's `namespace java` + the IDL name);
//! - service: `JavaClassName = "com.x.FooService"`, the interface;
//! - method: `JavaMethodName = "realName"` (the Java name when it differs)
//!   and `hessian.argsType = "int,java.lang.Long,-"`, Java types of the
//!   arguments in order (`-` or empty: the default);
//! - field or argument: `java.type = "long"`, the same per argument or field,
//!   e.g. `java.util.Date` on an i64 or string (milliseconds or RFC 3339 in
//!   JSON), `java.math.BigDecimal` on a string, `int[]` on a list.
//!
//! Default Java types: bool `java.lang.Boolean`, i8 `java.lang.Byte`, i16
//! `java.lang.Short`, i32 `java.lang.Integer`, i64 `java.lang.Long`, double
//! `java.lang.Double`, string `java.lang.String`, binary `byte[]`, list
//! `java.util.List`, set `java.util.Set`, map `java.util.Map`, struct and enum
//! their Java class.

use base64::Engine as _;
use bytes::BufMut;
use idl::{Annotations, Method, Schema, StructId, Type};
use serde_json::Value as Json;

use crate::CodecError;
use crate::hessian2::{RefTable, Value, Writer};

/// How one method is called: its Java name, descriptor and argument types.
#[derive(Debug, Clone)]
pub struct JavaSignature {
    pub method: String,
    pub descriptor: String,
    /// Java type per argument, in IDL order.
    pub params: Vec<String>,
}

/// The Java interface a service maps to.
pub fn java_interface(schema: &Schema, service: &idl::Service) -> String {
    service
        .annotations
        .get("JavaClassName")
        .map(str::to_string)
        .unwrap_or_else(|| with_namespace(schema, &service.name))
}

fn with_namespace(schema: &Schema, name: &str) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match schema.namespaces.iter().find(|(scope, _)| scope == "java") {
        Some((_, ns)) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}

/// The Java class of a struct, exception or union.
pub fn java_class(schema: &Schema, id: StructId) -> String {
    let s = schema.struct_def(id);
    s.annotations
        .get("JavaClassName")
        .map(str::to_string)
        .unwrap_or_else(|| with_namespace(schema, &s.name))
}

fn java_enum_class(schema: &Schema, id: idl::EnumId) -> String {
    let e = schema.enum_def(id);
    e.annotations
        .get("JavaClassName")
        .map(str::to_string)
        .unwrap_or_else(|| with_namespace(schema, &e.name))
}

/// The default Java type of a Thrift type.
pub fn default_java_type(schema: &Schema, ty: &Type) -> String {
    match ty {
        Type::Bool => "java.lang.Boolean".into(),
        Type::I8 => "java.lang.Byte".into(),
        Type::I16 => "java.lang.Short".into(),
        Type::I32 => "java.lang.Integer".into(),
        Type::I64 => "java.lang.Long".into(),
        Type::Double => "java.lang.Double".into(),
        Type::String | Type::Uuid => "java.lang.String".into(),
        Type::Binary => "byte[]".into(),
        Type::List(_) => "java.util.List".into(),
        Type::Set(_) => "java.util.Set".into(),
        Type::Map(..) => "java.util.Map".into(),
        Type::Struct(id) => java_class(schema, *id),
        Type::Enum(id) => java_enum_class(schema, *id),
    }
}

/// Expands codec-dubbo's short names (`int`, `Long`, `String[]` …) to Java names.
pub fn expand_java_type(t: &str) -> String {
    let t = t.trim();
    if let Some(elem) = t.strip_suffix("[]") {
        return format!("{}[]", expand_java_type(elem));
    }
    match t {
        "Byte" | "Short" | "Integer" | "Long" | "Float" | "Double" | "Boolean" | "Character"
        | "String" | "Object" => format!("java.lang.{t}"),
        _ => t.to_string(),
    }
}

/// The JVM descriptor of a Java type name (`long` -> `J`,
/// `java.lang.String` -> `Ljava/lang/String;`, `int[]` -> `[I`).
pub fn descriptor_of(java: &str) -> String {
    if let Some(elem) = java.strip_suffix("[]") {
        return format!("[{}", descriptor_of(elem));
    }
    match java {
        "boolean" => "Z".into(),
        "byte" => "B".into(),
        "short" => "S".into(),
        "int" => "I".into(),
        "long" => "J".into(),
        "float" => "F".into(),
        "double" => "D".into(),
        "char" => "C".into(),
        "void" => "V".into(),
        t if t.starts_with('[') => t.replace('.', "/"),
        t => format!("L{};", t.replace('.', "/")),
    }
}

/// The number of parameters in a JVM descriptor; `None` when malformed.
pub fn descriptor_arity(d: &str) -> Option<usize> {
    let b = d.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        while i < b.len() && b[i] == b'[' {
            i += 1;
        }
        match b.get(i)? {
            b'Z' | b'B' | b'S' | b'I' | b'J' | b'F' | b'D' | b'C' => i += 1,
            b'L' => i += d[i..].find(';')? + 1,
            _ => return None,
        }
        n += 1;
    }
    Some(n)
}

/// The Java signature of `method`: argument types from `hessian.argsType`,
/// then the argument's `java.type`, then the defaults.
pub fn signature(schema: &Schema, method: &Method) -> JavaSignature {
    let args = schema.struct_def(method.args);
    let overrides: Vec<&str> = method
        .annotations
        .get("hessian.argsType")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let params: Vec<String> = args
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            match overrides.get(i).map(|s| s.trim()) {
                Some(t) if !t.is_empty() && t != "-" => return expand_java_type(t),
                _ => {}
            }
            match f.annotations.get("java.type") {
                Some(t) => expand_java_type(t),
                None => default_java_type(schema, &f.ty),
            }
        })
        .collect();
    JavaSignature {
        method: method
            .annotations
            .get("JavaMethodName")
            .unwrap_or(&method.name)
            .to_string(),
        descriptor: params.iter().map(|p| descriptor_of(p)).collect(),
        params,
    }
}

fn java_override(a: &Annotations) -> Option<String> {
    a.get("java.type").map(expand_java_type)
}

/// Options for Hessian2 -> JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DubboJsonOptions {
    /// Write i64 as strings (JavaScript clients).
    pub i64_as_string: bool,
    /// Write enums by name; by default the IDL number, like Thrift routes.
    pub enum_as_name: bool,
}

/// How deep JSON and Hessian values may nest.
pub const MAX_DEPTH: usize = 64;

fn input(path: &str, message: impl Into<String>) -> CodecError {
    CodecError::Input {
        path: path.to_string(),
        message: message.into(),
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Writes one argument or field value: `ty` from the IDL, `java` its Java
/// type when it matters to the encoding (dates, decimals, arrays).
pub fn write_value<B: BufMut>(
    w: &mut Writer<B>,
    schema: &Schema,
    ty: &Type,
    java: Option<&str>,
    v: &Json,
    path: &mut String,
    depth: usize,
) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return Err(input(path, format!("nested deeper than {MAX_DEPTH}")));
    }
    if v.is_null() {
        w.write_null();
        return Ok(());
    }
    match java {
        Some("java.util.Date") => {
            let ms = match v {
                Json::String(s) => parse_rfc3339_millis(s)
                    .or_else(|| s.parse().ok())
                    .ok_or_else(|| input(path, "expected an RFC 3339 date or milliseconds"))?,
                Json::Number(n) => n
                    .as_i64()
                    .ok_or_else(|| input(path, "expected integer milliseconds"))?,
                other => {
                    return Err(input(
                        path,
                        format!("expected a date, found {}", kind(other)),
                    ));
                }
            };
            w.write_date_millis(ms);
            return Ok(());
        }
        Some("java.math.BigDecimal") => {
            let text = match v {
                Json::String(s) if is_decimal(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(input(path, "expected a decimal number or string")),
            };
            w.write_object_start("java.math.BigDecimal", &["value"]);
            w.write_string(&text);
            return Ok(());
        }
        _ => {}
    }
    match ty {
        Type::Bool => match v {
            Json::Bool(b) => w.write_bool(*b),
            Json::String(s) if s == "true" || s == "false" => w.write_bool(s == "true"),
            other => {
                return Err(input(
                    path,
                    format!("expected a bool, found {}", kind(other)),
                ));
            }
        },
        Type::I8 | Type::I16 | Type::I32 => {
            let n = int_of(v, path)?;
            let (lo, hi) = match ty {
                Type::I8 => (i8::MIN as i64, i8::MAX as i64),
                Type::I16 => (i16::MIN as i64, i16::MAX as i64),
                _ => (i32::MIN as i64, i32::MAX as i64),
            };
            if n < lo || n > hi {
                return Err(input(path, format!("{n} is out of range {lo}..={hi}")));
            }
            match java {
                Some("long" | "java.lang.Long") => w.write_long(n),
                _ => w.write_int(n as i32),
            }
        }
        Type::I64 => {
            let n = int_of(v, path)?;
            match java {
                Some(
                    "int" | "java.lang.Integer" | "short" | "java.lang.Short" | "byte"
                    | "java.lang.Byte",
                ) => {
                    let n = i32::try_from(n)
                        .map_err(|_| input(path, format!("{n} does not fit in a Java int")))?;
                    w.write_int(n)
                }
                _ => w.write_long(n),
            }
        }
        Type::Double => {
            let d = match v {
                Json::Number(n) => n.as_f64().unwrap_or(0.0),
                Json::String(s) => s
                    .parse::<f64>()
                    .map_err(|_| input(path, "expected a number"))?,
                other => {
                    return Err(input(
                        path,
                        format!("expected a number, found {}", kind(other)),
                    ));
                }
            };
            w.write_double(d)
        }
        Type::String | Type::Uuid => match v {
            Json::String(s) => w.write_string(s),
            other => {
                return Err(input(
                    path,
                    format!("expected a string, found {}", kind(other)),
                ));
            }
        },
        Type::Binary => match v {
            Json::String(s) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| input(path, format!("bad base64: {e}")))?;
                w.write_binary(&b)
            }
            other => {
                return Err(input(
                    path,
                    format!("expected base64 text, found {}", kind(other)),
                ));
            }
        },
        Type::List(elem) | Type::Set(elem) => {
            let Json::Array(items) = v else {
                return Err(input(path, format!("expected an array, found {}", kind(v))));
            };
            let (list_type, elem_java) = list_java_type(ty, java);
            w.begin_list(list_type.as_deref(), Some(items.len()));
            for (i, item) in items.iter().enumerate() {
                let mark = path.len();
                path.push_str(&format!("[{i}]"));
                write_value(w, schema, elem, elem_java.as_deref(), item, path, depth + 1)?;
                path.truncate(mark);
            }
        }
        Type::Map(kt, vt) => {
            w.begin_map(None);
            match v {
                Json::Object(m) => {
                    for (k, item) in m {
                        let mark = path.len();
                        path.push('.');
                        path.push_str(k);
                        write_value(
                            w,
                            schema,
                            kt,
                            None,
                            &Json::String(k.clone()),
                            path,
                            depth + 1,
                        )?;
                        write_value(w, schema, vt, None, item, path, depth + 1)?;
                        path.truncate(mark);
                    }
                }
                Json::Array(pairs) => {
                    for (i, pair) in pairs.iter().enumerate() {
                        let mark = path.len();
                        path.push_str(&format!("[{i}]"));
                        match pair.as_array().map(Vec::as_slice) {
                            Some([k, item]) => {
                                write_value(w, schema, kt, None, k, path, depth + 1)?;
                                write_value(w, schema, vt, None, item, path, depth + 1)?;
                            }
                            _ => return Err(input(path, "expected a [key, value] pair")),
                        }
                        path.truncate(mark);
                    }
                }
                other => {
                    return Err(input(
                        path,
                        format!("expected an object, found {}", kind(other)),
                    ));
                }
            }
            w.end_map();
        }
        Type::Enum(id) => {
            let e = schema.enum_def(*id);
            let name = match v {
                Json::String(s) if e.value_of(s).is_some() => s.clone(),
                Json::String(s) => match s.parse::<i32>().ok().and_then(|n| e.name_of(n)) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(input(
                            path,
                            format!("`{s}` is not a value of enum {}", e.name),
                        ));
                    }
                },
                Json::Number(n) => match n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| e.name_of(n))
                {
                    Some(name) => name.to_string(),
                    None => {
                        return Err(input(
                            path,
                            format!("{n} is not a value of enum {}", e.name),
                        ));
                    }
                },
                other => {
                    return Err(input(
                        path,
                        format!("expected an enum name or number, found {}", kind(other)),
                    ));
                }
            };
            // hessian-lite's EnumSerializer: an object with one field, `name`.
            w.write_object_start(&java_enum_class(schema, *id), &["name"]);
            w.write_string(&name);
        }
        Type::Struct(id) => write_struct(w, schema, *id, v, path, depth)?,
    }
    Ok(())
}

/// The Hessian list type and the Java element type of a list or set.
fn list_java_type(ty: &Type, java: Option<&str>) -> (Option<String>, Option<String>) {
    if let Some(elem_java) = java.and_then(|j| j.strip_suffix("[]")) {
        // A Java array: `[int`, `[string`, `[com.x.Foo`.
        let short = match elem_java {
            "boolean" | "byte" | "short" | "int" | "long" | "float" | "double" | "char" => {
                elem_java.to_string()
            }
            "java.lang.String" => "string".into(),
            "java.lang.Object" => "object".into(),
            other => other.to_string(),
        };
        return (Some(format!("[{short}")), Some(elem_java.to_string()));
    }
    match ty {
        // A Java method taking a Set needs a Set: name the class.
        Type::Set(_) => (Some("java.util.HashSet".into()), None),
        // ArrayList, untyped, as Java writes it.
        _ => (None, None),
    }
}

fn write_struct<B: BufMut>(
    w: &mut Writer<B>,
    schema: &Schema,
    id: StructId,
    v: &Json,
    path: &mut String,
    depth: usize,
) -> Result<(), CodecError> {
    let Json::Object(obj) = v else {
        return Err(input(
            path,
            format!("expected an object, found {}", kind(v)),
        ));
    };
    let def = schema.struct_def(id);
    let names: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
    w.write_object_start(&java_class(schema, id), &names);
    for f in &def.fields {
        let mark = path.len();
        path.push('.');
        path.push_str(&f.json_name);
        let value = obj.get(&f.json_name).or_else(|| obj.get(&f.name));
        let default;
        let value = match value {
            Some(v) => v,
            None => match &f.default {
                Some(text) => {
                    default = serde_json::from_str::<Json>(text).unwrap_or(Json::Null);
                    &default
                }
                None if f.required == idl::Requiredness::Required => {
                    return Err(input(path, "required field is missing"));
                }
                None => &Json::Null,
            },
        };
        let java = java_override(&f.annotations);
        write_value(w, schema, &f.ty, java.as_deref(), value, path, depth + 1)?;
        path.truncate(mark);
    }
    Ok(())
}

fn int_of(v: &Json, path: &str) -> Result<i64, CodecError> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .ok_or_else(|| input(path, format!("{n} is not an integer in the i64 range"))),
        Json::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| input(path, format!("`{s}` is not an integer"))),
        other => Err(input(
            path,
            format!("expected an integer, found {}", kind(other)),
        )),
    }
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = mant.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && exp.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` to milliseconds since the epoch.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return None;
        }
        let mut digits: String = frac.chars().take(3).collect();
        while digits.len() < 3 {
            digits.push('0');
        }
        ms = digits.parse().ok()?;
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Default nesting bound of [`write_json`]: arrays and objects inside one
/// another, references expanded (twice the reader's default depth, as an
/// expanded reference nests one decoded tree inside another).
pub const DEFAULT_JSON_MAX_DEPTH: usize = 128;

/// Writes a decoded Hessian value as JSON text into `out`: the same text as
/// `serde_json::to_writer(out, &to_json(v, refs, schema, ty, java, opts))`,
/// without building a tree, and bounded. References can make the text far
/// larger than the reply (a list of references to the previous list, 40
/// levels deep, is 2^40 elements from a few hundred bytes), so this fails
/// with [`CodecError::TooLarge`] once the text would pass `max_bytes`, or
/// arrays and objects nest deeper than [`DEFAULT_JSON_MAX_DEPTH`]. On error
/// `out` is left as it was.
#[allow(clippy::too_many_arguments)]
pub fn write_json(
    v: &Value,
    refs: &RefTable,
    schema: &Schema,
    ty: Option<&Type>,
    java: Option<&str>,
    opts: &DubboJsonOptions,
    out: &mut Vec<u8>,
    max_bytes: usize,
) -> Result<(), CodecError> {
    let start = out.len();
    let mut w = JsonOut {
        refs,
        schema,
        opts,
        out,
        start,
        max_bytes,
        max_depth: DEFAULT_JSON_MAX_DEPTH,
        depth: 0,
        stack: Vec::new(),
    };
    let r = w.value(v, ty, java);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// The state of one [`write_json`].
struct JsonOut<'a> {
    refs: &'a RefTable,
    schema: &'a Schema,
    opts: &'a DubboJsonOptions,
    out: &'a mut Vec<u8>,
    start: usize,
    max_bytes: usize,
    max_depth: usize,
    /// Arrays and objects open around the value being written.
    depth: usize,
    /// References being expanded, outermost first (as `to_json` keeps them).
    stack: Vec<usize>,
}

/// One candidate member of a JSON object being written: its key, the
/// Hessian value and the IDL and Java types that guide it.
struct Member<'v> {
    key: String,
    value: &'v Value,
    ty: Option<Type>,
    java: Option<String>,
}

impl JsonOut<'_> {
    /// Fails once the text written passes the limit; called after every
    /// scalar and punctuation, so the overshoot is at most one scalar
    /// (itself bounded by the reply's size).
    fn check(&self) -> Result<(), CodecError> {
        let len = self.out.len() - self.start;
        if len > self.max_bytes {
            return Err(CodecError::TooLarge {
                what: "dubbo json output",
                size: len as u64,
                max: self.max_bytes as u64,
            });
        }
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> Result<(), CodecError> {
        self.out.extend_from_slice(b);
        self.check()
    }

    fn open(&mut self, b: u8) -> Result<(), CodecError> {
        if self.depth >= self.max_depth {
            return Err(CodecError::TooLarge {
                what: "dubbo json nesting depth",
                size: self.depth as u64 + 1,
                max: self.max_depth as u64,
            });
        }
        self.depth += 1;
        self.put(&[b])
    }

    fn close(&mut self, b: u8) -> Result<(), CodecError> {
        self.depth -= 1;
        self.put(&[b])
    }

    /// A string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) -> Result<(), CodecError> {
        serde_json::to_writer(&mut *self.out, s).expect("writing to a Vec");
        self.check()
    }

    fn long(&mut self, n: i64) -> Result<(), CodecError> {
        let mut b = itoa::Buffer::new();
        let digits = b.format(n).as_bytes();
        if self.opts.i64_as_string {
            self.out.push(b'"');
            self.out.extend_from_slice(digits);
            self.put(b"\"")
        } else {
            self.put(digits)
        }
    }

    fn int(&mut self, n: i64) -> Result<(), CodecError> {
        self.put(itoa::Buffer::new().format(n).as_bytes())
    }

    fn enum_value(
        &mut self,
        id: idl::EnumId,
        name: Option<&str>,
        number: Option<i32>,
    ) -> Result<(), CodecError> {
        match enum_json(self.schema, id, name, number, self.opts) {
            Json::Number(n) => self.put(n.to_string().as_bytes()),
            Json::String(s) => self.string(&s),
            _ => self.put(b"null"),
        }
    }

    fn value(
        &mut self,
        v: &Value,
        ty: Option<&Type>,
        java: Option<&str>,
    ) -> Result<(), CodecError> {
        // The same cut-offs as `to_json`: a cycle, or references nested past
        // MAX_DEPTH, is null.
        if let Value::Ref(n) = v {
            if self.stack.contains(n) || self.stack.len() > MAX_DEPTH {
                return self.put(b"null");
            }
            let refs = self.refs;
            let Some(target) = refs.get(*n) else {
                return self.put(b"null");
            };
            self.stack.push(*n);
            let r = self.value(target, ty, java);
            self.stack.pop();
            return r;
        }
        if self.stack.len() > MAX_DEPTH {
            return self.put(b"null");
        }
        match v {
            Value::Null | Value::Ref(_) => self.put(b"null"),
            Value::Bool(b) => self.put(if *b { b"true" } else { b"false" }),
            Value::Int(n) => match ty {
                Some(Type::I64) => self.long(i64::from(*n)),
                Some(Type::Enum(id)) => self.enum_value(*id, None, Some(*n)),
                _ => self.int(i64::from(*n)),
            },
            Value::Long(n) => self.long(*n),
            Value::Double(d) => {
                // serde_json's own float text; NaN and infinities are null.
                serde_json::to_writer(&mut *self.out, d).expect("writing to a Vec");
                self.check()
            }
            Value::String(s) => match ty {
                Some(Type::Enum(id)) => self.enum_value(*id, Some(s), None),
                _ => self.string(s),
            },
            Value::Binary(b) => {
                self.out.push(b'"');
                let at = self.out.len();
                let len = base64::encoded_len(b.len(), true).unwrap_or(0);
                self.out.resize(at + len, 0);
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(b, &mut self.out[at..])
                    .unwrap_or(0);
                self.out.truncate(at + written);
                self.put(b"\"")
            }
            Value::Date(ms) => match ty {
                Some(Type::I64) if java != Some("java.util.Date") => self.long(*ms),
                _ => {
                    self.out.push(b'"');
                    crate::hessian2::write_date_rfc3339(self.out, *ms);
                    self.put(b"\"")
                }
            },
            Value::List(l) => {
                let elem = match ty {
                    Some(Type::List(e) | Type::Set(e)) => Some(&**e),
                    _ => None,
                };
                let elem_java = java.and_then(|j| j.strip_suffix("[]"));
                self.open(b'[')?;
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        self.put(b",")?;
                    }
                    self.value(item, elem, elem_java)?;
                }
                self.close(b']')
            }
            Value::Map(m) => self.map(m, ty),
            Value::Object(o) => self.object(o, ty),
        }
    }

    fn map(&mut self, m: &crate::hessian2::Map, ty: Option<&Type>) -> Result<(), CodecError> {
        let refs = self.refs;
        let MapShape {
            kt,
            vt,
            struct_fields,
            keys_are_text,
        } = MapShape::of(m, ty, refs);
        if !keys_are_text {
            self.open(b'[')?;
            for (i, (k, val)) in m.entries.iter().enumerate() {
                if i > 0 {
                    self.put(b",")?;
                }
                self.open(b'[')?;
                self.value(k, kt, None)?;
                self.put(b",")?;
                self.value(val, vt, None)?;
                self.close(b']')?;
            }
            return self.close(b']');
        }
        let mut members = Vec::with_capacity(m.entries.len());
        for (k, val) in &m.entries {
            let Some(key) = text_key(k, refs) else {
                continue;
            };
            let (ty, java, key) = match struct_fields {
                Some(id) => field_of(self.schema, id, &key),
                None => (vt.cloned(), None, key),
            };
            members.push(Member {
                key,
                value: val,
                ty,
                java,
            });
        }
        self.members(members, false)
    }

    fn object(&mut self, o: &crate::hessian2::Object, ty: Option<&Type>) -> Result<(), CodecError> {
        let refs = self.refs;
        // Java enums and BigDecimal are objects of one field.
        if let Some(Type::Enum(id)) = ty
            && let Some(name) = o
                .get("name")
                .and_then(|n| n.resolve(refs))
                .and_then(Value::as_str)
        {
            return self.enum_value(*id, Some(name), None);
        }
        if o.class_name() == "java.math.BigDecimal"
            && let Some(s) = o
                .get("value")
                .and_then(|n| n.resolve(refs))
                .and_then(Value::as_str)
        {
            return self.string(s);
        }
        if ty.is_none()
            && o.class.fields.len() == 1
            && o.class.fields[0] == "name"
            && looks_like_enum(o)
            && let Some(s) = o.values[0].resolve(refs).and_then(Value::as_str)
        {
            return self.string(s);
        }
        let sid = match ty {
            Some(Type::Struct(id)) => Some(*id),
            _ => None,
        };
        let mut members = Vec::with_capacity(o.values.len());
        for (name, val) in o.fields() {
            let (ty, java, key) = match sid {
                Some(id) => match field_of(self.schema, id, name) {
                    // A Java field the IDL does not describe.
                    (None, ..) => continue,
                    known => known,
                },
                None => (None, None, name.to_string()),
            };
            members.push(Member {
                key,
                value: val,
                ty,
                java,
            });
        }
        // Absent, as Thrift routes leave unset fields out.
        self.members(members, sid.is_some())
    }

    /// An object of `members` as `to_json` builds it in a `serde_json::Map`:
    /// keys in sorted order, and of members sharing a key the last one wins
    /// (with `skip_null`, the last one that is not null; a null member is
    /// then not there at all).
    fn members(&mut self, mut members: Vec<Member<'_>>, skip_null: bool) -> Result<(), CodecError> {
        // Stable: members of one key keep their order.
        members.sort_by(|a, b| a.key.cmp(&b.key));
        self.open(b'{')?;
        let mut first = true;
        let mut rest = &members[..];
        while let Some(m) = rest.first() {
            let n = rest.iter().take_while(|x| x.key == m.key).count();
            let (same, after) = rest.split_at(n);
            rest = after;
            // Which one is known before writing, so that nothing written
            // is taken back (the limit is on what is written).
            let Some(m) = same
                .iter()
                .rev()
                .find(|m| !skip_null || !self.is_null(m.value))
            else {
                continue;
            };
            if !first {
                self.put(b",")?;
            }
            first = false;
            self.string(&m.key)?;
            self.put(b":")?;
            let value_at = self.out.len();
            self.value(m.value, m.ty.as_ref(), m.java.as_deref())?;
            debug_assert!(!skip_null || self.out[value_at..] != *b"null");
        }
        self.close(b'}')
    }

    /// Whether [`JsonOut::value`] writes `v` as `null` (whatever its type:
    /// enums always have a name or a number to show, and a reference points
    /// to a list, map or object).
    fn is_null(&self, v: &Value) -> bool {
        match v {
            Value::Ref(n) => {
                self.stack.contains(n)
                    || self.stack.len() >= MAX_DEPTH
                    || self.refs.get(*n).is_none()
            }
            _ if self.stack.len() > MAX_DEPTH => true,
            Value::Null => true,
            Value::Double(d) => !d.is_finite(),
            _ => false,
        }
    }
}

/// A decoded Hessian value as JSON, guided by its IDL type (`None`: no
/// guidance, e.g. generic calls). References resolve in `refs`; a
/// reference back into a value being converted (a cycle) becomes null.
///
/// Unbounded: the tree can be far larger than the reply, so it is kept as
/// the tests' reference for [`write_json`], which writes the same JSON with
/// a bound and is what replies go through.
#[cfg(test)]
pub(crate) fn to_json(
    v: &Value,
    refs: &RefTable,
    schema: &Schema,
    ty: Option<&Type>,
    java: Option<&str>,
    opts: &DubboJsonOptions,
) -> Json {
    let mut stack = Vec::new();
    convert(v, refs, schema, ty, java, opts, &mut stack)
}

#[cfg(test)]
fn convert(
    v: &Value,
    refs: &RefTable,
    schema: &Schema,
    ty: Option<&Type>,
    java: Option<&str>,
    opts: &DubboJsonOptions,
    stack: &mut Vec<usize>,
) -> Json {
    if let Value::Ref(n) = v {
        if stack.contains(n) || stack.len() > MAX_DEPTH {
            return Json::Null;
        }
        let Some(target) = refs.get(*n) else {
            return Json::Null;
        };
        stack.push(*n);
        let out = convert(target, refs, schema, ty, java, opts, stack);
        stack.pop();
        return out;
    }
    if stack.len() > MAX_DEPTH {
        return Json::Null;
    }
    let long = |n: i64| {
        if opts.i64_as_string {
            Json::String(n.to_string())
        } else {
            Json::from(n)
        }
    };
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => match ty {
            Some(Type::I64) => long(*n as i64),
            Some(Type::Enum(id)) => enum_json(schema, *id, None, Some(*n), opts),
            _ => Json::from(*n),
        },
        Value::Long(n) => long(*n),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::String(s) => match ty {
            Some(Type::Enum(id)) => enum_json(schema, *id, Some(s), None, opts),
            _ => Json::String(s.clone()),
        },
        Value::Binary(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Date(ms) => match ty {
            Some(Type::I64) if java != Some("java.util.Date") => long(*ms),
            _ => {
                let mut out = Vec::with_capacity(24);
                crate::hessian2::write_date_rfc3339(&mut out, *ms);
                Json::String(String::from_utf8(out).unwrap_or_default())
            }
        },
        Value::List(l) => {
            let elem = match ty {
                Some(Type::List(e) | Type::Set(e)) => Some(&**e),
                _ => None,
            };
            let elem_java = java.and_then(|j| j.strip_suffix("[]"));
            Json::Array(
                l.items
                    .iter()
                    .map(|i| convert(i, refs, schema, elem, elem_java, opts, stack))
                    .collect(),
            )
        }
        Value::Map(m) => {
            let shape = MapShape::of(m, ty, refs);
            let (kt, vt, struct_fields) = (shape.kt, shape.vt, shape.struct_fields);
            if shape.keys_are_text {
                let mut obj = serde_json::Map::new();
                for (k, val) in &m.entries {
                    let Some(key) = text_key(k, refs) else {
                        continue;
                    };
                    let (fty, fjava, jkey) = match struct_fields {
                        Some(id) => field_of(schema, id, &key),
                        None => (vt.cloned(), None, key),
                    };
                    obj.insert(
                        jkey,
                        convert(
                            val,
                            refs,
                            schema,
                            fty.as_ref(),
                            fjava.as_deref(),
                            opts,
                            stack,
                        ),
                    );
                }
                Json::Object(obj)
            } else {
                Json::Array(
                    m.entries
                        .iter()
                        .map(|(k, val)| {
                            Json::Array(vec![
                                convert(k, refs, schema, kt, None, opts, stack),
                                convert(val, refs, schema, vt, None, opts, stack),
                            ])
                        })
                        .collect(),
                )
            }
        }
        Value::Object(o) => {
            // Java enums and BigDecimal are objects of one field.
            if let Some(Type::Enum(id)) = ty
                && let Some(name) = o
                    .get("name")
                    .and_then(|n| n.resolve(refs))
                    .and_then(Value::as_str)
            {
                return enum_json(schema, *id, Some(name), None, opts);
            }
            if o.class_name() == "java.math.BigDecimal" {
                if let Some(s) = o
                    .get("value")
                    .and_then(|n| n.resolve(refs))
                    .and_then(Value::as_str)
                {
                    return Json::String(s.to_string());
                }
            }
            if ty.is_none()
                && o.class.fields.len() == 1
                && o.class.fields[0] == "name"
                && looks_like_enum(o)
            {
                if let Some(s) = o.values[0].resolve(refs).and_then(Value::as_str) {
                    return Json::String(s.to_string());
                }
            }
            let sid = match ty {
                Some(Type::Struct(id)) => Some(*id),
                _ => None,
            };
            let mut obj = serde_json::Map::new();
            for (name, val) in o.fields() {
                let (fty, fjava, key) = match sid {
                    Some(id) => field_of(schema, id, name),
                    None => (None, None, name.to_string()),
                };
                if sid.is_some() && fty.is_none() {
                    continue; // a Java field the IDL does not describe
                }
                let j = convert(
                    val,
                    refs,
                    schema,
                    fty.as_ref(),
                    fjava.as_deref(),
                    opts,
                    stack,
                );
                if j.is_null() && sid.is_some() {
                    continue; // absent, as Thrift routes leave unset fields out
                }
                obj.insert(key, j);
            }
            Json::Object(obj)
        }
        Value::Ref(_) => Json::Null,
    }
}

/// Without an IDL type: a one-field object `{name}` whose class is not a
/// `java.*` class is taken for a Java enum.
fn looks_like_enum(o: &crate::hessian2::Object) -> bool {
    !o.class_name().starts_with("java.")
}

/// A struct field's type, Java type and JSON key by Java field name.
/// How a Hessian map is shown: its key and value types, the struct it
/// stands for (generic results keep their keys), and whether every key can
/// be a JSON object member name (else it is a list of `[key, value]` pairs).
struct MapShape<'t> {
    kt: Option<&'t Type>,
    vt: Option<&'t Type>,
    struct_fields: Option<StructId>,
    keys_are_text: bool,
}

impl<'t> MapShape<'t> {
    fn of(m: &crate::hessian2::Map, ty: Option<&'t Type>, refs: &RefTable) -> Self {
        let (kt, vt) = match ty {
            Some(Type::Map(k, v)) => (Some(&**k), Some(&**v)),
            _ => (None, None),
        };
        let struct_fields = match ty {
            Some(Type::Struct(id)) => Some(*id),
            _ => None,
        };
        let keys_are_text = m.entries.iter().all(|(k, _)| {
            matches!(
                k.resolve(refs),
                Some(Value::String(_) | Value::Int(_) | Value::Long(_) | Value::Bool(_))
            )
        }) && kt.is_none_or(Type::is_object_key);
        MapShape {
            kt,
            vt,
            struct_fields,
            keys_are_text,
        }
    }
}

/// A map key as a JSON member name, when it is text, a number or a bool.
fn text_key(k: &Value, refs: &RefTable) -> Option<String> {
    Some(match k.resolve(refs)? {
        Value::String(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Long(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn field_of(schema: &Schema, id: StructId, name: &str) -> (Option<Type>, Option<String>, String) {
    let def = schema.struct_def(id);
    match def.fields.iter().find(|f| f.name == name) {
        Some(f) => (
            Some(f.ty.clone()),
            java_override(&f.annotations),
            f.json_name.clone(),
        ),
        None => (None, None, name.to_string()),
    }
}

fn enum_json(
    schema: &Schema,
    id: idl::EnumId,
    name: Option<&str>,
    number: Option<i32>,
    opts: &DubboJsonOptions,
) -> Json {
    let e = schema.enum_def(id);
    let (name, number) = match (name, number) {
        (Some(n), _) => (Some(n.to_string()), e.value_of(n)),
        (None, Some(v)) => (e.name_of(v).map(str::to_string), Some(v)),
        (None, None) => (None, None),
    };
    match (opts.enum_as_name, name, number) {
        (false, _, Some(v)) => Json::from(v),
        (_, Some(n), _) => Json::String(n),
        (_, None, Some(v)) => Json::from(v),
        _ => Json::Null,
    }
}

/// A generic (`$invoke`) argument from JSON with no IDL: integers that fit
/// an int as int, others as long, fractions as double, objects as maps (a
/// `"class"` key names a POJO, as Dubbo's `PojoUtils` reads it), arrays as lists.
pub fn write_generic<B: BufMut>(
    w: &mut Writer<B>,
    v: &Json,
    depth: usize,
) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return Err(input("$", format!("nested deeper than {MAX_DEPTH}")));
    }
    match v {
        Json::Null => w.write_null(),
        Json::Bool(b) => w.write_bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => match i32::try_from(i) {
                Ok(i) => w.write_int(i),
                Err(_) => w.write_long(i),
            },
            (None, Some(d)) => w.write_double(d),
            _ => w.write_null(),
        },
        Json::String(s) => w.write_string(s),
        Json::Array(items) => {
            w.begin_list(None, Some(items.len()));
            for i in items {
                write_generic(w, i, depth + 1)?;
            }
        }
        Json::Object(m) => {
            w.begin_map(None);
            for (k, val) in m {
                w.write_string(k);
                write_generic(w, val, depth + 1)?;
            }
            w.end_map();
        }
    }
    Ok(())
}
