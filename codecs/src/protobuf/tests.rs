use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, MessageOptions, OneofDescriptorProto,
};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::{Value, json};

use super::kitex::{self, MessageType};
use super::*;
use crate::CodecError;
use crate::framing::{Transport, decode_frame, ttheader};
use crate::thrift::Protocol;

// ---------------------------------------------------------------- descriptors

fn field(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(Into::into),
        ..Default::default()
    }
}

fn repeated(mut f: FieldDescriptorProto) -> FieldDescriptorProto {
    f.label = Some(Label::Repeated as i32);
    f
}

fn in_oneof(mut f: FieldDescriptorProto, index: i32) -> FieldDescriptorProto {
    f.oneof_index = Some(index);
    f
}

fn map_entry(name: &str, key: Type, value: Type, value_type: Option<&str>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field: vec![
            field("key", 1, key, None),
            field("value", 2, value, value_type),
        ],
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn message(name: &str, field: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field,
        ..Default::default()
    }
}

/// `test.proto` (proto3), built by hand:
///
/// ```proto
/// enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
/// message Inner { string name = 1; int32 n = 2; Color tone = 3; }
/// message All { double f_double = 1; … bytes f_bytes = 15; Color color = 16;
///   Inner inner = 17; repeated int32 nums = 18; repeated Inner items = 19;
///   map<string, int64> counts = 20; map<int32, Inner> by_id = 21;
///   oneof choice { string text = 22; Inner boxed = 23; }
///   google.protobuf.Timestamp at = 24; google.protobuf.Duration took = 25;
///   google.protobuf.Struct extra = 26; repeated string tags = 27;
///   repeated Color colors = 28; map<string, Color> palette = 29; }
/// message Node { Node child = 1; int32 v = 2; }
/// message GreetRequest { string req = 1; }
/// ```
fn pool() -> DescriptorPool {
    let scalars = [
        ("f_double", Type::Double),
        ("f_float", Type::Float),
        ("f_int32", Type::Int32),
        ("f_int64", Type::Int64),
        ("f_uint32", Type::Uint32),
        ("f_uint64", Type::Uint64),
        ("f_sint32", Type::Sint32),
        ("f_sint64", Type::Sint64),
        ("f_fixed32", Type::Fixed32),
        ("f_fixed64", Type::Fixed64),
        ("f_sfixed32", Type::Sfixed32),
        ("f_sfixed64", Type::Sfixed64),
        ("f_bool", Type::Bool),
        ("f_string", Type::String),
        ("f_bytes", Type::Bytes),
    ];
    let mut all_fields: Vec<_> = scalars
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| field(name, i as i32 + 1, *ty, None))
        .collect();
    all_fields.extend([
        field("color", 16, Type::Enum, Some(".test.Color")),
        field("inner", 17, Type::Message, Some(".test.Inner")),
        repeated(field("nums", 18, Type::Int32, None)),
        repeated(field("items", 19, Type::Message, Some(".test.Inner"))),
        repeated(field(
            "counts",
            20,
            Type::Message,
            Some(".test.All.CountsEntry"),
        )),
        repeated(field(
            "by_id",
            21,
            Type::Message,
            Some(".test.All.ByIdEntry"),
        )),
        in_oneof(field("text", 22, Type::String, None), 0),
        in_oneof(field("boxed", 23, Type::Message, Some(".test.Inner")), 0),
        field("at", 24, Type::Message, Some(".google.protobuf.Timestamp")),
        field("took", 25, Type::Message, Some(".google.protobuf.Duration")),
        field("extra", 26, Type::Message, Some(".google.protobuf.Struct")),
        repeated(field("tags", 27, Type::String, None)),
        repeated(field("colors", 28, Type::Enum, Some(".test.Color"))),
        repeated(field(
            "palette",
            29,
            Type::Message,
            Some(".test.All.PaletteEntry"),
        )),
    ]);
    let mut all = message("All", all_fields);
    all.nested_type = vec![
        map_entry("CountsEntry", Type::String, Type::Int64, None),
        map_entry("ByIdEntry", Type::Int32, Type::Message, Some(".test.Inner")),
        map_entry(
            "PaletteEntry",
            Type::String,
            Type::Enum,
            Some(".test.Color"),
        ),
    ];
    all.oneof_decl = vec![OneofDescriptorProto {
        name: Some("choice".into()),
        ..Default::default()
    }];
    let file = FileDescriptorProto {
        name: Some("test.proto".into()),
        package: Some("test".into()),
        syntax: Some("proto3".into()),
        dependency: vec![
            "google/protobuf/timestamp.proto".into(),
            "google/protobuf/duration.proto".into(),
            "google/protobuf/struct.proto".into(),
        ],
        enum_type: vec![EnumDescriptorProto {
            name: Some("Color".into()),
            value: ["COLOR_UNSPECIFIED", "RED", "GREEN"]
                .iter()
                .enumerate()
                .map(|(i, n)| EnumValueDescriptorProto {
                    name: Some(n.to_string()),
                    number: Some(i as i32),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        message_type: vec![
            message(
                "Inner",
                vec![
                    field("name", 1, Type::String, None),
                    field("n", 2, Type::Int32, None),
                    field("tone", 3, Type::Enum, Some(".test.Color")),
                ],
            ),
            all,
            message(
                "Node",
                vec![
                    field("child", 1, Type::Message, Some(".test.Node")),
                    field("v", 2, Type::Int32, None),
                ],
            ),
            message("GreetRequest", vec![field("req", 1, Type::String, None)]),
        ],
        ..Default::default()
    };
    // The global pool holds the well-known types.
    let mut pool = DescriptorPool::global();
    pool.add_file_descriptor_proto(file).unwrap();
    pool
}

fn desc(name: &str) -> MessageDescriptor {
    pool().get_message_by_name(name).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// The reference vectors, `shared/specs/vectors/kitex_vectors.txt`.
const V_FRAMED: &str =
    "00 00 00 18 90 01 00 01 00 00 00 05 47 72 65 65 74 00 00 00 01 0a 05 77 6f 72 6c 64";
const V_TTHEADER: &str = "00 00 00 3e 10 00 00 00 00 00 00 01 00 06 00 00 01 00 01 00 03 69 73 6e 00 0c 47 72 65 65 74 53 65 72 76 69 63 65 00 00 00 18 90 01 00 01 00 00 00 05 47 72 65 65 74 00 00 00 01 0a 05 77 6f 72 6c 64";
const V_EXCEPTION: &str = "00 00 00 23 90 01 00 03 00 00 00 05 47 72 65 65 74 00 00 00 01 08 01 12 0e 75 6e 6b 6e 6f 77 6e 20 6d 65 74 68 6f 64";
const V_GRPC: &str = "00 00 00 00 07 0a 05 77 6f 72 6c 64";
const WORLD: &[u8] = b"\x0a\x05world";

fn to_pb(name: &str, json: &str) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    json_to_message(
        &desc(name),
        json.as_bytes(),
        &PbEncodeOptions::default(),
        &mut out,
    )?;
    Ok(out)
}

fn to_json(name: &str, bytes: &[u8], opts: &PbDecodeOptions) -> Result<Value, CodecError> {
    let mut out = Vec::new();
    message_to_json(&desc(name), bytes, opts, &mut out)?;
    Ok(serde_json::from_slice(&out).unwrap())
}

// ----------------------------------------------------------------------- JSON

const RICH: &str = r#"{
    "fDouble": 1.5, "fFloat": -2.25, "fInt32": -7, "fInt64": "-9007199254740993",
    "fUint32": 4294967295, "fUint64": "18446744073709551615", "fSint32": -1,
    "fSint64": "-2", "fFixed32": 3, "fFixed64": "4", "fSfixed32": -5, "fSfixed64": "-6",
    "fBool": true, "fString": "héllo \"x\"", "fBytes": "AQID/w==",
    "color": "GREEN", "inner": {"name": "in", "n": 1},
    "nums": [1, -2, 3], "items": [{"name": "a"}, {"n": 2}],
    "counts": {"x": "1", "y": "-2"}, "byId": {"7": {"name": "seven"}, "-1": {}},
    "boxed": {"name": "b"},
    "at": "2024-01-02T03:04:05.500Z", "took": "1.500s",
    "extra": {"s": "v", "n": 1.5, "b": false, "z": null, "l": [1.25, "two", {"k": []}]},
    "tags": ["t1", ""], "colors": ["RED", "COLOR_UNSPECIFIED", "GREEN"]
}"#;

#[test]
fn every_kind_of_field_round_trips() {
    let bytes = to_pb("test.All", RICH).unwrap();
    let out = to_json("test.All", &bytes, &PbDecodeOptions::default()).unwrap();
    // Canonical proto3 JSON: camelCase keys, 64-bit integers as strings.
    let want: Value = serde_json::from_str(RICH).unwrap();
    assert_eq!(out, want, "{out:#}");
    // And back again to the same message.
    let again = to_pb("test.All", &out.to_string()).unwrap();
    let d = desc("test.All");
    assert_eq!(
        DynamicMessage::decode(d.clone(), &*bytes).unwrap(),
        DynamicMessage::decode(d, &*again).unwrap()
    );
    // Proto field names, numbers for 64-bit integers and enums.
    let opts = PbDecodeOptions {
        proto_field_names: true,
        int64_as_number: true,
        enum_as_number: true,
        ..Default::default()
    };
    let out = to_json("test.All", &bytes, &opts).unwrap();
    assert_eq!(out["f_int64"], json!(-9007199254740993i64));
    assert_eq!(out["f_uint64"], json!(u64::MAX));
    assert_eq!(out["counts"], json!({"x": 1, "y": -2}));
    assert_eq!(out["color"], json!(2));
    assert_eq!(out["colors"], json!([1, 0, 2]));
    assert_eq!(out["by_id"]["7"], json!({"name": "seven"}));
    assert_eq!(out["boxed"], json!({"name": "b"}));
    assert!(out.get("fInt64").is_none());
}

#[test]
fn greet_request_bytes() {
    assert_eq!(
        to_pb("test.GreetRequest", r#"{"req":"world"}"#).unwrap(),
        WORLD
    );
    let out = to_json("test.GreetRequest", WORLD, &PbDecodeOptions::default()).unwrap();
    assert_eq!(out, json!({"req": "world"}));
}

#[test]
fn accepts_proto_names_numbers_strings_and_nulls() {
    let a = to_pb(
        "test.All",
        r#"{"f_int64": 5, "f_uint64": 6, "color": 1, "f_double": "2.5", "by_id": {"3": {"n": "4"}},
            "f_string": null, "inner": null, "colors": [2, "RED"]}"#,
    )
    .unwrap();
    let b = to_pb(
        "test.All",
        r#"{"fInt64": "5", "fUint64": "6", "color": "RED", "fDouble": 2.5, "byId": {"3": {"n": 4}},
            "colors": ["GREEN", 1]}"#,
    )
    .unwrap();
    let d = desc("test.All");
    assert_eq!(
        DynamicMessage::decode(d.clone(), &*a).unwrap(),
        DynamicMessage::decode(d, &*b).unwrap()
    );
    // Special floats by name; unknown enum numbers are kept.
    let bytes = to_pb(
        "test.All",
        r#"{"fDouble": "NaN", "fFloat": "-Infinity", "color": 9}"#,
    )
    .unwrap();
    let out = to_json("test.All", &bytes, &PbDecodeOptions::default()).unwrap();
    assert_eq!(
        out,
        json!({"fDouble": "NaN", "fFloat": "-Infinity", "color": 9})
    );
}

#[test]
fn empty_body_is_the_empty_message() {
    for body in ["", "  \n", "{}"] {
        assert_eq!(to_pb("test.All", body).unwrap(), b"", "{body:?}");
    }
    let out = to_json("test.All", b"", &PbDecodeOptions::default()).unwrap();
    assert_eq!(out, json!({}));
}

#[test]
fn emit_defaults_writes_every_field() {
    let opts = PbDecodeOptions {
        emit_defaults: true,
        ..Default::default()
    };
    let out = to_json("test.All", b"", &opts).unwrap();
    assert_eq!(out["fInt32"], json!(0));
    assert_eq!(out["fInt64"], json!("0"));
    assert_eq!(out["fString"], json!(""));
    assert_eq!(out["color"], json!("COLOR_UNSPECIFIED"));
    assert_eq!(out["nums"], json!([]));
    assert_eq!(out["counts"], json!({}));
    // Unset messages stay out (they have no default value to show).
    assert!(out.get("inner").is_none(), "{out}");
}

#[test]
fn appends_to_out_and_keeps_it_on_error() {
    let d = desc("test.GreetRequest");
    let mut out = b"xy".to_vec();
    json_to_message(
        &d,
        br#"{"req":"world"}"#,
        &PbEncodeOptions::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[2..], WORLD);
    let mut out = b"[".to_vec();
    message_to_json(&d, WORLD, &PbDecodeOptions::default(), &mut out).unwrap();
    assert_eq!(out, br#"[{"req":"world"}"#);
    let mut out = b"[".to_vec();
    assert!(message_to_json(&d, b"\x0a\x05wor", &PbDecodeOptions::default(), &mut out).is_err());
    assert_eq!(out, b"[");
    let mut out = b"xy".to_vec();
    assert!(json_to_message(&d, b"{\"zz\":1}", &PbEncodeOptions::default(), &mut out).is_err());
    assert_eq!(out, b"xy");
}

#[test]
fn input_errors_name_the_json_path() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"fInt32":"x"}"#, "$.fInt32", "invalid digit"),
        (r#"{"fInt32":1.5}"#, "$.fInt32", "expected integer"),
        (r#"{"f_int32":true}"#, "$.f_int32", "invalid type: boolean"),
        (r#"{"fInt32":4294967296}"#, "$.fInt32", ""),
        (
            r#"{"items":[{"n":1},{"n":"q"}]}"#,
            "$.items[1].n",
            "invalid digit",
        ),
        (r#"{"nums":[1,2,[3]]}"#, "$.nums[2]", "invalid type"),
        (r#"{"byId":{"7":{"n":true}}}"#, "$.byId.7.n", "invalid type"),
        (r#"{"byId":{"x":{}}}"#, "$.byId.x", "invalid digit"),
        (r#"{"counts":{"a":"1x"}}"#, "$.counts.a", "invalid digit"),
        (
            r#"{"inner":{"zzz":1}}"#,
            "$.inner.zzz",
            "unrecognized field name 'zzz'",
        ),
        (
            r#"{"zzz":{"deep":[1]}}"#,
            "$.zzz",
            "unrecognized field name 'zzz'",
        ),
        (
            r#"{"color":"PINK"}"#,
            "$.color",
            "unrecognized enum value 'PINK'",
        ),
        (
            r#"{"colors":["RED","PINK"]}"#,
            "$.colors[1]",
            "unrecognized enum value",
        ),
        (r#"{"at":"yesterday"}"#, "$.at", ""),
        (r#"{"took":"5"}"#, "$.took", ""),
        (r#"{"fBytes":"!!"}"#, "$.fBytes", "base64"),
        (r#"{"inner":[1]}"#, "$.inner", "invalid type"),
        (r#"{"extra":[1]}"#, "$.extra", "invalid type"),
        (
            r#"{"text":"a","boxed":{}}"#,
            "$",
            "multiple fields provided for oneof 'choice'",
        ),
        (r#"[1]"#, "$", "invalid type"),
        (r#"null"#, "$", "invalid type: null"),
        (r#"{"fInt32":"#, "$.fInt32", "EOF"),
        (r#"{"fInt32":1,"#, "$", "EOF"),
        (r#"{"fInt32":1} x"#, "$", "trailing characters"),
        (r#"{} {}"#, "$", "trailing characters"),
    ];
    for (json, path, msg) in cases {
        match to_pb("test.All", json) {
            Err(CodecError::Input { path: p, message }) => {
                assert_eq!(p, *path, "{json}: {message}");
                assert!(message.contains(msg), "{json}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn unknown_fields_can_be_ignored() {
    let lax = PbEncodeOptions {
        ignore_unknown_fields: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    json_to_message(
        &desc("test.All"),
        br#"{"zzz":{"deep":[1]},"fInt32":3,"inner":{"q":1}}"#,
        &lax,
        &mut out,
    )
    .unwrap();
    let json = to_json("test.All", &out, &PbDecodeOptions::default()).unwrap();
    assert_eq!(json, json!({"fInt32": 3, "inner": {}}));
}

/// Both encoders: the one-pass one (through `json_to_message`) and the
/// reference one, which a field named twice sends the one-pass one to.
fn encode_both(json: &str, opts: &PbEncodeOptions) -> [Result<Value, CodecError>; 2] {
    let d = desc("test.All");
    let decode = |bytes: &[u8]| to_json("test.All", bytes, &PbDecodeOptions::default()).unwrap();
    let mut fast = Vec::new();
    let fast = json_to_message(&d, json.as_bytes(), opts, &mut fast).map(|()| decode(&fast));
    let mut slow = Vec::new();
    let slow = json::reference_json_to_message(&d, json.as_bytes(), opts, &mut slow)
        .map(|()| decode(&slow));
    [fast, slow]
}

const UNKNOWN_ENUM_CASES: [(&str, &str); 5] = [
    (r#"{"color":"PINK","fInt32":1}"#, "$.color"),
    (r#"{"inner":{"tone":"PINK"},"fInt32":1}"#, "$.inner.tone"),
    (
        r#"{"colors":["RED","PINK","GREEN"],"fInt32":1}"#,
        "$.colors[1]",
    ),
    (
        r#"{"palette":{"a":"RED","b":"PINK"},"fInt32":1}"#,
        "$.palette.b",
    ),
    (
        r#"{"items":[{},{"tone":"PINK"}],"fInt32":1}"#,
        "$.items[1].tone",
    ),
];

#[test]
fn unknown_enum_names_are_rejected_whatever_unknown_fields_do() {
    for ignore_unknown_fields in [false, true] {
        let opts = PbEncodeOptions {
            ignore_unknown_fields,
            ..Default::default()
        };
        for (json, path) in &UNKNOWN_ENUM_CASES {
            for r in encode_both(json, &opts) {
                match r {
                    Err(CodecError::Input { path: p, message }) => {
                        assert_eq!(p, *path, "{json}");
                        assert_eq!(message, "unrecognized enum value 'PINK'", "{json}");
                    }
                    other => panic!("{opts:?} {json}: {other:?}"),
                }
            }
        }
        // Numbers are open (proto3): kept, known or not.
        for r in encode_both(r#"{"color":7,"colors":[1,9],"palette":{"a":5}}"#, &opts) {
            assert_eq!(
                r.unwrap(),
                json!({"color": 7, "colors": ["RED", 9], "palette": {"a": 5}})
            );
        }
    }
}

#[test]
fn unknown_enum_names_can_be_discarded_on_their_own() {
    let want = [
        json!({"fInt32": 1}),
        json!({"fInt32": 1, "inner": {}}),
        json!({"fInt32": 1, "colors": ["RED", "GREEN"]}),
        json!({"fInt32": 1, "palette": {"a": "RED"}}),
        json!({"fInt32": 1, "items": [{}, {}]}),
    ];
    for ignore_unknown_fields in [false, true] {
        let opts = PbEncodeOptions {
            ignore_unknown_fields,
            ignore_unknown_enum_values: true,
            ..Default::default()
        };
        for ((json, _), want) in UNKNOWN_ENUM_CASES.iter().zip(&want) {
            for r in encode_both(json, &opts) {
                assert_eq!(&r.unwrap(), want, "{opts:?} {json}");
            }
        }
    }
    // Unknown fields stay rejected unless they are ignored too.
    let opts = PbEncodeOptions {
        ignore_unknown_fields: false,
        ignore_unknown_enum_values: true,
        ..Default::default()
    };
    for r in encode_both(r#"{"color":"PINK","zzz":1}"#, &opts) {
        assert!(
            matches!(&r, Err(CodecError::Input { path, .. }) if path == "$.zzz"),
            "{r:?}"
        );
    }
}

#[test]
fn a_field_named_twice_keeps_the_enum_rules() {
    // The one-pass encoder hands such JSON to the reference path.
    let json = r#"{"color":"RED","color":"PINK"}"#;
    let opts = PbEncodeOptions {
        ignore_unknown_fields: true,
        ..Default::default()
    };
    for r in encode_both(json, &opts) {
        assert!(
            matches!(&r, Err(CodecError::Input { path, .. }) if path == "$.color"),
            "{r:?}"
        );
    }
}

fn nested_json(levels: usize) -> String {
    let mut s = String::new();
    for _ in 0..levels {
        s.push_str(r#"{"child":"#);
    }
    s.push_str("{}");
    for _ in 0..levels {
        s.push('}');
    }
    s
}

fn nested_pb(levels: usize) -> Vec<u8> {
    let mut b: Vec<u8> = Vec::new();
    for _ in 0..levels {
        let mut outer = vec![0x0a];
        prost::encoding::encode_varint(b.len() as u64, &mut outer);
        outer.extend_from_slice(&b);
        b = outer;
    }
    b
}

#[test]
fn nesting_is_bounded() {
    let ok = to_pb("test.Node", &nested_json(MAX_DEPTH)).unwrap();
    assert_eq!(ok, nested_pb(MAX_DEPTH));
    to_json("test.Node", &ok, &PbDecodeOptions::default()).unwrap();
    match to_pb("test.Node", &nested_json(MAX_DEPTH + 1)) {
        Err(CodecError::Input { path, message }) => {
            assert!(message.contains("nesting deeper than 100"), "{message}");
            assert!(path.starts_with("$.child.child."), "{path}");
        }
        other => panic!("{other:?}"),
    }
    // Far past serde_json's own limit, still an error, not a crash.
    assert!(to_pb("test.Node", &nested_json(10_000)).is_err());
    // On the wire, prost's recursion limit (100).
    match to_json(
        "test.Node",
        &nested_pb(MAX_DEPTH + 1),
        &PbDecodeOptions::default(),
    ) {
        Err(CodecError::Wire { protocol, message }) => {
            assert_eq!(protocol, "protobuf");
            assert!(message.contains("recursion limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        to_json(
            "test.Node",
            &nested_pb(100_000),
            &PbDecodeOptions::default()
        )
        .is_err()
    );
}

#[test]
fn bad_wire_bytes_are_wire_errors() {
    let cases: &[&[u8]] = &[
        b"\x0a\x05wor",                                  // length past the buffer
        b"\x0a\xff\xff\xff\xff\x0f",                     // hostile length
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", // varint too long
        b"\x0a\x02\xff\xfe",                             // string not UTF-8
        b"\x0a",                                         // tag without value
        b"\x07",                                         // wire type 7
        b"\x00",                                         // field number 0
        b"\x8a\x01\x03\x0a\x01",                         // Inner (17) whose string overruns it
    ];
    for bytes in cases {
        match to_json("test.All", bytes, &PbDecodeOptions::default()) {
            Err(CodecError::Wire { protocol, .. }) => assert_eq!(protocol, "protobuf"),
            other => panic!("{bytes:02x?}: {other:?}"),
        }
    }
    // Every prefix of a valid message either decodes or fails cleanly.
    let bytes = to_pb("test.All", RICH).unwrap();
    for n in 0..bytes.len() {
        let _ = to_json("test.All", &bytes[..n], &PbDecodeOptions::default());
    }
    // Unknown fields on the wire are skipped.
    let mut with_unknown = bytes.clone();
    with_unknown.extend_from_slice(b"\xf8\x07\x01\x82\x08\x01x");
    assert_eq!(
        to_json("test.All", &with_unknown, &PbDecodeOptions::default()).unwrap(),
        to_json("test.All", &bytes, &PbDecodeOptions::default()).unwrap()
    );
}

#[test]
fn well_known_types() {
    let bytes = to_pb(
        "test.All",
        r#"{"at":"1970-01-01T00:00:01Z","took":"-0.000000001s","extra":{}}"#,
    )
    .unwrap();
    // Timestamp{seconds:1}, Duration{nanos:-1}, an empty Struct.
    assert_eq!(
        bytes,
        hex("c2 01 02 08 01 ca 01 0b 10 ff ff ff ff ff ff ff ff ff 01 d2 01 00")
    );
    let out = to_json("test.All", &bytes, &PbDecodeOptions::default()).unwrap();
    assert_eq!(
        out,
        json!({"at": "1970-01-01T00:00:01Z", "took": "-0.000000001s", "extra": {}})
    );
    // Out-of-range values from the wire cannot be shown as JSON.
    let bad_ts = hex("c2 01 0b 08 ff ff ff ff ff ff ff ff 7f");
    assert!(matches!(
        to_json("test.All", &bad_ts, &PbDecodeOptions::default()),
        Err(CodecError::Wire { .. })
    ));
}

// ----------------------------------------------------------- Kitex Protobuf

#[test]
fn kitex_framed_call_vector() {
    let mut out = Vec::new();
    encode_call("Greet", 1, WORLD, &mut out);
    assert_eq!(out, hex(V_FRAMED));
    // JSON straight into the frame.
    let mut out = Vec::new();
    let start = kitex::begin_message(&mut out, MessageType::Call, "Greet", 1);
    json_to_message(
        &desc("test.GreetRequest"),
        br#"{"req":"world"}"#,
        &PbEncodeOptions::default(),
        &mut out,
    )
    .unwrap();
    kitex::finish_message(&mut out, start);
    assert_eq!(out, hex(V_FRAMED));
}

fn greet_header_block() -> Vec<u8> {
    ttheader::header_block(&ttheader::TTHeaderMeta {
        protocol: ttheader::PROTOCOL_BINARY,
        ints: Vec::new(),
        strs: vec![("isn".into(), "GreetService".into())],
    })
}

#[test]
fn kitex_ttheader_call_vector() {
    let mut out = Vec::new();
    encode_call_ttheader(&greet_header_block(), &[], "Greet", 1, WORLD, &mut out);
    assert_eq!(out, hex(V_TTHEADER));
    // The same bytes through the TTHeader-framed framing.
    let mut out2 = Vec::new();
    let mark = crate::framing::begin_frame(
        Transport::TTHeaderFramed,
        &mut out2,
        1,
        &greet_header_block(),
    );
    let inner = hex(V_FRAMED);
    out2.extend_from_slice(&inner[4..]);
    crate::framing::finish_frame(Transport::TTHeaderFramed, &mut out2, mark);
    assert_eq!(out2, out);
}

#[test]
fn kitex_ttheader_frames_decode_through_the_framing() {
    let buf = hex(V_TTHEADER);
    for t in [Transport::TTHeader, Transport::TTHeaderFramed] {
        let frame = decode_frame(t, Protocol::Binary, &buf, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(frame.consumed, buf.len());
        let h = frame.header.as_ref().unwrap();
        assert!(h.framed_payload);
        assert_eq!(h.seqid, 1);
        assert_eq!(h.protocol, 0);
        assert_eq!(h.str("isn"), Some("GreetService"));
        let payload = &buf[frame.payload.clone()];
        let call = decode_call(payload).unwrap();
        assert_eq!((call.method, call.seqid, call.oneway), ("Greet", 1, false));
        assert_eq!(&payload[call.message], WORLD);
    }
    // The framing also finds where a framed stream's message is.
    let buf = hex(V_FRAMED);
    let frame = decode_frame(Transport::Framed, Protocol::Binary, &buf, 1 << 20)
        .unwrap()
        .unwrap();
    let call = decode_call(&buf[frame.payload.clone()]).unwrap();
    assert_eq!(call.method, "Greet");
}

#[test]
fn kitex_exception_vector() {
    let buf = hex(V_EXCEPTION);
    let want = KitexPbReply::Exception {
        type_id: 1,
        message: "unknown method".into(),
    };
    assert_eq!(decode_reply(&buf, "Greet", 1).unwrap(), want);
    // Method and seqid are not checked on exceptions, framed or not.
    assert_eq!(decode_reply(&buf, "Other", 99).unwrap(), want);
    assert_eq!(decode_reply(&buf[4..], "Other", 99).unwrap(), want);
    let mut out = Vec::new();
    encode_exception("Greet", 1, 1, "unknown method", &mut out);
    assert_eq!(out, buf);
    // An empty ErrorProto is type 0 with no message.
    let mut out = Vec::new();
    encode_exception("Greet", 1, 0, "", &mut out);
    assert_eq!(out.len(), 4 + 12 + 5);
    assert_eq!(
        decode_reply(&out, "Greet", 1).unwrap(),
        KitexPbReply::Exception {
            type_id: 0,
            message: String::new()
        }
    );
}

#[test]
fn kitex_reply_round_trip_and_checks() {
    let mut out = Vec::new();
    encode_reply("Greet", 7, WORLD, &mut out);
    let KitexPbReply::Message(r) = decode_reply(&out, "Greet", 7).unwrap() else {
        panic!()
    };
    assert_eq!(&out[r], WORLD);
    let KitexPbReply::Message(r) = decode_reply(&out[4..], "Greet", 7).unwrap() else {
        panic!()
    };
    assert_eq!(&out[4..][r], WORLD);
    // Empty message bodies are valid.
    let mut empty = Vec::new();
    encode_reply("Greet", 7, b"", &mut empty);
    assert_eq!(
        decode_reply(&empty, "Greet", 7).unwrap(),
        KitexPbReply::Message(empty.len()..empty.len())
    );
    let err = |r: Result<KitexPbReply, CodecError>| match r {
        Err(CodecError::Wire { protocol, message }) => {
            assert_eq!(protocol, "kitex protobuf");
            message
        }
        other => panic!("{other:?}"),
    };
    assert!(err(decode_reply(&out, "Other", 7)).contains("method `Greet`"));
    assert!(err(decode_reply(&out, "Greet", 8)).contains("seqid 7"));
    assert!(err(decode_reply(&hex(V_FRAMED), "Greet", 1)).contains("expected a REPLY"));
    // A call is not a reply and a reply is not a call.
    assert!(decode_call(&out).is_err());
}

#[test]
fn kitex_server_side() {
    let call = hex(V_FRAMED);
    let c = decode_call(&call).unwrap();
    assert_eq!(
        c,
        KitexPbCall {
            method: "Greet",
            seqid: 1,
            message: 21..call.len(),
            oneway: false
        }
    );
    // Unframed (as the framings hand payloads over).
    let c2 = decode_call(&call[4..]).unwrap();
    assert_eq!(c2.message, 17..call.len() - 4);
    let mut oneway = Vec::new();
    let start = kitex::begin_message(&mut oneway, MessageType::Oneway, "Ping", -5);
    kitex::finish_message(&mut oneway, start);
    let c = decode_call(&oneway).unwrap();
    assert_eq!((c.method, c.seqid, c.oneway), ("Ping", -5, true));
    // The hello backend answers.
    let mut out = Vec::new();
    encode_reply(c2.method, c2.seqid, b"\x0a\x0bhello world", &mut out);
    assert_eq!(
        out,
        hex(
            "00 00 00 1e 90 01 00 02 00 00 00 05 47 72 65 65 74 00 00 00 01 0a 0b 68 65 6c 6c 6f 20 77 6f 72 6c 64"
        )
    );
    // Appends.
    let mut two = Vec::new();
    encode_call("Greet", 1, WORLD, &mut two);
    encode_call("Greet", 1, WORLD, &mut two);
    assert_eq!(two, [hex(V_FRAMED), hex(V_FRAMED)].concat());
}

#[test]
fn kitex_frame_len() {
    let buf = hex(V_FRAMED);
    assert_eq!(frame_len(&buf, 1 << 20).unwrap(), Some(buf.len() - 4));
    assert!(kitex::is_framed(&buf));
    assert!(!kitex::is_framed(&buf[..5]));
    for n in 0..buf.len() {
        assert_eq!(frame_len(&buf[..n], 1 << 20).unwrap(), None, "{n}");
    }
    let mut two = buf.clone();
    two.extend_from_slice(&buf);
    assert_eq!(frame_len(&two, 1 << 20).unwrap(), Some(buf.len() - 4));
    // Hostile and bad lengths.
    assert!(matches!(
        frame_len(&buf, 16),
        Err(CodecError::TooLarge {
            size: 24,
            max: 16,
            ..
        })
    ));
    for prefix in ["ff ff ff ff", "80 00 00 00", "7f ff ff ff"] {
        let b = hex(&format!("{prefix} 90 01 00 01"));
        assert!(
            matches!(frame_len(&b, 1 << 20), Err(CodecError::TooLarge { .. })),
            "{prefix}"
        );
    }
    assert!(matches!(
        frame_len(&hex("00 00 00 04 90 01 00 01"), 1 << 20),
        Err(CodecError::Wire { .. })
    ));
    assert!(matches!(
        frame_len(&hex("00 00 00 18 80 01 00 01"), 1 << 20),
        Err(CodecError::Wire { .. })
    ));
}

#[test]
fn kitex_hostile_headers() {
    let buf = hex(V_FRAMED);
    // Every truncation of a framed or unframed message fails cleanly.
    for n in 0..buf.len() {
        assert!(decode_call(&buf[..n]).is_err(), "{n}");
    }
    for n in 2..12 {
        assert!(decode_call(&buf[4..4 + n]).is_err(), "{n}");
    }
    // A method name length past the end.
    let mut b = buf.clone();
    b[8..12].copy_from_slice(&[0xff; 4]);
    assert!(matches!(decode_call(&b), Err(CodecError::Truncated { .. })));
    b[8..12].copy_from_slice(&[0, 0, 0, 0x0d]);
    assert!(matches!(decode_call(&b), Err(CodecError::Truncated { .. })));
    // An empty method name; an unknown message type; a bad magic; bytes after the frame.
    let mut b = Vec::new();
    encode_call("", 1, WORLD, &mut b);
    assert!(decode_call(&b).is_err());
    let mut b = buf.clone();
    b[7] = 9;
    assert!(
        decode_call(&b)
            .unwrap_err()
            .to_string()
            .contains("message type 9")
    );
    let mut b = buf.clone();
    b[5] = 0x02;
    assert!(decode_call(&b).is_err());
    let mut b = buf.clone();
    b.push(0);
    assert!(decode_call(&b).is_err());
    // A method name that is not UTF-8.
    let mut b = buf.clone();
    b[12] = 0xff;
    assert!(decode_call(&b).unwrap_err().to_string().contains("UTF-8"));
    // A broken ErrorProto.
    let mut b = Vec::new();
    let start = kitex::begin_message(&mut b, MessageType::Exception, "Greet", 1);
    b.extend_from_slice(b"\x12\x09oops");
    kitex::finish_message(&mut b, start);
    assert!(decode_reply(&b, "Greet", 1).is_err());
}

// ---------------------------------------------------------------------- gRPC

#[test]
fn grpc_length_prefixed_messages() {
    let mut out = Vec::new();
    grpc_frame(WORLD, &mut out);
    assert_eq!(out, hex(V_GRPC));
    assert_eq!(
        grpc_unframe(&out, 1 << 20).unwrap(),
        Some((5..out.len(), out.len(), false))
    );
    for n in 0..out.len() {
        assert_eq!(grpc_unframe(&out[..n], 1 << 20).unwrap(), None, "{n}");
    }
    // Two messages back to back, the second empty.
    grpc_frame(b"", &mut out);
    let (r, used, _) = grpc_unframe(&out, 1 << 20).unwrap().unwrap();
    assert_eq!(&out[r], WORLD);
    assert_eq!(
        grpc_unframe(&out[used..], 1 << 20).unwrap(),
        Some((5..5, 5, false))
    );
    // Compressed flag; bad flag; hostile lengths.
    let compressed = hex("01 00 00 00 01 ff");
    assert_eq!(
        grpc_unframe(&compressed, 16).unwrap(),
        Some((5..6, 6, true))
    );
    assert!(matches!(
        grpc_unframe(&hex("02 00"), 16),
        Err(CodecError::Wire { .. })
    ));
    assert!(matches!(
        grpc_unframe(&hex("00 ff ff ff ff"), 1 << 20),
        Err(CodecError::TooLarge { .. })
    ));
    assert!(matches!(
        grpc_unframe(&hex(V_GRPC), 6),
        Err(CodecError::TooLarge {
            size: 7,
            max: 6,
            ..
        })
    ));
}

#[test]
fn envelope_decoders_never_panic_on_truncated_or_mutated_input() {
    let greet = desc("test.GreetRequest");
    let pool = pool();
    let frames = [
        hex(V_FRAMED),
        hex(V_TTHEADER),
        hex(V_EXCEPTION),
        hex(V_GRPC),
    ];
    let chew = |m: &[u8]| {
        let _ = kitex::frame_len(m, 1 << 16);
        let _ = kitex::is_framed(m);
        let _ = kitex::decode_call(m);
        if let Ok(kitex::KitexPbReply::Message(body)) = kitex::decode_reply(m, "Greet", 1) {
            let mut out = Vec::new();
            let _ = message_to_json(&greet, &m[body], &PbDecodeOptions::default(), &mut out);
        }
        let _ = grpc_unframe(m, 1 << 16);
        let _ = decode_status_details(m, &pool, &PbDecodeOptions::default());
        for t in [Transport::TTHeader, Transport::TTHeaderFramed] {
            if let Ok(Some(f)) = decode_frame(t, Protocol::Binary, m, 1 << 16) {
                let _ = kitex::decode_call(&m[f.payload]);
            }
        }
    };
    // xorshift64*, deterministic.
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for f in &frames {
        for cut in 0..=f.len() {
            chew(&f[..cut]);
        }
        for _ in 0..3000 {
            let mut m = f.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % m.len() as u64) as usize;
                m[i] = match next() % 3 {
                    0 => next() as u8,
                    1 => m[i] ^ (1 << (next() % 8)),
                    _ => [0x00, 0xff, 0x7f, 0x80][(next() % 4) as usize],
                };
            }
            if next() % 4 == 0 {
                m.truncate((next() % (m.len() as u64 + 1)) as usize);
            }
            chew(&m);
        }
    }
}

#[test]
fn json_limits_bound_strings_containers_and_nesting() {
    let limits = crate::JsonLimits {
        max_depth: 3,
        max_string: 8,
        max_items: 2,
    };
    let opts = PbEncodeOptions {
        limits,
        ..Default::default()
    };
    let enc = |json: &str| {
        let mut out = Vec::new();
        json_to_message(&desc("test.All"), json.as_bytes(), &opts, &mut out).map(|()| out)
    };
    let fail = |json: &str| match enc(json) {
        Err(CodecError::Input { path, message }) => format!("{path}: {message}"),
        other => panic!("{json}: {other:?}"),
    };
    assert!(
        enc(r#"{"fString": "12345678", "tags": ["a", "b"], "counts": {"x": 1, "y": 2}}"#).is_ok()
    );
    assert!(fail(r#"{"fString": "123456789"}"#).contains("a string of 9 bytes; the limit is 8"));
    assert!(fail(r#"{"fBytes": "AAAAAAAAAAAA"}"#).contains("the limit is 8"));
    let m = fail(r#"{"tags": ["a", "b", "c"]}"#);
    assert!(
        m.contains("more than 2 elements") && m.starts_with("$.tags"),
        "{m}"
    );
    assert!(fail(r#"{"counts": {"x": 1, "y": 2, "z": 3}}"#).contains("more than 2 elements"));
    assert!(fail(r#"{"items": [{"name": "123456789"}]}"#).contains("$.items[0].name"));
    let d = crate::JsonLimits {
        max_depth: 2,
        ..limits
    };
    let opts = PbEncodeOptions {
        limits: d,
        ..Default::default()
    };
    let mut out = Vec::new();
    let deep = json_to_message(
        &desc("test.Node"),
        br#"{"child": {"child": {"child": {}}}}"#,
        &opts,
        &mut out,
    );
    assert!(
        matches!(deep, Err(CodecError::Input { message, .. }) if message.contains("nesting deeper than 2"))
    );
}
