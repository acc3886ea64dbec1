//! Codec errors, by side: what the client sent (`Input`) or what the backend
//! sent (`Wire`, `Truncated`, `TooLarge`).

/// One codec failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The JSON (or an HTTP-bound value) does not fit the IDL type at `path`.
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    /// Bytes from the wire that are not a valid message of the expected shape.
    #[error("malformed {protocol} data: {message}")]
    Wire {
        protocol: &'static str,
        message: String,
    },
    /// The input ended in the middle of a value.
    #[error("truncated {protocol} data")]
    Truncated { protocol: &'static str },
    /// A length or count larger than allowed.
    #[error("{what} of {size} exceeds the limit of {max}")]
    TooLarge {
        what: &'static str,
        size: u64,
        max: u64,
    },
}

impl CodecError {
    pub(crate) fn wire(protocol: &'static str, message: impl Into<String>) -> Self {
        CodecError::Wire {
            protocol,
            message: message.into(),
        }
    }
    /// True when the error is about the client's input (an HTTP 400).
    pub fn is_input(&self) -> bool {
        matches!(self, CodecError::Input { .. })
    }
}
