//! A token-bucket server on the paused clock, and workers that drive a governor against it as
//! the executor does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::RateGovernor;

/// A token-bucket server, as the simulator's `--throttle-rps R --throttle-burst B`, on the
/// paused clock; its rate can change mid-run.
pub(super) struct FakeChime {
    bucket: Mutex<(f64, f64, f64, Instant)>,
    accepted: AtomicU64,
    throttled: AtomicU64,
}

impl FakeChime {
    pub(super) fn new(rate: f64, burst: f64) -> Arc<Self> {
        Arc::new(FakeChime {
            bucket: Mutex::new((rate, burst, burst, Instant::now())),
            accepted: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    pub(super) fn set_rate(&self, rate: f64) {
        self.admit_at(Instant::now(), false);
        self.bucket.lock().unwrap().0 = rate;
    }

    fn admit(&self) -> bool {
        let admitted = self.admit_at(Instant::now(), true);
        let counter = if admitted {
            &self.accepted
        } else {
            &self.throttled
        };
        counter.fetch_add(1, Ordering::Relaxed);
        admitted
    }

    fn admit_at(&self, now: Instant, take: bool) -> bool {
        let mut b = self.bucket.lock().unwrap();
        let (rate, capacity) = (b.0, b.1);
        b.2 = (b.2 + (now - b.3).as_secs_f64() * rate).min(capacity);
        b.3 = now;
        if take && b.2 >= 1.0 {
            b.2 -= 1.0;
            true
        } else {
            false
        }
    }

    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.accepted.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }
}

/// `concurrency` workers send rows as the executor does (retrying throttles with full
/// jitter from 100 ms) to `chime`, answered after `latency` ± 1 ms, until `stop` is set.
pub(super) fn spawn_workers(
    governor: &Arc<RateGovernor>,
    chime: &Arc<FakeChime>,
    concurrency: usize,
    latency: Duration,
    stop: &Arc<AtomicBool>,
) {
    for seed in 0..concurrency as u64 {
        let (governor, chime, stop) = (governor.clone(), chime.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut tries = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let ticket = governor.acquire().await;
                let jitter = Duration::from_micros(rng.random_range(0..=2000));
                tokio::time::sleep(latency.saturating_sub(Duration::from_millis(1)) + jitter).await;
                if chime.admit() {
                    governor.on_success(ticket);
                    tries = 0;
                } else {
                    governor.on_throttle(ticket);
                    tries += 1;
                    let cap = Duration::from_millis(100) * (1 << (tries - 1).min(8));
                    tokio::time::sleep(cap.mul_f64(rng.random_range(0.0..=1.0))).await;
                }
            }
        });
    }
}
