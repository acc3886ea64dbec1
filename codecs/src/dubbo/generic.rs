//! Dubbo generic invocation: `$invoke(String method, String[] types,
//! Object[] args)` with attachment `generic=true`, as Dubbo's
//! `GenericService` is called (dubbo `rpc/service/GenericService.java`).
//! JSON arguments are written as Hessian by their JSON shape (objects as
//! maps, which the provider's `PojoUtils` turns into the declared types).

use serde_json::Value as Json;

use super::{Invocation, begin_request, finish_request};
use crate::CodecError;
use crate::dubbo::mapping::write_generic;

/// The generic method's name.
pub const GENERIC_METHOD: &str = "$invoke";
/// Its JVM parameter descriptor.
pub const GENERIC_DESCRIPTOR: &str = "Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;";

/// One generic call: the real method, its Java parameter types (none: the
/// provider resolves by name), and its arguments.
#[derive(Debug, Clone, Copy)]
pub struct GenericCall<'a> {
    pub method: &'a str,
    pub types: Option<&'a [String]>,
    pub args: &'a [Json],
}

/// Appends the whole request frame of a generic call on `interface`
/// (`inv.method` and `inv.descriptor` are replaced by the generic ones);
/// an argument that cannot be written fails with `$.args[i]` in its path.
pub fn encode_generic_request(
    inv: &Invocation<'_>,
    id: u64,
    call: &GenericCall<'_>,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let inv = Invocation {
        method: GENERIC_METHOD,
        descriptor: GENERIC_DESCRIPTOR,
        ..inv.clone()
    };
    let (start, mut w) = begin_request(&inv, out);
    w.write_string(call.method);
    match call.types {
        Some(t) => {
            w.begin_list(Some("[string"), Some(t.len()));
            for ty in t {
                w.write_string(ty);
            }
        }
        None => w.write_null(),
    }
    w.begin_list(Some("[object"), Some(call.args.len()));
    for (i, a) in call.args.iter().enumerate() {
        write_generic(&mut w, a, 0).map_err(|e| match e {
            CodecError::Input { path, message } => CodecError::Input {
                path: format!("$.args[{i}]{}", path.strip_prefix('$').unwrap_or(&path)),
                message,
            },
            other => other,
        })?;
    }
    finish_request(&inv, id, start, w, &[("generic", "true")]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dubbo::decode_request;
    use crate::hessian2::{Limits, Value};

    #[test]
    fn a_generic_request_decodes_as_invoke() {
        let inv = Invocation {
            interface: "x.Greeter",
            ..Default::default()
        };
        let types = vec!["java.lang.String".to_string()];
        let args = vec![serde_json::json!("world")];
        let mut out = Vec::new();
        let call = GenericCall {
            method: "greet",
            types: Some(&types),
            args: &args,
        };
        encode_generic_request(&inv, 7, &call, &mut out).unwrap();
        let req = decode_request(&out, Limits::default()).unwrap();
        assert_eq!(req.id, 7);
        assert_eq!(req.method, GENERIC_METHOD);
        assert_eq!(req.descriptor, GENERIC_DESCRIPTOR);
        assert_eq!(req.args[0], Value::String("greet".into()));
        assert!(
            req.attachments
                .iter()
                .any(|(k, v)| k == "generic" && *v == Value::String("true".into())),
            "{:?}",
            req.attachments
        );
    }
}
