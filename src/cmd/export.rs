//! `export`: lists the users of one or more accounts (ListUsers, every page) into a CSV that
//! `run` takes as its input, for review before a rotation.
//!
//! The file is written under a temporary name beside the destination and renamed into place
//! once every account is listed, so a failed export never leaves a partial list that could be
//! mistaken for the whole one. No PIN is written, although ListUsers returns them.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use aws_sdk_chime::types::{RegistrationStatus, User, UserType};
use serde::{Deserialize, Serialize};

use crate::chime::{classify, CallError, ChimeClient};
use crate::cmd::args::{file_or_std, AwsArgs, IdArgs};
use crate::cmd::examples;
use crate::cmd::{describe, exit_code};
use crate::execution::RetryPolicy;
use crate::exit;
use crate::output::cells::{column_names, Text};
use crate::output::{Destination, Existing, Files};
use crate::words::{counted, thousands};

/// A row of an exported file: the one place its columns are named and ordered. `run` reads
/// `account_id` and `user_id` (and `email` when a row has no user id) and carries the other
/// columns into its results. Every cell is neutralised against spreadsheet formulas (`run`
/// reads the ids back unchanged: GUIDs never start with a formula character).
#[derive(Debug, Serialize, Deserialize)]
struct ExportedUser<'a> {
    #[serde(borrow)]
    account_id: Text<'a>,
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    email: Text<'a>,
    #[serde(borrow)]
    display_name: Text<'a>,
    #[serde(borrow)]
    user_type: Text<'a>,
    #[serde(borrow)]
    registration_status: Text<'a>,
    #[serde(borrow)]
    license_type: Text<'a>,
}

/// Users asked for in each ListUsers call: the most the API allows, for the fewest calls.
const PAGE_SIZE: i32 = 200;

/// `UserType` of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UserTypeArg {
    #[value(name = "PrivateUser")]
    PrivateUser,
    #[value(name = "SharedDevice")]
    SharedDevice,
}

/// `RegistrationStatus` of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistrationArg {
    #[value(name = "Registered")]
    Registered,
    #[value(name = "Unregistered")]
    Unregistered,
    #[value(name = "Suspended")]
    Suspended,
}

/// Flags of `chime-pin-reset export`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help(
    "export",
    "\
The file is an input for `run`: review it, delete the rows to keep, then
`run --dry-run` and `run`. IAM permission needed: chime:ListUsers.

Exit codes:
  0  every account was listed
  1  Chime or the network refused a call (after retries); no file is written
  2  a usage error, no usable credentials, the file exists without --force, or it cannot
     be written",
))]
pub struct ExportArgs {
    /// An account to list (repeatable).
    #[arg(long = "account-id", value_name = "ID", required = true)]
    pub account_ids: Vec<String>,

    /// Where to write the users (`-` writes to stdout).
    #[arg(short, long, value_name = "USERS.csv")]
    pub output: PathBuf,

    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,

    /// Only users of this type (filtered by Chime).
    #[arg(long, value_enum, ignore_case = true)]
    pub user_type: Option<UserTypeArg>,

    /// Only users with this registration status.
    #[arg(long, value_enum, ignore_case = true)]
    pub registration_status: Option<RegistrationArg>,

    /// Only users whose email is in this domain (exactly; `example.com` does not match
    /// `mail.example.com`).
    #[arg(long, value_name = "DOMAIN")]
    pub email_domain: Option<String>,

    #[command(flatten)]
    pub ids: IdArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Which users to keep, checked here after ListUsers (which filters only by type and email).
#[derive(Clone, Debug, Default)]
struct Filter {
    user_type: Option<UserType>,
    registration_status: Option<RegistrationStatus>,
    /// Lowercase, without a leading `@`.
    email_domain: Option<String>,
}

impl Filter {
    fn keeps(&self, user: &User) -> bool {
        let status_ok = self
            .registration_status
            .as_ref()
            .is_none_or(|wanted| user.user_registration_status() == Some(wanted));
        let domain_ok = self.email_domain.as_deref().is_none_or(|wanted| {
            user.primary_email()
                .and_then(|email| email.rsplit_once('@'))
                .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(wanted))
        });
        // Chime filters by type already; checking again costs nothing and guards a loose match.
        let type_ok = self
            .user_type
            .as_ref()
            .is_none_or(|wanted| user.user_type() == Some(wanted));
        status_ok && domain_ok && type_ok
    }
}

/// Runs `export`; an `Err` is a usage error (exit 2).
pub async fn run(args: ExportArgs) -> anyhow::Result<u8> {
    let mut accounts = Vec::new();
    let mut seen = HashSet::new();
    for account in &args.account_ids {
        let account = args.ids.id("--account-id", account)?;
        // The same account twice would list its users twice, and `run` would call them
        // duplicates.
        if seen.insert(account.to_ascii_lowercase()) {
            accounts.push(account);
        }
    }
    let filter = Filter {
        user_type: args.user_type.map(|kind| match kind {
            UserTypeArg::PrivateUser => UserType::PrivateUser,
            UserTypeArg::SharedDevice => UserType::SharedDevice,
        }),
        registration_status: args.registration_status.map(|status| match status {
            RegistrationArg::Registered => RegistrationStatus::Registered,
            RegistrationArg::Unregistered => RegistrationStatus::Unregistered,
            RegistrationArg::Suspended => RegistrationStatus::Suspended,
        }),
        email_domain: match &args.email_domain {
            Some(domain) => Some(email_domain(domain)?),
            None => None,
        },
    };
    let settings = args.aws.client_settings()?;
    let destination = file_or_std(&args.output, Destination::Stdout, Destination::File);
    let existing = if args.force {
        Existing::Overwrite
    } else {
        Existing::Refuse
    };
    // Refused before anything is listed; the list holds names and emails, so it is private.
    let mut file = Files::default()
        .whole(&destination, existing, "the export")?
        .create()?;
    // The identity first: missing or rejected credentials end the command before any call.
    let connection = crate::preflight::connect(&settings).await?;
    crate::say!("chime-pin-reset: {}", connection.caller.line());
    let client = connection.chime;

    let mut sheet = csv::Writer::from_writer(&mut file);
    let per_account = match list_accounts(&client, &accounts, &filter, &mut sheet).await {
        Ok(per_account) => per_account,
        Err(Failure::Unwritable(err)) => {
            return Err(io::Error::from(err))
                .with_context(|| format!("cannot write {}", destination.name()));
        }
        Err(Failure::Call(error)) => {
            // Dropping the temporary file unlinks it: no partial list is left behind.
            match destination {
                Destination::File(_) => crate::say!(
                    "chime-pin-reset: nothing was written to {}",
                    destination.name()
                ),
                Destination::Stdout => {
                    crate::say!("chime-pin-reset: the list on stdout is incomplete")
                }
            }
            return Ok(exit_code(&error));
        }
    };
    let flushed = sheet.flush();
    drop(sheet);
    flushed.with_context(|| format!("cannot write {}", destination.name()))?;
    file.commit()?;
    let total: u64 = per_account.iter().map(|(_, count)| count).sum();
    let accounts_text = per_account
        .iter()
        .map(|(account, count)| format!("{account}: {}", thousands(*count)))
        .collect::<Vec<_>>()
        .join(", ");
    crate::say!(
        "chime-pin-reset: exported {} to {} (per account: {accounts_text})",
        counted(total, "user", "users"),
        destination.name()
    );
    Ok(exit::SUCCESS)
}

/// Writes the header and every account's users; returns the users kept per account. A refused
/// account is named on stderr.
async fn list_accounts<'a, W: Write>(
    client: &ChimeClient,
    accounts: &'a [String],
    filter: &Filter,
    sheet: &mut csv::Writer<W>,
) -> Result<Vec<(&'a str, u64)>, Failure> {
    sheet
        .serialize(column_names::<ExportedUser>())
        .map_err(Failure::Unwritable)?;
    let mut per_account = Vec::with_capacity(accounts.len());
    for account in accounts {
        match list_account(client, account, filter, sheet).await {
            Ok(count) => per_account.push((account.as_str(), count)),
            Err(Failure::Call(error)) => {
                crate::say!("chime-pin-reset: account {account}: {}", describe(&error));
                return Err(Failure::Call(error));
            }
            Err(failure) => return Err(failure),
        }
    }
    Ok(per_account)
}

/// Why an account could not be listed.
enum Failure {
    /// Chime or the network refused a page, after retries.
    Call(CallError),
    /// The destination failed: nothing more can be written.
    Unwritable(csv::Error),
}

/// Lists every page of one account into `sheet` and returns how many users were kept. Each
/// page is one call through the retry loop, asked for from its own token, so a page that
/// fails transiently is asked for again without repeating the pages already written.
async fn list_account<W: Write>(
    client: &ChimeClient,
    account: &str,
    filter: &Filter,
    sheet: &mut csv::Writer<W>,
) -> Result<u64, Failure> {
    let policy = RetryPolicy::default();
    let mut next_token: Option<String> = None;
    let mut kept = 0;
    loop {
        let page = policy
            .call_alone(|| async {
                client
                    .sdk()
                    .list_users()
                    .account_id(account)
                    .set_user_type(filter.user_type.clone())
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(classify)
            })
            .await
            .map_err(Failure::Call)?;
        for user in page.users().iter().filter(|user| filter.keeps(user)) {
            sheet
                .serialize(row(account, user))
                .map_err(Failure::Unwritable)?;
            kept += 1;
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            return Ok(kept);
        }
    }
}

/// The exported row of a user listed in `account`.
fn row<'a>(account: &'a str, user: &'a User) -> ExportedUser<'a> {
    let text = |value: Option<&'a str>| Text::new(value.unwrap_or(""), false);
    ExportedUser {
        account_id: text(user.account_id().or(Some(account))),
        user_id: text(Some(user.user_id())),
        email: text(user.primary_email()),
        display_name: text(user.display_name()),
        user_type: text(user.user_type().map(UserType::as_str)),
        registration_status: text(
            user.user_registration_status()
                .map(RegistrationStatus::as_str),
        ),
        license_type: text(user.license_type().map(|license| license.as_str())),
    }
}

/// `--email-domain`, lowercased and without a leading `@`.
fn email_domain(text: &str) -> anyhow::Result<String> {
    let domain = text.trim().trim_start_matches('@').to_ascii_lowercase();
    if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
        bail!("--email-domain {text:?} is not a domain (e.g. example.com)");
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_chime::types::License;

    fn user(email: &str, status: RegistrationStatus) -> User {
        User::builder()
            .user_id("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
            .account_id("11111111-2222-3333-4444-555555555555")
            .primary_email(email)
            .display_name("=HYPERLINK(\"x\")")
            .user_type(UserType::PrivateUser)
            .user_registration_status(status)
            .license_type(License::Pro)
            .build()
            .expect("a user id is given")
    }

    #[test]
    fn filters_combine() {
        let filter = Filter {
            registration_status: Some(RegistrationStatus::Registered),
            email_domain: Some(email_domain("@Example.com").unwrap()),
            ..Filter::default()
        };
        assert!(filter.keeps(&user("a@EXAMPLE.com", RegistrationStatus::Registered)));
        assert!(!filter.keeps(&user("a@mail.example.com", RegistrationStatus::Registered)));
        assert!(!filter.keeps(&user("a@example.com", RegistrationStatus::Suspended)));
        assert!(Filter::default().keeps(&user("a@x.org", RegistrationStatus::Suspended)));
    }

    #[test]
    fn rows_follow_the_header_and_are_neutralised() {
        let mut sheet = csv::Writer::from_writer(Vec::new());
        sheet.serialize(column_names::<ExportedUser>()).unwrap();
        let user = user("a@example.com", RegistrationStatus::Registered);
        sheet.serialize(row("ignored", &user)).unwrap();
        let text = String::from_utf8(sheet.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "account_id,user_id,email,display_name,user_type,registration_status,license_type\n\
             11111111-2222-3333-4444-555555555555,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,\
             a@example.com,\"'=HYPERLINK(\"\"x\"\")\",PrivateUser,Registered,Pro\n"
        );
    }

    #[test]
    fn domains_are_checked() {
        assert_eq!(email_domain(" example.com ").unwrap(), "example.com");
        assert!(email_domain("a@b.com").is_err());
        assert!(email_domain("@").is_err());
    }
}
