//! What a GetUser answer says of a recorded PIN: the verified status of one user.

use crate::outcome::{codes, Outcome, Pin, RowStatus};
use crate::output::PinPolicy;
use crate::rules::is_chime_pin;

/// The status column of the verified file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verified {
    /// The server's PIN is the recorded one.
    Current,
    /// It differs: the user was reset since, or an earlier attempt landed late.
    Changed,
    /// The user is gone (404).
    NotFound,
    /// The run kept no PIN to compare (`--pins omit`), or masked digits that match.
    Unverifiable,
    /// GetUser failed: the error code and message are in the row.
    Failed,
}

impl Verified {
    pub const ALL: [Verified; 5] = [
        Verified::Current,
        Verified::Changed,
        Verified::NotFound,
        Verified::Unverifiable,
        Verified::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Current => "current",
            Verified::Changed => "changed",
            Verified::NotFound => "not-found",
            Verified::Unverifiable => "unverifiable",
            Verified::Failed => "failed",
        }
    }
}

/// A recorded PIN cell, and the `--pins` form it was written in (the ledger's rule, which
/// `run --resume` follows too).
pub use crate::ledger::pin_form as recorded_form;

/// The verdict on one user: the status, and the error code and message to write beside it.
pub struct Verdict {
    pub status: Verified,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// Compares the PIN recorded for a user with the one GetUser returned.
pub fn judge(outcome: &Outcome, recorded: &Pin) -> Verdict {
    let verdict = |status, code: Option<&str>, message: Option<String>| Verdict {
        status,
        error_code: code.map(str::to_string),
        error_message: message,
    };
    if outcome.status == RowStatus::Failed {
        let code = outcome
            .error_code
            .as_deref()
            .unwrap_or(codes::UNKNOWN_ERROR);
        let status = if code == "NotFoundException" {
            Verified::NotFound
        } else {
            Verified::Failed
        };
        return verdict(status, Some(code), outcome.error_message.clone());
    }
    let server = outcome
        .user
        .as_ref()
        .and_then(|user| user.personal_pin.as_ref())
        .map(Pin::expose)
        .filter(|pin| is_chime_pin(pin));
    let Some(server) = server else {
        let message = "the answer held no PIN of the form Chime returns".to_string();
        return verdict(
            Verified::Failed,
            Some(codes::INVALID_RESPONSE),
            Some(message),
        );
    };
    let recorded = recorded.expose();
    match recorded_form(recorded) {
        PinPolicy::Omit => verdict(
            Verified::Unverifiable,
            None,
            Some("the run kept no PIN (--pins omit)".to_string()),
        ),
        PinPolicy::Masked if PinPolicy::Masked.apply(server) == recorded => verdict(
            Verified::Unverifiable,
            None,
            Some("the run kept only the last digits (--pins masked), and they match".to_string()),
        ),
        _ if PinPolicy::Full.apply(server) == recorded => verdict(Verified::Current, None, None),
        PinPolicy::Masked | PinPolicy::Full => verdict(
            Verified::Changed,
            None,
            Some("the PIN in Chime is not the one recorded".to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::UserRecord;

    fn answered(pin: &str) -> Outcome {
        Outcome::new(2, "a".into(), "u".into(), RowStatus::Found).with_user(UserRecord {
            personal_pin: Some(Pin::new(pin)),
            ..UserRecord::default()
        })
    }

    #[test]
    fn recorded_pins_are_judged_by_the_form_they_were_kept_in() {
        let status =
            |server: &str, recorded: &str| judge(&answered(server), &Pin::new(recorded)).status;
        assert_eq!(status("1234567890", "1234567890"), Verified::Current);
        assert_eq!(status("1234567891", "1234567890"), Verified::Changed);
        assert_eq!(status("1234567890", "********90"), Verified::Unverifiable);
        assert_eq!(status("1234567891", "********90"), Verified::Changed);
        assert_eq!(status("1234567890", ""), Verified::Unverifiable);
        assert_eq!(status("", "1234567890"), Verified::Failed);
    }

    #[test]
    fn a_user_gone_is_not_found_and_other_failures_are_failed() {
        let failed = |code: &str| {
            Outcome::new(2, "a".into(), "u".into(), RowStatus::Failed).with_error(code, "m")
        };
        let pin = Pin::new("1234567890");
        assert_eq!(
            judge(&failed("NotFoundException"), &pin).status,
            Verified::NotFound
        );
        assert_eq!(
            judge(&failed("ForbiddenException"), &pin).status,
            Verified::Failed
        );
    }
}
