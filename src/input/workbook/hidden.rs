//! The rows hidden in a sheet of a workbook, which calamine does not report: read from the
//! sheet's own XML. In `.xlsx` and `.xlsm` a row hidden by hand and a row filtered out by an
//! autofilter are both written `<row r="N" hidden="1">`; the sheet's part is found as Excel
//! finds it, its name in `xl/workbook.xml` giving a relationship id that
//! `xl/_rels/workbook.xml.rels` maps to the part. In `.ods` they are `table:table-row`s with
//! `table:visibility="collapse"` or `"filter"`, counted with `table:number-rows-repeated` as
//! calamine counts them. `.xls` and `.xlsb` are binary: their hidden rows are not known.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// The sheet rows (1-based, up to `last_row`) hidden in `sheet` of the workbook at `path`, for
/// the formats whose hidden rows are known (`.xlsx`, `.xlsm`, `.ods`); empty for the others.
pub fn hidden_rows(path: &Path, sheet: &str, last_row: u64) -> io::Result<BTreeSet<u64>> {
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let open = || -> io::Result<_> {
        zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(invalid)
    };
    match extension.as_str() {
        "xlsx" | "xlsm" => hidden_in_xlsx(&mut open()?, sheet),
        "ods" => {
            let mut archive = open()?;
            let content = archive.by_name("content.xml").map_err(invalid)?;
            hidden_in_ods(BufReader::new(content), sheet, last_row)
        }
        _ => Ok(BTreeSet::new()),
    }
}

fn hidden_in_xlsx<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    sheet: &str,
) -> io::Result<BTreeSet<u64>> {
    let relationship = attribute_of(archive, "xl/workbook.xml", "sheet", |element| {
        (value(element, "name")?.as_deref() == Some(sheet))
            .then(|| prefixed_value(element, "id"))
            .transpose()
            .map(Option::flatten)
    })?
    .ok_or_else(|| invalid(format!("xl/workbook.xml names no sheet {sheet:?}")))?;
    let target = attribute_of(
        archive,
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

/// The rows of the table `sheet` that an `.ods` `content.xml` hides, up to `last_row`: a row
/// repeated stands for as many rows (trailing empty rows are often repeated a million times).
fn hidden_in_ods(xml: impl BufRead, sheet: &str, last_row: u64) -> io::Result<BTreeSet<u64>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut hidden = BTreeSet::new();
    let mut in_sheet = false;
    let mut row = 0;
    loop {
        match reader.read_event_into(&mut buf).map_err(invalid)? {
            Event::Start(element) if element.local_name().into_inner() == "table" => {
                in_sheet = prefixed_value(&element, "name")?.as_deref() == Some(sheet);
            }
            Event::Start(element) | Event::Empty(element)
                if in_sheet && element.local_name().into_inner() == "table-row" =>
            {
                let repeated = match prefixed_value(&element, "number-rows-repeated")? {
                    Some(count) => count
                        .parse()
                        .map_err(|_| invalid(format!("a row repeated {count:?} times")))?,
                    None => 1,
                };
                let visibility = prefixed_value(&element, "visibility")?;
                if matches!(visibility.as_deref(), Some("collapse" | "filter")) {
                    hidden.extend(row + 1..=(row + repeated).min(last_row));
                }
                row += repeated;
            }
            Event::End(element) if in_sheet && element.local_name().into_inner() == "table" => {
                break
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(hidden)
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

    #[test]
    fn hidden_ods_rows_count_their_repeats_in_the_named_table_only() {
        let xml = br#"<office:document-content xmlns:table="t"><office:body>
            <table:table table:name="Other"><table:table-row table:visibility="collapse"/>
            </table:table>
            <table:table table:name="Users">
            <table:table-row><table:table-cell/></table:table-row>
            <table:table-row table:visibility="filter"><table:table-cell/></table:table-row>
            <table:table-row table:number-rows-repeated="2"/>
            <table:table-row table:visibility="collapse" table:number-rows-repeated="3"/>
            <table:table-row table:visibility="collapse" table:number-rows-repeated="1048000"/>
            </table:table></office:body></office:document-content>"#;
        let hidden = hidden_in_ods(&xml[..], "Users", 8).unwrap();
        assert_eq!(hidden.into_iter().collect::<Vec<_>>(), vec![2, 5, 6, 7, 8]);
    }
}
