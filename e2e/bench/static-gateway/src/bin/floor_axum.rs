//! The HTTP floor of the head-to-head benchmark: axum alone, no backend.
//!
//! `floor_axum LISTEN`; prints `READY <addr>`. Every request (any method,
//! any path) has its body read in full and is answered with the constant
//! `{"sum":1024}`, the `POST /add` answer, so the numbers are what the HTTP
//! server costs without any transcoding or RPC.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;

const BODY: &str = r#"{"sum":1024}"#;

async fn constant(body: Bytes) -> impl IntoResponse {
    drop(body);
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let Some(listen) = std::env::args().nth(1) else {
        eprintln!("usage: floor_axum LISTEN   (e.g. 127.0.0.1:18081)");
        std::process::exit(2);
    };
    let app = Router::new()
        .fallback(constant)
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("floor_axum: cannot listen on {listen}: {e}");
            std::process::exit(2);
        });
    println!("READY {}", listener.local_addr().expect("local addr"));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("floor_axum: {e}");
        std::process::exit(1);
    }
}
