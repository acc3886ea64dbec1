//! Active health probes (`health.interval_ms`): every interval, a TCP
//! connect to each endpoint; one that does not connect within the connect
//! timeout is left out of balancing until a probe connects again. The task
//! ends when its backend goes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::health::Health;

/// The probe task of one backend; stops it when dropped.
pub(crate) struct Probe {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Probe {
    /// Starts probing, when a runtime is there to run the task.
    pub(crate) fn start(health: &Arc<Health>, every: Duration, connect: Duration) -> Probe {
        let weak: Weak<Health> = Arc::downgrade(health);
        let task = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(run(weak, every, connect)));
        Probe { task }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

async fn run(health: Weak<Health>, every: Duration, connect: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(h) = health.upgrade() else { return };
        let addrs: Vec<(usize, String)> = h
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.addr.clone()))
            .collect();
        drop(h);
        let probes = addrs.into_iter().map(|(i, addr)| async move {
            let up = matches!(
                tokio::time::timeout(connect, tokio::net::TcpStream::connect(&addr)).await,
                Ok(Ok(_))
            );
            (i, up)
        });
        let verdicts = futures_util::future::join_all(probes).await;
        let Some(h) = health.upgrade() else { return };
        for (i, up) in verdicts {
            h.probed(i, up);
        }
    }
}
