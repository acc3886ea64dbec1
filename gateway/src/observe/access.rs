//! The access log and request ids. The access log is one structured event
//! per request at the front door, under the target [`TARGET`]: JSON lines
//! with `--log-json`, or in a file of their own with `access_log` in the
//! config; the text log a person reads does not carry it. The request id
//! is the client's `x-request-id` when it sent a usable one, else one made
//! here; it is answered in the response and forwarded to backends.
//!
//! What the access line says of the backend call (tries, endpoint, time
//! spent in tries) is recorded by the pipeline's balancer into the
//! request's [`CallRecord`], found through a task-local: the call runs in
//! the task of its request, and only observation flows this way, so no
//! protocol module carries it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::trace::ServerSpan;

/// The target of access events.
pub const TARGET: &str = "kitegate::access";

/// The request id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the access log on (once, at start).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The request's id: the client's `x-request-id` if it is 1 to 128
/// visible ASCII characters, else a new one, put in the headers (so that
/// the protocol modules forward it).
pub fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&REQUEST_ID)
        && (1..=MAX_REQUEST_ID).contains(&v.len())
        && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return v.clone();
    }
    let id = new_id();
    headers.insert(REQUEST_ID.clone(), id.clone());
    id
}

/// 32 hex digits of [`fresh_bits`]. Each thread writes ids into a buffer
/// of its own, shared by the next 64 ids, so that making an id does not
/// allocate.
fn new_id() -> HeaderValue {
    use std::cell::RefCell;
    const LEN: usize = 32;
    thread_local! {
        static BUF: RefCell<bytes::BytesMut> = RefCell::new(bytes::BytesMut::new());
    }
    let bits = fresh_bits();
    let mut text = [0u8; LEN];
    for (i, d) in text.iter_mut().enumerate() {
        *d = b"0123456789abcdef"[((bits >> (124 - 4 * i)) & 0xf) as usize];
    }
    let id = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.capacity() < LEN {
            *buf = bytes::BytesMut::with_capacity(LEN * 64);
        }
        buf.extend_from_slice(&text);
        buf.split().freeze()
    });
    HeaderValue::from_maybe_shared(id).expect("hex digits")
}

/// 128 bits unique within the process and random across processes (a
/// random 128-bit start, then a counter through a mixer): request ids,
/// and the ids of unrecorded spans. Each thread counts in a block of 2^32
/// of its own, so that drawing bits writes no cache line another core
/// uses.
pub(crate) fn fresh_bits() -> u128 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    static SEED: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    static BLOCK: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    let (a, b) = *SEED.get_or_init(|| {
        let s = std::collections::hash_map::RandomState::new();
        let mut h = s.build_hasher();
        h.write_u64(std::process::id().into());
        let a = h.finish();
        h.write_u64(a);
        (a, h.finish())
    });
    let n = NEXT.with(|next| {
        let mut n = next.get();
        if n & 0xffff_ffff == 0 {
            n = BLOCK.fetch_add(1 << 32, Ordering::Relaxed) | 1;
        }
        next.set(n + 1);
        n
    });
    (u128::from(mix(a ^ n)) << 64) | u128::from(mix(b.wrapping_add(n)))
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2
/// hex>`), when it has a valid one.
pub fn trace_id(headers: &HeaderMap) -> Option<&str> {
    let tp = headers.get("traceparent")?.as_bytes();
    super::trace::parse_traceparent(tp)?;
    std::str::from_utf8(&tp[3..35]).ok()
}

/// What one request's backend call did, for its access line, and the
/// request's server span, for the spans of its tries.
#[derive(Debug, Default)]
pub struct CallRecord {
    tries: AtomicU32,
    backend_ns: AtomicU64,
    /// The endpoint of the last try.
    endpoint: Mutex<Option<Arc<str>>>,
    server: Option<ServerSpan>,
    /// Tries started, and why the next one is made.
    started: AtomicU32,
    retry_reason: Mutex<Option<&'static str>>,
}

impl CallRecord {
    pub fn new(server: Option<ServerSpan>) -> CallRecord {
        CallRecord {
            server,
            ..Default::default()
        }
    }

    /// (tries, time in tries, the last try's endpoint).
    pub fn read(&self) -> (u32, Duration, Option<Arc<str>>) {
        (
            self.tries.load(Ordering::Relaxed),
            Duration::from_nanos(self.backend_ns.load(Ordering::Relaxed)),
            self.endpoint.lock().expect("record lock").clone(),
        )
    }
}

tokio::task_local! {
    static RECORD: Arc<CallRecord>;
}

/// Runs a request's handling with `record` as its call record.
pub async fn with_record<F: Future>(record: Arc<CallRecord>, f: F) -> F::Output {
    RECORD.scope(record, f).await
}

/// Records one try of the current request's call, for its access line
/// (nothing when the access log is off).
pub fn record_try(endpoint: &str, took: Duration) {
    if !enabled() {
        return;
    }
    let _ = RECORD.try_with(|r| {
        r.tries.fetch_add(1, Ordering::Relaxed);
        r.backend_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let mut last = r.endpoint.lock().expect("record lock");
        if last.as_deref() != Some(endpoint) {
            *last = Some(endpoint.into());
        }
    });
}

/// The current request's server span, when it is traced.
pub fn server_span() -> Option<ServerSpan> {
    RECORD.try_with(|r| r.server.clone()).ok().flatten()
}

/// Notes that the current request's call is tried again, and why.
pub fn note_retry(reason: &'static str) {
    let _ = RECORD.try_with(|r| *r.retry_reason.lock().expect("record lock") = Some(reason));
}

/// Counts a try as started: its number (from 1) and why it is made, when
/// it is not the first.
pub fn start_try() -> (u32, Option<&'static str>) {
    RECORD
        .try_with(|r| {
            (
                r.started.fetch_add(1, Ordering::Relaxed) + 1,
                r.retry_reason.lock().expect("record lock").take(),
            )
        })
        .unwrap_or((1, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_or_made() {
        let mut h = HeaderMap::new();
        h.insert(&REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut h), "abc-123");
        for bad in ["", "has space", &"x".repeat(129)] {
            let mut h = HeaderMap::new();
            h.insert(&REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = request_id(&mut h);
            assert_eq!(id.len(), 32, "{bad:?} replaced");
            assert_eq!(h.get(&REQUEST_ID), Some(&id), "and forwarded");
        }
        let ids: Vec<HeaderValue> = (0..200).map(|_| new_id()).collect();
        let other = std::thread::spawn(new_id).join().unwrap();
        let mut seen: std::collections::HashSet<&[u8]> =
            ids.iter().map(HeaderValue::as_bytes).collect();
        assert!(seen.insert(other.as_bytes()));
        assert_eq!(seen.len(), 201, "unique across buffers and threads");
        for id in ids.iter().chain([&other]) {
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
    }

    #[test]
    fn trace_ids_of_valid_traceparents_only() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("traceparent", HeaderValue::from_str(v).unwrap());
            trace_id(&h).map(str::to_string)
        };
        assert_eq!(
            with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            with("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(with("00-4bf92f35-00f067aa0ba902b7-01"), None);
        assert_eq!(
            with("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
    }
}
