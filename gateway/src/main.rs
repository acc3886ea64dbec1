//! The `kitegate` binary: without a subcommand, parse flags, load config and
//! run the gateway; with one, act as a command-line client of a running
//! gateway's admin API (or check an IDL file locally).

mod cli;

use std::path::PathBuf;

use clap::Parser;
use gateway::config::Config;

/// HTTP/JSON gateway to Thrift, Kitex Protobuf, gRPC and Dubbo backends described by IDL files.
///
/// Without a subcommand, runs the gateway, with the built-in hello backend
/// served on every one of those protocols unless --no-builtin. The
/// subcommands manage a running gateway through its admin API (--admin URL,
/// default http://127.0.0.1:9888, or KITEGATE_ADMIN; token from
/// KITEGATE_ADMIN_TOKEN), or check an IDL file.
/// Exit codes: 0 success, 1 refused by the admin API / unreachable / IDL errors,
/// 2 usage or local errors.
#[derive(Parser, Debug)]
#[command(name = "kitegate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<cli::Command>,
    /// TOML config file (backends, limits); without it the built-in hello backend is served.
    #[arg(short, long, env = "KITEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP listen address (overrides the config file).
    #[arg(short, long, env = "KITEGATE_LISTEN")]
    listen: Option<String>,
    /// Do not start the built-in hello backend (Thrift, Kitex Protobuf, gRPC and Dubbo).
    #[arg(long)]
    no_builtin: bool,
    /// Framing the built-in Thrift backend is called with: buffered, framed, ttheader,
    /// ttheader-framed (its Kitex Protobuf one is called with ttheader for either TTHeader form, else framed).
    #[arg(long)]
    builtin_transport: Option<String>,
    /// Cluster mode: keep registrations in etcd, shared with every gateway on the same
    /// prefix (etcd://HOST:PORT[,HOST:PORT…][/PREFIX]); overrides the config file's `store`.
    #[arg(long, env = "KITEGATE_STORE", value_name = "URL")]
    store: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let mut args = Cli::parse();
    if let Some(cmd) = args.command.take() {
        std::process::exit(cli::run(cmd));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    runtime.block_on(serve(args));
}

async fn serve(cli: Cli) {
    let mut cfg = match &cli.config {
        Some(path) => Config::load(path).unwrap_or_else(|e| fail(&e)),
        None => Config::default(),
    };
    init_logs(cli.log_json, cfg.access_log.as_deref());
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    if let Some(s) = cli.store {
        cfg.store = Some(s);
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

/// The log on stderr (text, or JSON lines with `--log-json`) and the
/// access log: in a file of its own when the config names one, else with a
/// JSON log, else off.
fn init_logs(json: bool, access_file: Option<&std::path::Path>) {
    use gateway::observe::access;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{Targets, filter_fn};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    // Access events go to the stderr log only as JSON lines and only when
    // they have no file.
    let access_on_stderr = json && access_file.is_none();
    let access_on = access_on_stderr || access_file.is_some();
    // One filter for the whole subscriber, so that what it turns off (the
    // per-request spans below the level) costs nothing; the access events
    // pass it whatever the level of the rest.
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if access_on {
        filter = filter.add_directive(
            format!("{}=info", access::TARGET)
                .parse()
                .expect("a directive"),
        );
    }
    let stderr_takes = filter_fn(move |m| access_on_stderr || m.target() != access::TARGET);
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let stderr = if json {
        stderr.json().flatten_event(true).boxed()
    } else {
        stderr
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    let file = access_file.map(|path| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| {
                fail(&format!(
                    "cannot open the access log {}: {e}",
                    path.display()
                ))
            });
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::sync::Mutex::new(f))
            .with_filter(Targets::new().with_target(access::TARGET, tracing::Level::INFO))
    });
    if access_on {
        access::enable();
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr.with_filter(stderr_takes))
        .with(file)
        .init();
}

fn fail(msg: &str) -> ! {
    eprintln!("kitegate: {msg}");
    std::process::exit(2);
}
