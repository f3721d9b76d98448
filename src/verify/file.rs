//! The verified file: one row per checked user, never a PIN. It is written like the results
//! file (private, locked for the run, a batch per write cut back on failure, formula cells
//! neutralised) and read back strictly by `verify --resume`.

use std::io;
use std::path::Path;

use crate::ledger::{LedgerError, RowsFile};
use crate::output::{neutralize, OutputError, RowSink, RowsOutput};
use crate::rules::rfc3339_millis;

use super::judge::{Verdict, Verified};
use crate::outcome::Outcome;

/// Our columns, in order; the results file's carried columns follow.
pub const VERIFIED_HEADER: [&str; 9] = [
    "line",
    "account_id",
    "user_id",
    "status",
    "primary_email",
    "display_name",
    "error_code",
    "error_message",
    "checked_at",
];

pub struct VerifiedWriter {
    rows: RowSink,
    raw_cells: bool,
}

impl VerifiedWriter {
    /// Opens the verified file and writes the header unless appending to a file that has one.
    pub fn create(
        output: RowsOutput,
        carried_headers: &[String],
        raw_cells: bool,
    ) -> Result<Self, OutputError> {
        let name = output.destination().name();
        let (rows, needs_header) = RowSink::open(output)?;
        let mut writer = VerifiedWriter { rows, raw_cells };
        if needs_header {
            let header: Vec<String> = VERIFIED_HEADER
                .iter()
                .map(|name| name.to_string())
                .chain(carried_headers.iter().map(|name| writer.cell(name)))
                .collect();
            writer
                .write_rows(&[header])
                .map_err(|source| OutputError::Unwritable { file: name, source })?;
        }
        Ok(writer)
    }

    fn cell(&self, text: &str) -> String {
        if self.raw_cells {
            text.to_string()
        } else {
            neutralize(text)
        }
    }

    /// The cells of a checked user's row.
    pub fn row(&self, outcome: &Outcome, verdict: &Verdict) -> Vec<String> {
        let user = outcome.user.as_ref();
        let optional = |value: Option<&String>| self.cell(value.map_or("", String::as_str));
        let mut cells = vec![
            outcome.line.to_string(),
            self.cell(&outcome.account_id),
            self.cell(&outcome.user_id),
            verdict.status.as_str().to_string(),
            optional(user.and_then(|user| user.primary_email.as_ref())),
            optional(user.and_then(|user| user.display_name.as_ref())),
            optional(verdict.error_code.as_ref()),
            optional(verdict.error_message.as_ref()),
            rfc3339_millis(outcome.finished_at),
        ];
        // Carried cells were neutralised when the results were written; they go out as read.
        cells.extend(outcome.carried.iter().cloned());
        cells
    }

    /// Writes rows in one write; a failed write is cut back to the last whole row.
    pub fn write_rows(&mut self, rows: &[Vec<String>]) -> io::Result<()> {
        self.rows.write_rows(rows)
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.rows.sync()
    }
}

/// What a verified file being resumed has settled already.
#[derive(Debug, Default)]
pub struct Settled {
    /// The results lines with a status other than `failed`, and that status, sorted by line:
    /// not checked again while the line is still its user's final row.
    pub lines: Vec<(u64, Verified)>,
}

/// Reads a verified file being resumed, strictly. A user's row settles it unless it is
/// `failed`, or `changed` while `recheck_changed` (a resume with `--update-results`, which
/// must read the live PIN again to record it).
pub fn already_verified(path: &Path, recheck_changed: bool) -> Result<Settled, LedgerError> {
    let file_name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(RowsFile::open(path)?.whole_lines());
    let mut record = csv::StringRecord::new();
    let mut lines = Vec::new();
    let bad = |line: u64, problem: String| LedgerError::BadRow {
        file: file_name.clone(),
        line,
        problem,
    };
    let mut width = None;
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => return Err(bad(line, format!("not UTF-8 CSV ({err})"))),
        }
        let Some(width) = width else {
            if record
                .iter()
                .take(VERIFIED_HEADER.len())
                .ne(VERIFIED_HEADER)
            {
                return Err(bad(
                    line,
                    "this is not the header of a verified file".into(),
                ));
            }
            width = Some(record.len());
            continue;
        };
        if record.len() != width {
            let problem = format!(
                "the row has {} fields but the header has {width}",
                record.len()
            );
            return Err(bad(line, problem));
        }
        let settled = Verified::ALL.into_iter().find(|status| {
            let open =
                *status == Verified::Failed || (recheck_changed && *status == Verified::Changed);
            !open && status.as_str() == &record[3]
        });
        let results_line = record[0]
            .parse::<u64>()
            .map_err(|_| bad(line, format!("{:?} is not a line number", &record[0])))?;
        if let Some(status) = settled {
            lines.push((results_line, status));
        }
    }
    // A line verified twice (a resume of a resume) keeps its last status.
    lines.reverse();
    lines.sort_by_key(|(line, _)| *line);
    lines.dedup_by_key(|(line, _)| *line);
    Ok(Settled { lines })
}
