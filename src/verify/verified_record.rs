//! The record of the verified file: the one place its columns are named and ordered. A row is
//! [`VerifiedColumns`], then the results file's carried columns; never a PIN. Written with
//! serde through `csv` and read back the same way, its text cells neutralised on the way out
//! (unless `--raw-cells`) and restored on the way in, like the results'.

use std::borrow::Cow;

use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::file::ResultsFingerprint;
use super::verdict::{Verdict, Verified};
use crate::outcome::Outcome;
use crate::output::cells::{column_names, one_of, unreadable_cell, Carried, Text};
use crate::rules::rfc3339_millis;

/// Our columns of a verified row, in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct VerifiedColumns<'a> {
    /// The line of the results file the user's final row is on.
    pub line: u64,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub user_id: Text<'a>,
    #[serde(with = "verified_cell")]
    pub status: Verified,
    #[serde(borrow)]
    pub primary_email: Text<'a>,
    #[serde(borrow)]
    pub display_name: Text<'a>,
    #[serde(borrow)]
    pub error_code: Text<'a>,
    #[serde(borrow)]
    pub error_message: Text<'a>,
    /// RFC 3339 in UTC, to the millisecond: our own text, never neutralised.
    #[serde(borrow)]
    pub checked_at: Cow<'a, str>,
    /// The results file checked. Verified files written before this column cannot be resumed.
    pub results_fingerprint: ResultsFingerprint,
}

mod verified_cell {
    use super::*;

    pub fn serialize<S: Serializer>(status: &Verified, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Verified, D::Error> {
        let what = "a status of the verified file";
        one_of(deserializer, Verified::ALL, |status| status.as_str(), what)
    }
}

impl VerifiedColumns<'_> {
    /// Our columns, in order: the start of a verified file's header.
    pub fn names() -> &'static [&'static str] {
        column_names::<VerifiedColumns>()
    }

    /// Our columns of a row read back, borrowing from it; the problem in words (naming the
    /// column) when a cell is not what the record says.
    pub fn read(record: &csv::StringRecord) -> Result<VerifiedColumns<'_>, String> {
        record
            .deserialize(None)
            .map_err(|err| unreadable_cell(&err, record.as_byte_record(), Self::names()))
    }
}

/// A checked user's row, made by the recorder and written by the writer's thread: it owns its
/// cells.
pub struct VerifiedRow {
    columns: VerifiedColumns<'static>,
    carried: Vec<String>,
    raw_cells: bool,
}

impl VerifiedRow {
    /// The row of a checked user: its `outcome` (the GetUser answer), the `verdict` on it, and
    /// the results file checked.
    pub fn of(
        outcome: &Outcome,
        verdict: &Verdict,
        fingerprint: &ResultsFingerprint,
        raw_cells: bool,
    ) -> Self {
        let text = |value: &str| Text::new(value.to_string(), raw_cells);
        let optional = |value: Option<&String>| text(value.map_or("", String::as_str));
        let user = outcome.user.as_ref();
        let columns = VerifiedColumns {
            line: outcome.line,
            account_id: text(&outcome.account_id),
            user_id: text(&outcome.user_id),
            status: verdict.status,
            primary_email: optional(user.and_then(|user| user.primary_email.as_ref())),
            display_name: optional(user.and_then(|user| user.display_name.as_ref())),
            error_code: optional(verdict.error_code.as_ref()),
            error_message: optional(verdict.error_message.as_ref()),
            checked_at: Cow::Owned(rfc3339_millis(outcome.finished_at)),
            results_fingerprint: fingerprint.clone(),
        };
        VerifiedRow {
            columns,
            // The ledger restored the carried cells as the input held them: they go out by
            // this file's rule, whatever the results' was (`--raw-cells` there or not).
            carried: outcome.carried.clone(),
            raw_cells,
        }
    }
}

impl Serialize for VerifiedRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `csv` writes the fields of a tuple's elements one after the other: one row.
        let mut row = serializer.serialize_tuple(2)?;
        row.serialize_element(&self.columns)?;
        row.serialize_element(&Carried {
            cells: &self.carried,
            raw_cells: self.raw_cells,
        })?;
        row.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{RowStatus, UserRecord};

    fn fingerprint() -> ResultsFingerprint {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "line\n2\n").expect("written");
        ResultsFingerprint::of(&path).expect("a fingerprint")
    }

    fn written(row: &VerifiedRow) -> String {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        csv.serialize(row).expect("a row serialises");
        String::from_utf8(csv.into_inner().expect("in memory")).expect("UTF-8")
    }

    fn read_back(text: &str) -> csv::StringRecord {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();
        assert!(csv.read_record(&mut record).expect("CSV"));
        record
    }

    #[test]
    fn a_row_written_then_read_gives_the_same_values_restored() {
        let outcome = Outcome::new(7, "a".into(), "u".into(), RowStatus::Reset)
            .with_user(UserRecord {
                user_id: "u".into(),
                display_name: Some("=HYPERLINK(\"x\")".into()),
                ..UserRecord::default()
            })
            .with_carried(vec!["-1".into()]);
        let verdict = Verdict {
            status: Verified::Changed,
            error_code: None,
            error_message: Some("+note".into()),
        };
        let fingerprint = fingerprint();
        let text = written(&VerifiedRow::of(&outcome, &verdict, &fingerprint, false));
        assert!(
            text.contains(",\"'=HYPERLINK(") && text.ends_with(",'-1\n"),
            "{text}"
        );
        assert!(text.contains(&format!(",{},", fingerprint.cell())));

        let record = read_back(&text);
        let read = VerifiedColumns::read(&record).expect("readable");
        assert_eq!(read.line, 7);
        assert_eq!(read.status, Verified::Changed);
        assert_eq!(read.display_name.into_string(), "=HYPERLINK(\"x\")");
        assert_eq!(read.error_message.into_string(), "+note");
        assert_eq!(read.results_fingerprint, fingerprint);
        assert_eq!(record.len(), VerifiedColumns::names().len() + 1);

        let raw = written(&VerifiedRow::of(&outcome, &verdict, &fingerprint, true));
        assert!(
            raw.contains(",\"=HYPERLINK(") && raw.ends_with(",-1\n"),
            "{raw}"
        );
    }

    #[test]
    fn a_line_that_is_not_a_number_is_named_by_its_column() {
        let fingerprint = fingerprint().cell();
        let record = read_back(&format!("x7,a,u,current,,,,,t,{fingerprint}\n"));
        let problem = VerifiedColumns::read(&record).expect_err("x7 is no line");
        assert_eq!(problem, "the line cell \"x7\" is not a whole number");
        let record = read_back("7,a,u,current,,,,,t,nonsense\n");
        let problem = VerifiedColumns::read(&record).expect_err("no fingerprint");
        assert_eq!(
            problem,
            "the results fingerprint \"nonsense\" is not LENGTH:SHA256"
        );
    }
}
