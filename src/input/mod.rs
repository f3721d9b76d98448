//! Input: the CSV an administrator hands over, turned row by row into validated work.
//!
//! The file is streamed, never loaded whole. What spreadsheets write is accepted (a UTF-8 BOM,
//! CRLF, `;` or tab delimiters, quoted fields, whitespace around values, blank lines). Every row
//! is checked before any call: a row that cannot be sent becomes a [`Rejected`] with a message
//! naming its line, and a repeated (account, user) pair is a duplicate, because a second reset
//! would void the first PIN.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use crate::dedup::Fingerprints;
use crate::dedup::{Dedup, UserKey};
use crate::outcome::{codes, Outcome, RowStatus};

mod decode;
mod fingerprint;
mod header;
mod judge;
mod text;
mod workbook;

pub use decode::TextEncoding;
pub use fingerprint::InputFingerprint;
pub use judge::{canonical_id, id_problem};
use text::{CsvRows, Next};
use workbook::SheetRows;
pub use workbook::{is_workbook, WORKBOOK_EXTENSIONS};

use header::{find_columns, Columns};
pub use header::{ACCOUNT_HEADERS, EMAIL_HEADERS, USER_HEADERS};

/// Where the rows come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
}

impl Source {
    /// How the source is named in messages.
    pub fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Stdin => "<stdin>".to_string(),
        }
    }
}

/// How to read and check the input.
#[derive(Clone, Debug)]
pub struct InputOptions {
    pub source: Source,
    /// Forced delimiter; detected from the header line when `None`.
    pub delimiter: Option<u8>,
    /// The account of every row, for files without an account column.
    pub default_account: Option<String>,
    /// IDs must be GUIDs; when false, any non-empty ID without `/` is accepted.
    pub strict_ids: bool,
    /// A CSV's encoding; detected when `None`.
    pub encoding: Option<TextEncoding>,
    /// The sheet of a workbook to read; the first visible one when `None`.
    pub sheet: Option<String>,
    /// Read the rows a workbook hides too (skipped by default).
    pub include_hidden: bool,
}

/// Why the input cannot be used at all. Nothing is sent when this happens.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The cause (the operating system's error, or what cannot be read) is the source:
    /// `{:#}` prints it after this message, once.
    #[error("cannot read {file}")]
    Unreadable { file: String, source: io::Error },
    #[error("{file} is empty: a header row is required")]
    Empty { file: String },
    #[error("{file} has no rows: there is nothing under its header")]
    NoRows { file: String },
    #[error(
        "{file}: the header has no {column} column (found: {found}; accepted: {accepted})",
        found = .found.join(", "),
        accepted = .accepted.join(", ")
    )]
    MissingColumn {
        file: String,
        /// The header's line (its row, in a sheet).
        line: u64,
        column: &'static str,
        found: Vec<String>,
        accepted: Vec<&'static str>,
    },
}

/// Whom a row names: a user id, or an email to resolve with ListUsers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    UserId(String),
    Email(String),
}

impl Target {
    /// The user as duplicate detection knows them.
    pub fn key(&self) -> UserKey<'_> {
        match self {
            Target::UserId(user_id) => UserKey::Id(user_id),
            Target::Email(email) => UserKey::Email(email),
        }
    }

    /// The user id, or the email a row named its user by.
    pub fn as_str(&self) -> &str {
        match self {
            Target::UserId(text) | Target::Email(text) => text,
        }
    }
}

/// A row ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowTask {
    pub line: u64,
    pub account_id: String,
    pub target: Target,
    /// The email a row gave beside its user id, which the run checks against Chime's before
    /// anything changes.
    pub email: Option<String>,
    /// The row's other columns, in input order.
    pub carried: Vec<String>,
}

/// Why a row is not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Invalid,
    Duplicate,
}

/// A row that is not sent, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub account_id: String,
    pub user_id: String,
    pub rejection: Rejection,
    pub message: String,
    pub carried: Vec<String>,
}

impl Rejected {
    /// The results row of a row that was never sent.
    pub fn into_outcome(self) -> Outcome {
        let (status, code) = match self.rejection {
            Rejection::Invalid => (RowStatus::Invalid, codes::INVALID_INPUT),
            Rejection::Duplicate => (RowStatus::Duplicate, codes::DUPLICATE_ROW),
        };
        Outcome::new(self.line, self.account_id, self.user_id, status)
            .with_error(code, self.message)
            .with_carried(self.carried)
    }
}

/// One row of input, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputItem {
    Task(RowTask),
    Rejected(Rejected),
    /// Already reset in the results file being resumed.
    Skipped,
    /// The input cannot be read any further (an I/O error): why, naming the file and line.
    Unreadable(String),
}

/// Streams judged rows out of an input.
pub struct InputReader {
    /// How the input is named in messages: the file, and for a workbook its sheet.
    file_name: String,
    rows: Rows,
    columns: Columns,
    carried_headers: Vec<String>,
    options: InputOptions,
    dedup: Arc<Dedup>,
    /// The record being judged.
    record: csv::StringRecord,
    header_width: usize,
    expected_rows: Option<u64>,
    notice: Option<String>,
    /// The first row, read when the input was opened to prove that there is one.
    first: Option<InputItem>,
    /// The fingerprint of the bytes read, once the file was read to its end (`None` for stdin).
    read: Arc<OnceLock<InputFingerprint>>,
    /// The fingerprint of what the plan read: bytes that differ end the input as unreadable.
    expected: Option<InputFingerprint>,
    /// The rows a workbook hides, skipped.
    hidden_rows: u64,
}

/// The header of an input: its cells, and the line (or sheet row) it is on.
struct Header {
    cells: Vec<String>,
    line: u64,
}

/// Where the records come from.
enum Rows {
    Csv(CsvRows),
    Sheet(SheetRows),
}

impl Rows {
    /// Why the cell in `column` of the record just read cannot be an ID, when it holds a
    /// number (a CSV's cells are all text).
    fn number_in(&self, column: usize, what: &str) -> Option<String> {
        match self {
            Rows::Csv(_) => None,
            Rows::Sheet(rows) => rows.number_in(column, what),
        }
    }
}

impl InputReader {
    /// Opens the input and reads its header. Rows whose user is in `already_reset` (from the
    /// results being resumed) are skipped.
    pub fn open(
        options: InputOptions,
        already_reset: Arc<Fingerprints>,
    ) -> Result<Self, InputError> {
        let file_name = options.source.name();
        let unreadable = |source| InputError::Unreadable {
            file: file_name.clone(),
            source,
        };
        let usage =
            |message: &str| unreadable(io::Error::new(io::ErrorKind::InvalidInput, message));
        let path = match &options.source {
            Source::File(path) => Some(path.clone()),
            Source::Stdin => None,
        };
        if let Some(path) = path.as_deref().filter(|path| is_workbook(path)) {
            if options.encoding.is_some() {
                return Err(usage(
                    "--encoding is for CSV input: a workbook is read as it is",
                ));
            }
            let sheet = workbook::open(
                path,
                options.sheet.as_deref(),
                options.include_hidden,
                &file_name,
            )?;
            // The library reads the workbook itself: its bytes are fingerprinted apart.
            let fingerprint = File::open(path)
                .and_then(InputFingerprint::of_file)
                .map_err(unreadable)?;
            let name = format!("{file_name}:{}", sheet.name);
            let rows = Rows::Sheet(sheet.rows);
            let expected = Some(sheet.data_rows);
            let header = Header {
                cells: sheet.headers,
                line: sheet.header_row,
            };
            let mut reader = Self::over(rows, header, name, options, expected, already_reset)?;
            reader.hidden_rows = sheet.hidden_rows;
            let _ = reader.read.set(fingerprint);
            return reader.with_a_first_row();
        }
        if options.sheet.is_some() {
            return Err(usage(&format!(
                "--sheet is for workbooks ({}); this input is read as CSV",
                WORKBOOK_EXTENSIONS.join(", ")
            )));
        }
        let read = Arc::new(OnceLock::new());
        let raw: Box<dyn Read + Send> = match &path {
            Some(path) => Box::new(fingerprint::Hashing::new(
                File::open(path).map_err(unreadable)?,
                read.clone(),
            )),
            None => Box::new(io::stdin()),
        };
        let decoded = decode::decode(raw, path.as_deref(), options.encoding).map_err(unreadable)?;
        let (rows, headers) = CsvRows::open(decoded.stream, options.delimiter, &file_name)?;
        // The estimate counts every line after the first; a `sep=` line is not a row.
        let expected = decoded
            .expected_rows
            .map(|estimate| estimate.saturating_sub(rows.lines_before()));
        let header = Header {
            cells: headers,
            line: 1 + rows.lines_before(),
        };
        let rows = Rows::Csv(rows);
        let mut reader = Self::over(rows, header, file_name, options, expected, already_reset)?;
        reader.notice = decoded.notice;
        reader.read = read;
        reader.with_a_first_row()
    }

    /// Reads the first row ahead, so that an input with a header and nothing under it is
    /// refused when it is opened, before anything is sent or created. From stdin this waits
    /// for the first row to arrive (or for the end of the input), and reads no further.
    fn with_a_first_row(mut self) -> Result<Self, InputError> {
        match self.read_item() {
            Some(item) => {
                self.first = Some(item);
                Ok(self)
            }
            None => Err(InputError::NoRows {
                file: self.file_name,
            }),
        }
    }

    fn over(
        rows: Rows,
        header: Header,
        file_name: String,
        options: InputOptions,
        expected_rows: Option<u64>,
        already_reset: Arc<Fingerprints>,
    ) -> Result<Self, InputError> {
        let headers = header.cells;
        let columns = find_columns(&headers, header.line, &options, &file_name)?;
        let carried_headers = columns
            .carried
            .iter()
            .map(|&i| headers[i].clone())
            .collect();
        let dedup = Arc::new(Dedup::new(expected_rows, already_reset));
        Ok(InputReader {
            file_name,
            rows,
            columns,
            carried_headers,
            options,
            dedup,
            expected_rows,
            record: csv::StringRecord::new(),
            header_width: headers.len(),
            notice: None,
            first: None,
            read: Arc::default(),
            expected: None,
            hidden_rows: 0,
        })
    }

    /// What the user should be told once about how the input was read (an encoding that was
    /// guessed), for the command to print.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// How the input is named in messages: `users.csv`, or `users.xlsx:Sheet1`.
    pub fn name(&self) -> &str {
        &self.file_name
    }

    /// The run's duplicate detection, which the executor asks about the users emails resolve
    /// to.
    pub fn dedup(&self) -> Arc<Dedup> {
        self.dedup.clone()
    }

    /// The number of rows counted ahead in a file (a fast estimate), for progress displays.
    pub fn expected_rows(&self) -> Option<u64> {
        self.expected_rows
    }

    /// The rows a workbook hides, which this reader skips (none with `include_hidden`): what
    /// the plan, `validate` and the summary count.
    pub fn hidden_rows(&self) -> u64 {
        self.hidden_rows
    }

    /// The names of the columns carried through to the results, in input order.
    pub fn carried_headers(&self) -> &[String] {
        &self.carried_headers
    }

    /// The fingerprint of the bytes this reader read, set once it has read its file to the
    /// end: what the plan keeps.
    pub fn fingerprint(&self) -> Arc<OnceLock<InputFingerprint>> {
        self.read.clone()
    }

    /// The bytes must be the ones the plan read: when they are not, the input ends with an
    /// [`InputItem::Unreadable`] that says so, which stops a run.
    pub fn expect_fingerprint(&mut self, planned: InputFingerprint) {
        self.expected = Some(planned);
    }

    /// At the end of the input: the bytes read, when they are not the ones the plan read.
    fn changed_since_the_plan(&mut self) -> Option<InputItem> {
        let planned = self.expected.take()?;
        let read = self.read.get()?;
        (!read.same_bytes(&planned)).then(|| {
            InputItem::Unreadable(format!(
                "{}; rows the plan never counted may have been sent",
                planned.describe_change(&self.file_name, read)
            ))
        })
    }

    /// How a row's place is named in messages: a line of a CSV, a row of a sheet.
    fn place_word(&self) -> &'static str {
        match self.rows {
            Rows::Csv(_) => "line",
            Rows::Sheet(_) => "row",
        }
    }

    /// A row that cannot be read at all, on `line`.
    fn unreadable_row(&self, line: u64, message: &str) -> InputItem {
        InputItem::Rejected(Rejected {
            line,
            account_id: String::new(),
            user_id: String::new(),
            rejection: Rejection::Invalid,
            message: format!("{} {} {line}: {message}", self.file_name, self.place_word()),
            // Empty cells, so that the results row is as wide as the others.
            carried: vec![String::new(); self.carried_headers.len()],
        })
    }
}

impl Iterator for InputReader {
    type Item = InputItem;

    fn next(&mut self) -> Option<InputItem> {
        self.first.take().or_else(|| self.read_item())
    }
}

impl InputReader {
    /// Reads and judges the next row.
    fn read_item(&mut self) -> Option<InputItem> {
        let next = match &mut self.rows {
            Rows::Csv(rows) => rows.next_record(&mut self.record),
            Rows::Sheet(rows) => rows
                .next_record(&mut self.record)
                .map_or(Next::End, Next::Record),
        };
        match next {
            Next::End => self.changed_since_the_plan(),
            Next::Record(line) => Some(self.judge(line)),
            Next::Invalid { line, message } => Some(self.unreadable_row(line, &message)),
            Next::Unreadable(message) => Some(InputItem::Unreadable(message)),
        }
    }
}

/// A reader over `contents`, written to a file in a temporary directory that lives as long as
/// the returned guard: for the unit tests of the modules that consume rows.
#[cfg(test)]
pub(crate) fn reader_over(contents: &str) -> Result<(tempfile::TempDir, InputReader), InputError> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("input.csv");
    std::fs::write(&path, contents).expect("write input");
    let reader = InputReader::open(
        InputOptions {
            source: Source::File(path),
            delimiter: None,
            default_account: None,
            strict_ids: true,
            encoding: None,
            sheet: None,
            include_hidden: false,
        },
        Arc::default(),
    )?;
    Ok((dir, reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "11111111-2222-3333-4444-555555555555";
    const USER: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn read(contents: &str) -> Result<Vec<InputItem>, InputError> {
        let (_dir, reader) = reader_over(contents)?;
        Ok(reader.collect())
    }

    #[test]
    fn spreadsheet_quirks_are_tolerated() {
        let contents =
            format!("\u{feff}Account ID;User Id;note\r\n\r\n {ACCOUNT} ; {USER} ;\"a;b\"\r\n");
        let items = read(&contents).expect("readable");
        assert_eq!(
            items,
            vec![InputItem::Task(RowTask {
                line: 3,
                account_id: ACCOUNT.to_string(),
                target: Target::UserId(USER.to_string()),
                email: None,
                carried: vec!["a;b".to_string()],
            })]
        );
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_newlines() {
        let contents = format!(
            "account_id,user_id,note\n\n{ACCOUNT},{USER},\"two\nlines\"\n\n\n{ACCOUNT},bad,x"
        );
        let lines: Vec<u64> = read(&contents)
            .expect("readable")
            .iter()
            .map(|item| match item {
                InputItem::Task(task) => task.line,
                InputItem::Rejected(rejected) => rejected.line,
                InputItem::Skipped | InputItem::Unreadable(_) => 0,
            })
            .collect();
        assert_eq!(lines, vec![3, 7]);
    }

    #[test]
    fn duplicates_ignore_case() {
        let contents = format!(
            "account_id,user_id\n{ACCOUNT},{USER}\n{},{}\n",
            ACCOUNT.to_uppercase(),
            USER.to_uppercase()
        );
        let items = read(&contents).expect("readable");
        assert!(matches!(items[0], InputItem::Task(_)));
        match &items[1] {
            InputItem::Rejected(rejected) => {
                assert_eq!(rejected.rejection, Rejection::Duplicate);
                assert!(
                    rejected.message.starts_with("line 3:"),
                    "{}",
                    rejected.message
                );
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    }

    #[test]
    fn a_quote_left_open_ends_the_input_as_unreadable_naming_its_line() {
        let contents = format!(
            "account_id,user_id,team\n{ACCOUNT},{USER},Sales\n\n{ACCOUNT},{USER},\"VIP Sales\n\
             {ACCOUNT},{USER},Sales\n"
        );
        let items = read(&contents).expect("readable");
        assert!(matches!(items[0], InputItem::Task(_)));
        match &items[1..] {
            [InputItem::Unreadable(message)] => {
                assert!(
                    message.contains("input.csv line 4: a quote opens"),
                    "{message}"
                );
            }
            other => panic!("expected the input to end unreadable, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_user_column_names_what_was_found() {
        let err = read("account_id,name\n").expect_err("no user column");
        let message = err.to_string();
        assert!(message.contains("found: account_id, name"), "{message}");
        assert!(message.contains("user_id"), "{message}");
    }
}
