//! IDL loading for kitegate.
//!
//! This crate turns IDL files into one immutable, fully resolved [`Schema`]:
//! services → methods → request/response types, with typedefs, enums, consts
//! and default values already resolved, and Kitex HTTP annotations read into
//! [`HttpRule`]s and field [`Binding`]s. It knows nothing of sockets, HTTP
//! servers or wire formats; codecs walk the [`Type`]s it produces.
//!
//! Thrift files are parsed with `pilota-thrift-parser` (a raw syntax tree per
//! file); loading includes, the symbol table and all resolution live here.
//!
//! ```
//! let files = idl::MemoryFiles::new([(
//!     "echo.thrift",
//!     "struct Req { 1: string msg = \"hi\" } service Echo { Req echo(1: Req req) (api.post = \"/echo\") }",
//! )]);
//! let schema = idl::thrift::load("echo.thrift", &files).unwrap();
//! let svc = &schema.services[0];
//! assert_eq!(svc.methods[0].name, "echo");
//! assert_eq!(svc.methods[0].http[0].path, "/echo");
//! ```

mod error;
mod files;
mod http;
pub mod proto;
mod schema;
pub mod thrift;
pub mod vd;

pub use error::{IdlError, IdlErrors};
pub use files::{DiskFiles, FileSource, MemoryFiles, normalize_path};
pub use http::{Binding, BodyFormat, HttpMethod, HttpRule};
pub use schema::{
    Annotations, Constant, EnumDef, EnumId, Field, Method, Requiredness, Schema, Service,
    StructDef, StructId, StructKind, Type,
};
