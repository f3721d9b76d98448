//! The plan: what a run is about to do, shown on stderr before the first change and kept in
//! `--summary-json`. Who and where (identity, region, endpoint), which accounts and how many
//! rows each, how the rows were judged, where the PINs go, and how fast and how long.

use std::time::Duration;

use serde::Serialize;

use super::accounts::PlannedAccount;
use super::identity::Caller;
use super::survey::RowCounts;
use crate::chime::sts::endpoint_name;
pub use crate::words::thousands;
use crate::words::{counted, hidden_rows_skipped};

/// What a run is about to do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// `reset`, or `dry-run` (GetUser only).
    pub mode: &'static str,
    pub identity: Caller,
    pub region: String,
    /// The Chime endpoint; `None` for the default one.
    pub endpoint: Option<String>,
    pub accounts: Vec<PlannedAccount>,
    /// `None` when the input is stdin, which is counted as it arrives.
    pub rows: Option<RowCounts>,
    /// `full`, `masked` or `omit`.
    pub pins: String,
    pub results: String,
    /// Requests per second; `None` is unlimited.
    pub rate: Option<u32>,
    pub concurrency: usize,
    /// At the rate, for every call the valid rows need; `None` when unknown.
    pub estimated_seconds: Option<f64>,
    /// `--canary N`.
    pub canary: Option<u64>,
    /// `--logout`: each user reset is logged out too.
    pub logout: bool,
}

impl Plan {
    /// The calls the valid rows need (a row by email looks its user up first, a row with an id
    /// and an email is checked with GetUser first, a `--logout` adds one a row) over the rate.
    pub fn estimate(rows: Option<&RowCounts>, rate: Option<u32>, logout: bool) -> Option<f64> {
        let rows = rows?;
        let logouts = if logout { rows.valid } else { 0 };
        let calls = rows.valid + rows.by_email + rows.email_checked + logouts;
        Some(calls as f64 / f64::from(rate?))
    }

    /// The plan in plain words, for stderr.
    pub fn render(&self) -> String {
        let mut text = format!(
            "Plan (nothing has changed yet):\n  {}\n",
            self.identity.without_endpoint()
        );
        let mut line = |label: &str, value: String| {
            text.push_str(&format!("  {label:<10}{value}\n"));
        };
        line(
            "endpoint:",
            endpoint_name(self.endpoint.as_deref(), &self.region),
        );
        line("accounts:", self.accounts_text());
        line("rows:", self.rows_text());
        if let Some(checks) = self.checks_text() {
            line("checks:", checks);
        }
        if self.logout {
            line(
                "logout:",
                "each user reset is then logged out (LogoutUser): one more call a row".into(),
            );
        }
        line("pins:", self.pins_text());
        line("pace:", self.pace_text());
        if let Some(canary) = self.canary {
            line(
                "canary:",
                format!(
                    "the first {} alone; the rest only if every one of them succeeds",
                    rows_word(canary)
                ),
            );
        }
        text
    }

    fn accounts_text(&self) -> String {
        if self.accounts.is_empty() {
            // A file was read to its end: it names no account in a row that can be sent.
            return match self.rows {
                Some(_) => "none: no row can be sent".to_string(),
                None => "named by the rows as they are read (stdin is not read ahead)".to_string(),
            };
        }
        let mut text = self.accounts.len().to_string();
        for account in &self.accounts {
            text.push_str(&format!("\n            {}", account.title()));
            if let Some(rows) = account.rows {
                text.push_str(&format!(": {}", rows_word(rows)));
            }
            if let Some(note) = &account.note {
                text.push_str(&format!(" ({note})"));
            }
        }
        text
    }

    fn rows_text(&self) -> String {
        let Some(rows) = &self.rows else {
            return "counted as they are read (stdin is not read ahead)".to_string();
        };
        let verb = match (self.mode, self.logout) {
            ("dry-run", false) => "to look up",
            ("dry-run", true) => "to look up (a run would reset and log out)",
            (_, false) => "to reset",
            (_, true) => "to reset and log out",
        };
        let mut text = format!(
            "{} {verb}, {} invalid, {}",
            thousands(rows.valid),
            thousands(rows.invalid),
            counted(rows.duplicate, "duplicate", "duplicates")
        );
        if rows.already_reset > 0 {
            text.push_str(&format!(
                ", {} already reset (skipped)",
                thousands(rows.already_reset)
            ));
        }
        if rows.hidden > 0 {
            text.push_str(&format!(", {}", hidden_rows_skipped(rows.hidden)));
        }
        text
    }

    /// Where the PINs go. A dry run changes none and writes none: its results hold what
    /// GetUser found.
    fn pins_text(&self) -> String {
        match self.mode {
            "dry-run" => format!(
                "none (a dry run changes no PIN); results written to {}",
                self.results
            ),
            _ => format!("{}, written to {}", self.pins, self.results),
        }
    }

    /// The rows that give an id and an email, checked before anything changes.
    fn checks_text(&self) -> Option<String> {
        let checked = self.rows.as_ref()?.email_checked;
        (checked > 0).then(|| {
            format!(
                "{} give a user id and an email: GetUser checks first that they name one \
                 person ({} more {}); a row that names two fails, and nothing is done for it",
                rows_word(checked),
                thousands(checked),
                if checked == 1 { "call" } else { "calls" }
            )
        })
    }

    fn pace_text(&self) -> String {
        let rate = match self.rate {
            Some(rate) => format!("{rate} requests/s"),
            None => "no rate limit".to_string(),
        };
        let duration = match self.estimated_seconds {
            Some(seconds) => format!(": about {}", duration_words(seconds)),
            None => String::new(),
        };
        format!("{rate}, {} in flight at most{duration}", self.concurrency)
    }

    /// The question asked before the first reset, on a terminal.
    pub fn question(&self) -> String {
        let users = match &self.rows {
            Some(rows) => format!(
                "{} in {}",
                counted(rows.valid, "user", "users"),
                counted(self.accounts.len() as u64, "account", "accounts")
            ),
            None => "the users read from stdin".to_string(),
        };
        format!(
            "Reset the PINs of {users} as {}? [y/N] ",
            self.identity.who()
        )
    }
}

/// The question asked after a canary that passed, on a terminal.
pub fn canary_question(reset: u64, sent: u64, rest: Option<u64>) -> String {
    let rest = match rest {
        Some(rest) => format!("the other {}", thousands(rest)),
        None => "the rest".to_string(),
    };
    format!(
        "{} of {} reset. Continue with {rest}? [y/N] ",
        thousands(reset),
        thousands(sent)
    )
}

fn rows_word(rows: u64) -> String {
    counted(rows, "row", "rows")
}

/// `500` seconds as `8 min 20 s`.
fn duration_words(seconds: f64) -> String {
    let whole = Duration::from_secs_f64(seconds.max(0.0).ceil()).as_secs();
    match whole {
        0..=59 => format!("{whole} s"),
        60..=3599 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3600, (whole % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            mode: "reset",
            identity: Caller {
                arn: Some("arn:aws:iam::123456789012:user/alice".into()),
                account: Some("123456789012".into()),
                unknown: None,
                credentials: "profile chime-admin".into(),
                region: "us-east-1".into(),
                endpoint: None,
            },
            region: "us-east-1".into(),
            endpoint: None,
            accounts: vec![
                PlannedAccount {
                    account_id: "a1".into(),
                    name: Some("Sales".into()),
                    status: Some("Active".into()),
                    rows: Some(4_000),
                    note: None,
                },
                PlannedAccount {
                    account_id: "a2".into(),
                    name: None,
                    status: None,
                    rows: Some(980),
                    note: Some("GetAccount not allowed".into()),
                },
            ],
            rows: Some(RowCounts {
                valid: 4_980,
                by_email: 20,
                invalid: 2,
                duplicate: 1,
                already_reset: 0,
                email_checked: 0,
                hidden: 2,
            }),
            pins: "full".into(),
            results: "results.csv".into(),
            rate: Some(10),
            concurrency: 8,
            estimated_seconds: Plan::estimate(
                Some(&RowCounts {
                    valid: 4_980,
                    by_email: 20,
                    ..RowCounts::default()
                }),
                Some(10),
                false,
            ),
            canary: Some(10),
            logout: false,
        }
    }

    #[test]
    fn the_plan_names_everything_an_administrator_checks() {
        let text = plan().render();
        for expected in [
            "as arn:aws:iam::123456789012:user/alice (account 123456789012",
            "the default endpoint for us-east-1",
            "Sales (a1): 4,000 rows",
            "a2: 980 rows (GetAccount not allowed)",
            "4,980 to reset, 2 invalid, 1 duplicate, 2 hidden rows skipped",
            "full, written to results.csv",
            "10 requests/s, 8 in flight at most: about 8 min 20 s",
            "the first 10 rows alone",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn the_questions_are_worded_as_specified() {
        assert_eq!(
            plan().question(),
            "Reset the PINs of 4,980 users in 2 accounts as \
             arn:aws:iam::123456789012:user/alice? [y/N] "
        );
        assert_eq!(
            canary_question(5, 5, Some(4_975)),
            "5 of 5 reset. Continue with the other 4,975? [y/N] "
        );
    }
}
