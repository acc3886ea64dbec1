//! The route table: (HTTP method, path) -> a route of a backend. Built off
//! to the side from the routes every backend's protocol module gives, and
//! swapped in whole, so a request always sees one consistent table. Hertz
//! paths go into one radix tree per verb; `google.api.http` templates are
//! tried in order after them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::Method as HttpVerb;
use idl::HttpMethod;
use idl::proto::PathTemplate;

use crate::backend::Backend;
use crate::observe::metrics::RouteMetrics;
use crate::protocol::{Route, RoutePath};

pub struct RouteTable {
    routers: HashMap<HttpVerb, matchit::Router<Routed>>,
    /// Template routes, tried in order after the routers.
    templated: Vec<(HttpVerb, PathTemplate, Routed)>,
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

/// A route's handler and its series in the metrics.
#[derive(Clone)]
pub struct Routed {
    pub handler: Arc<dyn Route>,
    pub metrics: &'static RouteMetrics,
    /// The credentials the route's backend asks for.
    pub auth: Option<Arc<crate::edge::auth::Auth>>,
    /// The backend's own CORS (`[backends.cors]`).
    pub cors: Option<tower_http::cors::CorsLayer>,
}

pub enum Lookup<'a> {
    /// A route with its path variables (name, value).
    Found(&'a Routed, Vec<(String, String)>),
    /// The path exists under other verbs.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

const VERBS: [(HttpVerb, &str); 7] = [
    (HttpVerb::GET, "GET"),
    (HttpVerb::POST, "POST"),
    (HttpVerb::PUT, "PUT"),
    (HttpVerb::DELETE, "DELETE"),
    (HttpVerb::PATCH, "PATCH"),
    (HttpVerb::HEAD, "HEAD"),
    (HttpVerb::OPTIONS, "OPTIONS"),
];

/// The HTTP methods an annotation's route answers (`api.any`: every one
/// of [`VERBS`]).
pub fn verbs(m: HttpMethod) -> Vec<HttpVerb> {
    match m {
        HttpMethod::Get => vec![HttpVerb::GET],
        HttpMethod::Post => vec![HttpVerb::POST],
        HttpMethod::Put => vec![HttpVerb::PUT],
        HttpMethod::Delete => vec![HttpVerb::DELETE],
        HttpMethod::Patch => vec![HttpVerb::PATCH],
        HttpMethod::Head => vec![HttpVerb::HEAD],
        HttpMethod::Options => vec![HttpVerb::OPTIONS],
        HttpMethod::Any => VERBS.iter().map(|(v, _)| v.clone()).collect(),
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
            .flat_map(|r| verbs(r.method).into_iter().map(|v| (v, r.path.clone())))
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
            templated: Vec::new(),
            listing: Vec::new(),
        }
    }

    /// Builds the table of every route of every backend; a route claimed
    /// twice is an error naming both owners.
    pub fn build(backends: &[Arc<Backend>]) -> Result<RouteTable, String> {
        let mut t = RouteTable::empty();
        for b in backends {
            for r in b.imp.clone().routes()? {
                let info = RouteInfo {
                    http_method: r.verb.to_string(),
                    path: r.path.as_str().to_string(),
                    backend: b.name.clone(),
                    service: r.service,
                    method: r.method,
                };
                let routed = Routed {
                    auth: b.spec.route_auth(&info.service, &info.method),
                    cors: b.spec.cors.clone(),
                    handler: r.handler,
                    metrics: RouteMetrics::of(
                        &info.backend,
                        &format!("{}.{}", info.service, info.method),
                        &info.path,
                    ),
                };
                t.insert(r.verb, r.path, routed, info)?;
            }
        }
        Ok(t)
    }

    /// Adds one route; a path already taken is an error naming its owner.
    fn insert(
        &mut self,
        v: HttpVerb,
        path: RoutePath,
        route: Routed,
        info: RouteInfo,
    ) -> Result<(), String> {
        let conflict = |e: String, other: Option<&RouteInfo>| {
            let owner = other
                .map(|o| {
                    format!(
                        " (already routed to backend `{}` method {}.{})",
                        o.backend, o.service, o.method
                    )
                })
                .unwrap_or_default();
            format!(
                "route {v} {} of backend `{}` method {}.{} conflicts{e}{owner}",
                info.path, info.backend, info.service, info.method
            )
        };
        match path {
            RoutePath::Hertz(full) => {
                let router = self.routers.entry(v.clone()).or_default();
                if let Err(e) = router.insert(to_matchit(&full), route) {
                    let other = self
                        .listing
                        .iter()
                        .find(|o| {
                            o.http_method == info.http_method
                                && to_matchit(&o.path) == to_matchit(&full)
                        })
                        .or_else(|| {
                            self.listing
                                .iter()
                                .find(|o| o.http_method == info.http_method)
                        });
                    return Err(conflict(format!(": {e}"), other));
                }
            }
            RoutePath::Template(template) => {
                if let Some(o) = self
                    .listing
                    .iter()
                    .find(|o| o.http_method == info.http_method && o.path == info.path)
                {
                    return Err(conflict(String::new(), Some(o)));
                }
                self.templated.push((v, template, route));
            }
        }
        self.listing.push(info);
        Ok(())
    }

    pub fn lookup(&self, method: &HttpVerb, path: &str) -> Lookup<'_> {
        if let Some(r) = self.routers.get(method)
            && let Ok(m) = r.at(path)
        {
            let params = m
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            return Lookup::Found(m.value, params);
        }
        // Templates with a custom verb first, so `/v1/{id}:cancel` wins over `/v1/{id}`.
        let mut fallback = None;
        for (v, t, route) in &self.templated {
            if v != method {
                continue;
            }
            if let Some(vars) = t.matches(path) {
                if t.verb().is_some() {
                    return Lookup::Found(route, vars);
                }
                fallback.get_or_insert((route, vars));
            }
        }
        if let Some((route, vars)) = fallback {
            return Lookup::Found(route, vars);
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
    use super::*;
    use crate::backend::{BuildContext, Idl};
    use crate::config::BackendConfig;
    use crate::transport::EndpointCache;

    #[test]
    fn hertz_paths_become_matchit_paths() {
        assert_eq!(to_matchit("/a/:id/b"), "/a/{id}/b");
        assert_eq!(to_matchit("/files/*path"), "/files/{*path}");
        assert_eq!(to_matchit("/x/*"), "/x/{*rest}");
    }

    fn backend(name: &str, protocol: &str, prefix: &str, idl: Idl) -> Arc<Backend> {
        let cfg = BackendConfig {
            name: name.into(),
            protocol: protocol.into(),
            transport: "framed".into(),
            // Never dialled: building a backend does not connect.
            endpoints: vec!["127.0.0.1:9".into()],
            idl: "x".into(),
            prefix: prefix.into(),
            ..Default::default()
        };
        let endpoints = EndpointCache::default();
        let ctx = BuildContext {
            endpoints: &endpoints,
            timeout_ms: 1000,
            connect_timeout_ms: 1000,
            previous: None,
        };
        Arc::new(Backend::build(&cfg, idl, &ctx).unwrap())
    }

    fn thrift(name: &str, prefix: &str) -> Arc<Backend> {
        backend(
            name,
            "thrift",
            prefix,
            Idl::Thrift(examples::hello_schema()),
        )
    }

    fn listing(t: &RouteTable) -> Vec<String> {
        t.listing
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}.{}.{}",
                    r.http_method, r.path, r.backend, r.service, r.method
                )
            })
            .collect()
    }

    fn found(t: &RouteTable, verb: HttpVerb, path: &str) -> Option<Vec<(String, String)>> {
        match t.lookup(&verb, path) {
            Lookup::Found(_, params) => Some(params),
            _ => None,
        }
    }

    #[test]
    fn every_protocol_contributes_its_routes() {
        let proto = Idl::Proto(examples::hello_proto());
        let t = RouteTable::build(&[
            thrift("hello", ""),
            backend("pb", "kitex-protobuf", "/pb", proto.clone()),
            backend("g", "grpc", "/g", proto),
            backend("d", "dubbo", "/d", Idl::Thrift(examples::hello_schema())),
        ])
        .unwrap();
        let l = listing(&t);
        for want in [
            "GET /hello hello.Hello.echo",
            "POST /echo hello.Hello.echo",
            "POST /add hello.Hello.add",
            "POST /items hello.Hello.echoItems",
            "GET /pb/hello pb.Hello.Echo",
            "POST /pb/add pb.Hello.Add",
            "GET /g/count g.Hello.Count",
            "POST /d/$invoke d.kitegate.hello.HelloService.$invoke",
            "POST /d/add d.Hello.add",
        ] {
            assert!(l.iter().any(|r| r == want), "{want} missing from {l:#?}");
        }
        // Kitex Protobuf serves no streaming method.
        assert!(!l.iter().any(|r| r.contains("/pb/count")), "{l:#?}");
        assert!(found(&t, HttpVerb::POST, "/pb/add").is_some());
        assert!(found(&t, HttpVerb::GET, "/g/count").is_some());
    }

    #[test]
    fn a_route_claimed_twice_names_both_owners() {
        let e = RouteTable::build(&[thrift("one", "/x"), thrift("two", "/x")])
            .err()
            .expect("conflict");
        assert!(e.contains("`two`") && e.contains("`one`"), "{e}");
        let proto = Idl::Proto(examples::hello_proto());
        let e = RouteTable::build(&[
            backend("g1", "grpc", "", proto.clone()),
            backend("g2", "grpc", "", proto),
        ])
        .err()
        .expect("template conflict");
        assert!(e.contains("`g2`") && e.contains("`g1`"), "{e}");
    }

    #[test]
    fn lookups_wrong_methods_and_parameters() {
        let t = RouteTable::build(&[thrift("hello", "/h")]).unwrap();
        assert_eq!(found(&t, HttpVerb::GET, "/h/hello"), Some(Vec::new()));
        match t.lookup(&HttpVerb::DELETE, "/h/hello") {
            Lookup::WrongMethod(allowed) => assert_eq!(allowed, ["GET"]),
            _ => panic!("DELETE /h/hello should be a wrong method"),
        }
        assert!(matches!(
            t.lookup(&HttpVerb::GET, "/nowhere"),
            Lookup::NotFound
        ));
    }
}
