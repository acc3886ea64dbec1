//! `api.vd` checks of requests described by a Thrift IDL (Thrift and Dubbo
//! backends): the request's value (its JSON body with the bound HTTP
//! values laid over it, typed as the IDL says) walked field by field,
//! nested structs included, before the call is made.
//!
//! A field the request leaves out has the value generated Go code gives
//! it: `nil` when optional, else its type's zero (`0`, `''`, `false`).
//! `(Name)$` finds a sibling by its IDL name, its JSON key, or the Go name
//! Hertz generates for it (`user_id` -> `UserId`).

use std::collections::HashSet;

use codecs::thrift::{Bound, BoundValue};
use idl::{Requiredness, Schema, StructId, Type};
use serde_json::{Map, Value};

use crate::error::{ApiError, Failure};

/// Whether a struct, or one it holds, has a field with an `api.vd` rule.
pub fn has_rules(schema: &Schema, sid: StructId) -> bool {
    fn walk(schema: &Schema, ty: &Type, seen: &mut HashSet<StructId>) -> bool {
        match ty {
            Type::Struct(id) => {
                seen.insert(*id)
                    && schema
                        .struct_def(*id)
                        .fields
                        .iter()
                        .any(|f| f.vd.is_some() || walk(schema, &f.ty, seen))
            }
            Type::List(t) | Type::Set(t) => walk(schema, t, seen),
            Type::Map(k, v) => walk(schema, k, seen) || walk(schema, v, seen),
            _ => false,
        }
    }
    walk(schema, &Type::Struct(sid), &mut HashSet::new())
}

/// Checks every rule of the request struct `sid` against the request: its
/// JSON body (`json`) with `bound` values over it. The error names the
/// field and the failed rule (or the rule's message).
pub fn check(
    schema: &Schema,
    sid: StructId,
    json: &[u8],
    bound: &[Bound<'_>],
) -> Result<(), ApiError> {
    let mut obj = if json.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(json) {
            Ok(Value::Object(m)) => m,
            // The encoder names what is wrong with the body.
            _ => return Ok(()),
        }
    };
    let fields = &schema.struct_def(sid).fields;
    for b in bound {
        let Some(f) = fields.get(b.field) else {
            continue;
        };
        match &b.value {
            BoundValue::Missing => {
                obj.remove(&f.json_name);
            }
            v => {
                obj.insert(f.json_name.clone(), typed(&f.ty, v));
            }
        }
    }
    walk(schema, sid, &obj, &mut "$".to_string()).map_err(|m| ApiError::from(Failure::Input(m)))
}

fn walk(
    schema: &Schema,
    sid: StructId,
    obj: &Map<String, Value>,
    path: &mut String,
) -> Result<(), String> {
    let def = schema.struct_def(sid);
    let value_of = |f: &idl::Field| match obj.get(&f.json_name) {
        Some(Value::Null) | None if f.required == Requiredness::Optional => Value::Null,
        Some(Value::Null) | None => zero(&f.ty),
        Some(v) => normal(&f.ty, v),
    };
    for f in &def.fields {
        let len = path.len();
        path.push('.');
        path.push_str(&f.json_name);
        let v = value_of(f);
        if let Some(rule) = &f.vd {
            let sibling = |name: &str| sibling(schema, sid, obj, name);
            rule.check(&v, &sibling)
                .map_err(|m| format!("{path}: {m}"))?;
        }
        inner(schema, &f.ty, &v, path)?;
        path.truncate(len);
    }
    Ok(())
}

/// Walks the structs a value of `ty` holds.
fn inner(schema: &Schema, ty: &Type, v: &Value, path: &mut String) -> Result<(), String> {
    match (ty, v) {
        (Type::Struct(id), Value::Object(m)) => walk(schema, *id, m, path),
        (Type::List(t) | Type::Set(t), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                inner(schema, t, item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Type::Map(_, t), Value::Object(m)) => {
            for (k, item) in m {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                inner(schema, t, item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The field at a dotted name from struct `sid` (IDL, JSON or Go names).
fn sibling(schema: &Schema, sid: StructId, obj: &Map<String, Value>, name: &str) -> Option<Value> {
    let (first, rest) = match name.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (name, None),
    };
    let f =
        schema.struct_def(sid).fields.iter().find(|f| {
            f.name == first || f.json_name == first || idl::vd::go_name(&f.name) == first
        })?;
    let v = match obj.get(&f.json_name) {
        Some(v) if !v.is_null() => normal(&f.ty, v),
        _ if f.required == Requiredness::Optional => Value::Null,
        _ => zero(&f.ty),
    };
    match (rest, &f.ty, &v) {
        (None, _, _) => Some(v),
        (Some(rest), Type::Struct(id), Value::Object(m)) => sibling(schema, *id, m, rest),
        _ => Some(Value::Null),
    }
}

/// The value generated code holds for an unset field of `ty`.
fn zero(ty: &Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(false),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Double | Type::Enum(_) => {
            Value::from(0)
        }
        Type::String | Type::Binary | Type::Uuid => Value::String(String::new()),
        _ => Value::Null,
    }
}

/// A JSON value as the rules see it: integers written as strings
/// (`api.js_conv`, `i64_as_string`) are numbers.
fn normal(ty: &Type, v: &Value) -> Value {
    match (ty, v) {
        (Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Double, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

/// A bound HTTP value as JSON of `ty`.
fn typed(ty: &Type, v: &BoundValue<'_>) -> Value {
    let text = |t: &str| -> Value {
        match ty {
            Type::Bool => match t {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => Value::String(t.to_string()),
            },
            Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Double => t
                .trim()
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(t.to_string())),
            Type::Struct(_) | Type::Map(..) => {
                serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string()))
            }
            _ => Value::String(t.to_string()),
        }
    };
    match (ty, v) {
        (Type::List(t) | Type::Set(t), BoundValue::List(items)) => items
            .iter()
            .map(|i| typed(t, &BoundValue::Text(i.clone())))
            .collect(),
        (Type::List(t) | Type::Set(t), BoundValue::Text(s)) if !s.trim_start().starts_with('[') => {
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(|p| typed(t, &BoundValue::Text(p.into())))
                .collect()
        }
        (Type::List(_) | Type::Set(_), BoundValue::Text(s)) => {
            serde_json::from_str(s).unwrap_or(Value::Null)
        }
        (_, BoundValue::Text(s)) => text(s),
        (_, BoundValue::List(items)) => items.first().map_or(Value::Null, |s| text(s)),
        (_, BoundValue::Raw(r)) => Value::String(String::from_utf8_lossy(r).into_owned()),
        (_, BoundValue::Missing) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn schema() -> Schema {
        let files = idl::MemoryFiles::new([(
            "main.thrift",
            r#"struct Inner { 1: string code (api.vd = "regexp('^[A-Z]{2}$')") }
            struct Req {
                1: i64 user_id (api.query = "uid", api.vd = "$>0")
                2: string name (api.vd = "len($)<=4; msg:'name: at most 4 bytes'")
                3: optional string nick (api.vd = "$==nil || (UserId)$>10")
                4: list<Inner> items
                5: list<i32> tags (api.query = "tag", api.vd = "len($)<=2")
            }
            service S { void a(1: Req r) }"#,
        )]);
        idl::thrift::load("main.thrift", &files).unwrap()
    }

    fn run(json: &str, bound: &[Bound<'_>]) -> Result<(), String> {
        let s = schema();
        let sid = s.struct_by_name("Req").unwrap();
        assert!(has_rules(&s, sid));
        check(&s, sid, json.as_bytes(), bound).map_err(|e| e.message().to_string())
    }

    fn text(field: usize, t: &str) -> Bound<'_> {
        Bound {
            field,
            value: BoundValue::Text(Cow::Borrowed(t)),
        }
    }

    #[test]
    fn rules_over_body_and_bound_values() {
        assert_eq!(run(r#"{"user_id": 5}"#, &[]), Ok(()));
        // Bound values are typed as the IDL says, and win over the body.
        assert_eq!(run(r#"{"user_id": 5}"#, &[text(0, "7")]), Ok(()));
        let e = run(r#"{"user_id": 5}"#, &[text(0, "0")]).unwrap_err();
        assert_eq!(e, "$.user_id: fails api.vd \"$>0\"");
        // Unset: the zero value.
        assert!(run("{}", &[]).unwrap_err().contains("$.user_id"));
        // js_conv strings are numbers.
        assert_eq!(run(r#"{"user_id": "3"}"#, &[]), Ok(()));
        assert_eq!(
            run(r#"{"user_id": 1, "name": "toolong"}"#, &[]).unwrap_err(),
            "$.name: name: at most 4 bytes"
        );
        // Siblings by their Go name; optional unset is nil.
        assert_eq!(run(r#"{"user_id": 1, "nick": null}"#, &[]), Ok(()));
        assert!(run(r#"{"user_id": 1, "nick": "x"}"#, &[]).is_err());
        assert_eq!(run(r#"{"user_id": 11, "nick": "x"}"#, &[]), Ok(()));
        // Nested structs in lists.
        let e = run(
            r#"{"user_id": 1, "items": [{"code": "AB"}, {"code": "abc"}]}"#,
            &[],
        )
        .unwrap_err();
        assert!(e.starts_with("$.items[1].code: "), "{e}");
        // A repeated query parameter is a list.
        let many = Bound {
            field: 4,
            value: BoundValue::List(vec!["1".into(), "2".into(), "3".into()]),
        };
        assert!(
            run(r#"{"user_id": 1}"#, &[many])
                .unwrap_err()
                .starts_with("$.tags")
        );
        assert_eq!(run(r#"{"user_id": 1}"#, &[text(4, "1,2")]), Ok(()));
    }
}
