//! The resolved, protocol-neutral schema: what every codec walks.
//!
//! Structs and enums live in arenas inside [`Schema`] and are referred to by
//! id, so recursive types need no reference counting and a [`Type`] is cheap
//! to copy around.

use std::collections::HashMap;

use crate::http::{Binding, BodyFormat, HttpRule};

/// Index of a struct, union or exception in [`Schema::structs`].
pub type StructId = u32;
/// Index of an enum in [`Schema::enums`].
pub type EnumId = u32;

/// A fully resolved type: typedefs are gone, names point into the arenas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    I8,
    I16,
    I32,
    I64,
    Double,
    String,
    Binary,
    Uuid,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>, Box<Type>),
    Struct(StructId),
    Enum(EnumId),
}

impl Type {
    /// Whether a map with this key type is a JSON object (keys as strings);
    /// other key types travel as an array of `[key, value]` pairs.
    pub fn is_object_key(&self) -> bool {
        matches!(
            self,
            Type::String
                | Type::Binary
                | Type::I8
                | Type::I16
                | Type::I32
                | Type::I64
                | Type::Enum(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructKind {
    Struct,
    Union,
    Exception,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requiredness {
    Required,
    Optional,
    /// Neither keyword: written when set, and filled from the IDL default when absent.
    Default,
}

/// Key/value annotations as written, in order (keys may repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations(pub Vec<(String, String)>);

impl Annotations {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub id: i16,
    pub name: String,
    /// The key this field has in JSON: `api.body`/`api.key`, a `go.tag` json name, else `name`.
    pub json_name: String,
    pub ty: Type,
    pub required: Requiredness,
    /// The IDL default as JSON text, fed to the same encoder as a request value.
    pub default: Option<Box<str>>,
    pub annotations: Annotations,
    /// Where the value comes from in an HTTP request (or goes in a response).
    pub binding: Binding,
    /// `api.js_conv`: this integer travels in JSON as a string.
    pub js_conv: bool,
    /// `api.vd`: the rule a request's value must pass.
    pub vd: Option<std::sync::Arc<crate::vd::Rule>>,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    /// Qualified name: `Name` in the main file, `include.Name` elsewhere.
    pub name: String,
    pub kind: StructKind,
    pub fields: Vec<Field>,
    pub annotations: Annotations,
    /// Whether absent fields need attention after a JSON object is read:
    /// some field has a default or is required, or this is a union.
    pub needs_fill: bool,
    by_id: FieldIndex,
    by_json: Option<HashMap<String, usize>>,
    /// Some field's JSON name differs from its IDL name (both are accepted).
    renamed: bool,
    /// Per field, `"json_name":` as JSON text, for the writers.
    json_keys: Vec<Box<[u8]>>,
}

/// Field lookup by wire id: a direct table for the usual small, dense ids.
#[derive(Debug, Clone)]
enum FieldIndex {
    Dense { min: i16, slots: Vec<u16> },
    Sparse(HashMap<i16, usize>),
}

const NO_FIELD: u16 = u16::MAX;
/// Structs with fewer fields than this are searched linearly by JSON key (no hashing).
const LINEAR_LOOKUP_MAX: usize = 12;

impl StructDef {
    pub fn new(
        name: String,
        kind: StructKind,
        fields: Vec<Field>,
        annotations: Annotations,
    ) -> Self {
        let min = fields.iter().map(|f| f.id).min().unwrap_or(0);
        let max = fields.iter().map(|f| f.id).max().unwrap_or(0);
        let by_id = if fields.is_empty() || (max as i32 - min as i32) < 1024 {
            let mut slots = vec![NO_FIELD; (max as i32 - min as i32 + 1).max(0) as usize];
            for (i, f) in fields.iter().enumerate() {
                slots[(f.id as i32 - min as i32) as usize] = i as u16;
            }
            FieldIndex::Dense { min, slots }
        } else {
            FieldIndex::Sparse(fields.iter().enumerate().map(|(i, f)| (f.id, i)).collect())
        };
        let by_json = (fields.len() > LINEAR_LOOKUP_MAX).then(|| {
            fields
                .iter()
                .enumerate()
                .flat_map(|(i, f)| [(f.json_name.clone(), i), (f.name.clone(), i)])
                .collect()
        });
        let needs_fill = kind == StructKind::Union
            || fields
                .iter()
                .any(|f| f.default.is_some() || f.required == Requiredness::Required);
        let renamed = fields.iter().any(|f| f.json_name != f.name);
        let json_keys = fields
            .iter()
            .map(|f| {
                let mut key = serde_json::to_vec(&f.json_name).unwrap_or_default();
                key.push(b':');
                key.into_boxed_slice()
            })
            .collect();
        StructDef {
            name,
            kind,
            fields,
            annotations,
            needs_fill,
            by_id,
            by_json,
            renamed,
            json_keys,
        }
    }

    /// Field `idx`'s JSON key with its colon, as JSON text (`"name":`).
    #[inline]
    pub fn json_key(&self, idx: usize) -> &[u8] {
        &self.json_keys[idx]
    }

    /// The index in `fields` of the field with this wire id.
    #[inline]
    pub fn field_by_id(&self, id: i16) -> Option<usize> {
        match &self.by_id {
            FieldIndex::Dense { min, slots } => {
                let i = (id as i32 - *min as i32) as usize;
                match slots.get(i) {
                    Some(&s) if s != NO_FIELD => Some(s as usize),
                    _ => None,
                }
            }
            FieldIndex::Sparse(m) => m.get(&id).copied(),
        }
    }

    /// The index of the field with this JSON key (its JSON name, or its IDL name).
    #[inline]
    pub fn field_by_json(&self, key: &str) -> Option<usize> {
        self.field_by_json_bytes(key.as_bytes())
    }

    /// [`StructDef::field_by_json`] for a key not yet checked to be UTF-8
    /// (a key that is not UTF-8 names no field).
    #[inline]
    pub fn field_by_json_bytes(&self, key: &[u8]) -> Option<usize> {
        match &self.by_json {
            Some(m) => m.get(std::str::from_utf8(key).ok()?).copied(),
            None => {
                let eq = |name: &str| name.as_bytes() == key;
                match self.fields.iter().position(|f| eq(&f.json_name)) {
                    Some(i) => Some(i),
                    None if self.renamed => self.fields.iter().position(|f| eq(&f.name)),
                    None => None,
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: String,
    pub values: Vec<(String, i32)>,
    pub annotations: Annotations,
    by_name: HashMap<String, i32>,
    by_value: HashMap<i32, usize>,
}

impl EnumDef {
    pub fn new(name: String, values: Vec<(String, i32)>) -> Self {
        let by_name = values.iter().map(|(n, v)| (n.clone(), *v)).collect();
        let mut by_value = HashMap::new();
        for (i, (_, v)) in values.iter().enumerate() {
            by_value.entry(*v).or_insert(i);
        }
        EnumDef {
            name,
            values,
            annotations: Annotations::default(),
            by_name,
            by_value,
        }
    }
    pub fn with_annotations(mut self, annotations: Annotations) -> Self {
        self.annotations = annotations;
        self
    }
    pub fn value_of(&self, name: &str) -> Option<i32> {
        self.by_name.get(name).copied()
    }
    pub fn name_of(&self, value: i32) -> Option<&str> {
        self.by_value
            .get(&value)
            .map(|&i| self.values[i].0.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Method {
    pub name: String,
    /// `{name}_args`: one field per argument, ids as declared.
    pub args: StructId,
    /// `{name}_result`: field 0 `success` (absent when void), then the declared exceptions.
    pub result: StructId,
    /// The result type; `None` for void.
    pub result_type: Option<Type>,
    pub oneway: bool,
    /// When the method's only argument is a struct, its index: the HTTP body is that struct's fields.
    pub body_struct_arg: Option<usize>,
    pub annotations: Annotations,
    /// HTTP routes from `api.get`/`api.post`/… annotations (empty when unannotated).
    pub http: Vec<HttpRule>,
    /// What a body that names no format is read as (`api.serializer`).
    pub body_format: BodyFormat,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Methods of this service and of every service it extends (base first, overrides last).
    pub methods: Vec<Method>,
    pub annotations: Annotations,
}

/// A named constant of the IDL, its value resolved as a field default is.
#[derive(Debug, Clone)]
pub struct Constant {
    /// Qualified name: `NAME` in the main file, `include.NAME` elsewhere.
    pub name: String,
    pub ty: Type,
    /// The value as JSON text, shaped as a request value of `ty` is.
    pub value: Box<str>,
}

/// Everything one IDL load produced, immutable once built and shared behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub structs: Vec<StructDef>,
    pub enums: Vec<EnumDef>,
    /// Services declared in the main file, in order.
    pub services: Vec<Service>,
    /// Every file the load read: the main file first, then includes.
    pub files: Vec<String>,
    /// Namespaces of the main file, `(scope, name)`.
    pub namespaces: Vec<(String, String)>,
    /// Constants of every file the load read (Thrift), in file and declaration order.
    pub consts: Vec<Constant>,
}

impl Schema {
    #[inline]
    pub fn struct_def(&self, id: StructId) -> &StructDef {
        &self.structs[id as usize]
    }
    #[inline]
    pub fn enum_def(&self, id: EnumId) -> &EnumDef {
        &self.enums[id as usize]
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
    /// The constant with this qualified name.
    pub fn constant(&self, name: &str) -> Option<&Constant> {
        self.consts.iter().find(|c| c.name == name)
    }
    pub fn struct_by_name(&self, name: &str) -> Option<StructId> {
        self.structs
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as StructId)
    }
    /// A readable name for a type, for error messages and docs.
    pub fn type_name(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "bool".into(),
            Type::I8 => "i8".into(),
            Type::I16 => "i16".into(),
            Type::I32 => "i32".into(),
            Type::I64 => "i64".into(),
            Type::Double => "double".into(),
            Type::String => "string".into(),
            Type::Binary => "binary".into(),
            Type::Uuid => "uuid".into(),
            Type::List(t) => format!("list<{}>", self.type_name(t)),
            Type::Set(t) => format!("set<{}>", self.type_name(t)),
            Type::Map(k, v) => format!("map<{},{}>", self.type_name(k), self.type_name(v)),
            Type::Struct(id) => self.struct_def(*id).name.clone(),
            Type::Enum(id) => self.enum_def(*id).name.clone(),
        }
    }
}
