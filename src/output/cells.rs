//! The cells the records of our files are made of, and what the records share: a text cell
//! that is neutralised on the way out and restored on the way in, the carried input cells that
//! follow our columns, a record's column names read off its type, and a cell that cannot be
//! read told in words.
//!
//! The records themselves are [`super::results_record`], `verify`'s verified record and
//! `export`'s exported user; each
//! is written with serde through `csv` (`Writer::serialize`) and read back with
//! `ByteRecord::deserialize`, positionally, so that its struct is the one place its columns are
//! named and ordered.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// A cell of text from the service or the input. A spreadsheet would run one that starts like
/// a formula, so it is written neutralised (a leading apostrophe) unless `--raw-cells`, and
/// restored when read back: what a reader gets is what Chime or the input held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text<'a> {
    value: Cow<'a, str>,
    raw: bool,
}

impl<'a> Text<'a> {
    /// `value`, to be written neutralised unless `raw_cells`.
    pub fn new(value: impl Into<Cow<'a, str>>, raw_cells: bool) -> Self {
        Text {
            value: value.into(),
            raw: raw_cells,
        }
    }

    /// An optional value: an empty cell when there is none.
    pub fn optional(value: Option<&'a String>, raw_cells: bool) -> Self {
        Text::new(value.map_or("", String::as_str), raw_cells)
    }

    /// The text as Chime or the input held it.
    pub fn into_string(self) -> String {
        self.value.into_owned()
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.raw, needs_neutralising(&self.value)) {
            (false, true) => serializer.serialize_str(&neutralize(&self.value)),
            _ => serializer.serialize_str(&self.value),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let written = <&'de str>::deserialize(deserializer)?;
        Ok(Text::new(unneutralize(written), false))
    }
}

/// Whether a spreadsheet would take the text for a formula.
fn needs_neutralising(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice on
/// CSV injection).
pub fn neutralize(text: &str) -> String {
    if needs_neutralising(text) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// Undoes [`neutralize`], for reading cells back.
pub fn unneutralize(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if needs_neutralising(rest) => rest,
        _ => text,
    }
}

/// The carried input cells that follow our columns, as [`Text`] cells: as many as the input
/// has columns, so a sequence rather than fields of a record.
pub struct Carried<'a> {
    pub cells: &'a [String],
    pub raw_cells: bool,
}

impl Serialize for Carried<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut cells = serializer.serialize_seq(Some(self.cells.len()))?;
        for cell in self.cells {
            cells.serialize_element(&Text::new(cell.as_str(), self.raw_cells))?;
        }
        cells.end()
    }
}

/// A file's header: our columns (its record's names), then the carried columns' names, which
/// came from the input and are [`Text`] cells like the carried cells under them.
pub fn header<'a>(
    ours: impl Iterator<Item = &'static str>,
    carried: Carried<'a>,
) -> impl Serialize + 'a {
    (ours.collect::<Vec<_>>(), carried)
}

/// The carried cells of a row read back, restored, after the first `ours` fields; the problem
/// in words when one is not UTF-8.
pub fn carried_cells(record: &csv::ByteRecord, ours: usize) -> Result<Vec<String>, String> {
    record
        .iter()
        .skip(ours)
        .map(|cell| match std::str::from_utf8(cell) {
            Ok(text) => Ok(unneutralize(text).to_string()),
            Err(_) => Err("the carried cell is not UTF-8".to_string()),
        })
        .collect()
}

/// The column names of a record type, in order: the names of its struct's fields, as serde
/// sees them. The record is the one place they are written.
pub fn column_names<'de, Record: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The deserializer below only ever fails: it keeps the field names it is shown.
    let _ = Record::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that asks for nothing but a struct's field names.
struct FieldNames<'n>(&'n mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("a record is a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the names were wanted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A row whose fields could not be read as its record says, in words that name the column
/// (`columns` are the file's, ours first, in order).
pub fn unreadable_cell(err: &csv::Error, record: &csv::ByteRecord, columns: &[&str]) -> String {
    let csv::ErrorKind::Deserialize { err, .. } = err.kind() else {
        return err.to_string();
    };
    let index = err.field().and_then(|field| usize::try_from(field).ok());
    let column = index
        .and_then(|index| columns.get(index))
        .copied()
        .unwrap_or("carried");
    let cell = index
        .and_then(|index| record.get(index))
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    match err.kind() {
        csv::DeserializeErrorKind::InvalidUtf8(_) => format!("the {column} cell is not UTF-8"),
        csv::DeserializeErrorKind::ParseInt(_) => {
            format!("the {column} cell {cell:?} is not a whole number")
        }
        // Our cells' own checks, which say what the cell holds and should hold (`csv` does
        // not tell which field they were).
        csv::DeserializeErrorKind::Message(message) => message.clone(),
        _ => format!("the {column} cell cannot be read ({err})"),
    }
}

/// Reads a cell that must hold one of `values`, named by `name` (their `as_str`): for the
/// record fields that are our enums; the error says the cell is not `what`.
pub fn one_of<'de, D, T>(
    deserializer: D,
    values: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> &'static str,
    what: &str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = <&'de str>::deserialize(deserializer)?;
    values
        .into_iter()
        .find(|value| name(value) == text)
        .ok_or_else(|| de::Error::custom(format!("{text:?} is not {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_undone() {
        assert_eq!(neutralize("=1+1"), "'=1+1");
        assert_eq!(neutralize("-x"), "'-x");
        assert_eq!(neutralize("plain"), "plain");
        assert_eq!(unneutralize("'=1+1"), "=1+1");
        assert_eq!(unneutralize("'plain"), "'plain");
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Two {
        first: u64,
        #[serde(rename = "second_name")]
        second: String,
    }

    #[test]
    fn a_record_names_its_columns() {
        assert_eq!(column_names::<Two>(), ["first", "second_name"]);
    }
}
