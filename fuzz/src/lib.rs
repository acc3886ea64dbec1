//! The fuzz targets of every decoder and of the JSON → wire encoders, as
//! plain functions of the input bytes, over the e2e rich IDLs (every
//! Thrift and protobuf type kind). libFuzzer runs them through
//! `fuzz/libfuzzer` (`e2e/fuzz.sh`, nightly); `tests/replay.rs` runs every
//! corpus and regression file through them on stable.
//!
//! Each target may fail to decode; it must not panic, and what it writes
//! is bounded: no decoder's JSON is larger than [`amplification_bound`] of
//! its input. Allocation past the configured limits is caught by
//! libFuzzer's `-malloc_limit_mb` (the campaigns set it).

use std::sync::LazyLock;

use codecs::framing::{self as frames, Transport};
use codecs::thrift::{self, Protocol};
use idl::MemoryFiles;
use idl::proto::ProtoSchema;

/// A target: the input bytes in, a panic on a defect.
pub type Target = fn(&[u8]);

/// Every target, by name (the libFuzzer binaries and corpus folders are named so).
pub const TARGETS: &[(&str, Target)] = &[
    ("thrift_struct", thrift_struct),
    ("thrift_message", thrift_message),
    ("framing", framing),
    ("kitex_pb", kitex_pb),
    ("grpc_frame", grpc_frame),
    ("protobuf", protobuf),
    ("dubbo", dubbo),
    ("hessian2", hessian2),
    ("json_to_thrift", json_to_thrift),
    ("json_to_protobuf", json_to_protobuf),
    ("thrift_roundtrip", thrift_roundtrip),
    ("protobuf_roundtrip", protobuf_roundtrip),
];

mod roundtrip;
pub use roundtrip::{protobuf_roundtrip, thrift_roundtrip};

/// The most JSON a decoder may write for `input` bytes: every byte of
/// Thrift or protobuf can become at most a few dozen bytes of JSON (an
/// enum's name, an escaped control character, a field's key), plus a
/// constant.
pub fn amplification_bound(input: usize) -> usize {
    64 * input + 4096
}

/// The largest frame a decoder is asked to take.
const MAX_FRAME: usize = 1 << 20;

static THRIFT: LazyLock<idl::Schema> = LazyLock::new(|| {
    idl::thrift::load(
        "rich.thrift",
        &MemoryFiles::new([
            ("rich.thrift", include_str!("../../e2e/idl/rich.thrift")),
            (
                "rich_base.thrift",
                include_str!("../../e2e/idl/rich_base.thrift"),
            ),
            (
                "rich_common.thrift",
                include_str!("../../e2e/idl/rich_common.thrift"),
            ),
        ]),
    )
    .expect("rich.thrift loads")
});

static PROTO: LazyLock<ProtoSchema> = LazyLock::new(|| {
    idl::proto::load(
        "rich.proto",
        &MemoryFiles::new([
            ("rich.proto", include_str!("../../e2e/idl/rich.proto")),
            (
                "rich_common.proto",
                include_str!("../../e2e/idl/rich_common.proto"),
            ),
        ]),
    )
    .expect("rich.proto loads")
});

/// The protobuf messages of the rich `.proto` files, by full name.
static MESSAGES: LazyLock<Vec<prost_reflect::MessageDescriptor>> = LazyLock::new(|| {
    let mut all: Vec<_> = PROTO
        .pool
        .all_messages()
        .filter(|m| m.full_name().starts_with("rich."))
        .collect();
    all.sort_by(|a, b| a.full_name().cmp(b.full_name()));
    all
});

fn proto_of(byte: u8) -> Protocol {
    if byte & 1 == 0 {
        Protocol::Binary
    } else {
        Protocol::Compact
    }
}

fn check_bound(input: &[u8], out: &[u8]) {
    assert!(
        out.len() <= amplification_bound(input.len()),
        "{} bytes of JSON out of {} bytes",
        out.len(),
        input.len()
    );
}

/// A struct of the rich IDL (chosen by the second byte) in Binary or
/// Compact (the first), to JSON.
pub fn thrift_struct(data: &[u8]) {
    let [p, s, rest @ ..] = data else { return };
    let schema = &*THRIFT;
    let sid = (*s as usize % schema.structs.len()) as idl::StructId;
    for opts in options() {
        let mut out = Vec::new();
        let _ = thrift::decode_struct(proto_of(*p), schema, sid, rest, &opts, &mut out);
        check_bound(rest, &out);
    }
}

fn options() -> [thrift::DecodeOptions; 2] {
    [
        thrift::DecodeOptions::default(),
        thrift::DecodeOptions {
            enum_as_name: true,
            i64_as_string: true,
            ..Default::default()
        },
    ]
}

fn methods() -> Vec<&'static idl::Method> {
    THRIFT
        .services
        .iter()
        .flat_map(|s| s.methods.iter())
        .collect()
}

/// A reply message of a rich method (chosen by the second byte), to JSON.
pub fn thrift_message(data: &[u8]) {
    let [p, m, rest @ ..] = data else { return };
    let methods = methods();
    let method = methods[*m as usize % methods.len()];
    let proto = proto_of(*p);
    let _ = thrift::read_message_header(proto, rest);
    let mut out = Vec::new();
    let mut meta = thrift::ResponseMeta::default();
    let _ = thrift::decode_reply(
        proto,
        &THRIFT,
        method,
        rest,
        1,
        &thrift::DecodeOptions::default(),
        &mut out,
        &mut meta,
    );
    check_bound(rest, &out);
}

/// Frames of each transport: lengths, TTHeader blocks, detection.
pub fn framing(data: &[u8]) {
    let _ = frames::detect(data);
    let _ = frames::frame_len(data, MAX_FRAME);
    for t in [
        Transport::Buffered,
        Transport::Framed,
        Transport::TTHeader,
        Transport::TTHeaderFramed,
    ] {
        for p in [Protocol::Binary, Protocol::Compact] {
            if let Ok(Some(frame)) = frames::decode_frame(t, p, data, MAX_FRAME) {
                let _ = frame;
            }
        }
    }
}

/// The Kitex Protobuf envelope: framing, calls, replies.
pub fn kitex_pb(data: &[u8]) {
    use codecs::protobuf::kitex;
    let _ = kitex::frame_len(data, MAX_FRAME);
    let _ = kitex::is_framed(data);
    let _ = kitex::decode_message(data);
    let _ = kitex::decode_call(data);
    let _ = kitex::decode_reply(data, "Echo", 1);
}

/// gRPC message framing, and gzip with a bound on what it inflates to.
pub fn grpc_frame(data: &[u8]) {
    use codecs::protobuf::{grpc_gunzip, grpc_unframe};
    let mut at = 0;
    while let Ok(Some((range, next, compressed))) = grpc_unframe(&data[at..], MAX_FRAME) {
        let body = &data[at..][range];
        if compressed {
            if let Ok(plain) = grpc_gunzip(body, 1 << 16) {
                assert!(plain.len() <= 1 << 16, "gunzip past its bound");
            }
        }
        if next == 0 {
            break;
        }
        at += next;
        if at >= data.len() {
            break;
        }
    }
    let _ = grpc_gunzip(data, 1 << 16).map(|p| assert!(p.len() <= 1 << 16));
}

/// A message of the rich `.proto` (chosen by the first byte), to JSON.
pub fn protobuf(data: &[u8]) {
    use codecs::protobuf::{PbDecodeOptions, message_to_json};
    let [m, rest @ ..] = data else { return };
    let desc = &MESSAGES[*m as usize % MESSAGES.len()];
    for opts in [
        PbDecodeOptions::default(),
        PbDecodeOptions {
            emit_defaults: true,
            proto_field_names: true,
            int64_as_number: true,
            enum_as_number: true,
        },
    ] {
        let mut out = Vec::new();
        let _ = message_to_json(desc, rest, &opts, &mut out);
        if !opts.emit_defaults {
            check_bound(rest, &out);
        }
    }
}

/// Dubbo frames: the header, requests and responses (Hessian2 bodies).
pub fn dubbo(data: &[u8]) {
    use codecs::dubbo;
    let _ = dubbo::Header::read(data, MAX_FRAME);
    let _ = dubbo::frame_len(data, MAX_FRAME);
    let _ = dubbo::is_error_reply(data);
    let limits = codecs::hessian2::Limits::default();
    let _ = dubbo::decode_response(data, limits);
    let _ = dubbo::decode_request(data, limits);
}

/// A Hessian2 value stream (references, class definitions), read and written as JSON.
pub fn hessian2(data: &[u8]) {
    use codecs::hessian2::{JsonOptions, Limits, Reader, write_json};
    let mut r = Reader::with_limits(data, Limits::default());
    let mut values = Vec::new();
    while !r.is_empty() && values.len() < 16 {
        match r.read_value() {
            Ok(v) => values.push(v),
            Err(_) => break,
        }
    }
    let refs = r.into_refs();
    let opts = JsonOptions::default();
    for v in &values {
        let mut out = Vec::new();
        let _ = write_json(v, &refs, &opts, &mut out);
        assert!(
            out.len() <= opts.max_len + 64,
            "JSON past max_len: {}",
            out.len()
        );
    }
}

/// A JSON body (the rest) as the arguments of a rich method (the first
/// byte), encoded as a Thrift call: the JSON scanner and the encoder.
pub fn json_to_thrift(data: &[u8]) {
    let [p, m, rest @ ..] = data else { return };
    let methods = methods();
    let method = methods[*m as usize % methods.len()];
    let mut out = Vec::new();
    let opts = thrift::EncodeOptions::default();
    if thrift::encode_call(proto_of(*p), &THRIFT, method, 1, rest, &[], &opts, &mut out).is_ok() {
        // What was encoded reads back as a message.
        let header = thrift::read_message_header(proto_of(*p), &out);
        assert!(header.is_ok(), "an encoded call has a header: {header:?}");
    }
}

/// A JSON body as a rich message (the first byte): the JSON scanner and
/// the protobuf encoder, then the encoded message back to JSON.
pub fn json_to_protobuf(data: &[u8]) {
    use codecs::protobuf::{PbDecodeOptions, PbEncodeOptions, json_to_message, message_to_json};
    let [m, rest @ ..] = data else { return };
    let desc = &MESSAGES[*m as usize % MESSAGES.len()];
    let mut wire = Vec::new();
    if json_to_message(desc, rest, &PbEncodeOptions::default(), &mut wire).is_ok() {
        let mut back = Vec::new();
        let decoded = message_to_json(desc, &wire, &PbDecodeOptions::default(), &mut back);
        assert!(decoded.is_ok(), "an encoded message decodes: {decoded:?}");
    }
}

/// Starting inputs for each target: valid encodings made by the codecs'
/// own encoders (empty and small structs, replies and messages of the rich
/// IDLs, frames around them), so that a campaign starts past the first
/// bytes. `e2e/fuzz.sh` writes them into the corpus folders.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use codecs::protobuf::{PbEncodeOptions, json_to_message};
    let mut out = Vec::new();
    let schema = &*THRIFT;
    let bodies: [&[u8]; 3] = [
        b"{}",
        br#"{"a": "x", "b": 3, "c": [1, 2]}"#,
        br#"{"req": {}}"#,
    ];
    for (p, proto) in [(0u8, Protocol::Binary), (1u8, Protocol::Compact)] {
        for sid in 0..schema.structs.len().min(256) {
            let mut bytes = Vec::new();
            if thrift::encode_struct(
                proto,
                schema,
                sid as idl::StructId,
                b"{}",
                &Default::default(),
                &mut bytes,
            )
            .is_ok()
            {
                out.push(("thrift_struct", [vec![p, sid as u8], bytes].concat()));
            }
        }
        for (i, m) in methods().iter().enumerate().take(256) {
            let mut reply = Vec::new();
            if thrift::encode_reply(proto, schema, m, 1, b"{}", &mut reply).is_ok() {
                out.push(("thrift_message", [vec![p, i as u8], reply.clone()].concat()));
                let mut framed = Vec::new();
                let mark = frames::begin_frame(Transport::Framed, &mut framed, 1, &[]);
                framed.extend_from_slice(&reply);
                frames::finish_frame(Transport::Framed, &mut framed, mark);
                out.push(("framing", framed));
            }
            for body in bodies {
                out.push(("json_to_thrift", [&[p, i as u8][..], body].concat()));
            }
        }
    }
    for (i, m) in MESSAGES.iter().enumerate().take(256) {
        for body in [&b"{}"[..], br#"{"text": "hi", "seq": 2, "n": 3}"#] {
            out.push(("json_to_protobuf", [&[i as u8][..], body].concat()));
            let mut wire = Vec::new();
            if json_to_message(
                m,
                body,
                &PbEncodeOptions {
                    ignore_unknown_fields: true,
                    ..Default::default()
                },
                &mut wire,
            )
            .is_ok()
            {
                out.push(("protobuf", [vec![i as u8], wire.clone()].concat()));
                let mut framed = Vec::new();
                codecs::protobuf::grpc_frame(&wire, &mut framed);
                out.push(("grpc_frame", framed));
                let mut kitex = Vec::new();
                codecs::protobuf::kitex::encode_reply("Echo", 1, &wire, &mut kitex);
                out.push(("kitex_pb", kitex));
            }
        }
    }
    out.push(("dubbo", codecs::dubbo::heartbeat_request(7)));
    out.push(("dubbo", codecs::dubbo::heartbeat_response(7)));
    let mut resp = Vec::new();
    codecs::dubbo::encode_error_response(7, 70, "boom", &mut resp);
    out.push(("dubbo", resp));
    // Hessian2: a string, an int, a list and a map with a reference back.
    out.push((
        "hessian2",
        b"\x05hello\x91\x7a\x92\x91\x92H\x01a\x91Z".to_vec(),
    ));
    out.push((
        "hessian2",
        b"C\x0bexample.Car\x92\x05color\x05model`\x03red\x06corvetteQ\x90".to_vec(),
    ));
    out
}
