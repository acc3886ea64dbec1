//! Reading and parsing files, following includes depth first; missing
//! includes and include cycles are reported at the include's line.

use std::collections::HashMap;

use pilota_thrift_parser::{File, FileParser, FileSource as PilotaSource, Item};

use crate::{FileSource, IdlError, IdlErrors};

pub(crate) struct ParsedFile {
    pub name: String,
    pub text: String,
    pub ast: File,
    /// Include alias (file stem) -> index into the loaded files.
    pub includes: HashMap<String, usize>,
}

pub(crate) fn load_all(main: &str, source: &dyn FileSource) -> Result<Vec<ParsedFile>, IdlErrors> {
    let mut loader = Loader {
        source,
        files: Vec::new(),
        index: HashMap::new(),
        stack: Vec::new(),
        errors: Vec::new(),
    };
    match source.resolve(None, main) {
        Some(name) => {
            loader.load(&name);
        }
        None => loader.errors.push(IdlError {
            file: main.to_string(),
            line: 0,
            message: "file not found".into(),
        }),
    }
    if loader.errors.is_empty() {
        Ok(loader.files.into_iter().map(Option::unwrap).collect())
    } else {
        Err(IdlErrors(loader.errors))
    }
}

struct Loader<'a> {
    source: &'a dyn FileSource,
    files: Vec<Option<ParsedFile>>,
    index: HashMap<String, usize>,
    stack: Vec<String>,
    errors: Vec<IdlError>,
}

impl Loader<'_> {
    fn load(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        let text = match self.source.read(name) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(IdlError {
                    file: name.to_string(),
                    line: 0,
                    message: format!("cannot read file: {e}"),
                });
                return None;
            }
        };
        let ast = match FileParser::new(PilotaSource::new(&text)).parse() {
            Ok(ast) => ast,
            Err(e) => {
                self.errors.extend(syntax_errors(name, &e));
                return None;
            }
        };
        let idx = self.files.len();
        self.files.push(None);
        self.index.insert(name.to_string(), idx);
        self.stack.push(name.to_string());

        let mut includes = HashMap::new();
        for item in &ast.items {
            let Item::Include(inc) = item else { continue };
            let path = inc.path.0.as_str();
            let line = line_of(&text, &format!("\"{path}\""));
            let Some(target) = self.source.resolve(Some(name), path) else {
                self.errors.push(IdlError {
                    file: name.to_string(),
                    line,
                    message: format!("include \"{path}\" not found"),
                });
                continue;
            };
            if let Some(pos) = self.stack.iter().position(|s| *s == target) {
                let mut cycle: Vec<&str> = self.stack[pos..].iter().map(String::as_str).collect();
                cycle.push(&target);
                self.errors.push(IdlError {
                    file: name.to_string(),
                    line,
                    message: format!("include cycle: {}", cycle.join(" -> ")),
                });
                continue;
            }
            if let Some(i) = self.load(&target) {
                includes.insert(stem(path).to_string(), i);
            }
        }
        self.stack.pop();
        self.files[idx] = Some(ParsedFile {
            name: name.to_string(),
            text,
            ast,
            includes,
        });
        Some(idx)
    }
}

/// The alias an include is referred to by: its file name without directory and `.thrift`.
fn stem(path: &str) -> &str {
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    base.strip_suffix(".thrift").unwrap_or(base)
}

/// Turns pilota's syntax error summary ("... at line 3:5 - reason", or a
/// numbered list of "Line 3:5 - reason") into one error per problem, free of
/// the terminal escape codes of its full report.
fn syntax_errors(file: &str, err: &pilota_thrift_parser::Error) -> Vec<IdlError> {
    let summary = match err {
        pilota_thrift_parser::Error::Syntax { summary, .. } => summary.to_string(),
        other => other.to_string(),
    };
    // Each problem reads "line L:C - reason"; reasons may span lines.
    let lower = summary.to_ascii_lowercase();
    let mut marks = Vec::new();
    let mut from = 0;
    while let Some(off) = lower[from..].find("line ") {
        let at = from + off + 5;
        let digits = lower[at..].chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && lower[at + digits..].starts_with(':') {
            marks.push((
                from + off,
                lower[at..at + digits].parse::<usize>().unwrap_or(0),
            ));
        }
        from = at;
    }
    let mut out = Vec::new();
    for (i, (pos, line)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map(|m| m.0).unwrap_or(summary.len());
        let chunk = &summary[*pos..end];
        let mut reason = chunk.split_once(" - ").map(|(_, r)| r).unwrap_or(chunk);
        if i + 1 < marks.len()
            && let Some(cut) = reason.rfind("\n  ")
        {
            reason = &reason[..cut];
        }
        out.push(IdlError {
            file: file.to_string(),
            line: *line,
            message: format!(
                "syntax error: {}",
                strip_ansi(reason.trim()).replace('\n', "\\n")
            ),
        });
    }
    if out.is_empty() {
        out.push(IdlError {
            file: file.to_string(),
            line: 0,
            message: format!("syntax error: {}", strip_ansi(&summary)),
        });
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// 1-based line of the first occurrence of `needle` outside comments (0 when absent).
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
    for (line, l) in (1..).zip(text.split('\n')) {
        let code = l.split("//").next().unwrap_or(l);
        let code = code.split('#').next().unwrap_or(code);
        if code.contains(needle) {
            return line;
        }
    }
    0
}

/// 1-based line where `ident` first appears as a whole word (0 when absent).
pub(crate) fn line_of_ident(text: &str, ident: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    for (n, l) in text.split('\n').enumerate() {
        let code = l.split("//").next().unwrap_or(l);
        let mut start = 0;
        while let Some(off) = code[start..].find(ident) {
            let at = start + off;
            let before = code[..at].chars().next_back();
            let after = code[at + ident.len()..].chars().next();
            if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
                return n + 1;
            }
            start = at + ident.len();
        }
    }
    0
}
