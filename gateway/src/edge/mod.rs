//! What the front door does before a request reaches its route: CORS
//! (`cors.rs`).

pub mod cors;
