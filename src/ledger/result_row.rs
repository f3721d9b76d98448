//! One row of a results file as the ledger gives it: read through the results record, every
//! cell owned and restored, the numbers numbers.

use crate::outcome::{Logout, Pin, RowStatus};
use crate::output::cells::{Carried, Text};
use crate::output::results_record::{
    OffboardingColumns, PinCell, ReadColumns, ResultsColumns, ResultsLine,
};
use crate::output::PinPolicy;

/// One whole row of a results file, read back.
#[derive(Clone, Debug)]
pub struct ResultRow {
    /// The line of the results file the row starts on (the header is line 1).
    pub file_line: u64,
    /// The `line` column: the row's line in its input.
    pub input_line: u64,
    pub account_id: String,
    pub user_id: String,
    pub status: RowStatus,
    /// The PIN cell as written: in full, masked or empty (its `Debug` is redacted).
    pub personal_pin: Pin,
    pub primary_email: String,
    pub display_name: String,
    pub error_code: String,
    pub error_message: String,
    pub attempts: u32,
    pub request_id: String,
    pub finished_at: String,
    /// The email the row gave beside its user id; empty in results written before the
    /// column existed.
    pub given_email: String,
    /// `NotAsked` in results written before the column existed.
    pub logout: Logout,
    /// The carried input columns, as written.
    pub carried: Vec<String>,
}

impl ResultRow {
    /// The form the row's PIN cell was written in: each row is judged by its own cell, never
    /// by the `--pins` of the command reading it.
    pub fn pin_form(&self) -> PinPolicy {
        pin_form(self.personal_pin.expose())
    }
}

/// The `--pins` form a PIN cell was written in: empty is omitted, a leading `*` masked.
pub fn pin_form(cell: &str) -> PinPolicy {
    if cell.is_empty() {
        PinPolicy::Omit
    } else if cell.starts_with('*') {
        PinPolicy::Masked
    } else {
        PinPolicy::Full
    }
}

impl ResultRow {
    /// The row read at `file_line`, owning its cells (restored as the record reads them).
    pub(super) fn read(
        file_line: u64,
        (ours, offboarding): ReadColumns,
        carried: Vec<String>,
    ) -> Self {
        let (given_email, logout) = match offboarding {
            Some(offboarding) => (offboarding.given_email.into_string(), offboarding.logout),
            None => (String::new(), Logout::NotAsked),
        };
        ResultRow {
            file_line,
            input_line: ours.line,
            account_id: ours.account_id.into_string(),
            user_id: ours.user_id.into_string(),
            status: ours.status,
            personal_pin: Pin::new(ours.personal_pin.into_string()),
            primary_email: ours.primary_email.into_string(),
            display_name: ours.display_name.into_string(),
            error_code: ours.error_code.into_string(),
            error_message: ours.error_message.into_string(),
            attempts: ours.attempts,
            request_id: ours.request_id.into_string(),
            finished_at: ours.finished_at.into_owned(),
            given_email,
            logout,
            carried,
        }
    }

    /// The row as the results record holds it, in the current layout, its cells as they are
    /// (a workbook shows them so).
    pub fn as_record(&self) -> ResultsLine<'_> {
        fn text(value: &str) -> Text<'_> {
            Text::new(value, true)
        }
        let columns = ResultsColumns {
            line: self.input_line,
            account_id: text(&self.account_id),
            user_id: text(&self.user_id),
            status: self.status,
            personal_pin: PinCell::new(self.personal_pin.expose()),
            primary_email: text(&self.primary_email),
            display_name: text(&self.display_name),
            error_code: text(&self.error_code),
            error_message: text(&self.error_message),
            attempts: self.attempts,
            request_id: text(&self.request_id),
            finished_at: self.finished_at.as_str().into(),
        };
        let offboarding = OffboardingColumns {
            given_email: text(&self.given_email),
            logout: self.logout,
        };
        ResultsLine {
            columns,
            offboarding: Some(offboarding),
            carried: Carried {
                cells: &self.carried,
                raw_cells: true,
            },
        }
    }
}
