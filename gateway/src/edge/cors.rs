//! CORS, through tower-http's CORS layer: for every route from the
//! config's `[cors]` section (preflight requests, `OPTIONS` with
//! `Access-Control-Request-Method`, answered before any route is looked
//! up), or for one backend's routes from its `[backends.cors]` (the same
//! keys; a preflight is answered by the route it asks about). The
//! answers of allowed origins carry the `Access-Control-Allow-*` headers.
//! Without either nothing changes.
//!
//! ```toml
//! [cors]
//! allow_origins = ["https://app.example.com"]   # or ["*"]
//! allow_headers = ["content-type", "authorization"]
//! max_age_s = 600
//! ```

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Whether a request is a CORS preflight, and for which method.
pub fn preflight_of(parts: &axum::http::request::Parts) -> Option<Method> {
    if parts.method != Method::OPTIONS {
        return None;
    }
    let m = parts.headers.get("access-control-request-method")?;
    Method::from_bytes(m.as_bytes()).ok()
}

/// `resp` as `layer` answers a request with this head: with its headers
/// for an allowed origin, or the layer's own answer to a preflight.
pub async fn apply(
    layer: &CorsLayer,
    head: &axum::http::request::Parts,
    resp: Response,
) -> Response {
    let mut req = axum::http::Request::new(axum::body::Body::empty());
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = head.uri.clone();
    *req.headers_mut() = head.headers.clone();
    let mut resp = Some(resp);
    let inner = tower::service_fn(move |_req: axum::http::Request<axum::body::Body>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(
            resp.take().unwrap_or_default(),
        ))
    });
    match layer.layer(inner).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The `[cors]` section of the config (or a backend's `[backends.cors]`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed (`scheme://host[:port]`), or `["*"]` for any.
    pub allow_origins: Vec<String>,
    /// Request headers a page may send (default: `content-type`).
    #[serde(default = "default_headers")]
    pub allow_headers: Vec<String>,
    /// Methods allowed (default: GET, POST, PUT, PATCH, DELETE).
    #[serde(default = "default_methods")]
    pub allow_methods: Vec<String>,
    /// Response headers a page may read (default: `x-request-id`).
    #[serde(default = "default_expose")]
    pub expose_headers: Vec<String>,
    /// How long a browser may keep a preflight's answer.
    #[serde(default)]
    pub max_age_s: Option<u64>,
    /// Whether cookies and HTTP authentication may be sent (not with `*`).
    #[serde(default)]
    pub allow_credentials: bool,
}

fn default_headers() -> Vec<String> {
    vec!["content-type".into()]
}

fn default_methods() -> Vec<String> {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .map(String::from)
        .to_vec()
}

fn default_expose() -> Vec<String> {
    vec!["x-request-id".into()]
}

impl CorsConfig {
    /// The layer these settings make; an error names the setting that is wrong.
    pub fn layer(&self) -> Result<CorsLayer, String> {
        if self.allow_origins.is_empty() {
            return Err("cors.allow_origins is empty".into());
        }
        let any = self.allow_origins.iter().any(|o| o == "*");
        if any && self.allow_credentials {
            return Err("cors: allow_credentials cannot go with allow_origins = [\"*\"]".into());
        }
        let origins = if any {
            AllowOrigin::any()
        } else {
            let list = self
                .allow_origins
                .iter()
                .map(|o| {
                    let o = o.trim_end_matches('/');
                    if !(o.starts_with("http://") || o.starts_with("https://"))
                        || o.matches('/').count() != 2
                    {
                        return Err(format!(
                            "cors.allow_origins: `{o}` is not scheme://host[:port]"
                        ));
                    }
                    HeaderValue::from_str(o).map_err(|e| format!("cors.allow_origins: `{o}`: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            AllowOrigin::list(list)
        };
        let names = |what: &str, list: &[String]| {
            list.iter()
                .map(|h| {
                    HeaderName::from_bytes(h.trim().as_bytes())
                        .map_err(|e| format!("cors.{what}: `{h}`: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let methods = self
            .allow_methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                    .map_err(|e| format!("cors.allow_methods: `{m}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut layer = CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(methods)
            .allow_headers(names("allow_headers", &self.allow_headers)?)
            .expose_headers(names("expose_headers", &self.expose_headers)?)
            .allow_credentials(self.allow_credentials);
        if let Some(s) = self.max_age_s {
            layer = layer.max_age(Duration::from_secs(s));
        }
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_headers: default_headers(),
            allow_methods: default_methods(),
            expose_headers: default_expose(),
            max_age_s: Some(600),
            allow_credentials: false,
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            cfg(&["https://app.example.com", "http://localhost:3000"])
                .layer()
                .is_ok()
        );
        assert!(cfg(&["*"]).layer().is_ok());
        assert!(cfg(&[]).layer().is_err());
        assert!(
            cfg(&["app.example.com"])
                .layer()
                .unwrap_err()
                .contains("scheme://host")
        );
        assert!(cfg(&["https://app.example.com/path"]).layer().is_err());
        let mut c = cfg(&["*"]);
        c.allow_credentials = true;
        assert!(c.layer().is_err());
        let mut c = cfg(&["https://a.example"]);
        c.allow_headers = vec!["bad header".into()];
        assert!(c.layer().unwrap_err().contains("allow_headers"));
    }
}
