//! Reading, parsing and compiling `.proto` files with protox.
//!
//! Files are read and parsed here first, following imports depth first, so
//! that every syntax error, missing import and import cycle is reported with
//! its file and line before anything is compiled. protox then links the parsed
//! files (from memory: it never touches the disk itself), with our copies of
//! `google/api/{http,annotations}.proto` and its own well-known types behind
//! the user's files.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::{IdlError, IdlErrors};

/// Files kitegate ships so that users need not: proto name -> text.
const EMBEDDED: [(&str, &str); 4] = [
    (
        "google/api/http.proto",
        include_str!("google/api/http.proto"),
    ),
    (
        "google/api/annotations.proto",
        include_str!("google/api/annotations.proto"),
    ),
    (
        "google/api/httpbody.proto",
        include_str!("google/api/httpbody.proto"),
    ),
    // Hertz's options, imported by IDLs written for hz as "api.proto".
    ("api.proto", include_str!("api.proto")),
];

/// Whether kitegate supplies the file of that import name itself: the
/// well-known types and the `google/api` and Hertz files above.
pub fn supplied(name: &str) -> bool {
    name.starts_with("google/protobuf/") || EMBEDDED.iter().any(|(n, _)| *n == name)
}

/// Where imports are found.
pub(super) trait Lookup {
    /// The file an import name refers to, by the name errors should use.
    fn find(&self, import: &str) -> Option<String>;
    fn read(&self, found: &str) -> std::io::Result<String>;
}

pub(super) struct Compiled {
    pub pool: DescriptorPool,
    /// Display names of the user's files, main first.
    pub files: Vec<String>,
    /// Proto file name -> display name.
    pub display: HashMap<String, String>,
}

/// Loads `main` (proto name `main_name`, shown as `main_display`) and its imports.
pub(super) fn compile(
    main_name: &str,
    main_display: &str,
    main_text: &str,
    lookup: &dyn Lookup,
) -> Result<Compiled, IdlErrors> {
    let mut w = Walker {
        lookup,
        google: GoogleFileResolver::new(),
        parsed: HashMap::new(),
        display: HashMap::new(),
        order: Vec::new(),
        visited: HashSet::new(),
        stack: Vec::new(),
        errors: Vec::new(),
    };
    w.add(main_name.to_string(), main_display.to_string(), main_text);
    if !w.errors.is_empty() {
        return Err(IdlErrors(w.errors));
    }

    let mut chain = ChainFileResolver::new();
    chain.add(Parsed(w.parsed));
    chain.add(Embedded);
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true).include_source_info(true);
    if let Err(e) = compiler.open_file(main_name) {
        return Err(IdlErrors(vec![convert(&e, &w.display, None)]));
    }
    Ok(Compiled {
        pool: compiler.descriptor_pool(),
        files: w.order,
        display: w.display,
    })
}

struct Walker<'a> {
    lookup: &'a dyn Lookup,
    google: GoogleFileResolver,
    parsed: HashMap<String, File>,
    display: HashMap<String, String>,
    order: Vec<String>,
    visited: HashSet<String>,
    stack: Vec<String>,
    errors: Vec<IdlError>,
}

impl Walker<'_> {
    fn add(&mut self, name: String, display: String, text: &str) {
        self.visited.insert(name.clone());
        self.order.push(display.clone());
        self.display.insert(name.clone(), display.clone());
        let file = match File::from_source(&name, text) {
            Ok(f) => f,
            Err(e) => {
                self.errors.push(convert(&e, &self.display, Some(text)));
                return;
            }
        };
        self.stack.push(name.clone());
        let imports = file.file_descriptor_proto().dependency.clone();
        for (i, import) in imports.into_iter().enumerate() {
            let line = import_line(&file, i, &import);
            let mut fail = |message: String| {
                self.errors.push(IdlError {
                    file: display.clone(),
                    line,
                    message,
                })
            };
            if let Some(pos) = self.stack.iter().position(|s| *s == import) {
                let mut cycle: Vec<&str> = self.stack[pos..].iter().map(String::as_str).collect();
                cycle.push(&import);
                let message = format!("import cycle: {}", cycle.join(" -> "));
                fail(message);
                continue;
            }
            if self.visited.contains(&import) {
                continue;
            }
            if !is_canonical(&import) {
                fail(format!(
                    "import \"{import}\" must be a relative path without '.' or '..' segments"
                ));
                continue;
            }
            match self.lookup.find(&import) {
                Some(found) => match self.lookup.read(&found) {
                    Ok(text) => self.add(import, found, &text),
                    Err(e) => fail(format!("cannot read import \"{import}\": {e}")),
                },
                None if is_builtin(&self.google, &import) => {
                    self.visited.insert(import);
                }
                None => fail(format!("import \"{import}\" not found")),
            }
        }
        self.stack.pop();
        self.parsed.insert(name, file);
    }
}

/// protoc's rule for import names: relative, `/`-separated, no `.`/`..`/empty parts.
fn is_canonical(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

fn is_builtin(google: &GoogleFileResolver, name: &str) -> bool {
    EMBEDDED.iter().any(|(n, _)| *n == name) || google.open_file(name).is_ok()
}

/// 1-based line of the `i`th import of `file` (from protox's source info).
fn import_line(file: &File, i: usize, import: &str) -> usize {
    let from_info = file
        .file_descriptor_proto()
        .source_code_info
        .as_ref()
        .and_then(|sci| {
            sci.location
                .iter()
                .find(|l| l.path == [3, i as i32])
                .and_then(|l| l.span.first())
                .map(|&l| l as usize + 1)
        });
    from_info
        .or_else(|| {
            let text = file.source()?;
            let quoted = [format!("\"{import}\""), format!("'{import}'")];
            text.lines()
                .position(|l| quoted.iter().any(|q| l.contains(q.as_str())))
                .map(|n| n + 1)
        })
        .unwrap_or(0)
}

/// Turns a protox error into ours. protox exposes the file and message but
/// not the position; its `Debug` output is `file:line:col: message` whenever
/// the error has a position, so the line is read from there.
fn convert(err: &protox::Error, display: &HashMap<String, String>, text: Option<&str>) -> IdlError {
    let name = err.file().unwrap_or_default();
    let debug = format!("{err:?}");
    let mut line = debug
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if line == 0 && err.is_parse() {
        // Errors without a span are at the end of the file ("unexpected end of file").
        if let Some(text) = text {
            line = text.lines().count().max(1);
        }
    }
    let mut message = err.to_string();
    if err.is_parse()
        && message == "invalid group name"
        && let Some(import) = text.and_then(|t| import_on_line(t, line))
    {
        // protox-parse 0.10 reports a bad import name with the message of a bad group name.
        message = format!(
            "invalid import {import}: an import must be a relative path without backslashes or empty, '.' or '..' segments"
        );
    }
    IdlError {
        file: display
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string()),
        line,
        message,
    }
}

/// The quoted name of an `import` statement on 1-based `line` of `text`.
fn import_on_line(text: &str, line: usize) -> Option<&str> {
    let l = text.lines().nth(line.checked_sub(1)?)?.trim_start();
    let rest = l.strip_prefix("import")?;
    let open = rest.find(['"', '\''])?;
    let quote = rest[open..].chars().next()?;
    let close = rest[open + 1..].find(quote)?;
    Some(&rest[open..open + close + 2])
}

/// The files read and parsed by [`Walker`], handed to protox.
struct Parsed(HashMap<String, File>);

impl FileResolver for Parsed {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        let name = path.to_str()?;
        self.0.contains_key(name).then(|| name.to_string())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// Our copies of `google/api/http.proto`, `google/api/annotations.proto`,
/// `google/api/httpbody.proto` and Hertz's `api.proto`.
struct Embedded;

impl FileResolver for Embedded {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => File::from_source(n, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}
