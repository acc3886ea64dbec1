//! OpenTelemetry traces, off unless the config's `[tracing]` names an OTLP
//! collector: a server span for each HTTP request, continuing the trace of
//! its W3C `traceparent`/`tracestate` (or starting one), and a client span
//! for each try of its backend call, whose context goes to the backend in
//! the keys of the backend's protocol. Spans leave in batches over
//! OTLP/gRPC, from a thread of the SDK's own.
//!
//! With tracing off, a request's valid `traceparent` (and `tracestate`) is
//! passed to the backend unchanged, as a proxy that takes no part in the
//! trace would.
//!
//! The request's server span is found by the pipeline through its
//! [`CallRecord`](super::access::CallRecord), as the access line's facts
//! are.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _,
    TraceFlags, TraceId, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use serde::Deserialize;

use super::access;

/// The `[tracing]` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/gRPC collector (`http://host:4317`, plain text); empty:
    /// tracing off.
    #[serde(default)]
    pub otlp_endpoint: String,
    /// The share of new traces recorded, 0 to 1; a request that carries a
    /// `traceparent` follows its sampled flag.
    #[serde(default = "one")]
    pub sample_ratio: f64,
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn one() -> f64 {
    1.0
}

fn default_service_name() -> String {
    "kitegate".into()
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            otlp_endpoint: String::new(),
            sample_ratio: one(),
            service_name: default_service_name(),
        }
    }
}

impl TracingConfig {
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "tracing.sample_ratio must be between 0 and 1, not {}",
                self.sample_ratio
            ));
        }
        let e = &self.otlp_endpoint;
        if !e.is_empty() && !e.starts_with("http://") {
            return Err(format!(
                "tracing.otlp_endpoint must be an http:// URL (OTLP/gRPC in plain text), not {e:?}"
            ));
        }
        Ok(())
    }
}

struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// The sampler's ratio for new traces.
    ratio: f64,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

/// Starts exporting to the configured collector (once; inside the
/// runtime, which the exporter's client needs). Nothing when the
/// config names none.
pub fn init(cfg: &TracingConfig) -> Result<(), String> {
    cfg.check()?;
    if cfg.otlp_endpoint.is_empty() || TRACING.get().is_some() {
        return Ok(());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(cfg.otlp_endpoint.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("tracing: cannot export to {}: {e}", cfg.otlp_endpoint))?;
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(8192)
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batch)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(cfg.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("kitegate");
    let _ = TRACING.set(Tracing {
        provider,
        tracer,
        ratio: cfg.sample_ratio,
    });
    tracing::info!(endpoint = %cfg.otlp_endpoint, ratio = cfg.sample_ratio, "tracing to OTLP");
    Ok(())
}

/// Sends the spans not yet exported (at exit).
pub fn shutdown() {
    if let Some(t) = TRACING.get()
        && let Err(e) = t.provider.shutdown_with_timeout(Duration::from_secs(5))
    {
        tracing::warn!(error = %e, "tracing: spans may be lost");
    }
}

pub fn enabled() -> bool {
    TRACING.get().is_some()
}

/// The W3C trace context of a request, when its `traceparent` is valid
/// (Trace Context level 1: lowercase hex, version not `ff`, ids not all
/// zero; a later version may add fields after a `-`). Parsed here rather
/// than by the SDK's propagator, which splits and allocates: this runs on
/// every request with tracing on.
fn remote_parent(headers: &HeaderMap) -> Option<SpanContext> {
    let (trace, span, flags) = parse_traceparent(headers.get("traceparent")?.as_bytes())?;
    let state = headers
        .get("tracestate")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        TraceId::from_bytes(trace.to_be_bytes()),
        SpanId::from_bytes(span.to_be_bytes()),
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

/// The trace id, parent id and flags of a valid `traceparent` (see
/// [`remote_parent`]); the one reader of it, also for the access log.
pub(crate) fn parse_traceparent(tp: &[u8]) -> Option<(u128, u64, u8)> {
    let ok_len = tp.len() == TRACEPARENT_LEN
        || (tp.len() > TRACEPARENT_LEN && tp[TRACEPARENT_LEN] == b'-' && &tp[..2] != b"00");
    if !ok_len || tp[2] != b'-' || tp[35] != b'-' || tp[52] != b'-' || &tp[..2] == b"ff" {
        return None;
    }
    fn hex(s: &[u8]) -> Option<u128> {
        s.iter().try_fold(0u128, |acc, &b| {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            Some(acc << 4 | u128::from(d))
        })
    }
    hex(&tp[..2])?;
    let trace = hex(&tp[3..35]).filter(|&t| t != 0)?;
    let span = hex(&tp[36..52]).filter(|&s| s != 0)? as u64;
    let flags = hex(&tp[53..55])? as u8;
    Some((trace, span, flags))
}

/// The server span of one HTTP request, in the context its tries are
/// children of.
#[derive(Debug, Clone)]
pub struct ServerSpan {
    /// The span in its context; `None` when it is not recorded (an
    /// unsampled trace needs only its ids, for the backend).
    cx: Option<Context>,
    sc: SpanContext,
}

impl ServerSpan {
    /// Starts the span of a request routed to `route` (empty when it matched
    /// none); `None` when tracing is off.
    pub fn start(headers: &HeaderMap, verb: &Method, route: &str, path: &str) -> Option<Self> {
        let t = TRACING.get()?;
        let remote = remote_parent(headers);
        let dropped = match &remote {
            Some(sc) => !sc.is_sampled(),
            None => t.ratio <= 0.0,
        };
        if dropped {
            // The sampler's answer is known without asking it (the parent's
            // flag is followed; at ratio 0 a new trace is never recorded):
            // a span that is not recorded needs only its ids, which are
            // made here, without the SDK's span and context.
            return Some(ServerSpan::unrecorded(remote));
        }
        let parent = match remote {
            Some(sc) => Context::new().with_remote_span_context(sc),
            None => Context::new(),
        };
        let builder = SpanBuilder::from_name("http").with_kind(SpanKind::Server);
        let mut span = t.tracer.build_with_context(builder, &parent);
        if span.is_recording() {
            span.update_name(if route.is_empty() {
                Cow::Owned(verb.to_string())
            } else {
                Cow::Owned(format!("{verb} {route}"))
            });
            span.set_attributes([
                KeyValue::new("http.request.method", verb.to_string()),
                KeyValue::new("url.path", path.to_string()),
            ]);
            if !route.is_empty() {
                span.set_attribute(KeyValue::new("http.route", route.to_string()));
            }
        }
        let sc = span.span_context().clone();
        Some(ServerSpan {
            cx: span.is_recording().then(|| parent.with_span(span)),
            sc,
        })
    }

    /// The unsampled span of a request: the child of its remote parent,
    /// or the root of a new trace.
    fn unrecorded(remote: Option<SpanContext>) -> Self {
        let span = SpanId::from_bytes((access::fresh_bits() as u64).max(1).to_be_bytes());
        let sc = match remote {
            Some(p) => SpanContext::new(
                p.trace_id(),
                span,
                TraceFlags::default(),
                false,
                p.trace_state().clone(),
            ),
            None => SpanContext::new(
                TraceId::from_bytes(access::fresh_bits().max(1).to_be_bytes()),
                span,
                TraceFlags::default(),
                false,
                TraceState::default(),
            ),
        };
        ServerSpan { cx: None, sc }
    }

    fn context(&self) -> &SpanContext {
        &self.sc
    }

    /// The trace and span ids, as hex.
    pub fn ids(&self) -> (String, String) {
        let tp = traceparent(self.context());
        let hex = |r: std::ops::Range<usize>| String::from_utf8_lossy(&tp[r]).into_owned();
        (hex(3..35), hex(36..52))
    }

    /// Ends the span with the answer's status and error code.
    pub fn end(&self, status: u16, error_code: Option<&str>) {
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if let Some(code) = error_code {
                span.set_attribute(KeyValue::new("error.type", code.to_string()));
            }
            if status >= 500 {
                span.set_status(Status::error(error_code.unwrap_or("").to_string()));
            }
        }
        span.end();
    }
}

/// The W3C trace context a call sends its backend.
#[derive(Debug, Clone)]
pub struct Propagated {
    traceparent: [u8; TRACEPARENT_LEN],
    tracestate: Option<Box<str>>,
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
pub const TRACEPARENT_LEN: usize = 55;

/// The longest `tracestate` passed on (the W3C limit for a whole list).
const MAX_TRACESTATE: usize = 512;

impl Propagated {
    /// What the current request's call sends: its server span's context
    /// with tracing on, else the request's own valid context.
    pub fn of_request(headers: &HeaderMap) -> Option<Propagated> {
        if enabled() {
            return access::server_span().map(|s| Propagated::of(s.context()));
        }
        let tp = headers.get("traceparent")?;
        parse_traceparent(tp.as_bytes())?;
        let traceparent = tp.as_bytes().try_into().ok()?;
        let tracestate = headers
            .get("tracestate")
            .filter(|v| !v.is_empty() && v.len() <= MAX_TRACESTATE)
            .and_then(|v| v.to_str().ok())
            .map(Into::into);
        Some(Propagated {
            traceparent,
            tracestate,
        })
    }

    fn of(sc: &SpanContext) -> Propagated {
        let state = sc.trace_state().header();
        Propagated {
            traceparent: traceparent(sc),
            tracestate: (!state.is_empty()).then(|| state.into()),
        }
    }

    pub fn traceparent(&self) -> &str {
        std::str::from_utf8(&self.traceparent).unwrap_or_default()
    }

    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// Where the `traceparent` is in an encoded request, for the tries to
    /// rewrite: the first place when `first`, else the last.
    /// `None` when no try will rewrite it: tracing is off (the context only
    /// passes through) or the trace is not sampled (a try of an unsampled
    /// trace records no span of its own).
    pub fn find_in(&self, bytes: &[u8], first: bool) -> Option<u32> {
        if !enabled() || !self.sampled() {
            return None;
        }
        self.locate(bytes, first)
    }

    /// Whether the context's `sampled` flag is set (flags are the last two
    /// hex digits; the flag is bit 0).
    fn sampled(&self) -> bool {
        let last = self.traceparent[TRACEPARENT_LEN - 1];
        let digit = if last.is_ascii_digit() {
            last - b'0'
        } else {
            last.wrapping_sub(b'a') + 10
        };
        digit & 1 == 1
    }

    fn locate(&self, bytes: &[u8], first: bool) -> Option<u32> {
        let at = if first {
            memchr::memmem::find(bytes, &self.traceparent)
        } else {
            memchr::memmem::rfind(bytes, &self.traceparent)
        };
        at.map(|i| i as u32)
    }
}

/// The `traceparent` of a span context.
fn traceparent(sc: &SpanContext) -> [u8; TRACEPARENT_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    let mut put = |at: usize, bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            out[at + 2 * i] = HEX[usize::from(b >> 4)];
            out[at + 2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    };
    put(3, &sc.trace_id().to_bytes());
    put(36, &sc.span_id().to_bytes());
    put(53, &[sc.trace_flags().to_u8() & 1]);
    out
}

/// A request that carries its call's trace context to the backend, so that
/// each try can name its own span as the parent.
pub trait Carry {
    /// Puts `traceparent` where the request's context is.
    fn carry(&mut self, traceparent: &[u8; TRACEPARENT_LEN]);
}

/// Rewrites the `traceparent` at `at` of an encoded request (a copy: the
/// bytes are shared with the other tries).
pub fn rewrite(frame: &mut bytes::Bytes, at: Option<u32>, traceparent: &[u8; TRACEPARENT_LEN]) {
    let Some(at) = at.map(|a| a as usize) else {
        return;
    };
    if frame.len() < at + TRACEPARENT_LEN {
        return;
    }
    let mut copy = frame.to_vec();
    copy[at..at + TRACEPARENT_LEN].copy_from_slice(traceparent);
    *frame = copy.into();
}

/// The client span of one try, while it runs.
pub struct TrySpan {
    span: opentelemetry_sdk::trace::Span,
}

impl TrySpan {
    /// Starts the span of a try of `method` (`Service.method`) of `backend`
    /// on `endpoint`, as the child of the request's server span, when that
    /// one is sampled; returns it and the `traceparent` the try sends.
    pub fn start(
        backend: &str,
        method: &str,
        endpoint: &str,
    ) -> Option<(TrySpan, [u8; TRACEPARENT_LEN])> {
        let t = TRACING.get()?;
        let server = access::server_span()?;
        let parent = server
            .cx
            .as_ref()
            .filter(|_| server.context().is_sampled())?;
        let (attempt, retry_reason) = access::start_try();
        let (service, name) = method.rsplit_once('.').unwrap_or(("", method));
        let (host, port) = endpoint.rsplit_once(':').unwrap_or((endpoint, ""));
        let mut attributes = vec![
            KeyValue::new("rpc.service", service.to_string()),
            KeyValue::new("rpc.method", name.to_string()),
            KeyValue::new("server.address", host.to_string()),
            KeyValue::new("kitegate.backend", backend.to_string()),
            KeyValue::new("kitegate.attempt", i64::from(attempt)),
        ];
        if let Ok(p) = port.parse::<i64>() {
            attributes.push(KeyValue::new("server.port", p));
        }
        if let Some(r) = retry_reason {
            attributes.push(KeyValue::new("kitegate.retry_reason", r));
        }
        let builder = SpanBuilder::from_name(format!("{service}/{name}"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes);
        let span = t.tracer.build_with_context(builder, parent);
        let tp = traceparent(span.span_context());
        Some((TrySpan { span }, tp))
    }

    /// Ends the span with the try's outcome (`None`: it succeeded).
    pub fn end(mut self, failure: Option<&'static str>, message: impl FnOnce() -> String) {
        if let Some(kind) = failure {
            self.span.set_attribute(KeyValue::new("error.type", kind));
            self.span.set_status(Status::error(message()));
        }
        self.span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    /// The parser on the hot path reads what the SDK's propagator reads.
    #[test]
    fn remote_contexts_are_read_as_the_sdk_reads_them() {
        use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
        struct H<'a>(&'a HeaderMap);
        impl Extractor for H<'_> {
            fn get(&self, key: &str) -> Option<&str> {
                self.0.get(key)?.to_str().ok()
            }
            fn keys(&self) -> Vec<&str> {
                self.0.keys().map(|k| k.as_str()).collect()
            }
        }
        let sdk = opentelemetry_sdk::propagation::TraceContextPropagator::new();
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        for (tp, state) in [
            (format!("00-{id}-00f067aa0ba902b7-01"), None),
            (format!("00-{id}-00f067aa0ba902b7-00"), Some("k=v,a=b")),
            (format!("00-{id}-00f067aa0ba902b7-03"), None),
            (format!("01-{id}-00f067aa0ba902b7-01-later"), None),
            (format!("00-{id}-00f067aa0ba902b7-01-extra"), None),
            (format!("ff-{id}-00f067aa0ba902b7-01"), None),
            (
                format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase()),
                None,
            ),
            (format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)), None),
            (format!("00-{id}-0000000000000000-01"), None),
            (format!("00-{id}-00f067aa0ba902b7"), None),
            (format!("00-{id}-00f067aa0ba902b7-0g"), None),
            (format!("00_{id}-00f067aa0ba902b7-01"), None),
            (String::new(), None),
        ] {
            let mut h = HeaderMap::new();
            h.insert("traceparent", tp.parse().unwrap());
            if let Some(st) = state {
                h.insert("tracestate", st.parse().unwrap());
            }
            let want = sdk.extract(&H(&h));
            let want = want.span().span_context().clone();
            let got = remote_parent(&h);
            assert_eq!(got.is_some(), want.is_valid(), "{tp}");
            if let Some(got) = got {
                assert_eq!(got.trace_id(), want.trace_id(), "{tp}");
                assert_eq!(got.span_id(), want.span_id(), "{tp}");
                assert_eq!(got.trace_flags(), want.trace_flags(), "{tp}");
                assert_eq!(
                    got.trace_state().header(),
                    want.trace_state().header(),
                    "{tp}"
                );
                assert!(got.is_remote());
            }
        }
    }

    #[test]
    fn traceparents_are_w3c() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("k", "v")]).unwrap(),
        );
        let p = Propagated::of(&sc);
        assert_eq!(
            p.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(p.tracestate(), Some("k=v"));
        let unsampled = SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        let p = Propagated::of(&unsampled);
        assert!(p.traceparent().ends_with("-00"));
        assert_eq!(p.tracestate(), None);
    }

    #[test]
    fn unrecorded_spans_continue_their_parent_or_start_a_trace() {
        let parent = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::default(),
            true,
            TraceState::from_key_value([("k", "v")]).unwrap(),
        );
        let child = ServerSpan::unrecorded(Some(parent.clone()));
        assert!(child.cx.is_none());
        let sc = child.context();
        assert_eq!(sc.trace_id(), parent.trace_id());
        assert_ne!(sc.span_id(), parent.span_id());
        assert_ne!(sc.span_id(), SpanId::INVALID);
        assert!(!sc.is_sampled() && !sc.is_remote());
        assert_eq!(Propagated::of(sc).tracestate(), Some("k=v"));
        let (a, b) = (ServerSpan::unrecorded(None), ServerSpan::unrecorded(None));
        for s in [&a, &b] {
            assert!(s.context().is_valid() && !s.context().is_sampled());
            assert_eq!(Propagated::of(s.context()).tracestate(), None);
        }
        assert_ne!(a.context().trace_id(), b.context().trace_id());
        assert_ne!(a.context().span_id(), b.context().span_id());
    }

    #[test]
    fn without_tracing_a_valid_context_passes_unchanged() {
        let mut h = HeaderMap::new();
        assert!(Propagated::of_request(&h).is_none());
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        h.insert("traceparent", tp.parse().unwrap());
        h.insert("tracestate", "a=1,b=2".parse().unwrap());
        let p = Propagated::of_request(&h).unwrap();
        assert_eq!(p.traceparent(), tp);
        assert_eq!(p.tracestate(), Some("a=1,b=2"));
        h.insert("traceparent", "00-abc-00f067aa0ba902b7-00".parse().unwrap());
        assert!(Propagated::of_request(&h).is_none());
    }

    #[test]
    fn a_try_rewrites_its_copy_of_the_request() {
        let tp = *b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = Propagated {
            traceparent: tp,
            tracestate: None,
        };
        let mut frame = b"head:".to_vec();
        frame.extend_from_slice(&tp);
        frame.extend_from_slice(b":tail");
        assert!(p.sampled());
        let at = p.locate(&frame, true);
        assert_eq!(at, Some(5));
        assert_eq!(p.locate(&frame, false), Some(5));
        // With tracing off, the context passes through and is never rewritten.
        assert_eq!(p.find_in(&frame, true), None);
        let unsampled = Propagated {
            traceparent: *b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            tracestate: None,
        };
        assert!(!unsampled.sampled());
        let shared = bytes::Bytes::from(frame);
        let mut mine = shared.clone();
        let next = *b"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
        rewrite(&mut mine, at, &next);
        assert_eq!(&mine[5..60], &next);
        assert_eq!(&shared[5..60], &tp, "the other tries' bytes are untouched");
        assert!(mine.ends_with(b":tail"));
    }
}
