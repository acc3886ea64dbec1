//! gRPC status: the names of the `grpc-status` codes, and `google.rpc.Status`
//! as gRPC servers send it in `grpc-status-details-bin`
//! (grpc `doc/PROTOCOL-HTTP2.md`, `doc/statuscodes.md`; googleapis
//! `google/rpc/status.proto`): the details are `Any` messages, shown in JSON
//! like the proto3 mapping shows an `Any` (`{"@type": url, ...fields}`) when
//! the descriptor pool knows the type, and as `{"@type": url, "value": base64}`
//! when it does not.

use base64::Engine as _;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Map, Value};

use super::json::{PROTOBUF, PbDecodeOptions, dynamic_to_json};
use crate::CodecError;

/// The canonical names of the gRPC status codes, indexed by code.
const GRPC_CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The name of a `grpc-status` code (`0` -> `OK`, `16` -> `UNAUTHENTICATED`);
/// codes past 16 are `UNKNOWN`, as gRPC clients treat a code they do not know.
pub fn grpc_code_name(code: u32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| GRPC_CODE_NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

#[derive(Clone, PartialEq, Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The decoded `google.rpc.Status`: code, message and details as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusDetails {
    pub code: i32,
    pub message: String,
    pub details: Vec<Value>,
}

/// Decodes a serialized `google.rpc.Status`, resolving detail types in `pool`.
pub fn decode_status_details(
    bytes: &[u8],
    pool: &DescriptorPool,
    opts: &PbDecodeOptions,
) -> Result<StatusDetails, CodecError> {
    let status = RpcStatus::decode(bytes)
        .map_err(|e| CodecError::wire(PROTOBUF, format!("bad google.rpc.Status: {e}")))?;
    let details = status
        .details
        .iter()
        .map(|any| detail_json(any, pool, opts))
        .collect();
    Ok(StatusDetails {
        code: status.code,
        message: status.message,
        details,
    })
}

fn detail_json(any: &RpcAny, pool: &DescriptorPool, opts: &PbDecodeOptions) -> Value {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let known = pool.get_message_by_name(name).and_then(|desc| {
        let msg = DynamicMessage::decode(desc, any.value.as_slice()).ok()?;
        let mut out = Vec::new();
        dynamic_to_json(&msg, opts, &mut out).ok()?;
        match serde_json::from_slice(&out).ok()? {
            Value::Object(fields) => Some(fields),
            _ => None,
        }
    });
    let mut obj = Map::new();
    obj.insert("@type".into(), Value::String(any.type_url.clone()));
    match known {
        // Well-known types with a non-object JSON form do not reach here:
        // their JSON is not an object, so they fall back to base64.
        Some(fields) => obj.extend(fields),
        None => {
            obj.insert(
                "value".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(&any.value)),
            );
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        let files = idl::MemoryFiles::new([(
            "d.proto",
            "syntax = \"proto3\"; package d; message Info { string reason = 1; int32 n = 2; }",
        )]);
        idl::proto::load("d.proto", &files)
            .expect("test proto")
            .pool
    }

    #[test]
    fn grpc_code_names_follow_the_spec() {
        let want = [
            (0, "OK"),
            (1, "CANCELLED"),
            (2, "UNKNOWN"),
            (3, "INVALID_ARGUMENT"),
            (4, "DEADLINE_EXCEEDED"),
            (5, "NOT_FOUND"),
            (6, "ALREADY_EXISTS"),
            (7, "PERMISSION_DENIED"),
            (8, "RESOURCE_EXHAUSTED"),
            (9, "FAILED_PRECONDITION"),
            (10, "ABORTED"),
            (11, "OUT_OF_RANGE"),
            (12, "UNIMPLEMENTED"),
            (13, "INTERNAL"),
            (14, "UNAVAILABLE"),
            (15, "DATA_LOSS"),
            (16, "UNAUTHENTICATED"),
            (17, "UNKNOWN"),
            (1000, "UNKNOWN"),
            (u32::MAX, "UNKNOWN"),
        ];
        for (code, name) in want {
            assert_eq!(grpc_code_name(code), name, "{code}");
        }
    }

    #[test]
    fn known_and_unknown_details() {
        let pool = pool();
        let info = pool.get_message_by_name("d.Info").unwrap();
        let mut m = DynamicMessage::new(info);
        m.set_field_by_name("reason", prost_reflect::Value::String("quota".into()));
        m.set_field_by_name("n", prost_reflect::Value::I32(3));
        let status = RpcStatus {
            code: 8,
            message: "slow down".into(),
            details: vec![
                RpcAny {
                    type_url: "type.googleapis.com/d.Info".into(),
                    value: m.encode_to_vec(),
                },
                RpcAny {
                    type_url: "type.googleapis.com/x.Unknown".into(),
                    value: vec![1, 2, 3],
                },
            ],
        };
        let got =
            decode_status_details(&status.encode_to_vec(), &pool, &PbDecodeOptions::default())
                .unwrap();
        assert_eq!((got.code, got.message.as_str()), (8, "slow down"));
        assert_eq!(
            got.details,
            vec![
                serde_json::json!({"@type": "type.googleapis.com/d.Info", "reason": "quota", "n": 3}),
                serde_json::json!({"@type": "type.googleapis.com/x.Unknown", "value": "AQID"}),
            ]
        );
        assert!(decode_status_details(&[0x0a, 0xff], &pool, &PbDecodeOptions::default()).is_err());
    }
}
