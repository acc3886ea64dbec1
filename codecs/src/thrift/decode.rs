//! Thrift -> JSON in one pass: reads protocol bytes guided by the IDL type
//! and writes JSON text straight into the caller's (reused) buffer.
//! Unknown field ids and fields of an unexpected wire type are skipped;
//! container sizes and nesting depth are bounded.

use idl::{Binding, Schema, StructId, Type};

use super::encode::ttype;
use super::protocol::{Reader, TType};
use crate::CodecError;
use crate::json_text as json;

/// How Thrift is turned into JSON.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Write enums by name (numbers with no name stay numbers); default: numbers.
    pub enum_as_name: bool,
    /// Write i64 as JSON strings, for JavaScript clients; default: numbers.
    pub i64_as_string: bool,
    /// Deepest nesting of structs and containers accepted.
    pub max_depth: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            enum_as_name: false,
            i64_as_string: false,
            max_depth: 64,
        }
    }
}

/// HTTP parts of a response taken from annotated fields of the result struct
/// (`api.http_code`, `api.header`) instead of its JSON body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseMeta {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
}

pub(crate) struct Dec<'s, 'o> {
    schema: &'s Schema,
    opts: &'s DecodeOptions,
    pub(crate) out: &'o mut Vec<u8>,
    depth: usize,
}

impl<'s, 'o> Dec<'s, 'o> {
    pub(crate) fn new(schema: &'s Schema, opts: &'s DecodeOptions, out: &'o mut Vec<u8>) -> Self {
        Dec {
            schema,
            opts,
            out,
            depth: 0,
        }
    }

    fn enter(&mut self) -> Result<(), CodecError> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(CodecError::TooLarge {
                what: "nesting depth",
                size: self.depth as u64,
                max: self.opts.max_depth as u64,
            });
        }
        Ok(())
    }

    /// Writes one value of `ty` read from `r`.
    pub(crate) fn value<'a, R: Reader<'a>>(
        &mut self,
        r: &mut R,
        ty: &Type,
    ) -> Result<(), CodecError> {
        match ty {
            Type::Bool => self
                .out
                .extend_from_slice(if r.bool()? { b"true" } else { b"false" }),
            Type::I8 => json::write_i64(self.out, r.i8()? as i64),
            Type::I16 => json::write_i64(self.out, r.i16()? as i64),
            Type::I32 => json::write_i64(self.out, r.i32()? as i64),
            Type::I64 => {
                let v = r.i64()?;
                if self.opts.i64_as_string {
                    self.out.push(b'"');
                    json::write_i64(self.out, v);
                    self.out.push(b'"');
                } else {
                    json::write_i64(self.out, v);
                }
            }
            Type::Double => json::write_f64(self.out, r.double()?),
            Type::String => {
                let b = r.bytes()?;
                let s = std::str::from_utf8(b)
                    .map_err(|_| CodecError::wire(R::NAME, "string is not valid UTF-8"))?;
                json::write_str(self.out, s);
            }
            Type::Binary => json::write_base64(self.out, r.bytes()?),
            Type::Uuid => json::write_uuid(self.out, r.uuid()?),
            Type::Enum(id) => {
                let v = r.i32()?;
                match self
                    .opts
                    .enum_as_name
                    .then(|| self.schema.enum_def(*id).name_of(v))
                    .flatten()
                {
                    Some(name) => json::write_str(self.out, name),
                    None => json::write_i64(self.out, v as i64),
                }
            }
            Type::List(t) | Type::Set(t) => {
                self.enter()?;
                let (et, n) = r.list_begin()?;
                if n > 0 && et != ttype(t) {
                    return Err(CodecError::wire(
                        R::NAME,
                        format!("list element type {et:?}, expected {:?}", ttype(t)),
                    ));
                }
                self.out.push(b'[');
                for i in 0..n {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.value(r, t)?;
                }
                self.out.push(b']');
                self.depth -= 1;
            }
            Type::Map(k, v) => {
                self.enter()?;
                let (kt, vt, n) = r.map_begin()?;
                if n > 0 && (kt != ttype(k) || vt != ttype(v)) {
                    return Err(CodecError::wire(
                        R::NAME,
                        format!(
                            "map of {kt:?} -> {vt:?}, expected {:?} -> {:?}",
                            ttype(k),
                            ttype(v)
                        ),
                    ));
                }
                let object = k.is_object_key();
                self.out.push(if object { b'{' } else { b'[' });
                for i in 0..n {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    if object {
                        self.object_key(r, k)?;
                        self.out.push(b':');
                        self.value(r, v)?;
                    } else {
                        self.out.push(b'[');
                        self.value(r, k)?;
                        self.out.push(b',');
                        self.value(r, v)?;
                        self.out.push(b']');
                    }
                }
                self.out.push(if object { b'}' } else { b']' });
                self.depth -= 1;
            }
            Type::Struct(sid) => self.struct_value(r, *sid, None)?,
        }
        Ok(())
    }

    fn object_key<'a, R: Reader<'a>>(&mut self, r: &mut R, k: &Type) -> Result<(), CodecError> {
        let n = match k {
            Type::String | Type::Binary => return self.value(r, k),
            Type::Enum(id) => {
                let v = r.i32()?;
                if self.opts.enum_as_name
                    && let Some(name) = self.schema.enum_def(*id).name_of(v)
                {
                    json::write_str(self.out, name);
                    return Ok(());
                }
                v as i64
            }
            Type::I8 => r.i8()? as i64,
            Type::I16 => r.i16()? as i64,
            Type::I32 => r.i32()? as i64,
            Type::I64 => r.i64()?,
            _ => return Err(CodecError::wire(R::NAME, "unsupported map key type")),
        };
        // Integer keys are quoted numbers whatever the i64 option says.
        self.out.push(b'"');
        json::write_i64(self.out, n);
        self.out.push(b'"');
        Ok(())
    }

    /// Writes struct `sid` as a JSON object. With `meta`, fields bound to the
    /// HTTP status or headers go there instead of into the object.
    pub(crate) fn struct_value<'a, R: Reader<'a>>(
        &mut self,
        r: &mut R,
        sid: StructId,
        mut meta: Option<&mut ResponseMeta>,
    ) -> Result<(), CodecError> {
        self.enter()?;
        let def = self.schema.struct_def(sid);
        let saved = r.struct_begin();
        self.out.push(b'{');
        let mut first = true;
        while let Some((wt, id)) = r.field_begin()? {
            let Some(idx) = def.field_by_id(id) else {
                skip(r, wt, self.opts.max_depth)?;
                continue;
            };
            let field = &def.fields[idx];
            if wt != ttype(&field.ty) {
                skip(r, wt, self.opts.max_depth)?;
                continue;
            }
            if let Some(meta) = meta.as_deref_mut() {
                match &field.binding {
                    Binding::HttpCode => {
                        let v = match wt {
                            TType::I16 => r.i16()? as i64,
                            TType::I32 => r.i32()? as i64,
                            TType::I64 => r.i64()?,
                            _ => {
                                skip(r, wt, self.opts.max_depth)?;
                                continue;
                            }
                        };
                        meta.status = u16::try_from(v).ok().filter(|s| (100..600).contains(s));
                        continue;
                    }
                    Binding::Header(name) if wt == TType::Binary => {
                        let v = String::from_utf8_lossy(r.bytes()?).into_owned();
                        meta.headers.push((name.clone(), v));
                        continue;
                    }
                    _ => {}
                }
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            self.out.extend_from_slice(def.json_key(idx));
            if field.js_conv && matches!(field.ty, Type::I64 | Type::I32 | Type::I16 | Type::I8) {
                self.out.push(b'"');
                self.value(r, &field.ty)?;
                self.out.push(b'"');
            } else {
                self.value(r, &field.ty)?;
            }
        }
        self.out.push(b'}');
        r.struct_end(saved);
        self.depth -= 1;
        Ok(())
    }
}

/// Skips one value of wire type `t` (nesting bounded by `max_depth`).
pub fn skip<'a, R: Reader<'a>>(r: &mut R, t: TType, max_depth: usize) -> Result<(), CodecError> {
    skip_at(r, t, max_depth)
}

fn skip_at<'a, R: Reader<'a>>(r: &mut R, t: TType, depth: usize) -> Result<(), CodecError> {
    match t {
        TType::Bool => {
            r.bool()?;
        }
        TType::I8 => {
            r.i8()?;
        }
        TType::I16 => {
            r.i16()?;
        }
        TType::I32 => {
            r.i32()?;
        }
        TType::I64 => {
            r.i64()?;
        }
        TType::Double => {
            r.double()?;
        }
        TType::Binary => {
            r.bytes()?;
        }
        TType::Uuid => {
            r.uuid()?;
        }
        TType::Stop => return Err(CodecError::wire(R::NAME, "unexpected STOP type")),
        _ if depth == 0 => {
            return Err(CodecError::TooLarge {
                what: "nesting depth",
                size: u64::MAX,
                max: 0,
            });
        }
        TType::Struct => {
            let saved = r.struct_begin();
            while let Some((ft, _)) = r.field_begin()? {
                skip_at(r, ft, depth - 1)?;
            }
            r.struct_end(saved);
        }
        TType::List | TType::Set => {
            let (et, n) = r.list_begin()?;
            for _ in 0..n {
                skip_at(r, et, depth - 1)?;
            }
        }
        TType::Map => {
            let (kt, vt, n) = r.map_begin()?;
            for _ in 0..n {
                skip_at(r, kt, depth - 1)?;
                skip_at(r, vt, depth - 1)?;
            }
        }
    }
    Ok(())
}
