//! Judging one row: can it be sent, and to whom? The rules every row meets whatever file it
//! came from: IDs of the right shape (GUIDs sent in lower case, as Chime issues them), a user
//! named by id or by email, no cell so long that a quote must have been left open, and the
//! first row for its user (duplicates would void the first PIN).

use crate::dedup::Admission;
use crate::rules::is_guid;

use super::{InputItem, InputReader, Rejected, Rejection, RowTask, Target};

/// The longest cell a row may hold. Nothing an administrator types comes near it; a quote
/// left open, which swallows the lines after it into one cell, soon does.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

impl InputReader {
    /// The item for the record just read, which starts on `line`.
    pub(super) fn judge(&self, line: u64) -> InputItem {
        let cell =
            |index: Option<usize>| index.and_then(|i| self.record.get(i)).unwrap_or("").trim();
        let account_id = match self.columns.account {
            Some(_) => Id::read(cell(self.columns.account)),
            None => Id::read(self.options.default_account.as_deref().unwrap_or("")),
        };
        let user_id = Id::read(cell(self.columns.user));
        // A cell too long to be meant is left out of the results: it is most of the file.
        let carried = || {
            self.columns
                .carried
                .iter()
                .map(|&i| self.record.get(i).unwrap_or("").trim())
                .map(|cell| match cell.len() > MAX_CELL_BYTES {
                    true => String::new(),
                    false => cell.to_string(),
                })
                .collect()
        };
        let reject = |rejection, problem: String, carried| {
            InputItem::Rejected(Rejected {
                line,
                account_id: account_id.text.clone(),
                user_id: user_id.text.clone(),
                rejection,
                message: format!("{} {line}: {problem}", self.place_word()),
                carried,
            })
        };
        if let Some(problem) = self.oversized_cell() {
            return reject(Rejection::Invalid, problem, carried());
        }
        let email = cell(self.columns.email);
        let target = match self.target(&account_id, &user_id, email) {
            Ok(target) => target,
            Err(problem) => return reject(Rejection::Invalid, problem, carried()),
        };
        let email = match target {
            Target::UserId(_) if !email.is_empty() => Some(email.to_string()),
            _ => None,
        };
        match self.dedup.admit(&account_id.text, target.key()) {
            Admission::First => InputItem::Task(RowTask {
                line,
                account_id: account_id.text,
                target,
                email,
                carried: carried(),
            }),
            Admission::AlreadyReset => InputItem::Skipped,
            Admission::Duplicate => {
                let problem = "this account and user appear on an earlier line; \
                               a second reset would void the first PIN";
                reject(Rejection::Duplicate, problem.to_string(), carried())
            }
        }
    }

    /// Whom the row names, or what is wrong with it.
    fn target(&self, account_id: &Id, user_id: &Id, email: &str) -> Result<Target, String> {
        if self.record.len() > self.header_width {
            return Err(format!(
                "the row has {} fields but the header has {}",
                self.record.len(),
                self.header_width
            ));
        }
        for (what, column) in [
            ("account id", self.columns.account),
            ("user id", self.columns.user),
        ] {
            if let Some(problem) = column.and_then(|c| self.rows.number_in(c, what)) {
                return Err(problem);
            }
        }
        let strict = self.options.strict_ids;
        if let Some(problem) = shape_problem("account id", account_id, strict) {
            return Err(problem);
        }
        if !user_id.text.is_empty() {
            if let Some(problem) = shape_problem("user id", user_id, strict) {
                return Err(problem);
            }
            Ok(Target::UserId(user_id.text.clone()))
        } else if !email.is_empty() {
            if !looks_like_email(email) {
                return Err(format!("email {email:?} is not an email address"));
            }
            Ok(Target::Email(email.to_string()))
        } else {
            Err("the row has neither a user id nor an email".to_string())
        }
    }

    /// The problem with a cell longer than [`MAX_CELL_BYTES`], if the row has one.
    fn oversized_cell(&self) -> Option<String> {
        if self.record.as_slice().len() <= MAX_CELL_BYTES {
            return None;
        }
        let (index, cell) = self
            .record
            .iter()
            .enumerate()
            .find(|(_, cell)| cell.len() > MAX_CELL_BYTES)?;
        Some(format!(
            "cell {} holds {} KiB, more than the {} KiB a cell may: a quote opened in it and \
             not closed where it should have been swallows the lines after it",
            index + 1,
            cell.len() / 1024,
            MAX_CELL_BYTES / 1024
        ))
    }
}

/// An ID as it is sent and written: a GUID in lower case, as Chime issues them (Chime's IDs
/// are case-sensitive, and spreadsheets upper-case them); anything else as typed.
pub fn canonical_id(id: &str) -> String {
    Id::read(id).text
}

/// An ID of a row, as it is sent, and whether it is a GUID (checked once: it is on the hot
/// path of `validate`).
struct Id {
    text: String,
    guid: bool,
}

impl Id {
    fn read(typed: &str) -> Id {
        let guid = is_guid(typed);
        let mut text = typed.to_string();
        if guid {
            text.make_ascii_lowercase();
        }
        Id { text, guid }
    }
}

/// A problem with an account or user ID, in words, or `None` when it is acceptable: a GUID, or
/// with `strict` off anything non-empty without `/` (IDs go into the request path).
pub fn id_problem(what: &str, id: &str, strict: bool) -> Option<String> {
    shape_problem(what, &Id::read(id), strict)
}

fn shape_problem(what: &str, id: &Id, strict: bool) -> Option<String> {
    let (guid, id) = (id.guid, id.text.as_str());
    if id.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    if strict {
        (!guid).then(|| {
            format!(
                "the {what} {id:?} is not a GUID (8-4-4-4-12 hex digits; \
                 --no-strict-ids accepts other IDs)"
            )
        })
    } else {
        id.contains('/')
            .then(|| format!("the {what} {id:?} contains '/'"))
    }
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !email.contains(' '),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_guids_are_lowered() {
        assert_eq!(
            canonical_id("E8E25D94-AAAA-BBBB-CCCC-DDDDDDDDDDDD"),
            "e8e25d94-aaaa-bbbb-cccc-dddddddddddd"
        );
        assert_eq!(canonical_id("Legacy-ID-7"), "Legacy-ID-7");
    }
}
