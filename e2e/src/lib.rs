//! End-to-end harness: starts the real `kitegate` binary and real peers on
//! 127.0.0.1 with free ports, waits until they are ready, talks HTTP to
//! them, and stops every process when the handle is dropped.
//!
//! Binaries come from the workspace's `target/debug` (the test command builds
//! them first); peers from `.venv` and `e2e/.cache` (installed by their
//! scripts under `e2e/peers/`).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod stores;
pub mod toxic;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A binary built by `cargo build --workspace --bins`.
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// The Python of the peers' venv (`e2e/peers/python/setup.sh`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("KITEGATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"))
        .join("bin/python");
    assert!(
        p.exists(),
        "{} is missing: run e2e/peers/python/setup.sh first",
        p.display()
    );
    p
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed (and reaped) on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    /// Everything it printed on stderr so far is collected here on drop, for failures.
    stderr: Option<std::sync::Mutex<mpsc::Receiver<String>>>,
}

impl Proc {
    /// Starts `cmd`; if `ready` is given, waits for a stdout line starting with it and returns that line.
    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn start(name: &str, mut cmd: Command, ready: Option<&str>) -> (Proc, String) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let ready_owned = ready.map(str::to_string);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(r) = &ready_owned
                    && line.starts_with(r.as_str())
                {
                    tx.send(line.clone()).ok();
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            stderr.read_to_string(&mut s).ok();
            etx.send(s).ok();
        });
        let mut p = Proc {
            name: name.to_string(),
            child,
            stderr: Some(std::sync::Mutex::new(erx)),
        };
        let line = match ready {
            None => String::new(),
            Some(r) => match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => l,
                Err(_) => {
                    let err = p.stop();
                    panic!("{name} never printed `{r}`; stderr:\n{err}");
                }
            },
        };
        (p, line)
    }

    /// Stops the process (SIGTERM, then SIGKILL after 3 s) and returns its stderr.
    pub fn stop(&mut self) -> String {
        if let Ok(None) = self.child.try_wait() {
            Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status()
                .ok();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.child.kill().ok();
        }
        self.child.wait().ok();
        self.stderr
            .take()
            .and_then(|rx| {
                rx.into_inner()
                    .ok()?
                    .recv_timeout(Duration::from_secs(2))
                    .ok()
            })
            .unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let err = self.stop();
        if std::thread::panicking() && !err.is_empty() {
            let tail: String = err
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("--- {} stderr (tail) ---\n{tail}", self.name);
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` of the HTTP front door.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the admin API.
    pub admin: String,
    /// Its config file and state directory live here.
    pub dir: TempDir,
}

impl Gateway {
    /// Starts kitegate with this TOML config (its `listen`, `admin_listen` and
    /// `state_dir` are set here: free ports, a temporary directory) and extra flags.
    pub fn start(config: &str, flags: &[&str]) -> Gateway {
        Gateway::start_in(TempDir::new("gw"), config, flags)
    }

    /// Like [`Gateway::start`] in a given directory (whose `state/` may hold earlier registrations).
    pub fn start_in(dir: TempDir, config: &str, flags: &[&str]) -> Gateway {
        Gateway::start_wrapped(dir, config, flags, &[])
    }

    /// Like [`Gateway::start_in`], run through `wrapper` (a command that
    /// ends by exec'ing the command line it is given, e.g. `unshare`).
    pub fn start_wrapped(dir: TempDir, config: &str, flags: &[&str], wrapper: &[&str]) -> Gateway {
        Gateway::launch(dir, config, flags, wrapper, &[], None)
    }

    /// Like [`Gateway::start_in`] with a `[tls]` front door whose
    /// certificate `ca` signed (so `base` is `https://`), and these
    /// environment variables (`RUST_LOG` among them).
    pub fn start_tls(dir: TempDir, config: &str, ca: &Path, env: &[(&str, &str)]) -> Gateway {
        Gateway::launch(dir, config, &[], &[], env, Some(ca))
    }

    fn launch(
        dir: TempDir,
        config: &str,
        flags: &[&str],
        wrapper: &[&str],
        env: &[(&str, &str)],
        tls_ca: Option<&Path>,
    ) -> Gateway {
        // A port picked free may be taken before kitegate binds it (other
        // tests pick ports too): then it exits at once, and is started
        // again on other ports.
        for attempt in 1.. {
            let (port, admin_port) = (free_port(), free_port());
            match Gateway::start_on(&dir, config, flags, wrapper, env, tls_ca, port, admin_port) {
                Ok((proc, scheme)) => {
                    return Gateway {
                        proc,
                        base: format!("{scheme}://127.0.0.1:{port}"),
                        admin: format!("http://127.0.0.1:{admin_port}"),
                        dir,
                    };
                }
                Err(err) if attempt < 4 && err.contains("Address already in use") => continue,
                Err(err) => panic!("kitegate did not become ready; stderr:\n{err}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Starts kitegate on those ports and waits until it answers; the
    /// error is its stderr.
    #[allow(clippy::too_many_arguments)]
    fn start_on(
        dir: &TempDir,
        config: &str,
        flags: &[&str],
        wrapper: &[&str],
        env: &[(&str, &str)],
        tls_ca: Option<&Path>,
        port: u16,
        admin_port: u16,
    ) -> Result<(Proc, &'static str), String> {
        let cfg = dir.path().join("kitegate.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\nstate_dir = \"state\"\n{config}"
            ),
        )
        .unwrap();
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin("kitegate")),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin("kitegate"));
                c
            }
        };
        cmd.arg("--config")
            .arg(&cfg)
            .args(flags)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        let (mut proc, _) = Proc::start("kitegate", cmd, None);
        let scheme = if tls_ca.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match tls_ca {
                None => matches!(
                    http("GET", &format!("{base}/healthz"), None, &[]),
                    Ok((200, _, _))
                ),
                Some(ca) => {
                    let url = format!("{base}/healthz");
                    let ca = ca.display().to_string();
                    curl(&[
                        "--cacert",
                        &ca,
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        &url,
                    ])
                    .1 == "200"
                }
            };
            if ready {
                return Ok((proc, scheme));
            }
            if proc.exited() || Instant::now() > deadline {
                return Err(proc.stop());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a request; returns status and body parsed as JSON (or a JSON string of the raw text).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call_h(method, path, body, &[]).0
    }

    /// Like [`Gateway::call`] with request headers; also returns the response headers.
    pub fn call_h(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> ((u16, Value), Vec<(String, String)>) {
        let (status, h, text) = http(method, &format!("{}{path}", self.base), body, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        ((status, v), h)
    }

    /// Stops the gateway (SIGTERM, graceful) and hands back its directory.
    pub fn stop(mut self) -> TempDir {
        self.proc.stop();
        self.dir_out()
    }

    /// Kills the gateway with SIGKILL and hands back its directory.
    pub fn kill9(mut self) -> TempDir {
        self.proc.kill9();
        self.dir_out()
    }

    fn dir_out(self) -> TempDir {
        let Gateway { dir, .. } = self;
        dir
    }

    /// A request to the admin API: status and JSON body.
    pub fn admin_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let (status, _, text) = http(method, &format!("{}{path}", self.admin), body, headers)
            .unwrap_or_else(|e| panic!("admin {method} {path}: {e}"));
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }
}

/// Runs curl (silent, errors shown) with these arguments: its exit code,
/// stdout and stderr.
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The Kitex peer (`e2e/.cache/bin/kitex-hello`, with obs-opentelemetry's
/// server suite) on a free port.
pub fn kitex_server() -> (Proc, String) {
    let bin = root().join("e2e/.cache/bin/kitex-hello");
    assert!(
        bin.exists(),
        "{} is missing: run e2e/peers/kitex/build.sh",
        bin.display()
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(bin);
    cmd.args(["-addr", &addr]);
    let (p, _) = Proc::start("kitex-hello", cmd, Some("READY"));
    (p, addr)
}

/// The Apache Dubbo provider (`e2e/.cache/bin/kitegate-dubbo-peer.jar`)
/// exporting `HelloService`, whose `echo("trace")` answers the attachments
/// it received.
pub fn dubbo_hello_provider() -> (Proc, String) {
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(root().join("e2e/.cache/bin/kitegate-dubbo-peer.jar"))
        .args(["provider", "0", "--with-hello", "--no-stdin-watch"]);
    let (p, line) = Proc::start("dubbo provider", cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// The tokens of e2e/peers/python/make_jwt.py (issuer
/// `https://issuer.test`, audience `kitegate`), its JWKS written to `jwks`.
pub fn make_jwt(jwks: &Path) -> Value {
    let out = Command::new(python())
        .arg(root().join("e2e/peers/python/make_jwt.py"))
        .args(["--jwks", &jwks.to_string_lossy()])
        .args(["--issuer", "https://issuer.test", "--audience", "kitegate"])
        .output()
        .expect("run make_jwt.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a peer that prints one JSON object per line: those objects.
pub fn json_lines(mut cmd: Command) -> Vec<Value> {
    let out = cmd.output().expect("run the peer");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Certificates made by e2e/peers/python/make_certs.py (a CA, `server`
/// and `renewed` for 127.0.0.1 and localhost, `client`, and `stranger`
/// from another CA), in a temporary directory.
pub fn make_certs() -> TempDir {
    let dir = TempDir::new("certs");
    let st = Command::new(python())
        .arg(root().join("e2e/peers/python/make_certs.py"))
        .arg(dir.path())
        .status()
        .expect("run make_certs.py");
    assert!(st.success());
    dir
}

/// Status, headers and body text of a response.
pub type HttpReply = (u16, Vec<(String, String)>, String);

/// One HTTP/1.1 request.
pub fn http(
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<HttpReply, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.unwrap_or("").as_bytes().to_vec())
        .expect("request");
    let mut resp = agent.run(req)?;
    let status = resp.status().as_u16();
    let hs = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()?;
    Ok((status, hs, text))
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "kitegate-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Starts the built-in hello backend on its own; returns it and its address.
pub fn hello_backend() -> (Proc, String) {
    let mut cmd = Command::new(bin("hello_backend"));
    cmd.arg("127.0.0.1:0");
    let (p, line) = Proc::start("hello_backend", cmd, Some("READY "));
    (p, line["READY ".len()..].trim().to_string())
}

/// A `multipart/form-data` body: parts of (name, filename, content).
/// Returns the content type (with its boundary) and the body.
pub fn multipart(parts: &[(&str, Option<&str>, &str)]) -> (String, String) {
    let boundary = "kitegate-e2e-boundary-7d3f";
    let mut body = String::new();
    for (name, file, content) in parts {
        body.push_str(&format!("--{boundary}\r\n"));
        match file {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/plain\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\n\r\n"
            )),
        }
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Starts the thriftpy2 `RichService` peer (`e2e/peers/python/rich_server.py`)
/// on `protocol` (binary, compact) and `transport` (buffered, framed);
/// returns it and its `127.0.0.1:PORT`.
pub fn rich_server(protocol: &str, transport: &str) -> (Proc, String) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("e2e/peers/python/rich_server.py"))
        .args([
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--protocol",
            protocol,
            "--transport",
            transport,
        ])
        .arg("--idl")
        .arg(root().join("e2e/idl/rich.thrift"));
    let (p, line) = Proc::start(
        &format!("rich_server {protocol}/{transport}"),
        cmd,
        Some("READY "),
    );
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Runs `kitegate ARGS` in the repository root, free of the caller's
/// KITEGATE_* environment; returns exit code, stdout and stderr.
pub fn kitegate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("kitegate"))
        .args(args)
        .current_dir(root())
        .env_remove("KITEGATE_ADMIN")
        .env_remove("KITEGATE_ADMIN_TOKEN")
        .env_remove("KITEGATE_CONFIG")
        .env_remove("KITEGATE_LISTEN")
        .output()
        .expect("run kitegate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the gateway on a TOML config that it must refuse; returns its exit
/// code and stderr.
pub fn refused_config(config: &str) -> (i32, String) {
    let dir = TempDir::new("cfg");
    let cfg = dir.path().join("kitegate.toml");
    std::fs::write(&cfg, config).unwrap();
    let (code, _, err) = kitegate(&["--config", &cfg.to_string_lossy()]);
    (code, err)
}

/// A path inside the repository, as a string for configs.
pub fn repo_path(rel: &str) -> String {
    root().join(rel).to_string_lossy().into_owned()
}

/// Starts the thriftpy2 counter peer (`rich_server.py --service Counter`,
/// binary, framed) named `name` on `port` (0: any); returns it and its
/// `127.0.0.1:PORT`.
pub fn counter_server(name: &str, port: u16) -> (Proc, String) {
    let (p, line) = counter_server_on("127.0.0.1", name, port);
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Like [`counter_server`] on another loopback address (`::1`); returns
/// it and its READY line.
pub fn counter_server_on(host: &str, name: &str, port: u16) -> (Proc, String) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("e2e/peers/python/rich_server.py"))
        .args(["--host", host, "--port", &port.to_string()])
        .args(["--protocol", "binary", "--transport", "framed"])
        .args(["--service", "Counter", "--name", name])
        .arg("--idl")
        .arg(root().join("e2e/idl/counter.thrift"));
    Proc::start(&format!("counter {name}"), cmd, Some("READY "))
}

/// Starts the grpcio peer serving `RichService` of `e2e/idl/rich.proto`;
/// returns it and its `127.0.0.1:PORT`.
pub fn grpc_rich_server() -> (Proc, String) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("e2e/peers/python/grpc_server.py"))
        .args(["--port", "0", "--proto"])
        .arg(root().join("e2e/idl/rich.proto"));
    let (p, line) = Proc::start("grpc_server", cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Registers `rich.proto` (with `rich_common.proto`) as gRPC backend `name`
/// at `endpoint` under `prefix` through the admin API, with the settings
/// of `extra` (an object) added.
pub fn register_rich_grpc(gw: &Gateway, name: &str, endpoint: &str, prefix: &str, extra: Value) {
    let read = |f: &str| std::fs::read_to_string(repo_path(&format!("e2e/idl/{f}"))).unwrap();
    let mut reg = serde_json::json!({
        "protocol": "grpc", "endpoints": [endpoint], "prefix": prefix, "main": "rich.proto",
        "files": {"rich.proto": read("rich.proto"), "rich_common.proto": read("rich_common.proto")},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        reg[k] = v.clone();
    }
    let (status, body) = gw.admin_call(
        "PUT",
        &format!("/admin/backends/{name}"),
        Some(&reg.to_string()),
        &[("content-type", "application/json")],
    );
    assert!(
        status == 201 || status == 200,
        "register {name}: {status} {body}"
    );
}

/// Starts the grpcio counter peer (`grpc_server.py --service Counter`)
/// named `name` on `port` (0: any); returns it and its `127.0.0.1:PORT`.
pub fn grpc_counter_server(name: &str, port: u16) -> (Proc, String) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("e2e/peers/python/grpc_server.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--service", "Counter", "--name", name])
        .arg("--proto")
        .arg(root().join("e2e/idl/counter.proto"));
    let (p, line) = Proc::start(&format!("grpc counter {name}"), cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Starts the Apache Dubbo provider (`e2e/.cache/bin/kitegate-dubbo-peer.jar`,
/// built by `e2e/peers/dubbo/build.sh`) on `port` (0: a free one); it
/// exports `RichService` and (`--with-counter`) `Counter`. Returns it and its `127.0.0.1:PORT`.
pub fn dubbo_provider(port: u16) -> (Proc, String) {
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(root().join("e2e/.cache/bin/kitegate-dubbo-peer.jar"))
        .args([
            "provider",
            &port.to_string(),
            "--with-counter",
            "--no-stdin-watch",
        ]);
    let (p, line) = Proc::start("dubbo provider", cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Starts the Apache Dubbo provider (with `Counter`) on a free port,
/// registered in the ZooKeeper at `zk` through Dubbo's ZooKeeper registry
/// (interface level, 3 s session), with these extra flags (`--group G`,
/// `--version V`, `--weight W`); returns it and its `127.0.0.1:PORT`.
pub fn dubbo_registered(zk: &str, extra: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(root().join("e2e/.cache/bin/kitegate-dubbo-peer.jar"))
        .args(["provider", "0", "--with-counter", "--no-stdin-watch"])
        .args([
            "--registry",
            &format!("zookeeper://{zk}"),
            "--session",
            "3000",
        ])
        .args(extra);
    let (p, line) = Proc::start("dubbo provider", cmd, Some("READY "));
    (p, format!("127.0.0.1:{}", line["READY ".len()..].trim()))
}

/// Starts the Kitex counter peer named `name` on a free port, registered
/// as `service` in `registry` (`etcd://HOST:PORT` or
/// `zookeeper://HOST:PORT`) with these tags (`k=v,k=v`); returns it and its
/// address. Kitex registers about 1 s after its READY line.
pub fn kitex_registered(name: &str, registry: &str, service: &str, tags: &str) -> (Proc, String) {
    let mut cmd = Command::new(root().join("e2e/.cache/bin/kitex-hello"));
    cmd.args(["-addr", "127.0.0.1:0", "-service", "counter", "-name", name])
        .args([
            "-registry",
            registry,
            "-reg-service",
            service,
            "-reg-tags",
            tags,
        ]);
    let (p, line) = Proc::start(&format!("kitex counter {name}"), cmd, Some("READY "));
    (p, line["READY ".len()..].trim().to_string())
}

/// Starts the CloudWeGo Kitex counter peer (`e2e/.cache/bin/kitex-hello
/// -service counter`, built by `e2e/peers/kitex/build.sh`) named `name` on
/// `port` (0: any); returns it and its `127.0.0.1:PORT`.
pub fn kitex_counter_server(name: &str, port: u16) -> (Proc, String) {
    let mut cmd = Command::new(root().join("e2e/.cache/bin/kitex-hello"));
    cmd.args(["-addr", &format!("127.0.0.1:{port}")])
        .args(["-service", "counter", "-name", name]);
    let (p, line) = Proc::start(&format!("kitex counter {name}"), cmd, Some("READY "));
    (p, line["READY ".len()..].trim().to_string())
}
