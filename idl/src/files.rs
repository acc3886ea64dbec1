//! Where IDL text comes from: the file system (with include directories) or an
//! in-memory set of files (an upload). Includes resolve through the same trait.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// A set of IDL files that includes are resolved against.
pub trait FileSource {
    /// Resolves `include` written in file `from` to a canonical file name,
    /// or `None` when no such file exists in this source.
    fn resolve(&self, from: Option<&str>, include: &str) -> Option<String>;
    /// Reads a file by the canonical name that [`FileSource::resolve`] returned.
    fn read(&self, name: &str) -> std::io::Result<String>;
}

/// Files on disk: includes are looked up next to the including file, then in
/// each include directory in order (as the Thrift compiler's `-I` does).
#[derive(Debug, Clone, Default)]
pub struct DiskFiles {
    pub include_dirs: Vec<PathBuf>,
}

impl DiskFiles {
    pub fn new(include_dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        DiskFiles {
            include_dirs: include_dirs.into_iter().collect(),
        }
    }
}

impl FileSource for DiskFiles {
    fn resolve(&self, from: Option<&str>, include: &str) -> Option<String> {
        let inc = Path::new(include);
        let mut candidates = Vec::new();
        match from {
            None => candidates.push(inc.to_path_buf()),
            Some(from) => {
                if inc.is_absolute() {
                    candidates.push(inc.to_path_buf());
                } else {
                    let dir = Path::new(from).parent().unwrap_or(Path::new(""));
                    candidates.push(dir.join(inc));
                    candidates.extend(self.include_dirs.iter().map(|d| d.join(inc)));
                }
            }
        }
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .map(|p| normalize_path(&p).to_string_lossy().into_owned())
    }

    fn read(&self, name: &str) -> std::io::Result<String> {
        std::fs::read_to_string(name)
    }
}

/// An in-memory set of files keyed by relative path (an upload). Includes
/// resolve against the set only; a path that climbs out of it or is absolute
/// never resolves.
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: HashMap<String, String>,
}

impl MemoryFiles {
    pub fn new<K: Into<String>, V: Into<String>>(files: impl IntoIterator<Item = (K, V)>) -> Self {
        let files = files
            .into_iter()
            .filter_map(|(k, v)| Some((clean_relative(&k.into())?, v.into())))
            .collect();
        MemoryFiles { files }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

impl FileSource for MemoryFiles {
    fn resolve(&self, from: Option<&str>, include: &str) -> Option<String> {
        let joined = match from {
            Some(from) => match from.rfind('/') {
                Some(i) => format!("{}/{}", &from[..i], include),
                None => include.to_string(),
            },
            None => include.to_string(),
        };
        let name = clean_relative(&joined)?;
        if self.files.contains_key(&name) {
            return Some(name);
        }
        // Fall back to the upload's root, as an include dir of "." would.
        let name = clean_relative(include)?;
        self.files.contains_key(&name).then_some(name)
    }

    fn read(&self, name: &str) -> std::io::Result<String> {
        self.files
            .get(name)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name.to_string()))
    }
}

/// Normalizes a relative path ("a/./b/../c" -> "a/c"); `None` when it is
/// absolute or climbs above its root.
pub(crate) fn clean_relative(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Lexically normalizes a path ("a/./b/../c" -> "a/c") without touching the
/// file system: a leading ".." stays, and ".." at the root is the root.
pub fn normalize_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_path_is_lexical() {
        for (p, want) in [
            ("a/./b/../c", "a/c"),
            ("../../x", "../../x"),
            ("a/../../x", "../x"),
            ("/../x", "/x"),
            ("./a/", "a"),
        ] {
            assert_eq!(normalize_path(Path::new(p)), Path::new(want), "{p}");
        }
    }

    #[test]
    fn memory_includes_stay_inside_the_upload() {
        let files = MemoryFiles::new([
            ("a/main.thrift", ""),
            ("a/base.thrift", ""),
            ("x.thrift", ""),
        ]);
        assert_eq!(
            files
                .resolve(Some("a/main.thrift"), "base.thrift")
                .as_deref(),
            Some("a/base.thrift")
        );
        assert_eq!(
            files
                .resolve(Some("a/main.thrift"), "../x.thrift")
                .as_deref(),
            Some("x.thrift")
        );
        assert_eq!(files.resolve(Some("a/main.thrift"), "../../x.thrift"), None);
        assert_eq!(files.resolve(Some("a/main.thrift"), "/etc/passwd"), None);
    }
}
