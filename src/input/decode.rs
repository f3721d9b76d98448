//! The text encoding of a CSV input, and a stream of UTF-8 out of it.
//!
//! Excel writes CSV in more than one encoding: "CSV UTF-8" (with a BOM), "CSV (Comma
//! delimited)" in the Windows code page (Windows-1252 in western Europe and the Americas), and
//! "Unicode Text" in UTF-16 with a BOM. So: a BOM says which; otherwise a file that is valid
//! UTF-8 throughout is UTF-8; otherwise it is read as Windows-1252, and a notice says so.
//! `--encoding` forces one. Decoding is encoding_rs's, through encoding_rs_io; UTF-8 input is
//! passed through untouched, so that its rows that are not UTF-8 stay `invalid` and its fast
//! path stays fast. Decoding keeps every newline, so line numbers stay true.

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::str::FromStr;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

/// An encoding a CSV input may be read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl TextEncoding {
    /// The names `--encoding` takes.
    pub const NAMES: &'static str = "utf-8|utf-16le|utf-16be|windows-1252";

    /// The decoder, or `None` for UTF-8, which is read as it is.
    fn decoder(self) -> Option<&'static Encoding> {
        match self {
            TextEncoding::Utf8 => None,
            TextEncoding::Utf16Le => Some(UTF_16LE),
            TextEncoding::Utf16Be => Some(UTF_16BE),
            TextEncoding::Windows1252 => Some(WINDOWS_1252),
        }
    }

    /// The encoding a byte order mark at the start of `bytes` names.
    fn from_bom(bytes: &[u8]) -> Option<TextEncoding> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            Some(TextEncoding::Utf8)
        } else if bytes.starts_with(b"\xFF\xFE") {
            Some(TextEncoding::Utf16Le)
        } else if bytes.starts_with(b"\xFE\xFF") {
            Some(TextEncoding::Utf16Be)
        } else {
            None
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16Be => "utf-16be",
            TextEncoding::Windows1252 => "windows-1252",
        })
    }
}

impl FromStr for TextEncoding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "utf-16le" | "utf16le" => Ok(TextEncoding::Utf16Le),
            "utf-16be" | "utf16be" => Ok(TextEncoding::Utf16Be),
            "windows-1252" | "cp1252" => Ok(TextEncoding::Windows1252),
            _ => Err(format!(
                "{text:?} is not an encoding this tool reads: use {}",
                TextEncoding::NAMES
            )),
        }
    }
}

/// A CSV input as UTF-8, and what a reader should be told about how it was read.
pub(super) struct Decoded {
    pub stream: Box<dyn Read + Send>,
    /// Said once on stderr when the encoding was a guess.
    pub notice: Option<String>,
    /// The number of data rows, estimated from the file's newlines; `None` for stdin.
    pub expected_rows: Option<u64>,
}

/// Opens `raw` (a file at `path`, or stdin when `path` is `None`) as UTF-8 text: in `forced`,
/// else as its BOM says, else (a file only) as UTF-8 when all of it is, else as Windows-1252.
pub(super) fn decode(
    mut raw: Box<dyn Read + Send>,
    path: Option<&Path>,
    forced: Option<TextEncoding>,
) -> io::Result<Decoded> {
    let survey = match path {
        Some(path) => Some(survey(path)?),
        None => None,
    };
    let expected_rows = survey.as_ref().map(|s| s.rows);
    let mut start = Vec::with_capacity(3);
    (&mut raw).take(3).read_to_end(&mut start)?;
    let from_bom = TextEncoding::from_bom(&start);
    let raw: Box<dyn Read + Send> = Box::new(Cursor::new(start).chain(raw));
    let mut notice = None;
    let encoding = match (forced, from_bom, survey) {
        (Some(forced), _, _) => forced,
        (None, Some(named), _) => named,
        (None, None, Some(Survey { utf8: false, .. })) => {
            notice = Some(format!(
                "{} is not UTF-8: it is read as Windows-1252, as Excel's \"CSV (Comma \
                 delimited)\" writes on Windows; give --encoding {} if it is in another",
                path.map_or(String::new(), |p| p.display().to_string()),
                TextEncoding::NAMES
            ));
            TextEncoding::Windows1252
        }
        (None, None, _) => TextEncoding::Utf8,
    };
    let stream = match encoding.decoder() {
        // A UTF-8 BOM is dropped with the header line.
        None => raw,
        Some(decoder) => Box::new(
            DecodeReaderBytesBuilder::new()
                .encoding(Some(decoder))
                .strip_bom(true)
                .build(raw),
        ),
    };
    Ok(Decoded {
        stream: Box::new(LoneCarriageReturns::new(stream)),
        notice,
        expected_rows,
    })
}

/// Classic Mac line ends, which some exports still write: a `\r` that no `\n` follows ends a
/// line as a `\n` does, as the csv crate's default terminator has it. It is passed on as `\n`,
/// so that the reader, which ends lines at `\n` only to count them as an editor does, sees one
/// line for each; the `\r` of a CRLF is left as it is.
struct LoneCarriageReturns<R> {
    inner: R,
    /// A `\r` that ended the last read: whether it is lone depends on the next byte.
    held: bool,
}

impl<R: Read> LoneCarriageReturns<R> {
    fn new(inner: R) -> Self {
        LoneCarriageReturns { inner, held: false }
    }
}

impl<R: Read> Read for LoneCarriageReturns<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let start = usize::from(std::mem::take(&mut self.held));
            if start == 1 {
                buf[0] = b'\r';
            }
            let read = self.inner.read(&mut buf[start..])?;
            let length = start + read;
            if length == 0 {
                return Ok(0);
            }
            let at_end = read == 0;
            for at in 0..length {
                if buf[at] != b'\r' {
                    continue;
                }
                match buf.get(at + 1).filter(|_| at + 1 < length) {
                    Some(b'\n') => {}
                    Some(_) => buf[at] = b'\n',
                    None if at_end => buf[at] = b'\n',
                    // The last byte read: held back until the next one says what it is.
                    None => self.held = true,
                }
            }
            let given = length - usize::from(self.held);
            if given > 0 {
                return Ok(given);
            }
        }
    }
}

/// What one pass over a file tells before it is read: its rows and whether it is all UTF-8.
struct Survey {
    rows: u64,
    utf8: bool,
}

/// Counts the newlines of the file at `path` (less the header's: an estimate of its rows, for
/// progress and to size the duplicate set) and checks that it is UTF-8, in one pass.
fn survey(path: &Path) -> io::Result<Survey> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 256 * 1024];
    // A character cut in two by the end of a read is carried to the start of the next.
    let (mut carried, mut lines, mut last, mut utf8) = (0usize, 0u64, b'\n', true);
    loop {
        let read = file.read(&mut buffer[carried..])?;
        if read == 0 {
            utf8 &= carried == 0;
            break;
        }
        let chunk = &buffer[carried..carried + read];
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk[read - 1];
        let filled = carried + read;
        carried = 0;
        if utf8 {
            if let Err(err) = std::str::from_utf8(&buffer[..filled]) {
                match err.error_len() {
                    Some(_) => utf8 = false,
                    None => {
                        carried = filled - err.valid_up_to();
                        buffer.copy_within(err.valid_up_to()..filled, 0);
                    }
                }
            }
        }
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok(Survey {
        rows: lines.saturating_sub(1),
        utf8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_carriage_return_ends_a_line_and_a_crlf_is_left_alone() {
        for chunk in [1, 2, 3, 64] {
            let source = ChunkedReader {
                bytes: b"a\rb\r\nc\r\rd\r".to_vec(),
                chunk,
            };
            let mut text = Vec::new();
            LoneCarriageReturns::new(source)
                .read_to_end(&mut text)
                .expect("read");
            assert_eq!(text, b"a\nb\r\nc\n\nd\n", "read {chunk} bytes at a time");
        }
    }

    /// A reader that gives at most `chunk` bytes a read, to cross every boundary.
    struct ChunkedReader {
        bytes: Vec<u8>,
        chunk: usize,
    }

    impl Read for ChunkedReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let count = self.chunk.min(buf.len()).min(self.bytes.len());
            buf[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes.drain(..count);
            Ok(count)
        }
    }

    fn decoded(bytes: &[u8], forced: Option<TextEncoding>) -> (String, Option<String>) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("in.csv");
        std::fs::write(&path, bytes).expect("write");
        let raw = Box::new(File::open(&path).expect("open"));
        let mut decoded = decode(raw, Some(&path), forced).expect("decodable");
        let mut text = String::new();
        decoded.stream.read_to_string(&mut text).expect("UTF-8 out");
        (text, decoded.notice)
    }

    #[test]
    fn a_bom_names_the_encoding() {
        let utf16: Vec<u8> = b"\xFF\xFE"
            .iter()
            .copied()
            .chain("a\tMontréal\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decoded(&utf16, None), ("a\tMontréal\n".to_string(), None));
        let utf16be: Vec<u8> = b"\xFE\xFF"
            .iter()
            .copied()
            .chain("é\n".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decoded(&utf16be, None).0, "é\n");
    }

    #[test]
    fn text_that_is_not_utf8_is_read_as_windows_1252_with_a_notice() {
        let (text, notice) = decoded(b"a,Ventes Montr\xE9al\n", None);
        assert_eq!(text, "a,Ventes Montréal\n");
        assert!(notice.is_some_and(|n| n.contains("--encoding")));
        let (text, notice) = decoded("a,Ventes Montréal\n".as_bytes(), None);
        assert_eq!((text.as_str(), notice), ("a,Ventes Montréal\n", None));
    }

    #[test]
    fn a_forced_encoding_wins() {
        let (text, notice) = decoded("é".as_bytes(), Some(TextEncoding::Windows1252));
        assert_eq!((text.as_str(), notice), ("Ã©", None));
    }

    #[test]
    fn characters_cut_by_a_read_are_still_utf8() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("in.csv");
        // 'é' is two bytes; an odd offset puts one across the 256 KiB boundary.
        let text = format!("x{}\n", "é".repeat(300_000));
        std::fs::write(&path, &text).expect("write");
        let survey = survey(&path).expect("readable");
        assert!(survey.utf8);
        assert_eq!(survey.rows, 0);
    }
}
