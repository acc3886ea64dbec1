//! OpenAPI 3.1 documents generated from the IDLs and routes.
//! (Placeholder until the generator lands: an empty document.)

use std::sync::Arc;

use serde_json::{Value, json};

use crate::backend::Backend;

pub fn document(_backends: &[Arc<Backend>], server_url: Option<&str>) -> Value {
    let mut doc = json!({"openapi": "3.1.0", "info": {"title": "kitegate", "version": env!("CARGO_PKG_VERSION")}, "paths": {}});
    if let Some(url) = server_url {
        doc["servers"] = json!([{ "url": url }]);
    }
    doc
}
