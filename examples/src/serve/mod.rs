//! The server loops of the built-in backend: Thrift and Kitex Protobuf on
//! every framing ([`thrift`]), Dubbo ([`dubbo`]) and gRPC ([`grpc`]), each
//! answering with a handler over whole messages, and the one accept loop
//! they share.

pub mod dubbo;
pub mod grpc;
pub mod thrift;

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long an accept loop waits after a failed accept (out of file
/// descriptors and the like) before it tries again, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections on `listener` forever, handing each (with
/// `TCP_NODELAY` set) to `serve_conn`; a failed accept is logged and
/// retried after [`ACCEPT_BACKOFF`].
pub async fn accept_loop<F, Fut>(listener: TcpListener, serve_conn: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                stream.set_nodelay(true).ok();
                tokio::spawn(serve_conn(stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
