//! The record of the results file: the one place its columns are named and ordered.
//!
//! A results row is [`ResultsColumns`], then (in results written since offboarding) the
//! [`OffboardingColumns`], then the input's carried columns. It is written with serde through
//! `csv` ([`ResultsLine`]) and read back the same way ([`ResultsLayout::read`]): the text cells
//! are neutralised on the way out unless `--raw-cells` and restored on the way in, and the
//! numbers are numbers, so a cell that is not one is an error naming its column rather than a
//! silent 0.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::cells::{column_names, one_of, unreadable_cell, Carried, Text};
use super::PinPolicy;
use crate::outcome::{Logout, Outcome, RowStatus};
use crate::rules::rfc3339_millis;

/// Our columns of a results row, in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultsColumns<'a> {
    /// The row's line in its input.
    pub line: u64,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub user_id: Text<'a>,
    #[serde(with = "status_cell")]
    pub status: RowStatus,
    /// In full, masked or empty, as `--pins` said: never neutralised (a PIN is digits).
    #[serde(borrow)]
    pub personal_pin: PinCell<'a>,
    #[serde(borrow)]
    pub primary_email: Text<'a>,
    #[serde(borrow)]
    pub display_name: Text<'a>,
    #[serde(borrow)]
    pub error_code: Text<'a>,
    #[serde(borrow)]
    pub error_message: Text<'a>,
    pub attempts: u32,
    #[serde(borrow)]
    pub request_id: Text<'a>,
    /// RFC 3339 in UTC, to the millisecond: our own text, never neutralised.
    #[serde(borrow)]
    pub finished_at: Cow<'a, str>,
}

/// The columns that came with offboarding, right after [`ResultsColumns`]: the email the row
/// gave beside its user id, and what became of `--logout`. Results written before them lack
/// them; those are still read, and appended to in their own layout.
#[derive(Debug, Serialize, Deserialize)]
pub struct OffboardingColumns<'a> {
    #[serde(borrow)]
    pub given_email: Text<'a>,
    #[serde(with = "logout_cell")]
    pub logout: Logout,
}

/// The PIN cell: a secret, so its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PinCell<'a>(Cow<'a, str>);

/// The name [`PinCell`] serialises under (a newtype, which `csv` writes as its text alone):
/// how a table of cells knows the PIN among them.
pub const PIN_CELL: &str = "PinCell";

impl<'a> PinCell<'a> {
    pub fn new(cell: impl Into<Cow<'a, str>>) -> Self {
        PinCell(cell.into())
    }

    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl fmt::Debug for PinCell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinCell(<redacted>)")
    }
}

impl Serialize for PinCell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(PIN_CELL, &*self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PinCell<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de str>::deserialize(deserializer).map(|cell| PinCell(Cow::Borrowed(cell)))
    }
}

mod status_cell {
    use super::*;

    pub fn serialize<S: Serializer>(status: &RowStatus, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RowStatus, D::Error> {
        let what = "a status of the results";
        one_of(deserializer, RowStatus::ALL, |status| status.as_str(), what)
    }
}

mod logout_cell {
    use super::*;

    pub fn serialize<S: Serializer>(logout: &Logout, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(logout.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Logout, D::Error> {
        let what = "a logout of the results";
        one_of(deserializer, Logout::ALL, |logout| logout.as_str(), what)
    }
}

/// Our columns in a results file: whether it has the [`OffboardingColumns`] (results written
/// before them do not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultsLayout {
    pub offboarding: bool,
}

impl ResultsLayout {
    /// The layout of files written now.
    pub const CURRENT: ResultsLayout = ResultsLayout { offboarding: true };

    /// The columns every results file starts with: [`ResultsColumns`]'s.
    pub fn first_columns() -> &'static [&'static str] {
        column_names::<ResultsColumns>()
    }

    /// The layout of a results header; `None` when it does not start with our columns.
    pub fn of_header(names: &[impl AsRef<str>]) -> Option<ResultsLayout> {
        let starts_with = |at: usize, columns: &[&str]| {
            names.len() >= at + columns.len()
                && names[at..at + columns.len()]
                    .iter()
                    .zip(columns)
                    .all(|(name, ours)| name.as_ref() == *ours)
        };
        let first = Self::first_columns();
        starts_with(0, first).then(|| ResultsLayout {
            offboarding: starts_with(first.len(), column_names::<OffboardingColumns>()),
        })
    }

    /// Our columns in this layout, in order.
    pub fn columns(self) -> impl Iterator<Item = &'static str> {
        let offboarding = match self.offboarding {
            true => column_names::<OffboardingColumns>(),
            false => &[],
        };
        Self::first_columns().iter().chain(offboarding).copied()
    }

    /// How many of the fields of a row are ours.
    pub fn width(self) -> usize {
        self.columns().count()
    }

    /// Whether `name` is one of our columns in any layout.
    pub fn is_ours(name: &str) -> bool {
        Self::CURRENT.columns().any(|ours| ours == name)
    }

    /// Our columns of a row read back, borrowing from it; the problem in words (naming the
    /// column) when a cell is not what the record says.
    pub fn read<'r>(self, record: &'r csv::ByteRecord) -> Result<ReadColumns<'r>, String> {
        let read = match self.offboarding {
            true => record
                .deserialize::<(ResultsColumns, OffboardingColumns)>(None)
                .map(|(ours, offboarding)| (ours, Some(offboarding))),
            false => record
                .deserialize::<ResultsColumns>(None)
                .map(|ours| (ours, None)),
        };
        read.map_err(|err| unreadable_cell(&err, record, &self.columns().collect::<Vec<_>>()))
    }
}

/// Our columns of a row read back; the offboarding ones when the file has them.
pub type ReadColumns<'r> = (ResultsColumns<'r>, Option<OffboardingColumns<'r>>);

/// A results row to write: our columns, the offboarding ones unless the file predates them,
/// and the carried cells.
pub struct ResultsLine<'a> {
    pub columns: ResultsColumns<'a>,
    pub offboarding: Option<OffboardingColumns<'a>>,
    pub carried: Carried<'a>,
}

impl<'a> ResultsLine<'a> {
    /// The row of `outcome`, its PIN as `pins` says, in a file of `layout`.
    pub fn of(
        outcome: &'a Outcome,
        pins: PinPolicy,
        raw_cells: bool,
        layout: ResultsLayout,
    ) -> Self {
        let text = |value: &'a str| Text::new(value, raw_cells);
        let optional = |value: Option<&'a String>| Text::optional(value, raw_cells);
        let user = outcome.user.as_ref();
        let pin = user
            .and_then(|user| user.personal_pin.as_ref())
            .filter(|_| outcome.status == RowStatus::Reset)
            .map(|pin| match pins {
                PinPolicy::Full => Cow::Borrowed(pin.expose()),
                _ => Cow::Owned(pins.apply(pin.expose())),
            })
            .unwrap_or_default();
        let columns = ResultsColumns {
            line: outcome.line,
            account_id: text(&outcome.account_id),
            user_id: text(&outcome.user_id),
            status: outcome.status,
            personal_pin: PinCell(pin),
            primary_email: optional(user.and_then(|user| user.primary_email.as_ref())),
            display_name: optional(user.and_then(|user| user.display_name.as_ref())),
            error_code: optional(outcome.error_code.as_ref()),
            error_message: optional(outcome.error_message.as_ref()),
            attempts: outcome.attempts,
            request_id: optional(outcome.request_id.as_ref()),
            finished_at: Cow::Owned(rfc3339_millis(outcome.finished_at)),
        };
        let offboarding = layout.offboarding.then(|| OffboardingColumns {
            given_email: optional(outcome.given_email.as_ref()),
            logout: outcome.logout,
        });
        ResultsLine {
            columns,
            offboarding,
            carried: Carried {
                cells: &outcome.carried,
                raw_cells,
            },
        }
    }
}

impl Serialize for ResultsLine<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `csv` writes the fields of a tuple's elements one after the other: one row.
        let mut row = serializer.serialize_tuple(3)?;
        row.serialize_element(&self.columns)?;
        if let Some(offboarding) = &self.offboarding {
            row.serialize_element(offboarding)?;
        }
        row.serialize_element(&self.carried)?;
        row.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Pin, UserRecord};

    fn outcome(name: &str) -> Outcome {
        Outcome::new(2, "a".into(), "u".into(), RowStatus::Reset)
            .with_user(UserRecord {
                user_id: "u".into(),
                display_name: Some(name.into()),
                personal_pin: Some(Pin::new("0123456789")),
                ..UserRecord::default()
            })
            .with_calls(3, Some("-req".into()))
            .with_carried(vec!["@SUM(A1)".into(), "plain".into()])
            .with_given_email(Some("+1@example.com".into()))
    }

    fn written(outcome: &Outcome, pins: PinPolicy, raw: bool, layout: ResultsLayout) -> Vec<u8> {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        csv.serialize(ResultsLine::of(outcome, pins, raw, layout))
            .expect("a row serialises");
        csv.into_inner().expect("flushed into memory")
    }

    fn read_back(bytes: &[u8]) -> csv::ByteRecord {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        assert!(csv.read_byte_record(&mut record).expect("CSV"));
        record
    }

    #[test]
    fn a_row_written_then_read_gives_the_same_values_restored() {
        let outcome = outcome("=HYPERLINK(\"x\")");
        let bytes = written(&outcome, PinPolicy::Full, false, ResultsLayout::CURRENT);
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(text.contains("'=HYPERLINK") && text.contains(",'@SUM(A1),plain"));
        assert!(
            text.contains(",'-req,"),
            "the request id is neutralised too"
        );

        let record = read_back(&bytes);
        let (ours, offboarding) = ResultsLayout::CURRENT.read(&record).expect("readable");
        assert_eq!(ours.line, 2);
        assert_eq!(ours.attempts, 3);
        assert_eq!(ours.status, RowStatus::Reset);
        assert!(
            ours.personal_pin.into_string() == "0123456789",
            "the PIN as written"
        );
        assert_eq!(ours.display_name.into_string(), "=HYPERLINK(\"x\")");
        assert_eq!(ours.request_id.into_string(), "-req");
        let offboarding = offboarding.expect("the current layout has them");
        assert_eq!(offboarding.given_email.into_string(), "+1@example.com");
        assert_eq!(offboarding.logout, Logout::NotAsked);
        let width = ResultsLayout::CURRENT.width();
        let carried = super::super::cells::carried_cells(&record, width).expect("UTF-8");
        assert_eq!(carried, ["@SUM(A1)", "plain"]);
    }

    #[test]
    fn the_old_layout_has_no_offboarding_cells_and_raw_cells_are_as_they_are() {
        let old = ResultsLayout { offboarding: false };
        let bytes = written(&outcome("=x"), PinPolicy::Masked, true, old);
        let record = read_back(&bytes);
        assert_eq!(record.len(), old.width() + 2);
        assert_eq!(&record[6], b"=x");
        assert_eq!(&record[4], b"********89");
        assert_eq!(&record[12], b"@SUM(A1)");
        let (ours, offboarding) = old.read(&record).expect("readable");
        assert!(offboarding.is_none());
        assert_eq!(ours.display_name.into_string(), "=x");
    }

    #[test]
    fn a_number_that_is_not_one_is_named_by_its_column() {
        let bytes = written(
            &outcome("x"),
            PinPolicy::Omit,
            false,
            ResultsLayout::CURRENT,
        );
        let text = String::from_utf8(bytes).expect("UTF-8");
        let corrupt = text.replacen(",3,", ",three,", 1);
        let problem = ResultsLayout::CURRENT
            .read(&read_back(corrupt.as_bytes()))
            .expect_err("three is not a number");
        assert_eq!(problem, "the attempts cell \"three\" is not a whole number");
        let bad_status = text.replacen(",reset,", ",done,", 1);
        let problem = ResultsLayout::CURRENT
            .read(&read_back(bad_status.as_bytes()))
            .expect_err("done is no status");
        assert_eq!(problem, "\"done\" is not a status of the results");
    }

    #[test]
    fn the_header_comes_from_the_record() {
        let names: Vec<&str> = ResultsLayout::CURRENT.columns().collect();
        assert_eq!(names.first(), Some(&"line"));
        assert_eq!(names.last(), Some(&"logout"));
        assert_eq!(
            ResultsLayout::of_header(&names),
            Some(ResultsLayout::CURRENT)
        );
        let old = &names[..12];
        assert_eq!(
            ResultsLayout::of_header(old),
            Some(ResultsLayout { offboarding: false })
        );
        assert_eq!(ResultsLayout::of_header(&names[1..]), None);
    }

    #[test]
    fn the_pin_cell_is_never_shown_by_debug() {
        let outcome = outcome("x");
        let line = ResultsLine::of(&outcome, PinPolicy::Full, false, ResultsLayout::CURRENT);
        assert!(!format!("{:?}", line.columns).contains("0123456789"));
    }
}
