//! Structure-aware targets of the JSON -> wire encoders: the input bytes,
//! read through `arbitrary`, choose an IDL (structs or messages of every
//! field kind, nested, in lists and maps) and a JSON value of its root
//! type; the value is encoded, decoded back, and must come back equal.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Value, json};

/// A field type of the generated IDLs (the same set for Thrift and
/// protobuf, each spelling it its way; `Set` is Thrift's alone).
#[derive(Debug, Clone)]
enum Ty {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U32,
    U64,
    Double,
    Float,
    Str,
    Bytes,
    Enum,
    List(Box<Ty>),
    Set(Box<Ty>),
    /// String or 32-bit integer keys.
    Map(bool, Box<Ty>),
    /// A struct or message declared before the one that holds it.
    Record(usize),
}

struct Idl {
    /// Each record's fields (number, type), declared in order.
    records: Vec<Vec<(u32, Ty)>>,
}

const MAX_RECORDS: usize = 4;
const MAX_FIELDS: usize = 6;
const MAX_ITEMS: usize = 4;

fn ty(u: &mut Unstructured, records: usize, depth: u32, proto: bool) -> Result<Ty> {
    let leaf = depth >= 2;
    let kinds = if leaf { 12 } else { 16 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Ty::Bool,
        1 if proto => Ty::U32,
        1 => Ty::I8,
        2 => Ty::I16,
        3 => Ty::I32,
        4 => Ty::I64,
        5 if proto => Ty::U64,
        5 => Ty::I32,
        6 => Ty::Double,
        7 if proto => Ty::Float,
        7 => Ty::Double,
        8 => Ty::Str,
        9 => Ty::Bytes,
        10 => Ty::Enum,
        11 if records > 0 => Ty::Record(u.choose_index(records)?),
        11 => Ty::Str,
        // Protobuf lists hold no lists or maps.
        12 if proto => Ty::List(Box::new(ty(u, records, 2, proto)?)),
        12 => Ty::List(Box::new(ty(u, records, depth + 1, proto)?)),
        // Protobuf has no sets, and lists or maps of them nest no further.
        13 if proto => Ty::List(Box::new(scalar(u, proto)?)),
        13 => Ty::Set(Box::new(scalar(u, proto)?)),
        14 if proto => Ty::Map(u.arbitrary()?, Box::new(nonrepeated(u, records, proto)?)),
        14 => Ty::Map(u.arbitrary()?, Box::new(ty(u, records, depth + 1, proto)?)),
        _ if records > 0 => Ty::Record(u.choose_index(records)?),
        _ => Ty::I64,
    })
}

fn scalar(u: &mut Unstructured, proto: bool) -> Result<Ty> {
    ty(u, 0, 2, proto).map(|t| match t {
        Ty::Bytes | Ty::Double | Ty::Float => Ty::I32,
        t => t,
    })
}

/// A map value type protobuf takes (no repeated values).
fn nonrepeated(u: &mut Unstructured, records: usize, proto: bool) -> Result<Ty> {
    ty(u, records, 2, proto)
}

fn idl(u: &mut Unstructured, proto: bool) -> Result<Idl> {
    let n = u.int_in_range(1..=MAX_RECORDS)?;
    let mut records = Vec::new();
    for i in 0..n {
        let mut fields = Vec::new();
        for f in 0..u.int_in_range(0..=MAX_FIELDS)? {
            fields.push((f as u32 + 1, ty(u, i, 0, proto)?));
        }
        records.push(fields);
    }
    Ok(Idl { records })
}

fn thrift_type(t: &Ty) -> String {
    match t {
        Ty::Bool => "bool".into(),
        Ty::I8 => "byte".into(),
        Ty::I16 => "i16".into(),
        Ty::I32 | Ty::U32 => "i32".into(),
        Ty::I64 | Ty::U64 => "i64".into(),
        Ty::Double | Ty::Float => "double".into(),
        Ty::Str => "string".into(),
        Ty::Bytes => "binary".into(),
        Ty::Enum => "E".into(),
        Ty::List(e) => format!("list<{}>", thrift_type(e)),
        Ty::Set(e) => format!("set<{}>", thrift_type(e)),
        Ty::Map(s, v) => format!(
            "map<{}, {}>",
            if *s { "string" } else { "i32" },
            thrift_type(v)
        ),
        Ty::Record(i) => format!("R{i}"),
    }
}

fn proto_type(t: &Ty) -> String {
    match t {
        Ty::Bool => "bool".into(),
        Ty::I8 | Ty::I16 => "sint32".into(),
        Ty::I32 => "int32".into(),
        Ty::U32 => "fixed32".into(),
        Ty::I64 => "sfixed64".into(),
        Ty::U64 => "uint64".into(),
        Ty::Double => "double".into(),
        Ty::Float => "float".into(),
        Ty::Str => "string".into(),
        Ty::Bytes => "bytes".into(),
        Ty::Enum => "E".into(),
        Ty::List(e) | Ty::Set(e) => format!("repeated {}", proto_type(e)),
        Ty::Map(s, v) => format!(
            "map<{}, {}>",
            if *s { "string" } else { "int32" },
            proto_type(v)
        ),
        Ty::Record(i) => format!("R{i}"),
    }
}

/// A JSON value of type `t`, as both codecs write it back (protobuf with
/// 64-bit integers as numbers and enums by number).
fn value(u: &mut Unstructured, idl: &Idl, t: &Ty, proto: bool, depth: u32) -> Result<Value> {
    Ok(match t {
        Ty::Bool => json!(u.arbitrary::<bool>()?),
        Ty::I8 => json!(u.arbitrary::<i8>()?),
        Ty::I16 => json!(u.arbitrary::<i16>()?),
        Ty::I32 => json!(u.arbitrary::<i32>()?),
        Ty::U32 => json!(u.arbitrary::<u32>()?),
        Ty::I64 => json!(u.arbitrary::<i64>()?),
        Ty::U64 => json!(u.arbitrary::<u64>()?),
        // Quarters: exact in binary, written back the same way.
        Ty::Double => json!(u.arbitrary::<i32>()? as f64 / 4.0),
        Ty::Float => json!(u.arbitrary::<i16>()? as f64 / 4.0),
        Ty::Str => json!(u.arbitrary::<String>()?),
        Ty::Bytes => {
            use base64::Engine as _;
            json!(base64::engine::general_purpose::STANDARD.encode(u.arbitrary::<Vec<u8>>()?))
        }
        Ty::Enum => json!([1, 2, 7][u.choose_index(3)?]),
        Ty::List(e) => {
            let n = u.int_in_range(0..=MAX_ITEMS)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(value(u, idl, e, proto, depth + 1)?);
            }
            Value::Array(items)
        }
        Ty::Set(e) => {
            let mut items: Vec<Value> = Vec::new();
            for _ in 0..u.int_in_range(0..=MAX_ITEMS)? {
                let v = value(u, idl, e, proto, depth + 1)?;
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            Value::Array(items)
        }
        Ty::Map(string_keys, v) => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=MAX_ITEMS)? {
                let k = if *string_keys {
                    u.arbitrary::<String>()?
                } else {
                    u.arbitrary::<i32>()?.to_string()
                };
                m.insert(k, value(u, idl, v, proto, depth + 1)?);
            }
            Value::Object(m)
        }
        Ty::Record(i) => record(u, idl, *i, proto, depth + 1)?,
    })
}

fn record(u: &mut Unstructured, idl: &Idl, i: usize, proto: bool, depth: u32) -> Result<Value> {
    let mut m = Map::new();
    for (n, t) in &idl.records[i] {
        if depth < 6 && u.arbitrary::<bool>()? {
            m.insert(format!("f{n}"), value(u, idl, t, proto, depth)?);
        }
    }
    Ok(Value::Object(m))
}

/// What proto3 JSON leaves out: fields holding their default value.
fn without_defaults(v: &Value, idl: &Idl, t: &Ty) -> Option<Value> {
    let zero = match (t, v) {
        (_, Value::Bool(false)) => true,
        (_, Value::Number(n)) => n.as_f64() == Some(0.0),
        (_, Value::String(s)) => s.is_empty(),
        (_, Value::Array(a)) => a.is_empty(),
        (Ty::Map(..), Value::Object(m)) => m.is_empty(),
        _ => false,
    };
    if zero {
        return None;
    }
    Some(match (t, v) {
        (Ty::List(e) | Ty::Set(e), Value::Array(a)) => Value::Array(
            a.iter()
                .map(|x| without_defaults(x, idl, e).unwrap_or_else(|| zero_of(e)))
                .collect(),
        ),
        (Ty::Map(_, vt), Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    (
                        k.clone(),
                        without_defaults(x, idl, vt).unwrap_or_else(|| zero_of(vt)),
                    )
                })
                .collect(),
        ),
        (Ty::Record(i), Value::Object(m)) => Value::Object(
            idl.records[*i]
                .iter()
                .filter_map(|(n, ft)| {
                    let k = format!("f{n}");
                    let x = m.get(&k)?;
                    Some((k, without_defaults(x, idl, ft)?))
                })
                .collect(),
        ),
        _ => v.clone(),
    })
}

/// A default value where it is written anyway (a list element, a map value).
fn zero_of(t: &Ty) -> Value {
    match t {
        Ty::Bool => json!(false),
        Ty::Str | Ty::Bytes => json!(""),
        Ty::Record(_) => json!({}),
        Ty::Enum => json!(0),
        _ => json!(0),
    }
}

/// A Thrift IDL of structs and a JSON value of its last one, in Binary
/// or Compact: encoded, decoded, and equal.
pub fn thrift_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(compact) = u.arbitrary::<bool>() else {
        return;
    };
    let Ok(g) = idl(&mut u, false) else { return };
    let mut text = String::from("enum E { A = 1, B = 2, C = 7 }\n");
    for (i, fields) in g.records.iter().enumerate() {
        text.push_str(&format!("struct R{i} {{\n"));
        for (n, t) in fields {
            text.push_str(&format!("  {n}: optional {} f{n}\n", thrift_type(t)));
        }
        text.push_str("}\n");
    }
    let root = g.records.len() - 1;
    let Ok(want) = record(&mut u, &g, root, false, 0) else {
        return;
    };
    let schema = idl::thrift::load(
        "gen.thrift",
        &idl::MemoryFiles::new([("gen.thrift", text.as_str())]),
    )
    .unwrap_or_else(|e| panic!("the generated IDL loads: {e}\n{text}"));
    let sid = schema
        .struct_by_name(&format!("R{root}"))
        .expect("the root struct");
    let proto = if compact {
        codecs::thrift::Protocol::Compact
    } else {
        codecs::thrift::Protocol::Binary
    };
    let json = serde_json::to_vec(&want).unwrap();
    let mut wire = Vec::new();
    codecs::thrift::encode_struct(proto, &schema, sid, &json, &Default::default(), &mut wire)
        .unwrap_or_else(|e| panic!("{want} encodes: {e}\n{text}"));
    let mut back = Vec::new();
    codecs::thrift::decode_struct(proto, &schema, sid, &wire, &Default::default(), &mut back)
        .unwrap_or_else(|e| panic!("{want} decodes back: {e}\n{text}"));
    let got: Value = serde_json::from_slice(&back).expect("the decoder writes JSON");
    assert!(
        same(&got, &want),
        "round trip: {want} came back as {got} through\n{text}"
    );
}

/// A proto3 file of messages and a JSON value of its last one: encoded,
/// decoded (64-bit integers as numbers, enums by number), and equal but
/// for the defaults proto3 leaves out.
pub fn protobuf_roundtrip(data: &[u8]) {
    use codecs::protobuf::{PbDecodeOptions, json_to_message, message_to_json};
    let mut u = Unstructured::new(data);
    let Ok(g) = idl(&mut u, true) else { return };
    let mut text = String::from(
        "syntax = \"proto3\";\npackage gen;\nenum E { Z = 0; A = 1; B = 2; C = 7; }\n",
    );
    for (i, fields) in g.records.iter().enumerate() {
        text.push_str(&format!("message R{i} {{\n"));
        for (n, t) in fields {
            text.push_str(&format!("  {} f{n} = {n};\n", proto_type(t)));
        }
        text.push_str("}\n");
    }
    let root = g.records.len() - 1;
    let Ok(input) = record(&mut u, &g, root, true, 0) else {
        return;
    };
    let schema = idl::proto::load(
        "gen.proto",
        &idl::MemoryFiles::new([("gen.proto", text.as_str())]),
    )
    .unwrap_or_else(|e| panic!("the generated .proto loads: {e}\n{text}"));
    let desc = schema
        .pool
        .get_message_by_name(&format!("gen.R{root}"))
        .expect("the root message");
    let json = serde_json::to_vec(&input).unwrap();
    let mut wire = Vec::new();
    json_to_message(&desc, &json, &Default::default(), &mut wire)
        .unwrap_or_else(|e| panic!("{input} encodes: {e}\n{text}"));
    let opts = PbDecodeOptions {
        int64_as_number: true,
        enum_as_number: true,
        ..Default::default()
    };
    let mut back = Vec::new();
    message_to_json(&desc, &wire, &opts, &mut back)
        .unwrap_or_else(|e| panic!("{input} decodes back: {e}\n{text}"));
    let got: Value = serde_json::from_slice(&back).expect("the decoder writes JSON");
    let want = without_defaults(&input, &g, &Ty::Record(root)).unwrap_or_else(|| json!({}));
    assert!(
        same(&got, &want),
        "round trip: {want} came back as {got} through\n{text}"
    );
}

/// JSON equality with numbers compared by value (`2.0` and `2` are one).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
