//! The run's request rate: the configured ceiling (`--rate`, `--burst`) and, under it, an
//! adaptive rate that finds and holds the rate Chime actually allows.
//!
//! The adaptive part follows the AWS SDKs' adaptive retry mode (botocore's
//! `retries/adaptive.py`, smithy-rs's `client_rate_limiter.rs`), which is TCP CUBIC applied to
//! a request rate, with three changes that matter against a token bucket with a small burst:
//!
//! - **One cut per congestion event.** Every request carries a [`SendTicket`]; a throttle for a
//!   request sent before the last cut says nothing the cut did not already act on, so only a
//!   throttle for a request sent after it cuts again.
//! - **Each cut sized by what caused it.** The first throttle of a run halves the rate, as TCP
//!   does: nothing says how far past Chime's rate the run started. A lone throttle after a
//!   quiet spell is a probe just past the service's rate: the ceiling (`w_max`) goes 1.5% under
//!   the rate it was sent at, and a step back of 1% under that is enough (10% when the climb
//!   was past a provisional ceiling, which is fast: the service's burst hid the crossing while
//!   the rate went on rising). A throttle soon after a cut means the cut fell short: another
//!   step from the rate the request was sent at, twice the last at most 10%, or, when Chime
//!   accepts clearly less than that (a large overshoot), down to the rate it *accepted* over
//!   the last second or its last half, whichever is busier (successful answers, not sends), but
//!   never by more than half at once. A throttle before Chime has accepted anything is passed
//!   over, once: the bucket was empty when the run began, whatever the run's rate.
//! - **The recovery is scaled to the ceiling.** CUBIC's curve is
//!   `w_max · (1 + SCALE · (t − K)³)`, so it returns to `w_max` in the same `K` seconds at
//!   1 request/s and at 1,000, stays flat near it (where the service's rate most likely is) and
//!   only then probes beyond, slowly at first and faster the longer no throttle comes.
//!
//! An unlimited run (`--rate 0`) starts slowly, as TCP does: the rate doubles with each round
//! trip's answers (each accepted answer raises it by a share, so that a round trip's worth of
//! answers doubles it), so `--concurrency` requests do not all meet a small burst at once, yet
//! the run is at full speed within a fraction of a second (at 20 ms a round trip, 16 requests
//! in flight in a fifth of a second). The slow start ends at the first throttle, or once the
//! rate lets half as many requests go per round trip as may be in flight (the next doubling
//! would fill the window): from then on `--concurrency` alone limits the run, until Chime
//! throttles.
//!
//! Sends are spaced evenly by a pacer (no bursts out of a lowered rate), and one request at a
//! time waits for its send time, which it recomputes on waking: a cut slows the very next send
//! rather than only the sends asked for after the queue already booked slots. Where the window
//! limits the run the pacer spaces the sends at its rate too, `--concurrency` requests a round
//! trip (a twentieth faster, so that it never holds the average back): requests that come free
//! together go out spread over the round trip instead of bunching for the rest of the run.
//!
//! The configured ceiling is one `governor` limiter (`--rate` with an explicit `--burst`), run
//! on tokio's clock ([`TokioClock`]) so that the paused clock of the tests drives it too and
//! shows that the configured rate and burst hold once the adaptive rate climbs back up to them.
//! Only one of the two ever makes a request wait: below the configured rate the pacer spaces
//! the sends, at it the limiter alone decides, so no send pays for two timer roundings. All
//! times are [`tokio::time::Instant`] for the same reason. The limiter runs 0.7% under
//! `--rate` ([`CEILING_MARGIN`]), and a send it held that the timer woke late keeps its
//! booked time, within a tenth of a period ([`LATE_CREDIT_SHARE`]): with `--burst 1` a late
//! wake-up is no longer lost for every send, and no one-second window holds more than the rate.
//!
//! A run's waits where a late wake-up is lost for good (after a throttle, where each send goes
//! a whole period after the last, and at the configured rate's limiter) are on the crate's
//! [`Alarm`], a timerfd the runtime's own poll wakes for within a fraction of a millisecond,
//! instead of on tokio's timer, which wakes on the next whole millisecond or the one after
//! ([`RateGovernor::with_precise_timer`]; the tests' paused clock drives tokio's).

mod clock;

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

pub use clock::{TokioClock, TokioInstant};

use crate::timer::Alarm;

/// The rate kept after a cut that follows another (the first fell short), as a share of the
/// ceiling.
const BETA: f64 = 0.9;
/// Where a lone throttle sets the ceiling, as a share of the rate that met it: a probe just past
/// the service's rate, and a ceiling at the probe's own rate is met again within seconds
/// (figures in tests/bench/pacing-notes.md).
const PROBE_MARGIN: f64 = 0.985;
/// The share of that ceiling kept after a lone throttle: the ceiling is known closely, so a
/// small step back is enough. Past a provisional ceiling the probe went further past the
/// service's rate, so [`BETA`] applies there (figures in tests/bench/pacing-notes.md).
const PROBE_BETA: f64 = 0.99;
/// The rate kept after the first throttle of a run.
const FIRST_BETA: f64 = 0.5;
/// A cut fell far short when Chime accepts less than this share of the rate sent. The meter,
/// restarted at the run's first cut, still counts the climb back from it: a probe a few percent
/// past Chime's rate a moment later reads as about 0.7 of the rate sent, and must step back
/// from its send rate, not down to that reading; an overshoot of a configured rate reads 0.5
/// or less.
const OVERSHOOT: f64 = 0.6;
/// CUBIC's growth constant, relative to `w_max`: `K = ∛((1 − beta) / SCALE)` = 2.9 s back to
/// `w_max` after a probe, 6.3 s after a cut that kept 90%; twice `w_max` about 14 s later, a
/// thousand times about 140 s later.
const SCALE: f64 = 0.0004;
/// The growth constant while `w_max` was counted from less than a second of answers (at the
/// end of the slow start, or after a large overshoot early in a run): such a ceiling may be far
/// too low, so probe past it in about 2 s rather than 14.
const PROVISIONAL_SCALE: f64 = 0.1;
/// Never slower than one request every two seconds (smithy-rs's floor too).
const MIN_RATE: f64 = 0.5;
/// An unlimited run starts at this rate and doubles it with each round trip's answers until
/// the first throttle: all `--concurrency` requests at once would meet a small burst, while
/// doubling finds any rate within a few round trips. Twenty a second is as gentle as a bucket of
/// 20/s with no burst needs (one request every 50 ms); each answer raises it by √2 at most while
/// it is that low (figures in tests/bench/pacing-notes.md).
const SLOW_START_RATE: f64 = 20.0;
/// How far back accepted answers are counted.
const METER_WINDOW: Duration = Duration::from_secs(1);
/// The shortest span a rate is measured over: at the first throttle of a run only
/// milliseconds have passed, and a count over them would be a burst, not a rate.
const METER_MIN_SPAN: Duration = Duration::from_millis(100);
/// The pacer spaces the sends at the rate the window allows, `--concurrency` requests a round
/// trip, and this much faster, so that it holds back only requests that come much closer
/// together than the average: without it requests bunch like buses, every request in flight
/// going out and coming back in one clump (figures in tests/bench/pacing-notes.md).
const WINDOW_HEADROOM: f64 = 1.05;
/// How late a sender may come and still keep its booked send time, in the slow start and where
/// the window's pace spaces the sends: tokio's timer fires up to a tick after the deadline, and
/// spacing from each late send would hold the run well under the window. More idle time than
/// this is not credited (no bursts). After a throttle nothing is credited: a bucket with no
/// burst throttles any two requests closer than its period (figures in
/// tests/bench/pacing-notes.md).
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// When a request was let go; hand it back with its answer to
/// [`RateGovernor::on_throttle`].
#[derive(Clone, Copy, Debug)]
pub struct SendTicket {
    sent: Instant,
    /// The adaptive rate in force when it was sent: the rate a lone throttle says is too high.
    rate: f64,
}

/// The run's request rate, shared by every attempt of every row. See the module doc.
#[derive(Debug)]
pub struct RateGovernor {
    ceiling: Option<Ceiling>,
    /// The configured rate and burst: one governor limiter.
    limiter: Option<Limiter>,
    /// One sender at a time waits for its send time, the rest queue here in order (the lock is
    /// fair): the waiter recomputes its time on waking, so a rate change applies at once. The
    /// waiter holds the alarm its exact waits are on (see [`RateGovernor::with_precise_timer`]);
    /// `None` on the tests' paused clock, which only tokio's timer follows.
    turn: tokio::sync::Mutex<Option<Alarm>>,
    /// Wakes the waiting sender when the slow start raises the rate: its time comes sooner.
    raised: tokio::sync::Notify,
    /// Requests in flight at most (`--concurrency`): the slow start ends once the rate lets
    /// half as many go per round trip.
    window: f64,
    state: Mutex<State>,
}

/// The pacer's next send time, and what it was worked out from.
struct Booking {
    /// One period after the last send time; it may have passed already.
    at: Instant,
    /// The adaptive rate in force.
    rate: f64,
    /// How much of a late send may keep the booked time ([`TIMER_SLACK`] or none).
    slack: Duration,
}

/// The configured `--rate`: the adaptive rate never goes above it.
#[derive(Debug)]
struct Ceiling {
    rate: f64,
    /// How late a send the limiter held may come and still count at its booked time.
    late_credit: Duration,
}

/// The configured rate's limiter runs this much under `--rate`: 7 ms a second, more than a
/// send credited for its lateness ([`MAX_LATE_CREDIT`]) takes back and the few milliseconds a
/// loaded machine holds a request up on its way, so that no one-second window holds more than
/// the rate (figures in tests/bench/pacing-notes.md).
const CEILING_MARGIN: f64 = 0.993;
/// A send the configured rate's limiter held, and the timer woke late, counts at its booked
/// time if it is at most this share of a period late, so that the wake-up's lateness is not
/// lost for every send (with `--burst 1` it was: 97.5% of `--rate 100` and 85.8% of 1,000):
/// the gap after it stays at least nine tenths of a period, which any server whose rate is a
/// ninth above `--rate`, or whose bucket holds two, takes.
const LATE_CREDIT_SHARE: f64 = 0.1;
/// The most lateness a send of the configured rate is credited (see [`CEILING_MARGIN`]).
const MAX_LATE_CREDIT: Duration = Duration::from_millis(1);

/// A governor limiter on tokio's clock.
type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

#[derive(Debug)]
struct State {
    /// CUBIC's ceiling: the rate at the last congestion event.
    w_max: f64,
    /// The last congestion event; `None` until the first throttle (then the configured rate
    /// is in force, or none at all).
    last_cut: Option<Instant>,
    /// Whether `w_max` is a guess that may be far too low, made while the meter held less than
    /// a full window of answers: the rate then probes past it quickly.
    provisional: bool,
    /// The share of `w_max` the last cut kept.
    beta: f64,
    /// The rate of an unlimited run before its first throttle: it starts at
    /// [`SLOW_START_RATE`] and is infinite once the slow start is over.
    slow_start: f64,
    /// The pacer's last booked send time.
    last_slot: Option<Instant>,
    /// The round trip of an answered request, a moving average (seconds).
    round_trip: Option<f64>,
    /// Whether a throttle that came before anything was accepted has been passed over.
    passed_over_empty_start: bool,
    meter: Meter,
}

impl RateGovernor {
    /// `rate` is the configured ceiling (`None`: unlimited until Chime throttles), `burst` the
    /// requests that may go at once above it after a quiet spell, `window` the requests that
    /// may be in flight at once.
    pub fn new(rate: Option<NonZeroU32>, burst: NonZeroU32, window: NonZeroUsize) -> Self {
        let ceiling = rate.map(|rate| {
            let period = Duration::from_secs_f64(1.0 / f64::from(rate.get()));
            Ceiling {
                rate: f64::from(rate.get()),
                late_credit: period.mul_f64(LATE_CREDIT_SHARE).min(MAX_LATE_CREDIT),
            }
        });
        let limiter = rate.map(|rate| {
            let period = Duration::from_secs_f64(1.0 / (f64::from(rate.get()) * CEILING_MARGIN));
            let quota = Quota::with_period(period).expect("a rate of at most u32::MAX a second");
            RateLimiter::direct_with_clock(quota.allow_burst(burst), TokioClock::default())
        });
        RateGovernor {
            ceiling,
            limiter,
            turn: tokio::sync::Mutex::new(None),
            raised: tokio::sync::Notify::new(),
            window: window.get() as f64,
            state: Mutex::new(State {
                w_max: f64::INFINITY,
                last_cut: None,
                provisional: false,
                beta: BETA,
                slow_start: SLOW_START_RATE,
                last_slot: None,
                round_trip: None,
                passed_over_empty_start: false,
                meter: Meter::default(),
            }),
        }
    }

    /// Waits where a late send is lost for good on an [`Alarm`], to within a fraction of a
    /// millisecond, instead of tokio's millisecond ticks (figures in tests/bench/pacing-notes.md).
    /// Called within the runtime, whose reactor the alarm joins; without one, tokio's timer.
    pub fn with_precise_timer(self) -> Self {
        RateGovernor {
            turn: tokio::sync::Mutex::new(Alarm::new()),
            ..self
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("the rate lock is never held across a panic")
    }

    /// Waits until one more request may be sent; the ticket goes back with its answer.
    pub async fn acquire(&self) -> SendTicket {
        let mut alarm = self.turn.lock().await;
        // The time the limiter last told this sender to come back at.
        let mut held_until: Option<Instant> = None;
        loop {
            // Created before the rate is read, so that no raise after the reading is missed.
            let raised = self.raised.notified();
            let now = Instant::now();
            let booking = self.booking(now);
            if booking.at > now {
                // Where late sends keep their booked time, tokio's millisecond costs nothing.
                let exact = booking.slack.is_zero();
                tokio::select! {
                    _ = sleep_until(&mut alarm, booking.at, exact) => {}
                    _ = raised => {}
                }
                continue;
            }
            if let (Some(limiter), Some(ceiling)) = (&self.limiter, &self.ceiling) {
                let late = held_until.map_or(Duration::ZERO, |due| now.duration_since(due));
                limiter.clock().credit(late.min(ceiling.late_credit));
                let checked = limiter.check();
                limiter.clock().credit(Duration::ZERO);
                if let Err(not_until) = checked {
                    let due = not_until.earliest_possible().0;
                    sleep_until(&mut alarm, due, true).await;
                    held_until = Some(due);
                    continue;
                }
            }
            let mut state = self.lock();
            let slot = now
                .checked_sub(booking.slack)
                .map_or(booking.at, |early| booking.at.max(early));
            state.last_slot = Some(slot);
            state.meter.start(now);
            return SendTicket {
                sent: now,
                rate: booking.rate,
            };
        }
    }

    /// The pacer's next send time: one period after the last, of the adaptive rate or the
    /// window's, whichever is slower (`now` for the run's first send, and while the configured
    /// rate's limiter decides).
    fn booking(&self, now: Instant) -> Booking {
        let state = self.lock();
        let rate = self.adaptive_rate(&state, now);
        let window_rate = self.window_rate(&state);
        let pace = rate.min(window_rate);
        let paced = match &self.ceiling {
            Some(ceiling) => pace < ceiling.rate,
            None => pace.is_finite(),
        };
        let at = match (paced, state.last_slot) {
            (true, Some(last)) => last + Duration::from_secs_f64(1.0 / pace),
            _ => now,
        };
        let slack = if state.last_cut.is_none() || window_rate < rate {
            TIMER_SLACK
        } else {
            Duration::ZERO
        };
        Booking { at, rate, slack }
    }

    /// The rate at which `--concurrency` requests go once a round trip, with
    /// [`WINDOW_HEADROOM`] to spare; infinite before the first answer.
    fn window_rate(&self, state: &State) -> f64 {
        state.round_trip.map_or(f64::INFINITY, |round_trip| {
            WINDOW_HEADROOM * self.window / round_trip
        })
    }

    /// The adaptive rate at `now`, capped by the configured one; infinite while unlimited and
    /// never throttled.
    fn adaptive_rate(&self, state: &State, now: Instant) -> f64 {
        let Some(cut) = state.last_cut else {
            return self
                .ceiling
                .as_ref()
                .map_or(state.slow_start, |ceiling| ceiling.rate);
        };
        let cap = self.ceiling.as_ref().map_or(f64::INFINITY, |c| c.rate);
        let scale = if state.provisional {
            PROVISIONAL_SCALE
        } else {
            SCALE
        };
        let k = ((1.0 - state.beta) / scale).cbrt();
        let t = now.duration_since(cut).as_secs_f64() - k;
        (state.w_max * (1.0 + scale * t.powi(3)))
            .max(MIN_RATE)
            .min(cap)
    }

    /// The rate in force, for the progress line; `None` when unlimited.
    pub fn current(&self) -> Option<f64> {
        let rate = self.adaptive_rate(&self.lock(), Instant::now());
        rate.is_finite().then_some(rate)
    }

    /// Chime accepted the request sent with `ticket`.
    pub fn on_success(&self, ticket: SendTicket) {
        let now = Instant::now();
        let mut state = self.lock();
        state.note_round_trip(now - ticket.sent);
        state.meter.record(now);
        if state.last_cut.is_none() && self.ceiling.is_none() && state.slow_start.is_finite() {
            state.slow_start = slow_start_step(state.slow_start, &ticket, now, self.window);
            self.raised.notify_waiters();
        }
    }

    /// Chime throttled the request sent with `ticket`.
    pub fn on_throttle(&self, ticket: SendTicket) {
        let now = Instant::now();
        let mut state = self.lock();
        state.note_round_trip(now - ticket.sent);
        if state.last_cut.is_some_and(|cut| ticket.sent < cut) {
            // Sent at the rate the last cut already lowered: the same congestion event.
            return;
        }
        if !state.meter.accepted_any && !state.passed_over_empty_start {
            // The run's first answer is a throttle: Chime's bucket was empty when the run began
            // (the checks before it, or another tool, had taken it), which says nothing of the
            // run's rate. Once only: a second one before any success is a rate too high.
            state.passed_over_empty_start = true;
            return;
        }
        let sending = self.adaptive_rate(&state, now);
        let (accepted, settled) = state.meter.rate(now);
        let cut = size_cut(&state, now, &ticket, sending, accepted);
        if state.last_cut.is_none() {
            // The answers so far include the service's burst, taken at once from a full bucket:
            // from now on only what it accepts at its rate counts.
            state.meter.restart(now);
        }
        state.w_max = sending.min(cut.w_max).max(MIN_RATE);
        state.beta = cut.beta;
        state.provisional = cut.uncertain && !settled;
        state.last_cut = Some(now);
    }
}

/// Sleeps until `at`: on the alarm if there is one and the wait is `exact`, on tokio's timer
/// otherwise.
async fn sleep_until(alarm: &mut Option<Alarm>, at: Instant, exact: bool) {
    match alarm {
        Some(alarm) if exact => alarm.sleep_until(at.into_std()).await,
        _ => tokio::time::sleep_until(at).await,
    }
}

impl State {
    /// Adds one answer's round trip to the average: an eighth of the way towards it, as TCP
    /// smooths its round trip, and never more than twice the average, so that one answer held
    /// up for seconds slows the pacer by an eighth at most.
    fn note_round_trip(&mut self, took: Duration) {
        let took = took.as_secs_f64();
        self.round_trip = Some(match self.round_trip {
            Some(average) if average > 0.0 => average + (took.min(2.0 * average) - average) / 8.0,
            // The first answer, or answers so far all instant (a paused clock): nothing to
            // bound by.
            _ => took,
        });
    }
}

/// The slow start's rate after one more accepted answer, sent with `ticket`: a round trip's
/// worth of answers doubles it (each multiplies it by 2^(1 / answers a round trip), counted at
/// the rate they were sent at, a round trip ago: counted at the rate now, the answers of a
/// round trip would raise it by only about 1.6). While fewer than two requests go per round
/// trip each answer raises it by √2 only: a rate that low may be Chime's own, and a small
/// bucket is met gently. Infinite once the rate lets half of `window` go per round trip: the
/// next round trip's doubling would fill the window, which limits the run from then on, and
/// going there at once saves that round trip (on the paused clock 16 and 64 in flight at 20 ms
/// were reached 16 and 20 ms sooner, every row of the matrix alike; a quarter of the window
/// saved another round trip, but a bucket of 50/s with a burst of 5 at 50 ms then met 1.97%
/// throttled answers against 1.58%).
fn slow_start_step(rate: f64, ticket: &SendTicket, now: Instant, window: f64) -> f64 {
    let round_trip = (now - ticket.sent).as_secs_f64();
    let answers_per_round_trip = ticket.rate.min(rate) * round_trip;
    let raised = rate * (1.0 / answers_per_round_trip.max(2.0)).exp2();
    if raised * round_trip < window / 2.0 {
        raised
    } else {
        f64::INFINITY
    }
}

/// A cut: the new ceiling and the share of it kept.
struct Cut {
    w_max: f64,
    beta: f64,
    /// Whether `w_max` is a guess that may be far too low (counted from few answers, or the
    /// run's first throttle, which may have met a bucket other calls had emptied): then the
    /// rate probes past it quickly while the meter is young.
    uncertain: bool,
}

/// Sizes the cut for a throttle of the request sent with `ticket`, by what caused it (see the
/// module doc). `sending` is the rate in force, `accepted` the rate Chime accepted lately.
fn size_cut(state: &State, now: Instant, ticket: &SendTicket, sending: f64, accepted: f64) -> Cut {
    let cut = |w_max, beta, uncertain| Cut {
        w_max,
        beta,
        uncertain,
    };
    let Some(last_cut) = state.last_cut else {
        return if ticket.rate.is_finite() {
            // The first throttle of a run: nothing says how far past Chime's rate the run
            // started, so halve, as TCP does.
            cut(ticket.rate, FIRST_BETA, true)
        } else {
            // Past the slow start nothing but the accepted rate is known.
            cut(accepted, BETA, true)
        };
    };
    if now.duration_since(last_cut) >= METER_WINDOW {
        // A throttle after a quiet spell is a probe just past the service's rate, sent at the
        // ceiling; the accepted rate, measured while the rate still climbed, would be too low.
        // Past a provisional ceiling the rate climbed fast, and the service's burst hid for a
        // while that it had passed the service's rate: the probe went well past it, so step
        // back as far as after a cut that fell short.
        let beta = if state.provisional { BETA } else { PROBE_BETA };
        return cut(PROBE_MARGIN * accepted.max(ticket.rate), beta, false);
    }
    // The last cut fell short: step down from the rate the request was sent at; after a large
    // overshoot, when Chime accepts clearly less than that, down to what it accepts, but never
    // by more than half at once (a meter just restarted counts few answers).
    if accepted < OVERSHOOT * ticket.rate {
        cut(accepted.max(sending / 2.0), BETA, true)
    } else {
        cut(ticket.rate, deeper(state.beta), false)
    }
}

/// The share to keep when the cut that kept `last` fell short: after a probe's small step back
/// twice as far each time (1%, 2%, 4%, 8%), not at once the 10% of [`BETA`]: against a bucket
/// with little burst a second throttle soon after a probe is as often the jitter of one send as
/// a rate still too high, and a 10% cut there cost 2 s at 92% of the service's rate. Never more
/// than [`BETA`]'s step.
fn deeper(last: f64) -> f64 {
    (2.0 * last - 1.0).clamp(BETA, PROBE_BETA)
}

/// Accepted answers over the last [`METER_WINDOW`].
#[derive(Debug, Default)]
struct Meter {
    /// The first send: spans are never counted from before it.
    origin: Option<Instant>,
    /// Whether Chime has accepted anything in this run.
    accepted_any: bool,
    accepted: VecDeque<Instant>,
}

impl Meter {
    fn start(&mut self, now: Instant) {
        self.origin.get_or_insert(now);
    }

    /// Forgets every answer so far: spans count from `now`.
    fn restart(&mut self, now: Instant) {
        self.origin = Some(now);
        self.accepted.clear();
    }

    fn record(&mut self, now: Instant) {
        self.accepted_any = true;
        self.accepted.push_back(now);
        self.forget_before(now);
    }

    fn forget_before(&mut self, now: Instant) {
        while self
            .accepted
            .front()
            .is_some_and(|&at| now.duration_since(at) > METER_WINDOW)
        {
            self.accepted.pop_front();
        }
    }

    /// The accepted rate, and whether it was measured over a full window.
    fn rate(&mut self, now: Instant) -> (f64, bool) {
        self.forget_before(now);
        let age = self.origin.map_or(Duration::ZERO, |at| now - at);
        let span = age.clamp(METER_MIN_SPAN, METER_WINDOW);
        let count = self.accepted.len() as f64;
        let over_window = count / span.as_secs_f64();
        // While the rate climbs, a whole window lags it: the last half says more.
        let half = METER_WINDOW / 2;
        let over_last_half = if age >= half {
            let recent = self
                .accepted
                .iter()
                .rev()
                .take_while(|&&at| now.duration_since(at) <= half)
                .count();
            recent as f64 / half.as_secs_f64()
        } else {
            0.0
        };
        (over_window.max(over_last_half), age >= METER_WINDOW)
    }
}

#[cfg(test)]
mod tests;
