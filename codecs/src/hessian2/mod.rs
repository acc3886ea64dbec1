//! Hessian 2.0 serialization as Apache Dubbo uses it (dubbo-hessian-lite
//! `Hessian2Output`/`Hessian2Input`): a [`Writer`] that emits the same bytes as
//! Java, a bounded [`Reader`] that decodes any Hessian 2.0 value into an owned
//! [`Value`] tree, and [`write_json`], which renders such a tree as JSON text.
//!
//! Spec: `shared/specs/wire.md` §5.5 (Dubbo worked examples) and §5.6 (Hessian
//! 2.0 encodings, with byte vectors captured from Java).
//!
//! One [`Writer`] or [`Reader`] is one Hessian *stream*: class definitions, type
//! names and value references are numbered per stream, and Dubbo uses one
//! stream per message body (request arguments and attachments share it).
//!
//! This module knows nothing of the Dubbo header or body layout, nor of any IDL.
//!
//! Choices where implementations differ:
//! - `0x5f` doubles are int32 milliunits (`v * 1000`), as Java and Go write and
//!   read them, not the 32-bit float of the Hessian spec text.
//! - Strings count UTF-16 code units and carry supplementary characters as two
//!   3-byte surrogates (CESU-8), as Java does. The reader also accepts a 4-byte
//!   UTF-8 sequence (counted as two units); it replaces an unpaired surrogate,
//!   which a Rust `String` cannot hold, with U+FFFD.
//! - Non-final binary chunks are 0x8000 bytes; Java's chunk size depends on its
//!   output buffer, so long binaries are not byte-identical to Java's (readers
//!   accept any chunking).

mod json;
mod reader;
mod value;
mod writer;

pub use json::{
    DEFAULT_JSON_MAX_DEPTH, DEFAULT_JSON_MAX_LEN, JsonOptions, write_date_rfc3339, write_json,
};
pub use reader::{
    DEFAULT_MAX_CLASS_DEFS, DEFAULT_MAX_DEPTH, DEFAULT_MAX_REFS, DEFAULT_MAX_TYPES, Limits, Reader,
};
pub use value::{ClassDef, List, Map, Object, RefTable, Value};
pub use writer::{ClassId, Writer};

/// The protocol name in [`crate::CodecError`]s.
const PROTOCOL: &str = "hessian2";

// Bytecodes (hessian-serialization.html §6; wire.md §5.6).
const BC_NULL: u8 = b'N';
const BC_TRUE: u8 = b'T';
const BC_FALSE: u8 = b'F';
const BC_INT: u8 = b'I';
/// `0x80..=0xbf`: int -16..=47, `v = b - 0x90`.
const BC_INT_ZERO: u8 = 0x90;
/// `0xc0..=0xcf b0`: int -2048..=2047.
const BC_INT_BYTE_ZERO: u8 = 0xc8;
/// `0xd0..=0xd7 b1 b0`: int -262144..=262143.
const BC_INT_SHORT_ZERO: u8 = 0xd4;
const BC_LONG: u8 = b'L';
/// `0xd8..=0xef`: long -8..=15.
const BC_LONG_ZERO: u8 = 0xe0;
/// `0xf0..=0xff b0`: long -2048..=2047.
const BC_LONG_BYTE_ZERO: u8 = 0xf8;
/// `0x38..=0x3f b1 b0`: long -262144..=262143.
const BC_LONG_SHORT_ZERO: u8 = 0x3c;
/// `0x59 b3..b0`: long in the int32 range.
const BC_LONG_INT: u8 = 0x59;
const BC_DOUBLE: u8 = b'D';
const BC_DOUBLE_ZERO: u8 = 0x5b;
const BC_DOUBLE_ONE: u8 = 0x5c;
const BC_DOUBLE_BYTE: u8 = 0x5d;
const BC_DOUBLE_SHORT: u8 = 0x5e;
const BC_DOUBLE_MILL: u8 = 0x5f;
/// `0x4a` + i64 milliseconds since the epoch.
const BC_DATE: u8 = 0x4a;
/// `0x4b` + i32 minutes since the epoch.
const BC_DATE_MINUTE: u8 = 0x4b;
/// `0x00..=0x1f`: string of 0..=31 UTF-16 units.
const BC_STRING_DIRECT: u8 = 0x00;
const STRING_DIRECT_MAX: usize = 0x1f;
/// `0x30..=0x33 b0`: string of up to 1023 units.
const BC_STRING_SHORT: u8 = 0x30;
const STRING_SHORT_MAX: usize = 0x3ff;
const BC_STRING_CHUNK: u8 = b'R';
const BC_STRING: u8 = b'S';
/// Java's chunk length for long strings, in UTF-16 units.
const STRING_CHUNK_UNITS: usize = 0x8000;
/// `0x20..=0x2f`: binary of 0..=15 bytes.
const BC_BINARY_DIRECT: u8 = 0x20;
const BINARY_DIRECT_MAX: usize = 0x0f;
/// `0x34..=0x37 b0`: binary of up to 1023 bytes.
const BC_BINARY_SHORT: u8 = 0x34;
const BINARY_SHORT_MAX: usize = 0x3ff;
const BC_BINARY_CHUNK: u8 = b'A';
const BC_BINARY: u8 = b'B';
const BINARY_CHUNK_LEN: usize = 0x8000;
/// `V type int value*`: typed list of known length.
const BC_LIST_FIXED: u8 = b'V';
/// `X int value*`: untyped list of known length.
const BC_LIST_FIXED_UNTYPED: u8 = b'X';
/// `U type value* Z`: typed list of unknown length.
const BC_LIST_VARIABLE: u8 = b'U';
/// `W value* Z`: untyped list of unknown length.
const BC_LIST_VARIABLE_UNTYPED: u8 = b'W';
/// `0x70..=0x77 type value*`: typed list of 0..=7 items.
const BC_LIST_DIRECT: u8 = 0x70;
/// `0x78..=0x7f value*`: untyped list of 0..=7 items.
const BC_LIST_DIRECT_UNTYPED: u8 = 0x78;
const LIST_DIRECT_MAX: usize = 7;
const BC_MAP: u8 = b'M';
const BC_MAP_UNTYPED: u8 = b'H';
const BC_END: u8 = b'Z';
/// `C string int string*`: class definition.
const BC_CLASS_DEF: u8 = b'C';
/// `O int value*`: instance of class definition #int.
const BC_OBJECT: u8 = b'O';
/// `0x60..=0x6f value*`: instance of class definition #0..=15.
const BC_OBJECT_DIRECT: u8 = 0x60;
const OBJECT_DIRECT_MAX: u32 = 0x0f;
/// `0x51 int`: back-reference to the int-th list, map or object of the stream.
const BC_REF: u8 = 0x51;

#[cfg(test)]
mod tests;
