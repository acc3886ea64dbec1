//! gRPC-Web on gRPC routes, for browser clients (as Envoy's grpc_web
//! filter does): a request with `content-type: application/grpc-web`
//! (`+proto`) or `application/grpc-web-text` (base64) carries one binary
//! message, which goes to the backend as it is, through the same client
//! stack; the answer is the reply's messages, then its status and
//! trailers in a trailer frame, in the request's flavour. A failure of
//! the gateway's own (no endpoint, timeout, limits) is a gRPC status too,
//! so a gRPC-Web client always reads a status.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use codecs::protobuf::{
    grpc_frame, grpc_gunzip, grpc_web_request, grpc_web_text_decode, grpc_web_text_encode,
    grpc_web_trailers,
};

use super::HttpRequest;
use super::grpc::GrpcRoute;
use crate::error::{ApiError, Failure, Remote};
use crate::pipeline;
use crate::transport::grpc::{GrpcCallKind, GrpcOutcome, GrpcStatus, GrpcStream};

/// The flavour of a gRPC-Web request (and of its answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavour {
    /// `-text`: base64 both ways.
    pub text: bool,
}

/// The gRPC-Web flavour of a request, from its content type.
pub fn flavour(headers: &HeaderMap) -> Option<Flavour> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let ct = ct.split(';').next()?.trim();
    match ct.to_ascii_lowercase().as_str() {
        "application/grpc-web" | "application/grpc-web+proto" => Some(Flavour { text: false }),
        "application/grpc-web-text" | "application/grpc-web-text+proto" => {
            Some(Flavour { text: true })
        }
        _ => None,
    }
}

/// Request headers that are HTTP's, the browser's or gRPC-Web's own, not
/// the call's metadata.
fn not_metadata(name: &str) -> bool {
    matches!(
        name,
        "accept"
            | "accept-encoding"
            | "accept-language"
            | "origin"
            | "referer"
            | "cookie"
            | "x-grpc-web"
            | "x-user-agent"
            | "sec-fetch-mode"
            | "sec-fetch-site"
            | "sec-fetch-dest"
            | "pragma"
            | "cache-control"
    ) || name.starts_with("sec-ch-")
        || name.starts_with("access-control-")
}

impl GrpcRoute {
    /// Answers a gRPC-Web request; every outcome is a gRPC-Web response.
    pub(super) async fn grpc_web(&self, req: HttpRequest, flavour: Flavour) -> Response {
        match self.grpc_web_call(req, flavour).await {
            Ok(resp) => resp,
            Err(e) => {
                let (code, message) = (grpc_code(&e), e.message().to_string());
                let mut body = Vec::new();
                grpc_web_trailers(code, &message, [], &mut body);
                web_response(flavour, HeaderMap::new(), encode(flavour, body))
            }
        }
    }

    async fn grpc_web_call(
        &self,
        req: HttpRequest,
        flavour: Flavour,
    ) -> Result<Response, ApiError> {
        let m = &self.route.method;
        if m.client_streaming {
            return Err(Failure::NotImplemented(
                "gRPC-Web carries no client or bidirectional streams".into(),
            )
            .into());
        }
        let max = self.backend_max_message();
        let req = req.read().await?;
        let framed = if flavour.text {
            std::borrow::Cow::Owned(grpc_web_text_decode(&req.body, max + 5).map_err(bad)?)
        } else {
            std::borrow::Cow::Borrowed(&req.body[..])
        };
        let (message, compressed) = grpc_web_request(&framed, max).map_err(bad)?;
        let message = if compressed {
            match req.parts.headers.get("grpc-encoding").map(|v| v.as_bytes()) {
                Some(b"gzip") => Bytes::from(grpc_gunzip(message, max).map_err(bad)?),
                _ => {
                    return Err(Failure::Input(
                        "a compressed message needs grpc-encoding: gzip".into(),
                    )
                    .into());
                }
            }
        } else {
            Bytes::copy_from_slice(message)
        };
        let headers = &req.parts.headers;
        let mut meta = self.meta(&req.parts, &[])?;
        // A client's grpc-timeout shortens the call's deadline.
        if let Some(t) = headers.get("grpc-timeout") {
            let t = grpc_timeout(t.as_bytes()).ok_or_else(|| {
                ApiError::from(Failure::Input(format!(
                    "grpc-timeout `{}` is not a gRPC timeout (1 to 8 digits and a unit of H, M, S, m, u, n)",
                    String::from_utf8_lossy(t.as_bytes())
                )))
            })?;
            meta.deadline = meta.deadline.min(tokio::time::Instant::now() + t);
        }
        let mut call = self.call_of(headers, GrpcCallKind::Unary(Bytes::new()), &meta);
        for (k, v) in headers {
            let name = k.as_str();
            if !not_metadata(name)
                && !super::grpc::reserved_metadata(name)
                && !call.metadata.contains_key(k)
            {
                call.metadata.append(k.clone(), v.clone());
            }
        }
        call.kind = if m.server_streaming {
            GrpcCallKind::ServerStream(message)
        } else {
            GrpcCallKind::Unary(message)
        };
        let policy = &self.route.policy;
        match pipeline::send(&self.backend.client, call, policy, meta).await? {
            GrpcOutcome::Reply(reply) => {
                let mut body = Vec::with_capacity(reply.body.len() + 64);
                if reply.status.code == 0 {
                    grpc_frame(&reply.body, &mut body);
                }
                trailers_of(&reply.status, &reply.trailers, &mut body);
                Ok(web_response(
                    flavour,
                    response_metadata(&reply.headers),
                    encode(flavour, body),
                ))
            }
            GrpcOutcome::Stream(stream) => {
                let head = response_metadata(&stream.headers);
                Ok(streamed(flavour, head, stream))
            }
            GrpcOutcome::Open(..) => {
                unreachable!("unary and server-stream calls open no request stream")
            }
        }
    }
}

/// The gRPC status of a failure, for answers in gRPC's terms: the
/// backend's own code, else the class's nearest one.
fn grpc_code(e: &ApiError) -> u32 {
    match &e.failure {
        Failure::Remote(Remote::Grpc { code, .. }) => *code,
        Failure::Input(_) => 3,
        Failure::Timeout(_) => 4,
        Failure::NotFound(_) | Failure::MethodNotAllowed { .. } | Failure::NotImplemented(_) => 12,
        Failure::Unauthorized(_) => 16,
        Failure::Forbidden(_) => 7,
        Failure::TooLarge(_)
        | Failure::HeadTooLarge(_)
        | Failure::RateLimited { .. }
        | Failure::ClientConnections(_) => 8,
        Failure::Unavailable(_)
        | Failure::Overload(_)
        | Failure::CircuitOpen(_)
        | Failure::NoHealthy(_)
        | Failure::StoreUnavailable(_) => 14,
        Failure::BodyTimeout(_) => 4,
        Failure::BadReply(_) | Failure::Internal(_) => 13,
        _ => 2,
    }
}

/// A `grpc-timeout` value (`PROTOCOL-HTTP2.md`: 1 to 8 digits and a unit).
fn grpc_timeout(v: &[u8]) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

fn bad(e: codecs::CodecError) -> ApiError {
    match e {
        codecs::CodecError::TooLarge { .. } => Failure::TooLarge(e.to_string()).into(),
        _ => Failure::Input(e.to_string()).into(),
    }
}

/// The reply's status and trailers as the trailer frame.
fn trailers_of(status: &GrpcStatus, trailers: &HeaderMap, out: &mut Vec<u8>) {
    let details = status
        .details
        .as_ref()
        .map(|d| grpc_web_text_encode(d))
        .unwrap_or_default();
    let extra = trailers
        .iter()
        .filter(|(k, _)| !k.as_str().starts_with("grpc-"))
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .chain(
            status
                .details
                .as_ref()
                .map(|_| ("grpc-status-details-bin", &details[..])),
        );
    grpc_web_trailers(status.code, &status.message, extra, out);
}

/// The backend's response headers that are metadata.
fn response_metadata(head: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in head {
        if !super::grpc::reserved_metadata(k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

fn encode(flavour: Flavour, body: Vec<u8>) -> Vec<u8> {
    if flavour.text {
        grpc_web_text_encode(&body)
    } else {
        body
    }
}

fn web_response(flavour: Flavour, metadata: HeaderMap, body: Vec<u8>) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    web_head(flavour, metadata, &mut resp);
    resp
}

fn web_head(flavour: Flavour, metadata: HeaderMap, resp: &mut Response) {
    *resp.status_mut() = StatusCode::OK;
    let ct = if flavour.text {
        "application/grpc-web-text+proto"
    } else {
        "application/grpc-web+proto"
    };
    let h = resp.headers_mut();
    h.extend(metadata);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    // Browsers read these only when the response exposes them.
    h.insert(
        HeaderName::from_static("access-control-expose-headers"),
        HeaderValue::from_static("grpc-status,grpc-message"),
    );
}

/// A server stream: each message as a frame when it arrives, then the
/// trailer frame (with the gateway's status if the stream broke).
fn streamed(flavour: Flavour, metadata: HeaderMap, stream: Box<GrpcStream>) -> Response {
    let body = futures_util::stream::unfold(Some(stream), move |stream| async move {
        let mut stream = stream?;
        let mut out = Vec::new();
        let more = match stream.next().await {
            Ok(Some(msg)) => {
                grpc_frame(&msg, &mut out);
                true
            }
            Ok(None) => {
                match stream.finish().await {
                    Ok(st) => trailers_of(&st, &stream.trailers, &mut out),
                    Err(e) => broken(e, &mut out),
                }
                false
            }
            Err(e) => {
                broken(e, &mut out);
                false
            }
        };
        let chunk = Bytes::from(encode(flavour, out));
        Some((
            Ok::<_, std::convert::Infallible>(chunk),
            more.then_some(stream),
        ))
    });
    let mut resp = Response::new(axum::body::Body::from_stream(body));
    web_head(flavour, metadata, &mut resp);
    resp
}

/// The trailer frame of a stream cut mid-way.
fn broken(e: crate::transport::TransportError, out: &mut Vec<u8>) {
    let e = ApiError::from(Failure::BadReply(e.to_string()));
    grpc_web_trailers(grpc_code(&e), e.message(), [], out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        use std::time::Duration;
        assert_eq!(grpc_timeout(b"300m"), Some(Duration::from_millis(300)));
        assert_eq!(grpc_timeout(b"2S"), Some(Duration::from_secs(2)));
        assert_eq!(grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            grpc_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [&b""[..], b"m", b"123456789m", b"12x", b"-1S", b"1.5S"] {
            assert_eq!(grpc_timeout(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn flavours_by_content_type() {
        let of = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            flavour(&h)
        };
        assert_eq!(of("application/grpc-web"), Some(Flavour { text: false }));
        assert_eq!(
            of("application/grpc-web+proto"),
            Some(Flavour { text: false })
        );
        assert_eq!(
            of("Application/GRPC-Web-Text; charset=x"),
            Some(Flavour { text: true })
        );
        assert_eq!(of("application/grpc-web+json"), None);
        assert_eq!(of("application/json"), None);
    }
}
