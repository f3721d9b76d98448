//! Governor's clock on tokio's time: paused in the tests, and the same clock the pacer sleeps
//! on; less, while a send is checked, the lateness credited to it (see
//! [`super::LATE_CREDIT_SHARE`]).

use std::ops::Add;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use tokio::time::Instant;

/// Tokio's clock for governor, less the lateness credited to the send being checked.
#[derive(Clone, Debug, Default)]
pub struct TokioClock {
    credit_ns: Arc<AtomicU64>,
}

impl TokioClock {
    /// The lateness the next readings of the clock leave out.
    pub(super) fn credit(&self, late: Duration) {
        let nanos = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.credit_ns.store(nanos, Ordering::Relaxed);
    }
}

/// A governor time reference on tokio's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(pub(super) Instant);

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        let now = Instant::now();
        let credit = Duration::from_nanos(self.credit_ns.load(Ordering::Relaxed));
        TokioInstant(now.checked_sub(credit).unwrap_or(now))
    }
}

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, nanos: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(nanos))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}
