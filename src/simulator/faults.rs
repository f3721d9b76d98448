//! Faults the simulator injects into the API operations a run makes for its rows: latency, a server-side token
//! bucket, service failures, lost answers and garbled answers, and the credential faults that
//! `auth` applies. Every random choice comes from
//! one seeded generator, so a run with the same seed and the same request order repeats.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

/// Faults to inject; `Faults::default()` injects none. Each is the `simulate` flag of the same
/// name (`latency_ms` is `--latency-ms`), whose help says what it does.
#[derive(Debug, Clone)]
pub struct Faults {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// The server's token bucket: requests per second beyond which it throttles.
    pub throttle_rps: Option<f64>,
    /// Its size; 0 is max(1, rate).
    pub throttle_burst: u32,
    pub fail_rate: f64,
    pub drop_rate: f64,
    pub reset_then_drop_rate: f64,
    pub garbage_rate: f64,
    pub no_pin_rate: f64,
    pub late_apply_rate: f64,
    pub late_apply_ms: u64,
    pub unauthorized_key: Option<String>,
    pub expired_key: Option<String>,
    pub expire_keys_after: Option<u64>,
    pub forbidden_accounts: Vec<String>,
    pub get_account_forbidden: bool,
    pub gateway_error_rate: f64,
    pub logout_fail_rate: f64,
}

impl Default for Faults {
    /// No faults; the same values as the flags' defaults.
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            jitter_ms: 0,
            throttle_rps: None,
            throttle_burst: 0,
            fail_rate: 0.0,
            drop_rate: 0.0,
            reset_then_drop_rate: 0.0,
            garbage_rate: 0.0,
            no_pin_rate: 0.0,
            late_apply_rate: 0.0,
            late_apply_ms: 5_000,
            unauthorized_key: None,
            expired_key: None,
            expire_keys_after: None,
            forbidden_accounts: Vec::new(),
            get_account_forbidden: false,
            logout_fail_rate: 0.0,
            gateway_error_rate: 0.0,
        }
    }
}

/// What happens to one request, drawn once on arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Normal,
    ServiceFailure,
    ServiceUnavailable,
    Drop,
    ResetThenDrop,
    Garbage,
    /// A reset answered without its PIN.
    NoPin,
    /// A reset held past the client's patience, then applied.
    LateApply,
    /// 502 or 504 from the gateway in front of the service.
    BadGateway,
    GatewayTimeout,
}

/// The random choices for one request, drawn under one short lock.
pub(crate) struct Draw {
    pub delay: Duration,
    pub fate: Fate,
    /// A fresh PIN, used if the request resets one.
    pub pin: [u8; 10],
}

impl std::fmt::Debug for Draw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draw")
            .field("delay", &self.delay)
            .field("fate", &self.fate)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// Faults plus the state they need at run time: the generator and the token bucket.
pub(crate) struct FaultEngine {
    pub faults: Faults,
    rng: Mutex<rand::rngs::SmallRng>,
    /// `None` while throttling is off.
    bucket: Mutex<Option<Bucket>>,
    /// `--logout-fail-rate`, which the admin endpoint changes.
    logout_fail_rate: Mutex<f64>,
}

struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl FaultEngine {
    pub fn new(faults: Faults, seed: u64) -> Self {
        let bucket = faults
            .throttle_rps
            .map(|rate| Bucket::new(rate, faults.throttle_burst));
        FaultEngine {
            logout_fail_rate: Mutex::new(faults.logout_fail_rate),
            faults,
            rng: Mutex::new(rand::rngs::SmallRng::seed_from_u64(seed ^ 0x6661_756c_7473)),
            bucket: Mutex::new(bucket),
        }
    }

    /// Replaces the token bucket with a full one of `rps` and `burst` (0: max(1, rps)); an
    /// `rps` of 0 turns throttling off. Returns the rate and burst now in force.
    pub fn set_throttle(&self, rps: f64, burst: u32) -> Option<(f64, f64)> {
        let bucket = (rps > 0.0).then(|| Bucket::new(rps, burst));
        let in_force = bucket.as_ref().map(|b| (b.rate, b.capacity));
        *self.bucket.lock().unwrap_or_else(|e| e.into_inner()) = bucket;
        in_force
    }

    /// Draws the delay, fate and a candidate PIN for one request.
    pub fn draw(&self) -> Draw {
        let f = &self.faults;
        // The lock guards only the generator's state, never an await.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let jitter = if f.jitter_ms > 0 {
            rng.random_range(0..=f.jitter_ms)
        } else {
            0
        };
        let delay = Duration::from_millis(f.latency_ms + jitter);
        let any_fault = f.fail_rate
            + f.drop_rate
            + f.reset_then_drop_rate
            + f.garbage_rate
            + f.no_pin_rate
            + f.late_apply_rate
            + f.gateway_error_rate
            > 0.0;
        let fate = if any_fault {
            let u: f64 = rng.random();
            let fail = f.fail_rate;
            let drop = fail + f.drop_rate;
            let reset_then_drop = drop + f.reset_then_drop_rate;
            let garbage = reset_then_drop + f.garbage_rate;
            // New fates come last, so the old ones keep their draws for the same seed.
            let no_pin = garbage + f.no_pin_rate;
            let late_apply = no_pin + f.late_apply_rate;
            let gateway = late_apply + f.gateway_error_rate;
            if u < fail {
                if rng.random::<bool>() {
                    Fate::ServiceFailure
                } else {
                    Fate::ServiceUnavailable
                }
            } else if u < drop {
                Fate::Drop
            } else if u < reset_then_drop {
                Fate::ResetThenDrop
            } else if u < garbage {
                Fate::Garbage
            } else if u < no_pin {
                Fate::NoPin
            } else if u < late_apply {
                Fate::LateApply
            } else if u < gateway {
                if rng.random::<bool>() {
                    Fate::BadGateway
                } else {
                    Fate::GatewayTimeout
                }
            } else {
                Fate::Normal
            }
        } else {
            Fate::Normal
        };
        let pin = random_pin(&mut *rng);
        Draw { delay, fate, pin }
    }

    /// Whether this LogoutUser fails (`--logout-fail-rate`). The generator is drawn only while
    /// the rate is above 0, so other runs keep their draws for the same seed.
    pub fn fails_logout(&self) -> bool {
        let rate = *self
            .logout_fail_rate
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rate > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random::<f64>()
                < rate
    }

    /// Replaces `--logout-fail-rate`.
    pub fn set_logout_fail_rate(&self, rate: f64) {
        *self
            .logout_fail_rate
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = rate;
    }

    /// Takes a token from the bucket; false means throttle this request.
    pub fn admit(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let Some(b) = bucket.as_mut() else {
            return true;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * b.rate).min(b.capacity);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A PIN for a user at start-up, or one the admin endpoint sets.
    pub fn fresh_pin(&self) -> [u8; 10] {
        random_pin(&mut *self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn is_forbidden(&self, account_id: &str) -> bool {
        self.faults
            .forbidden_accounts
            .iter()
            .any(|a| a == account_id)
    }
}

impl Bucket {
    /// A full bucket; a `burst` of 0 means max(1, rate).
    fn new(rate: f64, burst: u32) -> Self {
        let capacity = if burst == 0 {
            rate.max(1.0)
        } else {
            f64::from(burst)
        };
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }
}

/// Ten random ASCII digits.
pub(crate) fn random_pin(rng: &mut impl Rng) -> [u8; 10] {
    let mut pin = [0u8; 10];
    for d in &mut pin {
        *d = b'0' + rng.random_range(0..10u8);
    }
    pin
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No faults but what `set` sets.
    fn with(set: impl FnOnce(&mut Faults)) -> Faults {
        let mut faults = Faults::default();
        set(&mut faults);
        faults
    }

    #[test]
    fn token_bucket_admits_the_burst_then_throttles() {
        let engine = FaultEngine::new(
            Faults {
                throttle_rps: Some(0.001),
                throttle_burst: 3,
                ..Faults::default()
            },
            1,
        );
        let admitted = (0..10).filter(|_| engine.admit()).count();
        assert_eq!(admitted, 3);
        assert_eq!(engine.set_throttle(0.0, 0), None);
        assert!(
            (0..10).all(|_| engine.admit()),
            "rps 0 turns throttling off"
        );
        assert_eq!(engine.set_throttle(0.001, 0), Some((0.001, 1.0)));
        assert_eq!((0..10).filter(|_| engine.admit()).count(), 1);
    }

    #[test]
    fn fates_follow_rates_of_one() {
        for (faults, fate) in [
            (with(|f| f.drop_rate = 1.0), Fate::Drop),
            (with(|f| f.reset_then_drop_rate = 1.0), Fate::ResetThenDrop),
            (with(|f| f.garbage_rate = 1.0), Fate::Garbage),
            (with(|f| f.no_pin_rate = 1.0), Fate::NoPin),
            (with(|f| f.late_apply_rate = 1.0), Fate::LateApply),
            (Faults::default(), Fate::Normal),
        ] {
            let engine = FaultEngine::new(faults, 3);
            assert!((0..50).all(|_| engine.draw().fate == fate));
        }
        let engine = FaultEngine::new(with(|f| f.fail_rate = 1.0), 3);
        let fates: Vec<Fate> = (0..50).map(|_| engine.draw().fate).collect();
        assert!(fates.contains(&Fate::ServiceFailure) && fates.contains(&Fate::ServiceUnavailable));
        assert!(fates
            .iter()
            .all(|f| matches!(f, Fate::ServiceFailure | Fate::ServiceUnavailable)));
    }

    #[test]
    fn same_seed_same_draws() {
        let faults = Faults {
            fail_rate: 0.3,
            drop_rate: 0.3,
            jitter_ms: 9,
            ..Faults::default()
        };
        let a = FaultEngine::new(faults.clone(), 42);
        let b = FaultEngine::new(faults, 42);
        for _ in 0..100 {
            let (x, y) = (a.draw(), b.draw());
            assert_eq!((x.delay, x.fate, x.pin), (y.delay, y.fate, y.pin));
        }
    }
}
