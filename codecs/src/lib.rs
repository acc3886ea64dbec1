//! Wire codecs for kitegate.
//!
//! - [`thrift`]: binary and compact protocols, one-pass JSON <-> Thrift
//!   transcoding driven by an [`idl::Schema`], and the RPC envelope.
//! - [`framing`]: buffered, framed and TTHeader framings.
//! - [`transport`]: a pooled TCP client and a server loop over those framings.
//!
//! This crate knows nothing of HTTP routes or the admin API.

mod error;
pub mod framing;
pub mod protobuf;
pub mod thrift;
pub mod transport;

pub use error::CodecError;
