//! Transcoding plans: what the one-pass transcoders (`encode.rs`,
//! `decode.rs`) need to know about a message, read once from its
//! prost-reflect descriptor and cached, so that a request never walks
//! descriptors, hashes field names with SipHash or allocates to find a field.
//!
//! A [`Plans`] covers one root message and every message and enum reachable
//! from it (an arena indexed by `u32`). It does not own the JSON of the
//! well-known types (`google.protobuf.Timestamp`, `Struct`, `Any`, …): their
//! messages are marked [`MsgPlan::delegate`] and the transcoders hand those
//! subtrees to prost-reflect. Roots whose messages use what the one-pass
//! transcoders do not implement (groups, extensions, fields of enum
//! `google.protobuf.NullValue`) have [`Plans::fast`] unset and go through
//! prost-reflect whole.
//!
//! # Cache
//!
//! `json_to_message(desc, …)` receives nothing but the descriptor, so plans
//! are looked up by the descriptor's identity: the address of its full name
//! inside the pool's shared (`Arc`) data, checked against the descriptor the
//! plan was built from (`MessageDescriptor: Eq` compares the pool pointer and
//! the message index). A cached plan keeps its pool alive, which is what
//! makes the address an identity (it cannot be reused while the entry
//! exists). To keep re-registered schemas from piling up, the cache holds
//! plans of at most [`MAX_POOLS`] pools and evicts the least recently used
//! pool (with every plan of it) when a new one arrives. In front of it each
//! thread keeps its last few plans, so a hit takes no lock and no atomic
//! read-modify-write.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind as PKind, MessageDescriptor, Value};

use super::wire::{FIXED32, FIXED64, Key, LEN, VARINT};

/// How many descriptor pools the plan cache holds plans of.
pub(super) const MAX_POOLS: usize = 64;

/// Plans kept per thread in front of the shared cache.
const FRONT_SLOTS: usize = 4;

/// Messages with a JSON form of their own in the proto3 JSON mapping.
const WELL_KNOWN: &[&str] = &[
    "google.protobuf.Any",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.FieldMask",
    "google.protobuf.Empty",
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
];

/// Up to this many fields (or enum values), names are found by a linear
/// scan; past it, through a hash map.
const LINEAR_NAMES: usize = 12;

/// Field numbers up to this are looked up in a dense table.
const DENSE_NUMBERS: u32 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    /// Index into [`Plans::enums`].
    Enum(u32),
    /// Index into [`Plans::msgs`].
    Message(u32),
}

impl Kind {
    /// The wire type one value of this kind travels as.
    #[inline]
    pub(super) fn wire_type(self) -> u8 {
        match self {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => FIXED64,
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => FIXED32,
            Kind::String | Kind::Bytes | Kind::Message(_) => LEN,
            _ => VARINT,
        }
    }

    /// Scalars that may be packed (and are accepted packed or not).
    #[inline]
    pub(super) fn packable(self) -> bool {
        !matches!(self, Kind::String | Kind::Bytes | Kind::Message(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    Single,
    List,
    /// `kind` is the map entry message, whose fields are key and value.
    Map,
}

#[derive(Debug)]
pub(super) struct FieldPlan {
    pub(super) number: u32,
    pub(super) name: Box<str>,
    pub(super) json_name: Box<str>,
    /// `"jsonName":` as JSON text.
    pub(super) json_key: Box<[u8]>,
    /// `"proto_name":` as JSON text.
    pub(super) proto_key: Box<[u8]>,
    pub(super) kind: Kind,
    pub(super) card: Card,
    /// A list written packed.
    pub(super) packed: bool,
    /// Written even when it holds its default value (message fields,
    /// `optional` and oneof members, proto2 fields).
    pub(super) presence: bool,
    /// Index into [`MsgPlan::oneofs`].
    pub(super) oneof: Option<u32>,
    /// The key of one value of `kind`.
    pub(super) key: Key,
    /// The key with wire type LEN (packed lists).
    pub(super) len_key: Key,
    /// The default value of an enum field.
    pub(super) default_enum: i32,
    /// Holds messages (a message field, a list of them, a map of them).
    pub(super) nested: bool,
}

#[derive(Debug)]
pub(super) struct MsgPlan {
    pub(super) desc: MessageDescriptor,
    /// A well-known type: prost-reflect writes and reads its JSON.
    pub(super) delegate: bool,
    /// A map entry (fields: key, value): unknown fields in it are skipped
    /// the way prost's `skip_field` does.
    pub(super) map_entry: bool,
    /// Fields in field-number order (the order prost-reflect writes JSON in).
    pub(super) fields: Vec<FieldPlan>,
    pub(super) oneofs: Vec<Box<str>>,
    by_number: ByNumber,
    by_name: ByName,
}

#[derive(Debug)]
enum ByNumber {
    /// Field index by number; `u32::MAX` for none.
    Dense(Vec<u32>),
    /// (number, index), sorted.
    Sparse(Vec<(u32, u32)>),
}

#[derive(Debug)]
enum ByName {
    /// JSON names, then `.proto` names.
    Linear(Vec<NameKey>),
    Hashed(HashMap<Box<str>, u32, FxBuild>),
}

/// A name compared by length and first 8 bytes before anything else, so
/// that short names need no `memcmp` call.
#[derive(Debug)]
struct NameKey {
    len: usize,
    head: u64,
    field: u32,
    by_json: bool,
}

/// The first 8 bytes of `s`, zero-padded.
#[inline]
fn head(s: &[u8]) -> u64 {
    if let Some(b) = s.first_chunk::<8>() {
        return u64::from_le_bytes(*b);
    }
    let mut v = 0u64;
    for (i, &b) in s.iter().enumerate() {
        v |= u64::from(b) << (i * 8);
    }
    v
}

impl MsgPlan {
    /// The field a JSON key names: its JSON name first, then its `.proto`
    /// name (prost-reflect's order). The flag tells whether the JSON name
    /// matched.
    #[inline]
    pub(super) fn field_by_name(&self, key: &str) -> Option<(u32, bool)> {
        match &self.by_name {
            ByName::Linear(keys) => {
                let (len, h) = (key.len(), head(key.as_bytes()));
                keys.iter()
                    .find(|k| {
                        k.len == len && k.head == h && {
                            let f = &self.fields[k.field as usize];
                            let name = if k.by_json { &f.json_name } else { &f.name };
                            len <= 8 || name.as_bytes()[8..] == key.as_bytes()[8..]
                        }
                    })
                    .map(|k| (k.field, k.by_json))
            }
            ByName::Hashed(map) => {
                let i = *map.get(key)?;
                Some((i, *self.fields[i as usize].json_name == *key))
            }
        }
    }

    #[inline]
    pub(super) fn field_by_number(&self, number: u32) -> Option<u32> {
        match &self.by_number {
            ByNumber::Dense(t) => t.get(number as usize).copied().filter(|&i| i != u32::MAX),
            ByNumber::Sparse(t) => t
                .binary_search_by_key(&number, |&(n, _)| n)
                .ok()
                .map(|i| t[i].1),
        }
    }
}

#[derive(Debug)]
pub(super) struct EnumPlan {
    /// (name, number) in declaration order.
    values: Vec<(Box<str>, i32)>,
    hashed: Option<HashMap<Box<str>, i32, FxBuild>>,
    /// (number, `"NAME"` as JSON text), sorted by number, one per number:
    /// the name prost-reflect's `EnumDescriptor::get_value` gives.
    names: Vec<(i32, Box<[u8]>)>,
}

impl EnumPlan {
    #[inline]
    pub(super) fn number_of(&self, name: &str) -> Option<i32> {
        match &self.hashed {
            None => self
                .values
                .iter()
                .find(|(n, _)| **n == *name)
                .map(|&(_, v)| v),
            Some(map) => map.get(name).copied(),
        }
    }

    /// The quoted name of `number`, if the enum declares it.
    #[inline]
    pub(super) fn json_name_of(&self, number: i32) -> Option<&[u8]> {
        let i = self.names.binary_search_by_key(&number, |&(n, _)| n).ok()?;
        Some(&self.names[i].1)
    }
}

/// Everything reachable from one root message.
#[derive(Debug)]
pub(super) struct Plans {
    pub(super) msgs: Vec<MsgPlan>,
    pub(super) enums: Vec<EnumPlan>,
    pub(super) root: u32,
    /// The one-pass transcoders handle this root (else prost-reflect does).
    pub(super) fast: bool,
    /// The cache epoch this plan was last used in.
    last_used: AtomicU64,
}

impl Plans {
    pub(super) fn build(root: &MessageDescriptor) -> Plans {
        let mut b = Builder {
            msgs: Vec::new(),
            enums: Vec::new(),
            msg_ids: HashMap::new(),
            enum_ids: HashMap::new(),
            queue: Vec::new(),
            fast: true,
        };
        let root_id = b.message_id(root);
        while let Some((id, desc)) = b.queue.pop() {
            let plan = b.message(desc);
            b.msgs[id as usize] = Some(plan);
        }
        let msgs: Vec<MsgPlan> = b
            .msgs
            .into_iter()
            .map(|m| m.expect("every queued message is planned"))
            .collect();
        let fast = b.fast && !msgs[root_id as usize].delegate;
        Plans {
            msgs,
            enums: b.enums,
            root: root_id,
            fast,
            last_used: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(super) fn root_desc(&self) -> &MessageDescriptor {
        &self.msgs[self.root as usize].desc
    }
}

struct Builder {
    msgs: Vec<Option<MsgPlan>>,
    enums: Vec<EnumPlan>,
    msg_ids: HashMap<String, u32>,
    enum_ids: HashMap<String, u32>,
    queue: Vec<(u32, MessageDescriptor)>,
    fast: bool,
}

impl Builder {
    fn message_id(&mut self, desc: &MessageDescriptor) -> u32 {
        if let Some(&id) = self.msg_ids.get(desc.full_name()) {
            return id;
        }
        let id = self.msgs.len() as u32;
        self.msgs.push(None);
        self.msg_ids.insert(desc.full_name().to_string(), id);
        self.queue.push((id, desc.clone()));
        id
    }

    fn enum_id(&mut self, desc: &EnumDescriptor) -> u32 {
        if let Some(&id) = self.enum_ids.get(desc.full_name()) {
            return id;
        }
        let id = self.enums.len() as u32;
        let values: Vec<(Box<str>, i32)> = desc
            .values()
            .map(|v| (Box::from(v.name()), v.number()))
            .collect();
        let mut names: Vec<(i32, Box<[u8]>)> = Vec::new();
        for &(_, n) in &values {
            if names.iter().any(|&(m, _)| m == n) {
                continue;
            }
            // With `allow_alias`, the name prost-reflect shows for a number.
            let name = desc.get_value(n).map(|v| v.name().to_string());
            if let Some(name) = name {
                names.push((n, json_string(&name).into_bytes().into()));
            }
        }
        names.sort_by_key(|&(n, _)| n);
        let hashed = (values.len() > LINEAR_NAMES).then(|| {
            let mut map = HashMap::with_hasher(FxBuild);
            for (name, n) in &values {
                map.entry(name.clone()).or_insert(*n);
            }
            map
        });
        self.enums.push(EnumPlan {
            values,
            hashed,
            names,
        });
        self.enum_ids.insert(desc.full_name().to_string(), id);
        id
    }

    fn message(&mut self, desc: MessageDescriptor) -> MsgPlan {
        let delegate = WELL_KNOWN.contains(&desc.full_name());
        if !delegate && desc.extensions().len() > 0 {
            self.fast = false;
        }
        let oneofs: Vec<Box<str>> = desc.oneofs().map(|o| Box::from(o.name())).collect();
        let fields: Vec<FieldPlan> = desc
            .fields()
            .map(|f| self.field(&f, &oneofs, delegate))
            .collect();
        let max = fields.iter().map(|f| f.number).max().unwrap_or(0);
        let by_number = if max <= DENSE_NUMBERS {
            let mut t = vec![u32::MAX; max as usize + 1];
            for (i, f) in fields.iter().enumerate() {
                t[f.number as usize] = i as u32;
            }
            ByNumber::Dense(t)
        } else {
            ByNumber::Sparse(
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.number, i as u32))
                    .collect(),
            )
        };
        let by_name = if fields.len() <= LINEAR_NAMES {
            let key = |(i, f): (usize, &FieldPlan), by_json: bool| {
                let name = if by_json { &f.json_name } else { &f.name };
                NameKey {
                    len: name.len(),
                    head: head(name.as_bytes()),
                    field: i as u32,
                    by_json,
                }
            };
            let mut keys: Vec<NameKey> = fields.iter().enumerate().map(|f| key(f, true)).collect();
            keys.extend(fields.iter().enumerate().map(|f| key(f, false)));
            ByName::Linear(keys)
        } else {
            let mut map = HashMap::with_hasher(FxBuild);
            // JSON names win over `.proto` names, as in prost-reflect.
            for (i, f) in fields.iter().enumerate() {
                map.entry(f.name.clone()).or_insert(i as u32);
            }
            for (i, f) in fields.iter().enumerate() {
                map.insert(f.json_name.clone(), i as u32);
            }
            ByName::Hashed(map)
        };
        MsgPlan {
            map_entry: desc.is_map_entry(),
            desc,
            delegate,
            fields,
            oneofs,
            by_number,
            by_name,
        }
    }

    fn field(&mut self, f: &FieldDescriptor, oneofs: &[Box<str>], in_wkt: bool) -> FieldPlan {
        if f.is_group() {
            self.fast = false;
        }
        let mut default_enum = 0;
        let kind = match f.kind() {
            PKind::Double => Kind::Double,
            PKind::Float => Kind::Float,
            PKind::Int32 => Kind::Int32,
            PKind::Int64 => Kind::Int64,
            PKind::Uint32 => Kind::Uint32,
            PKind::Uint64 => Kind::Uint64,
            PKind::Sint32 => Kind::Sint32,
            PKind::Sint64 => Kind::Sint64,
            PKind::Fixed32 => Kind::Fixed32,
            PKind::Fixed64 => Kind::Fixed64,
            PKind::Sfixed32 => Kind::Sfixed32,
            PKind::Sfixed64 => Kind::Sfixed64,
            PKind::Bool => Kind::Bool,
            PKind::String => Kind::String,
            PKind::Bytes => Kind::Bytes,
            PKind::Message(m) => Kind::Message(self.message_id(&m)),
            PKind::Enum(e) => {
                // `null` is its JSON form: left to prost-reflect.
                if e.full_name() == "google.protobuf.NullValue" && !in_wkt {
                    self.fast = false;
                }
                default_enum = match f.default_value() {
                    Value::EnumNumber(n) => n,
                    _ => e.default_value().number(),
                };
                Kind::Enum(self.enum_id(&e))
            }
        };
        let value_kind = if f.is_map() {
            f.kind()
                .as_message()
                .map(|entry| entry.map_entry_value_field().kind())
        } else {
            Some(f.kind())
        };
        let nested = matches!(value_kind, Some(PKind::Message(_)));
        let card = if f.is_map() {
            Card::Map
        } else if f.is_list() {
            Card::List
        } else {
            Card::Single
        };
        let oneof = f
            .containing_oneof()
            .and_then(|o| oneofs.iter().position(|n| **n == *o.name()))
            .map(|i| i as u32);
        FieldPlan {
            number: f.number(),
            name: f.name().into(),
            json_name: f.json_name().into(),
            json_key: key_text(f.json_name()),
            proto_key: key_text(f.name()),
            kind,
            card,
            packed: card == Card::List && f.is_packed() && kind.packable(),
            presence: f.supports_presence(),
            oneof,
            key: Key::new(f.number(), kind.wire_type()),
            len_key: Key::new(f.number(), LEN),
            default_enum,
            nested,
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn key_text(name: &str) -> Box<[u8]> {
    let mut s = json_string(name);
    s.push(':');
    s.into_bytes().into()
}

// === cache ===

struct Cache {
    /// By the address of the root's full name (see the module docs).
    entries: HashMap<usize, Arc<Plans>, FxBuild>,
}

static CACHE: LazyLock<RwLock<Cache>> = LazyLock::new(|| {
    RwLock::new(Cache {
        entries: HashMap::with_hasher(FxBuild),
    })
});

/// Bumped on every insertion; plans note the epoch they were last used in.
static EPOCH: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static FRONT: RefCell<([Option<Arc<Plans>>; FRONT_SLOTS], usize)> =
        const { RefCell::new(([const { None }; FRONT_SLOTS], 0)) };
}

#[inline]
fn identity(desc: &MessageDescriptor) -> usize {
    desc.full_name().as_ptr() as usize
}

#[inline]
fn touch(plans: &Plans) {
    let now = EPOCH.load(Ordering::Relaxed);
    if plans.last_used.load(Ordering::Relaxed) != now {
        plans.last_used.store(now, Ordering::Relaxed);
    }
}

/// Runs `f` with the plans of `desc` (built on first use).
pub(super) fn with_plans<R>(desc: &MessageDescriptor, f: impl FnOnce(&Plans) -> R) -> R {
    FRONT.with(|front| {
        if let Ok(slots) = front.try_borrow()
            && let Some(p) = slots.0.iter().flatten().find(|p| p.root_desc() == desc)
        {
            touch(p);
            // Borrowed, not cloned: no reference count shared between
            // threads is touched on a hit.
            return f(p);
        }
        let p = shared(desc);
        if let Ok(mut slots) = front.try_borrow_mut() {
            let slot = slots.1;
            slots.0[slot] = Some(p.clone());
            slots.1 = (slot + 1) % FRONT_SLOTS;
        }
        f(&p)
    })
}

fn shared(desc: &MessageDescriptor) -> Arc<Plans> {
    let id = identity(desc);
    {
        let cache = CACHE.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.entries.get(&id).filter(|p| p.root_desc() == desc) {
            touch(p);
            return p.clone();
        }
    }
    // Built outside the lock: a race builds twice and keeps one.
    let built = Arc::new(Plans::build(desc));
    let mut cache = CACHE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = cache.entries.get(&id).filter(|p| p.root_desc() == desc) {
        return p.clone();
    }
    let now = EPOCH.fetch_add(1, Ordering::Relaxed) + 1;
    built.last_used.store(now, Ordering::Relaxed);
    cache.make_room_for(desc);
    cache.entries.insert(id, built.clone());
    built
}

impl Cache {
    /// Evicts the least recently used pool if `desc`'s pool is a new one
    /// and the cache holds plans of [`MAX_POOLS`] pools already.
    fn make_room_for(&mut self, desc: &MessageDescriptor) {
        let pool = desc.parent_pool();
        // (pool, most recent use of any of its plans)
        let mut pools: Vec<(&prost_reflect::DescriptorPool, u64)> = Vec::new();
        for p in self.entries.values() {
            let used = p.last_used.load(Ordering::Relaxed);
            let q = p.root_desc().parent_pool();
            if q == pool {
                return;
            }
            match pools.iter_mut().find(|(x, _)| *x == q) {
                Some((_, u)) => *u = (*u).max(used),
                None => pools.push((q, used)),
            }
        }
        if pools.len() < MAX_POOLS {
            return;
        }
        let Some(victim) = pools
            .iter()
            .min_by_key(|(_, u)| *u)
            .map(|(q, _)| (*q).clone())
        else {
            return;
        };
        self.entries
            .retain(|_, p| *p.root_desc().parent_pool() != victim);
    }
}

/// How many pools have plans in the shared cache (for tests).
#[cfg(test)]
pub(super) fn cached_pools() -> usize {
    let cache = CACHE.read().unwrap_or_else(|e| e.into_inner());
    let mut pools: Vec<prost_reflect::DescriptorPool> = Vec::new();
    for p in cache.entries.values() {
        let q = p.root_desc().parent_pool();
        if !pools.contains(q) {
            pools.push(q.clone());
        }
    }
    pools.len()
}

// === hashing ===

/// The Fx hash (rustc's): field and enum value names are short and come from
/// the schema, so neither SipHash's strength nor its cost is needed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FxBuild;

pub(super) struct Fx(u64);

impl BuildHasher for FxBuild {
    type Hasher = Fx;
    #[inline]
    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

impl Fx {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
