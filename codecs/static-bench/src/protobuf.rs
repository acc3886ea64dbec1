//! The static (code-generated) Protobuf path.
//!
//! `build.rs` compiles [`IDL`] with protox (in-process, no `protoc`) and
//! generates the messages with prost-build and their serde impls with
//! pbjson-build, the canonical proto3 JSON mapping (lowerCamelCase keys,
//! 64-bit integers as strings, enums by name, default values omitted; on
//! input also `.proto` names, numbers for 64-bit integers and enums, `null`).
//! That is what a prost service exposing proto3 JSON would use:
//! - JSON -> Protobuf: `serde_json` into the generated message, then
//!   `prost::Message::encode`;
//! - Protobuf -> JSON: `prost::Message::decode`, then `serde_json`
//!   serialization.
//!
//! Maps are `BTreeMap`s on this side, so entries are encoded in key order and
//! the bytes are deterministic.

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/protobuf/bench.rs"));
    include!(concat!(env!("OUT_DIR"), "/protobuf/bench.serde.rs"));
}

pub use generated::{AddRequest, Item, LargeMessage, Level, Owner};

/// The `.proto` both paths are driven by (the dynamic path loads it at run
/// time).
pub const IDL: &str = include_str!("../idl/bench.proto");

/// File name to load [`IDL`] under.
pub const IDL_NAME: &str = "bench.proto";

/// Errors of the static Protobuf path.
#[derive(Debug)]
pub enum Error {
    Json(serde_json::Error),
    Encode(prost::EncodeError),
    Decode(prost::DecodeError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Json(e) => write!(f, "json: {e}"),
            Error::Encode(e) => write!(f, "protobuf encode: {e}"),
            Error::Decode(e) => write!(f, "protobuf decode: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// JSON text -> generated message (serde_json + pbjson) -> Protobuf bytes
/// appended to `out`.
pub fn json_to_protobuf<M>(json: &[u8], out: &mut Vec<u8>) -> Result<(), Error>
where
    M: Message + DeserializeOwned,
{
    let msg: M = serde_json::from_slice(json).map_err(Error::Json)?;
    msg.encode(out).map_err(Error::Encode)
}

/// Protobuf bytes -> generated message -> JSON text appended to `out`.
pub fn protobuf_to_json<M>(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error>
where
    M: Message + Default + Serialize,
{
    let msg = M::decode(bytes).map_err(Error::Decode)?;
    serde_json::to_writer(out, &msg).map_err(Error::Json)
}

/// The `AddRequest` workload, in canonical proto3 JSON (int64 as strings).
pub fn add_request_json() -> Vec<u8> {
    br#"{"first":"512","second":"512"}"#.to_vec()
}

/// The large workload: a [`LargeMessage`] of `n` items (the values of the
/// Thrift workload, `Owner.level` as an enum), as compact canonical proto3
/// JSON: keys in field-number order, map keys sorted, int64 as strings,
/// default values omitted. About 165 bytes of JSON per item.
///
/// Written by hand rather than with the generated `Serialize`, because
/// pbjson collects stringified map values into a `HashMap` (random key
/// order); this text is deterministic and parses to the same value.
pub fn large_json(n: usize) -> Vec<u8> {
    use std::fmt::Write;

    let msg = large_message(n);
    let mut s = String::from(r#"{"items":["#);
    for (k, it) in msg.items.iter().enumerate() {
        s.push_str(if k == 0 { "{" } else { ",{" });
        let mut sep = "";
        let mut key = |s: &mut String, name: &str| {
            write!(s, r#"{sep}"{name}":"#).unwrap();
            sep = ",";
        };
        if it.id != 0 {
            key(&mut s, "id");
            write!(s, r#""{}""#, it.id).unwrap();
        }
        key(&mut s, "name");
        s.push_str(&serde_json::to_string(&it.name).unwrap());
        key(&mut s, "attrs");
        let attrs: Vec<_> = it
            .attrs
            .iter()
            .map(|(k, v)| format!(r#""{k}":"{v}""#))
            .collect();
        write!(s, "{{{}}}", attrs.join(",")).unwrap();
        key(&mut s, "tags");
        s.push_str(&serde_json::to_string(&it.tags).unwrap());
        key(&mut s, "score");
        s.push_str(&serde_json::to_string(&it.score).unwrap());
        if it.active {
            key(&mut s, "active");
            s.push_str("true");
        }
        if let Some(o) = &it.owner {
            key(&mut s, "owner");
            s.push_str(&serde_json::to_string(o).unwrap());
        }
        s.push('}');
    }
    s.push_str("]}");
    s.into_bytes()
}

/// The value behind [`large_json`].
pub fn large_message(n: usize) -> LargeMessage {
    const TAGS: [&str; 5] = ["new", "sale", "eu", "bulk", "gift"];
    let items = (0..n as i64)
        .map(|i| Item {
            id: i,
            name: format!("item-{i}"),
            attrs: [("h", i % 97), ("qty", i * 3), ("w", 250 + i % 13)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            tags: (0..(i % 2 + 1) as usize)
                .map(|t| TAGS[(i as usize + t) % TAGS.len()].to_string())
                .collect(),
            score: i as f64 * 0.25 + 0.125,
            active: i % 2 == 0,
            owner: Some(Owner {
                uid: i % 50,
                login: format!("u{}", i % 50),
                level: (i % 5) as i32,
            }),
        })
        .collect();
    LargeMessage { items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_bytes_match_the_protobuf_spec() {
        let mut out = Vec::new();
        json_to_protobuf::<AddRequest>(&add_request_json(), &mut out).unwrap();
        // Field 1 and 2, wire type 0 (varint), 512 = 0x80 0x04.
        assert_eq!(out, [0x08, 0x80, 0x04, 0x10, 0x80, 0x04]);
        // Numbers and `.proto` names are accepted too.
        let mut alt = Vec::new();
        json_to_protobuf::<AddRequest>(br#"{"first":512,"second":"512"}"#, &mut alt).unwrap();
        assert_eq!(alt, out);
        let mut back = Vec::new();
        protobuf_to_json::<AddRequest>(&out, &mut back).unwrap();
        assert_eq!(back, add_request_json());
    }

    #[test]
    fn json_is_canonical_proto3() {
        let json: serde_json::Value = serde_json::from_slice(&large_json(2)).unwrap();
        let want = serde_json::json!({"items": [
            {
                "name": "item-0",
                "attrs": {"h": "0", "qty": "0", "w": "250"},
                "tags": ["new"],
                "score": 0.125,
                "active": true,
                "owner": {"login": "u0"},
            },
            {
                "id": "1",
                "name": "item-1",
                "attrs": {"h": "1", "qty": "3", "w": "251"},
                "tags": ["sale", "eu"],
                "score": 0.375,
                "owner": {"uid": "1", "login": "u1", "level": "LEVEL_BRONZE"},
            },
        ]});
        assert_eq!(json, want);
    }

    #[test]
    fn large_json_is_the_generated_serialization() {
        let want = serde_json::to_value(large_message(100)).unwrap();
        let got: serde_json::Value = serde_json::from_slice(&large_json(100)).unwrap();
        assert!(got == want, "large_json differs from pbjson's output");
    }

    #[test]
    fn large_round_trips() {
        let json = large_json(1000);
        assert!(
            (80_000..200_000).contains(&json.len()),
            "{} bytes",
            json.len()
        );
        let mut bin = Vec::new();
        json_to_protobuf::<LargeMessage>(&json, &mut bin).unwrap();
        assert!(LargeMessage::decode(&bin[..]).unwrap() == large_message(1000));
        let mut back = Vec::new();
        protobuf_to_json::<LargeMessage>(&bin, &mut back).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&back).unwrap();
        let want: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(back == want, "JSON -> Protobuf -> JSON changed the value");
    }
}
