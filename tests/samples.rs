//! The spreadsheet samples in `samples/`, made by this module and never by hand: a rotation in
//! Windows-1252 (what Excel's "CSV (Comma delimited)" writes on Windows), an offboarding
//! workbook, each holding accented carried values, and an HR list of leavers by email for the
//! README's offboarding sweep. The test fails when a committed sample is
//! not what this module makes; `CHIME_PIN_RESET_WRITE_SAMPLES=1 cargo test samples::` writes
//! them anew. A second test rehearses each as the README says.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};

use crate::support::{exits_with, output_of, read_rows, Workdir};

/// Set to `1` to write the samples instead of checking them.
const WRITE_SAMPLES: &str = "CHIME_PIN_RESET_WRITE_SAMPLES";

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The rows of a sample CSV, header first.
fn sample_rows(name: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(samples().join(name))
        .expect("a sample");
    reader.records().map(|r| r.expect("a sample row")).collect()
}

/// samples/rotation.csv with French team names, in Windows-1252 with CRLF line ends.
fn rotation_windows_1252() -> Vec<u8> {
    let mut text = String::new();
    for row in sample_rows("rotation.csv") {
        let team = match &row[3] {
            "Northwind Sales" => "Ventes Montréal",
            "Northwind Support" => "Support Québec",
            other => other,
        };
        text.push_str(&format!("{},{},{},{team}\r\n", &row[0], &row[1], &row[2]));
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable, "every character has a Windows-1252 byte");
    bytes.into_owned()
}

/// Leavers of the support account of samples/directory.csv, half by user id and half by
/// email, with a ticket number, a leaving date and an accented team, as HR hands them over.
fn offboarding_xlsx() -> Vec<u8> {
    let directory = sample_rows("directory.csv");
    let leavers: Vec<&csv::StringRecord> = directory
        .iter()
        .filter(|row| row[2].ends_with("@support.example.com"))
        .take(6)
        .collect();
    let mut workbook = Workbook::new();
    // A fixed creation time: the same rows make the same bytes.
    let created = ExcelDateTime::from_ymd(2026, 1, 5).expect("a date");
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let sheet = workbook.add_worksheet();
    sheet.set_name("Leavers").expect("a sheet name");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let headers = [
        "Account ID",
        "User ID",
        "Email",
        "Ticket",
        "Left on",
        "Team",
    ];
    for (column, name) in headers.into_iter().enumerate() {
        sheet.write_string(0, column as u16, name).expect("write");
    }
    let left_on = ExcelDateTime::from_ymd(2026, 3, 31).expect("a date");
    for (index, leaver) in leavers.iter().enumerate() {
        let row = 1 + index as u32;
        sheet.write_string(row, 0, &leaver[0]).expect("write");
        if index % 2 == 0 {
            sheet.write_string(row, 1, &leaver[1]).expect("write");
        } else {
            sheet.write_string(row, 2, &leaver[2]).expect("write");
        }
        sheet
            .write_number(row, 3, 2051.0 + index as f64)
            .expect("write");
        sheet
            .write_datetime_with_format(row, 4, &left_on, &date)
            .expect("write");
        sheet
            .write_string(row, 5, "Service après-vente")
            .expect("write");
    }
    workbook.save_to_buffer().expect("a workbook")
}

/// The email of a leaver HR lists whom Chime no longer has (removed before the sweep).
const ALREADY_GONE: &str = "pat.quinn@support.example.com";

/// HR's list of leavers, by email only, as the README's offboarding sweep starts from it:
/// five users of the support account after those of offboarding.xlsx (one email typed in
/// capitals), and one leaver already removed from Chime.
fn hr_leavers_xlsx() -> Vec<u8> {
    let directory = sample_rows("directory.csv");
    let support: Vec<&csv::StringRecord> = directory
        .iter()
        .filter(|row| row[2].ends_with("@support.example.com"))
        .collect();
    let mut emails: Vec<String> = support
        .iter()
        .skip(6)
        .take(5)
        .map(|row| row[2].to_string())
        .collect();
    emails[1] = emails[1].to_uppercase();
    emails.push(ALREADY_GONE.to_string());
    let mut workbook = Workbook::new();
    let created = ExcelDateTime::from_ymd(2026, 4, 1).expect("a date");
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let sheet = workbook.add_worksheet();
    sheet.set_name("Leavers").expect("a sheet name");
    for (column, name) in ["Account ID", "Email", "Ticket"].into_iter().enumerate() {
        sheet.write_string(0, column as u16, name).expect("write");
    }
    let account = &support[0][0];
    for (index, email) in emails.iter().enumerate() {
        let row = 1 + index as u32;
        sheet.write_string(row, 0, account).expect("write");
        sheet.write_string(row, 1, email).expect("write");
        let ticket = format!("HR-{}", 3100 + index);
        sheet.write_string(row, 2, &ticket).expect("write");
    }
    workbook.save_to_buffer().expect("a workbook")
}

#[test]
fn the_spreadsheet_samples_are_what_this_module_makes() {
    let made = [
        ("rotation-windows-1252.csv", rotation_windows_1252()),
        ("offboarding.xlsx", offboarding_xlsx()),
        ("hr-leavers.xlsx", hr_leavers_xlsx()),
    ];
    let rewrite = std::env::var(WRITE_SAMPLES).as_deref() == Ok("1");
    let mut stale = Vec::new();
    for (name, bytes) in made {
        let path = samples().join(name);
        // Compared before any rewrite: a run that writes the samples still fails when they
        // were not what this module makes, so it never passes by checking its own output.
        if std::fs::read(&path).unwrap_or_default() != bytes {
            if rewrite {
                std::fs::write(&path, &bytes).expect("write the sample");
            }
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} not what tests/samples.rs makes{}",
        if rewrite {
            ": rewritten, check and commit them"
        } else {
            ": run CHIME_PIN_RESET_WRITE_SAMPLES=1 cargo test --test tests samples::"
        }
    );
}

/// Rehearses `args` (`run --simulate …`) in `work` and returns the results rows.
fn rehearse(work: &Workdir, args: &[&str]) -> Vec<crate::support::Row> {
    let mut cmd = work.command(&["run", "--simulate", "--rate", "0", "-o", "results.csv"]);
    cmd.args(args);
    exits_with(&output_of(cmd), 0);
    read_rows(work, "results.csv")
}

#[test]
fn the_spreadsheet_samples_rehearse_with_every_user_reset() {
    let samples = samples();
    let work = Workdir::new();
    let rotation = samples.join("rotation-windows-1252.csv");
    let rows = rehearse(&work, &[rotation.to_str().expect("a UTF-8 path")]);
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|row| row["status"] == "reset"));
    assert!(rows.iter().any(|row| row["team"] == "Ventes Montréal"));
    assert!(rows.iter().any(|row| row["team"] == "Support Québec"));

    let work = Workdir::new();
    let directory = samples.join("directory.csv");
    let offboarding = samples.join("offboarding.xlsx");
    let rows = rehearse(
        &work,
        &[
            "--pins",
            "omit",
            "--simulate-directory",
            directory.to_str().expect("a UTF-8 path"),
            offboarding.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row["status"], "reset", "{:?}", row["error_message"]);
        assert_eq!(row["Team"], "Service après-vente");
        assert_eq!(row["Left on"], "2026-03-31");
    }
}

#[test]
fn the_hr_list_sweeps_as_the_readme_says_with_a_leaver_already_gone() {
    let samples = samples();
    let work = Workdir::new();
    let directory = samples.join("directory.csv");
    let leavers = samples.join("hr-leavers.xlsx");
    let rows = rehearse(
        &work,
        &[
            "--pins",
            "omit",
            "--logout",
            "--missing-ok",
            "--simulate-directory",
            directory.to_str().expect("a UTF-8 path"),
            leavers.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(rows.len(), 6);
    for row in &rows {
        match row["Ticket"].as_str() {
            // The leaver already removed from Chime.
            "HR-3105" => assert_eq!(row["status"], "gone"),
            _ => {
                assert_eq!(row["status"], "reset", "{:?}", row["error_message"]);
                assert_eq!(row["logout"], "done");
            }
        }
    }
    let report = work.command(&["report", "--markdown", "results.csv"]);
    exits_with(&output_of(report), 0);
}
