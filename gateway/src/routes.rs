//! The route table: (HTTP method, path) -> method of a backend. Built off to
//! the side from a set of backends and swapped in whole, so a request always
//! sees one consistent table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::Method as HttpVerb;
use idl::HttpMethod;

use idl::proto::{PathTemplate, ProtoHttpRule, ProtoMethod, ProtoSchema, ProtoService};

use crate::backend::{Backend, MethodRoute};
use crate::protobuf::PbRoute;

pub struct RouteTable {
    routers: HashMap<HttpVerb, matchit::Router<Arc<MethodRoute>>>,
    /// Protobuf routes (`google.api.http` templates), tried in order after the routers.
    templated: Vec<(HttpVerb, PathTemplate, Arc<PbRoute>)>,
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
    /// A protobuf route with its path variables (field path, value).
    Pb(&'a Arc<PbRoute>, Vec<(String, String)>),
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

/// One HTTP route of a protobuf method.
pub struct ProtoRoute {
    pub verb: HttpVerb,
    /// The path template, prefix included.
    pub path: String,
    /// The `google.api.http` binding it comes from; `None` for the default route.
    pub rule: Option<ProtoHttpRule>,
}

/// A protobuf method a backend exposes, and the routes it is served on.
pub struct ProtoMethodRoutes<'a> {
    pub service: &'a ProtoService,
    pub method: &'a ProtoMethod,
    /// Empty when the backend cannot serve the method.
    pub routes: Vec<ProtoRoute>,
}

/// Every method of the exposed services of a protobuf backend with the
/// routes the table serves for it, prefix included: its `google.api.http`
/// bindings, or `POST /{package.Service}/{Method}` without any. The route
/// table and the admin API's backend summary both list routes from here, so
/// what the summary shows is what is served.
pub fn proto_routes<'a>(b: &Backend, proto: &'a ProtoSchema) -> Vec<ProtoMethodRoutes<'a>> {
    let mut out = Vec::new();
    for svc in proto
        .services
        .iter()
        .filter(|s| b.services.contains(&s.name))
    {
        for m in &svc.methods {
            // Kitex Protobuf has no streaming; gRPC streams every way.
            let served = b.grpc.is_some() || (!m.client_streaming && !m.server_streaming);
            let routes = if !served {
                Vec::new()
            } else if m.http.is_empty() {
                vec![ProtoRoute {
                    verb: HttpVerb::POST,
                    path: format!("{}/{}/{}", b.prefix, svc.full_name, m.name),
                    rule: None,
                }]
            } else {
                m.http
                    .iter()
                    .map(|r| ProtoRoute {
                        verb: HttpVerb::from_bytes(r.method.as_bytes()).unwrap_or(HttpVerb::POST),
                        path: format!("{}{}", b.prefix, r.template.as_str()),
                        rule: Some(r.clone()),
                    })
                    .collect()
            };
            out.push(ProtoMethodRoutes {
                service: svc,
                method: m,
                routes,
            });
        }
    }
    out
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
            templated: Vec::new(),
            listing: Vec::new(),
        }
    }

    /// Builds the table of every method of every backend; a route claimed
    /// twice is an error naming both owners.
    pub fn build(backends: &[Arc<Backend>]) -> Result<RouteTable, String> {
        let mut t = RouteTable::empty();
        for b in backends {
            if let Some(proto) = &b.proto {
                t.add_proto(b, proto)?;
                continue;
            }
            if let Some(interface) = MethodRoute::dubbo_interface(b) {
                let full = format!("{}/$invoke", b.prefix.trim_end_matches('/'));
                t.insert(
                    HttpVerb::POST,
                    &full,
                    Arc::new(MethodRoute::generic(b.clone(), &interface)),
                    RouteInfo {
                        http_method: "POST".into(),
                        path: full.clone(),
                        backend: b.name.clone(),
                        service: interface.clone(),
                        method: "$invoke".into(),
                    },
                )?;
            }
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
                        t.insert(v, &full, route.clone(), info)?;
                    }
                }
            }
        }
        Ok(t)
    }

    /// Adds one route; a path already taken is an error naming its owner.
    fn insert(
        &mut self,
        v: HttpVerb,
        full: &str,
        route: Arc<MethodRoute>,
        info: RouteInfo,
    ) -> Result<(), String> {
        let router = self.routers.entry(v.clone()).or_default();
        if let Err(e) = router.insert(to_matchit(full), route) {
            let other = self
                .listing
                .iter()
                .find(|o| {
                    o.http_method == info.http_method && to_matchit(&o.path) == to_matchit(full)
                })
                .or_else(|| {
                    self.listing
                        .iter()
                        .find(|o| o.http_method == info.http_method)
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
                info.backend, info.service, info.method
            ));
        }
        self.listing.push(info);
        Ok(())
    }

    fn add_proto(&mut self, b: &Arc<Backend>, proto: &ProtoSchema) -> Result<(), String> {
        for ProtoMethodRoutes {
            service: svc,
            method: m,
            routes,
        } in proto_routes(b, proto)
        {
            for ProtoRoute {
                verb: v,
                path: full,
                rule,
            } in routes
            {
                let parsed = PathTemplate::parse(&full)
                    .map_err(|e| format!("backend `{}`: route {full}: {e}", b.name))?;
                if let Some(o) = self
                    .listing
                    .iter()
                    .find(|o| o.http_method == v.as_str() && o.path == full)
                {
                    return Err(format!(
                        "route {v} {full} of backend `{}` method {}.{} conflicts (already routed to backend `{}` method {}.{})",
                        b.name, svc.name, m.name, o.backend, o.service, o.method
                    ));
                }
                let route = Arc::new(PbRoute::new(b.clone(), &svc.name, m, rule));
                self.templated.push((v.clone(), parsed, route));
                self.listing.push(RouteInfo {
                    http_method: v.to_string(),
                    path: full,
                    backend: b.name.clone(),
                    service: svc.name.clone(),
                    method: m.name.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn lookup<'a>(&'a self, method: &HttpVerb, path: &'a str) -> Lookup<'a> {
        if let Some(r) = self.routers.get(method)
            && let Ok(m) = r.at(path)
        {
            return Lookup::Found(m.value, m.params);
        }
        // Templates with a custom verb first, so `/v1/{id}:cancel` wins over `/v1/{id}`.
        let mut fallback = None;
        for (v, t, route) in &self.templated {
            if v != method {
                continue;
            }
            if let Some(vars) = t.matches(path) {
                if t.verb().is_some() {
                    return Lookup::Pb(route, vars);
                }
                fallback.get_or_insert((route, vars));
            }
        }
        if let Some((route, vars)) = fallback {
            return Lookup::Pb(route, vars);
        }
        let allowed: Vec<&'static str> = VERBS
            .iter()
            .filter(|(v, _)| {
                v != method
                    && (self.routers.get(v).is_some_and(|r| r.at(path).is_ok())
                        || self
                            .templated
                            .iter()
                            .any(|(tv, t, _)| tv == v && t.matches(path).is_some()))
            })
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
