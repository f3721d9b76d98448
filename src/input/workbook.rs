//! Workbooks as input (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`), read with calamine: one
//! sheet (the first, or the one named), its first non-empty row the header, every cell carried
//! as Excel shows it (whole numbers without `.0`, dates in ISO 8601, formulas by the value
//! Excel last computed), rows named by their sheet row number.
//!
//! calamine reads a sheet whole, so a workbook is held in memory while it is read: about
//! 140 bytes a cell (the README states the bound for 100,000 rows).

use std::io;
use std::path::Path;

use calamine::{Data, ExcelDateTime, Range, Reader};

use super::InputError;

/// The extensions read as workbooks, compared without case.
pub const WORKBOOK_EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// Whether the file at `path` is read as a workbook, by its extension.
pub fn is_workbook(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            WORKBOOK_EXTENSIONS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(ext))
        })
}

/// The rows of one sheet after its header.
pub(super) struct SheetRows {
    range: Range<Data>,
    /// The sheet row number (1-based) of the range's first row.
    first_row: u64,
    /// The range's index of the next row to read.
    next: usize,
    /// The range's index of the row last read.
    current: usize,
}

/// A sheet opened: its rows, its header's cells, its name and its rows after the header.
pub(super) struct OpenedSheet {
    pub rows: SheetRows,
    pub headers: Vec<String>,
    pub name: String,
    /// The sheet row of the header.
    pub header_row: u64,
    pub data_rows: u64,
}

/// Opens `sheet` (the first when `None`) of the workbook at `path` and reads its header.
pub(super) fn open(
    path: &Path,
    sheet: Option<&str>,
    file: &str,
) -> Result<OpenedSheet, InputError> {
    let unreadable = |message: String| InputError::Unreadable {
        file: file.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    };
    let mut workbook =
        calamine::open_workbook_auto(path).map_err(|err| unreadable(err.to_string()))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        None => names
            .first()
            .cloned()
            .ok_or_else(|| unreadable("the workbook has no sheet".into()))?,
        Some(wanted) => names
            .iter()
            .find(|name| name.as_str() == wanted)
            .or_else(|| names.iter().find(|name| name.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| {
                unreadable(format!(
                    "it has no sheet named {wanted:?} (its sheets: {})",
                    names.join(", ")
                ))
            })?,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|err| unreadable(format!("sheet {name}: {err}")))?;
    let first_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
    let mut rows = SheetRows {
        range,
        first_row,
        next: 0,
        current: 0,
    };
    let mut header = csv::StringRecord::new();
    let Some(header_row) = rows.next_record(&mut header) else {
        return Err(InputError::Empty {
            file: format!("{file}:{name}"),
        });
    };
    let headers = header.iter().map(|h| h.trim().to_string()).collect();
    let data_rows = (rows.range.height() - rows.next) as u64;
    Ok(OpenedSheet {
        rows,
        headers,
        name,
        header_row,
        data_rows,
    })
}

impl SheetRows {
    /// Reads the next row with a cell that is not blank into `record`, its cells as Excel
    /// shows them up to the last one filled; returns its sheet row number.
    pub fn next_record(&mut self, record: &mut csv::StringRecord) -> Option<u64> {
        let mut text = String::new();
        while self.next < self.range.height() {
            let index = self.next;
            self.next += 1;
            let cell = |column| self.range.get((index, column)).unwrap_or(&Data::Empty);
            let filled = (0..self.range.width())
                .rposition(|column| !shown(cell(column), &mut text).trim().is_empty());
            let Some(last) = filled else { continue };
            record.clear();
            for column in 0..=last {
                record.push_field(shown(cell(column), &mut text));
            }
            self.current = index;
            return Some(self.first_row + index as u64);
        }
        None
    }

    /// Why the cell in `column` of the row last read cannot be an ID, when it holds a number:
    /// Excel shows a long number rounded or in scientific form, so the ID typed is lost.
    pub fn number_in(&self, column: usize, what: &str) -> Option<String> {
        let cell = self.range.get((self.current, column))?;
        matches!(cell, Data::Int(_) | Data::Float(_)).then(|| {
            let mut text = String::new();
            format!(
                "the {what} cell holds the number {}, not text: format the column as Text and \
                 type the ID again",
                shown(cell, &mut text)
            )
        })
    }
}

/// A cell as Excel shows it, written into `text`.
fn shown<'a>(cell: &Data, text: &'a mut String) -> &'a str {
    use std::fmt::Write as _;
    text.clear();
    // Writing into a String cannot fail.
    let _ = match cell {
        Data::Empty => Ok(()),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            text.push_str(s);
            Ok(())
        }
        Data::Int(i) => write!(text, "{i}"),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => write!(text, "{}", *f as i64),
        Data::Float(f) => write!(text, "{f}"),
        Data::Bool(b) => write!(text, "{}", if *b { "TRUE" } else { "FALSE" }),
        Data::DateTime(date) => write_iso(date, text),
        Data::Error(err) => write!(text, "{err}"),
    };
    text
}

/// A date and time in ISO 8601: the date alone at midnight, the time alone for a time of day,
/// hours, minutes and seconds for a duration.
fn write_iso(date: &ExcelDateTime, text: &mut String) -> std::fmt::Result {
    use std::fmt::Write as _;
    if date.is_duration() {
        let seconds = (date.as_f64() * 86_400.0).round() as i64;
        let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        return write!(text, "{hours:02}:{minutes:02}:{seconds:02}");
    }
    let (year, month, day, hour, minute, second, milli) = date.to_ymd_hms_milli();
    let time_of_day = (hour, minute, second, milli) != (0, 0, 0, 0);
    if date.as_f64() >= 1.0 {
        write!(text, "{year:04}-{month:02}-{day:02}")?;
        if time_of_day {
            text.push('T');
        }
    }
    if time_of_day || date.as_f64() < 1.0 {
        write!(text, "{hour:02}:{minute:02}:{second:02}")?;
        if milli != 0 {
            write!(text, ".{milli:03}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn show(cell: Data) -> String {
        shown(&cell, &mut String::new()).to_string()
    }

    #[test]
    fn cells_read_as_excel_shows_them() {
        assert_eq!(show(Data::Float(42.0)), "42");
        assert_eq!(show(Data::Float(0.5)), "0.5");
        assert_eq!(show(Data::Int(7)), "7");
        assert_eq!(show(Data::Bool(true)), "TRUE");
        assert_eq!(show(Data::Error(calamine::CellErrorType::NA)), "#N/A");
        let date = |value| {
            Data::DateTime(ExcelDateTime::new(
                value,
                ExcelDateTimeType::DateTime,
                false,
            ))
        };
        assert_eq!(show(date(45943.0)), "2025-10-13");
        assert_eq!(show(date(45943.5)), "2025-10-13T12:00:00");
        assert_eq!(show(date(0.75)), "18:00:00");
    }

    #[test]
    fn workbooks_are_known_by_extension() {
        assert!(is_workbook(Path::new("users.XLSX")));
        assert!(is_workbook(Path::new("a/b.ods")));
        assert!(!is_workbook(Path::new("users.csv")));
        assert!(!is_workbook(Path::new("xlsx")));
    }
}
