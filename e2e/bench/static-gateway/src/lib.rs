//! Peers of kitegate in the head-to-head benchmark (`e2e/bench/h2h.sh`):
//!
//! - `static_gateway`: the codegen ceiling. The same HTTP/JSON -> Thrift job
//!   as kitegate for the hello service, written by hand over pilota-generated
//!   types (serde for JSON, pilota's binary protocol for Thrift) and
//!   kitegate's own pooled TTHeader client: what a compiled, per-IDL gateway
//!   costs, with the IDL-driven run-time transcoding taken out.
//! - `floor_axum`: a bare axum handler answering a constant body, the cost of
//!   the HTTP server alone.
//!
//! This library holds the generated types (`build.rs` runs pilota-build over
//! `examples/idl/hello.thrift`).

// pilota-generated `decode` fills pre-sized `Vec`s through raw pointers, so
// this crate denies `unsafe_code` instead of forbidding it (Cargo.toml) and
// allows it for the generated module only.
#[allow(unsafe_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/hello.rs"));
}

pub use generated::hello::hello::{
    AddRequest, AddResponse, HelloAddArgsSend, HelloAddResultRecv, HelloEchoArgsSend,
    HelloEchoItemsArgsSend, HelloEchoItemsResultRecv, HelloEchoResultRecv, HelloError, Item,
    ItemList, Request, Response,
};

/// The IDL service name (TTHeader `isn`).
pub const SERVICE: &str = "Hello";
