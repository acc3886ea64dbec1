//! The route table: (HTTP method, path) -> method of a backend. Built off to
//! the side from a set of backends and swapped in whole, so a request always
//! sees one consistent table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::Method as HttpVerb;
use idl::HttpMethod;

use crate::backend::{Backend, MethodRoute};

pub struct RouteTable {
    routers: HashMap<HttpVerb, matchit::Router<Arc<MethodRoute>>>,
    /// Every route, for listing: (verb, path as written, backend, Service.method).
    pub listing: Vec<RouteInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteInfo {
    pub http_method: String,
    pub path: String,
    pub backend: String,
    pub service: String,
    pub method: String,
}

pub enum Lookup<'a> {
    Found(&'a Arc<MethodRoute>, matchit::Params<'a, 'a>),
    /// The path exists under other verbs.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

const VERBS: [(HttpVerb, &str); 5] = [
    (HttpVerb::GET, "GET"),
    (HttpVerb::POST, "POST"),
    (HttpVerb::PUT, "PUT"),
    (HttpVerb::DELETE, "DELETE"),
    (HttpVerb::PATCH, "PATCH"),
];

fn verb(m: HttpMethod) -> HttpVerb {
    match m {
        HttpMethod::Get => HttpVerb::GET,
        HttpMethod::Post => HttpVerb::POST,
        HttpMethod::Put => HttpVerb::PUT,
        HttpMethod::Delete => HttpVerb::DELETE,
        HttpMethod::Patch => HttpVerb::PATCH,
    }
}

/// The HTTP routes of one method, prefix included, in Hertz path syntax:
/// its `api.*` annotations, or `POST /{Service}/{method}` without any.
pub fn method_routes(prefix: &str, service: &str, m: &idl::Method) -> Vec<(HttpVerb, String)> {
    let rules: Vec<(HttpVerb, String)> = if m.http.is_empty() {
        vec![(HttpVerb::POST, format!("/{service}/{}", m.name))]
    } else {
        m.http
            .iter()
            .map(|r| (verb(r.method), r.path.clone()))
            .collect()
    };
    let prefix = prefix.trim_end_matches('/');
    rules
        .into_iter()
        .map(|(v, path)| {
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            (v, format!("{prefix}{path}"))
        })
        .collect()
}

/// Hertz path syntax (`/a/:id/*rest`) to matchit's (`/a/{id}/{*rest}`).
pub fn to_matchit(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix(':') {
                format!("{{{name}}}")
            } else if let Some(name) = seg.strip_prefix('*') {
                format!("{{*{}}}", if name.is_empty() { "rest" } else { name })
            } else {
                seg.replace('{', "{{").replace('}', "}}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl RouteTable {
    pub fn empty() -> Self {
        RouteTable {
            routers: HashMap::new(),
            listing: Vec::new(),
        }
    }

    /// Builds the table of every method of every backend; a route claimed
    /// twice is an error naming both owners.
    pub fn build(backends: &[Arc<Backend>]) -> Result<RouteTable, String> {
        let mut t = RouteTable::empty();
        for b in backends {
            for svc_name in &b.services {
                let svc = b
                    .schema
                    .service(svc_name)
                    .expect("service checked at registration");
                for m in &svc.methods {
                    let route = Arc::new(MethodRoute::new(b.clone(), svc_name, m));
                    for (v, full) in method_routes(&b.prefix, &svc.name, m) {
                        let info = RouteInfo {
                            http_method: v.to_string(),
                            path: full.clone(),
                            backend: b.name.clone(),
                            service: svc_name.clone(),
                            method: m.name.clone(),
                        };
                        let router = t.routers.entry(v.clone()).or_default();
                        if let Err(e) = router.insert(to_matchit(&full), route.clone()) {
                            let other = t
                                .listing
                                .iter()
                                .find(|o| {
                                    o.http_method == info.http_method
                                        && to_matchit(&o.path) == to_matchit(&full)
                                })
                                .or_else(|| {
                                    t.listing.iter().find(|o| o.http_method == info.http_method)
                                });
                            let owner = other
                                .map(|o| {
                                    format!(
                                        " (already routed to backend `{}` method {}.{})",
                                        o.backend, o.service, o.method
                                    )
                                })
                                .unwrap_or_default();
                            return Err(format!(
                                "route {v} {full} of backend `{}` method {}.{} conflicts: {e}{owner}",
                                b.name, svc_name, m.name
                            ));
                        }
                        t.listing.push(info);
                    }
                }
            }
        }
        Ok(t)
    }

    pub fn lookup<'a>(&'a self, method: &HttpVerb, path: &'a str) -> Lookup<'a> {
        if let Some(r) = self.routers.get(method)
            && let Ok(m) = r.at(path)
        {
            return Lookup::Found(m.value, m.params);
        }
        let allowed: Vec<&'static str> = VERBS
            .iter()
            .filter(|(v, _)| v != method && self.routers.get(v).is_some_and(|r| r.at(path).is_ok()))
            .map(|(_, name)| *name)
            .collect();
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::WrongMethod(allowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_matchit;

    #[test]
    fn hertz_paths_become_matchit_paths() {
        assert_eq!(to_matchit("/a/:id/b"), "/a/{id}/b");
        assert_eq!(to_matchit("/files/*path"), "/files/{*path}");
        assert_eq!(to_matchit("/x/*"), "/x/{*rest}");
    }
}
