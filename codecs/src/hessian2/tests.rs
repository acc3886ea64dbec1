//! Byte vectors from wire.md §5.5/§5.6 (captured from Java dubbo-hessian-lite,
//! `shared/specs/vectors/hessian_java_vectors.txt`), decoding of the forms Java
//! does not write, limits, JSON rendering, and randomized round trips.

use crate::test_rng::Rng;
use std::sync::Arc;

use super::*;
use crate::CodecError;

/// Bytes from a spec: hex byte tokens and `"ascii"` literals.
fn b(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = spec.trim_start();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closing quote");
            out.extend_from_slice(&r.as_bytes()[..end]);
            rest = &r[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(u8::from_str_radix(&rest[..end], 16).expect("hex byte"));
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    out
}

fn enc(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.into_inner()
}

fn enc_value(v: &Value) -> Vec<u8> {
    enc(|w| w.write_value(v))
}

/// Decodes exactly one value spanning all of `bytes`.
fn dec(bytes: &[u8]) -> Value {
    let mut r = Reader::new(bytes);
    let v = r
        .read_value()
        .unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
    assert!(r.is_empty(), "{} trailing bytes", r.remaining());
    v
}

fn dec_err(bytes: &[u8]) -> CodecError {
    match Reader::new(bytes).read_value() {
        Ok(v) => panic!("decoded {v:?} from {bytes:02x?}"),
        Err(e) => e,
    }
}

fn json(v: &Value, refs: &RefTable) -> String {
    let mut out = Vec::new();
    write_json(v, refs, &JsonOptions::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn json_of(bytes: &[u8]) -> String {
    let mut r = Reader::new(bytes);
    let v = r.read_value().unwrap();
    json(&v, r.refs())
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// Writer output equals `hex`, and `hex` decodes back to `v`.
fn check(v: Value, hex: &str) {
    let bytes = b(hex);
    assert_eq!(enc_value(&v), bytes, "encoding {v:?}");
    assert_eq!(dec(&bytes), v, "decoding {hex}");
}

// === vectors: scalars ===

#[test]
fn null_and_booleans() {
    check(Value::Null, "4e");
    check(Value::Bool(true), "54");
    check(Value::Bool(false), "46");
}

#[test]
fn ints_java_vectors() {
    for (v, hex) in [
        (0, "90"),
        (1, "91"),
        (-16, "80"),
        (47, "bf"),
        (48, "c8 30"),
        (-17, "c7 ef"),
        (-2048, "c0 00"),
        (2047, "cf ff"),
        (2048, "d4 08 00"),
        (-2049, "d3 f7 ff"),
        (-262144, "d0 00 00"),
        (262143, "d7 ff ff"),
        (262144, "49 00 04 00 00"),
        (-262145, "49 ff fb ff ff"),
        (i32::MAX, "49 7f ff ff ff"),
        (i32::MIN, "49 80 00 00 00"),
    ] {
        check(Value::Int(v), hex);
        assert_eq!(Reader::new(&b(hex)).read_int().unwrap(), v);
    }
}

#[test]
fn longs_java_vectors() {
    for (v, hex) in [
        (0, "e0"),
        (-8, "d8"),
        (15, "ef"),
        (16, "f8 10"),
        (-9, "f7 f7"),
        (-2048, "f0 00"),
        (2047, "ff ff"),
        (2048, "3c 08 00"),
        (-262144, "38 00 00"),
        (262143, "3f ff ff"),
        (262144, "59 00 04 00 00"),
        (2147483647, "59 7f ff ff ff"),
        (2147483648, "4c 00 00 00 00 80 00 00 00"),
        (-2147483648, "59 80 00 00 00"),
        (-2147483649, "4c ff ff ff ff 7f ff ff ff"),
        (i64::MIN, "4c 80 00 00 00 00 00 00 00"),
    ] {
        check(Value::Long(v), hex);
        assert_eq!(Reader::new(&b(hex)).read_long().unwrap(), v);
    }
}

#[test]
#[allow(clippy::approx_constant)] // 3.14159 is Java's vector, not pi
fn doubles_java_vectors() {
    for (v, hex) in [
        (0.0, "5b"),
        (1.0, "5c"),
        (-128.0, "5d 80"),
        (127.0, "5d 7f"),
        (128.0, "5e 00 80"),
        (-32768.0, "5e 80 00"),
        (32767.0, "5e 7f ff"),
        (32768.0, "5f 01 f4 00 00"),
        (0.5, "5f 00 00 01 f4"),
        (12.25, "5f 00 00 2f da"),
        (3.14159, "44 40 09 21 f9 f0 1b 86 6e"),
        (1.0e10, "44 42 02 a0 5f 20 00 00 00"),
        // Float 1.5f via writeObject: Java widens to double.
        (f64::from(1.5f32), "5f 00 00 05 dc"),
    ] {
        check(Value::Double(v), hex);
        assert_eq!(Reader::new(&b(hex)).read_double().unwrap(), v);
    }
    // -0.0 is written as 0.0, as Java's `(int) -0.0 == 0` test does.
    assert_eq!(enc_value(&Value::Double(-0.0)), b("5b"));
    // NaN and infinities take the 8-byte form.
    for v in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
    ] {
        let bytes = enc_value(&Value::Double(v));
        assert_eq!(bytes[0], b'D', "{v}");
        let Value::Double(back) = dec(&bytes) else {
            panic!()
        };
        assert_eq!(back.to_bits(), v.to_bits());
    }
}

#[test]
fn strings_java_vectors() {
    check(s(""), "00");
    check(s("hello"), "05 68 65 6c 6c 6f");
    check(s("\u{e9}"), "01 c3 a9");
    // Supplementary: two UTF-16 units, each a 3-byte surrogate (CESU-8).
    check(s("\u{1f600}"), "02 ed a0 bd ed b8 80");
    let a32 = "a".repeat(32);
    check(s(&a32), &format!("30 20 \"{a32}\""));
    let a31 = "a".repeat(31);
    check(s(&a31), &format!("1f \"{a31}\""));
    let a1023 = "a".repeat(1023);
    check(s(&a1023), &format!("33 ff \"{a1023}\""));
    let a1024 = "a".repeat(1024);
    check(s(&a1024), &format!("53 04 00 \"{a1024}\""));
    // Length counts UTF-16 units, not bytes or chars.
    let mixed = "\u{e9}\u{4e2d}\u{1f600}x";
    check(s(mixed), "05 c3 a9 e4 b8 ad ed a0 bd ed b8 80 78");
}

#[test]
fn long_strings_chunk_like_java() {
    let a = |n: usize| "a".repeat(n);
    // Exactly 0x8000 units: one final `S` chunk.
    let exact = a(0x8000);
    check(s(&exact), &format!("53 80 00 \"{exact}\""));
    // One more: a non-final `R` chunk of 0x8000, then the rest in short form.
    check(s(&a(0x8001)), &format!("52 80 00 \"{}\" 01 61", a(0x8000)));
    check(
        s(&a(2 * 0x8000 + 40)),
        &format!(
            "52 80 00 \"{0}\" 52 80 00 \"{0}\" 30 28 \"{1}\"",
            a(0x8000),
            a(40)
        ),
    );
    // A surrogate pair never straddles a chunk: that chunk is 0x7fff units.
    let straddle = format!("{}\u{1f600}b", a(0x7fff));
    check(
        s(&straddle),
        &format!("52 7f ff \"{}\" 03 ed a0 bd ed b8 80 62", a(0x7fff)),
    );
    // A pair that ends exactly on the boundary stays in the chunk.
    let fits = format!("{}\u{1f600}b", a(0x7ffe));
    check(
        s(&fits),
        &format!("52 80 00 \"{}\" ed a0 bd ed b8 80 01 62", a(0x7ffe)),
    );
}

#[test]
fn binaries() {
    check(Value::Binary(vec![1, 2, 3]), "23 01 02 03");
    check(Value::Binary(vec![]), "20");
    check(
        Value::Binary(vec![0; 16]),
        "34 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    );
    let with_header = |header: &[u8], data: &[u8]| [header, data].concat();
    let data: Vec<u8> = (0..0x8001u32).map(|i| i as u8).collect();
    for (n, header) in [
        (15, vec![0x2f]),
        (1023, vec![0x37, 0xff]),
        (1024, vec![0x42, 0x04, 0x00]),
        (0x8000, vec![0x42, 0x80, 0x00]),
    ] {
        let v = Value::Binary(data[..n].to_vec());
        let bytes = with_header(&header, &data[..n]);
        assert_eq!(enc_value(&v), bytes, "{n} bytes");
        assert_eq!(dec(&bytes), v);
    }
    let v = Value::Binary(data.clone());
    let mut bytes = vec![0x41, 0x80, 0x00];
    bytes.extend_from_slice(&data[..0x8000]);
    bytes.push(0x21);
    bytes.push(data[0x8000]);
    assert_eq!(enc_value(&v), bytes);
    assert_eq!(dec(&bytes), v);
}

#[test]
fn dates() {
    check(Value::Date(0), "4b 00 00 00 00");
    check(Value::Date(1_700_000_000_000), "4a 00 00 01 8b cf e5 68 00");
    check(Value::Date(60_000), "4b 00 00 00 01");
    check(Value::Date(-60_000), "4b ff ff ff ff");
    check(Value::Date(1), "4a 00 00 00 00 00 00 00 01");
    // Whole minutes beyond int32 need the 8-byte form.
    let far = 60_000 * (i64::from(i32::MAX) + 1);
    check(
        Value::Date(far),
        &format!("4a {}", hex_of(&far.to_be_bytes())),
    );
    check(Value::Date(60_000 * i64::from(i32::MIN)), "4b 80 00 00 00");
    assert_eq!(
        Reader::new(&b("4b 00 00 00 02")).read_date().unwrap(),
        120_000
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x} ")).collect()
}

// === vectors: lists, maps, objects, references ===

#[test]
fn lists_java_vectors() {
    // ArrayList[1,2]
    check(
        Value::list(None, vec![Value::Int(1), Value::Int(2)]),
        "7a 91 92",
    );
    // LinkedList[1]
    check(
        Value::list(Some("java.util.LinkedList"), vec![Value::Int(1)]),
        "71 14 \"java.util.LinkedList\" 91",
    );
    // String[]{a,b}
    check(
        Value::list(Some("[string"), vec![s("a"), s("b")]),
        "72 07 \"[string\" 01 61 01 62",
    );
    // int[]{1,2}
    check(
        Value::list(Some("[int"), vec![Value::Int(1), Value::Int(2)]),
        "72 04 \"[int\" 91 92",
    );
    // Object[]{"x",1}
    check(
        Value::list(Some("[object"), vec![s("x"), Value::Int(1)]),
        "72 07 \"[object\" 01 78 91",
    );
    check(Value::list(None, vec![]), "78");
    // Over 7 items: `X`/`V` with an int length.
    let eight: Vec<Value> = (0..8).map(Value::Int).collect();
    check(
        Value::list(None, eight.clone()),
        "58 98 90 91 92 93 94 95 96 97",
    );
    check(
        Value::list(Some("[int"), eight),
        "56 04 \"[int\" 98 90 91 92 93 94 95 96 97",
    );
}

#[test]
fn variable_lists_and_type_refs() {
    let bytes = enc(|w| {
        w.begin_list(Some("[int"), None);
        w.write_int(1);
        w.write_int(2);
        w.end_list();
        w.begin_list(None, None);
        w.write_int(1);
        w.end_list();
        // Same type again: its index, not the string.
        w.begin_list(Some("[int"), Some(1));
        w.write_int(3);
        w.begin_list(Some("[string"), Some(0));
        w.begin_list(Some("[string"), Some(8));
        for _ in 0..8 {
            w.write_null();
        }
    });
    assert_eq!(
        bytes,
        b(
            "55 04 \"[int\" 91 92 5a  57 91 5a  71 90 93  70 07 \"[string\"  56 91 98 4e 4e 4e 4e 4e 4e 4e 4e"
        )
    );
    let mut r = Reader::new(&bytes);
    let int_list =
        |items: Vec<i32>| Value::list(Some("[int"), items.into_iter().map(Value::Int).collect());
    assert_eq!(r.read_value().unwrap(), int_list(vec![1, 2]));
    assert_eq!(
        r.read_value().unwrap(),
        Value::list(None, vec![Value::Int(1)])
    );
    assert_eq!(r.read_value().unwrap(), int_list(vec![3]));
    assert_eq!(
        r.read_value().unwrap(),
        Value::list(Some("[string"), vec![])
    );
    assert_eq!(
        r.read_value().unwrap(),
        Value::list(Some("[string"), vec![Value::Null; 8])
    );
    assert!(r.is_empty());
    // Empty types are written untyped (Java rejects them).
    assert_eq!(enc(|w| w.begin_list(Some(""), Some(0))), b("78"));
}

#[test]
fn maps_java_vectors() {
    check(
        Value::map(None, vec![(s("a"), Value::Int(1))]),
        "48 01 61 91 5a",
    );
    check(
        Value::map(Some("java.util.TreeMap"), vec![(s("a"), Value::Int(1))]),
        "4d 11 \"java.util.TreeMap\" 01 61 91 5a",
    );
    check(Value::map(None, vec![]), "48 5a");
    // Type names and list types share one table.
    let bytes = enc(|w| {
        w.begin_map(Some("java.util.TreeMap"));
        w.end_map();
        w.begin_list(Some("[int"), Some(0));
        w.begin_map(Some("java.util.TreeMap"));
        w.write_int(1);
        w.begin_list(Some("[int"), Some(0));
        w.end_map();
    });
    assert_eq!(
        bytes,
        b("4d 11 \"java.util.TreeMap\" 5a 70 04 \"[int\" 4d 90 91 70 91 5a")
    );
    let mut r = Reader::new(&bytes);
    for _ in 0..3 {
        r.read_value().unwrap();
    }
    assert!(r.is_empty());
    assert_eq!(r.refs().len(), 4);
}

const GREET_REQUEST: &str = "org.cloudwego.kitex.samples.api.GreetRequest";

#[test]
fn object_java_vectors() {
    let greet = |w: &mut Writer, req: &str| {
        w.write_object_start(GREET_REQUEST, &["req"]);
        w.write_string(req);
    };
    let one = enc(|w| greet(w, "world"));
    assert_eq!(
        one,
        b(&format!(
            "43 30 2c \"{GREET_REQUEST}\" 91 03 \"req\" 60 05 \"world\""
        ))
    );
    let two = enc(|w| {
        greet(w, "a");
        greet(w, "b");
    });
    assert_eq!(
        two,
        b(&format!(
            "43 30 2c \"{GREET_REQUEST}\" 91 03 \"req\" 60 01 61 60 01 62"
        ))
    );

    let class = Arc::new(ClassDef::new(GREET_REQUEST, ["req"]));
    assert_eq!(dec(&one), Value::object(class.clone(), vec![s("world")]));
    let mut r = Reader::new(&two);
    let (a, bb) = (r.read_value().unwrap(), r.read_value().unwrap());
    assert_eq!(a, Value::object(class.clone(), vec![s("a")]));
    assert_eq!(bb, Value::object(class, vec![s("b")]));
    // Both instances share the one definition.
    assert!(Arc::ptr_eq(
        &a.as_object().unwrap().class,
        &bb.as_object().unwrap().class
    ));
    assert_eq!(a.as_object().unwrap().get("req"), Some(&s("a")));
    assert_eq!(json_of(&one), r#"{"req":"world"}"#);
}

#[test]
fn class_ids_and_wide_class_tables() {
    // A registered id starts instances without rehashing; the definition is
    // written on first use only.
    let bytes = enc(|w| {
        let id = w.class_id("a.B", &["x"]);
        assert_eq!(w.class_id("a.B", &["x".to_string()]), id);
        w.write_object_start_id(id);
        w.write_int(1);
        w.write_object_start_id(id);
        w.write_int(2);
        // Same name, other fields: a second definition.
        w.write_object_start("a.B", &["x", "y"]);
        w.write_null();
        w.write_null();
    });
    assert_eq!(
        bytes,
        b("43 03 \"a.B\" 91 01 \"x\" 60 91 60 92 43 03 \"a.B\" 92 01 \"x\" 01 \"y\" 61 4e 4e")
    );
    // Definition #16 and up: `O` + int.
    let bytes = enc(|w| {
        for i in 0..18 {
            w.write_object_start(&format!("C{i:02}"), &[] as &[&str]);
        }
        w.write_object_start("C16", &[] as &[&str]);
    });
    let mut expected = Vec::new();
    for i in 0..18u8 {
        expected.extend(b(&format!("43 03 \"C{i:02}\" 90")));
        expected.extend(if i < 16 {
            vec![0x60 + i]
        } else {
            vec![b'O', 0x90 + i]
        });
    }
    expected.extend(b("4f a0"));
    assert_eq!(bytes, expected);
    let mut r = Reader::new(&bytes);
    for i in (0..18).chain([16]) {
        let v = r.read_value().unwrap();
        assert_eq!(v.as_object().unwrap().class_name(), format!("C{i:02}"));
    }
    assert!(r.is_empty());
}

#[test]
fn shared_list_reference_vector() {
    // Object[]{list, list} with the same ArrayList[1] twice.
    let bytes = enc(|w| {
        w.begin_list(Some("[object"), Some(2));
        let shared = w.ref_count();
        w.begin_list(None, Some(1));
        w.write_int(1);
        w.write_ref(shared);
    });
    assert_eq!(bytes, b("72 07 \"[object\" 79 91 51 91"));
    let mut r = Reader::new(&bytes);
    let v = r.read_value().unwrap();
    let inner = Value::list(None, vec![Value::Int(1)]);
    assert_eq!(
        v,
        Value::list(Some("[object"), vec![inner.clone(), Value::Ref(1)])
    );
    let refs = r.refs();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs.get(0), Some(&v));
    assert_eq!(Value::Ref(1).resolve(refs), Some(&inner));
    assert_eq!(json(&v, refs), "[[1],[1]]");
    // Re-encoding the decoded tree gives the same bytes.
    assert_eq!(enc_value(&v), bytes);
}

const EXCEPTION_BODY: &str = "90 43 1a \"java.lang.RuntimeException\" 94 14 \"suppressedExceptions\" \
     0a \"stackTrace\" 05 \"cause\" 0d \"detailMessage\" 60 70 1f \"java.util.Collections$EmptyList\" \
     70 1c \"[java.lang.StackTraceElement\" 51 90 04 \"boom\"";

#[test]
fn exception_with_self_reference() {
    let fields = [
        "suppressedExceptions",
        "stackTrace",
        "cause",
        "detailMessage",
    ];
    let bytes = enc(|w| {
        w.write_int(0);
        let me = w.ref_count();
        w.write_object_start("java.lang.RuntimeException", &fields);
        w.begin_list(Some("java.util.Collections$EmptyList"), Some(0));
        w.begin_list(Some("[java.lang.StackTraceElement"), Some(0));
        w.write_ref(me);
        w.write_string("boom");
    });
    assert_eq!(bytes, b(EXCEPTION_BODY));

    let mut r = Reader::new(&bytes);
    assert_eq!(r.read_int().unwrap(), 0);
    let e = r.read_value().unwrap();
    assert!(r.is_empty());
    let obj = e.as_object().unwrap();
    assert_eq!(obj.class_name(), "java.lang.RuntimeException");
    assert_eq!(obj.get("detailMessage"), Some(&s("boom")));
    assert_eq!(obj.get("cause"), Some(&Value::Ref(0)));
    assert_eq!(
        obj.get("stackTrace"),
        Some(&Value::list(Some("[java.lang.StackTraceElement"), vec![]))
    );
    // The cause resolves to the exception itself, without expanding anything.
    let cause = obj.get("cause").unwrap().resolve(r.refs()).unwrap();
    assert_eq!(cause, &e);
    assert_eq!(r.refs().len(), 3);
    assert_eq!(
        json(&e, r.refs()),
        r#"{"suppressedExceptions":[],"stackTrace":[],"cause":null,"detailMessage":"boom"}"#
    );
    // Rendering the reference on its own copies the object once; its inner
    // self-reference is then a cycle.
    assert_eq!(
        json(&Value::Ref(0), r.refs()),
        r#"{"suppressedExceptions":[],"stackTrace":[],"cause":null,"detailMessage":"boom"}"#
    );
    let mut again = Writer::new();
    again.write_int(0);
    again.write_value(&e);
    assert_eq!(again.into_inner(), bytes);
}

// === Dubbo bodies (wire.md §5.5, §5.8) ===

const GREET_PROVIDER: &str = "org.cloudwego.kitex.samples.api.GreetProvider";

#[test]
fn dubbo_request_body() {
    let bytes = enc(|w| {
        w.write_string("2.0.2");
        w.write_string(GREET_PROVIDER);
        w.write_string("");
        w.write_string("Greet");
        w.write_string("Ljava/lang/String;");
        w.write_string("world");
        w.begin_map(None);
        w.write_string("path");
        w.write_string(GREET_PROVIDER);
        w.end_map();
    });
    let expected = b(&format!(
        "05 \"2.0.2\" 30 2d \"{GREET_PROVIDER}\" 00 05 \"Greet\" 12 \"Ljava/lang/String;\" \
         05 \"world\" 48 04 \"path\" 30 2d \"{GREET_PROVIDER}\" 5a"
    ));
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 139);

    let mut r = Reader::new(&bytes);
    assert_eq!(r.read_string().unwrap(), "2.0.2");
    assert_eq!(r.read_string().unwrap(), GREET_PROVIDER);
    assert_eq!(r.read_opt_string().unwrap().as_deref(), Some(""));
    assert_eq!(r.read_string().unwrap(), "Greet");
    assert_eq!(r.read_string().unwrap(), "Ljava/lang/String;");
    assert_eq!(r.read_value().unwrap(), s("world"));
    let att = r.read_value().unwrap();
    assert_eq!(
        json(&att, r.refs()),
        format!(r#"{{"path":"{GREET_PROVIDER}"}}"#)
    );
    assert!(r.is_empty());
    // A Java consumer may send a null version.
    assert_eq!(Reader::new(&b("4e")).read_opt_string().unwrap(), None);
}

#[test]
fn dubbo_generic_invoke_body() {
    let desc = "Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;";
    let bytes = enc(|w| {
        w.write_string("2.0.2");
        w.write_string(GREET_PROVIDER);
        w.write_string("");
        w.write_string("$invoke");
        w.write_string(desc);
        w.write_string("Greet");
        w.begin_list(Some("[string"), Some(1));
        w.write_string("java.lang.String");
        w.begin_list(Some("[object"), Some(1));
        w.write_string("world");
        w.begin_map(None);
        w.write_string("generic");
        w.write_string("true");
        w.end_map();
    });
    let expected = b(&format!(
        "05 \"2.0.2\" 30 2d \"{GREET_PROVIDER}\" 00 07 \"$invoke\" 30 38 \"{desc}\" 05 \"Greet\" \
         71 07 \"[string\" 10 \"java.lang.String\" 71 07 \"[object\" 05 \"world\" \
         48 07 \"generic\" 04 \"true\" 5a"
    ));
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 182);
}

#[test]
fn dubbo_response_body() {
    let bytes = enc(|w| {
        w.write_int(4);
        w.write_string("Hello world");
        w.begin_map(None);
        w.write_string("dubbo");
        w.write_string("2.0.2");
        w.end_map();
    });
    assert_eq!(
        bytes,
        b("94 0b \"Hello world\" 48 05 \"dubbo\" 05 \"2.0.2\" 5a")
    );
    let mut r = Reader::new(&bytes);
    assert_eq!(r.read_int().unwrap(), 4);
    assert_eq!(r.read_value().unwrap(), s("Hello world"));
    assert_eq!(
        r.read_value().unwrap(),
        Value::map(None, vec![(s("dubbo"), s("2.0.2"))])
    );
    assert!(r.is_empty());
    // Heartbeat body.
    assert_eq!(enc(|w| w.write_null()), b("4e"));
}

#[test]
fn writes_into_bytes_mut() {
    let mut dst = bytes::BytesMut::new();
    let mut w = Writer::with_buf(&mut dst);
    w.write_int(4);
    w.write_string("hi");
    assert_eq!(&dst[..], b("94 02 \"hi\""));
}

// === forms Java does not write ===

#[test]
fn reads_non_minimal_and_other_forms() {
    for (hex, v) in [
        ("49 00 00 00 01", Value::Int(1)),
        ("d4 00 01", Value::Int(1)),
        ("c8 01", Value::Int(1)),
        ("4c 00 00 00 00 00 00 00 05", Value::Long(5)),
        ("59 00 00 00 05", Value::Long(5)),
        ("3c 00 05", Value::Long(5)),
        ("f8 05", Value::Long(5)),
        ("44 3f f0 00 00 00 00 00 00", Value::Double(1.0)),
        ("5d ff", Value::Double(-1.0)),
        ("5e ff 00", Value::Double(-256.0)),
        ("5f ff ff ff ff", Value::Double(-0.001)),
        ("53 00 02 \"hi\"", s("hi")),
        ("30 02 \"hi\"", s("hi")),
        ("52 00 01 \"h\" 53 00 01 \"i\"", s("hi")),
        ("52 00 01 \"h\" 52 00 00 01 \"i\"", s("hi")),
        ("42 00 02 01 02", Value::Binary(vec![1, 2])),
        ("34 02 01 02", Value::Binary(vec![1, 2])),
        ("41 00 01 01 41 00 00 21 02", Value::Binary(vec![1, 2])),
        // Surrogate pair split across chunks.
        ("52 00 01 ed a0 bd 01 ed b8 80", s("\u{1f600}")),
        // Plain 4-byte UTF-8 counts as two units.
        ("03 f0 9f 98 80 78", s("\u{1f600}x")),
        // Unpaired surrogates become U+FFFD.
        ("02 ed a0 bd 78", s("\u{fffd}x")),
        ("01 ed b8 80", s("\u{fffd}")),
        ("02 ed a0 bd ed a0 bd", s("\u{fffd}\u{fffd}")),
        // Overlong NUL (Java modified UTF-8).
        ("01 c0 80", s("\0")),
        // Variable lists, fixed lists with a type index, typed maps by index.
        (
            "57 91 92 5a",
            Value::list(None, vec![Value::Int(1), Value::Int(2)]),
        ),
        (
            "55 04 \"[int\" 91 5a",
            Value::list(Some("[int"), vec![Value::Int(1)]),
        ),
        ("58 91 4e", Value::list(None, vec![Value::Null])),
        (
            "56 04 \"[int\" 92 91 92",
            Value::list(Some("[int"), vec![Value::Int(1), Value::Int(2)]),
        ),
    ] {
        assert_eq!(dec(&b(hex)), v, "{hex}");
    }
    // A type index referring to an earlier type.
    let bytes = b("72 04 \"[int\" 91 92 4d 90 5a 56 90 91 93");
    let mut r = Reader::new(&bytes);
    r.read_value().unwrap();
    assert_eq!(r.read_value().unwrap(), Value::map(Some("[int"), vec![]));
    assert_eq!(
        r.read_value().unwrap(),
        Value::list(Some("[int"), vec![Value::Int(3)])
    );
    // `O` with a small index, and a definition in front of a map key.
    let bytes = b("43 01 \"A\" 90 4f 90 48 43 01 \"B\" 90 61 91 5a");
    let mut r = Reader::new(&bytes);
    let a = r.read_value().unwrap();
    assert_eq!(a.as_object().unwrap().class_name(), "A");
    let m = r.read_value().unwrap();
    let (k, v) = &m.as_map().unwrap().entries[0];
    assert_eq!(k.as_object().unwrap().class_name(), "B");
    assert_eq!(v, &Value::Int(1));
    assert!(r.is_empty());
}

#[test]
fn direct_accessors() {
    let bytes = b("e5 91 f8 10 54 46 4e 01 61 23 01 02 03 95");
    let mut r = Reader::new(&bytes);
    // Java's readInt accepts a long in range; readLong accepts an int.
    assert_eq!(r.read_int().unwrap(), 5);
    assert_eq!(r.read_long().unwrap(), 1);
    assert_eq!(r.read_double().unwrap(), 16.0);
    assert!(r.read_bool().unwrap());
    assert!(!r.read_bool().unwrap());
    assert_eq!(r.peek_tag(), Some(b'N'));
    assert!(r.read_null());
    assert!(!r.read_null());
    assert_eq!(r.read_opt_string().unwrap().as_deref(), Some("a"));
    assert_eq!(r.read_binary().unwrap(), vec![1, 2, 3]);
    r.skip_value().unwrap();
    assert!(r.is_empty());
    assert_eq!(r.position(), 14);

    let err = Reader::new(&b("91")).read_string().unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed hessian2 data: expected a string at offset 0, found tag 0x91 (int)"
    );
    let err = Reader::new(&b("4c 00 00 00 01 00 00 00 00"))
        .read_int()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed hessian2 data: an int 4294967296 at offset 0 is out of range"
    );
    assert!(Reader::new(&b("01 61")).read_int().is_err());
    assert!(Reader::new(&b("91")).read_bool().is_err());
    assert!(Reader::new(&b("91")).read_date().is_err());
    assert!(Reader::new(&b("91")).read_binary().is_err());
    assert!(Reader::new(&b("01")).read_double().is_err());
}

// === malformed input and limits ===

fn wire_message(e: CodecError) -> String {
    match e {
        CodecError::Wire { protocol, message } => {
            assert_eq!(protocol, "hessian2");
            message
        }
        other => panic!("expected a wire error, got {other:?}"),
    }
}

#[test]
fn malformed_input_errors() {
    for (hex, message) in [
        ("40", "unknown tag 0x40 at offset 0"),
        ("45", "unknown tag 0x45 at offset 0"),
        ("5a", "unexpected end marker 'Z' at offset 0"),
        (
            "51 90",
            "reference #0 at offset 1 points past the 0 list(s), map(s) and object(s) read so far",
        ),
        (
            "79 51 91",
            "reference #1 at offset 2 points past the 1 list(s), map(s) and object(s) read so far",
        ),
        (
            "51 8f",
            "reference #-1 at offset 1 points past the 0 list(s), map(s) and object(s) read so far",
        ),
        (
            "60",
            "object at offset 0 uses class definition #0, but 0 are defined",
        ),
        (
            "4f 8f",
            "object at offset 1 uses class definition #-1, but 0 are defined",
        ),
        (
            "72 90",
            "type index 0 at offset 1 is not among the 0 type name(s) read so far",
        ),
        ("58 8f", "negative list length -1 at offset 1"),
        (
            "43 01 \"A\" 8f",
            "negative class field count -1 at offset 3",
        ),
        (
            "43 91",
            "expected a string at offset 1, found tag 0x91 (int)",
        ),
        (
            "58 01 61",
            "expected list length at offset 1, found tag 0x01 (string)",
        ),
        (
            "52 00 01 61 91",
            "expected a string chunk at offset 4, found tag 0x91 (int)",
        ),
        (
            "41 00 01 61 91",
            "expected a binary chunk at offset 4, found tag 0x91 (int)",
        ),
        ("01 ff", "invalid utf-8 byte 0xff in string at offset 1"),
        ("01 80", "invalid utf-8 byte 0x80 in string at offset 1"),
        ("01 c3 41", "invalid utf-8 sequence in string at offset 1"),
        // A 4-byte sequence needs two units.
        (
            "01 f0 9f 98 80",
            "invalid utf-8 byte 0xf0 in string at offset 1",
        ),
        (
            "02 f4 90 80 80",
            "invalid utf-8 sequence in string at offset 1",
        ),
        (
            "02 f0 8f bf bf",
            "invalid utf-8 sequence in string at offset 1",
        ),
    ] {
        assert_eq!(wire_message(dec_err(&b(hex))), message, "{hex}");
    }
}

#[test]
fn hostile_lengths_do_not_allocate() {
    for hex in [
        "58 49 7f ff ff ff",
        "56 04 \"[int\" 49 7f ff ff ff 91",
        "53 ff ff 61",
        "52 ff ff 61",
        "42 ff ff 01",
        "41 ff ff 01",
        "43 01 \"A\" 49 7f ff ff ff 01 61",
        "33 ff",
        "37 ff 00",
    ] {
        assert_eq!(
            dec_err(&b(hex)),
            CodecError::Truncated {
                protocol: "hessian2"
            },
            "{hex}"
        );
    }
    // A definition with more fields than bytes left for values.
    let mut bytes = b("43 01 \"A\" 93 01 \"a\" 01 \"b\" 01 \"c\" 60 91");
    assert!(matches!(
        Reader::new(&bytes).read_value(),
        Err(CodecError::Truncated { .. })
    ));
    bytes.extend(b("92 93"));
    assert!(dec(&bytes).as_object().is_some());
}

#[test]
fn depth_limit() {
    let nested = |depth: usize| {
        let mut v = vec![0x79; depth];
        v.push(0x90);
        v
    };
    assert!(Reader::new(&nested(64)).read_value().is_ok());
    assert_eq!(
        Reader::new(&nested(65)).read_value().unwrap_err(),
        CodecError::TooLarge {
            what: "hessian2 nesting depth",
            size: 65,
            max: 64
        }
    );
    // Maps and objects count too.
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let deep = b("43 01 \"A\" 91 01 \"a\" 60 48 90 79 90 5a");
    assert!(matches!(
        Reader::with_limits(&deep, limits).read_value(),
        Err(CodecError::TooLarge {
            what: "hessian2 nesting depth",
            ..
        })
    ));
    assert!(Reader::new(&deep).read_value().is_ok());
    // A deep stream is rejected without exhausting the stack.
    assert!(Reader::new(&nested(1_000_000)).read_value().is_err());
}

#[test]
fn table_limits() {
    let limits = Limits {
        max_class_defs: 2,
        max_types: 2,
        max_refs: 3,
        ..Limits::default()
    };
    let defs = b("43 01 \"A\" 90 43 01 \"B\" 90 43 01 \"C\" 90 60");
    assert_eq!(
        Reader::with_limits(&defs, limits).read_value().unwrap_err(),
        CodecError::TooLarge {
            what: "hessian2 class definitions",
            size: 3,
            max: 2
        }
    );
    let types = b("70 01 \"a\" 70 01 \"b\" 70 01 \"c\"");
    let mut r = Reader::with_limits(&types, limits);
    r.read_value().unwrap();
    r.read_value().unwrap();
    assert_eq!(
        r.read_value().unwrap_err(),
        CodecError::TooLarge {
            what: "hessian2 type names",
            size: 3,
            max: 2
        }
    );
    let lists = b("78 48 5a 78 78");
    let mut r = Reader::with_limits(&lists, limits);
    for _ in 0..3 {
        r.read_value().unwrap();
    }
    assert_eq!(
        r.read_value().unwrap_err(),
        CodecError::TooLarge {
            what: "hessian2 lists, maps and objects",
            size: 4,
            max: 3
        }
    );
}

// === JSON ===

#[test]
fn json_scalars() {
    let refs = RefTable::default();
    for (v, text) in [
        (Value::Null, "null"),
        (Value::Bool(true), "true"),
        (Value::Int(-5), "-5"),
        (Value::Long(i64::MAX), "9223372036854775807"),
        (Value::Double(1.5), "1.5"),
        (Value::Double(0.001), "0.001"),
        (Value::Double(f64::NAN), "null"),
        (Value::Double(f64::NEG_INFINITY), "null"),
        (Value::Binary(vec![0xfb, 0xff]), r#""+/8=""#),
        (Value::Binary(vec![]), r#""""#),
        (Value::Date(0), r#""1970-01-01T00:00:00.000Z""#),
        (s("q\"\\\n\u{1}é😀"), r#""q\"\\\n\u0001é😀""#),
    ] {
        assert_eq!(json(&v, &refs), text, "{v:?}");
    }
    for text in [
        "plain",
        "q\"b\\s",
        "ctl\u{1}\u{1f}\n\t\u{8}\u{c}\r",
        "ünï😀",
    ] {
        assert_eq!(json(&s(text), &refs), serde_json::to_string(text).unwrap());
    }
}

fn date(ms: i64) -> String {
    let mut out = Vec::new();
    write_date_rfc3339(&mut out, ms);
    String::from_utf8(out).unwrap()
}

#[test]
fn json_dates() {
    for (ms, text) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (951_868_799_999, "2000-02-29T23:59:59.999Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
        (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        (-62_167_219_200_001, "-000001-12-31T23:59:59.999Z"),
        (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z"),
        (i64::MAX, "+292278994-08-17T07:12:55.807Z"),
        (i64::MIN, "-292275055-05-16T16:47:04.192Z"),
    ] {
        assert_eq!(date(ms), text, "{ms}");
    }
}

#[test]
fn json_dates_match_day_by_day_count() {
    // Walk the calendar one day at a time from 1970 in both directions.
    fn days_in(year: i64, month: u32) -> u32 {
        match month {
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    for day in 0..800_000i64 {
        if day % 997 == 0 {
            let want = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            assert_eq!(date(day * 86_400_000), want);
        }
        d += 1;
        if d > days_in(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    for day in (-719_000..=0i64).rev() {
        if day % 997 == 0 {
            let want = format!("{y:04}-{m:02}-{d:02}T12:34:56.789Z");
            assert_eq!(date(day * 86_400_000 + 45_296_789), want);
        }
        if d == 1 {
            if m == 1 {
                m = 12;
                y -= 1;
            } else {
                m -= 1;
            }
            d = days_in(y, m);
        } else {
            d -= 1;
        }
    }
}

#[test]
fn json_collections_and_keys() {
    let bytes = enc(|w| {
        w.begin_map(Some("java.util.TreeMap"));
        w.write_int(1);
        w.write_string("int key");
        w.write_bool(true);
        w.write_int(2);
        w.write_null();
        w.write_int(3);
        w.begin_list(None, Some(2));
        w.write_int(1);
        w.write_string("\"");
        w.write_int(4);
        w.write_date_millis(0);
        w.write_int(5);
        w.write_binary(&[1]);
        w.write_int(6);
        w.write_string("s");
        w.begin_list(Some("[int"), Some(0));
        w.write_double(2.5);
        w.write_long(7);
        w.write_ref(0);
        w.write_int(8);
        w.end_map();
    });
    let text = json_of(&bytes);
    assert_eq!(
        text,
        r#"{"1":"int key","true":2,"null":3,"[1,\"\\\"\"]":4,"1970-01-01T00:00:00.000Z":5,"AQ==":6,"s":[],"2.5":7,"null":8}"#
    );
}

#[test]
fn json_reference_blowup_is_bounded() {
    // list_k = [list_{k-1}, list_{k-1}] by reference: 2^40 leaves.
    let bytes = enc(|w| {
        w.begin_list(None, Some(1));
        w.write_int(1);
        for k in 1..=40 {
            w.begin_list(None, Some(2));
            w.write_ref(k - 1);
            w.write_ref(k - 1);
        }
    });
    let mut r = Reader::new(&bytes);
    let mut last = Value::Null;
    while !r.is_empty() {
        last = r.read_value().unwrap();
    }
    let opts = JsonOptions {
        max_len: 1 << 16,
        ..JsonOptions::default()
    };
    let err = write_json(&last, r.refs(), &opts, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::TooLarge {
                what: "hessian2 json output",
                max: 65536,
                ..
            }
        ),
        "{err:?}"
    );
    // A small one renders in full.
    assert_eq!(json(&Value::Ref(2), r.refs()), "[[[1],[1]],[[1],[1]]]");

    // A chain of references nests deeper than any decoded tree.
    let bytes = enc(|w| {
        w.begin_list(None, Some(0));
        for k in 1..=200 {
            w.begin_list(None, Some(1));
            w.write_ref(k - 1);
        }
    });
    let mut r = Reader::new(&bytes);
    while !r.is_empty() {
        r.read_value().unwrap();
    }
    let err = write_json(
        &Value::Ref(200),
        r.refs(),
        &JsonOptions::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CodecError::TooLarge {
            what: "hessian2 json nesting depth",
            size: 129,
            max: 128
        }
    );
    assert!(
        write_json(
            &Value::Ref(100),
            r.refs(),
            &JsonOptions::default(),
            &mut Vec::new()
        )
        .is_ok()
    );
    // A reference outside the table.
    assert!(
        write_json(
            &Value::Ref(7),
            &RefTable::default(),
            &JsonOptions::default(),
            &mut Vec::new()
        )
        .is_err()
    );
}

#[test]
fn json_mutual_cycle() {
    // a = {peer: b}, b = {peer: a}
    let bytes = enc(|w| {
        w.write_object_start("Node", &["name", "peer"]);
        w.write_string("a");
        w.write_object_start("Node", &["name", "peer"]);
        w.write_string("b");
        w.write_ref(0);
    });
    let mut r = Reader::new(&bytes);
    let a = r.read_value().unwrap();
    assert_eq!(
        json(&a, r.refs()),
        r#"{"name":"a","peer":{"name":"b","peer":null}}"#
    );
    let b_node = a.as_object().unwrap().get("peer").unwrap();
    assert_eq!(
        json(b_node, r.refs()),
        r#"{"name":"b","peer":{"name":"a","peer":null}}"#
    );
}

// === randomized ===

struct Gen {
    rng: Rng,
    /// Lists, maps and objects started so far in the stream.
    started: usize,
    classes: Vec<Arc<ClassDef>>,
}

const TYPES: [&str; 5] = ["[int", "[string", "[object", "java.util.LinkedList", "x"];
const CHARS: [char; 10] = [
    'a',
    'Z',
    '0',
    '\0',
    '"',
    '\u{e9}',
    '\u{4e2d}',
    '\u{ffff}',
    '\u{1f600}',
    '\u{10ffff}',
];

impl Gen {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        // Twenty definitions, some sharing a name, so `O` forms and repeats occur.
        let classes = (0..20)
            .map(|i| {
                let n = rng.below(4) as usize;
                let fields: Vec<String> = (0..n).map(|f| format!("f{f}")).collect();
                Arc::new(ClassDef::new(format!("com.example.C{}", i % 17), fields))
            })
            .collect();
        Gen {
            rng,
            started: 0,
            classes,
        }
    }

    fn int(&mut self) -> i32 {
        (self.rng.next() as i32) >> self.rng.below(32)
    }

    fn long(&mut self) -> i64 {
        (self.rng.next() as i64) >> self.rng.below(64)
    }

    fn double(&mut self) -> f64 {
        match self.rng.below(6) {
            0 => f64::from(self.int()),
            1 => 0.001 * f64::from(self.int()),
            2 => f64::from(self.int()) / 8.0,
            3 => [0.0, -0.0, 1.0, f64::INFINITY, f64::MIN_POSITIVE][self.rng.below(5) as usize],
            _ => {
                let v = f64::from_bits(self.rng.next());
                if v.is_nan() { 0.25 } else { v }
            }
        }
    }

    fn string(&mut self) -> String {
        let len = if self.rng.one_in(300) {
            0x8000 + self.rng.below(40) as usize - 20
        } else if self.rng.one_in(20) {
            1000 + self.rng.below(50) as usize
        } else {
            self.rng.below(40) as usize
        };
        let ascii_only = self.rng.one_in(2);
        (0..len)
            .map(|_| {
                if ascii_only {
                    char::from(b'a' + self.rng.below(26) as u8)
                } else {
                    CHARS[self.rng.below(CHARS.len() as u64) as usize]
                }
            })
            .collect()
    }

    fn binary(&mut self) -> Vec<u8> {
        let len = if self.rng.one_in(300) {
            0x8000 + self.rng.below(40) as usize - 20
        } else if self.rng.one_in(20) {
            1000 + self.rng.below(50) as usize
        } else {
            self.rng.below(40) as usize
        };
        (0..len).map(|_| self.rng.next() as u8).collect()
    }

    fn type_name(&mut self) -> Option<&'static str> {
        if self.rng.one_in(2) {
            None
        } else {
            Some(TYPES[self.rng.below(TYPES.len() as u64) as usize])
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        let kind = if depth >= 5 {
            self.rng.below(9)
        } else if depth < 3 && self.rng.one_in(2) {
            9 + self.rng.below(3)
        } else {
            self.rng.below(12)
        };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(self.rng.one_in(2)),
            2 => Value::Int(self.int()),
            3 => Value::Long(self.long()),
            4 => Value::Double(self.double()),
            5 => Value::String(self.string()),
            6 => Value::Binary(self.binary()),
            7 => Value::Date(if self.rng.one_in(2) {
                60_000 * self.long().clamp(-(1 << 40), 1 << 40)
            } else {
                self.long()
            }),
            8 if self.started > 0 => Value::Ref(self.rng.below(self.started as u64) as usize),
            8 => Value::Null,
            9 => {
                self.started += 1;
                let t = self.type_name();
                let n = if self.rng.one_in(10) {
                    self.rng.below(20)
                } else {
                    self.rng.below(5)
                };
                let items = (0..n).map(|_| self.value(depth + 1)).collect();
                Value::list(t, items)
            }
            10 => {
                self.started += 1;
                let t = self.type_name();
                let n = self.rng.below(5);
                let entries = (0..n)
                    .map(|_| (self.value(depth + 1), self.value(depth + 1)))
                    .collect();
                Value::map(t, entries)
            }
            _ => {
                self.started += 1;
                let class =
                    self.classes[self.rng.below(self.classes.len() as u64) as usize].clone();
                let values = (0..class.fields.len())
                    .map(|_| self.value(depth + 1))
                    .collect();
                Value::object(class, values)
            }
        }
    }
}

#[test]
fn random_round_trips() {
    let small_json = JsonOptions {
        max_len: 1 << 20,
        max_depth: 128,
    };
    for case in 0..3000u64 {
        let mut g = Gen::new(case);
        let count = 1 + g.rng.below(3) as usize;
        let values: Vec<Value> = (0..count).map(|_| g.value(0)).collect();
        let mut w = Writer::new();
        for v in &values {
            w.write_value(v);
        }
        assert_eq!(w.ref_count(), g.started, "case {case}");
        let bytes = w.into_inner();

        let mut r = Reader::new(&bytes);
        let mut decoded = Vec::new();
        for v in &values {
            let d = r
                .read_value()
                .unwrap_or_else(|e| panic!("case {case}: {e} in {v:?}"));
            assert!(d == *v, "case {case}:\n{d:?}\n!=\n{v:?}");
            decoded.push(d);
        }
        assert!(r.is_empty(), "case {case}");
        assert_eq!(r.refs().len(), g.started);

        // Writing the decoded values again gives the same stream.
        let mut again = Writer::new();
        for d in &decoded {
            again.write_value(d);
        }
        assert_eq!(again.into_inner(), bytes, "case {case}");

        for d in &decoded {
            let mut out = Vec::new();
            match write_json(d, r.refs(), &small_json, &mut out) {
                Ok(()) => {
                    serde_json::from_slice::<serde_json::Value>(&out)
                        .unwrap_or_else(|e| panic!("case {case}: invalid json {e}"));
                }
                Err(CodecError::TooLarge { .. }) => {}
                Err(e) => panic!("case {case}: {e}"),
            }
        }

        // Every strict prefix of a single value is reported as truncated.
        if case % 10 == 0 && bytes.len() < 4096 {
            let single = enc_value(&values[0]);
            let len = single.len();
            for cut in 0..len {
                match Reader::new(&single[..cut]).read_value() {
                    Err(CodecError::Truncated { .. }) => {}
                    other => panic!("case {case} cut {cut}/{len}: {other:?}"),
                }
            }
        }
    }
}

/// Reads values until the input ends or an error, rendering each as JSON.
fn chew(bytes: &[u8], limits: Limits) {
    let mut r = Reader::with_limits(bytes, limits);
    let opts = JsonOptions {
        max_len: 1 << 16,
        max_depth: 64,
    };
    while !r.is_empty() {
        match r.read_value() {
            Ok(v) => {
                let mut out = Vec::new();
                let _ = write_json(&v, r.refs(), &opts, &mut out);
            }
            Err(_) => break,
        }
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0x5eed);
    // Bytes biased towards structural tags so parsing gets deep.
    const TAGS: &[u8] = b"CONQRSVWXUZHMABTF\x60\x61\x70\x71\x78\x79\x90\x91\x92\x93\xc8\xd4\x00\x01\x02\x30\x34\x20\x5f\x4a\x4b\xed\xf0";
    let limits = Limits {
        max_depth: 16,
        max_refs: 256,
        max_class_defs: 8,
        max_types: 8,
    };
    for _ in 0..30_000 {
        let len = rng.below(64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.one_in(2) {
                    TAGS[rng.below(TAGS.len() as u64) as usize]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        chew(&bytes, limits);
        chew(&bytes, Limits::default());
    }
    // Valid streams with bytes flipped, dropped or cut.
    for case in 0..1500u64 {
        let mut g = Gen::new(case ^ 0xabcdef);
        let mut w = Writer::new();
        for _ in 0..2 {
            let v = g.value(0);
            w.write_value(&v);
        }
        let bytes = w.into_inner();
        if bytes.is_empty() || bytes.len() > 4096 {
            continue;
        }
        for _ in 0..8 {
            let mut m = bytes.clone();
            match rng.below(3) {
                0 => {
                    let i = rng.below(m.len() as u64) as usize;
                    m[i] = rng.next() as u8;
                }
                1 => {
                    let i = rng.below(m.len() as u64) as usize;
                    m.remove(i);
                }
                _ => m.truncate(rng.below(m.len() as u64) as usize),
            }
            chew(&m, limits);
            chew(&m, Limits::default());
        }
    }
}
