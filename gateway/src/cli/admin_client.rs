//! The HTTP client of a running gateway's admin API: the base URL, the bearer
//! token from the environment, and the messages for answers that are not a success.

use std::io::ErrorKind;
use std::time::Duration;

use serde_json::Value;

use super::{AdminArgs, Failure};

pub(super) struct Admin {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Admin {
    pub(super) fn new(args: &AdminArgs) -> Result<Admin, Failure> {
        let base = args.admin.trim().trim_end_matches('/').to_string();
        let Some(rest) = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
        else {
            return Err(Failure::Usage(format!(
                "bad --admin URL `{}`: expected http://HOST:PORT or https://HOST:PORT (set --admin or KITEGATE_ADMIN)",
                args.admin
            )));
        };
        if rest.is_empty() {
            return Err(Failure::Usage(format!(
                "bad --admin URL `{}`: no host (set --admin or KITEGATE_ADMIN)",
                args.admin
            )));
        }
        let token = std::env::var("KITEGATE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(5)))
            .tls_config(tls_config(args)?)
            .build()
            .into();
        Ok(Admin { base, token, agent })
    }

    /// Sends a request; returns the status and the answer as JSON, or a
    /// [`Failure`] for transport problems and non-2xx answers.
    pub(super) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" => with_auth(self.agent.get(&url), &auth).call(),
            "DELETE" => with_auth(self.agent.delete(&url), &auth).call(),
            "PUT" | "POST" => {
                let req = if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                let req = match &auth {
                    Some(a) => req.header("Authorization", a),
                    None => req,
                };
                req.send_json(body.unwrap_or(&Value::Null))
            }
            other => unreachable!("admin method {other}"),
        };
        let mut resp = result.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return value.map(|v| (status, v)).ok_or_else(|| {
                Failure::Failed(format!(
                    "the admin API at {} answered {method} {path} with something that is not JSON: {}",
                    self.base,
                    snippet(&text)
                ))
            });
        }
        Err(Failure::Failed(api_error(
            status,
            value.as_ref(),
            &text,
            self.token.is_some(),
        )))
    }

    fn unreachable(&self, e: ureq::Error) -> Failure {
        let why = match &e {
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused".to_string(),
                ErrorKind::ConnectionReset => "connection reset".to_string(),
                ErrorKind::TimedOut => "timed out".to_string(),
                _ => io.to_string(),
            },
            ureq::Error::Timeout(_) => "timed out".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            other => other.to_string(),
        };
        Failure::Failed(format!(
            "cannot reach the admin API at {}: {why} — is kitegate running? set --admin or KITEGATE_ADMIN",
            self.base
        ))
    }
}

fn with_auth(
    req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    auth: &Option<String>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    match auth {
        Some(a) => req.header("Authorization", a),
        None => req,
    }
}

/// The message for a non-2xx answer: the server's `error.message`, IDL
/// problems one per line, and a hint where one helps.
fn api_error(status: u16, v: Option<&Value>, text: &str, had_token: bool) -> String {
    let err = v.and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the admin API answered {status}: {}", snippet(text)));
    let mut out = message;
    if let Some(details) = err.and_then(|e| e.get("details")).and_then(Value::as_array) {
        for d in details {
            let file = d.get("file").and_then(Value::as_str).unwrap_or("?");
            let line = d.get("line").and_then(Value::as_u64).unwrap_or(0);
            let msg = d.get("message").and_then(Value::as_str).unwrap_or("");
            if !out.contains(&format!("{file}:{line}: {msg}")) {
                out.push_str(&format!("\n  {file}:{line}: {msg}"));
            }
        }
    }
    match status {
        401 if had_token => out.push_str("\n  (the token in KITEGATE_ADMIN_TOKEN was refused)"),
        401 => out.push_str("\n  (set KITEGATE_ADMIN_TOKEN to the gateway's admin token)"),
        _ => {}
    }
    out
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    let mut s: String = t.chars().take(300).collect();
    if s.len() < t.len() {
        s.push('…');
    }
    s
}

/// Percent-encodes a path segment (a backend name).
pub(super) fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The TLS settings of the CLI's connections: the `--admin-ca` bundle as
/// the only roots (no CA of the system is trusted), and the client
/// certificate when one is given.
pub(super) fn tls_config(args: &AdminArgs) -> Result<ureq::tls::TlsConfig, Failure> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", p.display())))
    };
    let certs = |p: &std::path::Path| -> Result<Vec<Certificate<'static>>, Failure> {
        let pem = read(p)?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(Failure::Usage(format!("{}: no certificate", p.display())));
        }
        Ok(certs)
    };
    let roots = match &args.admin_ca {
        Some(ca) => RootCerts::new_with_certs(&certs(ca)?),
        None => RootCerts::Specific(std::sync::Arc::new(Vec::new())),
    };
    let client = match (&args.admin_cert, &args.admin_key) {
        (Some(c), Some(k)) => {
            let key = PrivateKey::from_pem(&read(k)?)
                .map_err(|e| Failure::Usage(format!("{}: {e}", k.display())))?;
            Some(ClientCert::new_with_certs(&certs(c)?, key))
        }
        _ => None,
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .unversioned_rustls_crypto_provider(gateway::edge::tls::provider())
        .build())
}
