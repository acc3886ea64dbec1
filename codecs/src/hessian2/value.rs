//! The owned tree a [`Reader`](super::Reader) decodes into and a
//! [`Writer`](super::Writer) can write back, and the per-stream table that
//! back-references resolve against.
//!
//! Lists, maps and objects sit behind an [`Arc`] so that the [`RefTable`] can
//! hold every one of them without copying; a back-reference is kept as
//! [`Value::Ref`] (an index into that table), never expanded, so cyclic data
//! such as a Java exception whose `cause` is itself stays finite.

use std::sync::Arc;

/// One Hessian 2.0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// 32-bit int (Java `int`, also `short` and `byte`).
    Int(i32),
    /// 64-bit long.
    Long(i64),
    /// Double (Java `float` travels as a double).
    Double(f64),
    String(String),
    Binary(Vec<u8>),
    /// A date: milliseconds since the Unix epoch, UTC.
    Date(i64),
    List(Arc<List>),
    Map(Arc<Map>),
    Object(Arc<Object>),
    /// Back-reference to the n-th list, map or object *started* in this stream
    /// (0-based); resolve it with [`Value::resolve`] or [`RefTable::get`].
    Ref(usize),
}

/// A list (Java array or collection).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    /// Java type, e.g. `[string`, `[int`, `java.util.LinkedList`; `None` for
    /// untyped lists (`ArrayList`).
    pub type_name: Option<Arc<str>>,
    pub items: Vec<Value>,
}

/// A map (Java `Map`), entries in wire order; keys may repeat on the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    /// Java type, e.g. `java.util.TreeMap`; `None` for untyped maps (`HashMap`).
    pub type_name: Option<Arc<str>>,
    pub entries: Vec<(Value, Value)>,
}

/// A class definition: the Java class name and its field names in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassDef {
    pub name: String,
    pub fields: Vec<String>,
}

impl ClassDef {
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        ClassDef {
            name: name.into(),
            fields: fields.into_iter().map(Into::into).collect(),
        }
    }
}

/// An object: one value per field of its class definition, in definition
/// order (`values.len() == class.fields.len()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Shared by every instance of the same definition in a stream.
    pub class: Arc<ClassDef>,
    pub values: Vec<Value>,
}

impl Object {
    /// The Java class name.
    pub fn class_name(&self) -> &str {
        &self.class.name
    }

    /// The value of field `name` (the first one, should a definition repeat a name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.class.fields.iter().position(|f| f == name)?;
        self.values.get(i)
    }

    /// `(field name, value)` pairs in definition order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.class
            .fields
            .iter()
            .map(String::as_str)
            .zip(self.values.iter())
    }
}

// === impl Value ===

impl Value {
    /// A list value; `type_name` `None` is an untyped list.
    pub fn list(type_name: Option<&str>, items: Vec<Value>) -> Value {
        Value::List(Arc::new(List {
            type_name: type_name.map(Arc::from),
            items,
        }))
    }

    /// A map value; `type_name` `None` is an untyped map.
    pub fn map(type_name: Option<&str>, entries: Vec<(Value, Value)>) -> Value {
        Value::Map(Arc::new(Map {
            type_name: type_name.map(Arc::from),
            entries,
        }))
    }

    /// An object value; `values` must have one entry per field of `class`.
    pub fn object(class: Arc<ClassDef>, values: Vec<Value>) -> Value {
        Value::Object(Arc::new(Object { class, values }))
    }

    /// The value a [`Value::Ref`] points to, else `self`. `None` when the
    /// reference is not in `refs` (or its value never finished decoding).
    /// Never recurses: the table holds lists, maps and objects only.
    pub fn resolve<'v>(&'v self, refs: &'v RefTable) -> Option<&'v Value> {
        match self {
            Value::Ref(n) => refs.get(*n),
            v => Some(v),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An `Int` or a `Long`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(i64::from(*v)),
            Value::Long(v) => Some(*v),
            _ => None,
        }
    }

    /// A `Double`, or an `Int`/`Long` converted (as Java's `readDouble` does).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(v) => Some(*v),
            Value::Int(v) => Some(f64::from(*v)),
            Value::Long(v) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

// === impl RefTable ===

/// The lists, maps and objects of one stream, indexed by order of their start:
/// what `Value::Ref(n)` points to.
#[derive(Debug, Clone, Default)]
pub struct RefTable {
    /// `None` while the value is still being decoded.
    slots: Vec<Option<Value>>,
}

impl RefTable {
    /// Number of lists, maps and objects started so far.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Value #n (a `List`, `Map` or `Object`), if it exists and has finished decoding.
    pub fn get(&self, n: usize) -> Option<&Value> {
        self.slots.get(n)?.as_ref()
    }

    /// Reserves the next index for a value whose decoding starts now.
    pub(super) fn start(&mut self) -> usize {
        self.slots.push(None);
        self.slots.len() - 1
    }

    pub(super) fn finish(&mut self, n: usize, v: &Value) {
        if let Some(slot) = self.slots.get_mut(n) {
            *slot = Some(v.clone());
        }
    }
}
