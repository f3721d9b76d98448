//! The examples of common uses, per subcommand, as the AWS CLI shows them: one home for the
//! examples at the end of each `--help` and in the manual page's EXAMPLES section. Each
//! example is a command line a user can paste, with a comment saying what it does; a test
//! parses every one of them with the real argument definitions.

/// One common use of a subcommand. The command may end in a redirection (`> FILE`).
pub struct Example {
    /// What it does, in a few words.
    pub purpose: &'static str,
    /// The command line, as a user types it (placeholders in capitals, such as `$ACCOUNT`).
    pub command: &'static str,
}

const fn example(purpose: &'static str, command: &'static str) -> Example {
    Example { purpose, command }
}

const RUN: &[Example] = &[
    example(
        "Rehearse with the sample against the built-in simulator (no AWS account, no network)",
        "chime-pin-reset run --simulate samples/rotation.csv -o rotation-results.csv",
    ),
    example(
        "Preview: look every user up (GetUser), change no PIN",
        "chime-pin-reset run --dry-run users.csv -o preview.csv",
    ),
    example(
        "Rotate: the plan, a question, 10 rows alone, then the rest",
        "chime-pin-reset run users.csv -o results.csv --canary 10 --profile chime-admin",
    ),
    example(
        "After a stop: skip the users already reset, run the rest and append",
        "chime-pin-reset run users.csv -o results.csv --resume",
    ),
];

const SIMULATE: &[Example] = &[
    example(
        "Serve the sample users; `. ./rehearsal.env` then points this shell at the simulator",
        "chime-pin-reset simulate --directory samples/directory.csv --env-file rehearsal.env",
    ),
    example(
        "Generate 2 accounts of 50 users, and save them as a directory CSV",
        "chime-pin-reset simulate --accounts 2 --users-per-account 50 --write-directory users.csv",
    ),
    example(
        "Throttle as Chime does, answer in 20 ms, and log every request",
        "chime-pin-reset simulate --throttle-rps 20 --latency-ms 20 --log requests.jsonl",
    ),
];

const VALIDATE: &[Example] = &[
    example(
        "Check an input offline: each problem with its line, then a summary",
        "chime-pin-reset validate users.csv",
    ),
    example(
        "A file without an account column, such as a list of emails",
        "chime-pin-reset validate leavers.csv --account-id $ACCOUNT",
    ),
    example(
        "A sheet of a workbook",
        "chime-pin-reset validate leavers.xlsx --sheet Leavers",
    ),
];

const EXPORT: &[Example] = &[
    example(
        "The registered users of an account, as an input for run",
        "chime-pin-reset export --account-id $ACCOUNT -o users.csv --registration-status Registered",
    ),
    example(
        "Two accounts' users of one email domain",
        "chime-pin-reset export --account-id $ACCOUNT --account-id $OTHER -o users.csv --email-domain example.com",
    ),
];

const RESET: &[Example] = &[
    example(
        "Reset one user and print the answer, new PIN included",
        "chime-pin-reset reset --account-id $ACCOUNT --user-id $USER_ID",
    ),
    example(
        "Void a leaver's PIN without printing the new one",
        "chime-pin-reset reset --account-id $ACCOUNT --user-id $USER_ID --pins omit --profile chime-admin",
    ),
];

const REPORT: &[Example] = &[
    example(
        "Each user's final state, as a table",
        "chime-pin-reset report results.csv",
    ),
    example(
        "The evidence for a change ticket, from a run and a second file of its users",
        "chime-pin-reset report results.csv retried.csv --markdown > rotation.md",
    ),
    example(
        "A workbook to open in Excel (PINs keep their leading zeros)",
        "chime-pin-reset report results.csv --xlsx results.xlsx",
    ),
];

const VERIFY: &[Example] = &[
    example(
        "Is every PIN recorded still the live one?",
        "chime-pin-reset verify results.csv -o verified.csv",
    ),
    example(
        "Record the live PINs of users reset since in the results file",
        "chime-pin-reset verify results.csv -o verified.csv --force --update-results",
    ),
    example(
        "After a stop: check only the users not settled yet",
        "chime-pin-reset verify results.csv -o verified.csv --resume",
    ),
];

const TEMPLATE: &[Example] = &[
    example(
        "A sample input to fill in (replace every xxxxxxxx-... ID); the comments stay on screen",
        "chime-pin-reset template > input.csv",
    ),
    example(
        "Only the comments on its columns",
        "chime-pin-reset template > /dev/null",
    ),
];

const COMPLETIONS: &[Example] = &[
    example(
        "Bash",
        "chime-pin-reset completions bash > ~/.local/share/bash-completion/completions/chime-pin-reset",
    ),
    example(
        "Zsh",
        "chime-pin-reset completions zsh > \"${fpath[1]}/_chime-pin-reset\"",
    ),
    example(
        "Fish",
        "chime-pin-reset completions fish > ~/.config/fish/completions/chime-pin-reset.fish",
    ),
];

const MAN: &[Example] = &[
    example(
        "Install every page: chime-pin-reset(1) and one per subcommand, such as chime-pin-reset-run(1)",
        "chime-pin-reset man --dir ~/.local/share/man/man1",
    ),
    example(
        "The main page on stdout (read it with: man -l -)",
        "chime-pin-reset man",
    ),
];

/// The examples of a subcommand, by its name; none for a name that is not one.
pub fn of(subcommand: &str) -> &'static [Example] {
    match subcommand {
        "run" => RUN,
        "simulate" => SIMULATE,
        "validate" => VALIDATE,
        "export" => EXPORT,
        "reset" => RESET,
        "report" => REPORT,
        "verify" => VERIFY,
        "template" => TEMPLATE,
        "completions" => COMPLETIONS,
        "man" => MAN,
        _ => &[],
    }
}

/// The heading the examples start under, in `--help`.
pub const HEADING: &str = "Examples:";

/// The text after a subcommand's options in `--help`: its examples, then `notes` (exit codes
/// and the like).
pub fn after_help(subcommand: &str, notes: &str) -> String {
    let mut text = format!("{HEADING}\n");
    for example in of(subcommand) {
        text.push_str(&format!("  # {}\n  {}\n", example.purpose, example.command));
    }
    if !notes.is_empty() {
        text.push('\n');
        text.push_str(notes);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_has_examples_of_itself() {
        for subcommand in crate::cmd::Cli::command().get_subcommands() {
            let name = subcommand.get_name();
            let examples = of(name);
            assert!(!examples.is_empty(), "{name} has no examples");
            for example in examples {
                let start = format!("chime-pin-reset {name}");
                assert!(example.command.starts_with(&start), "{}", example.command);
            }
        }
    }
}
