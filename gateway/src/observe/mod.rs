//! What the gateway tells about its traffic: Prometheus metrics
//! ([`metrics`]), recorded by the front door ([`exchange`]) and by the call
//! pipeline, and served by the admin listener; the access log and request
//! ids ([`access`]); OpenTelemetry traces ([`trace`]).

pub mod access;
pub mod exchange;
pub mod metrics;
pub mod shards;
pub mod trace;
