//! The request path, one for every protocol: look the route up in the
//! current table and hand the request to it; the route reads the body
//! within its limit, calls its backend and answers.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use crate::Gateway;
use crate::error::{ApiError, Failure};
use crate::protocol::HttpRequest;
use crate::routes::Lookup;

pub async fn dispatch(State(gw): State<Gateway>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let table = gw.inner.table.load_full();
    let path = parts.uri.path();
    let (route, params) = match table.lookup(&parts.method, path) {
        Lookup::Found(route, params) => (route, params),
        Lookup::WrongMethod(allowed) => {
            let allow = allowed.join(", ");
            return ApiError::from(Failure::MethodNotAllowed {
                message: format!(
                    "{} is not allowed on {path}; allowed: {allow}",
                    parts.method
                ),
                allow,
            })
            .into_response();
        }
        Lookup::NotFound => {
            return ApiError::from(Failure::NotFound(format!("no route for {path}")))
                .into_response();
        }
    };
    let req = HttpRequest {
        parts,
        body,
        params,
        body_limit: gw.inner.body_limit,
    };
    match route.call(req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
