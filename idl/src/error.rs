//! IDL errors: every problem found while loading, each with its file and line.

use std::fmt;

/// One problem in an IDL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct IdlError {
    /// The file, as it was named when loaded (relative to the upload or as given on disk).
    pub file: String,
    /// 1-based line; 0 when the problem has no single place (a missing main file).
    pub line: usize,
    pub message: String,
}

/// Every problem found in one load; loading fails only after all were collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdlErrors(pub Vec<IdlError>);

impl fmt::Display for IdlErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for IdlErrors {}

impl IdlErrors {
    pub fn single(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        IdlErrors(vec![IdlError {
            file: file.into(),
            line,
            message: message.into(),
        }])
    }
}
