//! Rows and sheets a workbook hides are what the administrator chose not to act on: skipped
//! by default and counted in `validate`, the plan and the summary; `--include-hidden` reads
//! the rows; a hidden sheet is never the default sheet, and is read when named.

use rust_xlsxwriter::{FilterCondition, Workbook, Worksheet};

use crate::support::{
    assert_no_reset_sent, directory_users, exits_with, lines_with_status, output_of, read_rows,
    run_command, run_offline, simulator_users, simulator_with_input, Workdir,
};

/// Writes `users` (account, user) under a header `account_id,user_id,team` on `sheet`; the
/// rows at the indexes in `hidden` are hidden.
fn write_users(sheet: &mut Worksheet, users: &[csv::StringRecord], hidden: &[usize]) {
    for (column, name) in ["account_id", "user_id", "team"].into_iter().enumerate() {
        sheet.write_string(0, column as u16, name).unwrap();
    }
    for (index, user) in users.iter().enumerate() {
        let row = 1 + index as u32;
        let team = if hidden.contains(&index) {
            "Stays"
        } else {
            "Leavers"
        };
        sheet.write_string(row, 0, &user[0]).unwrap();
        sheet.write_string(row, 1, &user[1]).unwrap();
        sheet.write_string(row, 2, team).unwrap();
        if hidden.contains(&index) {
            sheet.set_row_hidden(row).unwrap();
        }
    }
}

/// `leavers.xlsx` over the simulator's six users: the second hidden by hand, the fifth
/// filtered out by the autofilter on `team` (which Excel writes as a hidden row too).
fn filtered_workbook(work: &Workdir) -> Vec<csv::StringRecord> {
    let users = directory_users(work);
    assert_eq!(users.len(), 6);
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    write_users(sheet, &users, &[1, 4]);
    sheet.autofilter(0, 0, users.len() as u32, 2).unwrap();
    let leavers = FilterCondition::new().add_list_filter("Leavers");
    sheet.filter_column(2, &leavers).unwrap();
    workbook.save(work.path("leavers.xlsx")).unwrap();
    users
}

/// How many times the simulator reset each user, in the order of `users`.
fn resets(state: &serde_json::Value, users: &[csv::StringRecord]) -> Vec<u64> {
    let known = simulator_users(state);
    users
        .iter()
        .map(|user| known[&(user[0].to_string(), user[1].to_string())].1)
        .collect()
}

#[test]
fn hidden_and_filtered_out_rows_are_skipped_and_counted_in_validate_the_plan_and_the_summary() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = filtered_workbook(&work);

    let text = exits_with(&run_offline(&work, &["validate", "leavers.xlsx"]), 0);
    assert!(
        text.contains(
            "leavers.xlsx:Sheet1: 4 rows, 4 valid, 0 invalid, 0 duplicates, 2 hidden rows skipped"
        ),
        "{text}"
    );

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--rate", "0", "--summary-json", "summary.json"]);
    let text = exits_with(&output_of(run), 0);
    assert!(
        text.contains("4 to reset, 0 invalid, 0 duplicates, 2 hidden rows skipped"),
        "the plan counts them: {text}"
    );
    assert!(
        text.contains("hidden:   2 hidden rows skipped: --include-hidden reads them"),
        "the summary counts them: {text}"
    );
    let summary: serde_json::Value = serde_json::from_str(&work.read("summary.json")).unwrap();
    assert_eq!(summary["skipped_hidden"], 2);
    assert_eq!(summary["plan"]["rows"]["hidden"], 2);

    assert_eq!(resets(&sim.state(), &users), [1, 0, 1, 1, 0, 1]);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "reset"), ["2", "4", "5", "7"]);
}

#[test]
fn include_hidden_reads_the_hidden_rows_in_validate_a_dry_run_and_a_run() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = filtered_workbook(&work);

    let validate = run_offline(&work, &["validate", "leavers.xlsx", "--include-hidden"]);
    let text = exits_with(&validate, 0);
    assert!(text.contains("6 rows, 6 valid"), "{text}");
    assert!(!text.contains("hidden"), "{text}");

    let mut dry_run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "preview.csv"],
    );
    dry_run.args(["--dry-run", "--include-hidden", "--rate", "0"]);
    let text = exits_with(&output_of(dry_run), 0);
    assert!(text.contains("6 to look up"), "{text}");
    assert_eq!(
        lines_with_status(&read_rows(&work, "preview.csv"), "would-reset"),
        ["2", "3", "4", "5", "6", "7"]
    );
    assert_no_reset_sent(&sim.state());

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--include-hidden", "--rate", "0"]);
    let text = exits_with(&output_of(run), 0);
    assert!(!text.contains("hidden rows skipped"), "{text}");
    assert_eq!(resets(&sim.state(), &users), [1; 6]);
}

#[test]
fn a_hidden_first_sheet_is_never_the_default_and_is_read_when_named() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = directory_users(&work);
    let mut workbook = Workbook::new();
    let old = workbook.add_worksheet();
    old.set_name("Old").unwrap();
    write_users(old, &users[..3], &[]);
    old.set_hidden(true);
    let current = workbook.add_worksheet();
    current.set_name("Current").unwrap();
    write_users(current, &users[3..], &[2]);
    current.set_active(true);
    workbook.save(work.path("leavers.xlsx")).unwrap();

    let text = exits_with(&run_offline(&work, &["validate", "leavers.xlsx"]), 0);
    assert!(
        text.contains(
            "leavers.xlsx:Current: 2 rows, 2 valid, 0 invalid, 0 duplicates, 1 hidden row skipped"
        ),
        "{text}"
    );
    let named = run_offline(&work, &["validate", "leavers.xlsx", "--sheet", "Old"]);
    let text = exits_with(&named, 0);
    assert!(text.contains("leavers.xlsx:Old: 3 rows, 3 valid"), "{text}");
    let missing = run_offline(&work, &["validate", "leavers.xlsx", "--sheet", "New"]);
    let text = exits_with(&missing, 2);
    assert!(
        text.contains("(its sheets: Old (hidden), Current)"),
        "{text}"
    );

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--rate", "0"]);
    let text = exits_with(&output_of(run), 0);
    assert!(text.contains("hidden:   1 hidden row skipped"), "{text}");
    assert_eq!(resets(&sim.state(), &users), [0, 0, 0, 1, 1, 0]);
}

/// `leavers.ods` over `users`, as LibreOffice writes it: two empty rows first (repeated), the
/// header on row 3, the rows at the indexes in `collapsed` hidden by hand and those in
/// `filtered` filtered out, then a million empty hidden rows.
fn ods_workbook(
    work: &Workdir,
    users: &[csv::StringRecord],
    collapsed: &[usize],
    filtered: &[usize],
) {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let cell = |text: &str| {
        format!(
            "<table:table-cell office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
        )
    };
    let mut rows = String::from(
        "<table:table-row table:number-rows-repeated=\"2\"><table:table-cell/></table:table-row>",
    );
    rows.push_str(&format!(
        "<table:table-row>{}{}</table:table-row>",
        cell("account_id"),
        cell("user_id")
    ));
    for (index, user) in users.iter().enumerate() {
        let visibility = if collapsed.contains(&index) {
            " table:visibility=\"collapse\""
        } else if filtered.contains(&index) {
            " table:visibility=\"filter\""
        } else {
            ""
        };
        rows.push_str(&format!(
            "<table:table-row{visibility}>{}{}</table:table-row>",
            cell(&user[0]),
            cell(&user[1])
        ));
    }
    rows.push_str(
        "<table:table-row table:visibility=\"collapse\" table:number-rows-repeated=\"1048000\">\
         <table:table-cell/></table:table-row>",
    );
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.3\">\
         <office:body><office:spreadsheet><table:table table:name=\"Leavers\">\
         <table:table-column table:number-columns-repeated=\"2\"/>{rows}</table:table>\
         </office:spreadsheet></office:body></office:document-content>"
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" \
         manifest:version=\"1.3\">\
         <manifest:file-entry manifest:full-path=\"/\" \
         manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
         <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
         </manifest:manifest>";
    let file = std::fs::File::create(work.path("leavers.ods")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ("META-INF/manifest.xml", manifest),
        ("content.xml", content.as_str()),
    ] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(bytes.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn rows_an_ods_workbook_hides_or_filters_out_are_skipped() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = directory_users(&work);
    ods_workbook(&work, &users, &[1], &[4]);

    let text = exits_with(&run_offline(&work, &["validate", "leavers.ods"]), 0);
    assert!(
        text.contains(
            "leavers.ods:Leavers: 4 rows, 4 valid, 0 invalid, 0 duplicates, 2 hidden rows skipped"
        ),
        "{text}"
    );
    let mut run = run_command(&work, sim.endpoint(), &["leavers.ods", "-o", "results.csv"]);
    run.args(["--rate", "0"]);
    exits_with(&output_of(run), 0);
    assert_eq!(resets(&sim.state(), &users), [1, 0, 1, 1, 0, 1]);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "reset"), ["4", "6", "7", "9"]);
}
