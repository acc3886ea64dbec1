//! What the front door does before a request reaches its route: the
//! connection loop with its limits and timeouts (`serve.rs`), TLS
//! (`tls.rs`), limits on each request (`limits.rs`) and CORS (`cors.rs`)
//! for every route, and the authentication of a backend's routes
//! (`auth.rs`).

pub mod auth;
pub mod cors;
pub mod limits;
pub mod serve;
pub mod tls;
