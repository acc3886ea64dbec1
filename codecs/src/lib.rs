//! Wire codecs for kitegate.
//!
//! - [`thrift`]: binary and compact protocols, one-pass JSON <-> Thrift
//!   transcoding driven by an [`idl::Schema`], and the RPC envelope.
//! - [`framing`]: buffered, framed and TTHeader framings.
//! - [`hessian2`]: Hessian 2.0 as Apache Dubbo uses it: a Java-exact writer, a
//!   bounded reader into an owned value tree, and JSON rendering.
//!
//! This crate is pure: bytes in, bytes out. It has no sockets and no
//! runtime, and knows nothing of HTTP routes or the admin API.

pub mod dubbo;
mod error;
pub mod framing;
pub mod hessian2;
mod json_scan;
mod json_text;
pub mod protobuf;
mod seen;
#[cfg(test)]
mod test_rng;
pub mod thrift;

pub use error::CodecError;
