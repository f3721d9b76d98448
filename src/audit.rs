//! What runs did, read from their results files: each user's final row
//! ([`crate::ledger::final_rows`]) counted per status, per account and per error code (with
//! what the code means and what to do next), the first and last `finished_at`, and the users
//! still to do. `report` prints it as a table, JSON or Markdown.
//!
//! Nothing here reads a PIN: the rows' PIN cells are never looked at.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ledger::{FinalRow, FinalRows, LedgerError};
use crate::outcome::{codes, RowStatus};

/// The final state of every user in a set of results files.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    pub files: Vec<String>,
    pub rows: u64,
    pub users: u64,
    pub statuses: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<String, u64>,
    pub accounts: BTreeMap<String, BTreeMap<&'static str, u64>>,
    pub first_finished_at: Option<String>,
    pub last_finished_at: Option<String>,
    /// Users whose final status is neither `reset` nor `would-reset`, in file order.
    pub to_do: Vec<ToDo>,
    /// Lines left unfinished by runs killed mid-write: (file, line). They are not rows.
    pub cut_off: Vec<(String, u64)>,
}

/// A user still to do, and where their final row is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToDo {
    pub file: String,
    pub file_line: u64,
    pub account_id: String,
    /// The user id, the email when there is none, or the input line when the row names neither.
    pub user: String,
    pub status: &'static str,
    pub error_code: String,
}

impl ToDo {
    /// Where the user's final row is, as `file:line`.
    fn place(&self) -> String {
        format!("{}:{}", self.file, self.file_line)
    }
}

/// The `--json` document: exactly the schema the README documents.
#[derive(Serialize)]
struct AuditJson<'a> {
    users: u64,
    statuses: &'a BTreeMap<&'static str, u64>,
    errors: &'a BTreeMap<String, u64>,
    accounts: BTreeMap<&'a str, AccountJson<'a>>,
    first_finished_at: &'a Option<String>,
    last_finished_at: &'a Option<String>,
}

#[derive(Serialize)]
struct AccountJson<'a> {
    statuses: &'a BTreeMap<&'static str, u64>,
}

impl Audit {
    /// Counts every user's final row (the second pass over the files).
    pub fn of(finals: &FinalRows) -> Result<Audit, LedgerError> {
        let files: Vec<String> = finals
            .paths()
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        let mut audit = Audit {
            rows: finals.rows(),
            cut_off: finals.cut_off().to_vec(),
            ..Audit::default()
        };
        for found in finals.iter() {
            audit.count(found?, &files);
        }
        audit.files = files;
        Ok(audit)
    }

    fn count(&mut self, FinalRow { file, row }: FinalRow, files: &[String]) {
        let status = row.status.as_str();
        self.users += 1;
        *self.statuses.entry(status).or_default() += 1;
        *self
            .accounts
            .entry(row.account_id.clone())
            .or_default()
            .entry(status)
            .or_default() += 1;
        if !row.error_code.is_empty() {
            *self.errors.entry(row.error_code.clone()).or_default() += 1;
        }
        if !row.finished_at.is_empty() {
            // One fixed RFC 3339 form in UTC: the text sorts as the time does.
            let at = &row.finished_at;
            if self
                .first_finished_at
                .as_ref()
                .is_none_or(|first| at < first)
            {
                self.first_finished_at = Some(at.clone());
            }
            if self.last_finished_at.as_ref().is_none_or(|last| at > last) {
                self.last_finished_at = Some(at.clone());
            }
        }
        // A leaver whose logout failed still has sessions open: not done yet.
        if !is_done(row.status) || row.logout == crate::outcome::Logout::Failed {
            let user = [&row.user_id, &row.primary_email]
                .into_iter()
                .find(|name| !name.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("(input line {})", row.input_line));
            self.to_do.push(ToDo {
                file: files[file].clone(),
                file_line: row.file_line,
                account_id: row.account_id,
                user,
                status,
                error_code: row.error_code,
            });
        }
    }

    /// Every user's final status is `reset` (or `would-reset`, for a dry run, or `gone`), and
    /// no logout failed.
    pub fn complete(&self) -> bool {
        self.to_do.is_empty()
    }

    /// The `--json` document.
    pub fn json(&self) -> String {
        let document = AuditJson {
            users: self.users,
            statuses: &self.statuses,
            errors: &self.errors,
            accounts: self
                .accounts
                .iter()
                .map(|(id, statuses)| (id.as_str(), AccountJson { statuses }))
                .collect(),
            first_finished_at: &self.first_finished_at,
            last_finished_at: &self.last_finished_at,
        };
        serde_json::to_string_pretty(&document).expect("plain maps and strings serialise") + "\n"
    }

    /// A plain table, for the terminal.
    pub fn table(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Final state of {} users ({} rows in {}; the last row of each user wins)",
            self.users,
            self.rows,
            self.files.join(", ")
        );
        let _ = writeln!(text, "\nStatus");
        for (status, count) in &self.statuses {
            let _ = writeln!(text, "  {status:<12} {count:>9}");
        }
        let _ = writeln!(
            text,
            "\nAccount                                {:>9} {:>9}",
            "users", "not done"
        );
        for (account, statuses) in &self.accounts {
            let (users, open) = users_and_open(statuses);
            let _ = writeln!(text, "  {account:<36} {users:>9} {open:>9}");
        }
        if !self.errors.is_empty() {
            let _ = writeln!(text, "\nError code");
            for (code, count) in &self.errors {
                let (meaning, action) = advice(code);
                let _ = writeln!(text, "  {code:<28} {count:>9}  {meaning}; {action}");
            }
        }
        let _ = writeln!(text, "\n{}", self.finished_between());
        let _ = writeln!(text, "\nStill to do: {}", self.to_do.len());
        for to_do in &self.to_do {
            let _ = writeln!(
                text,
                "  {}  account {}  user {}  {} {}",
                to_do.place(),
                to_do.account_id,
                to_do.user,
                to_do.status,
                to_do.error_code
            );
        }
        text
    }

    /// Markdown, for a change ticket or an audit record.
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "## PIN rotation report\n");
        let files: Vec<String> = self.files.iter().map(|file| format!("`{file}`")).collect();
        let _ = writeln!(
            text,
            "- Results files: {} ({} rows; the last row of each user wins)",
            files.join(", "),
            self.rows
        );
        let _ = writeln!(text, "- Users: {}", self.users);
        let _ = writeln!(text, "- {}", self.finished_between());
        let _ = writeln!(text, "- Still to do: {}", self.to_do.len());
        use Column::{Count, Text};
        let statuses = self
            .statuses
            .iter()
            .map(|(status, count)| vec![status.to_string(), count.to_string()]);
        markdown_table(
            &mut text,
            "Status",
            &[Text("status"), Count("users")],
            statuses,
        );
        let accounts = self.accounts.iter().map(|(account, statuses)| {
            let (users, open) = users_and_open(statuses);
            vec![code(account), users.to_string(), open.to_string()]
        });
        let columns = [Text("account"), Count("users"), Count("not done")];
        markdown_table(&mut text, "Accounts", &columns, accounts);
        if !self.errors.is_empty() {
            let errors = self.errors.iter().map(|(error_code, count)| {
                let (meaning, action) = advice(error_code);
                let (meaning, action) = (meaning.to_string(), action.to_string());
                vec![code(error_code), count.to_string(), meaning, action]
            });
            let columns = [
                Text("error code"),
                Count("users"),
                Text("meaning"),
                Text("what to do"),
            ];
            markdown_table(&mut text, "Errors", &columns, errors);
        }
        if !self.to_do.is_empty() {
            let to_do = self.to_do.iter().map(|to_do| {
                vec![
                    code(&to_do.place()),
                    code(&to_do.account_id),
                    code(&to_do.user),
                    to_do.status.to_string(),
                    to_do.error_code.clone(),
                ]
            });
            let columns = [
                Text("results line"),
                Text("account"),
                Text("user"),
                Text("status"),
                Text("error code"),
            ];
            markdown_table(&mut text, "Still to do", &columns, to_do);
        }
        text
    }

    /// When the first and the last row was written, in words ("-" where no row says).
    fn finished_between(&self) -> String {
        let first = self.first_finished_at.as_deref().unwrap_or("-");
        let last = self.last_finished_at.as_deref().unwrap_or("-");
        format!("Finished between {first} and {last}")
    }
}

/// A column of a Markdown table: its name, and whether it holds counts (aligned right).
enum Column {
    Text(&'static str),
    Count(&'static str),
}

/// Appends a Markdown section: a heading over a table of `rows` (their cells in the order of
/// `columns`, as they are to appear).
fn markdown_table(
    text: &mut String,
    heading: &str,
    columns: &[Column],
    rows: impl Iterator<Item = Vec<String>>,
) {
    let (names, rules): (Vec<&str>, Vec<&str>) = columns
        .iter()
        .map(|column| match column {
            Column::Text(name) => (*name, "---"),
            Column::Count(name) => (*name, "---:"),
        })
        .unzip();
    let _ = writeln!(
        text,
        "\n### {heading}\n\n| {} |\n| {} |",
        names.join(" | "),
        rules.join(" | ")
    );
    for row in rows {
        let _ = writeln!(text, "| {} |", row.join(" | "));
    }
}

/// `text` as Markdown code.
fn code(text: &str) -> String {
    format!("`{text}`")
}

fn is_done(status: RowStatus) -> bool {
    matches!(
        status,
        RowStatus::Reset | RowStatus::WouldReset | RowStatus::Gone
    )
}

/// An account's users, and how many of them are not done.
fn users_and_open(statuses: &BTreeMap<&'static str, u64>) -> (u64, u64) {
    let done = [RowStatus::Reset, RowStatus::WouldReset, RowStatus::Gone]
        .iter()
        .map(|status| statuses.get(status.as_str()).copied().unwrap_or(0))
        .sum::<u64>();
    let users = statuses.values().sum::<u64>();
    (users, users - done)
}

/// What an error code means, and what to do about the users it left.
pub fn advice(code: &str) -> (&'static str, &'static str) {
    match code {
        "NotFoundException" => (
            "the user (or the account) no longer exists",
            "remove the row from the input",
        ),
        "ForbiddenException" => (
            "the credentials may not act on this account",
            "check the account id and the role's chime:ResetPersonalPIN and chime:GetUser \
             permissions, then resume",
        ),
        "ThrottledClientException" | "ThrottlingException" | "TooManyRequestsException" => (
            "Chime was still throttling after the last attempt",
            "resume later, or with a lower --rate",
        ),
        "BadRequestException" => (
            "Chime refused the request as malformed",
            "check the row's account and user ids",
        ),
        "UnauthorizedClientException" => (
            "the credentials were refused or have expired",
            "renew them (aws sso login, aws configure), then resume",
        ),
        "ServiceFailureException" | "ServiceUnavailableException" => (
            "Chime failed on its side after the last attempt",
            "resume later",
        ),
        codes::INVALID_INPUT => (
            "the input row cannot be sent (a bad id, no user named)",
            "fix the row in the input, then resume",
        ),
        codes::DUPLICATE_ROW => (
            "another row names the same user",
            "nothing: that row holds the user's outcome",
        ),
        codes::TIMEOUT => (
            "no answer in time after the last attempt; the reset may have landed",
            "resume, then verify",
        ),
        codes::CONNECTION_ERROR => (
            "the request did not complete (network, endpoint, proxy)",
            "check the network and the endpoint, then resume",
        ),
        codes::INVALID_RESPONSE => (
            "an answer that could not be read, or held no PIN; the reset may have landed",
            "resume, then verify",
        ),
        codes::CREDENTIALS_ERROR => (
            "no usable AWS credentials were found",
            "aws configure, aws sso login --profile X, or --profile; then resume",
        ),
        codes::CONFIGURATION_ERROR => (
            "the request could not be built from the configuration",
            "check --region, --endpoint-url and the profile, then resume",
        ),
        _ => (
            "an error of no kind known here",
            "read the rows' error_message, then resume",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_tool_writes_has_advice_of_its_own() {
        let generic = advice("SomethingNew");
        for code in [
            "NotFoundException",
            "ForbiddenException",
            "ThrottledClientException",
            "UnauthorizedClientException",
            codes::INVALID_INPUT,
            codes::DUPLICATE_ROW,
            codes::TIMEOUT,
            codes::CONNECTION_ERROR,
            codes::INVALID_RESPONSE,
            codes::CREDENTIALS_ERROR,
        ] {
            assert_ne!(advice(code), generic, "{code}");
        }
    }

    #[test]
    fn an_account_counts_its_users_not_done() {
        let statuses = BTreeMap::from([("reset", 3), ("failed", 2), ("duplicate", 1)]);
        assert_eq!(users_and_open(&statuses), (6, 3));
    }
}
