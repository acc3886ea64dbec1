//! The `kitegate` binary: parse flags, load config, run.

use std::path::PathBuf;

use clap::Parser;
use gateway::config::Config;

/// HTTP/JSON gateway to Thrift backends described by IDL files.
#[derive(Parser, Debug)]
#[command(name = "kitegate", version, about)]
struct Cli {
    /// TOML config file (backends, limits); without it the built-in hello backend is served.
    #[arg(short, long, env = "KITEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP listen address (overrides the config file).
    #[arg(short, long, env = "KITEGATE_LISTEN")]
    listen: Option<String>,
    /// Do not start the built-in hello backend.
    #[arg(long)]
    no_builtin: bool,
    /// Framing the built-in backend is called with: buffered, framed, ttheader, ttheader-framed.
    #[arg(long)]
    builtin_transport: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        fmt.json().init();
    } else {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let mut cfg = match &cli.config {
        Some(path) => Config::load(path).unwrap_or_else(|e| fail(&e)),
        None => Config::default(),
    };
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    if cli.no_builtin {
        cfg.builtin_hello = false;
    }
    if let Some(t) = cli.builtin_transport {
        cfg.builtin_transport = t;
    }
    if let Err(e) = gateway::run(cfg).await {
        fail(&e);
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("kitegate: {msg}");
    std::process::exit(2);
}
