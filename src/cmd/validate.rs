//! `validate`: reads an input as `run` would and reports every problem with its line, without
//! credentials or network. It goes through the same [`InputReader`], so what it accepts is what
//! `run` sends, and it allocates nothing per row beyond what the reader does.

use std::io::{self, BufWriter, Write};

use crate::cmd::args::InputArgs;
use crate::cmd::examples;
use crate::exit;
use crate::input::{InputError, InputItem, InputReader, Rejection};
use crate::words::{counted, hidden_rows_skipped, thousands};

/// Flags of `chime-pin-reset validate`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help(
    "validate",
    "\
Problems go to stderr as FILE:LINE: MESSAGE, then a summary line.

Exit codes:
  0  every row can be sent
  1  problems were found: invalid rows, duplicates, a header without the needed columns,
     or no rows under the header
  2  the file cannot be read, or a usage error",
))]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

/// What `validate` counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    pub duplicates: u64,
}

/// Runs `validate`; an `Err` means the file could not be read (exit 2).
pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let options = args.input.options();
    let file = options.source.name();
    // Stderr is unbuffered by default: one write per problem would dominate a file full of them.
    let mut problems = BufWriter::with_capacity(64 * 1024, io::stderr().lock());
    let reader = match InputReader::open(options, Default::default()) {
        Ok(reader) => reader,
        Err(err @ InputError::Unreadable { .. }) => return Err(err.into()),
        Err(err @ InputError::NoRows { .. }) => {
            // `run` refuses such a file (exit 2): here it is a problem found, like a bad header.
            let _ = writeln!(problems, "{err}");
            let _ = problems.flush();
            return Ok(exit::ROWS_FAILED);
        }
        Err(err) => {
            // The header is a problem found in the file, like a bad row: named by its line (2
            // after Excel's `sep=` line). A sheet's message names its sheet (`FILE:SHEET: …`).
            let line = match err {
                InputError::MissingColumn { line, .. } => line,
                _ => 1,
            };
            let text = err.to_string();
            let _ = match text.strip_prefix(&format!("{file}: ")) {
                Some(message) => writeln!(problems, "{file}:{line}: {message}"),
                None => writeln!(problems, "{text}"),
            };
            let _ = writeln!(
                problems,
                "{file}: no rows checked: the header cannot be used"
            );
            let _ = problems.flush();
            return Ok(exit::ROWS_FAILED);
        }
    };
    if let Some(notice) = reader.notice() {
        let _ = writeln!(problems, "chime-pin-reset: notice: {notice}");
    }
    let file = reader.name().to_string();
    let hidden = match reader.hidden_rows() {
        0 => String::new(),
        n => format!(", {}", hidden_rows_skipped(n)),
    };
    let counts = check(reader, &file, &mut problems);
    let _ = writeln!(
        problems,
        "{file}: {}, {} valid, {} invalid, {}{hidden}",
        counted(counts.rows, "row", "rows"),
        thousands(counts.valid),
        thousands(counts.invalid),
        counted(counts.duplicates, "duplicate", "duplicates")
    );
    let _ = problems.flush();
    Ok(if counts.invalid + counts.duplicates == 0 {
        exit::SUCCESS
    } else {
        exit::ROWS_FAILED
    })
}

/// Counts the rows and writes one line per problem to `out`.
pub fn check(reader: InputReader, file: &str, out: &mut impl Write) -> Counts {
    let mut counts = Counts::default();
    for item in reader {
        counts.rows += 1;
        match item {
            InputItem::Task(_) | InputItem::Skipped => counts.valid += 1,
            InputItem::Unreadable(message) => {
                counts.invalid += 1;
                let _ = match placed(&message, file) {
                    Some((line, bare)) => writeln!(out, "{file}:{line}: {bare}"),
                    None => writeln!(out, "{message}"),
                };
            }
            InputItem::Rejected(rejected) => {
                match rejected.rejection {
                    Rejection::Invalid => counts.invalid += 1,
                    Rejection::Duplicate => counts.duplicates += 1,
                }
                let message = bare_message(&rejected.message, file, rejected.line);
                // A closed stderr cannot be reported anywhere; the exit code still tells.
                let _ = writeln!(out, "{file}:{}: {message}", rejected.line);
            }
        }
    }
    counts
}

/// The reader's message without the place it names (`line 7: `, `row 7: ` or
/// `FILE line 7: `), which `FILE:7: ` replaces.
fn bare_message<'a>(message: &'a str, file: &str, line: u64) -> &'a str {
    match placed(message, file) {
        Some((named, bare)) if named == line => bare,
        _ => message,
    }
}

/// The line a reader's message names, and the message without it.
fn placed<'a>(message: &'a str, file: &str) -> Option<(u64, &'a str)> {
    let rest = message.strip_prefix(file).map_or(message, str::trim_start);
    let rest = rest
        .strip_prefix("line ")
        .or_else(|| rest.strip_prefix("row "))?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let bare = rest[digits..].strip_prefix(": ")?;
    Some((rest[..digits].parse().ok()?, bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "11111111-2222-3333-4444-555555555555";
    const USER: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn validate(contents: &str) -> (Counts, String) {
        let (_dir, reader) = crate::input::reader_over(contents).expect("a usable header");
        let mut out = Vec::new();
        let counts = check(reader, "in.csv", &mut out);
        (counts, String::from_utf8(out).expect("UTF-8 messages"))
    }

    #[test]
    fn places_are_rewritten_once() {
        assert_eq!(bare_message("line 7: bad", "f.csv", 7), "bad");
        assert_eq!(bare_message("f.csv line 7: bad", "f.csv", 7), "bad");
        assert_eq!(bare_message("line 7: bad", "f.csv", 8), "line 7: bad");
        assert_eq!(bare_message("something else", "f.csv", 1), "something else");
    }

    #[test]
    fn every_problem_is_counted_and_named() {
        let contents = format!(
            "account_id,user_id,email\n{ACCOUNT},{USER},\n{ACCOUNT},{},\nbad,{USER},\n\
             {ACCOUNT},,\n\n{ACCOUNT},,x@example.com\n",
            USER.to_uppercase()
        );
        let (counts, text) = validate(&contents);
        assert_eq!(
            counts,
            Counts {
                rows: 5,
                valid: 2,
                invalid: 2,
                duplicates: 1
            }
        );
        assert!(
            text.contains("in.csv:3: this account and user appear"),
            "{text}"
        );
        assert!(text.contains("in.csv:4: the account id \"bad\""), "{text}");
        assert!(text.contains("in.csv:5: the row has neither"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
