//! A backend, whatever its protocol: the settings every protocol shares
//! ([`BackendSpec`]), checked once here, and the part its protocol module
//! built ([`Backend::imp`]), found through the protocol list.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use idl::proto::ProtoSchema;
use idl::{FileSource, IdlErrors, Schema};

use crate::config::BackendConfig;
use crate::pipeline;
use crate::protocol::{self, IdlKind, Protocol, ProtocolBackend};
use crate::transport::EndpointCache;

/// What every backend has, whatever its protocol.
#[derive(Debug)]
pub struct BackendSpec {
    pub name: String,
    /// The settings it was built from.
    pub settings: BackendConfig,
    /// Route prefix, without a trailing `/`.
    pub prefix: String,
    /// Services of the IDL that are exposed.
    pub services: Vec<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Its traffic management: balancing, retries, breakers, limits, and
    /// the endpoints' health.
    pub traffic: pipeline::Traffic,
    /// The authentication its routes ask for, when its settings have some.
    pub auth: Option<Arc<crate::edge::auth::Auth>>,
    /// Its routes' own CORS (`[backends.cors]`).
    pub cors: Option<tower_http::cors::CorsLayer>,
    /// Methods with their own (`methods.NAME.auth`), by the name they are
    /// set under (`echo` or `Service.echo`); `None` opens their routes.
    pub method_auth: std::collections::HashMap<String, Option<Arc<crate::edge::auth::Auth>>>,
}

impl BackendSpec {
    /// The authentication of one method's routes.
    pub fn route_auth(&self, service: &str, method: &str) -> Option<Arc<crate::edge::auth::Auth>> {
        let own = self
            .method_auth
            .get(&format!("{service}.{method}"))
            .or_else(|| self.method_auth.get(method));
        match own {
            Some(a) => a.clone(),
            None => self.auth.clone(),
        }
    }

    /// The TLS client of its connections, when its settings have `tls`;
    /// `alpn` is what its protocol speaks over TLS.
    pub fn tls(
        &self,
        alpn: &[&[u8]],
    ) -> Result<Option<Arc<crate::transport::tls::TlsClient>>, String> {
        (self.settings.tls.as_ref())
            .map(|t| {
                crate::transport::tls::TlsClient::load(t, alpn)
                    .map_err(|e| format!("backend `{}`: {e}", self.name))
            })
            .transpose()
    }

    /// The call policy of one method of the backend's IDL.
    pub fn policy(
        &self,
        service: &str,
        method: &str,
        idl_idempotent: bool,
    ) -> Arc<pipeline::CallPolicy> {
        self.traffic.method(service, method, idl_idempotent)
    }

    /// `Service.method`, as errors name a method.
    pub fn method_name(&self, service: &str, method: &str) -> String {
        format!("{service}.{method}")
    }
}

/// What a backend is built with besides its settings.
pub struct BuildContext<'a> {
    /// Endpoints shared with other backends (kept across rebuilds).
    pub endpoints: &'a EndpointCache,
    /// Defaults for settings a backend leaves out.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// The same backend before its endpoint set changed, whose traffic
    /// state the new one keeps (see [`pipeline::Traffic::after`]).
    pub previous: Option<&'a pipeline::Traffic>,
}

/// A backend's IDL, loaded.
#[derive(Clone)]
pub enum Idl {
    Thrift(Arc<Schema>),
    Proto(Arc<ProtoSchema>),
    /// No IDL (a protocol that allows it: generic calls only).
    None,
}

impl Idl {
    /// Loads `main` of `kind` from disk, with `include_dirs`.
    pub fn load_path(
        kind: IdlKind,
        main: &Path,
        include_dirs: &[std::path::PathBuf],
    ) -> Result<Idl, IdlErrors> {
        Ok(match kind {
            IdlKind::Thrift => Idl::Thrift(Arc::new(idl::thrift::load_path(main, include_dirs)?)),
            IdlKind::Proto => Idl::Proto(Arc::new(idl::proto::load_path(main, include_dirs)?)),
        })
    }

    /// Loads `main` of `kind` from a set of files (an upload).
    pub fn load(kind: IdlKind, main: &str, files: &dyn FileSource) -> Result<Idl, IdlErrors> {
        Ok(match kind {
            IdlKind::Thrift => Idl::Thrift(Arc::new(idl::thrift::load(main, files)?)),
            IdlKind::Proto => Idl::Proto(Arc::new(idl::proto::load(main, files)?)),
        })
    }

    fn kind(&self) -> Option<IdlKind> {
        match self {
            Idl::Thrift(_) => Some(IdlKind::Thrift),
            Idl::Proto(_) => Some(IdlKind::Proto),
            Idl::None => None,
        }
    }

    /// The services the IDL's main file declares.
    fn services(&self) -> Vec<String> {
        match self {
            Idl::Thrift(s) => s.services.iter().map(|s| s.name.clone()).collect(),
            Idl::Proto(p) => p.services.iter().map(|s| s.name.clone()).collect(),
            Idl::None => Vec::new(),
        }
    }

    /// The Thrift schema, or why this backend has none.
    pub fn thrift(self, spec: &BackendSpec) -> Result<Arc<Schema>, String> {
        match self {
            Idl::Thrift(s) => Ok(s),
            _ => Err(format!("backend `{}`: no Thrift IDL", spec.name)),
        }
    }

    /// The protobuf schema, or why this backend has none.
    pub fn proto(self, spec: &BackendSpec) -> Result<Arc<ProtoSchema>, String> {
        match self {
            Idl::Proto(p) => Ok(p),
            _ => Err(format!("backend `{}`: no .proto IDL", spec.name)),
        }
    }

    /// The IDL files read, main first.
    pub fn files(&self) -> Vec<String> {
        match self {
            Idl::Thrift(s) => s.files.clone(),
            Idl::Proto(p) => p.files.clone(),
            Idl::None => Vec::new(),
        }
    }
}

/// One backend: its shared settings, its protocol, and what that built.
pub struct Backend {
    pub spec: Arc<BackendSpec>,
    pub protocol: &'static dyn Protocol,
    pub imp: Arc<dyn ProtocolBackend>,
    /// Its IDL, to build it again over another endpoint set.
    pub idl: Idl,
}

impl std::ops::Deref for Backend {
    type Target = BackendSpec;
    fn deref(&self) -> &BackendSpec {
        &self.spec
    }
}

/// The protocol a backend's settings name, or why there is none.
pub fn protocol_of(settings: &BackendConfig) -> Result<&'static dyn Protocol, String> {
    protocol::find(&settings.protocol).ok_or_else(|| {
        format!(
            "unknown protocol `{}` ({})",
            settings.protocol,
            protocol::names().join(", ")
        )
    })
}

/// Checks the settings every backend shares (cheap, before any IDL is read).
pub fn check_settings(cfg: &BackendConfig) -> Result<&'static dyn Protocol, String> {
    let name = &cfg.name;
    let protocol = protocol_of(cfg).map_err(|e| format!("backend `{name}`: {e}"))?;
    if !protocol.transports().contains(&cfg.transport.as_str()) {
        return Err(format!(
            "backend `{name}`: unknown transport `{}` for {} ({})",
            cfg.transport,
            protocol.name(),
            protocol.transports().join(", ")
        ));
    }
    if !cfg.prefix.is_empty() && !cfg.prefix.starts_with('/') {
        return Err(format!(
            "backend `{name}`: prefix `{}` must start with `/`",
            cfg.prefix
        ));
    }
    if cfg.timeout_ms == Some(0) || cfg.connect_timeout_ms == Some(0) {
        return Err(format!("backend `{name}`: timeouts must be at least 1 ms"));
    }
    if cfg.endpoints.is_empty() && cfg.discovery.is_none() {
        return Err(format!(
            "backend `{name}`: no endpoints (give `endpoints` or `discovery`)"
        ));
    }
    pipeline::settings::check(cfg).map_err(|e| format!("backend `{name}`: {e}"))?;
    Ok(protocol)
}

impl Backend {
    /// A backend of a protocol described by Thrift IDL, with its own
    /// endpoints and these default timeouts (tests, benchmarks).
    pub fn new(
        cfg: &BackendConfig,
        schema: Arc<Schema>,
        timeout_ms: u64,
        connect_timeout_ms: u64,
    ) -> Result<Backend, String> {
        let endpoints = EndpointCache::default();
        let ctx = BuildContext {
            endpoints: &endpoints,
            timeout_ms,
            connect_timeout_ms,
            previous: None,
        };
        Backend::build(cfg, Idl::Thrift(schema), &ctx)
    }

    /// A backend described by `idl`, of the protocol its settings name.
    pub fn build(cfg: &BackendConfig, idl: Idl, ctx: &BuildContext<'_>) -> Result<Backend, String> {
        let name = &cfg.name;
        let protocol = check_settings(cfg)?;
        match idl.kind() {
            Some(kind) if kind != protocol.idl() => {
                return Err(format!(
                    "backend `{name}`: protocol `{}` is described by {} files",
                    protocol.name(),
                    match protocol.idl() {
                        IdlKind::Thrift => ".thrift",
                        IdlKind::Proto => ".proto",
                    }
                ));
            }
            None if !protocol.idl_optional(cfg) => {
                return Err(format!("backend `{name}`: no IDL file"));
            }
            _ => {}
        }
        let declared = idl.services();
        let services = if cfg.services.is_empty() {
            declared
        } else {
            for s in &cfg.services {
                if !declared.contains(s) {
                    return Err(format!("backend `{name}`: the IDL has no service `{s}`"));
                }
            }
            cfg.services.clone()
        };
        if services.is_empty() && !matches!(idl, Idl::None) {
            return Err(format!("backend `{name}`: the IDL declares no service"));
        }
        let timeout = Duration::from_millis(cfg.timeout_ms.unwrap_or(ctx.timeout_ms));
        let connect_timeout =
            Duration::from_millis(cfg.connect_timeout_ms.unwrap_or(ctx.connect_timeout_ms));
        let auth = match &cfg.auth {
            Some(a) => Some(Arc::new(
                crate::edge::auth::Auth::build(a).map_err(|e| format!("backend `{name}`: {e}"))?,
            )),
            None => None,
        };
        let mut method_auth = std::collections::HashMap::new();
        for (m, over) in &cfg.methods {
            use crate::edge::auth::{Auth, MethodAuth};
            let a = match &over.auth {
                None | Some(MethodAuth::On(true)) => continue,
                Some(MethodAuth::On(false)) => None,
                Some(MethodAuth::Own(a)) => Some(Arc::new(
                    Auth::build(a).map_err(|e| format!("backend `{name}`: methods.{m}.{e}"))?,
                )),
            };
            method_auth.insert(m.clone(), a);
        }
        let cors = (cfg.cors.as_ref())
            .map(|c| c.layer().map_err(|e| format!("backend `{name}`: {e}")))
            .transpose()?;
        let spec = Arc::new(BackendSpec {
            auth,
            cors,
            method_auth,
            name: name.clone(),
            settings: cfg.clone(),
            prefix: cfg.prefix.trim_end_matches('/').to_string(),
            services,
            timeout,
            connect_timeout,
            traffic: match ctx.previous {
                Some(p) => pipeline::Traffic::after(cfg, timeout, connect_timeout, p),
                None => pipeline::Traffic::new(cfg, timeout, connect_timeout),
            },
        });
        let imp = protocol.build(protocol::Build {
            spec: &spec,
            idl: idl.clone(),
            ctx,
        })?;
        Ok(Backend {
            spec,
            protocol,
            imp,
            idl,
        })
    }

    /// Loads the backend's IDL from disk (as its settings name it) and builds it.
    pub fn load(
        cfg: &BackendConfig,
        ctx: &BuildContext<'_>,
    ) -> Result<(Backend, Vec<String>), String> {
        let protocol = check_settings(cfg)?;
        let idl = if cfg.idl.as_os_str().is_empty() {
            Idl::None
        } else {
            Idl::load_path(protocol.idl(), &cfg.idl, &cfg.include_dirs)
                .map_err(|e| format!("backend `{}`: {e}", cfg.name))?
        };
        let mut files = vec![cfg.idl.display().to_string()];
        files.extend(idl.files().into_iter().skip(1));
        if matches!(idl, Idl::None) {
            files.clear();
        }
        Ok((Backend::build(cfg, idl, ctx)?, files))
    }
}
