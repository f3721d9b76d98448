//! The ledger: results files read back, strictly. What `run --resume`, `report` and `verify`
//! believe about a user comes from here, so nothing is trusted that is not whole.
//!
//! [`RowReader`] opens a results file, checks that its header is ours, and yields its rows
//! with the line each starts on, read through the results record
//! ([`crate::output::results_record`]). A row is refused (an error naming the file and the
//! line, never a silent end) when it is not UTF-8, when it has more or fewer fields than the
//! header, when its status is not one of ours, when a number is not one, or when a quoted cell
//! is never closed. The one thing forgiven
//! is a last line without its newline: a run killed mid-write leaves one, it is not a row, and
//! [`crate::output::whole_length`] says where the whole rows end so that a writer can cut the rest off.
//!
//! [`final_rows`] gives each user's final row (the last one wins, across appended runs and
//! several files) in two streaming passes; [`resume`] is what a resumed run skips.

mod final_rows;
pub mod plan;
mod result_row;
pub mod resume;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::output::cells::carried_cells;
use crate::output::{unneutralize, whole_length, ResultsLayout};
use crate::rules::header_cell_for_message;

pub use final_rows::{final_rows, is_done, FinalRow, FinalRows};
pub use result_row::{pin_form, ResultRow};

/// Why a results file cannot be trusted. Each names the file, and the line where it can.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The cause is the source: `{:#}` prints it after this message, once.
    #[error("cannot read {file}")]
    Unreadable { file: String, source: io::Error },
    #[error("{file} has no header line: it is not a results file")]
    NoHeader { file: String },
    #[error(
        "{file} is not a results file of chime-pin-reset: its header starts {found:?}, \
         not {expected:?}"
    )]
    ForeignHeader {
        file: String,
        found: String,
        expected: String,
    },
    #[error(
        "{file} carries the input columns [{found}] but this input has [{input}]: resume with \
         the input that made it, or write the results to a new file"
    )]
    OtherColumns {
        file: String,
        found: String,
        input: String,
    },
    #[error(
        "{file} holds {rows} rows of real resets: a dry run writes a file of its own (give \
         another -o), so that its would-reset rows never stand for users not yet reset"
    )]
    DryRunOnRealResults { file: String, rows: u64 },
    #[error("{file} is not a plan of this tool ({problem}): move it aside, then run again")]
    BadPlan { file: String, problem: String },
    #[error("{file}, line {line}: {problem}; fix or remove that row by hand, then run again")]
    BadRow {
        file: String,
        line: u64,
        problem: String,
    },
}

/// The file underneath the CSV reader, counting the quote characters that pass: at the end an
/// odd count means the last row opened a quoted cell it never closed (and swallowed whatever
/// came after it).
struct QuoteCounter<R> {
    inner: R,
    quotes: u64,
}

impl<R: Read> Read for QuoteCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.quotes += buf[..read].iter().filter(|&&byte| byte == b'"').count() as u64;
        Ok(read)
    }
}

/// Streams the whole rows of one results file, strictly.
pub struct RowReader {
    file_name: String,
    csv: csv::Reader<QuoteCounter<io::Take<BufReader<File>>>>,
    record: csv::ByteRecord,
    carried_headers: Vec<String>,
    /// Our columns in the file (results written before the offboarding columns lack them).
    layout: ResultsLayout,
    /// How many of a row's fields are ours, and how many it has (ours, then the carried
    /// ones): counted once, not per row.
    ours: usize,
    width: usize,
    /// The line of the last row read, for the message about a quote never closed.
    last_line: u64,
    /// Bytes after the last newline: a row cut off mid-write.
    cut_off_bytes: u64,
    done: bool,
}

/// A file of rows opened at its start. Its whole lines end at `whole`; what follows, up to
/// `length`, is a row a killed run never finished, and is never read as one.
pub struct RowsFile {
    pub file: File,
    pub whole: u64,
    pub length: u64,
}

impl RowsFile {
    pub fn open(path: &Path) -> Result<RowsFile, LedgerError> {
        let unreadable = |source| LedgerError::Unreadable {
            file: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(unreadable)?;
        let length = file.seek(SeekFrom::End(0)).map_err(unreadable)?;
        let whole = whole_length(&mut file).map_err(unreadable)?;
        file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        Ok(RowsFile {
            file,
            whole,
            length,
        })
    }

    /// The whole lines, to read.
    pub fn whole_lines(self) -> io::Take<File> {
        self.file.take(self.whole)
    }
}

impl RowReader {
    /// Opens a results file and checks its header.
    pub fn open(path: &Path) -> Result<RowReader, LedgerError> {
        let file_name = path.display().to_string();
        let unreadable = |source| LedgerError::Unreadable {
            file: file_name.clone(),
            source,
        };
        let RowsFile {
            file,
            whole,
            length,
        } = RowsFile::open(path)?;
        let counted = QuoteCounter {
            inner: BufReader::with_capacity(64 * 1024, file).take(whole),
            quotes: 0,
        };
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(counted);
        let mut header = csv::ByteRecord::new();
        let has_header = csv.read_byte_record(&mut header).map_err(|err| {
            unreadable(io::Error::new(io::ErrorKind::InvalidData, err.to_string()))
        })?;
        if !has_header {
            return Err(LedgerError::NoHeader { file: file_name });
        }
        let (layout, carried_headers) = check_header(&header, &file_name)?;
        let ours = layout.width();
        Ok(RowReader {
            file_name,
            csv,
            record: csv::ByteRecord::new(),
            width: ours + carried_headers.len(),
            ours,
            carried_headers,
            layout,
            last_line: 1,
            cut_off_bytes: length - whole,
            done: false,
        })
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The names of the carried columns, as the header has them.
    pub fn carried_headers(&self) -> &[String] {
        &self.carried_headers
    }

    /// The line a run killed mid-write left unfinished at the end of the file (it is not a
    /// row): known once every row has been read.
    pub fn cut_off_line(&self) -> Option<u64> {
        (self.done && self.cut_off_bytes > 0).then(|| self.csv.position().line())
    }

    fn bad_row(&self, line: u64, problem: impl Into<String>) -> LedgerError {
        LedgerError::BadRow {
            file: self.file_name.clone(),
            line,
            problem: problem.into(),
        }
    }

    fn next_row(&mut self) -> Result<Option<ResultRow>, LedgerError> {
        let read = self.csv.read_byte_record(&mut self.record);
        let line = self.csv.position().line();
        match read {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                if self.csv.get_ref().quotes % 2 == 1 {
                    return Err(self.bad_row(
                        self.last_line,
                        "a quoted cell on this row is never closed (a row cut off mid-write, \
                         or an edit gone wrong), so the rows after it cannot be told apart",
                    ));
                }
                return Ok(None);
            }
            Err(err) => return Err(self.bad_row(line, format!("not CSV ({err})"))),
        }
        let line = self
            .record
            .position()
            .map_or(line, |position| position.line());
        self.last_line = line;
        parse_row(&self.record, line, self.layout, (self.ours, self.width))
            .map(Some)
            .map_err(|problem| self.bad_row(line, problem))
    }
}

impl Iterator for RowReader {
    type Item = Result<ResultRow, LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_row();
        if next.is_err() {
            self.done = true;
        }
        next.transpose()
    }
}

/// Checks that the header is ours; returns our columns in it, and the carried column names.
fn check_header(
    header: &csv::ByteRecord,
    file: &str,
) -> Result<(ResultsLayout, Vec<String>), LedgerError> {
    let names: Vec<String> = header
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    let Some(layout) = ResultsLayout::of_header(&names) else {
        let first = ResultsLayout::first_columns();
        return Err(LedgerError::ForeignHeader {
            file: file.to_string(),
            found: names
                .iter()
                .take(first.len())
                .map(|name| header_cell_for_message(name))
                .collect::<Vec<_>>()
                .join(","),
            expected: first.join(","),
        });
    };
    let carried = names[layout.width()..]
        .iter()
        .map(|name| unneutralize(name).to_string())
        .collect();
    Ok((layout, carried))
}

/// A row's cells, read by the results record and checked; the problem in words otherwise.
/// `ours` of its `width` fields are the record's.
fn parse_row(
    record: &csv::ByteRecord,
    line: u64,
    layout: ResultsLayout,
    (ours, width): (usize, usize),
) -> Result<ResultRow, String> {
    if record.len() != width {
        return Err(format!(
            "the row has {} fields but the header has {width} (a row cut short, or an edit \
             gone wrong)",
            record.len()
        ));
    }
    let columns = layout.read(record)?;
    let carried = carried_cells(record, ours)?;
    Ok(ResultRow::read(line, columns, carried))
}

#[cfg(test)]
mod tests;
