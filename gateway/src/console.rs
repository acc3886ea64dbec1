//! The browser console at `/admin/ui` on the admin listener: a page with
//! no dependencies (`gateway/ui/`), embedded in the binary. Its files
//! hold no data and are served without the token (a page cannot send a
//! bearer header when it is opened); everything it shows comes from the
//! admin API, which it calls with the token the person enters once (kept
//! in the tab's session storage), under the same Host rules as any other
//! admin request.
//!
//! Its try-it calls go through `/admin/try/{path}`: the request is handed
//! to the front door's routes in this process, so the page needs no CORS
//! from the front door and no second origin; a WebSocket try-it connects
//! to the front door itself (browsers do not apply CORS to WebSocket).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower::ServiceExt as _;

use crate::Gateway;

const HTML: &str = "text/html; charset=utf-8";

/// The console's files: path, body, content type.
const ASSETS: [(&str, &str, &str); 4] = [
    ("/admin/ui", include_str!("../ui/index.html"), HTML),
    ("/admin/ui/", include_str!("../ui/index.html"), HTML),
    (
        "/admin/ui/app.js",
        include_str!("../ui/app.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/admin/ui/app.css",
        include_str!("../ui/app.css"),
        "text/css; charset=utf-8",
    ),
];

/// The console's routes, merged into the admin API's router.
pub fn routes() -> Router<Gateway> {
    let mut r = Router::new();
    for (path, body, content_type) in ASSETS {
        r = r.route(path, get(move || async move { asset(body, content_type) }));
    }
    r.route("/admin/try/{*path}", any(try_it))
}

/// Whether a request is for one of the console's files (served without the token).
pub fn is_asset(req: &Request) -> bool {
    req.method() == axum::http::Method::GET && ASSETS.iter().any(|(p, ..)| *p == req.uri().path())
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data:; style-src 'self'; script-src 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A try-it request: the same method, headers and body on the front
/// door's path (what follows `/admin/try`), answered as the front door
/// answers it (streams stream).
async fn try_it(State(gw): State<Gateway>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let rest = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("")
        .strip_prefix("/admin/try")
        .unwrap_or("/")
        .to_string();
    let Ok(uri) = rest.parse() else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    parts.uri = uri;
    // The admin token is the console's, not the backend's.
    parts.headers.remove(header::AUTHORIZATION);
    let req = Request::from_parts(parts, body);
    match crate::app(gw).oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}
