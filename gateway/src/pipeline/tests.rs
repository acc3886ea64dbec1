//! The layers of the call pipeline over fake endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::*;

/// An endpoint that answers with its name, or fails as told; counts calls.
#[derive(Clone)]
struct Fake {
    name: &'static str,
    fail: Option<TransportError>,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

impl tower::Service<u32> for Fake {
    type Response = (&'static str, u32);
    type Error = TransportError;
    type Future = BoxFuture<'static, Result<(&'static str, u32), TransportError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let me = self.clone();
        Box::pin(async move {
            tokio::time::sleep(me.delay).await;
            match me.fail {
                Some(e) => Err(e),
                None => Ok((me.name, req)),
            }
        })
    }
}

fn fake(name: &'static str, fail: Option<TransportError>) -> Fake {
    Fake {
        name,
        fail,
        delay: Duration::ZERO,
        calls: Arc::default(),
    }
}

fn refused() -> TransportError {
    TransportError::Connect {
        addr: "127.0.0.1:1".into(),
        message: "connection refused".into(),
    }
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn round_robin_over_the_endpoints() {
    let c = client(&settings(), vec![fake("a", None), fake("b", None)]);
    let mut seen = Vec::new();
    for i in 0..4 {
        seen.push(send(&c, i, false).await.unwrap().0);
    }
    assert_eq!(seen, ["a", "b", "a", "b"]);
}

#[tokio::test]
async fn a_connect_failure_goes_to_the_next_endpoint() {
    let dead = fake("dead", Some(refused()));
    let live = fake("live", None);
    let c = client(&settings(), vec![dead.clone(), live.clone()]);
    for i in 0..4 {
        assert_eq!(send(&c, i, false).await.unwrap(), ("live", i));
    }
    // Every call tried the dead endpoint at most once.
    assert!(dead.calls.load(Ordering::SeqCst) <= 4);
    assert_eq!(live.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn every_endpoint_dead_is_the_last_connect_error() {
    let c = client(
        &settings(),
        vec![fake("a", Some(refused())), fake("b", Some(refused()))],
    );
    let e = send(&c, 1, false).await.unwrap_err();
    assert!(matches!(e, TransportError::Connect { .. }), "{e:?}");
}

#[tokio::test]
async fn a_call_that_may_have_run_is_not_sent_elsewhere() {
    let closed = fake(
        "closed",
        Some(TransportError::Closed {
            addr: "127.0.0.1:1".into(),
        }),
    );
    let other = fake("other", None);
    let c = client(&settings(), vec![closed.clone(), other.clone()]);
    let e = send(&c, 1, false).await.unwrap_err();
    assert!(matches!(e, TransportError::Closed { .. }), "{e:?}");
    assert_eq!(other.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn no_endpoints() {
    let c = client::<u32, Fake>(&settings(), Vec::new());
    let e = send(&c, 1, false).await.unwrap_err();
    assert!(matches!(e, TransportError::NoEndpoints), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn the_timeout_covers_the_whole_call() {
    let mut slow = fake("slow", None);
    slow.delay = Duration::from_secs(10);
    let c = client(
        &Settings {
            timeout: Duration::from_millis(300),
        },
        vec![slow],
    );
    let e = send(&c, 1, false).await.unwrap_err();
    assert!(
        matches!(e, TransportError::Timeout(d) if d == Duration::from_millis(300)),
        "{e:?}"
    );
}
