//! How a run stops: the reasons it may stop early, the tokens that end dispatching and drop
//! the rows in flight, and the signals (Ctrl-C, SIGTERM) that ask for either.

use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use crate::outcome::StopReason;

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

/// Ctrl-C or SIGTERM stops dispatching and gives in-flight rows `grace` to finish; a second
/// signal (or the end of the grace period) drops them.
pub async fn watch_signals(control: &Control, grace: Duration) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    let mut interrupt =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(interrupt) => interrupt,
            Err(_) => return,
        };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    control.stop(StopReason::Interrupted);
    eprintln!(
        "chime-pin-reset: stopping: no new rows will be sent; rows in flight have {} s to \
         finish (press Ctrl-C again to stop at once)",
        grace.as_secs_f64()
    );
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        _ = tokio::time::sleep(grace) => {}
    }
    control.abort.cancel();
}
