//! Unit tests of the strict reader and of each user's final row, over files written here.

use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::outcome::{Logout, RowStatus};

const PIN: &str = "1234567890";

fn header() -> String {
    format!("{},team\n", ResultsLayout::first_columns().join(","))
}

fn row(line: u64, user: &str, status: &str, pin: &str) -> String {
    format!("{line},acct,{user},{status},{pin},,,,,1,,2026-01-01T00:00:00.000Z,x\n")
}

fn file_of(contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents)
        .unwrap();
    (dir, path)
}

fn read_all(path: &Path) -> Result<Vec<ResultRow>, LedgerError> {
    RowReader::open(path)?.collect()
}

#[test]
fn rows_come_with_their_lines_and_a_cut_off_last_line_is_no_row() {
    let text = header()
        + &row(2, "u1", "reset", PIN)
        + &row(3, "u2", "failed", "")
        + "4,acct,u3,reset,0588";
    let (_dir, path) = file_of(text.as_bytes());
    let mut reader = RowReader::open(&path).unwrap();
    let rows: Vec<ResultRow> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].file_line, rows[1].file_line), (2, 3));
    assert_eq!(rows[1].status, RowStatus::Failed);
    assert_eq!(rows[0].carried, vec!["x".to_string()]);
    assert_eq!(reader.cut_off_line(), Some(4));
}

#[test]
fn a_row_that_is_not_utf8_or_not_whole_is_an_error_naming_its_line() {
    let mut bytes = (header() + &row(2, "u1", "reset", PIN)).into_bytes();
    bytes.extend_from_slice(b"3,acct,u\xff2,reset,,,,,,1,,t,x\n");
    bytes.extend_from_slice(row(4, "u3", "reset", PIN).as_bytes());
    let (_dir, path) = file_of(&bytes);
    let err = read_all(&path).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("UTF-8"), "{err}");

    let text = header() + "2,acct,u1,reset\n" + &row(3, "u2", "reset", PIN);
    let (_dir, path) = file_of(text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("fields"), "{err}");
}

#[test]
fn a_quote_never_closed_is_an_error_rather_than_swallowing_rows() {
    // The carried cell is the last column: the rows after it fit inside it, field count and all.
    let text = header()
        + "2,acct,u1,reset,1234567890,,,,,1,,t,\"VIP Sales\n"
        + &row(3, "u2", "reset", PIN)
        + &row(4, "u3", "reset", PIN);
    let (_dir, path) = file_of(text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("never closed"),
        "{err}"
    );
}

#[test]
fn a_foreign_file_is_refused() {
    let (_dir, path) = file_of(b"account_id,user_id\na,b\n");
    let err = read_all(&path).unwrap_err();
    assert!(matches!(err, LedgerError::ForeignHeader { .. }), "{err}");
}

#[test]
fn resume_trusts_only_whole_reset_rows_with_a_pin_cell_whole_in_its_form() {
    let text = header()
        + &row(2, "u1", "reset", PIN)
        + &row(3, "u2", "reset", "0588")
        + &row(4, "u3", "reset", PIN)
        + &row(5, "u3", "duplicate", "")
        + &row(6, "u4", "reset", PIN)
        + &row(7, "u4", "failed", "");
    let (_dir, path) = file_of(text.as_bytes());
    let resumed = resume::read(&path, false).unwrap();
    let done = |user: &str| {
        resumed
            .already_reset
            .contains(crate::dedup::Fingerprints::key(
                "acct",
                &crate::dedup::UserKey::Id(user),
            ))
    };
    // u2's cell is in full form but no PIN of Chime's; a later failure never undoes u4's reset.
    assert!(done("u1") && !done("u2") && done("u3") && done("u4"));
    assert!(resumed.check_carried(&["team".to_string()]).is_ok());
    assert!(resumed.check_carried(&["office".to_string()]).is_err());
}

#[test]
fn the_last_sent_row_of_each_user_is_final_across_files() {
    let first = header()
        + &row(2, "u1", "failed", "")
        + &row(3, "u2", "reset", PIN)
        + &row(4, "u3", "reset", PIN);
    let second = header() + &row(2, "u1", "reset", PIN) + &row(3, "u3", "duplicate", "");
    let (_a, first) = file_of(first.as_bytes());
    let (_b, second) = file_of(second.as_bytes());
    let finals = final_rows(&[first, second]).unwrap();
    assert_eq!(finals.users(), 3);
    assert_eq!(finals.rows(), 5);
    let rows: Vec<(usize, String, RowStatus)> = finals
        .iter()
        .map(|found| {
            let found = found.unwrap();
            (found.file, found.row.user_id, found.row.status)
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, "u2".into(), RowStatus::Reset),
            (0, "u3".into(), RowStatus::Reset),
            (1, "u1".into(), RowStatus::Reset),
        ]
    );
}

#[test]
fn a_reset_row_is_judged_by_its_own_pin_cell_whatever_the_flags() {
    let text = header()
        + &row(2, "u1", "reset", "********90")
        + &row(3, "u2", "reset", "")
        + &row(4, "u3", "reset", "**9x")
        + &row(5, "u4", "would-reset", "");
    let (_dir, path) = file_of(text.as_bytes());
    let resumed = resume::read(&path, false).unwrap();
    let done = |user: &str| {
        resumed
            .already_reset
            .contains(crate::dedup::Fingerprints::key(
                "acct",
                &crate::dedup::UserKey::Id(user),
            ))
    };
    assert!(done("u1") && done("u2") && !done("u3") && !done("u4"));
    assert!(resumed.check_dry_run(true).is_err());
    assert!(resumed.check_dry_run(false).is_ok());
}

#[test]
fn a_would_reset_row_never_replaces_a_real_row_as_the_final_one() {
    let text = header()
        + &row(2, "u1", "reset", PIN)
        + &row(3, "u2", "failed", "")
        + &row(2, "u1", "would-reset", "")
        + &row(3, "u2", "would-reset", "")
        + &row(4, "u3", "would-reset", "");
    let (_dir, path) = file_of(text.as_bytes());
    let finals = final_rows(&[path]).unwrap();
    assert!(finals.has_real_rows());
    let statuses: Vec<(String, RowStatus)> = finals
        .iter()
        .map(|found| {
            let found = found.unwrap();
            (found.row.user_id, found.row.status)
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("u1".into(), RowStatus::Reset),
            ("u2".into(), RowStatus::Failed),
            ("u3".into(), RowStatus::WouldReset),
        ]
    );
}

#[test]
fn coverage_counts_each_planned_line_once_and_would_reset_only_for_a_dry_run() {
    let text = header()
        + &row(2, "u1", "failed", "")
        + &row(2, "u1", "reset", PIN)
        + &row(3, "u2", "reset", PIN)
        + &row(5, "u4", "would-reset", "");
    let (_dir, path) = file_of(text.as_bytes());
    let mut record = plan::PlanRecord {
        format: plan::PlanRecord::FORMAT,
        mode: "reset".to_string(),
        input: "input.csv".to_string(),
        fingerprint: None,
        accounts: Some(vec![plan::PlannedAccount {
            account_id: "acct".to_string(),
            planned: 5,
            lines: vec![(2, 5), (70, 70)],
        }]),
        after_line: 1,
    };
    let write = |record: &plan::PlanRecord| {
        std::fs::write(plan::plan_path(&path), record.json()).unwrap();
        plan::coverage(std::slice::from_ref(&path)).unwrap()
    };
    let coverage = write(&record);
    assert!(coverage.known());
    let counted = plan::AccountCoverage {
        planned: 5,
        attempted: 2,
        not_attempted: 3,
    };
    assert_eq!(coverage.total(), counted);
    record.mode = "dry-run".to_string();
    assert_eq!(write(&record).total().not_attempted, 2);
    record.accounts = None;
    assert_eq!(
        write(&record).unknown,
        vec![(path.display().to_string(), plan::STDIN_PLAN)]
    );
    std::fs::remove_file(plan::plan_path(&path)).unwrap();
    assert!(!plan::coverage(std::slice::from_ref(&path)).unwrap().known());
}

#[test]
fn the_offboarding_columns_are_read_when_the_header_has_them() {
    let columns: Vec<&str> = ResultsLayout::CURRENT.columns().collect();
    let header = format!("{},team\n", columns.join(","));
    let row = |line: u64, logout: &str| {
        format!("{line},acct,u{line},reset,{PIN},a@x.com,,,,2,,2026-01-01T00:00:00.000Z,A@x.com,{logout},x\n")
    };
    let text = header.clone() + &row(2, "done") + &row(3, "failed") + &row(4, "");
    let (_dir, path) = file_of(text.as_bytes());
    let rows = read_all(&path).unwrap();
    let logouts: Vec<Logout> = rows.iter().map(|row| row.logout).collect();
    assert_eq!(logouts, [Logout::Done, Logout::Failed, Logout::NotAsked]);
    assert_eq!(rows[0].given_email, "A@x.com");
    assert_eq!(rows[0].carried, vec!["x".to_string()]);

    let text = header + &row(2, "maybe");
    let (_dir, path) = file_of(text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("\"maybe\""), "{err}");
}

#[test]
fn a_number_that_is_not_one_is_an_error_naming_its_line_and_column() {
    let text = header()
        + &row(2, "u1", "reset", PIN)
        + "3x,acct,u2,reset,,,,,,1,,2026-01-01T00:00:00.000Z,x\n";
    let (_dir, path) = file_of(text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("the line cell \"3x\" is not a whole number"),
        "{err}"
    );

    let text = header() + "2,acct,u1,failed,,,,,,-1,,2026-01-01T00:00:00.000Z,x\n";
    let (_dir, path) = file_of(text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("the attempts cell \"-1\""),
        "{err}"
    );
}

#[test]
fn cells_neutralised_on_the_way_out_are_restored_on_the_way_in() {
    let text = header()
        + "2,'=acct,'-u1,reset,,'@a@x.com,'=HYPERLINK(\"x\"),'+E,'-m,1,'=r,2026-01-01T00:00:00.000Z,'=x\n";
    let (_dir, path) = file_of(text.as_bytes());
    let row = read_all(&path).unwrap().remove(0);
    assert_eq!(row.account_id, "=acct");
    assert_eq!(row.user_id, "-u1");
    assert_eq!(row.primary_email, "@a@x.com");
    assert_eq!(row.display_name, "=HYPERLINK(\"x\")");
    assert_eq!(row.error_code, "+E");
    assert_eq!(row.error_message, "-m");
    assert_eq!(row.request_id, "=r");
    assert_eq!(row.carried, vec!["=x".to_string()]);
    assert_eq!((row.input_line, row.attempts), (2, 1));
}
