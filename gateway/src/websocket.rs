//! The WebSocket form of a streaming route: a `GET` upgrade on the route's
//! path, then one text frame per JSON message each way. The frames the
//! client sends become the route's newline-delimited request body (an
//! empty text frame, or the client's close frame, ends it); the lines of
//! the route's answer go back as text frames; the end of the call is the
//! close frame: 1000 `OK` after a clean end, else the error in the
//! gateway's JSON shape as a last text frame and a close frame whose code
//! is 4000 plus the gRPC status code when there is one (4005 for
//! NOT_FOUND), 1011 otherwise, with the error's code and message as its
//! reason.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::error::{ApiError, Failure};
use crate::protocol::HttpRequest;

/// The longest close reason the protocol allows (125 bytes of payload, 2 of them the code).
const MAX_REASON: usize = 123;

/// Answers a WebSocket upgrade of `req`; once upgraded, `call` runs with
/// the request whose body is the client's frames, and its answer is sent
/// back as frames.
pub async fn upgrade<F, Fut>(mut req: HttpRequest, call: F) -> Result<Response, ApiError>
where
    F: FnOnce(HttpRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    let ws = WebSocketUpgrade::from_request_parts(&mut req.parts, &())
        .await
        .map_err(|e| {
            ApiError::from(Failure::Input(format!(
                "WebSocket upgrade: {}",
                e.body_text()
            )))
        })?;
    let limit = req.body_limit;
    Ok(ws
        .max_message_size(limit)
        .on_upgrade(move |socket| serve(socket, req, call)))
}

async fn serve<F, Fut>(socket: WebSocket, req: HttpRequest, call: F)
where
    F: FnOnce(HttpRequest) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let (mut out, mut incoming) = socket.split();
    let (lines, body_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    // The client's frames, as request lines, until it ends its side.
    let reader = async move {
        while let Some(Ok(msg)) = incoming.next().await {
            let text = match msg {
                Message::Text(t) => Bytes::from(t),
                Message::Binary(b) => b,
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                break;
            }
            let mut line = text.to_vec();
            line.push(b'\n');
            if lines.send(Bytes::from(line)).await.is_err() {
                break;
            }
        }
        // Dropping `lines` ends the request body.
    };
    let body = Body::from_stream(futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    }));
    let req = HttpRequest {
        parts: req.parts,
        body,
        params: req.params,
        body_limit: req.body_limit,
    };
    let answer = async {
        let failure = match call(req).await {
            Err(e) => Some(e.body()),
            Ok(resp) if !resp.status().is_success() => {
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Some(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            }
            Ok(resp) => send_lines(&mut out, resp.into_body()).await,
        };
        let close = match &failure {
            None => CloseFrame {
                code: 1000,
                reason: Utf8Bytes::from_static("OK"),
            },
            Some(e) => {
                let _ = out.send(Message::Text(e.to_string().into())).await;
                close_of(e)
            }
        };
        let _ = out.send(Message::Close(Some(close))).await;
    };
    // The call's answer ends the exchange; the reader stops with it.
    tokio::select! {
        () = answer => {}
        () = async { reader.await; std::future::pending::<()>().await } => {}
    }
}

/// Sends each line of a newline-delimited answer (or a whole JSON answer)
/// as a text frame; returns the error item that ended it, if one did.
async fn send_lines(
    out: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    mut body: Body,
) -> Option<Value> {
    let mut pending: Vec<u8> = Vec::new();
    let mut ended = false;
    loop {
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            if let Some(e) = frame(out, &line[..nl]).await {
                return Some(e);
            }
        }
        if ended {
            return match pending.is_empty() {
                true => None,
                false => frame(out, &std::mem::take(&mut pending)).await,
            };
        }
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    pending.extend_from_slice(d);
                }
            }
            Some(Err(e)) => {
                return Some(ApiError::from(Failure::BadReply(e.to_string())).body());
            }
            None => ended = true,
        }
    }
}

/// Sends one answer line; an error item is returned instead, to end the exchange.
async fn frame(
    out: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    line: &[u8],
) -> Option<Value> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(line)
        && v.get("error").is_some()
    {
        return Some(v);
    }
    let text = String::from_utf8_lossy(line).into_owned();
    let _ = out.send(Message::Text(text.into())).await;
    None
}

/// The close frame of a failed exchange.
fn close_of(e: &Value) -> CloseFrame {
    let err = &e["error"];
    let code = match err["grpc_status"].as_u64() {
        Some(s) if s <= 999 => 4000 + s as u16,
        _ => 1011,
    };
    let name = err["grpc_code"]
        .as_str()
        .or_else(|| err["code"].as_str())
        .unwrap_or("error");
    let mut reason = format!("{name}: {}", err["message"].as_str().unwrap_or(""));
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn close_frames_carry_the_status() {
        let c = close_of(
            &json!({"error": {"code": "grpc_error", "grpc_status": 5, "grpc_code": "NOT_FOUND", "message": "gone"}}),
        );
        assert_eq!((c.code, c.reason.as_str()), (4005, "NOT_FOUND: gone"));
        let c = close_of(
            &json!({"error": {"code": "backend_unavailable", "message": "x".repeat(300)}}),
        );
        assert_eq!(c.code, 1011);
        assert_eq!(c.reason.len(), MAX_REASON);
        assert!(c.reason.starts_with("backend_unavailable: xxx"));
    }
}
