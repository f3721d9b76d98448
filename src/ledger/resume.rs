//! What a resumed run must not do again: the users whose last sent row in the results is a
//! whole `reset` row, read strictly (an unreadable row stops the run before anything is sent,
//! rather than ending the reading early and resetting every user after it a second time).
//! Under `--logout`, a user reset but not logged out is not skipped: the run logs them out
//! without resetting them again. A user `gone` (`--missing-ok`) is done.

use std::path::Path;

use crate::dedup::{Fingerprints, UserKey};
use crate::outcome::{Logout, RowStatus};
use crate::output::{carried_column_name, PinPolicy};
use crate::rules::is_chime_pin;

use super::{LedgerError, ResultRow, RowReader};

/// What the results being resumed hold.
#[derive(Debug, Default)]
pub struct Resumed {
    /// The users not to reset again, by user id and by email.
    pub already_reset: Fingerprints,
    /// Under `--logout`: the users reset whose logout is not recorded as done, to log out
    /// without a second reset.
    pub awaiting_logout: Fingerprints,
    /// The carried columns of the file's header; `None` when the file has no header yet.
    carried_headers: Option<Vec<String>>,
    file_name: String,
}

/// Reads the results file at `path` (already locked by the run). Under `--pins full` a `reset`
/// row counts only when its PIN has the form Chime returns; under `masked` or `omit` the PIN
/// cannot tell. With `logout`, a reset user counts as done only once logged out.
pub fn read(path: &Path, pins: PinPolicy, logout: bool) -> Result<Resumed, LedgerError> {
    let file_name = path.display().to_string();
    let mut reader = match RowReader::open(path) {
        Ok(reader) => reader,
        // Empty, or a header cut off before its newline: the run starts the file afresh.
        Err(LedgerError::NoHeader { .. }) => {
            return Ok(Resumed {
                file_name,
                ..Resumed::default()
            })
        }
        Err(err) => return Err(err),
    };
    let mut done = Fingerprints::default();
    let mut awaiting_logout = Fingerprints::default();
    for row in reader.by_ref() {
        let row = row?;
        // Duplicate and invalid rows say nothing of the user's PIN (they were never sent, and
        // a duplicate may be written after the reset it repeats): only sent rows count.
        let reset = match row.status {
            RowStatus::Reset => pins != PinPolicy::Full || is_chime_pin(row.personal_pin.expose()),
            RowStatus::Gone => true,
            RowStatus::Failed => false,
            _ => continue,
        };
        let awaits_logout =
            logout && reset && row.status == RowStatus::Reset && row.logout != Logout::Done;
        for key in keys(&row) {
            if reset && !awaits_logout {
                done.insert(key);
            } else {
                done.remove(key);
            }
            if awaits_logout {
                awaiting_logout.insert(key);
            } else {
                awaiting_logout.remove(key);
            }
        }
    }
    Ok(Resumed {
        already_reset: done,
        awaiting_logout,
        carried_headers: Some(reader.carried_headers().to_vec()),
        file_name,
    })
}

/// The row's user by id and by email (a row that named its user by email is found by either).
fn keys(row: &ResultRow) -> impl Iterator<Item = u128> + '_ {
    [
        UserKey::Id(&row.user_id),
        UserKey::Email(&row.primary_email),
    ]
    .into_iter()
    .filter(|key| !matches!(key, UserKey::Id("") | UserKey::Email("")))
    .map(|key| Fingerprints::key(&row.account_id, &key))
}

impl Resumed {
    /// The rows appended must line up with the file's header: the input's carried columns must
    /// be the ones the file has.
    pub fn check_carried(&self, input_carried: &[String]) -> Result<(), LedgerError> {
        let Some(found) = &self.carried_headers else {
            return Ok(());
        };
        let expected: Vec<String> = input_carried
            .iter()
            .map(|name| carried_column_name(name))
            .collect();
        if *found == expected {
            return Ok(());
        }
        Err(LedgerError::OtherColumns {
            file: self.file_name.clone(),
            found: found.join(","),
            input: expected.join(","),
        })
    }
}
