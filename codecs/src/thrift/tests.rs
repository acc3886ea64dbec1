use crate::test_rng::Rng;
use idl::{MemoryFiles, Schema};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn schema(src: &str) -> Schema {
    idl::thrift::load("t.thrift", &MemoryFiles::new([("t.thrift", src)])).unwrap()
}

const ALL: &str = r#"
struct Inner { 1: i32 a }
struct All {
  1: bool t, 2: bool f, 3: i8 b, 4: i16 s, 20: i32 i, 21: i64 l, 22: double d,
  23: list<i32> li, 24: map<string,i32> m, 25: set<bool> sb, 26: Inner st,
  27: map<string,i32> em, 28: list<i8> bytes
}
"#;

const ALL_JSON: &str = r#"{"t":true,"f":false,"b":-1,"s":-2,"i":300,"l":-1,"d":1.5,"li":[1,2,3],"m":{"k":7},"sb":[true,false],"st":{"a":5},"em":{},"bytes":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14]}"#;

// Reference bytes from Apache Thrift's own Python TBinaryProtocol / TCompactProtocol
// (shared/specs/vectors/thrift_py_vectors.txt, "all types").
const ALL_BINARY: &str = "02 00 01 01 02 00 02 00 03 00 03 ff 06 00 04 ff fe 08 00 14 00 00 01 2c 0a 00 15 ff ff ff ff ff ff ff ff 04 00 16 3f f8 00 00 00 00 00 00 0f 00 17 08 00 00 00 03 00 00 00 01 00 00 00 02 00 00 00 03 0d 00 18 0b 08 00 00 00 01 00 00 00 01 6b 00 00 00 07 0e 00 19 02 00 00 00 02 01 00 0c 00 1a 08 00 01 00 00 00 05 00 0d 00 1b 0b 08 00 00 00 00 0f 00 1c 03 00 00 00 0f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 00";
const ALL_COMPACT: &str = "11 12 13 ff 14 03 05 28 d8 04 16 01 17 00 00 00 00 00 00 f8 3f 19 35 02 04 06 1b 01 85 01 6b 0e 1a 21 01 02 1c 15 0a 00 1b 00 19 f3 0f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 00";

fn enc(p: Protocol, s: &Schema, name: &str, json: &str) -> Result<Vec<u8>, crate::CodecError> {
    let mut out = Vec::new();
    encode_struct(
        p,
        s,
        s.struct_by_name(name).unwrap(),
        json.as_bytes(),
        &EncodeOptions::default(),
        &mut out,
    )?;
    Ok(out)
}

fn dec(p: Protocol, s: &Schema, name: &str, bytes: &[u8], opts: &DecodeOptions) -> String {
    let mut out = Vec::new();
    let n = decode_struct(p, s, s.struct_by_name(name).unwrap(), bytes, opts, &mut out).unwrap();
    assert_eq!(n, bytes.len());
    String::from_utf8(out).unwrap()
}

#[test]
fn matches_apache_thrift_bytes_both_protocols() {
    let s = schema(ALL);
    for (p, want) in [
        (Protocol::Binary, ALL_BINARY),
        (Protocol::Compact, ALL_COMPACT),
    ] {
        let bytes = enc(p, &s, "All", ALL_JSON).unwrap();
        assert_eq!(bytes, hex(want), "{p:?}");
        assert_eq!(
            dec(p, &s, "All", &bytes, &DecodeOptions::default()),
            ALL_JSON,
            "{p:?}"
        );
    }
}

#[test]
fn envelope_matches_reference_call_and_reply() {
    let s = schema("service G { string Greet(1: string req) }");
    let m = &s.services[0].methods[0];
    let mut out = Vec::new();
    encode_call(
        Protocol::Binary,
        &s,
        m,
        1,
        br#"{"req":"world"}"#,
        &[],
        &EncodeOptions::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        hex(
            "80 01 00 01 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 01 00 00 00 05 77 6f 72 6c 64 00"
        )
    );
    out.clear();
    encode_call(
        Protocol::Compact,
        &s,
        m,
        1,
        br#"{"req":"world"}"#,
        &[],
        &EncodeOptions::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        hex("82 21 01 05 47 72 65 65 74 18 05 77 6f 72 6c 64 00")
    );

    for (p, reply) in [
        (
            Protocol::Binary,
            "80 01 00 02 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 00 00 00 00 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64 00",
        ),
        (
            Protocol::Compact,
            "82 41 01 05 47 72 65 65 74 08 00 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64 00",
        ),
    ] {
        let mut json = Vec::new();
        let mut meta = ResponseMeta::default();
        let r = decode_reply(
            p,
            &s,
            m,
            &hex(reply),
            1,
            &DecodeOptions::default(),
            &mut json,
            &mut meta,
        )
        .unwrap();
        assert_eq!(r, Reply::Success);
        assert_eq!(json, br#""Hello world""#);
    }
    for (p, exc) in [
        (
            Protocol::Binary,
            "80 01 00 03 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 01 00 00 00 14 75 6e 6b 6e 6f 77 6e 20 6d 65 74 68 6f 64 20 47 72 65 65 74 08 00 02 00 00 00 01 00",
        ),
        (
            Protocol::Compact,
            "82 61 01 05 47 72 65 65 74 18 14 75 6e 6b 6e 6f 77 6e 20 6d 65 74 68 6f 64 20 47 72 65 65 74 15 02 00",
        ),
    ] {
        let mut json = Vec::new();
        let r = decode_reply(
            p,
            &s,
            m,
            &hex(exc),
            1,
            &DecodeOptions::default(),
            &mut json,
            &mut ResponseMeta::default(),
        )
        .unwrap();
        assert_eq!(
            r,
            Reply::App(AppException {
                kind: 1,
                message: "unknown method Greet".into()
            })
        );
        let mut again = Vec::new();
        encode_app_exception(
            p,
            "Greet",
            1,
            &AppException {
                kind: 1,
                message: "unknown method Greet".into(),
            },
            &mut again,
        );
        assert_eq!(again, hex(exc));
    }
}

const RICH: &str = r#"
enum Color { RED = 1, GREEN, BLUE = 10 }
struct Key { 1: i32 a, 2: string b }
union U { 1: string s, 2: i64 n }
exception Boom { 1: string why }
typedef list<Color> Colors
struct Rich {
  1: required i64 id
  2: optional string name
  3: binary data
  4: Colors colors
  5: map<i64, string> byId
  6: map<Color, double> byColor
  7: map<Key, list<string>> byKey
  8: set<string> tags
  9: U u
  10: i32 dflt = 42
  11: uuid uid
  12: list<list<map<string, Key>>> deep
  40: i16 far
  300: double d = 0.5
}
service S {
  Rich echo(1: Rich r) throws (1: Boom boom)
  void nothing()
  i64 sum(1: i64 a, 2: i32 b)
}
"#;

#[test]
fn rich_round_trip_every_type_both_protocols() {
    let s = schema(RICH);
    let json = r#"{"id":"9007199254740993","name":"n\u00e9\"q","data":"AAEC/w==","colors":["GREEN",10],"byId":{"-5":"neg","7":"seven"},"byColor":{"RED":1.25,"7":2.5},"byKey":[[{"a":1,"b":"x"},["p","q"]]],"tags":["a","b"],"u":{"n":3},"uid":"00112233-4455-6677-8899-aabbccddeeff","deep":[[{"k":{"a":2,"b":"y"}}]],"far":-300}"#;
    let want = r#"{"id":9007199254740993,"name":"né\"q","data":"AAEC/w==","colors":[2,10],"byId":{"-5":"neg","7":"seven"},"byColor":{"1":1.25,"7":2.5},"byKey":[[{"a":1,"b":"x"}, ["p","q"]]],"tags":["a","b"],"u":{"n":3},"dflt":42,"uid":"00112233-4455-6677-8899-aabbccddeeff","deep":[[{"k":{"a":2,"b":"y"}}]],"far":-300,"d":0.5}"#;
    let want: serde_json::Value = serde_json::from_str(want).unwrap();
    for p in [Protocol::Binary, Protocol::Compact] {
        let bytes = enc(p, &s, "Rich", json).unwrap();
        let out = dec(p, &s, "Rich", &bytes, &DecodeOptions::default());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            want,
            "{p:?}"
        );
        let named = dec(
            p,
            &s,
            "Rich",
            &bytes,
            &DecodeOptions {
                enum_as_name: true,
                i64_as_string: true,
                ..Default::default()
            },
        );
        let v: serde_json::Value = serde_json::from_str(&named).unwrap();
        assert_eq!(v["colors"], serde_json::json!(["GREEN", "BLUE"]));
        assert_eq!(v["byColor"], serde_json::json!({"RED": 1.25, "7": 2.5}));
        assert_eq!(v["id"], serde_json::json!("9007199254740993"));
        assert_eq!(v["byId"], serde_json::json!({"-5":"neg","7":"seven"}));
    }
}

#[test]
fn errors_name_the_json_path() {
    let s = schema(RICH);
    let cases = [
        (r#"{"name":"x"}"#, "$.id", "missing required field `id`"),
        (
            r#"{"id":1,"colors":["RED","PINK"]}"#,
            "$.colors[1]",
            "unknown Color value \"PINK\"",
        ),
        (
            r#"{"id":1,"far":70000}"#,
            "$.far",
            "70000 is out of range for i16",
        ),
        (r#"{"id":1,"data":"@@"}"#, "$.data", "invalid base64"),
        (
            r#"{"id":1,"byKey":{"a":[]}}"#,
            "$.byKey",
            "array of [key, value] pairs",
        ),
        (
            r#"{"id":1,"deep":[[{"k":{"a":"x"}}]]}"#,
            "$.deep[0][0].k.a",
            "expected i32, found a string",
        ),
        (
            r#"{"id":1,"u":{"s":"a","n":1}}"#,
            "$.u",
            "exactly one field set, found 2",
        ),
        (
            r#"{"id":1,"u":{}}"#,
            "$.u",
            "exactly one field set, found 0",
        ),
        (r#"{"id":true}"#, "$.id", "expected i64, found a bool"),
        (
            r#"{"id":1,"name":"a","name":"b"}"#,
            "$",
            "duplicate field `name`",
        ),
        (
            r#"{"id":1,"tags":[null]}"#,
            "$.tags[0]",
            "expected string, found null",
        ),
        (r#"{"id":1.5}"#, "$.id", "expected i64, found 1.5"),
        (r#"[1]"#, "$", "invalid type"),
        (r#"{"id":1,"#, "$", "EOF"),
    ];
    for (json, path, msg) in cases {
        match enc(Protocol::Binary, &s, "Rich", json) {
            Err(crate::CodecError::Input { path: p, message }) => {
                assert_eq!(p, path, "{json}: {message}");
                assert!(message.contains(msg), "{json}: {message}");
            }
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn unknown_fields_ignored_or_rejected() {
    let s = schema(RICH);
    let sid = s.struct_by_name("Rich").unwrap();
    let mut out = Vec::new();
    encode_struct(
        Protocol::Binary,
        &s,
        sid,
        br#"{"id":1,"zzz":{"deep":[1]}}"#,
        &EncodeOptions::default(),
        &mut out,
    )
    .unwrap();
    let strict = EncodeOptions {
        reject_unknown_fields: true,
        ..Default::default()
    };
    let err = encode_struct(
        Protocol::Binary,
        &s,
        sid,
        br#"{"id":1,"zzz":1}"#,
        &strict,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `zzz`"), "{err}");
}

#[test]
fn depth_is_bounded_both_ways() {
    let s = schema("struct N { 1: list<N> kids }");
    let mut json = String::new();
    for _ in 0..40 {
        json.push_str(r#"{"kids":["#);
    }
    for _ in 0..40 {
        json.push_str("]}");
    }
    let err = enc(Protocol::Binary, &s, "N", &json).unwrap_err();
    assert!(err.to_string().contains("nesting deeper than 64"), "{err}");
    // A hostile wire message nested far deeper than allowed.
    let mut bytes = Vec::new();
    for _ in 0..200 {
        bytes.extend_from_slice(&[0x0f, 0x00, 0x01, 0x0c, 0, 0, 0, 1]);
    }
    let mut out = Vec::new();
    let r = decode_struct(
        Protocol::Binary,
        &s,
        0,
        &bytes,
        &DecodeOptions::default(),
        &mut out,
    );
    assert!(
        matches!(
            r,
            Err(crate::CodecError::TooLarge {
                what: "nesting depth",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn hostile_sizes_are_rejected_before_allocating() {
    let s = schema("struct L { 1: list<i64> l, 2: string s }");
    // list claiming 2^31-1 elements with 3 bytes behind it
    let r = decode_struct(
        Protocol::Binary,
        &s,
        0,
        &hex("0f 00 01 0a 7f ff ff ff 00 00 00"),
        &DecodeOptions::default(),
        &mut Vec::new(),
    );
    assert!(
        matches!(r, Err(crate::CodecError::TooLarge { .. })),
        "{r:?}"
    );
    let r = decode_struct(
        Protocol::Binary,
        &s,
        0,
        &hex("0b 00 02 7f ff ff ff 41"),
        &DecodeOptions::default(),
        &mut Vec::new(),
    );
    assert!(
        matches!(r, Err(crate::CodecError::Truncated { .. })),
        "{r:?}"
    );
    let r = decode_struct(
        Protocol::Compact,
        &s,
        0,
        &hex("19 fa ff ff ff 07 00"),
        &DecodeOptions::default(),
        &mut Vec::new(),
    );
    assert!(
        matches!(r, Err(crate::CodecError::TooLarge { .. })),
        "{r:?}"
    );
}

#[test]
fn unknown_field_ids_are_skipped() {
    let s = schema("struct A { 1: i32 a }");
    // field 9 (a nested struct with a list) then field 1
    let bytes =
        hex("0c 00 09 0f 00 01 08 00 00 00 02 00 00 00 01 00 00 00 02 00 08 00 01 00 00 00 07 00");
    assert_eq!(
        dec(Protocol::Binary, &s, "A", &bytes, &DecodeOptions::default()),
        r#"{"a":7}"#
    );
}

#[test]
fn body_struct_arg_and_bound_values() {
    let s = schema(
        r#"
        struct Req { 1: i64 id (api.path = "id"), 2: list<i32> ns (api.query = "n"), 3: string who (api.header = "x-who"), 4: string note = "dflt" }
        service S { Req get(1: Req req) (api.get = "/r/:id") }
    "#,
    );
    let m = &s.services[0].methods[0];
    assert_eq!(m.body_struct_arg, Some(0));
    let bound = [
        Bound {
            field: 0,
            value: BoundValue::Text("12".into()),
        },
        Bound {
            field: 1,
            value: BoundValue::List(vec!["1".into(), "2".into()]),
        },
        Bound {
            field: 2,
            value: BoundValue::Text("me".into()),
        },
    ];
    let mut call = Vec::new();
    encode_call(
        Protocol::Binary,
        &s,
        m,
        7,
        br#"{"id": 99}"#,
        &bound,
        &EncodeOptions::default(),
        &mut call,
    )
    .unwrap();
    let h = read_message_header(Protocol::Binary, &call).unwrap();
    assert_eq!(
        (h.name.as_str(), h.ty, h.seqid),
        ("get", MessageType::Call, 7)
    );
    let mut out = Vec::new();
    decode_struct(
        Protocol::Binary,
        &s,
        m.args,
        &call[h.body_offset..],
        &DecodeOptions::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"req":{"id":12,"ns":[1,2],"who":"me","note":"dflt"}}"#
    );

    let bad = [Bound {
        field: 0,
        value: BoundValue::Text("x1".into()),
    }];
    let err = encode_call(
        Protocol::Binary,
        &s,
        m,
        7,
        b"",
        &bad,
        &EncodeOptions::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        crate::CodecError::Input {
            path: "$.id".into(),
            message: "expected i64, found \"x1\"".into()
        }
    );
}

#[test]
fn reply_with_declared_exception_void_and_http_code() {
    let s = schema(
        r#"
        exception Boom { 1: string why }
        struct Resp { 1: i32 code (api.http_code = ""), 2: string loc (api.header = "Location"), 3: string body }
        service S { Resp get() throws (1: Boom boom)  void nothing() }
    "#,
    );
    let (get, nothing) = (&s.services[0].methods[0], &s.services[0].methods[1]);
    for p in [Protocol::Binary, Protocol::Compact] {
        let mut msg = Vec::new();
        encode_reply(p, &s, get, 3, br#"{"boom":{"why":"bad"}}"#, &mut msg).unwrap();
        let mut out = Vec::new();
        let r = decode_reply(
            p,
            &s,
            get,
            &msg,
            3,
            &DecodeOptions::default(),
            &mut out,
            &mut ResponseMeta::default(),
        )
        .unwrap();
        assert_eq!(
            r,
            Reply::Exception {
                field: "boom".into(),
                type_name: "Boom".into()
            }
        );
        assert_eq!(out, br#"{"why":"bad"}"#);

        msg.clear();
        encode_reply(
            p,
            &s,
            get,
            3,
            br#"{"success":{"code":201,"loc":"/x","body":"b"}}"#,
            &mut msg,
        )
        .unwrap();
        let (mut out, mut meta) = (Vec::new(), ResponseMeta::default());
        decode_reply(
            p,
            &s,
            get,
            &msg,
            3,
            &DecodeOptions::default(),
            &mut out,
            &mut meta,
        )
        .unwrap();
        assert_eq!(out, br#"{"body":"b"}"#);
        assert_eq!(
            meta,
            ResponseMeta {
                status: Some(201),
                headers: vec![("Location".into(), "/x".into())]
            }
        );
        let err = decode_reply(
            p,
            &s,
            get,
            &msg,
            4,
            &DecodeOptions::default(),
            &mut Vec::new(),
            &mut meta,
        )
        .unwrap_err();
        assert!(err.to_string().contains("seqid"), "{err}");

        msg.clear();
        encode_reply(p, &s, nothing, 5, b"{}", &mut msg).unwrap();
        let mut out = Vec::new();
        let r = decode_reply(
            p,
            &s,
            nothing,
            &msg,
            5,
            &DecodeOptions::default(),
            &mut out,
            &mut ResponseMeta::default(),
        )
        .unwrap();
        assert_eq!((r, out.as_slice()), (Reply::Success, b"null".as_slice()));
    }
}

#[test]
fn message_len_finds_the_end_of_unframed_messages() {
    let s = schema(ALL);
    let _ = s;
    let msg = hex(
        "80 01 00 02 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 00 00 00 00 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64 00",
    );
    for cut in 0..msg.len() {
        assert_eq!(
            message_len(Protocol::Binary, &msg[..cut], 64).unwrap(),
            None,
            "cut {cut}"
        );
    }
    let mut two = msg.clone();
    two.extend_from_slice(&msg);
    assert_eq!(
        message_len(Protocol::Binary, &two, 64).unwrap(),
        Some(msg.len())
    );
    assert!(message_len(Protocol::Binary, b"GET / HTTP/1.1\r\n", 64).is_err());
}

#[test]
fn decoders_never_panic_on_mutated_or_random_input() {
    let s = schema(RICH);
    let rich = s.struct_by_name("Rich").unwrap();
    let m = &s.services[0].methods[0];
    let json = r#"{"id":7,"name":"n","data":"AAE=","colors":[1,2],"byId":{"1":"a"},"byColor":{"1":0.5},"byKey":[[{"a":1,"b":"x"},["p"]]],"tags":["t"],"u":{"s":"x"},"uid":"00112233-4455-6677-8899-aabbccddeeff","deep":[[{"k":{"a":2}}]],"far":3}"#;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for p in [Protocol::Binary, Protocol::Compact] {
        let mut reply = Vec::new();
        encode_reply(
            p,
            &s,
            m,
            1,
            format!(r#"{{"success":{json}}}"#).as_bytes(),
            &mut reply,
        )
        .unwrap();
        let body = enc(p, &s, "Rich", json).unwrap();
        for round in 0..4000 {
            let mut input = if round % 4 == 0 {
                (0..rng.index(64)).map(|_| rng.next() as u8).collect()
            } else {
                let mut v = if round % 2 == 0 {
                    reply.clone()
                } else {
                    body.clone()
                };
                for _ in 0..1 + rng.index(4) {
                    let i = rng.index(v.len());
                    v[i] = match rng.index(3) {
                        0 => rng.next() as u8,
                        1 => 0xff,
                        _ => 0x7f,
                    };
                }
                v
            };
            if round % 7 == 0 {
                let cut = rng.index(input.len() + 1);
                input.truncate(cut);
            }
            let mut out = Vec::new();
            let _ = decode_struct(p, &s, rich, &input, &DecodeOptions::default(), &mut out);
            out.clear();
            let _ = decode_reply(
                p,
                &s,
                m,
                &input,
                1,
                &DecodeOptions::default(),
                &mut out,
                &mut ResponseMeta::default(),
            );
            let _ = message_len(p, &input, 64);
            let _ = crate::framing::detect(&input);
            for t in [
                crate::framing::Transport::Buffered,
                crate::framing::Transport::Framed,
                crate::framing::Transport::TTHeader,
            ] {
                let _ = crate::framing::decode_frame(t, p, &input, 1 << 20);
            }
        }
    }
}

#[test]
fn random_json_never_panics_the_encoder() {
    let s = schema(RICH);
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"id\"",
        "\"u\"",
        "\"byKey\"",
        "\"deep\"",
        "\"colors\"",
        "1",
        "-9223372036854775809",
        "1e400",
        "\"RED\"",
        "null",
        "true",
        "\"\\ud800\"",
        "\"x\"",
        "{\"s\":1}",
        "[[",
        "]]",
    ];
    let mut rng = Rng(42);
    for _ in 0..5000 {
        let n = 1 + rng.index(24);
        let json: String = (0..n).map(|_| pieces[rng.index(pieces.len())]).collect();
        for p in [Protocol::Binary, Protocol::Compact] {
            let _ = enc(p, &s, "Rich", &json);
        }
    }
}

/// The scanner-driven encoder accepts exactly the JSON serde_json accepts,
/// and reads the same values from it: every truncation and one-byte change
/// of two documents either fails in both the encoder and serde_json, or
/// encodes to the same Thrift values as serde_json's canonical rewrite of it
/// (one space-free form, escapes resolved, numbers normalised).
#[test]
fn encoder_reads_json_exactly_like_serde_json() {
    let s = schema(RICH);
    let all = schema(ALL);
    let docs = [
        (
            &s,
            "Rich",
            r#"{ "id" : "9007199254740993", "name":"n\u00e9\"q\ud83d\ude00", "data":"AAEC/w==","colors":["GREEN",10],"byId":{"-5":"neg"},"byColor":{"RED":1.25e0},"byKey":[[{"a":1,"b":"x"},["p"]]],"tags":["a"],"u":{"n":-3},"deep":[[{"k":{"a":2}}]],"far":-300,"d":-0.0}"#,
        ),
        (&all, "All", ALL_JSON),
    ];
    let decoded = |sch: &Schema, name: &str, bytes: &[u8]| -> serde_json::Value {
        serde_json::from_str(&dec(
            Protocol::Compact,
            sch,
            name,
            bytes,
            &DecodeOptions::default(),
        ))
        .unwrap()
    };
    let swaps = b"{}[],:\"\\ \n0-.eE+tfnu9\x01\xc3\xff";
    let mut checked = 0;
    for (sch, name, doc) in docs {
        let doc = doc.as_bytes();
        let mut variants: Vec<Vec<u8>> = (0..doc.len()).map(|n| doc[..n].to_vec()).collect();
        for i in 0..doc.len() {
            for &c in swaps {
                let mut t = doc.to_vec();
                t[i] = c;
                variants.push(t.clone());
                t.insert(i, c);
                variants.push(t);
            }
        }
        variants.push(doc.to_vec());
        for t in variants {
            let text = String::from_utf8_lossy(&t).into_owned();
            let mut got = Vec::new();
            let got = encode_struct(
                Protocol::Compact,
                sch,
                sch.struct_by_name(name).unwrap(),
                &t,
                &EncodeOptions::default(),
                &mut got,
            )
            .map(|()| got);
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&t) else {
                assert!(
                    got.is_err() || t.iter().all(u8::is_ascii_whitespace),
                    "accepted bad JSON {text}"
                );
                continue;
            };
            if object_keys(&value) != written_keys(&t) {
                continue; // a duplicate key: serde_json kept the last one
            }
            let canonical = enc(Protocol::Compact, sch, name, &value.to_string());
            match (&got, &canonical) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(decoded(sch, name, a), decoded(sch, name, b), "{text}");
                    checked += 1;
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{text}: {got:?} vs canonical {canonical:?}"),
            }
        }
    }
    assert!(checked > 100, "only {checked} valid variants");
}

fn object_keys(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m.len() + m.values().map(object_keys).sum::<usize>(),
        serde_json::Value::Array(a) => a.iter().map(object_keys).sum(),
        _ => 0,
    }
}

/// Keys as written (duplicates counted), for valid JSON.
fn written_keys(text: &[u8]) -> usize {
    fn walk(sc: &mut crate::json_scan::Scan<'_>) -> usize {
        match sc.peek() {
            Some(b'{') => {
                sc.bump();
                let (mut first, mut n) = (true, 0);
                while sc.next_key(&mut first).unwrap().is_some() {
                    n += 1 + walk(sc);
                }
                n
            }
            Some(b'[') => {
                sc.bump();
                let (mut first, mut n) = (true, 0);
                while sc.next_element(&mut first).unwrap() {
                    n += walk(sc);
                }
                n
            }
            _ => {
                sc.skip(1).unwrap();
                0
            }
        }
    }
    walk(&mut crate::json_scan::Scan::new(text))
}

#[test]
fn json_limits_bound_strings_containers_and_nesting() {
    let s = schema(
        "struct Item { 1: string name; 2: list<string> tags; 3: map<string, i32> counts; 4: list<Item> kids }",
    );
    let sid = s.struct_by_name("Item").unwrap();
    let opts = EncodeOptions {
        limits: crate::JsonLimits {
            max_depth: 3,
            max_string: 8,
            max_items: 2,
        },
        ..Default::default()
    };
    let enc = |json: &str| {
        encode_struct(
            Protocol::Binary,
            &s,
            sid,
            json.as_bytes(),
            &opts,
            &mut Vec::new(),
        )
        .map_err(|e| e.to_string())
    };
    enc(r#"{"name": "12345678", "tags": ["a", "b"], "counts": {"x": 1, "y": 2}}"#).unwrap();
    let e = enc(r#"{"name": "123456789"}"#).unwrap_err();
    assert!(
        e.contains("a string of 9 bytes; the limit is 8") && e.contains("name"),
        "{e}"
    );
    let e = enc(r#"{"tags": ["a", "b", "c"]}"#).unwrap_err();
    assert!(e.contains("more than 2 elements"), "{e}");
    let e = enc(r#"{"counts": {"x": 1, "y": 2, "z": 3}}"#).unwrap_err();
    assert!(e.contains("more than 2 elements"), "{e}");
    let e = enc(r#"{"kids": [{"kids": [{}]}]}"#).unwrap_err();
    assert!(e.contains("nesting deeper than 3"), "{e}");
}
