//! Protobuf: JSON <-> message bytes driven by a `prost_reflect`
//! [`MessageDescriptor`](prost_reflect::MessageDescriptor) (canonical proto3
//! JSON mapping), the Kitex Protobuf envelope (alone or inside TTHeader), and
//! gRPC length-prefixed messages.
//!
//! Specs: `shared/specs/wire.md` §3 (Kitex Protobuf), §2 (TTHeader), §4.2 (gRPC).

mod decode;
mod encode;
mod grpc;
mod grpc_web;
mod json;
pub mod kitex;
mod path;
mod plan;
mod status;
mod wire;

pub use grpc::{
    GRPC_PREFIX, grpc_binary_metadata, grpc_frame, grpc_gunzip, grpc_message_text, grpc_unframe,
};
pub use grpc_web::{
    TRAILER_FLAG, grpc_web_request, grpc_web_text_decode, grpc_web_text_encode, grpc_web_trailers,
};
pub use json::{
    MAX_DEPTH, PROTOBUF, PbDecodeOptions, PbEncodeOptions, decode_dynamic, dynamic_to_json,
    json_to_dynamic, json_to_message, message_to_json,
};
pub use kitex::{
    KitexPbCall, KitexPbReply, decode_call, decode_reply, encode_call, encode_call_ttheader,
    encode_exception, encode_reply, frame_len,
};
pub use status::{StatusDetails, decode_status_details, grpc_code_name};

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
