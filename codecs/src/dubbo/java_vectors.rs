//! Against bytes that Apache Dubbo 3.3.6 and its hessian-lite wrote
//! (`e2e/peers/dubbo/vectors.txt`, made by the Java peer's `vectors` mode and
//! a relay recording real consumer/provider exchanges): our writer produces
//! the same bytes for the same values, and every recorded frame decodes.

use std::collections::HashMap;

use super::mapping::DubboJsonOptions;
use super::*;
use crate::hessian2::{Limits, Reader, Value, Writer};

fn vectors() -> HashMap<String, Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/peers/dubbo/vectors.txt"
    );
    let text = std::fs::read_to_string(path).expect("vectors.txt of the Java peer");
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, hex)| {
            let hex = hex.trim();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name.to_string(), bytes)
        })
        .collect()
}

fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.into_inner()
}

#[test]
fn writer_matches_java_byte_for_byte() {
    let v = vectors();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("long_null", written(|w| w.write_null())),
        ("long_1024", written(|w| w.write_long(1024))),
        ("long_5000000000", written(|w| w.write_long(5_000_000_000))),
        ("int_1024", written(|w| w.write_int(1024))),
        ("int_min", written(|w| w.write_int(i32::MIN))),
        ("double_3_75", written(|w| w.write_double(3.75))),
        ("double_119_98", written(|w| w.write_double(119.98))),
        ("bool_true", written(|w| w.write_bool(true))),
        (
            "string_hello_world_cjk",
            written(|w| w.write_string("hello 世界")),
        ),
        (
            "date_millis",
            written(|w| w.write_date_millis(1_700_000_000_123)),
        ),
        ("bytes_0123", written(|w| w.write_binary(&[0, 1, 2, 3]))),
        (
            "list_int",
            written(|w| {
                w.begin_list(None, Some(5));
                for n in [1, 2, 3, -1, 1000] {
                    w.write_int(n);
                }
            }),
        ),
        (
            "hashmap_string_long",
            written(|w| {
                w.begin_map(None);
                w.write_string("bb");
                w.write_long(2);
                w.write_string("a");
                w.write_long(1);
                w.write_string("big");
                w.write_long(5_000_000_000);
                w.end_map();
            }),
        ),
        (
            "enum_status_paid",
            written(|w| {
                w.write_object_start("com.kitegate.e2e.api.Status", &["name"]);
                w.write_string("PAID");
            }),
        ),
        (
            "hello_add_request",
            written(|w| {
                w.write_object_start("kitegate.hello.AddRequest", &["second", "first"]);
                w.write_long(512);
                w.write_long(512);
            }),
        ),
        (
            "hello_add_response",
            written(|w| {
                w.write_object_start("kitegate.hello.AddResponse", &["sum"]);
                w.write_long(1024);
            }),
        ),
        (
            "two_add_requests_one_stream",
            written(|w| {
                for (a, b) in [(1, 2), (3, 4)] {
                    w.write_object_start("kitegate.hello.AddRequest", &["second", "first"]);
                    w.write_long(b);
                    w.write_long(a);
                }
            }),
        ),
    ];
    for (name, ours) in cases {
        let java = v.get(name).unwrap_or_else(|| panic!("no vector {name}"));
        assert_eq!(&ours, java, "{name}");
    }
    // The date on a whole minute: Java's compact form.
    let java = &v["date_minute_aligned"];
    let mut r = Reader::new(java);
    let ms = r.read_date().unwrap();
    assert_eq!(written(|w| w.write_date_millis(ms)), *java);
}

#[test]
fn every_recorded_frame_decodes() {
    let v = vectors();
    let mut frames = 0;
    for (name, bytes) in &v {
        if !name.starts_with("wire.") {
            // A bare Hessian value (or response body): it reads to the end.
            if name.starts_with("response_body") || name.starts_with("exception") {
                continue;
            }
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                r.read_value().unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            continue;
        }
        frames += 1;
        assert_eq!(
            frame_len(bytes, DEFAULT_MAX_BODY).unwrap(),
            Some(bytes.len()),
            "{name}"
        );
        if name.ends_with(".request") {
            let req =
                decode_request(bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !req.event {
                assert_eq!(req.dubbo_version, DUBBO_VERSION, "{name}");
                let keys: Vec<&str> = req.attachments.iter().map(|(k, _)| k.as_str()).collect();
                assert!(
                    keys.contains(&"path") && keys.contains(&"interface"),
                    "{name}: {keys:?}"
                );
            }
        } else {
            let h = Header::read(bytes, DEFAULT_MAX_BODY).unwrap().unwrap();
            if h.is_event() {
                assert_eq!(bytes[HEADER_LEN..], [b'N'], "{name}");
                continue;
            }
            decode_response(bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert!(frames >= 50, "{frames} frames");
}

#[test]
fn recorded_replies_as_json() {
    let v = vectors();
    let schema = idl::thrift::load(
        "rich_dubbo.thrift",
        &idl::MemoryFiles::new([(
            "rich_dubbo.thrift",
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../e2e/idl/rich_dubbo.thrift"
            ))
            .unwrap(),
        )]),
    )
    .unwrap();
    let svc = schema.service("RichService").unwrap();
    let result_of = |m: &str| {
        svc.methods
            .iter()
            .find(|x| x.name == m)
            .unwrap()
            .result_type
            .clone()
    };
    let opts = DubboJsonOptions {
        enum_as_name: true,
        ..Default::default()
    };
    let json = |frame: &str, method: &str| {
        let r = decode_response(&v[frame], Limits::default()).unwrap();
        match r.outcome {
            Outcome::Value(val) => super::tests::rendered(
                &val,
                &r.refs,
                &schema,
                result_of(method).as_ref(),
                None,
                &opts,
            ),
            other => panic!("{frame}: {other:?}"),
        }
    };
    assert_eq!(
        json("wire.rich.add.response", "add"),
        serde_json::json!(1024)
    );
    assert_eq!(
        json("wire.rich.lengths.response", "lengths"),
        serde_json::json!({"a": 1, "hello": 5})
    );
    let order = json("wire.rich.process.response", "process");
    assert_eq!(order["status"], "PAID", "{order}");
    assert_eq!(order["createdAt"], "2023-11-14T22:13:20.123Z", "{order}");
    assert_eq!(order["items"].as_array().map(Vec::len), Some(2), "{order}");
    match decode_response(&v["wire.rich.fail.response"], Limits::default())
        .unwrap()
        .outcome
    {
        Outcome::Exception { class, message, .. } => {
            assert_eq!(class, "java.lang.IllegalArgumentException");
            assert!(message.is_some());
        }
        other => panic!("{other:?}"),
    }
    // Java's own request decodes into what the gateway would have sent.
    let req = decode_request(&v["wire.hello.add.request"], Limits::default()).unwrap();
    let arg = req.args[0].as_object().unwrap();
    assert_eq!(
        (arg.get("first"), arg.get("second")),
        (Some(&Value::Long(512)), Some(&Value::Long(512)))
    );
}
