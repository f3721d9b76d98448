//! The read-ahead pass: a file input is read to its end before the first call, with the same
//! reader and the same rules as the run, so that the plan can count its rows per account and
//! an input that cannot be read whole stops the run before anything is sent. Stdin can be read
//! only once: it has no read-ahead, and its rows are counted as they arrive.
//!
//! The survey is also what a results file's plan records ([`crate::ledger::plan`]): the lines
//! of the rows to send, per account, and the fingerprint of the bytes read, which the run's
//! own reader must read again.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::input::{
    Fingerprints, InputError, InputFingerprint, InputItem, InputOptions, InputReader, Rejection,
};
use crate::input::{Source, Target};

/// The rows of an input, as the run will judge them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    /// Rows that will be sent.
    pub valid: u64,
    /// Of the valid rows, those that name their user by email (one more call each).
    pub by_email: u64,
    /// Of the valid rows, those that give a user id and an email: GetUser checks that they
    /// name one person (one more call each).
    pub email_checked: u64,
    pub invalid: u64,
    pub duplicate: u64,
    /// Users the results being resumed hold as reset already.
    pub already_reset: u64,
    /// Rows a workbook hides, skipped (`--include-hidden` reads them).
    pub hidden: u64,
}

/// What the read-ahead pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    pub rows: RowCounts,
    /// Valid rows per account, in the order the accounts first appear.
    pub accounts: Vec<(String, u64)>,
    /// The input lines of the valid rows, per account (in the order of `accounts`), as runs
    /// of consecutive lines `(first, last)`.
    pub lines: Vec<Vec<(u64, u64)>>,
    /// What was read: the run's reader must read the same bytes.
    pub fingerprint: Option<InputFingerprint>,
}

/// Why the input cannot be used: nothing is sent.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the input cannot be read to its end: {0}. Nothing was sent")]
    Unreadable(String),
}

/// Reads a file input to its end; `None` for stdin, which can be read only once.
pub fn survey(
    options: &InputOptions,
    already_reset: Arc<Fingerprints>,
) -> Result<Option<Survey>, SurveyError> {
    if options.source == Source::Stdin {
        return Ok(None);
    }
    let reader = InputReader::open(options.clone(), already_reset)?;
    let read = reader.fingerprint();
    let hidden = reader.hidden_rows();
    let mut survey = tally(reader)?;
    survey.rows.hidden = hidden;
    survey.fingerprint = read.get().cloned();
    Ok(Some(survey))
}

/// Counts judged rows, stopping at the first that says the input cannot be read further.
fn tally(items: impl IntoIterator<Item = InputItem>) -> Result<Survey, SurveyError> {
    let mut survey = Survey::default();
    let mut account_index: HashMap<String, usize> = HashMap::new();
    for item in items {
        let rows = &mut survey.rows;
        match item {
            InputItem::Task(task) => {
                rows.valid += 1;
                if matches!(task.target, Target::Email(_)) {
                    rows.by_email += 1;
                }
                if task.email.is_some() {
                    rows.email_checked += 1;
                }
                let index = *account_index
                    .entry(task.account_id.clone())
                    .or_insert_with(|| {
                        survey.accounts.push((task.account_id.clone(), 0));
                        survey.lines.push(Vec::new());
                        survey.accounts.len() - 1
                    });
                survey.accounts[index].1 += 1;
                add_line(&mut survey.lines[index], task.line);
            }
            InputItem::Rejected(rejected) => match rejected.rejection {
                Rejection::Invalid => rows.invalid += 1,
                Rejection::Duplicate => rows.duplicate += 1,
            },
            InputItem::Skipped => rows.already_reset += 1,
            InputItem::Unreadable(why) => return Err(SurveyError::Unreadable(why)),
        }
    }
    Ok(survey)
}

/// Adds `line` to runs of consecutive lines, read in ascending order.
fn add_line(runs: &mut Vec<(u64, u64)>, line: u64) {
    match runs.last_mut() {
        Some((_, last)) if *last + 1 == line => *last = line,
        _ => runs.push((line, line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Rejected, RowTask};

    fn task(account: &str, target: Target) -> InputItem {
        InputItem::Task(RowTask {
            line: 2,
            account_id: account.to_string(),
            target,
            email: None,
            carried: Vec::new(),
        })
    }

    fn rejected(rejection: Rejection) -> InputItem {
        InputItem::Rejected(Rejected {
            line: 3,
            account_id: "a".to_string(),
            user_id: String::new(),
            rejection,
            message: String::new(),
            carried: Vec::new(),
        })
    }

    #[test]
    fn rows_are_counted_per_kind_and_per_account_in_order() {
        let survey = tally(vec![
            task("b", Target::UserId("u1".into())),
            task("a", Target::Email("x@example.com".into())),
            task("b", Target::UserId("u2".into())),
            rejected(Rejection::Invalid),
            rejected(Rejection::Duplicate),
            rejected(Rejection::Duplicate),
            InputItem::Skipped,
        ])
        .unwrap();
        assert_eq!(
            survey.rows,
            RowCounts {
                valid: 3,
                by_email: 1,
                invalid: 1,
                duplicate: 2,
                already_reset: 1,
                email_checked: 0,
                hidden: 0,
            }
        );
        assert_eq!(
            survey.accounts,
            vec![("b".to_string(), 2), ("a".to_string(), 1)]
        );
    }

    #[test]
    fn planned_lines_are_kept_as_runs_of_consecutive_lines() {
        let mut runs = Vec::new();
        for line in [2, 3, 4, 7, 9, 10] {
            add_line(&mut runs, line);
        }
        assert_eq!(runs, vec![(2, 4), (7, 7), (9, 10)]);
    }

    #[test]
    fn an_unreadable_input_stops_the_survey() {
        let result = tally(vec![
            task("a", Target::UserId("u1".into())),
            InputItem::Unreadable("in.csv line 3: broken".into()),
            task("a", Target::UserId("u2".into())),
        ]);
        assert!(
            matches!(result, Err(SurveyError::Unreadable(ref why)) if why.contains("line 3")),
            "{result:?}"
        );
    }
}
