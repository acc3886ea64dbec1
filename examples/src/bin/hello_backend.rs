//! Runs the built-in hello backend on its own.
//!
//! `hello_backend [ADDR] [GRPC_ADDR] [DUBBO_ADDR]` (defaults `127.0.0.1:8899`,
//! `127.0.0.1:0`, `127.0.0.1:0`): Thrift and Kitex Protobuf on ADDR, gRPC on
//! GRPC_ADDR, Dubbo on DUBBO_ADDR. Prints `READY <addr>`, `GRPC <grpc addr>`
//! and `DUBBO <dubbo addr>` once listening.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8899".to_string());
    let grpc_addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let local = examples::start_hello(&addr).await?;
    let dubbo_addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let grpc = examples::start_hello_grpc(&grpc_addr).await?;
    let dubbo = examples::start_hello_dubbo(&dubbo_addr).await?;
    println!("READY {local}");
    println!("GRPC {grpc}");
    println!("DUBBO {dubbo}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
