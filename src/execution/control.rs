//! How a run stops: the reasons it may stop early, the tokens that end dispatching and drop
//! the rows in flight, and the signals (Ctrl-C, SIGTERM, SIGHUP) that ask for either.

use std::sync::Mutex;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::outcome::StopReason;

/// How the run is stopped: `dispatch` ends the sending of new rows (in-flight rows finish),
/// `abort` drops the in-flight rows too. The first reason given is the one reported.
#[derive(Debug, Default)]
pub struct Control {
    pub dispatch: CancellationToken,
    pub abort: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl Control {
    pub fn stop(&self, reason: StopReason) {
        let mut first = self
            .reason
            .lock()
            .expect("the stop reason lock is never poisoned");
        first.get_or_insert(reason);
        self.dispatch.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .expect("the stop reason lock is never poisoned")
            .clone()
    }
}

/// Ctrl-C, SIGTERM or SIGHUP (an ssh session that closed) stops dispatching and gives
/// in-flight rows `grace` to finish; a second signal (or the end of the grace period) drops
/// them. Before, a hang-up killed the run with no summary and its rows in flight unnamed.
pub async fn watch_signals(control: &Control, grace: Duration) {
    let Ok(mut stop_signals) = StopSignals::install() else {
        return;
    };
    stop_signals.recv().await;
    control.stop(StopReason::Interrupted);
    // Never panics: after a hang-up or with `2>&1 | tee` killed, stderr may be gone, and this
    // task must live on to end the grace period.
    crate::say!(
        "chime-pin-reset: stopping: no new rows will be sent; rows in flight have {} s to \
         finish (press Ctrl-C again to stop at once)",
        grace.as_secs_f64()
    );
    tokio::select! {
        _ = stop_signals.recv() => {}
        _ = tokio::time::sleep(grace) => {}
    }
    control.abort.cancel();
}

/// The signals that ask a run to stop.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next of them.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}
