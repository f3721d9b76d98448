//! The rows hidden in a sheet of an `.xlsx` or `.xlsm` workbook, which calamine does not report:
//! read from the sheet's own XML, where a row hidden by hand and a row filtered out by an
//! autofilter are both written `<row r="N" hidden="1">`.
//!
//! The sheet's part is found as Excel finds it: its name in `xl/workbook.xml` gives a
//! relationship id, which `xl/_rels/workbook.xml.rels` maps to the part.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// The sheet rows (1-based) hidden in `sheet` of the workbook at `path`, for the formats whose
/// hidden rows are known (`.xlsx`, `.xlsm`); empty for the others.
pub fn hidden_rows(path: &Path, sheet: &str) -> io::Result<BTreeSet<u64>> {
    let extension = path.extension().and_then(|ext| ext.to_str()).unwrap_or("");
    if !["xlsx", "xlsm"]
        .iter()
        .any(|known| known.eq_ignore_ascii_case(extension))
    {
        return Ok(BTreeSet::new());
    }
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(invalid)?;
    let relationship = attribute_of(&mut archive, "xl/workbook.xml", "sheet", |element| {
        (value(element, "name")?.as_deref() == Some(sheet))
            .then(|| prefixed_value(element, "id"))
            .transpose()
            .map(Option::flatten)
    })?
    .ok_or_else(|| invalid(format!("xl/workbook.xml names no sheet {sheet:?}")))?;
    let target = attribute_of(
        &mut archive,
        "xl/_rels/workbook.xml.rels",
        "Relationship",
        |element| {
            (value(element, "Id")?.as_deref() == Some(relationship.as_str()))
                .then(|| value(element, "Target"))
                .transpose()
                .map(Option::flatten)
        },
    )?
    .ok_or_else(|| invalid(format!("no part for the relationship {relationship}")))?;
    // A target is relative to `xl/`, or absolute from the package's root.
    let part = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("xl/{target}"),
    };
    let entry = archive.by_name(&part).map_err(invalid)?;
    hidden_in(BufReader::new(entry))
}

/// The `r` of every `<row>` marked hidden, in a worksheet's XML. A row without `r` follows the
/// one before it.
fn hidden_in(xml: impl BufRead) -> io::Result<BTreeSet<u64>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut hidden = BTreeSet::new();
    let mut row = 0;
    loop {
        match reader.read_event_into(&mut buf).map_err(invalid)? {
            Event::Start(element) | Event::Empty(element)
                if element.local_name().into_inner() == "row" =>
            {
                row = match value(&element, "r")? {
                    Some(r) => r
                        .parse()
                        .map_err(|_| invalid(format!("a row numbered {r:?}")))?,
                    None => row + 1,
                };
                let flag = value(&element, "hidden")?;
                if matches!(flag.as_deref(), Some("1" | "true")) {
                    hidden.insert(row);
                }
            }
            Event::End(element) if element.local_name().into_inner() == "sheetData" => break,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(hidden)
}

/// The first answer `pick` gives for an `element` of the XML part `name`.
fn attribute_of<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    element: &str,
    mut pick: impl FnMut(&BytesStart) -> io::Result<Option<String>>,
) -> io::Result<Option<String>> {
    let part = archive.by_name(name).map_err(invalid)?;
    let mut reader = Reader::from_reader(BufReader::new(part));
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(invalid)? {
            Event::Start(found) | Event::Empty(found)
                if found.local_name().into_inner() == element =>
            {
                if let Some(answer) = pick(&found)? {
                    return Ok(Some(answer));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
        buf.clear();
    }
}

/// The value of the attribute `key` (without a prefix), unescaped.
fn value(element: &BytesStart, key: &str) -> io::Result<Option<String>> {
    attribute(element, |name, prefixed| !prefixed && name == key)
}

/// The value of the attribute `key` with a namespace prefix (`r:id`), unescaped.
fn prefixed_value(element: &BytesStart, key: &str) -> io::Result<Option<String>> {
    attribute(element, |name, prefixed| prefixed && name == key)
}

fn attribute(
    element: &BytesStart,
    wanted: impl Fn(&str, bool) -> bool,
) -> io::Result<Option<String>> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(invalid)?;
        let key = attribute.key;
        if wanted(key.local_name().into_inner(), key.prefix().is_some()) {
            let text = attribute
                .normalized_value(XmlVersion::default())
                .map_err(invalid)?;
            return Ok(Some(text.into_owned()));
        }
    }
    Ok(None)
}

fn invalid(err: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_rows_are_read_by_number_and_in_order() {
        let xml = br#"<worksheet xmlns="main"><sheetData>
            <row r="1"><c r="A1"/></row>
            <row r="3" hidden="1"><c r="A3"/></row>
            <row hidden="true"/>
            <row r="7" hidden="0"/>
            </sheetData><row r="9" hidden="1"/></worksheet>"#;
        let hidden = hidden_in(&xml[..]).unwrap();
        assert_eq!(hidden.into_iter().collect::<Vec<_>>(), vec![3, 4]);
    }
}
