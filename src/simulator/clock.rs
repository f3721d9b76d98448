//! When a delayed answer goes out: at its due time to within a fraction of a millisecond.
//!
//! Tokio's timer fires on whole-millisecond ticks, so every request that arrived within the same
//! millisecond would be answered at the same tick, about half a millisecond late on average: a
//! `--latency-ms 20` that answers in 20.4 ms, in clumps no network delivers, which hold a client
//! in lock-step. One thread keeps the due times in order and sleeps on the operating system's
//! high-resolution timer until the earliest; each waiting request has a oneshot to be woken by.
//! Requests only take a short lock to join the queue: the thread is woken for due answers,
//! not for each arrival.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The most the clock wakes early for: a loaded machine's wake-ups are late by more, but the
/// answers of a quiet moment must not come early by as much.
const MAX_LEAD: Duration = Duration::from_millis(1);

/// A request's answer time and the handle that wakes it.
struct Due {
    at: Instant,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// Wakes each delayed answer at its due time; its thread ends when the clock is dropped.
pub(super) struct AnswerClock {
    shared: Arc<Waiting>,
    thread: Thread,
    /// How early the thread is asked to wake, in nanoseconds: what it takes from the due time
    /// to the answer's task running again (the thread's own wake-up, then the runtime's),
    /// learnt from the answers so far, so that answers go out at their due time on average.
    lead_ns: AtomicU64,
    /// Answers the lead has learnt from so far.
    answers: AtomicU64,
}

/// The answers waiting, earliest first, and whether the clock has been dropped.
#[derive(Default)]
struct Waiting {
    dues: Mutex<BinaryHeap<Reverse<Due>>>,
    stopped: AtomicBool,
}

impl AnswerClock {
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Waiting::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("simulator-clock".into())
                .spawn(move || wake_when_due(&shared))?
                .thread()
                .clone()
        };
        Ok(AnswerClock {
            shared,
            thread,
            lead_ns: AtomicU64::new(0),
            answers: AtomicU64::new(0),
        })
    }

    /// Returns at `at` (at once if it has passed), give or take the machine's scheduling.
    pub async fn sleep_until(&self, at: Instant) {
        let lead = Duration::from_nanos(self.lead_ns.load(Ordering::Relaxed));
        self.wake_at(at.checked_sub(lead).unwrap_or(at)).await;
        self.learn_lead(at, lead);
    }

    /// Moves the lead a step towards the one that would have answered this request on time:
    /// the mean of the first answers, then a slow average of the last ones, so one descheduled
    /// wake-up does not move every next answer.
    fn learn_lead(&self, due: Instant, lead: Duration) {
        const MOST_ANSWERS_AVERAGED: u64 = 64;
        let answers = self.answers.fetch_add(1, Ordering::Relaxed) + 1;
        let step = 1.0 / answers.min(MOST_ANSWERS_AVERAGED) as f64;
        let now = Instant::now();
        let late_s = if now >= due {
            (now - due).as_secs_f64()
        } else {
            -(due - now).as_secs_f64()
        };
        let lead_s = (lead.as_secs_f64() + step * late_s).clamp(0.0, MAX_LEAD.as_secs_f64());
        self.lead_ns.store((lead_s * 1e9) as u64, Ordering::Relaxed);
    }

    async fn wake_at(&self, at: Instant) {
        let (wake, woken) = oneshot::channel();
        let earliest = {
            let mut dues = self.shared.dues.lock().unwrap_or_else(|e| e.into_inner());
            let earliest = dues.peek().is_none_or(|next| at < next.0.at);
            dues.push(Reverse(Due { at, wake }));
            earliest
        };
        // The thread sleeps until the earliest due time it knew: only an earlier one needs it
        // woken, which with one latency for every request is rare.
        if earliest {
            self.thread.unpark();
        }
        // The thread sends on every waker it takes; one is dropped unsent only with the clock,
        // when the simulator has gone, and then nothing is worth waiting for.
        let _ = woken.await;
    }
}

impl Drop for AnswerClock {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The clock thread: wakes every answer that is due, then sleeps until the next due time (or
/// until an earlier one arrives).
fn wake_when_due(shared: &Waiting) {
    let mut due_now = Vec::new();
    while !shared.stopped.load(Ordering::Acquire) {
        let now = Instant::now();
        let next = {
            let mut dues = shared.dues.lock().unwrap_or_else(|e| e.into_inner());
            while dues.peek().is_some_and(|next| next.0.at <= now) {
                due_now.extend(dues.pop());
            }
            dues.peek().map(|next| next.0.at)
        };
        for Reverse(due) in due_now.drain(..) {
            // The request may have gone meanwhile (its client hung up).
            let _ = due.wake.send(());
        }
        match next {
            Some(at) => std::thread::park_timeout(at - now),
            None => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_wake_in_the_order_they_are_due_and_never_much_early() {
        let clock = Arc::new(AnswerClock::start().unwrap());
        let start = Instant::now();
        let (woken_tx, mut woken) = tokio::sync::mpsc::unbounded_channel();
        for after_ms in [30, 10, 20, 10] {
            let (clock, woken_tx) = (clock.clone(), woken_tx.clone());
            tokio::spawn(async move {
                let due = start + Duration::from_millis(after_ms);
                clock.sleep_until(due).await;
                let _ = woken_tx.send((after_ms, Instant::now() + MAX_LEAD >= due));
            });
        }
        drop(woken_tx);
        let mut order = Vec::new();
        while let Some((after_ms, not_early)) = woken.recv().await {
            assert!(not_early, "the answer due after {after_ms} ms woke early");
            order.push(after_ms);
        }
        assert_eq!(order, [10, 10, 20, 30]);
    }
}
