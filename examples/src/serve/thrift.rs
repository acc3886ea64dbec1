//! The Thrift server loop of the built-in backend, which, like a Kitex server, recognizes the framing
//! and protocol of every message (buffered, framed, TTHeader,
//! TTHeader-framed; binary or compact) and answers in the same one.

use std::borrow::Cow;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::accept_loop;

use codecs::framing::{Transport, begin_frame, decode_frame, detect, finish_frame, ttheader};
use codecs::thrift::Protocol;

/// Handles one message: gets the protocol and the message bytes, returns the
/// reply message bytes (`None` for oneway calls).
pub type Handler = Arc<dyn Fn(Protocol, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Accepts connections forever; one task per connection.
pub async fn serve(listener: TcpListener, handler: Handler, max_frame: usize) {
    accept_loop(listener, move |stream| {
        let handler = handler.clone();
        async move {
            if let Err(e) = connection(stream, handler, max_frame).await {
                tracing::debug!(error = %e, "connection closed");
            }
        }
    })
    .await
}

async fn connection(
    mut stream: TcpStream,
    handler: Handler,
    max_frame: usize,
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut out: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // Serve every complete message already buffered.
        loop {
            let detected = detect(&buf).map_err(std::io::Error::other)?;
            let Some((transport, proto)) = detected else {
                break;
            };
            let frame =
                decode_frame(transport, proto, &buf, max_frame).map_err(std::io::Error::other)?;
            let Some(frame) = frame else { break };
            let reply = handler(proto, &buf[frame.payload.clone()]);
            if let Some(reply) = reply {
                out.clear();
                let (t, seqid) = match &frame.header {
                    Some(h) => (
                        if h.framed_payload {
                            Transport::TTHeaderFramed
                        } else {
                            Transport::TTHeader
                        },
                        h.seqid,
                    ),
                    None => (transport, 0),
                };
                let block = if t.is_ttheader() {
                    ttheader::header_block(&ttheader::TTHeaderMeta {
                        protocol: ttheader::protocol_id(proto),
                        ints: vec![(ttheader::int_key::MSG_TYPE, Cow::Borrowed("2"))],
                        strs: Vec::new(),
                    })
                } else {
                    Vec::new()
                };
                let mark = begin_frame(t, &mut out, seqid, &block);
                out.extend_from_slice(&reply);
                finish_frame(t, &mut out, mark);
                stream.write_all(&out).await?;
            }
            buf.drain(..frame.consumed);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
