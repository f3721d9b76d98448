//! Output: the results file, the only place a PIN is ever written.
//!
//! Rows are written as their answers arrive, a batch at a time, each batch in one `write` so
//! that a crash leaves only whole rows; the file is flushed at every batch, fsynced by the
//! writer's thread at least once a second ([`crate::writer_thread`]) and at the end. [`mod@open`]
//! is the one way every file the tool writes is opened: this one is created with mode 0600
//! whatever the umask, never overwritten without `--force`, appended to with `--resume`, locked
//! for the whole run, and cut back to its last whole row. Cells that came from the service or
//! the input are neutralised against spreadsheet formula injection unless `--raw-cells` is
//! given.

pub mod cells;
pub mod open;
pub mod results_record;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::outcome::Outcome;

pub use cells::unneutralize;
use cells::Carried;
pub use open::{whole_length, Files, RowsOutput, WholeOutput};
pub use results_record::{ResultsLayout, ResultsLine};

/// How PINs appear in the results (`--pins`, in [`crate::cmd::args::PinsArg`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPolicy {
    /// The new PIN in clear.
    Full,
    /// Only the last two digits, the rest as `*`.
    Masked,
    /// An empty cell.
    Omit,
}

impl PinPolicy {
    pub fn apply(self, pin: &str) -> String {
        match self {
            PinPolicy::Full => pin.to_string(),
            // By characters: a cell read back from a file may hold anything, and slicing it
            // by bytes would panic inside a character.
            PinPolicy::Masked => {
                let hidden = pin.chars().count().saturating_sub(2);
                let shown: String = pin.chars().skip(hidden).collect();
                "*".repeat(hidden) + &shown
            }
            PinPolicy::Omit => String::new(),
        }
    }
}

/// Where the results go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Stdout,
}

impl Destination {
    pub fn name(&self) -> String {
        match self {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "<stdout>".to_string(),
        }
    }
}

/// What to do when the results file exists already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Overwrite,
    Append,
}

/// Why an output cannot be written. Each says its cause once: an `io::Error` is the source,
/// never also part of the message, so that `{:#}` prints it once.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{file} exists already: {hint}")]
    Exists { file: String, hint: &'static str },
    #[error(
        "{file} is {other_role} ({other}): {role} needs a file of its own (--force does not \
         change this)"
    )]
    SameFile {
        file: String,
        role: &'static str,
        other: String,
        other_role: &'static str,
    },
    #[error("{0} is a symbolic link: give the path of the file itself (nothing is written through a link)")]
    Symlink(String),
    #[error("{0} is a directory: give the name of a file in it")]
    Directory(String),
    #[error("cannot create {file}: the folder {folder} does not exist (create it first, e.g. mkdir -p {folder})")]
    NoFolder { file: String, folder: String },
    #[error("{0} and another output both go to stdout: give one of them a file")]
    StdoutTwice(&'static str),
    #[error("cannot write {file}")]
    Unwritable {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "another run holds {0}: wait for it to end (or stop it) before starting another on \
         the same file"
    )]
    Locked(String),
    #[error("{0} appeared after this command started (another run?): run again with --resume")]
    Appeared(String),
}

/// The results writer. Generic over the sink so tests can inject a failing one.
pub struct ResultsWriter {
    rows: RowSink,
    pins: PinPolicy,
    raw_cells: bool,
    /// The columns of the file: results written before the offboarding columns are appended
    /// to in their own layout.
    layout: ResultsLayout,
}

/// Somewhere rows can be written and made durable.
pub trait Sink: Write + Send {
    /// Makes what was written durable (fsync for files).
    fn sync(&mut self) -> io::Result<()>;

    /// Cuts off what a failed write left after the first `length` bytes, so that no partial
    /// row (a PIN cut short, say) stays in the file to be read back as a whole one.
    fn truncate_to(&mut self, length: u64) -> io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        match self.sync_all() {
            // A pipe or a terminal (`-o /dev/stdout`, a FIFO) has nothing to make durable.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            synced => synced,
        }
    }

    fn truncate_to(&mut self, length: u64) -> io::Result<()> {
        self.set_len(length)?;
        self.seek(SeekFrom::Start(length)).map(drop)
    }
}

impl Sink for io::Stdout {
    fn sync(&mut self) -> io::Result<()> {
        self.flush()
    }

    fn truncate_to(&mut self, _length: u64) -> io::Result<()> {
        // What went down a pipe cannot be taken back; the reader sees the stream end there.
        Ok(())
    }
}

/// A sink that takes rows a batch per `write`, so that a failed write can be cut back to the
/// last whole row: the results and the verified file are both written through one.
pub struct RowSink {
    sink: Box<dyn Sink>,
    batch: Vec<u8>,
    /// Bytes in the sink that are whole rows: where a failed write is cut back to.
    committed: u64,
}

impl RowSink {
    /// Opens a file of rows (results, verified), and says whether it needs its header: it is
    /// new, emptied, or stdout.
    pub fn open(output: RowsOutput) -> Result<(Self, bool), OutputError> {
        let (sink, committed): (Box<dyn Sink>, u64) = match output.open()? {
            None => (Box::new(io::stdout()), 0),
            Some(opened) => (Box::new(opened.file), opened.length),
        };
        Ok((RowSink::new(sink, committed), committed == 0))
    }

    /// Rows to go after the first `committed` bytes of `sink`, which are whole rows.
    pub fn new(sink: Box<dyn Sink>, committed: u64) -> Self {
        RowSink {
            sink,
            batch: Vec::with_capacity(64 * 1024),
            committed,
        }
    }

    /// Writes `records` (each a row of a file's record type) as CSV in one `write` and
    /// flushes it; a failed write is cut back to the last whole row.
    pub fn write_records<Record: Serialize>(
        &mut self,
        records: impl IntoIterator<Item = Record>,
    ) -> io::Result<()> {
        self.batch.clear();
        {
            let mut csv = batch_writer(&mut self.batch);
            for record in records {
                csv.serialize(record)?;
            }
            csv.flush()?;
        }
        self.write_batch()
    }

    /// Writes the batch to the sink.
    fn write_batch(&mut self) -> io::Result<()> {
        let written = self
            .sink
            .write_all(&self.batch)
            .and_then(|()| self.sink.flush());
        match &written {
            Ok(()) => self.committed += self.batch.len() as u64,
            // Best effort: the write has failed already, and that error is the one to report.
            Err(_) => drop(self.sink.truncate_to(self.committed)),
        }
        self.batch.clear();
        written
    }

    /// Flushes and fsyncs.
    pub fn sync(&mut self) -> io::Result<()> {
        self.sink.flush()?;
        self.sink.sync()
    }
}

impl ResultsWriter {
    /// Opens the destination and writes the header (unless appending to a file that has one),
    /// so that an unwritable destination is found before any request is sent.
    pub fn create(
        output: RowsOutput,
        carried_headers: &[String],
        pins: PinPolicy,
        raw_cells: bool,
    ) -> Result<Self, OutputError> {
        let name = output.destination().name();
        let destination = output.destination().clone();
        if destination == Destination::Stdout {
            warn_if_stdout_is_a_shared_file();
        }
        let (rows, needs_header) = RowSink::open(output)?;
        let offboarding = match (needs_header, &destination) {
            (false, Destination::File(path)) => {
                !lacks_offboarding_columns(path).map_err(|source| OutputError::Unwritable {
                    file: name.clone(),
                    source,
                })?
            }
            _ => true,
        };
        let mut writer = ResultsWriter {
            rows,
            pins,
            raw_cells,
            layout: ResultsLayout { offboarding },
        };
        if needs_header {
            writer
                .write_header(carried_headers)
                .map_err(|source| OutputError::Unwritable { file: name, source })?;
        }
        Ok(writer)
    }

    /// A writer into any sink, for tests that make the disk fail.
    #[cfg(test)]
    pub fn from_sink(sink: Box<dyn Sink>, pins: PinPolicy, raw_cells: bool) -> Self {
        ResultsWriter {
            rows: RowSink::new(sink, 0),
            pins,
            raw_cells,
            layout: ResultsLayout::CURRENT,
        }
    }

    fn write_header(&mut self, carried_headers: &[String]) -> io::Result<()> {
        let carried: Vec<String> = carried_headers
            .iter()
            .map(|name| carried_column_name(name))
            .collect();
        let carried = Carried {
            cells: &carried,
            raw_cells: self.raw_cells,
        };
        self.rows
            .write_records([cells::header(self.layout.columns(), carried)])
    }

    /// Writes a batch of outcomes in one `write` and flushes it.
    pub fn write_batch<'a>(
        &mut self,
        outcomes: impl IntoIterator<Item = &'a Outcome>,
    ) -> io::Result<()> {
        let (pins, raw_cells, layout) = (self.pins, self.raw_cells, self.layout);
        self.rows.write_records(
            outcomes
                .into_iter()
                .map(|outcome| ResultsLine::of(outcome, pins, raw_cells, layout)),
        )
    }

    /// Flushes and fsyncs: called by the writer's thread at least once a second, at the end of
    /// the run and on any stop.
    pub fn sync(&mut self) -> io::Result<()> {
        self.rows.sync()
    }
}

/// The name of a carried column in the results: a column named like one of ours would be
/// ambiguous to a mail merge, so it gets an `input_` prefix.
pub fn carried_column_name(name: &str) -> String {
    if ResultsLayout::is_ours(name) {
        format!("input_{name}")
    } else {
        name.to_string()
    }
}

/// A CSV writer into the batch buffer. Its own buffer is kept small: it is made afresh for
/// every batch, often of one row, and the batch is in memory anyway. The header is written
/// apart, once per file, never from a record.
fn batch_writer(batch: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(512)
        .from_writer(batch)
}

/// `-o - > results.csv` makes a file with the shell's mode (usually 0644), not our 0600: say
/// so, once, before any PIN is written into it.
fn warn_if_stdout_is_a_shared_file() {
    use std::os::fd::AsFd;
    let Ok(stdout) = io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let Ok(metadata) = File::from(stdout).metadata() else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if metadata.is_file() && mode & 0o077 != 0 {
        crate::say!(
            "chime-pin-reset: warning: stdout is a file with mode {mode:04o}: other users of \
             this machine may read the PINs written to it; give -o FILE instead, which \
             creates the results file with mode 0600"
        );
    }
}

/// Whether the results file at `path` was written before the offboarding columns
/// (false for an empty file: its header is still to be written). Read through a handle of its
/// own, so that a writer's position is untouched.
pub fn lacks_offboarding_columns(path: &Path) -> io::Result<bool> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(File::open(path)?);
    let mut header = csv::StringRecord::new();
    let has_header = csv
        .read_record(&mut header)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    let layout = ResultsLayout::of_header(&header.iter().collect::<Vec<_>>());
    Ok(has_header && !layout.is_some_and(|layout| layout.offboarding))
}

/// A sink that accepts `capacity` bytes, part of a write included, then fails like a full
/// disk: for the tests of the results writer and of its owner.
#[cfg(test)]
pub(crate) struct FullDisk {
    pub capacity: usize,
    /// What the disk holds, for the test to read.
    pub written: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

#[cfg(test)]
impl FullDisk {
    pub fn new(capacity: usize) -> Self {
        FullDisk {
            capacity,
            written: Default::default(),
        }
    }
}

#[cfg(test)]
impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let accepted = buf.len().min(self.capacity);
        if accepted == 0 && !buf.is_empty() {
            return Err(io::Error::from_raw_os_error(28));
        }
        self.capacity -= accepted;
        self.written
            .lock()
            .unwrap()
            .extend_from_slice(&buf[..accepted]);
        Ok(accepted)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl Sink for FullDisk {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn truncate_to(&mut self, length: u64) -> io::Result<()> {
        let mut written = self.written.lock().unwrap();
        self.capacity += written.len() - length as usize;
        written.truncate(length as usize);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Pin, RowStatus, UserRecord};

    fn outcome(name: &str) -> Outcome {
        Outcome::new(2, "a".into(), "u".into(), RowStatus::Reset)
            .with_user(UserRecord {
                user_id: "u".into(),
                display_name: Some(name.into()),
                personal_pin: Some(Pin::new("1234567890")),
                ..UserRecord::default()
            })
            .with_carried(vec!["@SUM(A1)".into()])
    }

    #[test]
    fn pins_are_masked_to_the_last_two_digits() {
        assert_eq!(PinPolicy::Masked.apply("1234567890"), "********90");
        assert_eq!(PinPolicy::Omit.apply("1234567890"), "");
        assert_eq!(PinPolicy::Masked.apply("12345678é9"), "********é9");
        assert_eq!(PinPolicy::Masked.apply("é"), "é");
    }

    #[test]
    fn a_failed_write_leaves_no_part_of_a_row_behind() {
        let disk = FullDisk::new(40);
        let on_disk = disk.written.clone();
        let mut writer = ResultsWriter::from_sink(Box::new(disk), PinPolicy::Full, false);
        writer.write_batch(&[]).expect("nothing fits in nothing");
        let err = writer
            .write_batch(&[outcome("x")])
            .expect_err("a row is longer than 40 bytes");
        assert_eq!(err.raw_os_error(), Some(28));
        assert!(
            on_disk.lock().unwrap().is_empty(),
            "the part written was cut off"
        );
    }
}
