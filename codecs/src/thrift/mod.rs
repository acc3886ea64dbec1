//! Thrift: binary and compact protocols, JSON transcoding driven by the IDL,
//! and the RPC envelope.

mod decode;
mod encode;
mod envelope;
pub mod protocol;

pub use decode::{DecodeOptions, ResponseMeta, skip};
pub use encode::{Bound, BoundValue, EncodeOptions};
pub use envelope::*;
pub use protocol::{MessageType, TType};

#[cfg(test)]
mod tests;
