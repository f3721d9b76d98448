//! A record's cells as a workbook takes them: the record is serialised as it is for its CSV
//! file, so the workbook has its columns in the order the record owns, but each cell keeps its
//! kind: a number stays a number, the PIN stays the PIN (for the PIN policy), all else is text.

use serde::ser::{self, Impossible, Serialize, Serializer};

use crate::output::results_record::PIN_CELL;

/// One cell of a workbook's table. It may hold a PIN in clear, so it has no `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub enum TableCell {
    Number(u64),
    Text(String),
    /// The PIN cell, as the results file has it: the workbook applies `--pins` again.
    Pin(String),
}

impl TableCell {
    pub fn empty() -> Self {
        TableCell::Text(String::new())
    }
}

/// The cells of `record`, in its order; an error only for a record of a shape no file has.
pub fn table_cells(record: &impl Serialize) -> Result<Vec<TableCell>, CellError> {
    let mut cells = Vec::new();
    record.serialize(&mut Cells(&mut cells))?;
    Ok(cells)
}

/// A record that cannot be a table row (a map, an enum with fields).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CellError(String);

impl ser::Error for CellError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CellError(message.to_string())
    }
}

struct Cells<'c>(&'c mut Vec<TableCell>);

impl Cells<'_> {
    fn text(&mut self, text: impl Into<String>) -> Result<(), CellError> {
        self.0.push(TableCell::Text(text.into()));
        Ok(())
    }

    fn number(&mut self, number: u64) -> Result<(), CellError> {
        self.0.push(TableCell::Number(number));
        Ok(())
    }
}

impl Serializer for &mut Cells<'_> {
    type Ok = ();
    type Error = CellError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeStruct = Self;
    type SerializeTupleVariant = Impossible<(), CellError>;
    type SerializeMap = Impossible<(), CellError>;
    type SerializeStructVariant = Impossible<(), CellError>;

    fn serialize_bool(self, value: bool) -> Result<(), CellError> {
        self.text(value.to_string())
    }
    fn serialize_i8(self, value: i8) -> Result<(), CellError> {
        self.serialize_i64(value.into())
    }
    fn serialize_i16(self, value: i16) -> Result<(), CellError> {
        self.serialize_i64(value.into())
    }
    fn serialize_i32(self, value: i32) -> Result<(), CellError> {
        self.serialize_i64(value.into())
    }
    fn serialize_i64(self, value: i64) -> Result<(), CellError> {
        match u64::try_from(value) {
            Ok(number) => self.number(number),
            Err(_) => self.text(value.to_string()),
        }
    }
    fn serialize_u8(self, value: u8) -> Result<(), CellError> {
        self.number(value.into())
    }
    fn serialize_u16(self, value: u16) -> Result<(), CellError> {
        self.number(value.into())
    }
    fn serialize_u32(self, value: u32) -> Result<(), CellError> {
        self.number(value.into())
    }
    fn serialize_u64(self, value: u64) -> Result<(), CellError> {
        self.number(value)
    }
    fn serialize_f32(self, value: f32) -> Result<(), CellError> {
        self.text(value.to_string())
    }
    fn serialize_f64(self, value: f64) -> Result<(), CellError> {
        self.text(value.to_string())
    }
    fn serialize_char(self, value: char) -> Result<(), CellError> {
        self.text(value)
    }
    fn serialize_str(self, value: &str) -> Result<(), CellError> {
        self.text(value)
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), CellError> {
        self.text(String::from_utf8_lossy(value))
    }
    fn serialize_none(self) -> Result<(), CellError> {
        self.text("")
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), CellError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CellError> {
        self.text("")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CellError> {
        self.text("")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CellError> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), CellError> {
        value.serialize(&mut *self)?;
        if name == PIN_CELL {
            if let Some(TableCell::Text(pin)) = self.0.pop() {
                self.0.push(TableCell::Pin(pin));
            }
        }
        Ok(())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), CellError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, CellError> {
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, CellError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, CellError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CellError> {
        Err(ser::Error::custom(format!(
            "{name}: no cells for an enum of tuples"
        )))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CellError> {
        Err(ser::Error::custom("no cells for a map"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, CellError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CellError> {
        Err(ser::Error::custom(format!(
            "{name}: no cells for an enum of structs"
        )))
    }
}

/// A compound value's parts are cells one after the other, in order: the row is flat.
macro_rules! cells_in_order {
    ($($compound:ident :: $part:ident),*) => {$(
        impl ser::$compound for &mut Cells<'_> {
            type Ok = ();
            type Error = CellError;
            fn $part<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CellError> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), CellError> {
                Ok(())
            }
        }
    )*};
}

cells_in_order!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeStruct for &mut Cells<'_> {
    type Ok = ();
    type Error = CellError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), CellError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CellError> {
        Ok(())
    }
}
