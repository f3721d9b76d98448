//! What runs did, read from their results files: each user's final row
//! ([`crate::ledger::final_rows`]) counted per status, per account and per error code (with
//! what the code means and what to do next), the first and last `finished_at`, the users
//! still to do, and the coverage: the users each file's plan counted, attempted and never
//! attempted ([`crate::ledger::plan`]). `report` prints it as a table, JSON or Markdown.
//!
//! Nothing here reads a PIN: the rows' PIN cells are never looked at.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ledger::plan::{coverage, runs_text, AccountCoverage, Coverage};
use crate::ledger::{is_done, FinalRow, FinalRows, LedgerError};
use crate::outcome::{codes, RowStatus};
use crate::words::counted;

mod shown;
pub use shown::{shown, Form};

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
    /// Users whose final row is not done ([`is_done`]), in file order.
    pub to_do: Vec<ToDo>,
    /// Whether any row was really sent: then only `reset` is done.
    pub real_rows: bool,
    /// Planned, attempted and never attempted users, from the plans beside the files.
    pub coverage: Coverage,
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
    /// Users the plans counted; `null` when a file has no plan.
    planned: Option<u64>,
    /// Planned users without a row; `null` when a file has no plan.
    not_attempted: Option<u64>,
}

#[derive(Serialize)]
struct AccountJson<'a> {
    statuses: &'a BTreeMap<&'static str, u64>,
    planned: Option<u64>,
    not_attempted: Option<u64>,
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
            real_rows: finals.has_real_rows(),
            coverage: coverage(finals.paths())?,
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
        if !is_done(row.status, self.real_rows) || row.logout == crate::outcome::Logout::Failed {
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

    /// Every user's final status is `reset` (or `would-reset`, for a dry run alone, or `gone`),
    /// no logout failed, and every user the plans counted was attempted.
    pub fn complete(&self) -> bool {
        self.to_do.is_empty() && self.coverage.total().not_attempted == 0
    }

    /// An account's coverage, when every file's is known.
    fn account_coverage(&self, account: &str) -> Option<AccountCoverage> {
        self.coverage.known().then(|| {
            self.coverage
                .accounts
                .get(account)
                .copied()
                .unwrap_or_default()
        })
    }

    /// The coverage of every account together, when every file's is known.
    fn total_coverage(&self) -> Option<AccountCoverage> {
        self.coverage.known().then(|| self.coverage.total())
    }

    /// Every account with rows or a plan, in order.
    fn account_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .accounts
            .keys()
            .chain(self.coverage.accounts.keys())
            .map(String::as_str)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The coverage in words: one line per file whose plan is unknown, or the totals.
    fn coverage_lines(&self, form: Form) -> Vec<String> {
        if let Some(total) = self.total_coverage() {
            return vec![format!(
                "Planned {} users: {} attempted, {} never attempted{}",
                total.planned,
                total.attempted,
                total.not_attempted,
                if total.not_attempted > 0 {
                    " (`run --resume` with the same input reaches them)"
                } else {
                    ""
                }
            )];
        }
        self.coverage
            .unknown
            .iter()
            .map(|(file, why)| format!("Coverage unknown for {}: {why}", shown(file, form)))
            .collect()
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
                .map(|(id, statuses)| {
                    let coverage = self.account_coverage(id);
                    let account = AccountJson {
                        statuses,
                        planned: coverage.map(|c| c.planned),
                        not_attempted: coverage.map(|c| c.not_attempted),
                    };
                    (id.as_str(), account)
                })
                .collect(),
            first_finished_at: &self.first_finished_at,
            last_finished_at: &self.last_finished_at,
            planned: self.total_coverage().map(|c| c.planned),
            not_attempted: self.total_coverage().map(|c| c.not_attempted),
        };
        serde_json::to_string_pretty(&document).expect("plain maps and strings serialise") + "\n"
    }

    /// A plain table, for the terminal.
    pub fn table(&self) -> String {
        let cell = |text: &str| shown(text, Form::Terminal);
        let files: Vec<String> = self.files.iter().map(|file| cell(file)).collect();
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Final state of {} ({} in {}; the last row of each user wins)",
            counted(self.users, "user", "users"),
            counted(self.rows, "row", "rows"),
            files.join(", ")
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
            let (users, open) = users_and_open(statuses, self.real_rows);
            let account = cell(account);
            let _ = writeln!(text, "  {account:<36} {users:>9} {open:>9}");
        }
        let _ = writeln!(text, "\nCoverage (the plan beside each results file)");
        for line in self.coverage_lines(Form::Terminal) {
            let _ = writeln!(text, "  {line}");
        }
        if self.coverage.known() {
            let _ = writeln!(
                text,
                "  {:<36} {:>9} {:>9} {:>15}",
                "account", "planned", "attempted", "never attempted"
            );
            for account in self.account_ids() {
                let c = self.account_coverage(account).unwrap_or_default();
                let _ = writeln!(
                    text,
                    "  {:<36} {:>9} {:>9} {:>15}",
                    cell(account),
                    c.planned,
                    c.attempted,
                    c.not_attempted
                );
            }
            for missing in &self.coverage.missing {
                let _ = writeln!(
                    text,
                    "  never attempted: {}, account {}: input lines {}",
                    cell(&missing.file),
                    cell(&missing.account_id),
                    runs_text(&missing.runs)
                );
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(text, "\nError code");
            for (code, count) in &self.errors {
                let (meaning, action) = advice(code);
                let code = cell(code);
                let _ = writeln!(text, "  {code:<28} {count:>9}  {meaning}; {action}");
            }
        }
        let _ = writeln!(text, "\n{}", self.finished_between(Form::Terminal));
        let _ = writeln!(text, "\nStill to do: {}", self.to_do.len());
        for to_do in &self.to_do {
            let _ = writeln!(
                text,
                "  {}  account {}  user {}  {} {}",
                cell(&to_do.place()),
                cell(&to_do.account_id),
                cell(&to_do.user),
                to_do.status,
                cell(&to_do.error_code)
            );
        }
        text
    }

    /// Markdown, for a change ticket or an audit record.
    pub fn markdown(&self) -> String {
        let code = |text: &str| shown(text, Form::Markdown);
        let mut text = String::new();
        let _ = writeln!(text, "## PIN rotation report\n");
        let files: Vec<String> = self.files.iter().map(|file| code(file)).collect();
        let _ = writeln!(
            text,
            "- Results files: {} ({} rows; the last row of each user wins)",
            files.join(", "),
            self.rows
        );
        let _ = writeln!(text, "- Users: {}", self.users);
        let _ = writeln!(text, "- {}", self.finished_between(Form::Markdown));
        let _ = writeln!(text, "- Still to do: {}", self.to_do.len());
        for line in self.coverage_lines(Form::Markdown) {
            let _ = writeln!(text, "- {line}");
        }
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
            let (users, open) = users_and_open(statuses, self.real_rows);
            vec![code(account), users.to_string(), open.to_string()]
        });
        let columns = [Text("account"), Count("users"), Count("not done")];
        markdown_table(&mut text, "Accounts", &columns, accounts);
        if self.coverage.known() {
            let columns = [
                Text("account"),
                Count("planned"),
                Count("attempted"),
                Count("never attempted"),
            ];
            markdown_table(
                &mut text,
                "Coverage",
                &columns,
                self.coverage_rows(code).into_iter(),
            );
            for missing in &self.coverage.missing {
                let _ = writeln!(
                    text,
                    "\nNever attempted: {}, account {}: input lines {}",
                    code(&missing.file),
                    code(&missing.account_id),
                    runs_text(&missing.runs)
                );
            }
        }
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
                    code(&to_do.error_code),
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

    /// The coverage per account and in total, as table rows (account as `name` shows it,
    /// planned, attempted, never attempted); none when a file's coverage is unknown.
    pub fn coverage_rows(&self, name: impl Fn(&str) -> String) -> Vec<Vec<String>> {
        let row = |name: String, c: AccountCoverage| {
            vec![
                name,
                c.planned.to_string(),
                c.attempted.to_string(),
                c.not_attempted.to_string(),
            ]
        };
        let Some(total) = self.total_coverage() else {
            return Vec::new();
        };
        let mut rows: Vec<Vec<String>> = self
            .account_ids()
            .into_iter()
            .map(|id| row(name(id), self.account_coverage(id).unwrap_or_default()))
            .collect();
        rows.push(row("total".to_string(), total));
        rows
    }

    /// The coverage for a workbook: a header row, then a row per account and the total; or
    /// the lines saying why it is unknown.
    pub fn coverage_sheet(&self) -> Vec<Vec<String>> {
        if !self.coverage.known() {
            return self
                .coverage_lines(Form::Terminal)
                .into_iter()
                .map(|line| vec![line])
                .collect();
        }
        let header = ["account", "planned", "attempted", "never attempted"];
        std::iter::once(header.map(String::from).to_vec())
            .chain(self.coverage_rows(str::to_string))
            .collect()
    }

    /// When the first and the last row was written, in words ("-" where no row says).
    fn finished_between(&self, form: Form) -> String {
        let at =
            |time: &Option<String>| time.as_deref().map_or("-".to_string(), |t| shown(t, form));
        let (first, last) = (at(&self.first_finished_at), at(&self.last_finished_at));
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

/// An account's users, and how many of them are not done.
fn users_and_open(statuses: &BTreeMap<&'static str, u64>, real_rows: bool) -> (u64, u64) {
    let done = RowStatus::ALL
        .iter()
        .filter(|status| is_done(**status, real_rows))
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
        assert_eq!(users_and_open(&statuses, true), (6, 3));
        let dry_run = BTreeMap::from([("would-reset", 3), ("failed", 2)]);
        assert_eq!(users_and_open(&dry_run, false), (5, 2));
        let mixed = BTreeMap::from([("reset", 3), ("would-reset", 2)]);
        assert_eq!(users_and_open(&mixed, true), (5, 2));
    }
}
