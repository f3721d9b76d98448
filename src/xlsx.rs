//! The results as a workbook for Excel. Opened by a double click, a results CSV loses what
//! Excel coerces: a PIN `0950488236` becomes the number 950488236, and saving writes it back
//! so. In this workbook every cell that Excel would coerce is a text cell in a column formatted
//! as Text (PINs keep their leading zeros, IDs and times stay as written), the header row is
//! frozen with an autofilter on it, `--pins masked|omit` is applied again, and the file is
//! created with mode 0600 like the results, complete or not at all.

use std::io::{self, Write};
use std::path::Path;

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::ledger::{FinalRows, LedgerError, ResultRow, RowReader};
use crate::output::{PinPolicy, OFFBOARDING_HEADER, RESULTS_HEADER};

/// Columns written as numbers: Excel shows them as they are, and sorts them as numbers.
const NUMERIC_COLUMNS: &[&str] = &["line", "attempts"];
/// The PIN column, to which the PIN policy applies.
const PIN_COLUMN: &str = "personal_pin";

/// Why the workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum XlsxWriteError {
    #[error("cannot build the workbook: {0}")]
    Build(#[from] XlsxError),
    #[error("cannot write {file}: {source}")]
    Write { file: String, source: io::Error },
}

/// A table of results: the header and the rows, each as wide as the header. Its rows hold
/// PINs in clear, so it has no `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResultsTable {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ResultsTable {
    /// Each user's final row, as the ledger reads them out of results files, under the header
    /// of the first file (its carried columns).
    pub fn final_states(finals: &FinalRows) -> Result<ResultsTable, LedgerError> {
        let carried = match finals.paths().first() {
            Some(first) => RowReader::open(first)?.carried_headers().to_vec(),
            None => Vec::new(),
        };
        let headers: Vec<String> = RESULTS_HEADER
            .iter()
            .chain(&OFFBOARDING_HEADER)
            .map(|name| name.to_string())
            .chain(carried)
            .collect();
        let mut rows = Vec::with_capacity(finals.users());
        for row in finals.iter() {
            let mut cells = cells_of(row?.row);
            cells.resize(headers.len(), String::new());
            rows.push(cells);
        }
        Ok(ResultsTable { headers, rows })
    }
}

/// A results row's cells, in the order of the header.
fn cells_of(row: ResultRow) -> Vec<String> {
    [
        row.input_line,
        row.account_id,
        row.user_id,
        row.status.as_str().to_string(),
        row.personal_pin.expose().to_string(),
        row.primary_email,
        row.display_name,
        row.error_code,
        row.error_message,
        row.attempts,
        row.request_id,
        row.finished_at,
        row.given_email,
        row.logout.as_str().to_string(),
    ]
    .into_iter()
    .chain(row.carried)
    .collect()
}

/// Writes `table` to a workbook at `path`, its PINs as `pins` says.
pub fn write_workbook(
    path: &Path,
    table: &ResultsTable,
    pins: PinPolicy,
    replace: bool,
) -> Result<(), XlsxWriteError> {
    let bytes = build(table, pins)?.save_to_buffer()?;
    save_private(path, &bytes, replace).map_err(|source| XlsxWriteError::Write {
        file: path.display().to_string(),
        source,
    })
}

/// The workbook of `table`: one sheet named Results.
fn build(table: &ResultsTable, pins: PinPolicy) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Results")?;
    let text = Format::new().set_num_format("@");
    let header = Format::new().set_bold().set_num_format("@");
    let numeric: Vec<bool> = table
        .headers
        .iter()
        .map(|name| NUMERIC_COLUMNS.contains(&name.as_str()))
        .collect();
    let pin_column = table.headers.iter().position(|name| name == PIN_COLUMN);
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
        for (column, value) in cells.iter().enumerate() {
            let col = u16::try_from(column).map_err(|_| XlsxError::RowColumnLimitError)?;
            let value = match (Some(column) == pin_column, value.is_empty()) {
                (true, false) => pins.apply(value),
                _ => value.clone(),
            };
            match value.parse::<u32>() {
                Ok(number) if numeric[column] => sheet.write_number(row, col, number)?,
                _ if value.is_empty() => sheet,
                _ => sheet.write_string_with_format(row, col, &value, &text)?,
            };
        }
    }
    let last_row = u32::try_from(table.rows.len()).map_err(|_| XlsxError::RowColumnLimitError)?;
    let last_column = u16::try_from(table.headers.len().saturating_sub(1))
        .map_err(|_| XlsxError::RowColumnLimitError)?;
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, last_column)?;
    sheet.autofit();
    Ok(workbook)
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file in the same directory
/// renamed into place: the workbook is there whole, or not at all. An existing file is
/// replaced only when `replace` says so (it could be a results file whose PINs would be lost).
fn save_private(path: &Path, bytes: &[u8], replace: bool) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates its files with mode 0600 whatever the umask.
    let mut file = tempfile::NamedTempFile::new_in(directory)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    if replace {
        file.persist(path).map_err(|err| err.error)?;
    } else {
        file.persist_noclobber(path).map_err(|err| err.error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader};

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
        let row = |line: &str, user: &str, status: &str, pin: &str| {
            vec![line, "ACC", user, status, pin, "1", "0042"]
                .into_iter()
                .map(String::from)
                .collect()
        };
        ResultsTable {
            headers: headers.into_iter().map(String::from).collect(),
            rows: vec![
                row("2", "U1", "reset", "0950488236"),
                row("3", "U2", "failed", ""),
            ],
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
        write_workbook(&path, &table(), PinPolicy::Full, false).expect("written");
        assert!(
            write_workbook(&path, &table(), PinPolicy::Full, false).is_err(),
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
        write_workbook(&path, &table(), PinPolicy::Masked, false).expect("written");
        assert_eq!(read_back(&path)[1][4], Data::String("********36".into()));
        write_workbook(&path, &table(), PinPolicy::Omit, true).expect("written");
        assert_eq!(read_back(&path)[1][4], Data::Empty);
    }
}
