//! Workbooks as input (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`), read with calamine: one
//! sheet (the first visible, or the one named), its first non-empty row the header, every cell
//! carried as Excel shows it (whole numbers without `.0`, dates in ISO 8601, formulas by the
//! value Excel last computed), rows named by their sheet row number.
//!
//! calamine reads a sheet whole, so a workbook is held in memory while it is read: about
//! 140 bytes a cell (the README states the bound for 100,000 rows).
//!
//! What the administrator hid is what they chose not to act on: unless asked to include them,
//! hidden rows are skipped (as far as the format tells, see [`hidden`]) and counted, and a
//! hidden sheet is read only when it is named.

mod hidden;

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use calamine::{Data, ExcelDateTime, Range, Reader, SheetVisible};

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
    /// The sheet rows hidden, which are skipped.
    hidden: BTreeSet<u64>,
}

/// A sheet opened: its rows, its header's cells, its name and its rows after the header.
pub(super) struct OpenedSheet {
    pub rows: SheetRows,
    pub headers: Vec<String>,
    pub name: String,
    /// The sheet row of the header.
    pub header_row: u64,
    /// The rows after the header that will be read (hidden rows not included).
    pub data_rows: u64,
    /// The rows after the header, with a cell filled, skipped because they are hidden.
    pub hidden_rows: u64,
}

/// Opens `sheet` (the first visible when `None`) of the workbook at `path` and reads its
/// header; hidden rows are skipped unless `include_hidden`.
pub(super) fn open(
    path: &Path,
    sheet: Option<&str>,
    include_hidden: bool,
    file: &str,
) -> Result<OpenedSheet, InputError> {
    let unreadable = |message: String| InputError::Unreadable {
        file: file.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    };
    let mut workbook =
        calamine::open_workbook_auto(path).map_err(|err| unreadable(err.to_string()))?;
    let name = choose_sheet(workbook.sheets_metadata(), sheet).map_err(unreadable)?;
    let range = workbook
        .worksheet_range(&name)
        .map_err(|err| unreadable(format!("sheet {name}: {err}")))?;
    let first_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
    let hidden = if include_hidden {
        BTreeSet::new()
    } else {
        let last_row = (first_row + range.height() as u64).saturating_sub(1);
        hidden::hidden_rows(path, &name, last_row)
            .map_err(|err| unreadable(format!("sheet {name}: its hidden rows: {err}")))?
    };
    let mut rows = SheetRows {
        range,
        first_row,
        next: 0,
        current: 0,
        hidden,
    };
    let mut header = csv::StringRecord::new();
    let Some(header_row) = rows.next_record(&mut header) else {
        return Err(InputError::Empty {
            file: format!("{file}:{name}"),
        });
    };
    let headers = header.iter().map(|h| h.trim().to_string()).collect();
    let hidden_rows = rows.hidden_rows_after(header_row);
    let data_rows = (rows.range.height() - rows.next) as u64 - hidden_rows;
    Ok(OpenedSheet {
        rows,
        headers,
        name,
        header_row,
        data_rows,
        hidden_rows,
    })
}

/// The sheet named `wanted` (exactly, else ignoring case), or the first visible sheet: a
/// hidden sheet is read only when it is named.
fn choose_sheet(sheets: &[calamine::Sheet], wanted: Option<&str>) -> Result<String, String> {
    let Some(wanted) = wanted else {
        return sheets
            .iter()
            .find(|sheet| sheet.visible == SheetVisible::Visible)
            .map(|sheet| sheet.name.clone())
            .ok_or_else(|| match sheets.is_empty() {
                true => "the workbook has no sheet".to_string(),
                false => format!(
                    "every sheet of the workbook is hidden: name the one to read with --sheet \
                     (its sheets: {})",
                    sheet_list(sheets)
                ),
            });
    };
    sheets
        .iter()
        .find(|sheet| sheet.name == wanted)
        .or_else(|| {
            sheets
                .iter()
                .find(|sheet| sheet.name.eq_ignore_ascii_case(wanted))
        })
        .map(|sheet| sheet.name.clone())
        .ok_or_else(|| {
            format!(
                "it has no sheet named {wanted:?} (its sheets: {})",
                sheet_list(sheets)
            )
        })
}

/// The sheets' names, the hidden ones said so.
fn sheet_list(sheets: &[calamine::Sheet]) -> String {
    let names: Vec<String> = sheets
        .iter()
        .map(|sheet| match sheet.visible {
            SheetVisible::Visible => sheet.name.clone(),
            _ => format!("{} (hidden)", sheet.name),
        })
        .collect();
    names.join(", ")
}

impl SheetRows {
    /// Reads the next row with a cell that is not blank into `record`, its cells as Excel
    /// shows them up to the last one filled; returns its sheet row number.
    pub fn next_record(&mut self, record: &mut csv::StringRecord) -> Option<u64> {
        let mut text = String::new();
        while self.next < self.range.height() {
            let index = self.next;
            self.next += 1;
            if self.hidden.contains(&(self.first_row + index as u64)) {
                continue;
            }
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

    /// The hidden rows below `header_row` with a cell that is not blank: the rows skipped.
    fn hidden_rows_after(&self, header_row: u64) -> u64 {
        let mut text = String::new();
        let mut filled = |row: u64| {
            let index = (row - self.first_row) as usize;
            (0..self.range.width()).any(|column| {
                let cell = self.range.get((index, column)).unwrap_or(&Data::Empty);
                !shown(cell, &mut text).trim().is_empty()
            })
        };
        let last_row = self.first_row + self.range.height() as u64;
        self.hidden
            .range(header_row + 1..last_row)
            .filter(|&&row| filled(row))
            .count() as u64
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
