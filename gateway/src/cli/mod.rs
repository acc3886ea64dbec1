//! The command-line client's flags and the dispatch to its subcommands:
//! `register`, `backends`, `routes`, `remove`, `history`, `rollback` talk
//! to a running gateway's admin API ([`commands`], through [`admin_client`]); `call` and
//! `describe` find a method in a backend's OpenAPI document and call or
//! describe it ([`call`]); `check` loads an IDL file locally and prints its
//! methods and routes ([`check`]).
//!
//! Exit codes: 0 on success, 1 when the admin API refused the request (its
//! message is printed), could not be reached, or (for `check`) the IDL has
//! errors; 2 on usage and local errors (bad flags, unreadable files,
//! includes that cannot be found).

mod admin_client;
mod call;
mod check;
mod commands;
mod table;
mod upload;

use std::path::PathBuf;

use clap::{Args, Subcommand};

const DEFAULT_ADMIN: &str = "http://127.0.0.1:9888";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register (or replace) a backend on a running gateway, uploading its IDL with every file it includes.
    ///
    /// Includes are looked up next to the including file, then in each --include-dir
    /// in order (as the Thrift compiler's -I), following the `include "..."` lines of
    /// every file; all of them are uploaded with the main file.
    #[command(
        after_help = "Example:\n  kitegate register --name users --idl idl/user.thrift --include-dir idl/common \\\n      --protocol thrift --transport ttheader --endpoint 10.0.0.5:9090 --prefix /users"
    )]
    Register(RegisterArgs),
    /// List the backends of a running gateway.
    Backends(ListArgs),
    /// List every HTTP route of a running gateway and the method it calls.
    Routes(ListArgs),
    /// Remove a backend from a running gateway (its routes stop at once).
    Remove(RemoveArgs),
    /// List the versions of a backend that the cluster store keeps (cluster mode).
    History(HistoryArgs),
    /// Write an earlier version of a backend again, as its next version, on every
    /// gateway of the cluster (cluster mode; the version before the current one by default).
    Rollback(RollbackArgs),
    /// Parse an IDL file and print its methods and HTTP routes, without a server.
    ///
    /// Prints every IDL problem as `file:line: message` and exits 1 when there is one;
    /// also exits 1 when two methods claim the same HTTP route.
    Check(CheckArgs),
    /// Call a method through a running gateway (BACKEND METHOD [JSON]), or straight
    /// to a backend with --idl and --endpoint (METHOD [JSON]), and print the reply.
    ///
    /// Exits 1 when the answer is a failure (its status and error are printed)
    /// or a stream ends with an error.
    Call(call::CallArgs),
    /// Print a backend's methods: routes, parameters, request and response types
    /// and an example request for `call`.
    Describe(call::DescribeArgs),
}

/// How to reach the admin API.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Admin API base URL. The token, if the gateway wants one, is read from
    /// KITEGATE_ADMIN_TOKEN and sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "KITEGATE_ADMIN", default_value = DEFAULT_ADMIN, value_name = "URL")]
    pub admin: String,
    /// With an https:// admin URL (the gateway's admin_tls): the CA bundle
    /// its certificate chains to (also used for an https front door).
    #[arg(long, env = "KITEGATE_ADMIN_CA", value_name = "PEM")]
    pub admin_ca: Option<std::path::PathBuf>,
    /// A client certificate for an admin listener that asks for one
    /// (admin_tls.client_ca), with --admin-key.
    #[arg(
        long,
        env = "KITEGATE_ADMIN_CERT",
        value_name = "PEM",
        requires = "admin_key"
    )]
    pub admin_cert: Option<std::path::PathBuf>,
    #[arg(
        long,
        env = "KITEGATE_ADMIN_KEY",
        value_name = "PEM",
        requires = "admin_cert"
    )]
    pub admin_key: Option<std::path::PathBuf>,
    /// Print the admin API's raw JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Backend name (replaces a backend registered earlier under this name).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Main IDL file (.thrift, or .proto for kitex-protobuf and grpc); a
    /// dubbo backend may leave it out with --option java_interface=… (generic calls only).
    #[arg(long, value_name = "FILE")]
    pub idl: Option<PathBuf>,
    /// Directory searched for includes not found next to the including file (repeatable).
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// Protocol the backend speaks.
    #[arg(long, value_name = "P", value_parser = clap::builder::PossibleValuesParser::new(gateway::protocol::names()))]
    pub protocol: String,
    /// Framing on the connection (use ttheader for Kitex servers; grpc is always http2, dubbo always dubbo).
    #[arg(long, value_name = "T", default_value = gateway::protocol::builtin::DEFAULT_TRANSPORT, value_parser = clap::builder::PossibleValuesParser::new(gateway::protocol::transport_names()))]
    pub transport: String,
    /// Backend address; repeat for several (called round robin).
    #[arg(long = "endpoint", value_name = "HOST:PORT", required = true)]
    pub endpoints: Vec<String>,
    /// Path prefix put before every route of this backend, e.g. /users.
    #[arg(long, value_name = "/P")]
    pub prefix: Option<String>,
    /// Only expose this service of the main file (repeatable; default: every service).
    #[arg(long = "service", value_name = "S")]
    pub services: Vec<String>,
    /// Reply timeout in milliseconds (default: the gateway's).
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// Backend option (repeatable): enum_as_name=BOOL, i64_as_string=BOOL,
    /// reject_unknown_fields=BOOL, emit_defaults=BOOL, proto_field_names=BOOL,
    /// omit_response_metadata=BOOL, accept_gzip=BOOL, max_frame=BYTES,
    /// forward_headers=NAME,NAME, java_interface=NAME, dubbo_version=V, dubbo_group=G.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Name of the backend to remove.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Name of the backend.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Name of the backend.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The version to restore (default: the one before the current version).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u64>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Main Thrift IDL file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Directory searched for includes not found next to the including file (repeatable).
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// Path prefix put before every route, as `register --prefix` would.
    #[arg(long, value_name = "/P")]
    pub prefix: Option<String>,
    /// Print the methods and routes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
enum Failure {
    /// Exit 1: the server said no, could not be reached, or the IDL is wrong.
    Failed(String),
    /// Exit 2: the command line or a local file is wrong.
    Usage(String),
}

/// Runs a subcommand; returns the process exit code.
pub fn run(cmd: Command) -> i32 {
    let result = match cmd {
        Command::Register(a) => commands::register(a),
        Command::Backends(a) => commands::backends(a),
        Command::Routes(a) => commands::routes(a),
        Command::Remove(a) => commands::remove(a),
        Command::History(a) => commands::history(a),
        Command::Rollback(a) => commands::rollback(a),
        Command::Check(a) => check::check(a),
        Command::Call(a) => call::call(a),
        Command::Describe(a) => call::describe(a),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Failed(m)) => {
            eprintln!("kitegate: {m}");
            1
        }
        Err(Failure::Usage(m)) => {
            eprintln!("kitegate: {m}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The HTTP client is the CLI's alone: the gateway's own code must not
    /// grow a dependency on it (it would pull a blocking client into the server).
    #[test]
    fn ureq_stays_in_the_cli() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let users: Vec<String> = files
            .iter()
            .filter(|p| !p.starts_with(src.join("cli")))
            .filter(|p| std::fs::read_to_string(p).unwrap().contains("ureq"))
            .map(|p| p.display().to_string())
            .collect();
        assert!(users.is_empty(), "ureq used outside src/cli/: {users:?}");
    }
}
