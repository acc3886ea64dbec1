//! Differential tests: the one-pass transcoders (`encode.rs`, `decode.rs`)
//! against the reference path (prost-reflect's `DynamicMessage`), over the
//! e2e rich `.proto` (every field kind), the bench `.proto` and a `.proto`
//! of corner cases (map key kinds, packing, oneofs of messages, aliases,
//! sparse numbers, well-known types), with random messages from a
//! hand-written PRNG:
//! - bytes (canonical, merged, shuffled/unpacked/split, mutated, random)
//!   -> both decoders -> the same JSON, or both fail;
//! - JSON (the reference's output under every option, then mutated)
//!   -> both encoders -> bytes that decode to the same message, or the same
//!   error (path and message).

use crate::test_rng::Rng;
use std::collections::HashMap;

use idl::MemoryFiles;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value,
};
use serde_json::Value as Json;

use super::encode::{Encoded, encode};
use super::json::{
    PbDecodeOptions, PbEncodeOptions, reference_json_to_message, reference_message_to_json,
    serialize_options,
};
use super::plan::{MAX_POOLS, Plans, cached_pools, with_plans};
use super::{json_to_message, message_to_json};
use crate::CodecError;

// ------------------------------------------------------------------ schemas

const CORNERS: &str = r#"
syntax = "proto3";
package corner;

import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Alias {
  option allow_alias = true;
  ALIAS_ZERO = 0;
  ONE = 1;
  UNO = 1;
  TWO = 2;
  MINUS = -3;
}

message Node {
  Node child = 1;
  int32 v = 2;
  repeated Node kids = 3;
  map<string, Node> named = 4;
  string s = 5;
}

message Keys {
  map<int32, string> k_int32 = 1;
  map<int64, string> k_int64 = 2;
  map<uint32, string> k_uint32 = 3;
  map<uint64, string> k_uint64 = 4;
  map<sint32, string> k_sint32 = 5;
  map<sint64, string> k_sint64 = 6;
  map<fixed32, string> k_fixed32 = 7;
  map<fixed64, string> k_fixed64 = 8;
  map<sfixed32, string> k_sfixed32 = 9;
  map<sfixed64, string> k_sfixed64 = 10;
  map<bool, bytes> k_bool = 11;
  map<string, double> v_double = 12;
  map<string, float> v_float = 13;
  map<string, Alias> v_enum = 14;
  map<string, google.protobuf.Value> v_value = 15;
  map<string, bytes> v_bytes = 16;
  map<string, Node> v_node = 17;
}

message Packing {
  repeated int32 packed_int32 = 1;
  repeated int32 plain_int32 = 2 [packed = false];
  repeated sint64 s64 = 3;
  repeated fixed32 f32s = 4;
  repeated double doubles = 5 [packed = false];
  repeated float floats = 6;
  repeated bool bools = 7;
  repeated Alias enums = 8;
  repeated sfixed64 sf64 = 9;
  repeated uint64 u64s = 10 [packed = false];
  repeated sint32 s32 = 11;
  repeated fixed64 f64s = 12;
  repeated sfixed32 sf32 = 13;
  repeated uint32 u32s = 14;
  repeated int64 i64s = 15;
}

message Choice {
  oneof pick {
    Node node = 1;
    Keys keys = 2;
    string text = 3;
    int64 big = 4;
    Alias alias = 5;
    bytes raw = 6;
    google.protobuf.Timestamp at = 7;
  }
  oneof other {
    float f = 8;
    Node other_node = 9;
  }
  optional Node maybe = 10;
  optional double maybe_d = 11;
  optional Alias maybe_e = 12;
  optional string maybe_s = 13;
}

message Wide {
  int32 a1 = 1;
  int32 a2 = 2;
  int64 a3 = 3;
  uint32 a4 = 4;
  bool a5 = 5;
  string a6 = 6;
  bytes a7 = 7;
  double a8 = 8;
  float a9 = 9;
  Alias a10 = 10;
  sint32 a11 = 11;
  fixed64 a12 = 12;
  sfixed32 a13 = 13;
  uint64 a14 = 14;
  string renamed = 15 [json_name = "customName"];
  int32 far = 100000;
  google.protobuf.Struct st = 17;
  google.protobuf.ListValue lv = 18;
  repeated google.protobuf.Value vals = 19;
  google.protobuf.Int32Value w32 = 20;
  google.protobuf.UInt64Value wu64 = 21;
  google.protobuf.FloatValue wf = 22;
  google.protobuf.DoubleValue wd = 23;
  google.protobuf.BytesValue wb = 24;
  google.protobuf.Duration dur = 25;
  google.protobuf.FieldMask mask = 26;
  google.protobuf.Empty empty = 27;
  google.protobuf.Any any = 28;
  repeated google.protobuf.Timestamp stamps = 29;
  map<string, google.protobuf.Duration> durs = 30;
  google.protobuf.Value val = 31;
  Choice choice = 32;
  Packing packing = 33;
}
"#;

const LEGACY: &str = r#"
syntax = "proto2";
package legacy;

message Old {
  optional int32 a = 1 [default = 7];
  optional group G = 2 {
    optional int32 x = 3;
  }
  required string r = 4;
  extensions 100 to 200;
}

extend Old {
  optional int32 ext = 100;
}

message Plain {
  enum Color {
    RED = 1;
    BLUE = 2;
  }
  optional int32 a = 1 [default = 5];
  optional string s = 2 [default = "x"];
  repeated int32 r = 3;
  optional Color c = 4;
  repeated Color cs = 5;
  optional Plain child = 6;
  map<string, Color> m = 7;
}
"#;

fn load(main: &str, files: &[(&str, &str)]) -> DescriptorPool {
    idl::proto::load(main, &MemoryFiles::new(files.iter().copied()))
        .unwrap_or_else(|e| panic!("{main}: {e:?}"))
        .pool
}

fn rich() -> DescriptorPool {
    load(
        "rich.proto",
        &[
            ("rich.proto", include_str!("../../../e2e/idl/rich.proto")),
            (
                "rich_common.proto",
                include_str!("../../../e2e/idl/rich_common.proto"),
            ),
        ],
    )
}

fn bench() -> DescriptorPool {
    load(
        static_bench::protobuf::IDL_NAME,
        &[(
            static_bench::protobuf::IDL_NAME,
            static_bench::protobuf::IDL,
        )],
    )
}

fn corners() -> DescriptorPool {
    load("corner.proto", &[("corner.proto", CORNERS)])
}

fn legacy() -> DescriptorPool {
    load("legacy.proto", &[("legacy.proto", LEGACY)])
}

/// The messages of `package` (map entries aside).
fn roots(pool: &DescriptorPool, package: &str) -> Vec<MessageDescriptor> {
    pool.all_messages()
        .filter(|m| m.package_name() == package && !m.is_map_entry())
        .collect()
}

// --------------------------------------------------------------------- PRNG

// ---------------------------------------------------------- random messages

struct Gen {
    rng: Rng,
    /// At most this many map entries (1 keeps JSON text deterministic).
    max_entries: u64,
    max_depth: usize,
}

impl Gen {
    fn i64(&mut self) -> i64 {
        match self.rng.below(6) {
            0 => 0,
            1 => *self
                .rng
                .pick(&[1, -1, i64::MIN, i64::MAX, 1 << 53, -(1 << 53) - 1]),
            2 => self.rng.below(200) as i64 - 100,
            _ => self.rng.next() as i64,
        }
    }
    fn i32(&mut self) -> i32 {
        match self.rng.below(5) {
            0 => 0,
            1 => *self.rng.pick(&[1, -1, i32::MIN, i32::MAX]),
            2 => self.rng.below(200) as i32 - 100,
            _ => self.rng.next() as i32,
        }
    }
    fn f64(&mut self) -> f64 {
        match self.rng.below(8) {
            0 => 0.0,
            1 => *self.rng.pick(&[
                -0.0,
                1.5,
                -2.25,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX,
                f64::MIN_POSITIVE,
                1e20,
                1e-7,
                5e-324,
            ]),
            2 => (self.rng.below(2000) as f64 - 1000.0) / 8.0,
            _ => f64::from_bits(self.rng.next()),
        }
    }
    fn f32(&mut self) -> f32 {
        match self.rng.below(6) {
            0 => 0.0,
            1 => *self
                .rng
                .pick(&[-0.0, 0.1, f32::NAN, f32::INFINITY, f32::MAX, -1e-40]),
            _ => f32::from_bits(self.rng.next() as u32),
        }
    }
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "b", "_", "x y", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", "é",
            "ü", "😀", "\u{2028}", "0", "-", "item",
        ];
        let n = self.rng.below(6);
        (0..n).map(|_| *self.rng.pick(PIECES)).collect()
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.rng.below(7);
        (0..n).map(|_| self.rng.next() as u8).collect()
    }

    fn scalar(&mut self, kind: &Kind, depth: usize) -> Value {
        match kind {
            Kind::Double => Value::F64(self.f64()),
            Kind::Float => Value::F32(self.f32()),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(self.i32()),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(self.i64()),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(self.i32() as u32),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(self.i64() as u64),
            Kind::Bool => Value::Bool(self.rng.percent(50)),
            Kind::String => Value::String(self.string()),
            Kind::Bytes => Value::Bytes(self.bytes().into()),
            Kind::Enum(e) => {
                if self.rng.percent(85) {
                    let values: Vec<i32> = e.values().map(|v| v.number()).collect();
                    Value::EnumNumber(*self.rng.pick(&values))
                } else {
                    Value::EnumNumber(self.i32())
                }
            }
            Kind::Message(m) => Value::Message(self.message(m, depth + 1)),
        }
    }

    fn map_key(&mut self, kind: &Kind) -> MapKey {
        // A small key space, so that merged bytes repeat keys.
        let small = self.rng.below(4) as i64 - 1;
        match kind {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(if self.rng.percent(70) {
                small as i32
            } else {
                self.i32()
            }),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(if self.rng.percent(70) {
                small
            } else {
                self.i64()
            }),
            Kind::Uint32 | Kind::Fixed32 => MapKey::U32(if self.rng.percent(70) {
                small as u32
            } else {
                self.i32() as u32
            }),
            Kind::Uint64 | Kind::Fixed64 => MapKey::U64(if self.rng.percent(70) {
                small as u64
            } else {
                self.i64() as u64
            }),
            Kind::Bool => MapKey::Bool(self.rng.percent(50)),
            Kind::String => MapKey::String(if self.rng.percent(70) {
                ["", "k", "é\"", "0"][(small + 1) as usize].to_string()
            } else {
                self.string()
            }),
            _ => unreachable!("map key kind"),
        }
    }

    fn field_value(&mut self, f: &FieldDescriptor, depth: usize) -> Value {
        let kind = f.kind();
        if f.is_map() {
            let entry = kind.as_message().unwrap().clone();
            let (k, v) = (
                entry.map_entry_key_field().kind(),
                entry.map_entry_value_field().kind(),
            );
            let n = self.rng.below(self.max_entries + 1);
            let mut map = HashMap::new();
            for _ in 0..n {
                let key = self.map_key(&k);
                let value = self.scalar(&v, depth);
                map.insert(key, value);
            }
            Value::Map(map)
        } else if f.is_list() {
            let n = self.rng.below(5);
            Value::List((0..n).map(|_| self.scalar(&kind, depth)).collect())
        } else {
            self.scalar(&kind, depth)
        }
    }

    fn message(&mut self, desc: &MessageDescriptor, depth: usize) -> DynamicMessage {
        let mut msg = DynamicMessage::new(desc.clone());
        if let Some(wkt) = self.well_known(desc, depth) {
            return wkt;
        }
        for f in desc.fields() {
            let nested = matches!(f.kind(), Kind::Message(_));
            if nested && depth >= self.max_depth {
                continue;
            }
            if self.rng.percent(if nested { 35 } else { 55 }) {
                let v = self.field_value(&f, depth);
                msg.set_field(&f, v);
            }
        }
        msg
    }

    /// Well-known types with values their JSON form can show.
    fn well_known(&mut self, desc: &MessageDescriptor, depth: usize) -> Option<DynamicMessage> {
        let mut msg = DynamicMessage::new(desc.clone());
        let set = |msg: &mut DynamicMessage, name: &str, v: Value| {
            msg.set_field_by_name(name, v);
        };
        match desc.full_name() {
            "google.protobuf.Timestamp" => {
                let s = self.rng.below(253_402_300_799 + 62_135_596_800) as i64 - 62_135_596_800;
                set(&mut msg, "seconds", Value::I64(s));
                set(
                    &mut msg,
                    "nanos",
                    Value::I32(*self.rng.pick(&[0, 1, 500_000_000, 999_999_999, 1000])),
                );
            }
            "google.protobuf.Duration" => {
                let s = self.rng.below(2000) as i64 - 1000;
                let n = self.rng.below(1_000_000_000) as i32;
                set(&mut msg, "seconds", Value::I64(s));
                set(&mut msg, "nanos", Value::I32(if s < 0 { -n } else { n }));
            }
            "google.protobuf.FieldMask" => {
                let n = self.rng.below(3);
                let paths = (0..n)
                    .map(|_| Value::String(self.rng.pick(&["a", "foo_bar", "x.y_z"]).to_string()))
                    .collect();
                set(&mut msg, "paths", Value::List(paths));
            }
            "google.protobuf.Value" => {
                let kind = if depth >= self.max_depth {
                    self.rng.below(4)
                } else {
                    self.rng.below(6)
                };
                match kind {
                    0 => set(&mut msg, "null_value", Value::EnumNumber(0)),
                    1 => {
                        let v = (self.rng.below(2000) as f64 - 1000.0) / 4.0;
                        set(&mut msg, "number_value", Value::F64(v))
                    }
                    2 => set(&mut msg, "string_value", Value::String(self.string())),
                    3 => set(&mut msg, "bool_value", Value::Bool(self.rng.percent(50))),
                    4 => {
                        let f = desc.get_field_by_name("struct_value").unwrap();
                        let m = self.message(f.kind().as_message().unwrap(), depth + 1);
                        msg.set_field(&f, Value::Message(m));
                    }
                    _ => {
                        let f = desc.get_field_by_name("list_value").unwrap();
                        let m = self.message(f.kind().as_message().unwrap(), depth + 1);
                        msg.set_field(&f, Value::Message(m));
                    }
                }
            }
            "google.protobuf.Struct" => {
                let f = desc.get_field_by_name("fields").unwrap();
                let vdesc = f
                    .kind()
                    .as_message()
                    .unwrap()
                    .map_entry_value_field()
                    .kind()
                    .as_message()
                    .unwrap()
                    .clone();
                let n = self.rng.below(3);
                let mut map = HashMap::new();
                for _ in 0..n {
                    let v = self.message(&vdesc, depth + 1);
                    map.insert(MapKey::String(self.string()), Value::Message(v));
                }
                msg.set_field(&f, Value::Map(map));
            }
            "google.protobuf.ListValue" => {
                let f = desc.get_field_by_name("values").unwrap();
                let vdesc = f.kind().as_message().unwrap().clone();
                let n = self.rng.below(3);
                let items = (0..n)
                    .map(|_| Value::Message(self.message(&vdesc, depth + 1)))
                    .collect();
                msg.set_field(&f, Value::List(items));
            }
            "google.protobuf.Any" => {
                let node = desc.parent_pool().get_message_by_name("corner.Node")?;
                let inner = self.message(&node, self.max_depth);
                set(
                    &mut msg,
                    "type_url",
                    Value::String("type.googleapis.com/corner.Node".into()),
                );
                set(
                    &mut msg,
                    "value",
                    Value::Bytes(inner.encode_to_vec().into()),
                );
            }
            "google.protobuf.Empty" => {}
            name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
                let f = desc.get_field_by_name("value").unwrap();
                let v = self.scalar(&f.kind(), depth);
                msg.set_field(&f, v);
            }
            _ => return None,
        }
        Some(msg)
    }
}

// ---------------------------------------------------------- byte variants

/// The message's fields as separate chunks, shuffled, repeated scalars
/// unpacked, packed or split at random, messages split in two halves.
fn scramble(rng: &mut Rng, msg: &DynamicMessage) -> Vec<u8> {
    let desc = msg.descriptor();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for (f, v) in msg.fields() {
        let single = |v: Value| {
            let mut m = DynamicMessage::new(desc.clone());
            m.set_field(&f, v);
            m.encode_to_vec()
        };
        match v {
            Value::List(items) if !items.is_empty() && is_packable(&f.kind()) => {
                match rng.below(3) {
                    0 => {
                        for item in items {
                            let mut b = Vec::new();
                            encode_unpacked(&f, item, &mut b);
                            chunks.push(b);
                        }
                    }
                    1 => {
                        let mut b = Vec::new();
                        encode_packed(&f, items, &mut b);
                        chunks.push(b);
                    }
                    _ => {
                        let cut = rng.below(items.len() as u64 + 1) as usize;
                        chunks.push(single(Value::List(items[..cut].to_vec())));
                        chunks.push(single(Value::List(items[cut..].to_vec())));
                    }
                }
            }
            Value::List(items) if items.len() > 1 => {
                let cut = rng.below(items.len() as u64) as usize;
                chunks.push(single(Value::List(items[..cut].to_vec())));
                chunks.push(single(Value::List(items[cut..].to_vec())));
            }
            Value::Message(m) if f.containing_oneof().is_none() && rng.percent(50) => {
                let (mut a, mut b) = (
                    DynamicMessage::new(m.descriptor()),
                    DynamicMessage::new(m.descriptor()),
                );
                for (g, w) in m.fields() {
                    if rng.percent(50) {
                        a.set_field(&g, w.clone());
                    } else {
                        b.set_field(&g, w.clone());
                    }
                }
                chunks.push(single(Value::Message(a)));
                chunks.push(single(Value::Message(b)));
            }
            v => chunks.push(single(v.clone())),
        }
    }
    for i in (1..chunks.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        chunks.swap(i, j);
    }
    chunks.concat()
}

fn is_packable(k: &Kind) -> bool {
    !matches!(k, Kind::String | Kind::Bytes | Kind::Message(_))
}

fn encode_unpacked(f: &FieldDescriptor, v: &Value, b: &mut Vec<u8>) {
    use prost::encoding as e;
    let n = f.number();
    match (f.kind(), v) {
        (Kind::Int32, Value::I32(x)) => e::int32::encode(n, x, b),
        (Kind::Sint32, Value::I32(x)) => e::sint32::encode(n, x, b),
        (Kind::Sfixed32, Value::I32(x)) => e::sfixed32::encode(n, x, b),
        (Kind::Int64, Value::I64(x)) => e::int64::encode(n, x, b),
        (Kind::Sint64, Value::I64(x)) => e::sint64::encode(n, x, b),
        (Kind::Sfixed64, Value::I64(x)) => e::sfixed64::encode(n, x, b),
        (Kind::Uint32, Value::U32(x)) => e::uint32::encode(n, x, b),
        (Kind::Fixed32, Value::U32(x)) => e::fixed32::encode(n, x, b),
        (Kind::Uint64, Value::U64(x)) => e::uint64::encode(n, x, b),
        (Kind::Fixed64, Value::U64(x)) => e::fixed64::encode(n, x, b),
        (Kind::Float, Value::F32(x)) => e::float::encode(n, x, b),
        (Kind::Double, Value::F64(x)) => e::double::encode(n, x, b),
        (Kind::Bool, Value::Bool(x)) => e::bool::encode(n, x, b),
        (Kind::Enum(_), Value::EnumNumber(x)) => e::int32::encode(n, x, b),
        (k, v) => panic!("{k:?} {v:?}"),
    }
}

fn encode_packed(f: &FieldDescriptor, items: &[Value], b: &mut Vec<u8>) {
    let mut body = Vec::new();
    for v in items {
        let mut one = Vec::new();
        encode_unpacked(f, v, &mut one);
        // Drop the key: the field numbers here take one or two bytes.
        let key_len = prost::encoding::key_len(f.number());
        body.extend_from_slice(&one[key_len..]);
    }
    prost::encoding::encode_key(f.number(), prost::encoding::WireType::LengthDelimited, b);
    prost::encoding::encode_varint(body.len() as u64, b);
    b.extend_from_slice(&body);
}

/// A damaged copy: bits flipped, bytes cut, inserted or duplicated.
fn mutate_bytes(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let n = rng.below(b.len() as u64) as usize;
                b.truncate(n);
            }
            2 => {
                let i = rng.below(b.len() as u64 + 1) as usize;
                b.insert(i, rng.next() as u8);
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                let j = (i + 1 + rng.below(8) as usize).min(b.len());
                let dup = b[i..j].to_vec();
                b.splice(i..i, dup);
            }
            _ => {
                let i = rng.below(b.len() as u64 + 1) as usize;
                b.insert(i, *rng.pick(&[0x00, 0x80, 0xff, 0x0b, 0x0c, 0x07, 0x02]));
            }
        }
    }
    b
}

// ----------------------------------------------------------------- checks

fn all_decode_options() -> Vec<PbDecodeOptions> {
    (0..16)
        .map(|i| PbDecodeOptions {
            emit_defaults: i & 1 != 0,
            proto_field_names: i & 2 != 0,
            int64_as_number: i & 4 != 0,
            enum_as_number: i & 8 != 0,
        })
        .collect()
}

/// Both decoders: the same JSON value, or both errors.
fn same_decode(desc: &MessageDescriptor, bytes: &[u8], opts: &PbDecodeOptions, exact: bool) {
    let mut fast = b"[".to_vec();
    let a = message_to_json(desc, bytes, opts, &mut fast);
    let mut slow = b"[".to_vec();
    let b = reference_message_to_json(desc, bytes, opts, &mut slow);
    match (a, b) {
        (Ok(()), Ok(())) if exact => assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow),
            "{} {opts:?}",
            desc.full_name()
        ),
        (Ok(()), Ok(())) => {
            let (fj, sj): (Json, Json) = (
                serde_json::from_slice(&fast[1..]).expect("fast JSON parses"),
                serde_json::from_slice(&slow[1..]).expect("reference JSON parses"),
            );
            assert_eq!(
                fj,
                sj,
                "{} {opts:?} {bytes:02x?}\nfast: {}\nslow: {}",
                desc.full_name(),
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow)
            );
        }
        (Err(CodecError::Wire { protocol, .. }), Err(_)) => {
            assert_eq!(protocol, "protobuf");
            assert_eq!(fast, b"[", "output kept on error");
        }
        (a, b) => panic!(
            "{} {opts:?} {bytes:02x?}: fast {a:?} ({}), reference {b:?} ({})",
            desc.full_name(),
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow)
        ),
    }
}

/// Every combination of the encoder's options. prost-reflect alone is the
/// reference when both say the same (its `deny_unknown_fields` covers field
/// names and enum names); otherwise its reference path also deals with enum
/// names itself.
fn encode_options() -> impl Iterator<Item = PbEncodeOptions> {
    [(false, false), (true, true), (true, false), (false, true)]
        .into_iter()
        .map(|(fields, enums)| PbEncodeOptions {
            ignore_unknown_fields: fields,
            ignore_unknown_enum_values: enums,
            ..Default::default()
        })
}

/// The one-pass encoder alone: `None` when it asks for the reference path.
fn fast_encode(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &PbEncodeOptions,
) -> Result<Option<Vec<u8>>, CodecError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Vec::new()));
    }
    with_plans(desc, |plans| {
        assert!(
            plans.fast,
            "{} is served by the fast path",
            desc.full_name()
        );
        let mut out = b"xy".to_vec();
        match encode(plans, json, opts, &mut out).map_err(|e| *e)? {
            Encoded::Done => Ok(Some(out[2..].to_vec())),
            Encoded::Fallback => {
                assert_eq!(out, b"xy");
                Ok(None)
            }
        }
    })
}

/// Canonical JSON of protobuf bytes, for comparing messages (NaN included).
fn canonical(desc: &MessageDescriptor, bytes: &[u8]) -> Json {
    let mut out = Vec::new();
    reference_message_to_json(desc, bytes, &PbDecodeOptions::default(), &mut out)
        .expect("encoder output decodes");
    serde_json::from_slice(&out).unwrap()
}

/// Both encoders: bytes of the same message, or the same error. Returns
/// whether the fast path did the work (not a fallback).
fn same_encode(desc: &MessageDescriptor, json: &[u8], opts: &PbEncodeOptions) -> bool {
    let text = String::from_utf8_lossy(json);
    if let Ok(v) = serde_json::from_slice::<Json>(json)
        && null_for_repeated_value(desc, &v)
    {
        // prost-reflect sets a repeated `google.protobuf.Value` field given
        // `null` to a single message (a debug assertion fails, and release
        // builds encode one `null` element); the one-pass encoder leaves
        // the field empty, as for any other repeated field.
        let fast = fast_encode(desc, json, opts);
        assert!(!matches!(fast, Err(CodecError::Wire { .. })));
        return true;
    }
    let fast = fast_encode(desc, json, opts);
    let mut slow = Vec::new();
    let reference = reference_json_to_message(desc, json, opts, &mut slow);
    // What callers get.
    let mut public = Vec::new();
    let via_public = json_to_message(desc, json, opts, &mut public);
    match (&fast, &reference) {
        (Ok(Some(bytes)), Ok(())) => {
            assert_eq!(
                canonical(desc, bytes),
                canonical(desc, &slow),
                "{} {opts:?} {text}",
                desc.full_name()
            );
            assert!(via_public.is_ok());
            assert_eq!(canonical(desc, &public), canonical(desc, &slow));
            true
        }
        (Ok(None), _) => {
            assert_eq!(
                via_public.is_ok(),
                reference.is_ok(),
                "{} {text}",
                desc.full_name()
            );
            false
        }
        (
            Err(CodecError::Input {
                path: p1,
                message: m1,
            }),
            Err(CodecError::Input {
                path: p2,
                message: m2,
            }),
        ) => {
            // With the options apart, the reference path checks enum names
            // in a pass of its own: of several faults, the two paths may
            // name different ones.
            if opts.ignore_unknown_fields == opts.ignore_unknown_enum_values {
                assert_eq!((p1, m1), (p2, m2), "{} {opts:?} {text}", desc.full_name());
            }
            true
        }
        (a, b) => panic!(
            "{} {opts:?} {text}: fast {a:?}, reference {b:?}",
            desc.full_name()
        ),
    }
}

/// Whether `v` gives `null` to a repeated or map field of
/// `google.protobuf.Value` somewhere (see `same_encode`).
fn null_for_repeated_value(desc: &MessageDescriptor, v: &Json) -> bool {
    let Json::Object(map) = v else {
        return false;
    };
    for (k, v) in map {
        let Some(f) = desc
            .get_field_by_json_name(k)
            .or_else(|| desc.get_field_by_name(k))
        else {
            continue;
        };
        let Kind::Message(m) = f.kind() else {
            continue;
        };
        if f.is_map() {
            let vk = m.map_entry_value_field().kind();
            if let (Some(vm), Json::Object(entries)) = (vk.as_message(), v) {
                if vm.full_name() == "google.protobuf.Value" {
                    continue;
                }
                if entries.values().any(|e| null_for_repeated_value(vm, e)) {
                    return true;
                }
            }
            continue;
        }
        if m.full_name() == "google.protobuf.Value" {
            if f.is_list() && v.is_null() {
                return true;
            }
            continue;
        }
        let nested = match v {
            Json::Array(items) if f.is_list() => {
                items.iter().any(|e| null_for_repeated_value(&m, e))
            }
            v => null_for_repeated_value(&m, v),
        };
        if nested {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------- JSON mutation

fn random_json(rng: &mut Rng) -> Json {
    use serde_json::json;
    match rng.below(22) {
        0 => Json::Null,
        1 => json!(true),
        2 => json!(1.5),
        3 => json!("x"),
        4 => json!([]),
        5 => json!({}),
        6 => json!("NaN"),
        7 => json!(u64::MAX),
        8 => json!(-1),
        9 => json!("-0"),
        10 => json!(1e300),
        11 => json!([1, "2", null]),
        12 => json!({"zz": 1}),
        13 => json!("AQID"),
        14 => json!("_-8"),
        15 => json!(4294967296u64),
        16 => json!("12x"),
        17 => json!(2147483648u64),
        18 => json!("2024-01-02T03:04:05Z"),
        19 => json!("1.5s"),
        20 => json!({"": ""}),
        _ => json!(0),
    }
}

/// Changes one value somewhere in `v` (or adds a key).
fn mutate_json(rng: &mut Rng, v: &mut Json) {
    match v {
        Json::Object(map) if !map.is_empty() && rng.percent(75) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            if rng.percent(15) {
                let new = random_json(rng);
                map.insert(
                    rng.pick(&["zzz", "", "fInt32", "f_int32", "choiceText"])
                        .to_string(),
                    new,
                );
            } else {
                mutate_json(rng, map.get_mut(&k).unwrap());
            }
        }
        Json::Array(items) if !items.is_empty() && rng.percent(75) => {
            let i = rng.below(items.len() as u64) as usize;
            mutate_json(rng, &mut items[i]);
        }
        Json::String(s) if rng.percent(30) => s.push('Q'),
        _ => *v = random_json(rng),
    }
}

/// Text-level damage: a key given twice, a cut, trailing bytes.
fn mutate_text(rng: &mut Rng, text: &str) -> String {
    match rng.below(3) {
        0 => match text.find("\":") {
            Some(i) => {
                let start = text[..i].rfind('"').unwrap_or(0);
                let key = &text[start..i + 1];
                format!("{{{key}:null,{}", &text[1..])
            }
            None => text.to_string(),
        },
        1 => {
            let mut cut = rng.below(text.len() as u64 + 1) as usize;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        _ => format!("{text} x"),
    }
}

// -------------------------------------------------------------------- tests

/// How many times the random tests run, each with other seeds
/// (`PB_DIFF_ROUNDS=50 cargo test -p codecs differential` for a long run).
fn rounds() -> u64 {
    std::env::var("PB_DIFF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn every_root() -> Vec<(MessageDescriptor, bool)> {
    let mut v: Vec<(MessageDescriptor, bool)> = Vec::new();
    for (pool, package) in [
        (rich(), "rich.v1"),
        (rich(), "rich.common.v1"),
        (bench(), "bench"),
        (corners(), "corner"),
    ] {
        for m in roots(&pool, package) {
            v.push((m, true));
        }
    }
    for m in roots(&legacy(), "legacy") {
        let fast = m.name() != "Old";
        v.push((m, fast));
    }
    v
}

#[test]
fn plans_cover_what_they_should() {
    for (m, fast) in every_root() {
        with_plans(&m, |p: &Plans| {
            assert_eq!(p.fast, fast, "{}", m.full_name());
        });
    }
    // A well-known type as the root: the reference path.
    let pool = corners();
    let ts = pool
        .get_message_by_name("google.protobuf.Timestamp")
        .unwrap();
    with_plans(&ts, |p| assert!(!p.fast));
}

#[test]
fn random_bytes_decode_alike() {
    let opts = all_decode_options();
    for round in 0..rounds() {
        let mut rng = Rng(0x5eed_0001 + round);
        for (desc, _) in every_root() {
            let mut g = Gen {
                rng: Rng(rng.next()),
                max_entries: 3,
                max_depth: 3,
            };
            for i in 0..60 {
                let m1 = g.message(&desc, 0);
                let canonical_bytes = m1.encode_to_vec();
                let o = &opts[i % opts.len()];
                same_decode(&desc, &canonical_bytes, o, false);
                // Merged with a second message: last-one-wins, merging,
                // oneof switches, repeated map keys.
                let m2 = g.message(&desc, 0);
                let merged = [canonical_bytes.clone(), m2.encode_to_vec()].concat();
                same_decode(&desc, &merged, o, false);
                // Fields shuffled, unpacked, split.
                let scrambled = scramble(&mut g.rng, &m1);
                same_decode(&desc, &scrambled, o, false);
                // Damaged and random bytes: never a panic, the same verdict.
                for _ in 0..3 {
                    let bad = mutate_bytes(&mut g.rng, &merged);
                    same_decode(&desc, &bad, o, false);
                }
                let n = g.rng.below(24) as usize;
                let noise: Vec<u8> = (0..n).map(|_| g.rng.next() as u8).collect();
                same_decode(&desc, &noise, o, false);
            }
        }
    }
}

#[test]
fn decoded_text_is_byte_equal() {
    // With at most one entry per map, prost-reflect's output is
    // deterministic: the one-pass decoder writes the very same text.
    let opts = all_decode_options();
    for round in 0..rounds() {
        for (desc, _) in every_root() {
            let mut g = Gen {
                rng: Rng((0xb17e ^ desc.full_name().len() as u64) + (round << 32)),
                max_entries: 1,
                max_depth: 3,
            };
            for i in 0..40 {
                let m = g.message(&desc, 0);
                same_decode(&desc, &m.encode_to_vec(), &opts[i % opts.len()], true);
            }
        }
    }
}

#[test]
fn random_json_encodes_alike() {
    let dec_opts = all_decode_options();
    let (mut fast, mut total) = (0, 0);
    for round in 0..rounds() {
        let mut rng = Rng(0x5eed_0002 + round);
        for (desc, is_fast) in every_root() {
            if !is_fast {
                continue;
            }
            let mut g = Gen {
                rng: Rng(rng.next()),
                max_entries: 3,
                max_depth: 3,
            };
            for i in 0..50 {
                let m = g.message(&desc, 0);
                let mut json = Vec::new();
                let o = &dec_opts[i % dec_opts.len()];
                if reference_message_to_json(&desc, &m.encode_to_vec(), o, &mut json).is_err() {
                    continue;
                }
                for opts in encode_options() {
                    total += 1;
                    fast += usize::from(same_encode(&desc, &json, &opts));
                    // Mutated values, unknown keys, wrong types.
                    let mut v: Json = serde_json::from_slice(&json).unwrap();
                    for _ in 0..3 {
                        mutate_json(&mut g.rng, &mut v);
                        let text = serde_json::to_vec(&v).unwrap();
                        total += 1;
                        fast += usize::from(same_encode(&desc, &text, &opts));
                    }
                    let text = mutate_text(&mut g.rng, std::str::from_utf8(&json).unwrap());
                    total += 1;
                    fast += usize::from(same_encode(&desc, text.as_bytes(), &opts));
                }
            }
        }
    }
    // Fallbacks are for JSON naming a field twice only.
    assert!(fast * 10 > total * 9, "{fast} of {total} on the fast path");
}

#[test]
fn json_errors_match_the_reference() {
    let pool = rich();
    let all = pool.get_message_by_name("rich.v1.AllKinds").unwrap();
    let cases = [
        r#"{"fInt32":"x"}"#,
        r#"{"fInt32":1.5}"#,
        r#"{"f_int32":true}"#,
        r#"{"fInt32":4294967296}"#,
        r#"{"fInt32":2147483648}"#,
        r#"{"fUint32":-1}"#,
        r#"{"fInt64":"12x"}"#,
        r#"{"fInt64":1e300}"#,
        r#"{"fUint64":-1.0}"#,
        r#"{"fFloat":1e300}"#,
        r#"{"fFloat":"1e300"}"#,
        r#"{"fDouble":"inf"}"#,
        r#"{"fDouble":null,"fFloat":"-Infinity"}"#,
        r#"{"fBool":"yes"}"#,
        r#"{"fBool":1}"#,
        r#"{"fString":5}"#,
        r#"{"fString":null}"#,
        r#"{"fBytes":"!!!"}"#,
        r#"{"fBytes":"-_8"}"#,
        r#"{"fBytes":"AQ-_"}"#,
        r#"{"fBytes":"AQ=="}"#,
        r#"{"fBytes":"AQ"}"#,
        r#"{"fBytes":5}"#,
        r#"{"color":true}"#,
        r#"{"color":1.5}"#,
        r#"{"color":"COLOR_PURPLE"}"#,
        r#"{"color":4294967296}"#,
        r#"{"inner":[1]}"#,
        r#"{"inner":{"weight":"heavy"}}"#,
        r#"{"inner":{"notes":"a"}}"#,
        r#"{"inner":{"notes":[null]}}"#,
        r#"{"rInt32":[1,"x"]}"#,
        r#"{"rInt32":[1,2 x]}"#,
        r#"{"rColor":["COLOR_RED","NOPE"]}"#,
        r#"{"rColor":[null]}"#,
        r#"{"rInner":[{},null]}"#,
        r#"{"byId":{"x":{}}}"#,
        r#"{"byId":{"1":null}}"#,
        r#"{"byFlag":{"yes":"a"}}"#,
        r#"{"byFlag":{"true":"a","false":"b","true":"c"}}"#,
        r#"{"counts":{"a":"b"}}"#,
        r#"{"counts":{"a":null}}"#,
        r#"{"colors":{"a":"NOPE","b":"COLOR_RED"}}"#,
        r#"{"ts":"yesterday"}"#,
        r#"{"ts":null,"dur":"5 minutes"}"#,
        r#"{"st":[1]}"#,
        r#"{"st":{"a":{"b":[1,{"c":null}]}}}"#,
        r#"{"val":null,"lv":[1,"a",null,{"x":[]}]}"#,
        r#"{"wBool":"no"}"#,
        r#"{"wInt64":"5","wString":null,"wBool":true}"#,
        r#"{"mask":"a.b,fooBar"}"#,
        r#"{"mask":5}"#,
        r#"{"empty":{}}"#,
        r#"{"empty":{"a":1}}"#,
        r#"{"rTs":["2024-01-01T00:00:00Z","x"]}"#,
        r#"{"nested":{"deepers":[{},{"n":"x"}]}}"#,
        r#"{"price":{"units":1.5}}"#,
        r#"{"prices":{"usd":{"units":"7","nanos":5}}}"#,
        r#"{"prices":{"usd":{"units":"x"}}}"#,
        r#"{"choiceText":"a","choiceNumber":1}"#,
        r#"{"choiceText":null,"choiceNumber":1}"#,
        r#"{"choiceInner":{},"choiceColor":"COLOR_PURPLE"}"#,
        r#"{"choiceNumber":"x","choiceText":"a"}"#,
        r#"{"optInt32":0,"optString":"","optBool":false,"optColor":0}"#,
        r#"{"fInt32":1"#,
        r#"{"fInt32":"#,
        r#"{"fInt32":1,"#,
        r#"[1]"#,
        r#"null"#,
        r#"5"#,
        r#"{"fInt32":1} x"#,
        r#"{} {}"#,
        r#"{"noSuchField":1}"#,
        r#"{"noSuchField":{"deep":[1,{}]},"fInt32":2}"#,
        r#"{"f_int32":1,"fInt32":2}"#,
        r#"{"inner":{"label":"a"},"inner":{"weight":2}}"#,
        r#"{"rInt32":[1],"rInt32":[2]}"#,
        r#"{"fString":"\u00e9\n\"","fBytes":"","fDouble":-0.0,"fFloat":0}"#,
    ];
    for opts in encode_options() {
        for json in cases {
            same_encode(&all, json.as_bytes(), &opts);
        }
    }
}

#[test]
fn json_nesting_is_bounded_alike() {
    let pool = corners();
    let node = pool.get_message_by_name("corner.Node").unwrap();
    for levels in [99, 100, 101, 102, 500] {
        for (open, close) in [
            (r#"{"child":"#, "}"),
            (r#"{"kids":["#, "]}"),
            (r#"{"named":{"k":"#, "}}"),
        ] {
            let json = format!("{}{{}}{}", open.repeat(levels), close.repeat(levels));
            same_encode(&node, json.as_bytes(), &PbEncodeOptions::default());
        }
    }
    // Well-known types deep inside count towards the same bound.
    let wide = pool.get_message_by_name("corner.Wide").unwrap();
    for levels in [97, 98, 99, 100, 101] {
        // Wide.choice.node.child.child…
        let json = format!(
            r#"{{"choice":{{"node":{}{{}}{}}}}}"#,
            r#"{"child":"#.repeat(levels),
            "}".repeat(levels)
        );
        same_encode(&wide, json.as_bytes(), &PbEncodeOptions::default());
        let deep_struct = format!(
            r#"{{"st":{}1{}}}"#,
            r#"{"a":"#.repeat(levels),
            "}".repeat(levels)
        );
        same_encode(&wide, deep_struct.as_bytes(), &PbEncodeOptions::default());
        let deep_list = format!(r#"{{"lv":{}1{}}}"#, "[".repeat(levels), "]".repeat(levels));
        same_encode(&wide, deep_list.as_bytes(), &PbEncodeOptions::default());
    }
}

#[test]
fn wire_nesting_is_bounded_alike() {
    let pool = corners();
    let node = pool.get_message_by_name("corner.Node").unwrap();
    let wide = pool.get_message_by_name("corner.Wide").unwrap();
    let opts = PbDecodeOptions::default();
    for levels in [98, 99, 100, 101, 102] {
        // child.child.… ; kids[0].kids[0].… ; named["k"].named["k"].…
        for number in [1u32, 3, 4] {
            let mut b: Vec<u8> = Vec::new();
            for _ in 0..levels {
                let mut outer = Vec::new();
                let payload = if number == 4 {
                    let mut entry = vec![0x0a, 0x01, b'k', 0x12];
                    prost::encoding::encode_varint(b.len() as u64, &mut entry);
                    entry.extend_from_slice(&b);
                    entry
                } else {
                    b.clone()
                };
                prost::encoding::encode_key(
                    number,
                    prost::encoding::WireType::LengthDelimited,
                    &mut outer,
                );
                prost::encoding::encode_varint(payload.len() as u64, &mut outer);
                outer.extend_from_slice(&payload);
                b = outer;
            }
            same_decode(&node, &b, &opts, true);
        }
        // Unknown groups nested deep.
        let mut g = Vec::new();
        for _ in 0..levels {
            g.push(0xfb); // field 15, start group
            g.push(0x07);
        }
        for _ in 0..levels {
            g.push(0xfc); // field 15, end group
            g.push(0x07);
        }
        same_decode(&node, &g, &opts, true);
        // A Struct nested deep inside a message nested deep.
        let mut s: Vec<u8> = Vec::new();
        for i in 0..levels {
            // Value { struct_value (5): Struct { fields (1): entry { key "a", value } } }
            let mut entry = vec![0x0a, 0x01, b'a', 0x12];
            prost::encoding::encode_varint(s.len() as u64, &mut entry);
            entry.extend_from_slice(&s);
            let mut st = vec![0x0a];
            prost::encoding::encode_varint(entry.len() as u64, &mut st);
            st.extend_from_slice(&entry);
            let mut value = vec![0x2a];
            prost::encoding::encode_varint(st.len() as u64, &mut value);
            value.extend_from_slice(&st);
            s = value;
            if i == levels / 2 {
                break;
            }
        }
        let mut w = vec![0xfa, 0x01]; // val (31)
        prost::encoding::encode_varint(s.len() as u64, &mut w);
        w.extend_from_slice(&s);
        same_decode(&wide, &w, &opts, true);
    }
}

#[test]
fn bench_workloads_match_the_static_bytes() {
    use static_bench::protobuf as pb;
    let pool = bench();
    for (root, json) in [
        ("bench.AddRequest", pb::add_request_json()),
        ("bench.LargeMessage", pb::large_json(20)),
    ] {
        let desc = pool.get_message_by_name(root).unwrap();
        let bytes = fast_encode(&desc, &json, &PbEncodeOptions::default())
            .unwrap()
            .expect("fast path");
        // Fields and (sorted) map keys are in field order in this JSON: the
        // bytes are the canonical ones.
        let mut want = Vec::new();
        if root == "bench.AddRequest" {
            pb::json_to_protobuf::<pb::AddRequest>(&json, &mut want).unwrap();
        } else {
            pb::json_to_protobuf::<pb::LargeMessage>(&json, &mut want).unwrap();
        }
        assert_eq!(bytes, want, "{root}");
        let mut out = Vec::new();
        message_to_json(&desc, &want, &PbDecodeOptions::default(), &mut out).unwrap();
        let got: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(got, serde_json::from_slice::<Json>(&json).unwrap());
    }
}

#[test]
fn special_wire_forms() {
    let pool = corners();
    let choice = pool.get_message_by_name("corner.Choice").unwrap();
    let keys = pool.get_message_by_name("corner.Keys").unwrap();
    let opts = all_decode_options();
    let cases: &[(&MessageDescriptor, &str)] = &[
        // oneof: node{v:1}, text "a", node{s:"b"} -> only the last node.
        (&choice, "0a 02 10 01 1a 01 61 0a 03 2a 01 62"),
        // node twice in a row: merged.
        (&choice, "0a 02 10 01 0a 03 2a 01 62"),
        // a member cleared by another, whose bytes are broken UTF-8.
        (&choice, "1a 01 ff 20 05"),
        // map entry: value before key, key twice, value message twice.
        (&keys, "8a 01 0c 12 02 10 01 0a 01 61 0a 01 62 12 02 10 02"),
        // entries with the same key: the last wins; a missing key or value.
        (
            &keys,
            "0a 04 08 01 12 00 0a 04 08 01 12 01 41 0a 00 0a 02 08 02",
        ),
        // unknown fields in a map entry, a group among them.
        (&keys, "0a 08 08 01 18 05 23 24 12 00"),
        // bool keys from non-canonical varints, sint32 keys.
        (&keys, "5a 03 08 02 12 00 5a 04 08 80 01 12 00 2a 02 08 03"),
        // a string key that is not UTF-8.
        (&keys, "82 01 05 0a 01 ff 11 00"),
        // a packed field inside a scalar field (wrong wire type).
        (&choice, "5a 02 00 00"),
        // the end of a group that never started.
        (&choice, "7c"),
    ];
    for (desc, hex) in cases {
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        for o in &opts {
            same_decode(desc, &bytes, o, false);
        }
    }
}

#[test]
fn plan_cache_is_bounded() {
    let text = "syntax = \"proto3\"; package bounded; message M { int64 n = 1; }";
    for i in 0..MAX_POOLS + 6 {
        let pool = load("bounded.proto", &[("bounded.proto", text)]);
        let desc = pool.get_message_by_name("bounded.M").unwrap();
        let mut out = Vec::new();
        json_to_message(
            &desc,
            format!(r#"{{"n":{}}}"#, i + 1).as_bytes(),
            &PbEncodeOptions::default(),
            &mut out,
        )
        .unwrap();
        let mut json = Vec::new();
        message_to_json(&desc, &out, &PbDecodeOptions::default(), &mut json).unwrap();
        assert_eq!(json, format!(r#"{{"n":"{}"}}"#, i + 1).as_bytes());
        assert!(cached_pools() <= MAX_POOLS);
    }
    // One schema loaded twice: two pools, each with its own (right) plan.
    let a = load(
        "x.proto",
        &[("x.proto", "syntax = \"proto3\"; message X { int32 a = 1; }")],
    );
    let b = load(
        "x.proto",
        &[(
            "x.proto",
            "syntax = \"proto3\"; message X { string a = 1; }",
        )],
    );
    for _ in 0..2 {
        let mut out = Vec::new();
        let da = a.get_message_by_name("X").unwrap();
        json_to_message(&da, br#"{"a":5}"#, &PbEncodeOptions::default(), &mut out).unwrap();
        assert_eq!(out, [0x08, 0x05]);
        let db = b.get_message_by_name("X").unwrap();
        let mut out = Vec::new();
        json_to_message(&db, br#"{"a":"5"}"#, &PbEncodeOptions::default(), &mut out).unwrap();
        assert_eq!(out, [0x0a, 0x01, b'5']);
    }
}

#[test]
fn serialize_options_are_the_references() {
    // The delegated well-known types are written with these.
    let o = PbDecodeOptions {
        emit_defaults: true,
        proto_field_names: true,
        int64_as_number: false,
        enum_as_number: true,
    };
    let so = serialize_options(&o);
    let pool = corners();
    let wide = pool.get_message_by_name("corner.Wide").unwrap();
    let mut g = Gen {
        rng: Rng(7),
        max_entries: 1,
        max_depth: 2,
    };
    let m = g.message(&wide, 0);
    let mut a = Vec::new();
    m.serialize_with_options(&mut serde_json::Serializer::new(&mut a), &so)
        .unwrap();
    let mut b = Vec::new();
    super::json::dynamic_to_json(&m, &o, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn irregular_bytes_take_linear_time() {
    // At every level `kids` comes twice, a field between: a decoder that
    // wrote the first (deep) element and started again on seeing the
    // second would take 2^depth steps.
    let pool = corners();
    let node = pool.get_message_by_name("corner.Node").unwrap();
    let mut b: Vec<u8> = Vec::new();
    for _ in 0..90 {
        let mut outer = vec![0x1a];
        prost::encoding::encode_varint(b.len() as u64, &mut outer);
        outer.extend_from_slice(&b);
        outer.extend_from_slice(&[0x10, 0x01, 0x1a, 0x00]);
        b = outer;
    }
    let t = std::time::Instant::now();
    for o in all_decode_options() {
        same_decode(&node, &b, &o, true);
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
