//! JSON <-> protobuf message bytes, with the canonical proto3 JSON mapping
//! (<https://protobuf.dev/programming-guides/json/>) of prost-reflect's serde
//! support.
//!
//! Two paths give the same results:
//! - the one-pass transcoders (`encode.rs`, `decode.rs`), driven by cached
//!   [plans](super::plan), which go straight between JSON text and wire
//!   bytes; they serve every message they cover;
//! - the reference path through a [`DynamicMessage`] (prost-reflect's serde
//!   support), which serves the rest — roots using groups, extensions or
//!   `google.protobuf.NullValue` fields, well-known types as roots, JSON
//!   objects naming a field twice — and is the oracle of the differential
//!   tests. Well-known types inside other messages are handed to
//!   prost-reflect for their subtree only.

use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};

use super::encode::{Encoded, encode};
use super::path::{State, Track};
use super::plan::with_plans;
use crate::CodecError;

/// How deep JSON containers (and protobuf messages on the wire) may nest.
pub const MAX_DEPTH: usize = 100;

/// The `protocol` of [`CodecError::Wire`] for protobuf message bytes.
pub const PROTOBUF: &str = "protobuf";

/// Options for JSON -> protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbEncodeOptions {
    /// Skip JSON keys that name no field instead of rejecting them.
    pub ignore_unknown_fields: bool,
    /// Drop enum values given by a name the enum does not declare (a
    /// repeated element or map entry goes with it) instead of rejecting
    /// them, as protojson's `DiscardUnknown` does. Independent of
    /// `ignore_unknown_fields`: a misspelt enum name is an error by default.
    /// Numbers are always accepted (proto3 enums are open).
    pub ignore_unknown_enum_values: bool,
    /// Nesting (at most [`MAX_DEPTH`]), string and container bounds.
    pub limits: crate::JsonLimits,
}

impl Default for PbEncodeOptions {
    /// Unknown names rejected; nesting up to [`MAX_DEPTH`] (prost's
    /// recursion limit), strings and containers bounded by the body alone.
    fn default() -> Self {
        PbEncodeOptions {
            ignore_unknown_fields: false,
            ignore_unknown_enum_values: false,
            limits: crate::JsonLimits {
                max_depth: MAX_DEPTH,
                ..Default::default()
            },
        }
    }
}

/// Options for protobuf -> JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PbDecodeOptions {
    /// Write fields that hold their default value (proto3 omits them).
    pub emit_defaults: bool,
    /// Key fields by their `.proto` names instead of lowerCamelCase JSON names.
    pub proto_field_names: bool,
    /// Write 64-bit integers as JSON numbers instead of strings.
    pub int64_as_number: bool,
    /// Write enums by number instead of name.
    pub enum_as_number: bool,
}

/// Encodes the JSON object `json` as message `desc`, appending the protobuf
/// bytes to `out`. An empty (or all-whitespace) body is the empty message.
/// Field keys may be the `.proto` names or the JSON (lowerCamelCase) names;
/// 64-bit integers numbers or strings; enums names or numbers; well-known
/// types take their JSON forms. Errors name the JSON path (`$.a.b[2]`).
pub fn json_to_message(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &PbEncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let done = with_plans(desc, |plans| {
        if !plans.fast {
            return Ok(Encoded::Fallback);
        }
        encode(plans, json, opts, out)
    })
    .map_err(|e| *e)?;
    match done {
        Encoded::Done => Ok(()),
        Encoded::Fallback => reference_json_to_message(desc, json, opts, out),
    }
}

/// [`json_to_message`] through a [`DynamicMessage`] (the reference path).
pub(super) fn reference_json_to_message(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &PbEncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let msg = json_to_dynamic(desc, json, opts)?;
    // A `Vec` always has room: this cannot fail.
    msg.encode(out)
        .map_err(|e| CodecError::wire(PROTOBUF, e.to_string()))
}

/// Parses the JSON into a [`DynamicMessage`] (see [`json_to_message`]).
pub fn json_to_dynamic(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &PbEncodeOptions,
) -> Result<DynamicMessage, CodecError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(DynamicMessage::new(desc.clone()));
    }
    if opts.ignore_unknown_fields == opts.ignore_unknown_enum_values {
        return reference_parse(desc, json, !opts.ignore_unknown_fields);
    }
    // prost-reflect has one switch for unknown field names and unknown enum
    // names; when the options differ, the enum names are dealt with here.
    if opts.ignore_unknown_enum_values {
        // Unknown fields are rejected: drop the unknown names first.
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(json) else {
            return reference_parse(desc, json, true);
        };
        let mut path = String::from("$");
        let _ = unknown_enum_names(desc, &mut v, true, &mut path);
        let text = serde_json::to_vec(&v).expect("JSON value");
        return reference_parse(desc, &text, true);
    }
    // Unknown fields are ignored, unknown enum names rejected.
    let msg = reference_parse(desc, json, false)?;
    let mut v: serde_json::Value = serde_json::from_slice(json).expect("parsed once already");
    let mut path = String::from("$");
    match unknown_enum_names(desc, &mut v, false, &mut path) {
        Ok(()) => Ok(msg),
        Err(name) => Err(CodecError::Input {
            path,
            message: format!("unrecognized enum value '{name}'"),
        }),
    }
}

/// prost-reflect's JSON parsing, with the path of an error.
fn reference_parse(
    desc: &MessageDescriptor,
    json: &[u8],
    deny_unknown: bool,
) -> Result<DynamicMessage, CodecError> {
    let st = State::new(MAX_DEPTH);
    let mut de = serde_json::Deserializer::from_slice(json);
    let de_opts = DeserializeOptions::new().deny_unknown_fields(deny_unknown);
    let r =
        DynamicMessage::deserialize_with_options(desc.clone(), Track::new(&mut de, &st), &de_opts)
            .and_then(|m| de.end().map(|()| m));
    r.map_err(|err| {
        let mut message = err.to_string();
        if err.is_data()
            && let Some(cut) = message.rfind(" at line ")
        {
            message.truncate(cut);
        }
        CodecError::Input {
            path: st.error_path(),
            message,
        }
    })
}

/// Finds enum names the enum does not declare in the JSON of message
/// `desc`: with `strip`, removes them (a repeated element or map entry goes
/// with it) and carries on; otherwise returns the first one, `path` then
/// leading to it. Well-known types (their JSON has its own shape) and
/// values of the wrong JSON type (the parser rejects those) are left alone.
fn unknown_enum_names(
    desc: &MessageDescriptor,
    v: &mut serde_json::Value,
    strip: bool,
    path: &mut String,
) -> Result<(), String> {
    use prost_reflect::{EnumDescriptor, Kind};
    use serde_json::Value as Json;
    fn unknown(e: &EnumDescriptor, v: &Json) -> Option<String> {
        match v {
            Json::String(s) if e.get_value_by_name(s).is_none() => Some(s.clone()),
            _ => None,
        }
    }
    fn open_enum(kind: &Kind) -> Option<EnumDescriptor> {
        match kind {
            Kind::Enum(e) if e.full_name() != "google.protobuf.NullValue" => Some(e.clone()),
            _ => None,
        }
    }
    if desc.package_name() == "google.protobuf" {
        return Ok(());
    }
    let Json::Object(obj) = v else {
        return Ok(());
    };
    let mut drop_keys = Vec::new();
    for (key, val) in obj.iter_mut() {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        let mark = path.len();
        path.push('.');
        path.push_str(key);
        let kind = field.kind();
        if field.is_map() {
            let Kind::Message(entry) = &kind else {
                unreachable!("a map field's kind is its entry message")
            };
            let value_kind = entry.map_entry_value_field().kind();
            if let Json::Object(entries) = val {
                let mut gone = Vec::new();
                for (k, item) in entries.iter_mut() {
                    let at = path.len();
                    path.push('.');
                    path.push_str(k);
                    if let Some(e) = open_enum(&value_kind) {
                        if let Some(name) = unknown(&e, item) {
                            if !strip {
                                return Err(name);
                            }
                            gone.push(k.clone());
                        }
                    } else if let Kind::Message(m) = &value_kind {
                        unknown_enum_names(m, item, strip, path)?;
                    }
                    path.truncate(at);
                }
                for k in gone {
                    entries.remove(&k);
                }
            }
        } else if field.is_list() {
            if let Json::Array(items) = val {
                let mut i = 0;
                let mut index = 0;
                while i < items.len() {
                    let at = path.len();
                    path.push('[');
                    path.push_str(itoa::Buffer::new().format(index));
                    path.push(']');
                    index += 1;
                    if let Some(e) = open_enum(&kind) {
                        if let Some(name) = unknown(&e, &items[i]) {
                            if !strip {
                                return Err(name);
                            }
                            items.remove(i);
                            path.truncate(at);
                            continue;
                        }
                    } else if let Kind::Message(m) = &kind {
                        unknown_enum_names(m, &mut items[i], strip, path)?;
                    }
                    path.truncate(at);
                    i += 1;
                }
            }
        } else if let Some(e) = open_enum(&kind) {
            if let Some(name) = unknown(&e, val) {
                if !strip {
                    return Err(name);
                }
                drop_keys.push(key.clone());
            }
        } else if let Kind::Message(m) = &kind {
            unknown_enum_names(m, val, strip, path)?;
        }
        path.truncate(mark);
    }
    for k in drop_keys {
        obj.remove(&k);
    }
    Ok(())
}

/// Decodes protobuf bytes of message `desc` and appends their JSON to `out`
/// (`out` is left as it was on error).
pub fn message_to_json(
    desc: &MessageDescriptor,
    bytes: &[u8],
    opts: &PbDecodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let done = with_plans(desc, |plans| {
        plans
            .fast
            .then(|| super::decode::decode(plans, bytes, opts, out))
    });
    match done {
        Some(r) => r.map_err(|e| *e),
        None => reference_message_to_json(desc, bytes, opts, out),
    }
}

/// [`message_to_json`] through a [`DynamicMessage`] (the reference path).
pub(super) fn reference_message_to_json(
    desc: &MessageDescriptor,
    bytes: &[u8],
    opts: &PbDecodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let msg = decode_dynamic(desc, bytes)?;
    dynamic_to_json(&msg, opts, out)
}

/// prost-reflect's options for the JSON of [`PbDecodeOptions`].
pub(super) fn serialize_options(opts: &PbDecodeOptions) -> SerializeOptions {
    SerializeOptions::new()
        .skip_default_fields(!opts.emit_defaults)
        .use_proto_field_name(opts.proto_field_names)
        .stringify_64_bit_integers(!opts.int64_as_number)
        .use_enum_numbers(opts.enum_as_number)
}

/// Decodes protobuf bytes of message `desc` (nesting bounded by prost's
/// recursion limit of 100; lengths past the buffer rejected).
pub fn decode_dynamic(
    desc: &MessageDescriptor,
    bytes: &[u8],
) -> Result<DynamicMessage, CodecError> {
    DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| CodecError::wire(PROTOBUF, e.to_string()))
}

/// Writes a message as JSON (see [`message_to_json`]).
pub fn dynamic_to_json(
    msg: &DynamicMessage,
    opts: &PbDecodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let so = serialize_options(opts);
    let start = out.len();
    let mut ser = serde_json::Serializer::new(&mut *out);
    // Fails only for values JSON cannot show (a timestamp out of range, an
    // `Any` of an unknown type): the backend's data is at fault.
    msg.serialize_with_options(&mut ser, &so).map_err(|e| {
        out.truncate(start);
        CodecError::wire(PROTOBUF, e.to_string())
    })
}
