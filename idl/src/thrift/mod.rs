//! Thrift IDL loading: parse each file with pilota-thrift-parser, follow
//! includes, then resolve names, typedefs, enums, consts and defaults into a
//! [`Schema`]. Every problem is collected with its file and line before the
//! load fails.

mod consts;
mod load;
mod resolve;

use std::path::{Path, PathBuf};

use crate::{DiskFiles, FileSource, IdlErrors, Schema};

/// Loads `main` and everything it includes from `files`.
pub fn load(main: &str, files: &dyn FileSource) -> Result<Schema, IdlErrors> {
    let parsed = load::load_all(main, files)?;
    resolve::resolve(parsed)
}

/// Loads a file from disk, finding includes next to each file and then in `include_dirs`.
pub fn load_path(main: impl AsRef<Path>, include_dirs: &[PathBuf]) -> Result<Schema, IdlErrors> {
    let main = main.as_ref().to_string_lossy().into_owned();
    load(&main, &DiskFiles::new(include_dirs.iter().cloned()))
}

#[cfg(test)]
mod tests;
