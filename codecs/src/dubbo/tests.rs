//! Dubbo frames against the reference bytes of `shared/specs/wire.md` §5.

use super::mapping::*;
use super::*;
use crate::hessian2::Limits;
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
    let back = to_json(
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
