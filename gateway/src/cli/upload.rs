//! The upload of `register`: finds every file a main IDL includes or imports
//! on disk, as the gateway would resolve them, and names each inside the
//! upload so that the server resolves every include to the same file.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use idl::{FileSource, MemoryFiles};

use super::Failure;

pub(super) fn main_file(p: &Path) -> Result<String, Failure> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(p.to_string_lossy().into_owned()),
        Ok(_) => Err(Failure::Usage(format!("{} is not a file", p.display()))),
        Err(e) => Err(Failure::Usage(format!(
            "cannot read {}: {}",
            p.display(),
            io_reason(&e)
        ))),
    }
}

fn builtin_proto(import: &str) -> bool {
    idl::proto::supplied(import)
}

pub(super) fn check_dirs(dirs: &[PathBuf]) -> Result<(), Failure> {
    for d in dirs {
        if !d.is_dir() {
            return Err(Failure::Usage(format!(
                "--include-dir {}: no such directory",
                d.display()
            )));
        }
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Where a resolved include was found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// Next to the including file (or an absolute path).
    Beside,
    /// In an include directory.
    IncludeDir,
}

#[derive(Debug)]
struct Edge {
    from: String,
    include: String,
    found: Option<(String, Via)>,
}

/// An include that was not found.
pub(super) struct Miss {
    pub(super) file: String,
    pub(super) line: usize,
    pub(super) include: String,
    tried: Vec<String>,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: include \"{}\" of {} not found next to it or in --include-dir (looked for {})",
            self.file,
            self.line,
            self.include,
            self.file,
            self.tried.join(", ")
        )
    }
}

/// Files on disk, resolved as `idl::DiskFiles` does (next to the including
/// file, then each include directory in order), recording every include it
/// was asked about and every file it read.
pub(super) struct Collector {
    include_dirs: Vec<PathBuf>,
    edges: RefCell<Vec<Edge>>,
    texts: RefCell<HashMap<String, String>>,
}

impl Collector {
    pub(super) fn new(include_dirs: &[PathBuf]) -> Collector {
        Collector {
            include_dirs: include_dirs.to_vec(),
            edges: RefCell::new(Vec::new()),
            texts: RefCell::new(HashMap::new()),
        }
    }

    fn candidates(&self, from: Option<&str>, include: &str) -> Vec<(PathBuf, Via)> {
        let inc = Path::new(include);
        match from {
            None => vec![(inc.to_path_buf(), Via::Beside)],
            Some(_) if inc.is_absolute() => vec![(inc.to_path_buf(), Via::Beside)],
            Some(from) => {
                let dir = Path::new(from).parent().unwrap_or(Path::new(""));
                let mut c = vec![(dir.join(inc), Via::Beside)];
                c.extend(
                    self.include_dirs
                        .iter()
                        .map(|d| (d.join(inc), Via::IncludeDir)),
                );
                c
            }
        }
    }

    pub(super) fn misses(&self) -> Vec<Miss> {
        let texts = self.texts.borrow();
        self.edges
            .borrow()
            .iter()
            // The gateway supplies the well-known types, google/api/{annotations,http,httpbody}.proto and api.proto.
            .filter(|e| e.found.is_none() && !builtin_proto(&e.include))
            .map(|e| Miss {
                file: e.from.clone(),
                line: texts
                    .get(&e.from)
                    .map_or(0, |t| line_of(t, &format!("\"{}\"", e.include))),
                include: e.include.clone(),
                tried: self
                    .candidates(Some(&e.from), &e.include)
                    .into_iter()
                    .map(|(p, _)| idl::normalize_path(&p).to_string_lossy().into_owned())
                    .collect(),
            })
            .collect()
    }
}

impl FileSource for Collector {
    fn resolve(&self, from: Option<&str>, include: &str) -> Option<String> {
        let found = self
            .candidates(from, include)
            .into_iter()
            .find(|(p, _)| p.is_file())
            .map(|(p, via)| (idl::normalize_path(&p).to_string_lossy().into_owned(), via));
        if let Some(from) = from {
            self.edges.borrow_mut().push(Edge {
                from: from.to_string(),
                include: include.to_string(),
                found: found.clone(),
            });
        }
        found.map(|(name, _)| name)
    }

    fn read(&self, name: &str) -> std::io::Result<String> {
        let t = std::fs::read_to_string(name)?;
        self.texts.borrow_mut().insert(name.to_string(), t.clone());
        Ok(t)
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(0, |at| text[..at].matches('\n').count() + 1)
}

/// What `register` uploads: the main file's name and every file by its name in the upload.
pub(super) struct Upload {
    pub(super) main: String,
    pub(super) files: BTreeMap<String, String>,
}

/// Which tree a file's upload name is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tree {
    /// The main file's directory.
    Main,
    /// The root of the upload, where files found in include directories go
    /// under their include string.
    Root,
}

type Key = (Tree, Vec<String>);

/// `base` joined with the relative path `rel`, lexically; leading ".." kept.
fn join_rel(base: &[String], rel: &str) -> Option<Vec<String>> {
    let mut out = base.to_vec();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else {
                    out.push("..".into());
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn climbs(comps: &[String]) -> usize {
    comps.iter().take_while(|c| *c == "..").count()
}

/// Loads the IDL locally to find every file it includes, then names each
/// file inside the upload so that the server resolves every include to the
/// same file: files below the main file's directory by their path relative
/// to it, files found through an include directory by their include string
/// (the server looks there when a path relative to the including file
/// misses).
pub(super) fn collect_upload(idl: &Path, include_dirs: &[PathBuf]) -> Result<Upload, Failure> {
    let main = main_file(idl)?;
    check_dirs(include_dirs)?;
    let source = Collector::new(include_dirs);
    // Problems other than missing includes are the server's to report (422),
    // from the files as uploaded.
    if main.ends_with(".proto") {
        let _ = idl::proto::load(&main, &source);
    } else {
        let _ = idl::thrift::load(&main, &source);
    }
    let misses = source.misses();
    if !misses.is_empty() {
        let lines: Vec<String> = misses.iter().map(|m| m.to_string()).collect();
        return Err(Failure::Usage(lines.join("\n")));
    }
    let edges = source.edges.into_inner();
    let texts = source.texts.into_inner();
    let main_disk = idl::normalize_path(Path::new(&main))
        .to_string_lossy()
        .into_owned();
    if !texts.contains_key(&main_disk) {
        return Err(Failure::Usage(format!("cannot read {main}")));
    }

    let mut by_from: HashMap<&str, Vec<&Edge>> = HashMap::new();
    for e in &edges {
        by_from.entry(e.from.as_str()).or_default().push(e);
    }
    let base_name = Path::new(&main_disk)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| main_disk.clone());
    let start: Key = (Tree::Main, vec![base_name]);
    let mut names: HashMap<Key, String> = HashMap::new(); // key -> disk file
    names.insert(start.clone(), main_disk.clone());
    let mut links: Vec<(Key, String, Key)> = Vec::new();
    let mut queue = VecDeque::from([(start.clone(), main_disk.clone())]);
    while let Some((key, disk)) = queue.pop_front() {
        for e in by_from.get(disk.as_str()).into_iter().flatten() {
            let Some((target, via)) = &e.found else {
                continue;
            };
            let outside = || {
                Failure::Usage(format!(
                    "include \"{}\" of {} points outside the directories that can be uploaded; \
                     pass the directory holding it as --include-dir and include it by a path below that",
                    e.include, e.from
                ))
            };
            let tkey: Key = match via {
                Via::Beside => {
                    let dir = &key.1[..key.1.len() - 1];
                    let comps = join_rel(dir, &e.include).ok_or_else(outside)?;
                    if key.0 == Tree::Root && climbs(&comps) > 0 {
                        return Err(outside());
                    }
                    (key.0, comps)
                }
                Via::IncludeDir => {
                    let comps = join_rel(&[], &e.include).ok_or_else(outside)?;
                    if climbs(&comps) > 0 {
                        return Err(outside());
                    }
                    (Tree::Root, comps)
                }
            };
            links.push((key.clone(), e.include.clone(), tkey.clone()));
            match names.get(&tkey) {
                Some(d) if d == target => {}
                Some(d) => return Err(same_name(&tkey.1.join("/"), d, target)),
                None => {
                    names.insert(tkey.clone(), target.clone());
                    queue.push_back((tkey, target.clone()));
                }
            }
        }
    }

    // Files reached through "../" from the main file: root the upload higher up.
    let up = names
        .keys()
        .filter(|k| k.0 == Tree::Main)
        .map(|k| climbs(&k.1))
        .max()
        .unwrap_or(0);
    let mut prefix: Vec<String> = Vec::new();
    if up > 0 {
        let abs = std::path::absolute(&main_disk)
            .map_err(|e| Failure::Usage(format!("cannot resolve {main}: {e}")))?;
        let dirs: Vec<String> = idl::normalize_path(abs.parent().unwrap_or(Path::new("/")))
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if dirs.len() < up {
            return Err(Failure::Usage(format!(
                "{main} includes files above the file system root"
            )));
        }
        prefix = dirs[dirs.len() - up..].to_vec();
    }
    let final_name = |k: &Key| -> String {
        match k.0 {
            Tree::Main => join_rel(&prefix, &k.1.join("/"))
                .unwrap_or_default()
                .join("/"),
            Tree::Root => k.1.join("/"),
        }
    };

    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut disk_of: HashMap<String, String> = HashMap::new();
    for (k, disk) in &names {
        let name = final_name(k);
        if let Some(other) = disk_of.get(&name) {
            if !same_file(other, disk) {
                return Err(same_name(&name, other, disk));
            }
            continue;
        }
        let text = texts
            .get(disk)
            .cloned()
            .map_or_else(|| std::fs::read_to_string(disk), Ok)
            .map_err(|e| Failure::Usage(format!("cannot read {disk}: {}", io_reason(&e))))?;
        disk_of.insert(name.clone(), disk.clone());
        files.insert(name, text);
    }

    // The server resolves includes in the upload like this; check that each
    // lands on the file found on disk.
    let mem = MemoryFiles::new(files.keys().map(|k| (k.clone(), String::new())));
    for (from, inc, to) in &links {
        let (from, want) = (final_name(from), final_name(to));
        let got = mem.resolve(Some(&from), inc);
        if got.as_deref() != Some(want.as_str()) {
            return Err(Failure::Usage(format!(
                "cannot upload {main}: on the server, include \"{inc}\" of {from} would find {} instead of {} ({}); \
                 rename one of the files",
                got.as_deref().unwrap_or("nothing"),
                want,
                disk_of.get(&want).map(String::as_str).unwrap_or("?"),
            )));
        }
    }
    Ok(Upload {
        main: final_name(&start),
        files,
    })
}

fn same_file(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn same_name(name: &str, a: &str, b: &str) -> Failure {
    Failure::Usage(format!(
        "cannot upload: two different files would both be named {name} in the upload ({a} and {b}); \
         rename one of them or include them by distinct paths"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("kitegate-cli-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&p).ok();
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn upload_names_follow_the_servers_resolution() {
        let d = tmp("names");
        write(
            &d.join("a/main.thrift"),
            "include \"sub/x.thrift\"\ninclude \"t.thrift\"\nstruct M { 1: x.X a 2: t.T b }",
        );
        write(
            &d.join("a/sub/x.thrift"),
            "include \"y.thrift\"\ninclude \"t.thrift\"\nstruct X { 1: y.Y y }",
        );
        write(&d.join("a/sub/y.thrift"), "struct Y {}");
        write(
            &d.join("inc/t.thrift"),
            "include \"u.thrift\"\nstruct T { 1: u.U u }",
        );
        write(&d.join("inc/u.thrift"), "struct U {}");
        let up = collect_upload(&d.join("a/main.thrift"), &[d.join("inc")])
            .ok()
            .unwrap();
        assert_eq!(up.main, "main.thrift");
        let names: Vec<&str> = up.files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "main.thrift",
                "sub/x.thrift",
                "sub/y.thrift",
                "t.thrift",
                "u.thrift"
            ]
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn parent_includes_root_the_upload_higher() {
        let d = tmp("parent");
        write(
            &d.join("p/svc/main.thrift"),
            "include \"../common/c.thrift\"\nstruct M { 1: c.C c }",
        );
        write(&d.join("p/common/c.thrift"), "struct C {}");
        let up = collect_upload(&d.join("p/svc/main.thrift"), &[])
            .ok()
            .unwrap();
        assert_eq!(up.main, "svc/main.thrift");
        let names: Vec<&str> = up.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["common/c.thrift", "svc/main.thrift"]);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn missing_include_is_named() {
        let d = tmp("missing");
        write(&d.join("main.thrift"), "\ninclude \"base.thrift\"\n");
        let Err(Failure::Usage(m)) = collect_upload(&d.join("main.thrift"), &[]) else {
            panic!("expected a usage error")
        };
        assert!(m.contains(":2: include \"base.thrift\" of "), "{m}");
        assert!(
            m.contains("not found next to it or in --include-dir"),
            "{m}"
        );
        std::fs::remove_dir_all(&d).ok();
    }
}
