//! Dubbo frames against the reference bytes of `shared/specs/wire.md` §5.

use super::mapping::*;
use super::*;
use crate::hessian2::Limits;
use crate::test_rng::Rng;
use idl::Type;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hstr(s: &str) -> Vec<u8> {
    let mut out = vec![s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

#[test]
fn request_matches_java_up_to_the_attachments() {
    let inv = Invocation {
        interface: "org.cloudwego.kitex.samples.api.GreetProvider",
        method: "Greet",
        descriptor: "Ljava/lang/String;",
        ..Default::default()
    };
    let mut out = Vec::new();
    let (start, mut w) = begin_request(&inv, &mut out);
    w.write_string("world");
    finish_request(&inv, 1, start, w, &[]);
    let mut want = hex("da bb c2 00 00 00 00 00 00 00 00 01");
    want.extend_from_slice(&((out.len() - 16) as u32).to_be_bytes());
    want.extend(hex("05 32 2e 30 2e 32"));
    want.extend(hex("30 2d"));
    want.extend(b"org.cloudwego.kitex.samples.api.GreetProvider");
    want.extend(hex("00"));
    want.extend(hstr("Greet"));
    want.extend(hstr("Ljava/lang/String;"));
    want.extend(hstr("world"));
    assert_eq!(out[..want.len()], want[..]);
    // Attachments: an untyped map with path and interface.
    let rest = &out[want.len()..];
    assert_eq!(rest[0], b'H');
    assert_eq!(*rest.last().unwrap(), b'Z');
    let req = decode_request(&out, Limits::default()).unwrap();
    assert_eq!(
        (
            req.id,
            req.path.as_str(),
            req.method.as_str(),
            req.args.len()
        ),
        (1, inv.interface, "Greet", 1)
    );
    let keys: Vec<&str> = req.attachments.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["path", "interface"]);

    // Attachments of the invocation come after the standard ones, then
    // the caller's extra ones.
    let with = Invocation {
        attachments: &[("x-request-id", "rid-1")],
        ..inv.clone()
    };
    let mut out = Vec::new();
    let (start, mut w) = begin_request(&with, &mut out);
    w.write_string("world");
    finish_request(&with, 2, start, w, &[("generic", "true")]);
    let req = decode_request(&out, Limits::default()).unwrap();
    let got: Vec<(&str, &str)> = req
        .attachments
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        got[2..],
        [("x-request-id", "rid-1"), ("generic", "true")],
        "{got:?}"
    );
    assert_eq!(frame_len(&out, DEFAULT_MAX_BODY).unwrap(), Some(out.len()));
    assert_eq!(frame_len(&out[..20], DEFAULT_MAX_BODY).unwrap(), None);
}

#[test]
fn value_with_attachments_response() {
    let frame = hex(
        "da bb 02 14 00 00 00 00 00 00 00 01 00 00 00 1b 94 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64 48 05 64 75 62 62 6f 05 32 2e 30 2e 32 5a",
    );
    let r = decode_response(&frame, Limits::default()).unwrap();
    assert_eq!(r.id, 1);
    match r.outcome {
        Outcome::Value(Value::String(s)) => assert_eq!(s, "Hello world"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.attachments,
        vec![("dubbo".to_string(), "2.0.2".to_string())]
    );
    // Our own encoder writes the same bytes for the same reply.
    let mut out = Vec::new();
    encode_response(1, true, &mut out, |w| w.write_string("Hello world"));
    assert_eq!(out, frame);
}

#[test]
fn exception_response_with_self_reference() {
    let mut body = hex("90 43 1a");
    body.extend(b"java.lang.RuntimeException");
    body.extend(hex("94"));
    body.extend(hstr("suppressedExceptions"));
    body.extend(hstr("stackTrace"));
    body.extend(hstr("cause"));
    body.extend(hstr("detailMessage"));
    body.extend(hex("60 70 1f"));
    body.extend(b"java.util.Collections$EmptyList");
    body.extend(hex("70 1c"));
    body.extend(b"[java.lang.StackTraceElement");
    body.extend(hex("51 90"));
    body.extend(hstr("boom"));
    let mut frame = hex("da bb 02 14 00 00 00 00 00 00 00 09");
    frame.extend((body.len() as u32).to_be_bytes());
    frame.extend(&body);
    let r = decode_response(&frame, Limits::default()).unwrap();
    match r.outcome {
        Outcome::Exception { class, message, .. } => {
            assert_eq!(class, "java.lang.RuntimeException");
            assert_eq!(message.as_deref(), Some("boom"));
        }
        other => panic!("{other:?}"),
    }
    // Ours decodes the same way.
    let mut out = Vec::new();
    encode_exception_response(3, "java.lang.IllegalStateException", "bad", &mut out);
    match decode_response(&out, Limits::default()).unwrap().outcome {
        Outcome::Exception { class, message, .. } => {
            assert_eq!(
                (class.as_str(), message.as_deref()),
                ("java.lang.IllegalStateException", Some("bad"))
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn statuses_flags_and_truncation() {
    let mut out = Vec::new();
    encode_error_response(5, status::SERVICE_NOT_FOUND, "Service not found", &mut out);
    match decode_response(&out, Limits::default()).unwrap().outcome {
        Outcome::Status { status, message } => {
            assert_eq!((status, message.as_str()), (60, "Service not found"))
        }
        other => panic!("{other:?}"),
    }
    // Unknown flag 7.
    let frame = hex("da bb 02 14 00 00 00 00 00 00 00 01 00 00 00 01 97");
    let e = decode_response(&frame, Limits::default()).unwrap_err();
    assert!(e.to_string().contains("unknown response flag 7"), "{e}");
    // Null value (flag 2), and truncated bodies.
    let frame = hex("da bb 02 14 00 00 00 00 00 00 00 01 00 00 00 01 92");
    assert!(matches!(
        decode_response(&frame, Limits::default()).unwrap().outcome,
        Outcome::Value(Value::Null)
    ));
    let frame = hex("da bb 02 14 00 00 00 00 00 00 00 01 00 00 00 05 91 05 68");
    assert!(decode_response(&frame, Limits::default()).is_err());
    // Bad magic and huge bodies are refused by the header reader.
    assert!(Header::read(&hex("ca fe 02 14"), DEFAULT_MAX_BODY).is_err());
    let huge = hex("da bb 02 14 00 00 00 00 00 00 00 01 7f ff ff ff");
    assert!(matches!(
        Header::read(&huge, DEFAULT_MAX_BODY),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn heartbeats() {
    assert_eq!(
        heartbeat_request(7),
        hex("da bb e2 00 00 00 00 00 00 00 00 07 00 00 00 01 4e")
    );
    assert_eq!(
        heartbeat_response(7),
        hex("da bb 22 14 00 00 00 00 00 00 00 07 00 00 00 01 4e")
    );
    let req = decode_request(&heartbeat_request(9), Limits::default()).unwrap();
    assert!(req.event && req.two_way);
}

#[test]
fn descriptors() {
    for (java, d) in [
        ("long", "J"),
        ("int[]", "[I"),
        ("java.lang.String", "Ljava/lang/String;"),
        ("java.lang.String[]", "[Ljava/lang/String;"),
        ("byte[]", "[B"),
        ("java.util.HashMap", "Ljava/util/HashMap;"),
    ] {
        assert_eq!(descriptor_of(java), d, "{java}");
    }
    assert_eq!(expand_java_type("Long"), "java.lang.Long");
    assert_eq!(expand_java_type("String[]"), "java.lang.String[]");
    assert_eq!(descriptor_arity("I[ILjava/util/HashMap;"), Some(3));
    assert_eq!(descriptor_arity(""), Some(0));
    assert_eq!(descriptor_arity("Ljava/lang/String"), None);
    assert_eq!(descriptor_arity("Q"), None);
}

#[test]
fn rfc3339() {
    assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339_millis("2024-02-29T12:34:56.789Z"),
        Some(1_709_210_096_789)
    );
    assert_eq!(
        parse_rfc3339_millis("2024-02-29T14:34:56.789+02:00"),
        Some(1_709_210_096_789)
    );
    assert_eq!(parse_rfc3339_millis("1969-12-31T23:59:59.5Z"), Some(-500));
    assert_eq!(parse_rfc3339_millis("2024-13-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339_millis("yesterday"), None);
    // Round trip through the Hessian date writer's JSON form.
    let mut out = Vec::new();
    crate::hessian2::write_date_rfc3339(&mut out, 1_709_210_096_789);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        parse_rfc3339_millis(text.trim_matches('"')),
        Some(1_709_210_096_789)
    );
}

const IDL: &str = r#"
namespace java com.example
enum Status { NEW = 1, PAID = 2 } (JavaClassName = "com.example.Status")
struct Item { 1: string sku, 2: i32 qty, 3: double price }
struct Order {
  1: required string id,
  2: i64 amount,
  3: list<Item> items,
  4: Status status,
  5: i64 createdAt (java.type = "java.util.Date"),
  6: set<string> tags,
  7: map<string, i64> counts,
  8: binary blob,
  9: string total (java.type = "java.math.BigDecimal"),
} (JavaClassName = "com.example.Order")
service OrderService {
  Order process(1: Order order),
  i64 add(1: i64 a, 2: i64 b) (hessian.argsType = "long,long"),
  string greet(1: string name) (JavaMethodName = "sayHello"),
} (JavaClassName = "com.example.api.OrderService")
"#;

fn schema() -> idl::Schema {
    idl::thrift::load("o.thrift", &idl::MemoryFiles::new([("o.thrift", IDL)])).unwrap()
}

#[test]
fn signatures_from_annotations() {
    let s = schema();
    let svc = s.service("OrderService").unwrap();
    assert_eq!(java_interface(&s, svc), "com.example.api.OrderService");
    let sig = |name: &str| signature(&s, svc.methods.iter().find(|m| m.name == name).unwrap());
    assert_eq!(sig("process").descriptor, "Lcom/example/Order;");
    assert_eq!(sig("add").descriptor, "JJ");
    let g = sig("greet");
    assert_eq!(
        (g.method.as_str(), g.descriptor.as_str()),
        ("sayHello", "Ljava/lang/String;")
    );
}

#[test]
fn order_round_trip_through_hessian() {
    let s = schema();
    let order = s.struct_by_name("Order").unwrap();
    let json: serde_json::Value = serde_json::json!({
        "id": "o-1", "amount": 12345678901i64,
        "items": [{"sku": "a", "qty": 2, "price": 1.5}, {"sku": "b", "qty": 1, "price": 10.0}],
        "status": "PAID", "createdAt": "2024-02-29T12:34:56.789Z",
        "tags": ["x"], "counts": {"k": 3}, "blob": "AQID", "total": "13.50"
    });
    let mut w = Writer::new();
    let mut path = "$".to_string();
    write_value(&mut w, &s, &Type::Struct(order), None, &json, &mut path, 0).unwrap();
    let bytes = w.into_inner();
    let mut r = crate::hessian2::Reader::new(&bytes);
    let v = r.read_value().unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.class_name(), "com.example.Order");
    assert_eq!(
        obj.get("status").unwrap().as_object().unwrap().class_name(),
        "com.example.Status"
    );
    let back = rendered(
        &v,
        r.refs(),
        &s,
        Some(&Type::Struct(order)),
        None,
        &DubboJsonOptions {
            enum_as_name: true,
            ..Default::default()
        },
    );
    let mut want = json.clone();
    want["createdAt"] = serde_json::json!("2024-02-29T12:34:56.789Z");
    assert_eq!(back, want);

    // Errors name the path.
    let bad = serde_json::json!({"id": "x", "items": [{"qty": "many"}]});
    let mut w = Writer::new();
    let mut path = "$".to_string();
    let e = write_value(&mut w, &s, &Type::Struct(order), None, &bad, &mut path, 0).unwrap_err();
    assert!(e.to_string().starts_with("$.items[0].qty: "), "{e}");
    let missing = serde_json::json!({"amount": 1});
    let mut path = "$".to_string();
    let e = write_value(
        &mut Writer::new(),
        &s,
        &Type::Struct(order),
        None,
        &missing,
        &mut path,
        0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "$.id: required field is missing");
    let mut path = "$".to_string();
    let e = write_value(
        &mut Writer::new(),
        &s,
        &Type::I32,
        None,
        &serde_json::json!(1u64 << 40),
        &mut path,
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
}

/// `to_json`, checked against the text of [`write_json`] (which must be
/// the same JSON, byte for byte, as the tree serialized).
pub(super) fn rendered(
    v: &Value,
    refs: &RefTable,
    schema: &idl::Schema,
    ty: Option<&Type>,
    java: Option<&str>,
    opts: &DubboJsonOptions,
) -> serde_json::Value {
    let tree = to_json(v, refs, schema, ty, java, opts);
    let mut text = b"[".to_vec();
    write_json(v, refs, schema, ty, java, opts, &mut text, usize::MAX).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&text[1..]),
        serde_json::to_string(&tree).unwrap(),
        "{v:?} as {ty:?}"
    );
    // The limit is on the text written by this call.
    let len = text.len() - 1;
    let mut again = b"[".to_vec();
    write_json(v, refs, schema, ty, java, opts, &mut again, len).unwrap();
    assert_eq!(again, text);
    if len > 0 {
        let mut short = b"[".to_vec();
        let e = write_json(v, refs, schema, ty, java, opts, &mut short, len - 1).unwrap_err();
        assert!(matches!(e, CodecError::TooLarge { .. }), "{e}");
        assert_eq!(short, b"[", "left as it was");
    }
    tree
}

/// Writes a random value: every Hessian form the mapping distinguishes,
/// objects of the IDL's classes (with fields it does not know, repeated
/// names and nulls), maps with duplicate and non-text keys, and references
/// to anything started so far (cycles included).
fn random_value(rng: &mut Rng, w: &mut Writer, depth: usize) {
    const KEYS: [&str; 8] = [
        "id", "amount", "items", "status", "sku", "name", "k", "value",
    ];
    let top = if depth >= 4 { 9 } else { 16 };
    match rng.index(top) {
        0 => w.write_null(),
        1 => w.write_bool(rng.index(2) == 0),
        2 => w.write_int(rng.next() as i32 % 5),
        3 => w.write_long(rng.next() as i64),
        4 => w.write_double(
            [
                0.0,
                -0.0,
                1.5,
                1e300,
                f64::NAN,
                f64::INFINITY,
                1e-7,
                123456789.0,
            ][rng.index(8)],
        ),
        5 => w.write_string(["PAID", "NEW", "x\"\n\u{1}é", "", "13.50"][rng.index(5)]),
        6 => w.write_binary(&[1, 2, 3, 250][..rng.index(5)]),
        7 => w.write_date_millis(rng.next() as i64 % 4_000_000_000_000),
        8 if w.ref_count() > 0 => w.write_ref(rng.index(w.ref_count())),
        8 => w.write_null(),
        9 | 10 => {
            let n = rng.index(4);
            w.begin_list(None, Some(n));
            for _ in 0..n {
                random_value(rng, w, depth + 1);
            }
        }
        11 | 12 => {
            w.begin_map(None);
            for _ in 0..rng.index(4) {
                match rng.index(4) {
                    0 => w.write_int(rng.index(3) as i32),
                    1 if depth < 3 => random_value(rng, w, depth + 1),
                    _ => w.write_string(KEYS[rng.index(KEYS.len())]),
                }
                random_value(rng, w, depth + 1);
            }
            w.end_map();
        }
        13 => {
            w.write_object_start("java.math.BigDecimal", &["value"]);
            w.write_string("1.25");
        }
        14 => {
            w.write_object_start("com.example.Status", &["name"]);
            w.write_string(["PAID", "GONE"][rng.index(2)]);
        }
        _ => {
            let fields: Vec<&str> = (0..rng.index(5))
                .map(|_| KEYS[rng.index(KEYS.len())])
                .collect();
            w.write_object_start(
                ["com.example.Order", "com.example.Item"][rng.index(2)],
                &fields,
            );
            for _ in &fields {
                random_value(rng, w, depth + 1);
            }
        }
    }
}

#[test]
fn write_json_writes_what_to_json_builds() {
    let s = schema();
    let order = s.struct_by_name("Order").unwrap();
    let item = s.struct_by_name("Item").unwrap();
    let status = match &s.struct_def(order).fields[3].ty {
        Type::Enum(id) => *id,
        other => panic!("{other:?}"),
    };
    let types = [
        None,
        Some(Type::Struct(order)),
        Some(Type::List(Box::new(Type::Struct(item)))),
        Some(Type::Map(Box::new(Type::String), Box::new(Type::I64))),
        Some(Type::Map(
            Box::new(Type::I32),
            Box::new(Type::Struct(order)),
        )),
        Some(Type::Map(Box::new(Type::Struct(item)), Box::new(Type::I32))),
        Some(Type::I64),
        Some(Type::Enum(status)),
        Some(Type::Set(Box::new(Type::Enum(status)))),
        Some(Type::String),
    ];
    let mut rng = Rng(0xd0bb0);
    for case in 0..3000 {
        let mut w = Writer::new();
        random_value(&mut rng, &mut w, 0);
        let bytes = w.into_inner();
        let mut r = crate::hessian2::Reader::new(&bytes);
        let v = r
            .read_value()
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        let ty = &types[case % types.len()];
        let java = [None, Some("java.util.Date"), Some("int[]")][case % 3];
        for opts in [
            DubboJsonOptions::default(),
            DubboJsonOptions {
                i64_as_string: true,
                enum_as_name: true,
            },
        ] {
            rendered(&v, r.refs(), &s, ty.as_ref(), java, &opts);
        }
    }
}

/// A reply of a few hundred bytes: a list of a list of two items, then 40
/// lists each holding two references to the list before it (2^40 leaves
/// expanded).
fn reference_bomb() -> Vec<u8> {
    let mut frame = Vec::new();
    encode_response(7, false, &mut frame, |w| {
        w.begin_list(None, Some(41));
        w.begin_list(None, Some(2));
        w.write_int(1);
        w.write_int(2);
        for _ in 0..40 {
            let previous = w.ref_count() - 1;
            w.begin_list(None, Some(2));
            w.write_ref(previous);
            w.write_ref(previous);
        }
    });
    frame
}

#[test]
fn a_reference_bomb_hits_the_output_limit() {
    let s = schema();
    let frame = reference_bomb();
    assert!(frame.len() < 400, "{}", frame.len());
    let resp = decode_response(&frame, Limits::default()).unwrap();
    let Outcome::Value(v) = &resp.outcome else {
        panic!("{:?}", resp.outcome)
    };
    let mut out = Vec::new();
    let e = write_json(
        v,
        &resp.refs,
        &s,
        None,
        None,
        &DubboJsonOptions::default(),
        &mut out,
        1 << 20,
    )
    .unwrap_err();
    assert_eq!(
        e,
        CodecError::TooLarge {
            what: "dubbo json output",
            size: (1 << 20) + 1,
            max: 1 << 20,
        }
    );
    assert!(out.is_empty());
    // What it would allocate stays near the limit.
    assert!(out.capacity() <= 4 << 20, "{}", out.capacity());
    // Guided by a type, the same.
    let ty = Type::List(Box::new(Type::List(Box::new(Type::I64))));
    let e = write_json(
        v,
        &resp.refs,
        &s,
        Some(&ty),
        None,
        &DubboJsonOptions::default(),
        &mut out,
        4096,
    )
    .unwrap_err();
    assert!(e.to_string().contains("dubbo json output"), "{e}");
}

#[test]
fn nesting_through_references_is_bounded() {
    // 200 lists each inside the next, written once: the reader allows the
    // depth with a raised limit, the JSON bound stops it.
    let mut w = Writer::new();
    for _ in 0..200 {
        w.begin_list(None, Some(1));
    }
    w.write_int(1);
    let bytes = w.into_inner();
    let limits = Limits {
        max_depth: 256,
        ..Limits::default()
    };
    let mut r = crate::hessian2::Reader::with_limits(&bytes, limits);
    let v = r.read_value().unwrap();
    let mut out = Vec::new();
    let e = write_json(
        &v,
        r.refs(),
        &schema(),
        None,
        None,
        &DubboJsonOptions::default(),
        &mut out,
        usize::MAX,
    )
    .unwrap_err();
    assert!(e.to_string().contains("dubbo json nesting depth"), "{e}");
}

#[test]
fn dubbo_decoders_never_panic_on_truncated_or_mutated_frames() {
    let s = schema();
    let order = s.struct_by_name("Order").unwrap();
    let mut frames = vec![
        reference_bomb(),
        heartbeat_request(3),
        heartbeat_response(3),
    ];
    let mut ok = Vec::new();
    encode_response(9, true, &mut ok, |w| {
        let json = serde_json::json!({"id": "o-1", "amount": 5, "items": [{"sku": "a"}],
            "status": "PAID", "tags": ["x"], "counts": {"k": 3}, "blob": "AQID", "total": "1.5"});
        let mut path = "$".to_string();
        write_value(w, &s, &Type::Struct(order), None, &json, &mut path, 0).unwrap();
    });
    frames.push(ok);
    let mut err = Vec::new();
    encode_error_response(4, status::SERVICE_NOT_FOUND, "no such service", &mut err);
    frames.push(err);
    let mut exc = Vec::new();
    encode_exception_response(5, "java.lang.IllegalStateException", "boom", &mut exc);
    frames.push(exc);
    let inv = Invocation {
        interface: "com.example.api.OrderService",
        method: "add",
        descriptor: "JJ",
        timeout_ms: Some(100),
        ..Default::default()
    };
    let mut req = Vec::new();
    let (start, mut w) = begin_request(&inv, &mut req);
    w.write_long(1);
    w.write_long(2);
    finish_request(&inv, 11, start, w, &[("k", "v")]);
    frames.push(req);

    let chew = |m: &[u8]| {
        let _ = frame_len(m, DEFAULT_MAX_BODY);
        if let Ok(r) = decode_response(m, Limits::default())
            && let Outcome::Value(v) = &r.outcome
        {
            let mut out = Vec::new();
            let _ = write_json(
                v,
                &r.refs,
                &s,
                Some(&Type::Struct(order)),
                None,
                &DubboJsonOptions::default(),
                &mut out,
                1 << 16,
            );
        }
        let _ = decode_request(m, Limits::default());
    };
    let mut rng = Rng(0xfeed);
    for f in &frames {
        for cut in 0..=f.len() {
            chew(&f[..cut]);
        }
        for _ in 0..2000 {
            let mut m = f.clone();
            for _ in 0..1 + rng.index(3) {
                let i = rng.index(m.len());
                m[i] = match rng.index(3) {
                    0 => rng.next() as u8,
                    1 => m[i] ^ (1 << rng.index(8)),
                    _ => [0x00, 0xff, b'Q', b'Z', 0x7f][rng.index(5)],
                };
            }
            if rng.index(4) == 0 {
                m.truncate(rng.index(m.len() + 1));
            }
            chew(&m);
        }
    }
}
