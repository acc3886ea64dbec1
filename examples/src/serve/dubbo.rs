//! The Dubbo server loop of the built-in backend: heartbeats answered,
//! requests handed to a handler and answered concurrently on each connection.

use std::sync::Arc;

use codecs::dubbo::{self, HEADER_LEN, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::accept_loop;

/// Answers one request frame: returns the reply frame, or `None` for a
/// one-way request.
pub type DubboHandler = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Serves Dubbo on `listener` until it fails: heartbeats answered, each
/// request handed to `handler`, replies written as they are ready.
pub async fn serve_dubbo(listener: TcpListener, handler: DubboHandler, max_body: usize) {
    accept_loop(listener, move |tcp| {
        let handler = handler.clone();
        async move {
            let (mut rd, mut wr) = tcp.into_split();
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
            tokio::spawn(async move {
                while let Some(f) = rx.recv().await {
                    if wr.write_all(&f).await.is_err() {
                        return;
                    }
                }
            });
            let mut head = [0u8; HEADER_LEN];
            loop {
                if rd.read_exact(&mut head).await.is_err() {
                    return;
                }
                let h = match Header::read(&head, max_body) {
                    Ok(Some(h)) => h,
                    _ => return,
                };
                let mut frame = head.to_vec();
                frame.resize(HEADER_LEN + h.body_len as usize, 0);
                if rd.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                    return;
                }
                if !h.is_request() {
                    continue; // a reply to a heartbeat of the peer's
                }
                if h.is_event() {
                    if h.is_two_way() {
                        tx.send(dubbo::heartbeat_response(h.id)).ok();
                    }
                    continue;
                }
                let handler = handler.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Some(reply) = handler(&frame) {
                        tx.send(reply).ok();
                    }
                });
            }
        }
    })
    .await
}
