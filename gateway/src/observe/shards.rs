//! Per-thread cells for the metrics the hot path updates: each thread adds
//! into a cache line of its own and a scrape sums the lines, so that the
//! worker threads of a busy gateway do not pass one counter's line back and
//! forth on every request (an atomic add on a line another core just wrote
//! costs a cache miss; on one's own line, a few cycles). The benchmark
//! `metrics` in `gateway/benches/` measures both.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// The most cells a metric has: more threads than this share them.
const MAX_SHARDS: usize = 16;

/// How many cells each metric has: a power of two, twice the cores (a
/// runtime's workers and the threads beside them), at most [`MAX_SHARDS`].
fn shard_count() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores * 2).next_power_of_two().min(MAX_SHARDS)
    })
}

/// This thread's cell index, given out in turn on first use.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) % shard_count();
        i.set(v);
        v
    })
}

/// One `T` per cell, each on its own cache line.
#[derive(Debug)]
pub struct Shards<T>(Box<[CachePadded<T>]>);

impl<T: Default> Default for Shards<T> {
    fn default() -> Self {
        Shards((0..shard_count()).map(|_| Default::default()).collect())
    }
}

impl<T> Shards<T> {
    /// The calling thread's cell.
    #[inline]
    pub fn local(&self) -> &T {
        &self.0[shard_index() & (self.0.len() - 1)]
    }

    /// Every cell, for a sum.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|c| &**c)
    }
}

/// A monotonic counter over per-thread cells; clones share their counts.
/// The exposition writes it like `prometheus-client`'s own counter.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<Shards<AtomicU64>>);

impl Counter {
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.0.local().fetch_add(n, Ordering::Relaxed);
    }

    /// The sum over the cells.
    pub fn get(&self) -> u64 {
        self.0.all().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_every_thread_are_summed() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..(shard_count() * 2 + 1) {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.inc();
                    }
                    c.inc_by(5);
                });
            }
        });
        assert_eq!(c.get(), (shard_count() as u64 * 2 + 1) * 1005);
    }
}
