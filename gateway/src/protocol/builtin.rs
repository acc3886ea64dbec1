//! The built-in hello backend's registrations: which protocol and
//! transport each of its servers is reached over, and under which prefix.

use std::net::SocketAddr;

use super::Protocol as _;

/// One registration of the built-in backend.
pub struct Builtin<'a> {
    pub name: &'static str,
    pub protocol: &'static str,
    pub transport: &'a str,
    pub addr: SocketAddr,
    /// Declared by the proto IDL (else by the Thrift one).
    pub proto_idl: bool,
    pub prefix: &'static str,
}

/// `hello` over Thrift on `transport` (no prefix) and `hello-kitex-pb`
/// over Kitex Protobuf under `/kitex-pb`, both on `thrift_addr`;
/// `hello-grpc` under `/grpc` and `hello-dubbo` under `/dubbo` on their
/// own ports.
pub fn builtins(
    transport: &str,
    thrift_addr: SocketAddr,
    grpc_addr: SocketAddr,
    dubbo_addr: SocketAddr,
) -> [Builtin<'_>; 4] {
    // Kitex Protobuf has no buffered form: framed unless TTHeader was asked for.
    let pb_transport = if transport.starts_with("ttheader") {
        "ttheader"
    } else {
        "framed"
    };
    let row = |name, protocol, transport, addr, proto_idl, prefix| Builtin {
        name,
        protocol,
        transport,
        addr,
        proto_idl,
        prefix,
    };
    [
        row(
            "hello",
            super::thrift::THRIFT.name(),
            transport,
            thrift_addr,
            false,
            "",
        ),
        row(
            "hello-kitex-pb",
            super::kitex_pb::KitexPb.name(),
            pb_transport,
            thrift_addr,
            true,
            "/kitex-pb",
        ),
        row(
            "hello-grpc",
            super::grpc::Grpc.name(),
            "http2",
            grpc_addr,
            true,
            "/grpc",
        ),
        row(
            "hello-dubbo",
            super::dubbo::Dubbo.name(),
            "dubbo",
            dubbo_addr,
            false,
            "/dubbo",
        ),
    ]
}

/// The transport the built-in Thrift backend is reached over by default.
pub const DEFAULT_BUILTIN_TRANSPORT: &str = "ttheader";
/// A backend's protocol and transport when its settings name none.
pub const DEFAULT_PROTOCOL: &str = "thrift";
pub const DEFAULT_TRANSPORT: &str = "framed";
/// Backend options whose values are text (the rest are true or false).
pub const TEXT_OPTIONS: [&str; 3] = ["java_interface", "dubbo_version", "dubbo_group"];
