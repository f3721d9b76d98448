//! `report`: each user's final state over a run and its resume, offline, as a table, JSON and
//! Markdown, with no PIN anywhere.

use std::collections::BTreeSet;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    assert_no_pin_in, directory_users, exits_with, finish, output_of, read_rows, report_offline,
    run_command, simulator_with_input, spawn_run, stderr, stdout, wait_for_rows, Workdir,
};

const UNKNOWN_USER: &str = "0badbeef-0000-4000-8000-000000000001";

#[test]
fn report_gives_each_users_final_state_over_a_run_and_its_resume() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 30, &["--latency-ms", "30"]);
    let users = directory_users(&work);
    let account = users[0][0].to_string();
    let mut input = work.read("input.csv");
    input.push_str(&format!("{account},{},dup\n", &users[0][1]));
    input.push_str(&format!("{account},{UNKNOWN_USER},gone\n"));
    input.push_str(&format!("{account},not-a-guid,typo\n"));
    work.write("input.csv", input);

    // A run interrupted part way, then its resume.
    let mut first = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    first.args(["--rate", "20", "--concurrency", "2"]);
    let first = spawn_run(first);
    wait_for_rows(&work, 6);
    kill(Pid::from_raw(first.id() as i32), Signal::SIGINT).expect("interrupt the run");
    let (status, text) = finish(first);
    assert_eq!(status, 130, "{text}");
    let mut resume = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    resume.args(["--rate", "0", "--resume"]);
    let resumed = output_of(resume);
    exits_with(&resumed, 1);
    let rows = read_rows(&work, "results.csv");
    let state = sim.state();

    let json = report_offline(&work, &["results.csv", "--json"]);
    exits_with(&json, 1);
    let document: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    let keys: BTreeSet<&str> = document
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "users",
            "statuses",
            "errors",
            "accounts",
            "first_finished_at",
            "last_finished_at",
            "planned",
            "not_attempted"
        ])
    );
    let statuses = serde_json::json!({"reset": 30, "failed": 1, "invalid": 1});
    assert_eq!(document["users"], 32);
    assert_eq!(document["statuses"], statuses);
    assert_eq!(
        document["errors"],
        serde_json::json!({"NotFoundException": 1, "InvalidInput": 1})
    );
    assert_eq!(document["accounts"][&account]["statuses"], statuses);
    let resets = rows.iter().filter(|row| row["status"] == "reset");
    let first_reset = resets.map(|row| row["finished_at"].clone()).min().unwrap();
    let last_row = rows
        .iter()
        .map(|row| row["finished_at"].clone())
        .max()
        .unwrap();
    assert_eq!(document["first_finished_at"], first_reset.as_str());
    assert_eq!(document["last_finished_at"], last_row.as_str());

    let table = report_offline(&work, &["results.csv"]);
    exits_with(&table, 1);
    let table = stdout(&table);
    assert!(table.contains("Final state of 32 users"), "{table}");
    assert!(table.contains("Still to do: 2"), "{table}");
    assert!(
        table.contains(UNKNOWN_USER) && table.contains("not-a-guid"),
        "{table}"
    );
    assert!(table.contains("remove the row from the input"), "{table}");

    let markdown = report_offline(&work, &["results.csv", "--markdown"]);
    exits_with(&markdown, 1);
    let markdown = stdout(&markdown);
    assert!(markdown.contains("| reset | 30 |"), "{markdown}");
    assert!(
        markdown.contains("| `NotFoundException` | 1 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("`{UNKNOWN_USER}`")),
        "{markdown}"
    );

    for text in [stdout(&json), table, markdown] {
        assert_no_pin_in(&text, &state, "report");
    }
}

#[test]
fn report_exits_0_when_every_user_is_reset_and_2_on_a_file_it_cannot_read() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let run = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0"],
    ));
    exits_with(&run, 0);
    let done = report_offline(&work, &["results.csv"]);
    exits_with(&done, 0);
    assert!(stdout(&done).contains("Still to do: 0"));

    let mut broken = work.read("results.csv");
    broken.push_str("9,x,y,reset\n");
    work.write("broken.csv", broken);
    let refused = report_offline(&work, &["results.csv", "broken.csv"]);
    exits_with(&refused, 2);
    assert!(
        stderr(&refused).contains("broken.csv, line 7"),
        "{}",
        stderr(&refused)
    );
}

/// A cell that would add a heading, a link and HTML to Markdown, end its table cell and row,
/// and turn a terminal red.
const HOSTILE: &str = "a|b`c\n# heading [x](http://evil) <b>bold</b> \u{1b}[31mred\r";

/// The cells of a Markdown table row, split as GitHub does: at each `|` not escaped.
fn table_cells(row: &str) -> usize {
    let mut cells = 0;
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => cells += 1,
            _ => {}
        }
    }
    cells - 1
}

#[test]
fn report_shows_hostile_cells_escaped_in_its_table_and_its_markdown() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 1, &[]);
    let run = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0"],
    );
    exits_with(&output_of(run), 0);
    let header = work.read("results.csv").lines().next().unwrap().to_string();
    let width = header.split(',').count();
    let quoted = format!("\"{HOSTILE}\"");
    let row = |line: u64, user: &str| {
        let mut cells = vec![
            line.to_string(),
            quoted.clone(),
            user.to_string(),
            "failed".into(),
        ];
        cells.extend(["", "", ""].map(String::from));
        cells.extend([
            quoted.clone(),
            quoted.clone(),
            "1".into(),
            "r".into(),
            quoted.clone(),
        ]);
        cells.resize(width, String::new());
        cells.join(",")
    };
    let user = |n: u64| format!("\"user{n} {HOSTILE}\"");
    work.write(
        "hostile.csv",
        format!("{header}\n{}\n{}\n", row(2, &user(1)), row(3, &user(2))),
    );

    let markdown = report_offline(&work, &["hostile.csv", "--markdown"]);
    exits_with(&markdown, 1);
    assert!(
        !markdown.stdout.contains(&0x1b),
        "no raw ESC in the Markdown"
    );
    assert!(
        !markdown.stdout.contains(&b'\r'),
        "no raw CR in the Markdown"
    );
    let markdown = stdout(&markdown);
    let headings: Vec<&str> = markdown.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        headings,
        [
            "## PIN rotation report",
            "### Status",
            "### Accounts",
            "### Errors",
            "### Still to do"
        ],
        "{markdown}"
    );
    // Each table: a header, its rule, then one row per user (or account, or code), each
    // with as many cells as the header.
    let section = |heading: &str| -> Vec<&str> {
        let start = markdown.find(heading).expect(heading);
        markdown[start..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect()
    };
    for (heading, columns, rows) in [
        ("### Accounts", 3, 1),
        ("### Errors", 4, 1),
        ("### Still to do", 5, 2),
    ] {
        let table = section(heading);
        assert_eq!(table.len(), 2 + rows, "{heading}: {markdown}");
        for line in table {
            assert_eq!(table_cells(line), columns, "{heading}: {line}");
        }
    }
    for text in ["\\x1b[31m", "\\n# heading", "\\|b"] {
        assert!(markdown.contains(text), "{text} shown escaped: {markdown}");
    }

    let table = report_offline(&work, &["hostile.csv"]);
    exits_with(&table, 1);
    for bytes in [&table.stdout, &table.stderr] {
        let raw = bytes.iter().find(|b| b.is_ascii_control() && **b != b'\n');
        assert_eq!(raw, None, "no control character but line ends in the table");
    }
    let table = stdout(&table);
    let to_do: Vec<&str> = table
        .lines()
        .skip_while(|line| !line.starts_with("Still to do: 2"))
        .skip(1)
        .collect();
    assert_eq!(to_do.len(), 2, "one line per user: {table}");
    assert!(
        to_do.iter().all(|line| line.contains("\\x1b[31mred\\r")),
        "{table}"
    );
}

/// Cells are neutralised in the results CSV and restored when read back: a display name that
/// begins with `=` is itself in the workbook, as a text cell (which Excel never runs).
#[test]
fn a_display_name_that_begins_with_an_equals_sign_is_itself_in_the_workbook() {
    let work = Workdir::new();
    let account = "11111111-1111-1111-1111-111111111111";
    let user = "aaaaaaaa-0000-0000-0000-000000000001";
    let name = "=HYPERLINK(\"http://x\")";
    let directory = work.write(
        "directory.csv",
        format!(
            "account_id,user_id,email,display_name\n{account},{user},x@example.com,\"{}\"\n",
            name.replace('"', "\"\"")
        ),
    );
    let sim =
        crate::support::SimulatorProcess::spawn(&["--directory", directory.to_str().unwrap()]);
    work.write(
        "input.csv",
        format!("account_id,user_id\n{account},{user}\n"),
    );
    let run = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    exits_with(&output_of(run), 0);
    assert_eq!(
        read_rows(&work, "results.csv")[0]["display_name"],
        format!("'{name}")
    );
    let report = work.command(&["report", "results.csv", "--xlsx", "results.xlsx"]);
    exits_with(&output_of(report), 0);
    use calamine::Reader as _;
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook(work.path("results.xlsx")).expect("a workbook");
    let sheet = workbook
        .worksheet_range("Results")
        .expect("the Results sheet");
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let column = header
        .iter()
        .position(|h| h == "display_name")
        .expect("the column");
    let cell = sheet.rows().nth(1).expect("a row")[column].clone();
    assert_eq!(cell, calamine::Data::String(name.to_string()));
}

/// Issue 24.2: a number in a results file is a number. An `attempts` cell edited to words is
/// an error naming the file, the line and the column, not a row read as if it said 0.
#[test]
fn a_results_row_whose_attempts_are_not_a_number_is_refused_with_its_line() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let run = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0"],
    ));
    exits_with(&run, 0);
    let mut reader = csv::Reader::from_path(work.path("results.csv")).expect("the results");
    let header = reader.headers().expect("a header").clone();
    let attempts = header
        .iter()
        .position(|name| name == "attempts")
        .expect("an attempts column");
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut edited: Vec<&str> = rows[2].iter().collect();
    edited[attempts] = "three";
    rows[2] = csv::StringRecord::from(edited);
    let mut writer = csv::Writer::from_path(work.path("edited.csv")).expect("a file");
    writer.write_record(&header).unwrap();
    for row in &rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();

    let refused = report_offline(&work, &["edited.csv"]);
    let text = exits_with(&refused, 2);
    assert!(
        text.contains("edited.csv, line 4: the attempts cell \"three\" is not a whole number"),
        "{text}"
    );
}
