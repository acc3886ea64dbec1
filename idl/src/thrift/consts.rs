//! Constant values and field defaults as JSON, shaped by the type they are
//! assigned to: enum names become numbers, binary becomes base64, maps with
//! non-object keys become `[key, value]` pairs, const references are followed.

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
    Ok(match (ty, v) {
        (Type::Bool, ConstValue::Bool(b)) => Value::Bool(*b),
        (Type::Bool, ConstValue::Int(i)) => Value::Bool(i.0 != 0),
        (Type::I8 | Type::I16 | Type::I32 | Type::I64, ConstValue::Int(i)) => {
            let (lo, hi) = int_range(ty);
            if i.0 < lo || i.0 > hi {
                return Err(format!("{} does not fit in {}", i.0, r_type_name(ty)));
            }
            Value::from(i.0)
        }
        (Type::Enum(id), ConstValue::Int(i)) => {
            let _ = &r.enums[*id as usize];
            Value::from(i.0)
        }
        (Type::Double, ConstValue::Int(i)) => Value::from(i.0 as f64),
        (Type::Double, ConstValue::Double(d)) => {
            let f: f64 = d.0.parse().map_err(|_| format!("bad double `{}`", d.0))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or("double is not finite")?
        }
        (Type::String | Type::Uuid, ConstValue::String(s)) => Value::String(s.0.clone()),
        (Type::Binary, ConstValue::String(s)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(s.0.as_bytes()))
        }
        (Type::List(t) | Type::Set(t), ConstValue::List(items)) => Value::Array(
            items
                .iter()
                .map(|i| to_json(r, fi, i, t, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
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
                Value::Array(
                    entries
                        .iter()
                        .map(|(ek, ev)| {
                            Ok(Value::Array(vec![
                                to_json(r, fi, ek, k, depth + 1)?,
                                to_json(r, fi, ev, val, depth + 1)?,
                            ]))
                        })
                        .collect::<Result<_, String>>()?,
                )
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
        let cty = r.resolve_type(cf, &c.r#type, 0)?;
        let v = to_json(r, cf, &c.value, &cty, depth + 1)?;
        return Ok(v);
    }
    // Enum values: `Enum.VALUE` or `include.Enum.VALUE`.
    if let Some((last, head)) = segs.split_last()
        && let Some((_, Sym::Enum(id))) = r.lookup(fi, head)
    {
        let e = &r.enums[id as usize];
        let v = e
            .value_of(last)
            .ok_or_else(|| format!("enum `{}` has no value `{last}`", e.name))?;
        if !matches!(
            ty,
            Type::Enum(_) | Type::I8 | Type::I16 | Type::I32 | Type::I64
        ) {
            return Err(format!(
                "enum value `{name}` is not a valid {}",
                r_type_name(ty)
            ));
        }
        return Ok(Value::from(v));
    }
    Err(format!("unknown constant `{name}`"))
}

fn int_range(ty: &Type) -> (i64, i64) {
    match ty {
        Type::I8 => (i8::MIN as i64, i8::MAX as i64),
        Type::I16 => (i16::MIN as i64, i16::MAX as i64),
        Type::I32 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
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
        ConstValue::List(_) => "a list",
        ConstValue::Map(_) => "a map",
    }
}
