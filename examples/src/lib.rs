//! The built-in `hello` backend: the Kitex hello example's `Hello` service
//! (`echo`, `add`) served with the same codecs the gateway uses: over Thrift
//! and Kitex Protobuf on one port, and over gRPC and Dubbo on ports of their
//! own. On its Thrift port it answers every framing a Kitex server does
//! (buffered, framed, TTHeader, TTHeader-framed; binary or compact), detected
//! per message.
//!
//! The default `kitegate` run starts it in-process; it also runs on its own
//! as the `hello_backend` binary.

use std::net::SocketAddr;
use std::sync::Arc;

use codecs::framing::DEFAULT_MAX_FRAME_SIZE;
use codecs::protobuf;
use codecs::thrift::{self, AppException, DecodeOptions, MessageType, Protocol, app_error};
pub mod serve;

use idl::proto::ProtoSchema;
use idl::{MemoryFiles, Schema};
use prost::Message;
use prost_reflect::{DynamicMessage, Value as ReflectValue};
use serde_json::{Value, json};
use serve::grpc::{GrpcHandler, code as grpc_code, serve_grpc};
use serve::thrift::{Handler, serve};
use tokio::net::TcpListener;

/// The IDL of the hello service, with its HTTP annotations.
pub const HELLO_THRIFT: &str = include_str!("../idl/hello.thrift");
/// Its file name, as the gateway registers it.
pub const HELLO_THRIFT_NAME: &str = "hello.thrift";
/// The service in [`HELLO_THRIFT`].
pub const HELLO_SERVICE: &str = "Hello";

/// The hello IDL, loaded once.
pub fn hello_schema() -> Arc<Schema> {
    let files = MemoryFiles::new([(HELLO_THRIFT_NAME, HELLO_THRIFT)]);
    Arc::new(idl::thrift::load(HELLO_THRIFT_NAME, &files).expect("hello.thrift is valid"))
}

/// What `echo` and `add` compute, on JSON values of their argument structs.
fn call(method: &str, args: &Value) -> Result<Value, Result<Value, AppException>> {
    match method {
        "echo" => {
            let message = args["req"]["message"].as_str().unwrap_or_default();
            Ok(json!({ "success": { "message": message } }))
        }
        "add" => {
            let first = args["req"]["first"].as_i64().unwrap_or(0);
            let second = args["req"]["second"].as_i64().unwrap_or(0);
            match first.checked_add(second) {
                Some(sum) => Ok(json!({ "success": { "sum": sum } })),
                None => Err(Ok(
                    json!({ "err": { "code": 1, "message": format!("{first} + {second} overflows i64") } }),
                )),
            }
        }
        "echoItems" => Ok(json!({ "success": args["req"] })),
        other => Err(Err(AppException {
            kind: app_error::UNKNOWN_METHOD,
            message: format!("unknown method {other}"),
        })),
    }
}

/// The hello service in protobuf, with its `google.api.http` routes.
pub const HELLO_PROTO: &str = include_str!("../idl/hello.proto");
/// Its file name.
pub const HELLO_PROTO_NAME: &str = "hello.proto";

/// hello.proto, loaded once.
pub fn hello_proto() -> Arc<ProtoSchema> {
    let files = MemoryFiles::new([(HELLO_PROTO_NAME, HELLO_PROTO)]);
    Arc::new(idl::proto::load(HELLO_PROTO_NAME, &files).expect("hello.proto is valid"))
}

/// The message handler of the hello service: Thrift messages, and Kitex
/// Protobuf messages (recognized by their magic), on one port as Kitex serves them.
pub fn hello_handler(schema: Arc<Schema>) -> Handler {
    let proto = hello_proto();
    Arc::new(move |p: Protocol, msg: &[u8]| {
        if msg.starts_with(&KITEX_PB_MAGIC) {
            handle_pb(&proto, msg)
        } else {
            handle(&schema, p, msg)
        }
    })
}

const KITEX_PB_MAGIC: [u8; 2] = [0x90, 0x01];

/// What `Echo` and `Add` compute, on protobuf messages of hello.proto:
/// the response bytes, or an error (Kitex error type, message).
fn call_pb(proto: &ProtoSchema, method: &str, request: &[u8]) -> Result<Vec<u8>, (i32, String)> {
    let Some(m) = proto.services[0].methods.iter().find(|m| m.name == method) else {
        return Err((
            app_error::UNKNOWN_METHOD,
            format!("unknown method {method}"),
        ));
    };
    let input = DynamicMessage::decode(m.descriptor.input(), request)
        .map_err(|e| (app_error::PROTOCOL_ERROR, e.to_string()))?;
    let mut output = DynamicMessage::new(m.descriptor.output());
    let get_i64 = |name: &str| {
        input
            .get_field_by_name(name)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    };
    match m.name.as_str() {
        "Echo" => {
            let text = input
                .get_field_by_name("message")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let text = if text.is_empty() {
                "hello world".to_string()
            } else {
                text
            };
            output.set_field_by_name("message", ReflectValue::String(text));
        }
        "Add" => match get_i64("first").checked_add(get_i64("second")) {
            Some(sum) => output.set_field_by_name("sum", ReflectValue::I64(sum)),
            None => return Err((app_error::INTERNAL_ERROR, "overflow".into())),
        },
        other => return Err((app_error::UNKNOWN_METHOD, format!("unknown method {other}"))),
    }
    Ok(output.encode_to_vec())
}

/// Answers one Kitex Protobuf call; the reply is returned without its
/// 4-byte length, which the framing around it adds.
fn handle_pb(proto: &ProtoSchema, msg: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    match protobuf::decode_call(msg) {
        Err(e) => protobuf::encode_exception(
            "unknown",
            0,
            app_error::PROTOCOL_ERROR,
            &e.to_string(),
            &mut out,
        ),
        Ok(call) => match call_pb(proto, call.method, &msg[call.message.clone()]) {
            Ok(bytes) => protobuf::encode_reply(call.method, call.seqid, &bytes, &mut out),
            Err((kind, message)) => {
                protobuf::encode_exception(call.method, call.seqid, kind, &message, &mut out)
            }
        },
    }
    Some(out.split_off(4))
}

/// The gRPC handler of the hello service: `/hello.Hello/Echo`, `/hello.Hello/Add`,
/// and the server-streaming `/hello.Hello/Count` (n = 1..to, at most 10,000).
pub fn hello_grpc_handler(proto: Arc<ProtoSchema>) -> GrpcHandler {
    Arc::new(move |path: &str, request: &[u8]| {
        let Some(method) = path.strip_prefix("/hello.Hello/") else {
            return Err((
                grpc_code::UNIMPLEMENTED,
                format!("unknown service in {path}"),
            ));
        };
        if method == "Count" {
            return count(&proto, request);
        }
        call_pb(&proto, method, request)
            .map(|m| vec![m])
            .map_err(|(kind, message)| {
                let code = match kind {
                    app_error::UNKNOWN_METHOD => grpc_code::UNIMPLEMENTED,
                    app_error::PROTOCOL_ERROR => grpc_code::INVALID_ARGUMENT,
                    _ => grpc_code::INTERNAL,
                };
                (code, message)
            })
    })
}

/// Largest `to` that `Count` streams.
const MAX_COUNT: i64 = 10_000;

fn count(proto: &ProtoSchema, request: &[u8]) -> Result<Vec<Vec<u8>>, (u32, String)> {
    let m = proto.services[0]
        .methods
        .iter()
        .find(|m| m.name == "Count")
        .expect("Count in hello.proto");
    let input = DynamicMessage::decode(m.descriptor.input(), request)
        .map_err(|e| (grpc_code::INVALID_ARGUMENT, e.to_string()))?;
    let to = input
        .get_field_by_name("to")
        .and_then(|v| v.as_i32())
        .unwrap_or(0) as i64;
    if !(0..=MAX_COUNT).contains(&to) {
        return Err((
            grpc_code::INVALID_ARGUMENT,
            format!("to must be between 0 and {MAX_COUNT}"),
        ));
    }
    Ok((1..=to)
        .map(|n| {
            let mut out = DynamicMessage::new(m.descriptor.output());
            out.set_field_by_name("n", ReflectValue::I32(n as i32));
            out.encode_to_vec()
        })
        .collect())
}

/// Binds `addr` and serves the hello service over gRPC on it in a background task.
pub async fn start_hello_grpc(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve_grpc(
        listener,
        hello_grpc_handler(hello_proto()),
        DEFAULT_MAX_FRAME_SIZE,
    ));
    Ok(local)
}

fn handle(schema: &Schema, proto: Protocol, msg: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let header = match thrift::read_message_header(proto, msg) {
        Ok(h) => h,
        Err(e) => {
            let err = AppException {
                kind: app_error::PROTOCOL_ERROR,
                message: e.to_string(),
            };
            thrift::encode_app_exception(proto, "", 0, &err, &mut out);
            return Some(out);
        }
    };
    let fail = |kind, message: String, out: &mut Vec<u8>| {
        thrift::encode_app_exception(
            proto,
            &header.name,
            header.seqid,
            &AppException { kind, message },
            out,
        );
    };
    if !matches!(header.ty, MessageType::Call | MessageType::Oneway) {
        fail(
            app_error::INVALID_MESSAGE_TYPE,
            format!("unexpected message type {:?}", header.ty),
            &mut out,
        );
        return Some(out);
    }
    let service = schema.service(HELLO_SERVICE).expect("Hello service");
    let Some(method) = service.methods.iter().find(|m| m.name == header.name) else {
        fail(
            app_error::UNKNOWN_METHOD,
            format!("unknown method {}", header.name),
            &mut out,
        );
        return Some(out);
    };
    if let Some(reply) = echo_items_binary(proto, &header, method, msg) {
        return Some(reply);
    }
    let mut args = Vec::with_capacity(64);
    let decoded = thrift::decode_struct(
        proto,
        schema,
        method.args,
        &msg[header.body_offset..],
        &DecodeOptions::default(),
        &mut args,
    );
    let args: Value = match decoded.map(|_| serde_json::from_slice(&args)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            fail(app_error::PROTOCOL_ERROR, e.to_string(), &mut out);
            return Some(out);
        }
        Err(e) => {
            fail(app_error::PROTOCOL_ERROR, e.to_string(), &mut out);
            return Some(out);
        }
    };
    if header.ty == MessageType::Oneway || method.oneway {
        return None;
    }
    match call(&method.name, &args) {
        Ok(result) | Err(Ok(result)) => {
            let json = serde_json::to_vec(&result).expect("JSON");
            if let Err(e) =
                thrift::encode_reply(proto, schema, method, header.seqid, &json, &mut out)
            {
                out.clear();
                fail(app_error::INTERNAL_ERROR, e.to_string(), &mut out);
            }
        }
        Err(Err(app)) => {
            thrift::encode_app_exception(proto, &header.name, header.seqid, &app, &mut out)
        }
    }
    Some(out)
}

/// `echoItems` over the binary protocol answers without a decode: its
/// arguments struct holds one struct field (id 1), and its result struct
/// the same struct as field 0, so the reply is the request's bytes behind a
/// REPLY header with the field id changed. Keeps the built-in backend from
/// being the bottleneck of large-payload benchmarks.
fn echo_items_binary(
    proto: Protocol,
    header: &thrift::MessageHeader,
    method: &idl::Method,
    msg: &[u8],
) -> Option<Vec<u8>> {
    const STRUCT: u8 = 12;
    let body = msg.get(header.body_offset..)?;
    if proto != Protocol::Binary
        || method.name != "echoItems"
        || header.ty != MessageType::Call
        || body.len() < 4
        || body[..3] != [STRUCT, 0, 1]
        || body[body.len() - 1] != 0
    {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + header.name.len() + 12);
    out.extend_from_slice(&0x8001_0002u32.to_be_bytes());
    out.extend_from_slice(&(header.name.len() as u32).to_be_bytes());
    out.extend_from_slice(header.name.as_bytes());
    out.extend_from_slice(&header.seqid.to_be_bytes());
    out.extend_from_slice(&[STRUCT, 0, 0]);
    out.extend_from_slice(&body[3..]);
    Some(out)
}

/// The Java interface of the hello service on Dubbo.
pub const HELLO_DUBBO_INTERFACE: &str = "kitegate.hello.HelloService";

/// Answers one Dubbo request frame of `kitegate.hello.HelloService`
/// (`Response echo(Request)`, `AddResponse add(AddRequest)`, the Java
/// classes named after hello.thrift's `namespace java`).
pub fn handle_dubbo(frame: &[u8]) -> Option<Vec<u8>> {
    use codecs::dubbo::{self, status};
    use codecs::hessian2::{Limits, Value as H};
    let mut out = Vec::with_capacity(96);
    let req = match dubbo::decode_request(frame, Limits::default()) {
        Ok(r) => r,
        Err(e) => {
            let id = dubbo::Header::read(frame, usize::MAX)
                .ok()
                .flatten()
                .map_or(0, |h| h.id);
            dubbo::encode_error_response(
                id,
                status::BAD_REQUEST,
                &format!("bad request: {e}"),
                &mut out,
            );
            return Some(out);
        }
    };
    if !req.two_way {
        return None;
    }
    let arg = req
        .args
        .first()
        .and_then(|a| a.resolve(&req.refs))
        .and_then(H::as_object);
    let field = |name: &str| {
        arg.and_then(|o| o.get(name))
            .and_then(|v| v.resolve(&req.refs))
    };
    match (
        req.path.as_str(),
        req.method.as_str(),
        req.descriptor.as_str(),
    ) {
        (HELLO_DUBBO_INTERFACE, "echo", "Lkitegate/hello/Request;") => {
            let message = field("message")
                .and_then(H::as_str)
                .unwrap_or("hello world");
            dubbo::encode_response(req.id, true, &mut out, |w| {
                w.write_object_start("kitegate.hello.Response", &["message"]);
                w.write_string(message);
            });
        }
        (HELLO_DUBBO_INTERFACE, "add", "Lkitegate/hello/AddRequest;") => {
            let first = field("first").and_then(H::as_i64).unwrap_or(0);
            let second = field("second").and_then(H::as_i64).unwrap_or(0);
            match first.checked_add(second) {
                Some(sum) => dubbo::encode_response(req.id, true, &mut out, |w| {
                    w.write_object_start("kitegate.hello.AddResponse", &["sum"]);
                    w.write_long(sum);
                }),
                None => dubbo::encode_exception_response(
                    req.id,
                    "kitegate.hello.HelloError",
                    &format!("{first} + {second} overflows a long"),
                    &mut out,
                ),
            }
        }
        (path, method, desc) => dubbo::encode_error_response(
            req.id,
            status::SERVICE_NOT_FOUND,
            &format!("Service not found: {path} has no method {method}({desc})"),
            &mut out,
        ),
    }
    Some(out)
}

/// Binds `addr` and serves the hello service over Dubbo (Hessian2) on it
/// in a background task.
pub async fn start_hello_dubbo(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve::dubbo::serve_dubbo(
        listener,
        Arc::new(handle_dubbo),
        codecs::dubbo::DEFAULT_MAX_BODY,
    ));
    Ok(local)
}

/// Binds `addr` and serves the hello service on it in a background task.
pub async fn start_hello(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(
        listener,
        hello_handler(hello_schema()),
        DEFAULT_MAX_FRAME_SIZE,
    ));
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_echo_over_the_codecs() {
        let schema = hello_schema();
        let svc = schema.service(HELLO_SERVICE).unwrap();
        let add = svc.methods.iter().find(|m| m.name == "add").unwrap();
        for proto in [Protocol::Binary, Protocol::Compact] {
            let mut req = Vec::new();
            thrift::encode_call(
                proto,
                &schema,
                add,
                9,
                br#"{"first":512,"second":512}"#,
                &[],
                &Default::default(),
                &mut req,
            )
            .unwrap();
            let reply = handle(&schema, proto, &req).unwrap();
            let mut out = Vec::new();
            let r = thrift::decode_reply(
                proto,
                &schema,
                add,
                &reply,
                9,
                &Default::default(),
                &mut out,
                &mut Default::default(),
            )
            .unwrap();
            assert_eq!(r, thrift::Reply::Success);
            assert_eq!(out, br#"{"sum":1024}"#);
        }
        let echo = svc.methods.iter().find(|m| m.name == "echo").unwrap();
        let mut req = Vec::new();
        thrift::encode_call(
            Protocol::Binary,
            &schema,
            echo,
            1,
            b"",
            &[],
            &Default::default(),
            &mut req,
        )
        .unwrap();
        let reply = handle(&schema, Protocol::Binary, &req).unwrap();
        let mut out = Vec::new();
        thrift::decode_reply(
            Protocol::Binary,
            &schema,
            echo,
            &reply,
            1,
            &Default::default(),
            &mut out,
            &mut Default::default(),
        )
        .unwrap();
        assert_eq!(out, br#"{"message":"hello world"}"#);
    }

    #[test]
    fn echo_items_on_both_protocols() {
        let schema = hello_schema();
        let svc = schema.service(HELLO_SERVICE).unwrap();
        let m = svc.methods.iter().find(|m| m.name == "echoItems").unwrap();
        let json = br#"{"items":[{"id":1,"name":"a","price":1.5,"tags":["x","y"],"active":true},{"id":2,"name":"b","price":0.0,"tags":[],"active":false}]}"#;
        for proto in [Protocol::Binary, Protocol::Compact] {
            let mut req = Vec::new();
            thrift::encode_call(
                proto,
                &schema,
                m,
                4,
                json,
                &[],
                &Default::default(),
                &mut req,
            )
            .unwrap();
            let reply = handle(&schema, proto, &req).unwrap();
            let mut out = Vec::new();
            let r = thrift::decode_reply(
                proto,
                &schema,
                m,
                &reply,
                4,
                &Default::default(),
                &mut out,
                &mut Default::default(),
            )
            .unwrap();
            assert_eq!(r, thrift::Reply::Success, "{proto:?}");
            let got: Value = serde_json::from_slice(&out).unwrap();
            let want: Value = serde_json::from_slice(json).unwrap();
            assert_eq!(got, want, "{proto:?}");
        }
    }
}
