//! Constant values and field defaults as JSON, shaped by the type they are
//! assigned to: enum names become numbers, binary becomes base64, uuids
//! become canonical text, maps with non-object keys become `[key, value]`
//! pairs, const references are followed.
//!
//! The literal forms accepted are those of the Apache Thrift compiler:
//! `true`/`false` are the integers 1 and 0 (so they fit any integer, double
//! or enum, and an integer fits a bool); an integer fits a double; a list
//! literal is both a list and a set; `{}` is also an empty list or set and
//! `[]` also an empty map; a struct is a map keyed by field names; an enum
//! value is `Enum.VALUE` (or `include.Enum.VALUE`), and only its last part
//! is looked up in the enum being assigned to.

use std::collections::HashMap;

use base64::Engine;
use pilota_thrift_parser::{self as ast, ConstValue};
use serde_json::{Map, Value};

use super::resolve::{Resolver, Sym};
use crate::schema::Type;

const MAX_DEPTH: usize = 64;

pub(crate) fn to_json(
    r: &Resolver<'_>,
    fi: usize,
    v: &ConstValue,
    ty: &Type,
    depth: usize,
) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("constant refers to itself".into());
    }
    if let ConstValue::Path(p) = v {
        return path_value(r, fi, p, ty, depth);
    }
    let numeric = matches!(
        ty,
        Type::Bool | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Double | Type::Enum(_)
    );
    Ok(match (ty, v) {
        (Type::Bool, ConstValue::Bool(b)) => Value::Bool(*b),
        (_, ConstValue::Bool(b)) if numeric => from_int(ty, i64::from(*b))?,
        (_, ConstValue::Int(i)) if numeric => from_int(ty, i.0)?,
        (Type::Double, ConstValue::Double(d)) => {
            let f: f64 = d.0.parse().map_err(|_| format!("bad double `{}`", d.0))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or("double is not finite")?
        }
        (Type::String, ConstValue::String(s)) => Value::String(s.0.clone()),
        (Type::Uuid, ConstValue::String(s)) => {
            Value::String(canonical_uuid(&s.0).ok_or_else(|| format!("invalid uuid `{}`", s.0))?)
        }
        (Type::Binary, ConstValue::String(s)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(s.0.as_bytes()))
        }
        (Type::List(t), ConstValue::List(items)) => Value::Array(
            items
                .iter()
                .map(|i| to_json(r, fi, i, t, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Set(t), ConstValue::List(items)) => {
            // A repeated element is one element of the set, as in the
            // containers the Apache generators fill from the literal.
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                let v = to_json(r, fi, i, t, depth + 1)?;
                if seen.insert(v.to_string()) {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        (Type::List(_) | Type::Set(_), ConstValue::Map(entries)) if entries.is_empty() => {
            Value::Array(Vec::new())
        }
        (Type::Map(k, _), ConstValue::List(items)) if items.is_empty() => {
            if k.is_object_key() {
                Value::Object(Map::new())
            } else {
                Value::Array(Vec::new())
            }
        }
        (Type::Map(k, val), ConstValue::Map(entries)) => {
            if k.is_object_key() {
                let mut m = Map::new();
                for (ek, ev) in entries {
                    let key = match to_json(r, fi, ek, k, depth + 1)? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    m.insert(key, to_json(r, fi, ev, val, depth + 1)?);
                }
                Value::Object(m)
            } else {
                // A repeated key keeps its first place and its last value,
                // as it does in an object.
                let mut at: HashMap<String, usize> = HashMap::new();
                let mut pairs: Vec<Value> = Vec::with_capacity(entries.len());
                for (ek, ev) in entries {
                    let key = to_json(r, fi, ek, k, depth + 1)?;
                    let value = to_json(r, fi, ev, val, depth + 1)?;
                    match at.get(&key.to_string()) {
                        Some(&i) => pairs[i] = Value::Array(vec![key, value]),
                        None => {
                            at.insert(key.to_string(), pairs.len());
                            pairs.push(Value::Array(vec![key, value]));
                        }
                    }
                }
                Value::Array(pairs)
            }
        }
        (Type::Struct(id), ConstValue::Map(entries)) => {
            let (sf, s, _) = r.struct_src[*id as usize];
            let mut m = Map::new();
            for (ek, ev) in entries {
                let ConstValue::String(key) = ek else {
                    return Err("struct constant keys must be field names".into());
                };
                let field = s
                    .fields
                    .iter()
                    .find(|f| f.name.as_str() == key.0)
                    .ok_or_else(|| format!("`{}` has no field `{}`", s.name.as_str(), key.0))?;
                let fty = r.resolve_type(sf, &field.ty, 0)?;
                m.insert(key.0.clone(), to_json(r, fi, ev, &fty, depth + 1)?);
            }
            Value::Object(m)
        }
        (ty, v) => {
            return Err(format!(
                "{} is not a valid {}",
                describe(v),
                r_type_name(ty)
            ));
        }
    })
}

/// An integer (or `true`/`false` as 1/0) as a value of a numeric type.
fn from_int(ty: &Type, n: i64) -> Result<Value, String> {
    let (lo, hi) = match ty {
        Type::Bool => return Ok(Value::Bool(n != 0)),
        Type::Double => return Ok(Value::from(n as f64)),
        Type::I8 => (i8::MIN as i64, i8::MAX as i64),
        Type::I16 => (i16::MIN as i64, i16::MAX as i64),
        Type::I32 | Type::Enum(_) => (i32::MIN as i64, i32::MAX as i64),
        Type::I64 => (i64::MIN, i64::MAX),
        other => return Err(format!("an integer is not a valid {}", r_type_name(other))),
    };
    if n < lo || n > hi {
        return Err(format!("{n} does not fit in {}", r_type_name(ty)));
    }
    Ok(Value::from(n))
}

fn path_value(
    r: &Resolver<'_>,
    fi: usize,
    p: &ast::Path,
    ty: &Type,
    depth: usize,
) -> Result<Value, String> {
    let segs: Vec<&str> = p.segments.iter().map(|s| s.as_str()).collect();
    let name = segs.join(".");
    if let Some((cf, Sym::Const(c))) = r.lookup(fi, &segs) {
        // The referenced literal is read as the type it is assigned to (in
        // its own file, for its names), so a string const fills a binary
        // field as base64 and an i64 const is range-checked for an i16.
        return to_json(r, cf, &c.value, ty, depth + 1);
    }
    let Some((last, head)) = segs.split_last().filter(|(_, h)| !h.is_empty()) else {
        return Err(format!("unknown constant `{name}`"));
    };
    if let Type::Enum(id) = ty {
        let e = &r.enums[*id as usize];
        if let Some(v) = e.value_of(last) {
            return Ok(Value::from(v));
        }
        return Err(format!(
            "enum `{}` has no value `{last}` (in `{name}`)",
            e.name
        ));
    }
    // An enum value is also an i32 constant.
    if let Some((_, Sym::Enum(id))) = r.lookup(fi, head) {
        let e = &r.enums[id as usize];
        let v = e
            .value_of(last)
            .ok_or_else(|| format!("enum `{}` has no value `{last}`", e.name))?;
        return from_int(ty, i64::from(v))
            .map_err(|_| format!("enum value `{name}` is not a valid {}", r_type_name(ty)));
    }
    Err(format!("unknown constant `{name}`"))
}

/// The canonical lowercase text of a uuid written as Apache Thrift accepts
/// it: `8-4-4-4-12` hex digits, optionally inside `{` `}`.
fn canonical_uuid(s: &str) -> Option<String> {
    let s = match s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(inner) if s.len() == 38 => inner,
        _ => s,
    };
    let ok = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    ok.then(|| s.to_ascii_lowercase())
}

fn r_type_name(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::I8 => "i8",
        Type::I16 => "i16",
        Type::I32 => "i32",
        Type::I64 => "i64",
        Type::Double => "double",
        Type::String => "string",
        Type::Binary => "binary",
        Type::Uuid => "uuid",
        Type::List(_) => "list",
        Type::Set(_) => "set",
        Type::Map(..) => "map",
        Type::Struct(_) => "struct",
        Type::Enum(_) => "enum",
    }
}

fn describe(v: &ConstValue) -> &'static str {
    match v {
        ConstValue::Bool(_) => "a bool",
        ConstValue::Path(_) => "a name",
        ConstValue::String(_) => "a string",
        ConstValue::Int(_) => "an integer",
        ConstValue::Double(_) => "a double",
        ConstValue::List(l) if l.is_empty() => "an empty list",
        ConstValue::List(_) => "a list",
        ConstValue::Map(m) if m.is_empty() => "an empty map",
        ConstValue::Map(_) => "a map",
    }
}
