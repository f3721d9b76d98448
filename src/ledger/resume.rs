//! What a resumed run must not do again: the users whose results hold a whole `reset` row,
//! read strictly (an unreadable row stops the run before anything is sent, rather than ending
//! the reading early and resetting every user after it a second time).
//!
//! Each row is judged by what it records, never by the flags of the run reading it: a `reset`
//! row counts by its own PIN cell (in full, masked or omitted, as `verify` judges it), and what
//! is done is keyed by user id, which every `reset` row names, whether its input row named the
//! user by id or by email. A reset cannot be undone by a later failure: a `failed` row never
//! takes a user off the list (resetting them again would void the PIN recorded first).
//!
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
    /// The users not to reset again: by user id, and by the email their reset row shows (so
    /// that a row naming them by email is skipped without a look-up).
    pub already_reset: Fingerprints,
    /// Rows that were really sent (`reset` or `failed`): a dry run must not append to these.
    real_rows: u64,
    /// Under `--logout`: the users reset whose logout is not recorded as done, to log out
    /// without a second reset.
    pub awaiting_logout: Fingerprints,
    /// The carried columns of the file's header; `None` when the file has no header yet.
    carried_headers: Option<Vec<String>>,
    file_name: String,
}

/// Reads the results file at `path` (already locked by the run). With `logout`, a reset user
/// counts as done only once logged out.
pub fn read(path: &Path, logout: bool) -> Result<Resumed, LedgerError> {
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
    let mut real_rows = 0;
    let mut awaiting_logout = Fingerprints::default();
    for row in reader.by_ref() {
        let row = row?;
        if matches!(
            row.status,
            RowStatus::Reset | RowStatus::Failed | RowStatus::Gone
        ) {
            real_rows += 1;
        }
        // Only a whole `reset` row, or a user found gone, settles a user; a `failed` row never
        // unsettles one, and rows never sent say nothing of the PIN.
        let settled = match row.status {
            RowStatus::Reset => records_a_pin(&row),
            RowStatus::Gone => true,
            _ => false,
        };
        if !settled {
            continue;
        }
        let awaits_logout = logout && row.status == RowStatus::Reset && row.logout != Logout::Done;
        for key in keys(&row) {
            if awaits_logout {
                done.remove(key);
                awaiting_logout.insert(key);
            } else {
                done.insert(key);
                awaiting_logout.remove(key);
            }
        }
    }
    Ok(Resumed {
        already_reset: done,
        real_rows,
        awaiting_logout,
        carried_headers: Some(reader.carried_headers().to_vec()),
        file_name,
    })
}

/// A `reset` row counts when its PIN cell is whole in the form it was written in: a PIN of the
/// form Chime returns, its last digits behind `*`, or nothing (`--pins omit`).
fn records_a_pin(row: &ResultRow) -> bool {
    let cell = row.personal_pin.expose();
    match row.pin_form() {
        PinPolicy::Full => is_chime_pin(cell),
        PinPolicy::Masked => is_masked_pin(cell),
        PinPolicy::Omit => true,
    }
}

/// `********90`: stars, then the last two digits.
fn is_masked_pin(cell: &str) -> bool {
    let Some(digits) = cell.len().checked_sub(2).map(|stars| cell.split_at(stars)) else {
        return false;
    };
    !digits.0.is_empty()
        && digits.0.bytes().all(|byte| byte == b'*')
        && digits.1.bytes().all(|byte| byte.is_ascii_digit())
}

/// The row's user by id and by email. A `reset` row always names the user id; the email is a
/// second name for the same user, for input rows that name them by email.
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

    /// A dry run writes a file of its own: its `would-reset` rows appended to real resets
    /// would make an unfinished rotation look finished.
    pub fn check_dry_run(&self, dry_run: bool) -> Result<(), LedgerError> {
        if dry_run && self.real_rows > 0 {
            return Err(LedgerError::DryRunOnRealResults {
                file: self.file_name.clone(),
                rows: self.real_rows,
            });
        }
        Ok(())
    }
}
