//! The accounts of a run, checked before any reset: Chime GetAccount gives each one's name and
//! status. An account that is not Active, or not found, stops the run before anything changes;
//! a role that may not call GetAccount (ForbiddenException) only loses the names.

use std::future::Future;

use serde::Serialize;

use crate::chime::{AccountRecord, CallError, ChimeClient, Disposition};
use crate::execution::RetryPolicy;

/// The one call this check makes. [`ChimeClient`] implements it; unit tests use fakes.
pub trait AccountLookup {
    fn get_account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<AccountRecord, CallError>> + Send;
}

impl AccountLookup for ChimeClient {
    fn get_account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<AccountRecord, CallError>> + Send {
        ChimeClient::get_account(self, account_id)
    }
}

/// An account of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedAccount {
    pub account_id: String,
    pub name: Option<String>,
    /// `Active`, as Chime answered; `None` when it could not be asked.
    pub status: Option<String>,
    /// Valid rows of the input in this account; `None` when stdin is not counted ahead.
    pub rows: Option<u64>,
    /// Why the name is missing (GetAccount forbidden, or failed).
    pub note: Option<String>,
}

impl PlannedAccount {
    /// `Name (id)`, or the id alone.
    pub fn title(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.account_id),
            None => self.account_id.clone(),
        }
    }
}

/// Why the run cannot start. Nothing was sent but GetAccount.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(
        "{} not usable, so no PIN was reset: {}. Take {} out of the input, or fix the \
         account first",
        if .0.len() == 1 { "an account of the input is" } else { "accounts of the input are" },
        .0.join("; "),
        if .0.len() == 1 { "its rows" } else { "their rows" }
    )]
    NotUsable(Vec<String>),
    #[error("GetAccount was refused, so no PIN was reset: {0}")]
    Refused(String),
}

/// Asks Chime about each account, in order. `rows` pairs each account with its valid rows.
pub async fn check_accounts(
    api: &impl AccountLookup,
    accounts: &[(String, Option<u64>)],
) -> Result<Vec<PlannedAccount>, AccountsError> {
    let mut planned = Vec::with_capacity(accounts.len());
    let mut unusable = Vec::new();
    for (account_id, rows) in accounts {
        let answer = RetryPolicy::default()
            .call_alone(|| api.get_account(account_id))
            .await;
        let mut account = PlannedAccount {
            account_id: account_id.clone(),
            name: None,
            status: None,
            rows: *rows,
            note: None,
        };
        match answer {
            Ok(record) => {
                account.name = record.name;
                account.status = record.status;
                match account.status.as_deref() {
                    Some("Active") | None => {}
                    Some(status) => unusable.push(format!("{} is {status}", account.title())),
                }
            }
            Err(error) if error.code == "NotFoundException" => {
                unusable.push(format!("{account_id} was not found"));
            }
            Err(error) if error.code == "ForbiddenException" => {
                account.note = Some("GetAccount not allowed".to_string());
            }
            Err(error) if error.disposition == Disposition::StopRun => {
                return Err(AccountsError::Refused(describe_call(&error)));
            }
            Err(error) => {
                account.note = Some(format!("not checked: {}", describe_call(&error)));
            }
        }
        planned.push(account);
    }
    if unusable.is_empty() {
        Ok(planned)
    } else {
        Err(AccountsError::NotUsable(unusable))
    }
}

/// A failed call on one line: the exception name and the message.
fn describe_call(error: &CallError) -> String {
    format!("{}: {}", error.code, error.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An in-memory Chime that answers GetAccount from a table.
    struct FakeAccounts(HashMap<&'static str, Result<AccountRecord, CallError>>);

    impl AccountLookup for FakeAccounts {
        async fn get_account(&self, account_id: &str) -> Result<AccountRecord, CallError> {
            self.0[account_id].clone()
        }
    }

    fn record(id: &str, name: &str, status: &str) -> Result<AccountRecord, CallError> {
        Ok(AccountRecord {
            account_id: id.to_string(),
            name: Some(name.to_string()),
            status: Some(status.to_string()),
        })
    }

    fn error(code: &str) -> Result<AccountRecord, CallError> {
        Err(CallError::new(Disposition::Final, code, "scripted"))
    }

    fn rows(ids: &[&str]) -> Vec<(String, Option<u64>)> {
        ids.iter().map(|id| (id.to_string(), Some(3))).collect()
    }

    #[tokio::test]
    async fn active_accounts_get_their_names_and_forbidden_ones_go_on() {
        let api = FakeAccounts(HashMap::from([
            ("a", record("a", "Sales", "Active")),
            ("b", error("ForbiddenException")),
        ]));
        let planned = check_accounts(&api, &rows(&["a", "b"])).await.unwrap();
        assert_eq!(planned[0].title(), "Sales (a)");
        assert_eq!(planned[1].title(), "b");
        assert_eq!(planned[1].note.as_deref(), Some("GetAccount not allowed"));
    }

    #[tokio::test]
    async fn suspended_or_missing_accounts_are_named_and_stop_the_run() {
        let api = FakeAccounts(HashMap::from([
            ("a", record("a", "Sales", "Active")),
            ("b", record("b", "Old", "Suspended")),
            ("c", error("NotFoundException")),
        ]));
        let error = check_accounts(&api, &rows(&["a", "b", "c"]))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("Old (b) is Suspended"), "{error}");
        assert!(error.contains("c was not found"), "{error}");
        assert!(!error.contains("Sales"), "{error}");
    }
}
