//! CSV text: a stream of UTF-8 bytes (decoded already, see [`super::decode`]) parsed into
//! records whose line numbers stay true, and the one mistake the csv parser cannot see by
//! itself: a quote opened and never closed, which swallows every line after it into one cell.
//!
//! The parser is told nothing about quotes left open: at the end of the input it ends the cell
//! and the record as if the quote had been closed. So the bytes of the record being read are
//! kept aside as they pass, and the last record of the input is parsed once more with a line
//! after it: if that line is swallowed too, the quote was still open.

use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::header::{detect_delimiter, excel_separator};
use super::InputError;

/// What [`CsvRows::next_record`] found.
pub(super) enum Next {
    /// A record, starting on this line.
    Record(u64),
    /// A record that cannot be read as text (not UTF-8), on this line.
    Invalid {
        line: u64,
        message: String,
    },
    /// The input cannot be read any further: why, naming the file and line.
    Unreadable(String),
    End,
}

/// The records of a CSV, with their line numbers.
pub(super) struct CsvRows {
    records: csv::Reader<Box<dyn Read + Send>>,
    progress: Arc<StreamProgress>,
    delimiter: u8,
    file_name: String,
    /// Lines of the file before the header that the csv reader never sees (Excel's `sep=`
    /// line), so that line numbers stay the file's.
    lines_before: u64,
}

impl CsvRows {
    /// Reads the header line of `stream` (a UTF-8 BOM is dropped) and returns the rows after
    /// it with the header's cells, trimmed. The delimiter is `delimiter`, or the one an Excel
    /// `sep=` line before the header names, or detected from the header line.
    pub fn open(
        stream: Box<dyn Read + Send>,
        delimiter: Option<u8>,
        file_name: &str,
    ) -> Result<(CsvRows, Vec<String>), InputError> {
        let unreadable = |source| InputError::Unreadable {
            file: file_name.to_string(),
            source,
        };
        let mut buffered = BufReader::with_capacity(64 * 1024, stream);
        let mut header_line = Vec::new();
        buffered
            .read_until(b'\n', &mut header_line)
            .map_err(unreadable)?;
        if header_line.starts_with(b"\xEF\xBB\xBF") {
            header_line.drain(..3);
        }
        let separator = excel_separator(&header_line);
        let lines_before = u64::from(separator.is_some());
        if separator.is_some() {
            header_line.clear();
            buffered
                .read_until(b'\n', &mut header_line)
                .map_err(unreadable)?;
        }
        if header_line.iter().all(u8::is_ascii_whitespace) {
            return Err(InputError::Empty {
                file: file_name.to_string(),
            });
        }
        let delimiter = delimiter
            .or(separator)
            .unwrap_or_else(|| detect_delimiter(&header_line));
        let progress = Arc::new(StreamProgress::default());
        let stream: Box<dyn Read + Send> = Box::new(Tracked {
            inner: Cursor::new(header_line).chain(buffered),
            progress: progress.clone(),
        });
        let mut records = parser(delimiter).has_headers(true).from_reader(stream);
        let headers = records
            .headers()
            .map_err(|err| unreadable(io::Error::new(io::ErrorKind::InvalidData, err)))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        progress.record_done(records.position().byte());
        let rows = CsvRows {
            records,
            progress,
            delimiter,
            file_name: file_name.to_string(),
            lines_before,
        };
        Ok((rows, headers))
    }

    /// Lines before the header that are not rows (Excel's `sep=` line).
    pub fn lines_before(&self) -> u64 {
        self.lines_before
    }

    /// Reads the next record that is not blank into `record`.
    pub fn next_record(&mut self, record: &mut csv::StringRecord) -> Next {
        loop {
            let read = self.records.read_record(record);
            let line = self.start_line(record);
            match read {
                Ok(false) => return Next::End,
                Ok(true) => {
                    if let Some(opened) = self.quote_left_open(record) {
                        self.stop();
                        return Next::Unreadable(format!(
                            "{} line {opened}: a quote opens on this line and is never \
                             closed, so every line after it would be read as part of one \
                             cell: close the quote, or double it (\"\") to keep it as text",
                            self.file_name
                        ));
                    }
                    self.progress.record_done(self.records.position().byte());
                    if record.iter().all(|field| field.trim().is_empty()) {
                        continue;
                    }
                    return Next::Record(line);
                }
                Err(err) => {
                    let line = err
                        .position()
                        .map_or(line, |p| p.line() + self.lines_before);
                    self.progress.record_done(self.records.position().byte());
                    return match err.kind() {
                        csv::ErrorKind::Utf8 { .. } => Next::Invalid {
                            line,
                            message: "the row is not valid UTF-8".to_string(),
                        },
                        csv::ErrorKind::Io(_) => {
                            // The rest of the input cannot be read: the run must not look
                            // complete.
                            self.stop();
                            Next::Unreadable(format!(
                                "{} line {line}: {err}: the rest of the input cannot be read",
                                self.file_name
                            ))
                        }
                        _ => Next::Invalid {
                            line,
                            message: err.to_string(),
                        },
                    };
                }
            }
        }
    }

    /// Nothing more is read after an input that cannot be trusted to its end.
    fn stop(&mut self) {
        self.records = csv::Reader::from_reader(Box::new(io::empty()));
    }

    /// The line the record just read starts on. Csv gives the position where its read began,
    /// before the blank lines it skipped, so the start is worked out back from where the
    /// record ended: one line before the reader's position when the record's newline was read
    /// (the input may end without one), less the newlines inside quoted fields.
    fn start_line(&self, record: &csv::StringRecord) -> u64 {
        let position = self.records.position();
        let after = position.line();
        let at_end_without_newline =
            position.byte() == self.progress.bytes() && self.progress.last_byte() != b'\n';
        let ended_with_newline = u64::from(!at_end_without_newline);
        let inside = newlines(record.iter());
        after.saturating_sub(ended_with_newline + inside).max(1) + self.lines_before
    }

    /// The line where a quote opened and was never closed, when `record` is the input's last
    /// and ends inside quotes. The open cell is the record's last, running to the end of the
    /// input: it began as many lines before the end as it holds newlines.
    fn quote_left_open(&self, record: &csv::StringRecord) -> Option<u64> {
        let position = self.records.position();
        if !self.progress.at_end() || position.byte() != self.progress.bytes() {
            return None;
        }
        if !swallows_next_line(&self.progress.unparsed(), self.delimiter) {
            return None;
        }
        let open_cell = record.iter().next_back().unwrap_or("");
        Some(
            position
                .line()
                .saturating_sub(newlines([open_cell].into_iter()))
                + self.lines_before,
        )
    }
}

/// The csv parser as every CSV input is read: rows may have fewer fields than the header,
/// and lines end at `\n` only (the `\r` of a CRLF is trimmed with the rest of the whitespace
/// around each field), so that line numbers count what an editor shows.
fn parser(delimiter: u8) -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'));
    builder
}

/// Whether the end of a CSV, `raw`, leaves a quote open: parsed with one more line after it,
/// an open quote swallows that line, so one record comes out instead of two.
fn swallows_next_line(raw: &[u8], delimiter: u8) -> bool {
    let probe = Cursor::new(raw).chain(&b"\nend\n"[..]);
    let records = parser(delimiter)
        .has_headers(false)
        .from_reader(probe)
        .into_byte_records()
        .take(2)
        .count();
    records < 2
}

fn newlines<'a>(fields: impl Iterator<Item = &'a str>) -> u64 {
    fields
        .map(|field| field.bytes().filter(|&b| b == b'\n').count() as u64)
        .sum()
}

/// How far the csv reader has read its source, the last byte it got (so that a last record
/// without a newline can be told apart from one with), whether the source has ended, and the
/// bytes read since the end of the last record the reader took.
#[derive(Debug, Default)]
struct StreamProgress {
    bytes: AtomicU64,
    last_byte: AtomicU8,
    at_end: AtomicBool,
    /// Where in the stream the last whole record ended.
    record_end: AtomicU64,
    unparsed: Mutex<Unparsed>,
}

/// The bytes read past the last whole record, and where in the stream they begin.
#[derive(Debug, Default)]
struct Unparsed {
    from: u64,
    bytes: Vec<u8>,
}

impl StreamProgress {
    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn last_byte(&self) -> u8 {
        self.last_byte.load(Ordering::Relaxed)
    }

    fn at_end(&self) -> bool {
        self.at_end.load(Ordering::Relaxed)
    }

    /// The reader took a whole record ending at `byte`: the bytes before it are not needed.
    fn record_done(&self, byte: u64) {
        self.record_end.store(byte, Ordering::Relaxed);
    }

    fn unparsed(&self) -> Vec<u8> {
        let unparsed = self.lock();
        let skip = self
            .record_end
            .load(Ordering::Relaxed)
            .saturating_sub(unparsed.from);
        unparsed.bytes[(skip as usize).min(unparsed.bytes.len())..].to_vec()
    }

    /// Keeps `read`, dropping what lies before the last whole record.
    fn keep(&self, read: &[u8]) {
        let mut unparsed = self.lock();
        let done = self.record_end.load(Ordering::Relaxed);
        let stale = (done.saturating_sub(unparsed.from) as usize).min(unparsed.bytes.len());
        unparsed.bytes.drain(..stale);
        unparsed.from += stale as u64;
        unparsed.bytes.extend_from_slice(read);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Unparsed> {
        // Only the reader's own thread takes it, and nothing in it can panic.
        self.unparsed
            .lock()
            .expect("the unparsed bytes are never poisoned")
    }
}

/// The input stream, counting what passes through it into a [`StreamProgress`].
struct Tracked<R> {
    inner: R,
    progress: Arc<StreamProgress>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 {
            self.progress.at_end.store(true, Ordering::Relaxed);
            return Ok(0);
        }
        self.progress
            .bytes
            .fetch_add(read as u64, Ordering::Relaxed);
        self.progress
            .last_byte
            .store(buf[read - 1], Ordering::Relaxed);
        self.progress.keep(&buf[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_quote_swallows_the_probe_line() {
        assert!(swallows_next_line(b"a,\"VIP Sales\nb,c\n", b','));
        assert!(swallows_next_line(b"a,\"x\"\"\n", b','));
        assert!(!swallows_next_line(b"a,\"VIP Sales\"", b','));
        assert!(!swallows_next_line(b"a,\"two\nlines\"", b','));
        assert!(!swallows_next_line(b"a,5\" screen", b','));
        assert!(!swallows_next_line(b"\n\na;b", b';'));
    }
}
