//! The verified file: one row per checked user, never a PIN. It is written like the results
//! file (private, locked for the run, a batch per write cut back on failure, formula cells
//! neutralised) and read back strictly by `verify --resume`. Each row names the results file it
//! checked by a fingerprint of its contents, so that a resume over another results file (or
//! one rewritten since) is refused rather than mixing the two.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::bail;
use sha2::{Digest, Sha256};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::ledger::{LedgerError, RowsFile};
use crate::outcome::Outcome;
use crate::output::cells::{header, Carried};
use crate::output::{OutputError, RowSink, RowsOutput};

use super::verdict::{Verdict, Verified};
use super::verified_record::{VerifiedColumns, VerifiedRow};

/// Which results file a verified file checked: the length of the whole lines it held when the
/// check began, and their SHA-256. The same results file appended to since (a resumed run,
/// `--update-results`) still begins with those bytes; another file, or one rewritten, does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsFingerprint {
    length: u64,
    sha256: String,
}

impl ResultsFingerprint {
    /// The fingerprint of the whole lines of the results file at `path`.
    pub fn of(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let length = crate::output::whole_length(&mut file)?;
        Ok(ResultsFingerprint {
            length,
            sha256: sha256_of_start(path, length)?.unwrap_or_default(),
        })
    }

    /// As written in the `results_fingerprint` column: `LENGTH:SHA256`.
    pub fn cell(&self) -> String {
        format!("{}:{}", self.length, self.sha256)
    }

    fn parse(cell: &str) -> Option<Self> {
        let (length, sha256) = cell.split_once(':')?;
        Some(ResultsFingerprint {
            length: length.parse().ok()?,
            sha256: sha256.to_string(),
        })
    }

    /// Whether the results file at `path` begins with the bytes this fingerprint was taken of.
    fn matches_start_of(&self, path: &Path) -> io::Result<bool> {
        Ok(sha256_of_start(path, self.length)?.as_deref() == Some(self.sha256.as_str()))
    }
}

impl Serialize for ResultsFingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.cell())
    }
}

impl<'de> Deserialize<'de> for ResultsFingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let cell = <&'de str>::deserialize(deserializer)?;
        ResultsFingerprint::parse(cell).ok_or_else(|| {
            de::Error::custom(format!(
                "the results fingerprint {cell:?} is not LENGTH:SHA256"
            ))
        })
    }
}

/// The SHA-256 of the first `length` bytes of a file, in hex; `None` when it is shorter.
fn sha256_of_start(path: &Path, length: u64) -> io::Result<Option<String>> {
    let mut start = File::open(path)?.take(length);
    let mut hasher = Sha256::new();
    let copied = io::copy(&mut start, &mut hasher)?;
    Ok((copied == length).then(|| hex::encode(hasher.finalize())))
}

pub struct VerifiedWriter {
    rows: RowSink,
}

/// How a checked user's row of the verified file is made: the recorder makes the rows, the
/// writer's thread writes them.
#[derive(Clone, Debug)]
pub struct VerifiedCells {
    raw_cells: bool,
    /// The results file every row checked.
    fingerprint: ResultsFingerprint,
}

impl VerifiedWriter {
    /// Opens the verified file and writes the header unless appending to a file that has one.
    /// With the cells its rows are made of.
    pub fn create(
        output: RowsOutput,
        carried_headers: &[String],
        raw_cells: bool,
        fingerprint: &ResultsFingerprint,
    ) -> Result<(Self, VerifiedCells), OutputError> {
        let name = output.destination().name();
        let (rows, needs_header) = RowSink::open(output)?;
        let mut writer = VerifiedWriter { rows };
        let cells = VerifiedCells {
            raw_cells,
            fingerprint: fingerprint.clone(),
        };
        if needs_header {
            let carried = Carried {
                cells: carried_headers,
                raw_cells,
            };
            let names = VerifiedColumns::names().iter().copied();
            writer
                .rows
                .write_records([header(names, carried)])
                .map_err(|source| OutputError::Unwritable { file: name, source })?;
        }
        Ok((writer, cells))
    }

    /// Writes rows in one write; a failed write is cut back to the last whole row.
    pub fn write_rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a VerifiedRow>,
    ) -> io::Result<()> {
        self.rows.write_records(rows)
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.rows.sync()
    }
}

impl VerifiedCells {
    /// The row of a checked user.
    pub fn row(&self, outcome: &Outcome, verdict: &Verdict) -> VerifiedRow {
        VerifiedRow::of(outcome, verdict, &self.fingerprint, self.raw_cells)
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
/// must read the live PIN again to record it). Every row must have checked the results file at
/// `results` (as it was then, or with rows appended since): a verified file of another results
/// file is refused.
pub fn already_verified(
    path: &Path,
    recheck_changed: bool,
    results: &Path,
) -> anyhow::Result<Settled> {
    let file_name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(RowsFile::open(path)?.whole_lines());
    let mut record = csv::StringRecord::new();
    let mut lines = Vec::new();
    let mut fingerprints: Vec<(u64, ResultsFingerprint)> = Vec::new();
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
            Err(err) => return Err(bad(line, format!("not UTF-8 CSV ({err})")).into()),
        }
        let Some(width) = width else {
            check_header(&record, &file_name)?;
            width = Some(record.len());
            continue;
        };
        if record.len() != width {
            let problem = format!(
                "the row has {} fields but the header has {width}",
                record.len()
            );
            return Err(bad(line, problem).into());
        }
        let row = VerifiedColumns::read(&record).map_err(|problem| bad(line, problem))?;
        let open =
            row.status == Verified::Failed || (recheck_changed && row.status == Verified::Changed);
        if !fingerprints
            .iter()
            .any(|(_, seen)| *seen == row.results_fingerprint)
        {
            fingerprints.push((line, row.results_fingerprint));
        }
        if !open {
            lines.push((row.line, row.status));
        }
    }
    for (line, fingerprint) in &fingerprints {
        if !fingerprint.matches_start_of(results)? {
            bail!(
                "{file_name}, line {line}: this verified file checked another results file than \
                 {} (or one rewritten since): verify {} into a verified file of its own, or \
                 again with --force",
                results.display(),
                results.display()
            );
        }
    }
    // A line verified twice (a resume of a resume) keeps its last status.
    lines.reverse();
    lines.sort_by_key(|(line, _)| *line);
    lines.dedup_by_key(|(line, _)| *line);
    Ok(Settled { lines })
}

/// A verified file's header starts with our columns; one written before verified files named
/// their results file (without the last of our columns, the fingerprint) cannot be resumed
/// safely.
fn check_header(record: &csv::StringRecord, file: &str) -> anyhow::Result<()> {
    let ours = VerifiedColumns::names();
    if record.iter().take(ours.len()).eq(ours.iter().copied()) {
        return Ok(());
    }
    let unfingerprinted = &ours[..ours.len() - 1];
    let older = record
        .iter()
        .take(unfingerprinted.len())
        .eq(unfingerprinted.iter().copied());
    if older {
        bail!(
            "{file} was written by an earlier version, which did not record the results file it \
             checked: it cannot be resumed; verify again with --force"
        );
    }
    Err(LedgerError::BadRow {
        file: file.to_string(),
        line: 1,
        problem: "this is not the header of a verified file".into(),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results file and a verified file of it, with `header` and `row` (the fingerprint as
    /// `{fingerprint}`).
    fn files(
        header: &str,
        row: &str,
    ) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let results = dir.path().join("results.csv");
        std::fs::write(&results, "line\n2\n").expect("written");
        let fingerprint = ResultsFingerprint::of(&results)
            .expect("a fingerprint")
            .cell();
        let verified = dir.path().join("verified.csv");
        let row = row.replace("{fingerprint}", &fingerprint);
        std::fs::write(&verified, format!("{header}\n{row}\n")).expect("written");
        (dir, results, verified)
    }

    #[test]
    fn a_verified_file_is_read_by_its_record_and_the_older_layout_is_refused() {
        let names = VerifiedColumns::names();
        let header = format!("{},team", names.join(","));
        let (_dir, results, verified) = files(&header, "7,a,u,current,,,,,t,{fingerprint},x");
        let settled = already_verified(&verified, false, &results).expect("readable");
        assert_eq!(settled.lines, [(7, Verified::Current)]);

        let older = names[..names.len() - 1].join(",");
        let (_dir, results, verified) = files(&older, "7,a,u,current,,,,,t");
        let err = already_verified(&verified, false, &results).expect_err("refused");
        assert!(err.to_string().contains("earlier version"), "{err}");
    }
}
