//! The results as a workbook for Excel. Opened by a double click, a results CSV loses what
//! Excel coerces: a PIN `0950488236` becomes the number 950488236, and saving writes it back
//! so. In this workbook every cell that Excel would coerce is a text cell in a column formatted
//! as Text (PINs keep their leading zeros, IDs and times stay as written), the header row is
//! frozen with an autofilter on it, `--pins masked|omit` is applied again, and the file is
//! created with mode 0600 like the results, complete or not at all.

mod table_cells;

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::ledger::{FinalRows, LedgerError, RowReader};
use crate::output::{OutputError, PinPolicy, ResultsLayout, WholeOutput};

pub use table_cells::{table_cells, TableCell};

/// Why the workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum XlsxWriteError {
    /// The cause is the source: `{:#}` prints it after this message, once.
    #[error("cannot build the workbook")]
    Build(#[from] XlsxError),
    #[error(transparent)]
    Write(#[from] OutputError),
}

/// A table of results: the header and the rows, each as wide as the header, their cells
/// typed as the results record has them. Its rows hold PINs in clear, so it has no `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResultsTable {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<TableCell>>,
    /// Rows of a second sheet, Coverage: planned, attempted and never attempted users (or why
    /// that is unknown); no sheet when empty.
    pub coverage: Vec<Vec<String>>,
}

impl ResultsTable {
    /// Each user's final row, as the ledger reads them out of results files, under the header
    /// of the first file (its carried columns). Its cells are as Chime or the input held them:
    /// a display name that starts with `=` is that text, not a formula.
    pub fn final_states(finals: &FinalRows) -> Result<ResultsTable, LedgerError> {
        let carried = match finals.paths().first() {
            Some(first) => RowReader::open(first)?.carried_headers().to_vec(),
            None => Vec::new(),
        };
        let headers: Vec<String> = ResultsLayout::CURRENT
            .columns()
            .map(str::to_string)
            .chain(carried)
            .collect();
        let mut rows = Vec::with_capacity(finals.users());
        for row in finals.iter() {
            let mut cells = table_cells(&row?.row.as_record())
                .expect("a results record is structs, numbers and text: it always has cells");
            cells.resize_with(headers.len(), TableCell::empty);
            rows.push(cells);
        }
        Ok(ResultsTable {
            headers,
            rows,
            coverage: Vec::new(),
        })
    }
}

/// Writes `table` to the workbook `file`, its PINs as `pins` says: whole, or not at all.
pub fn write_workbook(
    file: &WholeOutput,
    table: &ResultsTable,
    pins: PinPolicy,
) -> Result<(), XlsxWriteError> {
    let bytes = build(table, pins)?.save_to_buffer()?;
    Ok(file.write_all(&bytes)?)
}

/// The workbook of `table`: one sheet named Results.
fn build(table: &ResultsTable, pins: PinPolicy) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Results")?;
    let text = Format::new().set_num_format("@");
    let header = Format::new().set_bold().set_num_format("@");
    // A column of numbers (as the record types them) is shown and sorted as numbers.
    let numeric: Vec<bool> = (0..table.headers.len())
        .map(|column| {
            let number =
                |row: &Vec<TableCell>| matches!(row.get(column), Some(TableCell::Number(_)));
            table.rows.iter().any(number)
        })
        .collect();
    for (column, name) in table.headers.iter().enumerate() {
        let column = u16::try_from(column).map_err(|_| XlsxError::RowColumnLimitError)?;
        sheet.write_string_with_format(0, column, name, &header)?;
        if !numeric[usize::from(column)] {
            // Cells typed later in Excel stay text too.
            sheet.set_column_format(column, &text)?;
        }
    }
    for (index, cells) in table.rows.iter().enumerate() {
        let row = u32::try_from(index + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (column, cell) in cells.iter().enumerate() {
            let column = u16::try_from(column).map_err(|_| XlsxError::RowColumnLimitError)?;
            match cell {
                TableCell::Number(number) => sheet.write_number(row, column, *number as f64)?,
                TableCell::Text(value) | TableCell::Pin(value) if value.is_empty() => sheet,
                TableCell::Text(value) => {
                    sheet.write_string_with_format(row, column, value, &text)?
                }
                TableCell::Pin(pin) => {
                    sheet.write_string_with_format(row, column, pins.apply(pin), &text)?
                }
            };
        }
    }
    let last_row = u32::try_from(table.rows.len()).map_err(|_| XlsxError::RowColumnLimitError)?;
    let last_column = u16::try_from(table.headers.len().saturating_sub(1))
        .map_err(|_| XlsxError::RowColumnLimitError)?;
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, last_column)?;
    sheet.autofit();
    if !table.coverage.is_empty() {
        add_coverage_sheet(&mut workbook, &table.coverage)?;
    }
    Ok(workbook)
}

/// The Coverage sheet: its counts as numbers, everything else as text.
fn add_coverage_sheet(workbook: &mut Workbook, rows: &[Vec<String>]) -> Result<(), XlsxError> {
    let sheet = workbook.add_worksheet();
    sheet.set_name("Coverage")?;
    let text = Format::new().set_num_format("@");
    for (index, cells) in rows.iter().enumerate() {
        let row = u32::try_from(index).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (column, value) in cells.iter().enumerate() {
            let column = u16::try_from(column).map_err(|_| XlsxError::RowColumnLimitError)?;
            match value.parse::<u64>() {
                Ok(number) if column > 0 => sheet.write_number(row, column, number as f64)?,
                _ => sheet.write_string_with_format(row, column, value, &text)?,
            };
        }
    }
    sheet.autofit();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader};
    use std::path::Path;

    use crate::output::{Destination, Existing, Files};

    fn workbook(path: &Path, existing: Existing) -> WholeOutput {
        Files::default()
            .whole(
                &Destination::File(path.to_path_buf()),
                existing,
                "the workbook",
            )
            .expect("a workbook that may be written")
    }

    fn table() -> ResultsTable {
        let headers = [
            "line",
            "account_id",
            "user_id",
            "status",
            "personal_pin",
            "attempts",
            "ticket",
        ];
        let text = |text: &str| TableCell::Text(text.to_string());
        let row = |line: u64, user: &str, status: &str, pin: &str| {
            vec![
                TableCell::Number(line),
                text("ACC"),
                text(user),
                text(status),
                TableCell::Pin(pin.to_string()),
                TableCell::Number(1),
                text("0042"),
            ]
        };
        ResultsTable {
            headers: headers.into_iter().map(String::from).collect(),
            rows: vec![
                row(2, "U1", "reset", "0950488236"),
                row(3, "U2", "failed", ""),
            ],
            coverage: Vec::new(),
        }
    }

    fn read_back(path: &Path) -> Vec<Vec<Data>> {
        let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).expect("a workbook");
        let range = workbook
            .worksheet_range("Results")
            .expect("the Results sheet");
        range.rows().map(<[Data]>::to_vec).collect()
    }

    #[test]
    fn pins_and_ids_are_text_with_their_leading_zeros() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("results.xlsx");
        let file = workbook(&path, Existing::Refuse);
        write_workbook(&file, &table(), PinPolicy::Full).expect("written");
        assert!(
            write_workbook(&file, &table(), PinPolicy::Full).is_err(),
            "an existing file is not replaced without being asked"
        );
        let rows = read_back(&path);
        assert_eq!(rows[0][4], Data::String("personal_pin".into()));
        assert!(
            rows[1][4] == Data::String("0950488236".into()),
            "the PIN is text, zeros kept"
        );
        assert_eq!(rows[1][6], Data::String("0042".into()));
        assert_eq!(rows[1][0], Data::Float(2.0));
        assert_eq!(rows[2][4], Data::Empty);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_pin_policy_is_applied_again() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("results.xlsx");
        write_workbook(
            &workbook(&path, Existing::Refuse),
            &table(),
            PinPolicy::Masked,
        )
        .expect("written");
        assert_eq!(read_back(&path)[1][4], Data::String("********36".into()));
        write_workbook(
            &workbook(&path, Existing::Overwrite),
            &table(),
            PinPolicy::Omit,
        )
        .expect("written");
        assert_eq!(read_back(&path)[1][4], Data::Empty);
    }
}
