//! Name resolution: the symbol table of each file, typedef chains, struct
//! fields and defaults, every constant, and services flattened through
//! `extends`.

use std::collections::HashMap;

use pilota_thrift_parser::{self as ast, Item};

use super::consts;
use super::load::{ParsedFile, line_of_ident};
use crate::http::{Binding, BodyFormat, field_binding, json_name, method_rules};
use crate::schema::*;
use crate::{IdlError, IdlErrors};

/// Typedef chains and const references deeper than this are treated as cycles.
const MAX_CHAIN: usize = 64;

#[derive(Clone, Copy)]
pub(crate) enum Sym<'a> {
    Struct(StructId),
    Enum(EnumId),
    Typedef(&'a ast::Typedef),
    Const(&'a ast::Constant),
    Service(&'a ast::Service),
}

pub(crate) struct Resolver<'a> {
    pub files: &'a [ParsedFile],
    tables: Vec<HashMap<&'a str, Sym<'a>>>,
    pub enums: Vec<EnumDef>,
    structs: Vec<StructDef>,
    /// Where each struct id was declared: (file, syntax), for defaults of struct type.
    pub struct_src: Vec<(usize, &'a ast::StructLike, StructKind)>,
    errors: Vec<IdlError>,
}

pub(crate) fn resolve(files: Vec<ParsedFile>) -> Result<Schema, IdlErrors> {
    let mut r = Resolver {
        files: &files,
        tables: Vec::new(),
        enums: Vec::new(),
        structs: Vec::new(),
        struct_src: Vec::new(),
        errors: Vec::new(),
    };
    // Pass 1: symbol tables; struct ids in declaration order; enums complete.
    let mut struct_src: Vec<(usize, &ast::StructLike, StructKind)> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        let mut table: HashMap<&str, Sym> = HashMap::new();
        for item in &f.ast.items {
            let (name, sym) = match item {
                Item::Struct(s) => (
                    s.name.as_str(),
                    r.new_struct(&mut struct_src, fi, s, StructKind::Struct),
                ),
                Item::Union(s) => (
                    s.name.as_str(),
                    r.new_struct(&mut struct_src, fi, s, StructKind::Union),
                ),
                Item::Exception(s) => (
                    s.name.as_str(),
                    r.new_struct(&mut struct_src, fi, s, StructKind::Exception),
                ),
                Item::Enum(e) => {
                    let id = r.enums.len() as EnumId;
                    let mut next = 0i64;
                    let mut values = Vec::new();
                    for v in &e.values {
                        let n = v.value.map(|c| c.0).unwrap_or(next);
                        if i32::try_from(n).is_err() {
                            r.error(
                                fi,
                                v.name.as_str(),
                                format!(
                                    "enum value {}.{} = {n} does not fit in i32",
                                    e.name.as_str(),
                                    v.name.as_str()
                                ),
                            );
                        }
                        values.push((v.name.to_string(), n as i32));
                        next = n + 1;
                    }
                    r.enums.push(
                        EnumDef::new(qualify(fi, f, e.name.as_str()), values)
                            .with_annotations(annotations(&e.annotations)),
                    );
                    (e.name.as_str(), Sym::Enum(id))
                }
                Item::Typedef(t) => (t.alias.as_str(), Sym::Typedef(t)),
                Item::Constant(c) => (c.name.as_str(), Sym::Const(c)),
                Item::Service(s) => (s.name.as_str(), Sym::Service(s)),
                _ => continue,
            };
            if table.insert(name, sym).is_some() {
                r.error(fi, name, format!("`{name}` is defined more than once"));
            }
        }
        r.tables.push(table);
    }
    // Pass 2: struct fields (types and defaults resolved in the declaring file).
    r.struct_src = struct_src.clone();
    for (fi, s, kind) in &struct_src {
        let name = qualify(*fi, &files[*fi], s.name.as_str());
        let fields = r.fields(*fi, &name, &s.fields);
        let def = StructDef::new(name, *kind, fields, annotations(&s.annotations));
        r.structs.push(def);
    }
    // Pass 3: every constant, checked against its type even when nothing
    // refers to it (as the Apache compiler does).
    let mut consts = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for item in &f.ast.items {
            let Item::Constant(c) = item else { continue };
            let name = c.name.as_str();
            let value = r
                .resolve_type(fi, &c.r#type, 0)
                .and_then(|ty| Ok((consts::to_json(&r, fi, &c.value, &ty, 0)?, ty)));
            match value {
                Ok((v, ty)) => consts.push(Constant {
                    name: qualify(fi, f, name),
                    ty,
                    value: v.to_string().into_boxed_str(),
                }),
                Err(e) => r.error(fi, name, format!("const {name}: {e}")),
            }
        }
    }
    // Pass 4: the main file's services, flattened through `extends`.
    let mut services = Vec::new();
    if let Some(main) = files.first() {
        for item in &main.ast.items {
            if let Item::Service(s) = item {
                let svc = r.service(0, s);
                services.push(svc);
            }
        }
    }
    let namespaces = files
        .first()
        .map(|f| {
            f.ast
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Namespace(n) => Some((
                        n.scope.0.clone(),
                        n.name
                            .segments
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join("."),
                    )),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !r.errors.is_empty() {
        return Err(IdlErrors(r.errors));
    }
    Ok(Schema {
        structs: r.structs,
        enums: r.enums,
        services,
        files: files.iter().map(|f| f.name.clone()).collect(),
        namespaces,
        consts,
    })
}

fn qualify(fi: usize, f: &ParsedFile, name: &str) -> String {
    if fi == 0 {
        name.to_string()
    } else {
        let base = f.name.rsplit('/').next().unwrap_or(&f.name);
        format!("{}.{}", base.strip_suffix(".thrift").unwrap_or(base), name)
    }
}

fn annotations(a: &ast::Annotations) -> Annotations {
    Annotations(
        a.iter()
            .map(|a| (a.key.clone(), a.value.0.clone()))
            .collect(),
    )
}

impl<'a> Resolver<'a> {
    fn new_struct(
        &mut self,
        src: &mut Vec<(usize, &'a ast::StructLike, StructKind)>,
        fi: usize,
        s: &'a ast::StructLike,
        kind: StructKind,
    ) -> Sym<'a> {
        let id = src.len() as StructId;
        src.push((fi, s, kind));
        Sym::Struct(id)
    }

    pub(crate) fn error(&mut self, fi: usize, near: &str, message: String) {
        let f = &self.files[fi];
        self.errors.push(IdlError {
            file: f.name.clone(),
            line: line_of_ident(&f.text, near),
            message,
        });
    }

    /// Looks a (possibly include-qualified) name up from file `fi`.
    pub(crate) fn lookup(&self, fi: usize, path: &[&str]) -> Option<(usize, Sym<'a>)> {
        match path {
            [name] => self.tables[fi].get(name).map(|s| (fi, *s)),
            [inc, name] => {
                let target = *self.files[fi].includes.get(*inc)?;
                self.tables[target].get(name).map(|s| (target, *s))
            }
            _ => None,
        }
    }

    pub(crate) fn resolve_type(
        &self,
        fi: usize,
        ty: &ast::Type,
        depth: usize,
    ) -> Result<Type, String> {
        Ok(match &ty.0 {
            ast::Ty::String => Type::String,
            ast::Ty::Binary => Type::Binary,
            ast::Ty::Bool => Type::Bool,
            ast::Ty::Byte | ast::Ty::I8 => Type::I8,
            ast::Ty::I16 => Type::I16,
            ast::Ty::I32 => Type::I32,
            ast::Ty::I64 => Type::I64,
            ast::Ty::Double => Type::Double,
            ast::Ty::Uuid => Type::Uuid,
            ast::Ty::Void => return Err("void is only allowed as a method result".into()),
            ast::Ty::List { value, .. } => {
                Type::List(Box::new(self.resolve_type(fi, value, depth)?))
            }
            ast::Ty::Set { value, .. } => Type::Set(Box::new(self.resolve_type(fi, value, depth)?)),
            ast::Ty::Map { key, value, .. } => Type::Map(
                Box::new(self.resolve_type(fi, key, depth)?),
                Box::new(self.resolve_type(fi, value, depth)?),
            ),
            ast::Ty::Path(p) => {
                let segs: Vec<&str> = p.segments.iter().map(|s| s.as_str()).collect();
                let name = segs.join(".");
                match self.lookup(fi, &segs) {
                    Some((_, Sym::Struct(id))) => Type::Struct(id),
                    Some((_, Sym::Enum(id))) => Type::Enum(id),
                    Some((tf, Sym::Typedef(t))) => {
                        if depth >= MAX_CHAIN {
                            return Err(format!("typedef `{name}` refers to itself"));
                        }
                        self.resolve_type(tf, &t.r#type, depth + 1)?
                    }
                    Some(_) => return Err(format!("`{name}` is not a type")),
                    None => return Err(format!("unknown type `{name}`")),
                }
            }
        })
    }

    fn fields(&mut self, fi: usize, owner: &str, fields: &[ast::Field]) -> Vec<Field> {
        let mut out: Vec<Field> = Vec::with_capacity(fields.len());
        for f in fields {
            let name = f.name.to_string();
            let ty = match self.resolve_type(fi, &f.ty, 0) {
                Ok(t) => t,
                Err(e) => {
                    self.error(fi, &name, format!("{owner}.{name}: {e}"));
                    continue;
                }
            };
            let Ok(id) = i16::try_from(f.id) else {
                self.error(
                    fi,
                    &name,
                    format!("{owner}.{name}: field id {} is out of range", f.id),
                );
                continue;
            };
            if out.iter().any(|o| o.id == id) {
                self.error(
                    fi,
                    &name,
                    format!("{owner}.{name}: field id {id} is used twice"),
                );
                continue;
            }
            let default = match &f.default {
                None => None,
                Some(v) => match consts::to_json(self, fi, v, &ty, 0) {
                    Ok(j) => Some(j.to_string().into_boxed_str()),
                    Err(e) => {
                        self.error(fi, &name, format!("{owner}.{name}: bad default value: {e}"));
                        None
                    }
                },
            };
            let annotations = annotations(&f.annotations);
            let binding = field_binding(&annotations, &name);
            if binding == Binding::RawUri && ty != Type::String {
                self.error(
                    fi,
                    &name,
                    format!("{owner}.{name}: api.raw_uri binds a string field only"),
                );
            }
            let vd =
                annotations
                    .get("api.vd")
                    .and_then(|rule| match crate::vd::Rule::parse(rule) {
                        Ok(r) => Some(std::sync::Arc::new(r)),
                        Err(e) => {
                            self.error(
                                fi,
                                &name,
                                format!("{owner}.{name}: api.vd \"{rule}\": {e}"),
                            );
                            None
                        }
                    });
            out.push(Field {
                vd,
                js_conv: annotations.get("api.js_conv").is_some_and(|v| v != "false"),
                id,
                json_name: json_name(&annotations, &name),
                binding,
                ty,
                required: match f.attribute {
                    ast::Attribute::Required => Requiredness::Required,
                    ast::Attribute::Optional => Requiredness::Optional,
                    ast::Attribute::Default => Requiredness::Default,
                },
                default,
                annotations,
                name,
            });
        }
        out
    }

    fn service(&mut self, fi: usize, s: &'a ast::Service) -> Service {
        let mut chain: Vec<(usize, &'a ast::Service)> = vec![(fi, s)];
        let (mut cf, mut cur) = (fi, s);
        while let Some(base) = &cur.extends {
            let segs: Vec<&str> = base.segments.iter().map(|s| s.as_str()).collect();
            match self.lookup(cf, &segs) {
                Some((bf, Sym::Service(b))) if chain.len() < MAX_CHAIN => {
                    if chain.iter().any(|(_, c)| std::ptr::eq(*c, b)) {
                        self.error(
                            cf,
                            cur.name.as_str(),
                            format!("service `{}` extends itself", cur.name.as_str()),
                        );
                        break;
                    }
                    chain.push((bf, b));
                    (cf, cur) = (bf, b);
                }
                _ => {
                    let name = segs.join(".");
                    self.error(
                        cf,
                        &name,
                        format!(
                            "service `{}` extends unknown service `{name}`",
                            cur.name.as_str()
                        ),
                    );
                    break;
                }
            }
        }
        let mut methods: Vec<Method> = Vec::new();
        for (f, svc) in chain.into_iter().rev() {
            for func in &svc.functions {
                if let Some(m) = self.method(f, svc.name.as_str(), func) {
                    methods.retain(|o| o.name != m.name);
                    methods.push(m);
                }
            }
        }
        Service {
            name: s.name.to_string(),
            methods,
            annotations: annotations(&s.annotations),
        }
    }

    fn method(&mut self, fi: usize, svc: &str, func: &ast::Function) -> Option<Method> {
        let name = func.name.to_string();
        let owner = format!("{svc}.{name}");
        let errors_before = self.errors.len();
        // Arguments are never "required" on the wire (pilota's parser marks
        // bare arguments required; Apache Thrift treats them as default).
        let mut args = self.fields(fi, &owner, &func.arguments);
        for a in &mut args {
            a.required = Requiredness::Default;
        }
        let result_type = match &func.result_type.0 {
            ast::Ty::Void => None,
            _ => match self.resolve_type(fi, &func.result_type, 0) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.error(fi, &name, format!("{owner}: result: {e}"));
                    None
                }
            },
        };
        let throws = self.fields(fi, &owner, &func.throws);
        if self.errors.len() != errors_before {
            return None;
        }
        for t in &throws {
            if !matches!(t.ty, Type::Struct(id) if self.structs[id as usize].kind == StructKind::Exception)
            {
                self.error(
                    fi,
                    &t.name,
                    format!("{owner}: throws `{}` which is not an exception", t.name),
                );
            }
        }
        if func.oneway && (result_type.is_some() || !throws.is_empty()) {
            self.error(
                fi,
                &name,
                format!("{owner}: a oneway method must return void and throw nothing"),
            );
        }
        let body_struct_arg = match args.as_slice() {
            [a] if matches!(a.ty, Type::Struct(_)) => Some(0),
            _ => None,
        };
        let mut result_fields = Vec::new();
        if let Some(t) = &result_type {
            result_fields.push(Field {
                id: 0,
                name: "success".into(),
                json_name: "success".into(),
                ty: t.clone(),
                required: Requiredness::Optional,
                default: None,
                annotations: Annotations::default(),
                binding: Default::default(),
                js_conv: false,
                vd: None,
            });
        }
        result_fields.extend(throws);
        let args_id = self.push_struct(format!("{owner}_args"), args);
        let result_id = self.push_struct(format!("{owner}_result"), result_fields);
        let annotations = annotations(&func.annotations);
        let body_format = BodyFormat::of(&annotations).unwrap_or_else(|e| {
            self.error(fi, &name, format!("{owner}: {e}"));
            BodyFormat::Json
        });
        Some(Method {
            body_format,
            http: method_rules(&annotations),
            name,
            args: args_id,
            result: result_id,
            result_type,
            oneway: func.oneway,
            body_struct_arg,
            annotations,
        })
    }

    fn push_struct(&mut self, name: String, fields: Vec<Field>) -> StructId {
        let id = self.structs.len() as StructId;
        self.structs.push(StructDef::new(
            name,
            StructKind::Struct,
            fields,
            Annotations::default(),
        ));
        id
    }
}
