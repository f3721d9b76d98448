//! Input: the CSV an administrator hands over, turned row by row into validated work.
//!
//! The file is streamed, never loaded whole. What spreadsheets write is accepted (a UTF-8 BOM,
//! CRLF, `;` or tab delimiters, quoted fields, whitespace around values, blank lines). Every row
//! is checked before any call: a row that cannot be sent becomes a [`Rejected`] with a message
//! naming its line, and a repeated (account, user) pair is a duplicate, because a second reset
//! would void the first PIN.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

pub use crate::dedup::Fingerprints;
use crate::dedup::{Admission, Dedup, UserKey};
use crate::outcome::{codes, Outcome, RowStatus};
pub use crate::rules::is_guid;

mod header;

pub use header::{
    detect_delimiter, normalize_header, ACCOUNT_HEADERS, EMAIL_HEADERS, USER_HEADERS,
};
use header::{find_columns, Columns};

/// Where the rows come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
}

impl Source {
    pub fn from_arg(arg: &Path) -> Self {
        if arg == Path::new("-") {
            Source::Stdin
        } else {
            Source::File(arg.to_path_buf())
        }
    }

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
}

/// Why the input cannot be used at all. Nothing is sent when this happens.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {file}: {source}")]
    Unreadable { file: String, source: io::Error },
    #[error("{file} is empty: a header row is required")]
    Empty { file: String },
    #[error(
        "{file}: the header has no {column} column (found: {found}; accepted: {accepted})",
        found = .found.join(", "),
        accepted = .accepted.join(", ")
    )]
    MissingColumn {
        file: String,
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

/// Streams judged rows out of a CSV.
pub struct InputReader {
    file_name: String,
    records: csv::Reader<Box<dyn Read + Send>>,
    columns: Columns,
    carried_headers: Vec<String>,
    options: InputOptions,
    dedup: Arc<Dedup>,
    record: csv::StringRecord,
    header_width: usize,
    progress: Arc<StreamProgress>,
    expected_rows: Option<u64>,
}

/// How far the csv reader has read its source, and the last byte it got, so that a last
/// record without a newline can be told apart from one with.
#[derive(Debug, Default)]
struct StreamProgress {
    bytes: AtomicU64,
    last_byte: AtomicU8,
}

/// The input stream, counting what passes through it into a [`StreamProgress`].
struct Tracked<R> {
    inner: R,
    progress: Arc<StreamProgress>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read > 0 {
            self.progress
                .bytes
                .fetch_add(read as u64, Ordering::Relaxed);
            self.progress
                .last_byte
                .store(buf[read - 1], Ordering::Relaxed);
        }
        Ok(read)
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
        let raw: Box<dyn Read + Send> = match &options.source {
            Source::File(path) => Box::new(File::open(path).map_err(unreadable)?),
            Source::Stdin => Box::new(io::stdin()),
        };
        let mut buffered = BufReader::with_capacity(64 * 1024, raw);
        let mut header_line = Vec::new();
        buffered
            .read_until(b'\n', &mut header_line)
            .map_err(unreadable)?;
        if header_line.starts_with(b"\xEF\xBB\xBF") {
            header_line.drain(..3);
        }
        if header_line.iter().all(u8::is_ascii_whitespace) {
            return Err(InputError::Empty { file: file_name });
        }
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&header_line));
        let progress = Arc::new(StreamProgress::default());
        let stream: Box<dyn Read + Send> = Box::new(Tracked {
            inner: Cursor::new(header_line).chain(buffered),
            progress: progress.clone(),
        });
        let mut records = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            // Line numbers are counted at `\n` only; the `\r` of a CRLF is trimmed with the
            // rest of the whitespace around each field.
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(stream);
        let headers = records.headers().map_err(|err| InputError::Unreadable {
            file: file_name.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, err),
        })?;
        let headers: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
        let columns = find_columns(&headers, &options, &file_name)?;
        let carried_headers = columns
            .carried
            .iter()
            .map(|&i| headers[i].clone())
            .collect();
        let expected_rows = estimate_rows(&options.source);
        let dedup = Arc::new(Dedup::new(expected_rows, already_reset));
        Ok(InputReader {
            file_name,
            records,
            columns,
            carried_headers,
            options,
            dedup,
            expected_rows,
            record: csv::StringRecord::new(),
            header_width: headers.len(),
            progress,
        })
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

    /// The names of the columns carried through to the results, in input order.
    pub fn carried_headers(&self) -> &[String] {
        &self.carried_headers
    }

    fn judge(&mut self, line: u64) -> InputItem {
        let field = |index: Option<usize>| {
            index
                .and_then(|i| self.record.get(i))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let account_id = match self.columns.account {
            Some(_) => field(self.columns.account),
            None => self.options.default_account.clone().unwrap_or_default(),
        };
        let user_id = field(self.columns.user);
        let email = field(self.columns.email);
        let carried = self
            .columns
            .carried
            .iter()
            .map(|&i| self.record.get(i).unwrap_or("").trim().to_string())
            .collect();
        let reject = |rejection, message: String| {
            InputItem::Rejected(Rejected {
                line,
                account_id: account_id.clone(),
                user_id: user_id.clone(),
                rejection,
                message: format!("line {line}: {message}"),
                carried: Vec::new(),
            })
        };
        if self.record.len() > self.header_width {
            let message = format!(
                "the row has {} fields but the header has {}",
                self.record.len(),
                self.header_width
            );
            return with_carried(reject(Rejection::Invalid, message), carried);
        }
        if let Some(problem) = self.check_id("account id", &account_id) {
            return with_carried(reject(Rejection::Invalid, problem), carried);
        }
        let target = if !user_id.is_empty() {
            if let Some(problem) = self.check_id("user id", &user_id) {
                return with_carried(reject(Rejection::Invalid, problem), carried);
            }
            Target::UserId(user_id.clone())
        } else if !email.is_empty() {
            if !looks_like_email(&email) {
                let problem = format!("email {email:?} is not an email address");
                return with_carried(reject(Rejection::Invalid, problem), carried);
            }
            Target::Email(email)
        } else {
            let problem = "the row has neither a user id nor an email".to_string();
            return with_carried(reject(Rejection::Invalid, problem), carried);
        };
        match self.dedup.admit(&account_id, target.key()) {
            Admission::First => {}
            Admission::AlreadyReset => return InputItem::Skipped,
            Admission::Duplicate => {
                let problem = "this account and user appear on an earlier line; \
                               a second reset would void the first PIN"
                    .to_string();
                return with_carried(reject(Rejection::Duplicate, problem), carried);
            }
        }
        InputItem::Task(RowTask {
            line,
            account_id,
            target,
            carried,
        })
    }

    /// A problem with an ID of this file, in words, or `None` when it is acceptable.
    fn check_id(&self, what: &str, id: &str) -> Option<String> {
        id_problem(what, id, self.options.strict_ids)
    }
}

/// A problem with an account or user ID, in words, or `None` when it is acceptable: a GUID, or
/// with `strict` off anything non-empty without `/` (IDs go into the request path).
pub fn id_problem(what: &str, id: &str, strict: bool) -> Option<String> {
    if id.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    if strict {
        (!is_guid(id)).then(|| {
            format!(
                "the {what} {id:?} is not a GUID (8-4-4-4-12 hex digits; \
                 --no-strict-ids accepts other IDs)"
            )
        })
    } else {
        id.contains('/')
            .then(|| format!("the {what} {id:?} contains '/'"))
    }
}

fn with_carried(item: InputItem, carried: Vec<String>) -> InputItem {
    match item {
        InputItem::Rejected(rejected) => InputItem::Rejected(Rejected {
            carried,
            ..rejected
        }),
        other => other,
    }
}

impl Iterator for InputReader {
    type Item = InputItem;

    fn next(&mut self) -> Option<InputItem> {
        loop {
            let mut record = std::mem::take(&mut self.record);
            let read = self.records.read_record(&mut record);
            self.record = record;
            let line = self.start_line();
            match read {
                Ok(false) => return None,
                Ok(true) if self.record.iter().all(|field| field.trim().is_empty()) => continue,
                Ok(true) => return Some(self.judge(line)),
                Err(err) => {
                    let line = err.position().map_or(line, |p| p.line());
                    let message = match err.kind() {
                        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
                        _ => err.to_string(),
                    };
                    if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                        // The rest of the input cannot be read: the run must not look complete.
                        self.records = csv::Reader::from_reader(Box::new(io::empty()));
                        let message = format!("{} line {line}: {message}", self.file_name);
                        return Some(InputItem::Unreadable(message));
                    }
                    return Some(InputItem::Rejected(Rejected {
                        line,
                        account_id: String::new(),
                        user_id: String::new(),
                        rejection: Rejection::Invalid,
                        message: format!("{} line {line}: {message}", self.file_name),
                        carried: Vec::new(),
                    }));
                }
            }
        }
    }
}

impl InputReader {
    /// The line the record just read starts on. Csv gives the position where its read began,
    /// before the blank lines it skipped, so the start is worked out back from where the
    /// record ended: one line before the reader's position when the record's newline was read
    /// (the input may end without one), less the newlines inside quoted fields.
    fn start_line(&self) -> u64 {
        let position = self.records.position();
        let after = position.line();
        let at_end_without_newline = position.byte() == self.progress.bytes.load(Ordering::Relaxed)
            && self.progress.last_byte.load(Ordering::Relaxed) != b'\n';
        let ended_with_newline = u64::from(!at_end_without_newline);
        let inside: u64 = self
            .record
            .iter()
            .map(|field| field.bytes().filter(|&b| b == b'\n').count() as u64)
            .sum();
        after.saturating_sub(ended_with_newline + inside).max(1)
    }
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !email.contains(' '),
        None => false,
    }
}

/// A fast estimate of the number of data rows in a file (its lines, less the header), for the
/// progress bar's total. `None` for stdin.
pub fn estimate_rows(source: &Source) -> Option<u64> {
    let Source::File(path) = source else {
        return None;
    };
    let mut file = File::open(path).ok()?;
    let mut buffer = vec![0u8; 256 * 1024];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buffer[read - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Some(lines.saturating_sub(1))
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
    fn a_missing_user_column_names_what_was_found() {
        let err = read("account_id,name\n").expect_err("no user column");
        let message = err.to_string();
        assert!(message.contains("found: account_id, name"), "{message}");
        assert!(message.contains("user_id"), "{message}");
    }
}
