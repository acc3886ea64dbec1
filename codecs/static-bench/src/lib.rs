//! The static (code-generated) Thrift path that kitegate's dynamic codecs are
//! benchmarked against (`cargo bench -p codecs`); the Protobuf one is in
//! [`protobuf`].
//!
//! `build.rs` runs pilota-build over [`IDL`] (with its serde plugin), so the
//! types below are exactly what a volo-thrift service would use:
//! - JSON -> Thrift: `serde_json` into the generated struct, then pilota's
//!   `Message::encode` with [`TBinaryProtocol`];
//! - Thrift -> JSON: pilota's `Message::decode` (zero-copy strings from
//!   [`Bytes`]), then `serde_json` serialization.
//!
//! The module also builds the benchmark inputs deterministically, so the
//! bench and the tests share them.

use pilota::FastStr;
use pilota::thrift::ThriftException;
use pilota::thrift::binary::TBinaryProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod protobuf;

// pilota-generated `decode` fills pre-sized `Vec`s through raw pointers, so
// this crate denies `unsafe_code` instead of forbidding it (Cargo.toml) and
// allows it for the generated module only.
#[allow(unsafe_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/bench.rs"));
}

pub use generated::bench::bench::{AddRequest, Item, LargeMessage, Owner};
pub use pilota::thrift::Message;
pub use pilota::{Bytes, BytesMut};

/// The IDL both paths are driven by (the dynamic path loads it at run time).
pub const IDL: &str = include_str!("../idl/bench.thrift");

/// File name to load [`IDL`] under.
pub const IDL_NAME: &str = "bench.thrift";

/// Errors of the static path.
#[derive(Debug)]
pub enum Error {
    Json(serde_json::Error),
    Thrift(ThriftException),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Json(e) => write!(f, "json: {e}"),
            Error::Thrift(e) => write!(f, "thrift: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// JSON text -> generated type (serde_json) -> Thrift binary appended to `out`.
pub fn json_to_thrift<M>(json: &[u8], out: &mut BytesMut) -> Result<(), Error>
where
    M: Message + DeserializeOwned,
{
    let msg: M = serde_json::from_slice(json).map_err(Error::Json)?;
    msg.encode(&mut TBinaryProtocol::new(out, false))
        .map_err(Error::Thrift)
}

/// Thrift binary -> generated type (zero-copy strings) -> JSON text appended
/// to `out`.
pub fn thrift_to_json<M>(bytes: &Bytes, out: &mut Vec<u8>) -> Result<(), Error>
where
    M: Message + Serialize,
{
    let mut input = bytes.clone();
    let msg = M::decode(&mut TBinaryProtocol::new(&mut input, true)).map_err(Error::Thrift)?;
    serde_json::to_writer(out, &msg).map_err(Error::Json)
}

/// The `AddRequest` workload.
pub fn add_request_json() -> Vec<u8> {
    br#"{"first":512,"second":512}"#.to_vec()
}

/// The large workload: a [`LargeMessage`] of `n` items, as compact JSON with
/// keys in field-id order and map keys sorted (so the dynamic path, which
/// writes in JSON order, produces the same bytes as pilota). About 140 bytes
/// of JSON per item.
pub fn large_json(n: usize) -> Vec<u8> {
    serde_json::to_vec(&large_message(n)).expect("serializable")
}

/// The value behind [`large_json`].
pub fn large_message(n: usize) -> LargeMessage {
    const TAGS: [&str; 5] = ["new", "sale", "eu", "bulk", "gift"];
    let items = (0..n as i64)
        .map(|i| Item {
            id: Some(i),
            name: Some(FastStr::new(format!("item-{i}"))),
            attrs: Some(
                [("h", i % 97), ("qty", i * 3), ("w", 250 + i % 13)]
                    .into_iter()
                    .map(|(k, v)| (FastStr::from_static_str(k), v))
                    .collect(),
            ),
            tags: Some(
                (0..(i % 2 + 1) as usize)
                    .map(|t| FastStr::from_static_str(TAGS[(i as usize + t) % TAGS.len()]))
                    .collect(),
            ),
            score: Some(i as f64 * 0.25 + 0.125),
            active: Some(i % 2 == 0),
            owner: Some(Owner {
                uid: Some(i % 50),
                login: Some(FastStr::new(format!("u{}", i % 50))),
                level: Some((i % 5) as i32),
            }),
        })
        .collect();
    LargeMessage { items: Some(items) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_bytes_match_the_thrift_spec() {
        let mut out = BytesMut::new();
        json_to_thrift::<AddRequest>(&add_request_json(), &mut out).unwrap();
        let mut want = vec![10, 0, 1];
        want.extend_from_slice(&512i64.to_be_bytes());
        want.extend_from_slice(&[10, 0, 2]);
        want.extend_from_slice(&512i64.to_be_bytes());
        want.push(0);
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn large_round_trips() {
        let json = large_json(1000);
        assert!(
            (80_000..160_000).contains(&json.len()),
            "{} bytes",
            json.len()
        );
        let mut bin = BytesMut::new();
        json_to_thrift::<LargeMessage>(&json, &mut bin).unwrap();
        let mut back = Vec::new();
        thrift_to_json::<LargeMessage>(&bin.freeze(), &mut back).unwrap();
        assert_eq!(back, json);
    }
}
