//! `export`: lists the users of one or more accounts (ListUsers, every page) into a CSV that
//! `run` takes as its input, for review before a rotation.
//!
//! The file is written under a temporary name beside the destination and renamed into place
//! once every account is listed, so a failed export never leaves a partial list that could be
//! mistaken for the whole one. No PIN is written, although ListUsers returns them.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use aws_sdk_chime::types::{RegistrationStatus, User, UserType};

use crate::chime::{classify, CallError, ChimeClient};
use crate::exit;
use crate::output::{neutralize, Destination};
use crate::prepare::{check_id, describe, exit_code, AwsArgs, RetryPolicy};

/// The header of an exported file. `run` reads `account_id` and `user_id` (and `email` when a
/// row has no user id) and carries the other columns into its results.
pub const EXPORT_HEADER: [&str; 7] = [
    "account_id",
    "user_id",
    "email",
    "display_name",
    "user_type",
    "registration_status",
    "license_type",
];

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
#[command(after_help = "\
The file is an input for `run`: review it, delete the rows to keep, then
`run --dry-run` and `run`. IAM permission needed: chime:ListUsers.

Exit codes:
  0  every account was listed
  1  Chime or the network refused a call (after retries); no file is written
  2  a usage error, no usable credentials, or the file exists without --force")]
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

    /// Accept account IDs that are not GUIDs (any non-empty ID without `/`).
    #[arg(long)]
    pub no_strict_ids: bool,

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
    let strict = !args.no_strict_ids;
    let mut accounts = Vec::new();
    let mut seen = HashSet::new();
    for account in &args.account_ids {
        let account = account.trim();
        check_id("--account-id", account, strict)?;
        // The same account twice would list its users twice, and `run` would call them
        // duplicates.
        if seen.insert(account.to_ascii_lowercase()) {
            accounts.push(account.to_string());
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
    let destination = Destination::from_arg(&args.output);
    let mut target = Target::open(&destination, args.force)?;
    let client = ChimeClient::new(&settings).await;

    let mut sheet = csv::Writer::from_writer(target.writer());
    let listed = list_accounts(&client, &accounts, &filter, &mut sheet).await;
    let per_account =
        match listed {
            Ok(per_account) => per_account,
            Err(failure) => {
                drop(sheet);
                target.discard();
                return match failure {
                    Failure::Unwritable(err)
                        if destination == Destination::Stdout && err_is_broken_pipe(&err) =>
                    {
                        Ok(exit::SUCCESS)
                    }
                    Failure::Unwritable(err) => Err(anyhow::Error::new(err)
                        .context(format!("cannot write {}", destination.name()))),
                    Failure::Call(error) => {
                        match destination {
                            Destination::File(_) => eprintln!(
                                "chime-pin-reset: nothing was written to {}",
                                destination.name()
                            ),
                            Destination::Stdout => {
                                eprintln!("chime-pin-reset: the list on stdout is incomplete")
                            }
                        }
                        Ok(exit_code(&error))
                    }
                };
            }
        };
    let flushed = sheet.flush();
    drop(sheet);
    if let Err(err) = flushed
        .map_err(anyhow::Error::from)
        .and_then(|()| target.commit())
    {
        if destination == Destination::Stdout && is_broken_pipe(&err) {
            return Ok(exit::SUCCESS);
        }
        return Err(err.context(format!("cannot write {}", destination.name())));
    }
    let total: u64 = per_account.iter().map(|(_, count)| count).sum();
    let accounts_text = per_account
        .iter()
        .map(|(account, count)| format!("{account}: {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "chime-pin-reset: exported {total} users to {} (per account: {accounts_text})",
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
        .write_record(EXPORT_HEADER)
        .map_err(Failure::Unwritable)?;
    let mut per_account = Vec::with_capacity(accounts.len());
    for account in accounts {
        match list_account(client, account, filter, sheet).await {
            Ok(count) => per_account.push((account.as_str(), count)),
            Err(Failure::Call(error)) => {
                eprintln!("chime-pin-reset: account {account}: {}", describe(&error));
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

/// Lists every page of one account into `sheet` and returns how many users were kept. A page
/// that fails transiently is asked for again from its own token, so the pages already written
/// are not repeated (the paginator itself stops at the first error).
async fn list_account<W: Write>(
    client: &ChimeClient,
    account: &str,
    filter: &Filter,
    sheet: &mut csv::Writer<W>,
) -> Result<u64, Failure> {
    let policy = RetryPolicy::default();
    let mut next_token: Option<String> = None;
    let mut tries = 0;
    let mut kept = 0;
    loop {
        let mut pages = client
            .sdk()
            .list_users()
            .account_id(account)
            .set_user_type(filter.user_type.clone())
            .max_results(PAGE_SIZE)
            .set_next_token(next_token.clone())
            .into_paginator()
            .send();
        let error = loop {
            match pages.next().await {
                None => return Ok(kept),
                Some(Ok(page)) => {
                    tries = 0;
                    for user in page.users().iter().filter(|user| filter.keeps(user)) {
                        if let Err(err) = sheet.write_record(row(account, user)) {
                            return Err(Failure::Unwritable(err));
                        }
                        kept += 1;
                    }
                    next_token = page.next_token().map(str::to_string);
                }
                Some(Err(err)) => break classify(err),
            }
        };
        tries += 1;
        if !policy.retries(&error, tries) {
            return Err(Failure::Call(error));
        }
        tokio::time::sleep(policy.backoff(tries)).await;
    }
}

/// One exported row of a user listed in `account`, every cell neutralised against spreadsheet
/// formulas (`run` reads the IDs back unchanged: GUIDs never start with a formula character).
fn row(account: &str, user: &User) -> [String; 7] {
    let text = |value: Option<&str>| neutralize(value.unwrap_or(""));
    [
        text(user.account_id().or(Some(account))),
        text(Some(user.user_id())),
        text(user.primary_email()),
        text(user.display_name()),
        text(user.user_type().map(UserType::as_str)),
        text(
            user.user_registration_status()
                .map(RegistrationStatus::as_str),
        ),
        text(user.license_type().map(|license| license.as_str())),
    ]
}

/// `--email-domain`, lowercased and without a leading `@`.
fn email_domain(text: &str) -> anyhow::Result<String> {
    let domain = text.trim().trim_start_matches('@').to_ascii_lowercase();
    if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
        bail!("--email-domain {text:?} is not a domain (e.g. example.com)");
    }
    Ok(domain)
}

fn err_is_broken_pipe(err: &csv::Error) -> bool {
    matches!(err.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Where the rows go: stdout, or a temporary file renamed over the destination at the end.
enum Target {
    Stdout(BufWriter<io::Stdout>),
    File {
        temporary: PathBuf,
        path: PathBuf,
        file: Option<BufWriter<File>>,
    },
}

impl Target {
    /// Refuses an existing destination without `--force` before anything is listed.
    fn open(destination: &Destination, force: bool) -> anyhow::Result<Self> {
        let path = match destination {
            Destination::Stdout => return Ok(Target::Stdout(BufWriter::new(io::stdout()))),
            Destination::File(path) => path,
        };
        if path.exists() && !force {
            bail!(
                "{} exists already: pass --force to overwrite it",
                path.display()
            );
        }
        let temporary = temporary_path(path);
        // The list holds names and emails: readable by its owner only, like the results.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Target::File {
            temporary,
            path: path.clone(),
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Target::Stdout(out) => out,
            Target::File { file, .. } => file
                .as_mut()
                .expect("the file is open until commit or discard"),
        }
    }

    /// Makes the rows durable and puts the file in place.
    fn commit(mut self) -> anyhow::Result<()> {
        match &mut self {
            Target::Stdout(out) => Ok(out.flush()?),
            Target::File {
                temporary,
                path,
                file,
            } => {
                let written = file
                    .take()
                    .expect("the file is open until commit or discard");
                let result = written
                    .into_inner()
                    .map_err(|err| err.into_error())
                    .and_then(|file| file.sync_all())
                    .and_then(|()| std::fs::rename(&*temporary, &*path));
                if result.is_err() {
                    let _ = std::fs::remove_file(&*temporary);
                }
                Ok(result?)
            }
        }
    }

    /// Removes the temporary file of a failed export.
    fn discard(self) {
        if let Target::File {
            temporary, file, ..
        } = self
        {
            drop(file);
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// `.NAME.partial-PID` beside `path`, so the rename stays on one file system.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "export".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
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
        let cells = row(
            "ignored",
            &user("a@example.com", RegistrationStatus::Registered),
        );
        assert_eq!(cells[0], "11111111-2222-3333-4444-555555555555");
        assert_eq!(cells[3], "'=HYPERLINK(\"x\")");
        assert_eq!(&cells[4..], ["PrivateUser", "Registered", "Pro"]);
    }

    #[test]
    fn domains_are_checked() {
        assert_eq!(email_domain(" example.com ").unwrap(), "example.com");
        assert!(email_domain("a@b.com").is_err());
        assert!(email_domain("@").is_err());
    }
}
