//! The gRPC server loop of the built-in backend (HTTP/2 with h2): unary and
//! server-streaming methods answered by a handler over whole messages.
//! Spec: grpc/grpc `doc/PROTOCOL-HTTP2.md`.

use std::sync::Arc;

use bytes::Bytes;
use codecs::protobuf::{grpc_frame, grpc_unframe};
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::net::TcpListener;

use super::accept_loop;

/// gRPC status codes the built-in backend answers with (grpc/grpc `doc/statuscodes.md`).
pub mod code {
    pub const OK: u32 = 0;
    pub const UNKNOWN: u32 = 2;
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const DEADLINE_EXCEEDED: u32 = 4;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
}

/// Handles one call with a single request message: gets the path and the
/// request, returns the response messages (one for unary methods, any
/// number for server-streaming ones) or a status code and message.
pub type GrpcHandler =
    Arc<dyn Fn(&str, &[u8]) -> Result<Vec<Vec<u8>>, (u32, String)> + Send + Sync>;

/// Serves unary gRPC calls on `listener` until it fails.
pub async fn serve_grpc(listener: TcpListener, handler: GrpcHandler, max_message: usize) {
    accept_loop(listener, move |tcp| {
        let handler = handler.clone();
        async move {
            let Ok(mut conn) = h2::server::handshake(tcp).await else {
                return;
            };
            while let Some(Ok((req, respond))) = conn.accept().await {
                let handler = handler.clone();
                tokio::spawn(answer(req, respond, handler, max_message));
            }
        }
    })
    .await
}

async fn answer(
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    handler: GrpcHandler,
    max_message: usize,
) {
    let path = req.uri().path().to_string();
    let mut body = req.into_body();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        body.flow_control().release_capacity(chunk.len()).ok();
        data.extend_from_slice(&chunk);
    }
    let result = match grpc_unframe(&data, max_message) {
        Ok(Some((range, _, false))) => handler(&path, &data[range]),
        Ok(Some((_, _, true))) => Err((code::UNIMPLEMENTED, "compression is not supported".into())),
        Ok(None) => Err((code::INVALID_ARGUMENT, "truncated request message".into())),
        Err(e) => Err((code::INVALID_ARGUMENT, e.to_string())),
    };
    let head = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("response head");
    let Ok(mut stream) = respond.send_response(head, false) else {
        return;
    };
    let mut trailers = HeaderMap::new();
    match result {
        Ok(msgs) => {
            for msg in msgs {
                let mut out = Vec::with_capacity(msg.len() + 5);
                grpc_frame(&msg, &mut out);
                if stream.send_data(Bytes::from(out), false).is_err() {
                    return;
                }
            }
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
        }
        Err((code, message)) => {
            trailers.insert("grpc-status", HeaderValue::from(code));
            if let Ok(v) = HeaderValue::from_str(
                &message.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "?"),
            ) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    stream.send_trailers(trailers).ok();
}
