//! What the front door does before a request reaches its route: limits
//! on the request head (`limits.rs`) and CORS (`cors.rs`) for every
//! route, and the authentication of a backend's routes (`auth.rs`).

pub mod auth;
pub mod cors;
pub mod limits;
