//! Runs the built-in hello backend on its own.
//!
//! `hello_backend [ADDR]` (default `127.0.0.1:8899`); prints `READY <addr>` once listening.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8899".to_string());
    let local = examples::start_hello(&addr).await?;
    println!("READY {local}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
