//! `template`: a sample input to start from. The CSV goes to stdout and the comments on each
//! column to stderr, because `run` reads every line of its input as data: the output can be
//! redirected straight into a file and edited, while the comments stay on the terminal. The
//! placeholder IDs are not GUIDs, so `validate` and `run` refuse the file until they are
//! replaced.

use std::io::{self, Write};

use crate::cmd::examples;
use crate::exit;
use crate::input::{ACCOUNT_HEADERS, EMAIL_HEADERS, USER_HEADERS};

/// The stand-in for an ID: the shape of a GUID, but not hexadecimal.
pub const PLACEHOLDER_ID: &str = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

/// Flags of `chime-pin-reset template` (none).
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help("template", ""))]
pub struct TemplateArgs {}

/// Runs `template`.
pub fn run(_args: TemplateArgs) -> anyhow::Result<u8> {
    let mut comments = io::stderr().lock();
    // Comments are a courtesy: a closed stderr must not keep the CSV from stdout.
    let _ = comments.write_all(comments_text().as_bytes());
    let _ = comments.flush();
    let mut stdout = io::stdout().lock();
    stdout.write_all(csv_text().as_bytes())?;
    stdout.flush()?;
    Ok(exit::SUCCESS)
}

/// The sample input: one row per way of naming a user, and a carried `note` column.
pub fn csv_text() -> String {
    let (account, user, email) = (ACCOUNT_HEADERS[0], USER_HEADERS[0], EMAIL_HEADERS[0]);
    let id = PLACEHOLDER_ID;
    format!(
        "{account},{user},{email},note\n\
         {id},{id},,by user id: one call\n\
         {id},,jane.doe@example.com,by email: looked up with ListUsers first\n"
    )
}

/// What each column means, with the other header names accepted for it.
pub fn comments_text() -> String {
    let others = |names: &[&str]| names[1..].join(", ");
    format!(
        "# A sample input for chime-pin-reset (the CSV is on stdout; these comments are not).\n\
         # {account}  the Chime account, a GUID. Also accepted as header: {account_others}.\n\
         #             Leave the column out and pass --account-id ID when every row is in one account.\n\
         # {user}     the user, a GUID. Also accepted: {user_others}.\n\
         # {email}       used only when {user} is empty: the user is found by email with ListUsers\n\
         #             (one more call). Also accepted: {email_others}.\n\
         # note        any other column is copied unchanged into the results file.\n\
         # Replace every {PLACEHOLDER_ID}, give each user one row (a second reset\n\
         # voids the first PIN), then: chime-pin-reset validate input.csv\n",
        account = ACCOUNT_HEADERS[0],
        account_others = others(ACCOUNT_HEADERS),
        user = USER_HEADERS[0],
        user_others = others(USER_HEADERS),
        email = EMAIL_HEADERS[0],
        email_others = others(EMAIL_HEADERS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_commented() {
        let header = csv_text().lines().next().unwrap_or_default().to_string();
        let comments = comments_text();
        for column in header.split(',') {
            assert!(
                comments.contains(&format!("# {column} ")),
                "{column}: {comments}"
            );
        }
    }
}
