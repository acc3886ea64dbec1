//! Connections: a pooled client that drives a [`Transport`](crate::framing::Transport)
//! over TCP, and a server loop that answers every framing on one port.
//! Neither knows any IDL; they move whole messages.

mod client;
mod dubbo;
mod grpc;
mod server;

pub use client::{Client, ClientConfig, Pools, Response, TransportError};
pub use dubbo::{DubboClient, DubboClientConfig, DubboHandler, DubboReply, serve_dubbo};
pub use grpc::{
    GrpcClient, GrpcError, GrpcHandler, GrpcReply, GrpcResponse, GrpcSender, GrpcStatus,
    GrpcStream, code as grpc_code, serve_grpc,
};
pub use server::{Handler, serve};
