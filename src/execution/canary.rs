//! `--canary N`: the first N rows to send go alone. Nothing else is dispatched until every one
//! of them has its outcome; if any failed, the run stops there, and if all went through, a
//! gate (a question on a terminal, or a plain yes) decides whether the rest follow. A wrong
//! file or a missing permission then costs N rows, not thousands.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::{note_lost_row, Control};
use crate::outcome::RowStatus;
use crate::outcome::StopReason;

/// How the canary rows went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanaryReport {
    /// Rows that got an outcome.
    pub finished: u64,
    pub failed: u64,
}

/// Decides, once every canary row succeeded, whether the rest of the rows follow.
pub type Gate = Box<dyn FnOnce(CanaryReport) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send>;

/// The canary of a run.
pub struct Canary {
    rows: u64,
    dispatched: u64,
    tally: Arc<CanaryTally>,
    gate: Gate,
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("rows", &self.rows)
            .field("dispatched", &self.dispatched)
            .finish_non_exhaustive()
    }
}

/// The outcomes of the canary rows, counted by their tasks.
#[derive(Debug, Default)]
pub struct CanaryTally {
    finished: AtomicU64,
    failed: AtomicU64,
}

impl CanaryTally {
    pub(super) fn note(&self, status: RowStatus) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if status == RowStatus::Failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Canary {
    pub fn new(rows: NonZeroU64, gate: Gate) -> Self {
        Canary {
            rows: rows.get(),
            dispatched: 0,
            tally: Arc::default(),
            gate,
        }
    }

    /// Counts a row sent as part of the canary; its task reports its outcome to the tally.
    pub(super) fn dispatched(&mut self) -> Arc<CanaryTally> {
        self.dispatched += 1;
        self.tally.clone()
    }

    pub(super) fn all_dispatched(&self) -> bool {
        self.dispatched >= self.rows
    }

    /// Waits for every canary row, then says whether dispatching goes on. A failed row stops
    /// the run; so does a gate that says no.
    pub(super) async fn await_verdict(self, tasks: &mut JoinSet<()>, control: &Control) -> bool {
        let finish = async {
            while let Some(joined) = tasks.join_next().await {
                note_lost_row(joined, control);
            }
        };
        tokio::select! {
            _ = control.abort.cancelled() => return false,
            _ = finish => {}
        }
        if control.dispatch.is_cancelled() {
            return false;
        }
        let report = CanaryReport {
            finished: self.tally.finished.load(Ordering::Relaxed),
            failed: self.tally.failed.load(Ordering::Relaxed),
        };
        if report.failed > 0 {
            control.stop(StopReason::CanaryFailed {
                failed: report.failed,
                rows: report.finished,
            });
            return false;
        }
        if (self.gate)(report).await {
            return true;
        }
        control.stop(StopReason::CanaryNotContinued {
            rows: report.finished,
        });
        false
    }
}
