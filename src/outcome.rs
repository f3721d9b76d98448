//! The model of a results row: what became of one input row ([`Outcome`]), its status, the user
//! as Chime described it ([`UserRecord`]), and the error codes that are ours rather than AWS's.
//!
//! Beside the rows, what a run reports as a whole: why it stopped early ([`StopReason`]) and the
//! counters its progress line reads ([`LiveStats`]).
//!
//! Everything that produces rows (input, execution) and everything that consumes them (output,
//! report) meets here; this module depends on nothing else of ours.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// The status column of the results, and what `verify`'s GetUser found ([`RowStatus::Found`],
/// which is never written to a results file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowStatus {
    Reset,
    WouldReset,
    Failed,
    Invalid,
    Duplicate,
    /// `--missing-ok`: Chime no longer has the user (its account exists): no PIN is left to
    /// void, so the row is done.
    Gone,
    /// `verify` read the user's PIN in force with GetUser, to judge it against the one
    /// recorded: its verified file says what it found, in its own statuses.
    Found,
}

impl RowStatus {
    /// The statuses of the results file.
    pub const ALL: [RowStatus; 6] = [
        RowStatus::Reset,
        RowStatus::WouldReset,
        RowStatus::Failed,
        RowStatus::Invalid,
        RowStatus::Duplicate,
        RowStatus::Gone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Reset => "reset",
            RowStatus::WouldReset => "would-reset",
            RowStatus::Failed => "failed",
            RowStatus::Invalid => "invalid",
            RowStatus::Duplicate => "duplicate",
            RowStatus::Gone => "gone",
            RowStatus::Found => "found",
        }
    }
}

/// The logout column of the results: what became of `run --logout`'s LogoutUser for a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Logout {
    /// No logout was asked for the row (no `--logout`, or the row was not reset): an empty
    /// cell, as in results written before the column existed.
    #[default]
    NotAsked,
    Done,
    /// The reset stands; the logout's error is in the row's error columns.
    Failed,
}

impl Logout {
    pub const ALL: [Logout; 3] = [Logout::NotAsked, Logout::Done, Logout::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Logout::NotAsked => "",
            Logout::Done => "done",
            Logout::Failed => "failed",
        }
    }
}

/// The error codes that are ours, written beside the AWS exception names in `error_code`.
pub mod codes {
    /// The row cannot be sent: a bad ID, no user named, a malformed line.
    pub const INVALID_INPUT: &str = "InvalidInput";
    /// The row names a user an earlier row names: a second reset would void the first PIN.
    pub const DUPLICATE_ROW: &str = "DuplicateRow";
    /// No answer within the attempt or connect timeout.
    pub const TIMEOUT: &str = "Timeout";
    /// The request did not complete: refused, reset or dropped connection, DNS failure.
    pub const CONNECTION_ERROR: &str = "ConnectionError";
    /// The row gave a user id and an email, and Chime's user of that id has another email.
    pub const EMAIL_MISMATCH: &str = "EmailMismatch";
    /// An answer that could not be read, or that lacked what it must hold.
    pub const INVALID_RESPONSE: &str = "InvalidResponse";
    /// No usable AWS credentials were found.
    pub const CREDENTIALS_ERROR: &str = "CredentialsError";
    /// The request could not be built from the configuration.
    pub const CONFIGURATION_ERROR: &str = "ConfigurationError";
    /// A failure of no kind the SDK names.
    pub const UNKNOWN_ERROR: &str = "UnknownError";
}

/// A personal meeting PIN. It is a secret: `Debug` never shows it; only [`Pin::expose`] does,
/// and only the writers of the results call that.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn new(pin: impl Into<String>) -> Self {
        Pin(pin.into())
    }

    /// The PIN in clear, for the results file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// What the tool keeps of a Chime `User`: our own type, so that no SDK `User` (whose `Debug`
/// prints the PIN) travels further than the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub primary_email: Option<String>,
    pub display_name: Option<String>,
    pub registration_status: Option<String>,
    pub personal_pin: Option<Pin>,
}

/// What became of one row: everything its results line needs.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub line: u64,
    pub account_id: String,
    pub user_id: String,
    pub status: RowStatus,
    /// The user as Chime returned it (its PIN only after a reset).
    pub user: Option<UserRecord>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: u32,
    pub request_id: Option<String>,
    pub finished_at: SystemTime,
    pub carried: Vec<String>,
    /// The email the row gave beside its user id (Chime's is in `user`).
    pub given_email: Option<String>,
    pub logout: Logout,
    /// A reset after an attempt of unknown outcome: what reading its PIN back found.
    pub read_back: Option<ReadBack>,
}

/// What reading a PIN back with GetUser found, after a reset that succeeded following an
/// attempt of unknown outcome (a lost answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBack {
    /// The PIN in force is the one the reset answered.
    Unchanged,
    /// An earlier attempt landed after the answer: the PIN in force replaced the answered one.
    Changed,
    /// Not read (the run stopped, GetUser failed or gave no PIN): `verify` checks it.
    NotConfirmed,
}

impl Outcome {
    /// A row finished now with `status`; the `with_…` methods add what else is known.
    pub fn new(line: u64, account_id: String, user_id: String, status: RowStatus) -> Self {
        Outcome {
            line,
            account_id,
            user_id,
            status,
            user: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            request_id: None,
            finished_at: SystemTime::now(),
            carried: Vec::new(),
            given_email: None,
            logout: Logout::NotAsked,
            read_back: None,
        }
    }

    pub fn with_read_back(self, read_back: ReadBack) -> Self {
        Outcome {
            read_back: Some(read_back),
            ..self
        }
    }

    pub fn with_given_email(self, given_email: Option<String>) -> Self {
        Outcome {
            given_email,
            ..self
        }
    }

    pub fn with_logout(self, logout: Logout) -> Self {
        Outcome { logout, ..self }
    }

    pub fn with_user(self, user: UserRecord) -> Self {
        Outcome {
            user: Some(user),
            ..self
        }
    }

    pub fn with_error(self, code: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome {
            error_code: Some(code.into()),
            error_message: Some(message.into()),
            ..self
        }
    }

    /// The calls made for the row and the AWS request id of the last answer.
    pub fn with_calls(self, attempts: u32, request_id: Option<String>) -> Self {
        Outcome {
            attempts,
            request_id,
            ..self
        }
    }

    /// A remark on a row that did not fail, in the `error_message` column.
    pub fn with_note(self, note: impl Into<String>) -> Self {
        Outcome {
            error_message: Some(note.into()),
            ..self
        }
    }

    pub fn with_carried(self, carried: Vec<String>) -> Self {
        Outcome { carried, ..self }
    }
}

/// Why a run stopped before its input was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Credentials were refused; every remaining row would fail the same way.
    CredentialsRejected {
        code: String,
        message: String,
    },
    MaxFailures(u64),
    /// Nothing answered: this many calls in a row failed to connect, none succeeding between.
    Unreachable {
        endpoint: String,
        failures: u32,
        error: String,
    },
    ResultsUnwritable(String),
    InputUnreadable(String),
    /// A row's task ended without an outcome (a bug): its row is named in the summary.
    RowLost,
    Interrupted,
    /// `--canary`: some of the first rows failed, so the others were not sent.
    CanaryFailed {
        failed: u64,
        rows: u64,
    },
    /// `--canary`: the first rows succeeded, and the answer to "continue?" was no.
    CanaryNotContinued {
        rows: u64,
    },
}

impl StopReason {
    /// The exit code of a run or a verify that ended as `stop` says, when nothing stopped it
    /// and `done` says whether every row came out as it should: the one mapping both use.
    pub fn exit_code(stop: Option<&StopReason>, done: bool) -> u8 {
        match stop {
            Some(StopReason::Interrupted) => crate::exit::INTERRUPTED,
            Some(_) => crate::exit::STOPPED_EARLY,
            None if done => crate::exit::SUCCESS,
            None => crate::exit::ROWS_FAILED,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::CredentialsRejected { code, message } => {
                write!(f, "the credentials were refused ({code}: {message})")
            }
            StopReason::MaxFailures(n) => write!(f, "{n} rows failed (--max-failures {n})"),
            StopReason::Unreachable {
                endpoint,
                failures,
                error,
            } => write!(
                f,
                "nothing answers at {endpoint}: {failures} calls in a row could not connect \
                 ({error}); check the endpoint, the network or the proxy"
            ),
            StopReason::ResultsUnwritable(why) => {
                write!(f, "the results file could not be written ({why})")
            }
            StopReason::InputUnreadable(why) => write!(f, "the input could not be read ({why})"),
            StopReason::RowLost => write!(f, "a row's task failed without an outcome"),
            StopReason::Interrupted => write!(f, "a signal asked the run to stop"),
            StopReason::CanaryFailed { failed, rows } => write!(
                f,
                "{failed} of the {rows} canary rows failed (--canary), so no other row was sent"
            ),
            StopReason::CanaryNotContinued { rows } => write!(
                f,
                "the {rows} canary rows succeeded, and the rest were not confirmed"
            ),
        }
    }
}

/// Counters the progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub in_flight: AtomicU64,
    pub throttles: AtomicU64,
    pub retries: AtomicU64,
    pub skipped: AtomicU64,
    /// Resets waiting to read their PIN back after a lost answer, and when the last of those
    /// waits ends.
    pub confirming: AtomicU64,
    pub confirming_until: Mutex<Option<Instant>>,
}

impl LiveStats {
    /// Counts a read-back waiting until `until`, for as long as the guard lives (a row dropped
    /// mid-wait, at the end of the grace period, is no longer counted).
    pub fn confirming_until(&self, until: Instant) -> ConfirmingGuard<'_> {
        self.confirming.fetch_add(1, Ordering::Relaxed);
        let mut latest = self.confirming_until.lock().expect("never poisoned");
        *latest = Some(latest.map_or(until, |latest| latest.max(until)));
        ConfirmingGuard(self)
    }

    /// The read-backs waiting, and how long until the last of them may be read; `None` when
    /// none waits.
    pub fn confirming(&self, now: Instant) -> Option<(u64, std::time::Duration)> {
        let waiting = self.confirming.load(Ordering::Relaxed);
        let until = *self.confirming_until.lock().expect("never poisoned");
        (waiting > 0).then(|| {
            (
                waiting,
                until.map_or_else(Default::default, |until| {
                    until.saturating_duration_since(now)
                }),
            )
        })
    }
}

/// See [`LiveStats::confirming_until`].
pub struct ConfirmingGuard<'a>(&'a LiveStats);

impl Drop for ConfirmingGuard<'_> {
    fn drop(&mut self) {
        self.0.confirming.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A `reset` row for user `user-LINE` of `account`: for the unit tests of the modules that
/// take outcomes.
/// A row whose outcome is not in the results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnrecordedRow {
    pub line: u64,
    pub account_id: String,
    /// The user id, or the email the row named its user by.
    pub user: String,
    pub status: &'static str,
}

impl From<&Outcome> for UnrecordedRow {
    fn from(outcome: &Outcome) -> Self {
        UnrecordedRow {
            line: outcome.line,
            account_id: outcome.account_id.clone(),
            user: outcome.user_id.clone(),
            status: outcome.status.as_str(),
        }
    }
}

#[cfg(test)]
pub(crate) fn reset_row(line: u64) -> Outcome {
    Outcome::new(
        line,
        "account".into(),
        format!("user-{line}"),
        RowStatus::Reset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_debug_is_redacted() {
        let record = UserRecord {
            personal_pin: Some(Pin::new("1234567890")),
            ..UserRecord::default()
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains("1234567890"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
