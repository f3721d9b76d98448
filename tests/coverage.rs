//! A results file proves its coverage: the plan beside it counts the users its run set out to
//! reset, so that a rotation stopped early (Ctrl-C, a canary, `--max-failures`) never reports
//! or verifies as complete, and a resume that finishes it does.

use std::collections::HashSet;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    code, directory_users, finish, output_of, read_rows, remove_user, report_offline, run_command,
    simulator_with_input, spawn_run, stderr, stdout, verify_command, wait_for_rows,
    SimulatorProcess, Workdir,
};

const USERS: usize = 40;

/// `report results.csv --json`, parsed, and its exit code.
fn report_json(work: &Workdir) -> (serde_json::Value, i32) {
    let output = report_offline(work, &["results.csv", "--json"]);
    let json = serde_json::from_str(&stdout(&output)).expect("report --json prints JSON");
    (json, code(&output))
}

/// `verify results.csv -o NAME`: its exit code and stderr.
fn verify(work: &Workdir, sim: &SimulatorProcess, name: &str) -> (i32, String) {
    let output = output_of(verify_command(
        work,
        sim.endpoint(),
        &["results.csv", "-o", name],
    ));
    (code(&output), stderr(&output))
}

/// The input lines `results.csv` holds a row of.
fn lines_attempted(work: &Workdir) -> usize {
    let rows = read_rows(work, "results.csv");
    rows.iter()
        .map(|row| row["line"].clone())
        .collect::<HashSet<_>>()
        .len()
}

/// A run of `input.csv` into `results.csv`, slow enough to be stopped, stopped by Ctrl-C
/// after more than `rows` rows; returns its exit code.
fn run_stopped_by_ctrl_c(work: &Workdir, sim: &SimulatorProcess, resume: bool, rows: usize) {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "20", "--concurrency", "2"]);
    if resume {
        cmd.arg("--resume");
    }
    let child = spawn_run(cmd);
    wait_for_rows(work, rows);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("signal the run");
    let (status, text) = finish(child);
    assert_eq!(status, 130, "stderr: {text}");
}

/// `run --resume` to the end; returns its exit code.
fn resume_to_the_end(work: &Workdir, sim: &SimulatorProcess) -> i32 {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--resume"]);
    code(&output_of(cmd))
}

/// Report and verify both say that `never` planned users were never attempted, and exit 1.
#[track_caller]
fn both_say_never_attempted(work: &Workdir, sim: &SimulatorProcess, never: u64, verified: &str) {
    let (json, exit) = report_json(work);
    assert_eq!(json["planned"], USERS as u64, "{json}");
    assert_eq!(json["not_attempted"], never, "{json}");
    assert_eq!(
        exit, 1,
        "report exits 1 while planned users were never attempted"
    );
    let table = stdout(&report_offline(work, &["results.csv"]));
    assert!(
        table.contains(&format!(
            "Planned {USERS} users: {} attempted, {never} never attempted",
            USERS as u64 - never
        )),
        "{table}"
    );
    let (exit, text) = verify(work, sim, verified);
    assert_eq!(exit, 1, "{text}");
    assert!(
        text.contains(&format!("not attempted: {never} planned users")),
        "{text}"
    );
}

#[test]
fn a_run_stopped_by_ctrl_c_reports_and_verifies_incomplete_until_resumed() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &["--latency-ms", "30"]);
    run_stopped_by_ctrl_c(&work, &sim, false, 12);
    let never = (USERS - lines_attempted(&work)) as u64;
    assert!(never > 0, "the run stopped early");
    both_say_never_attempted(&work, &sim, never, "verified-1.csv");

    assert_eq!(resume_to_the_end(&work, &sim), 0);
    let (json, exit) = report_json(&work);
    assert_eq!(
        (json["planned"].as_u64(), json["not_attempted"].as_u64()),
        (Some(40), Some(0))
    );
    assert_eq!(exit, 0, "{json}");
    let (exit, text) = verify(&work, &sim, "verified-2.csv");
    assert_eq!(exit, 0, "{text}");
}

#[test]
fn a_canary_that_stops_the_run_leaves_the_others_never_attempted() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let gone = &directory_users(&work)[4];
    remove_user(sim.endpoint(), &gone[0], &gone[1]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--canary", "12"]);
    let output = output_of(cmd);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    assert_eq!(lines_attempted(&work), 12);
    both_say_never_attempted(&work, &sim, 28, "verified-1.csv");
    let table = stdout(&report_offline(&work, &["results.csv"]));
    assert!(
        table.contains("input lines 14-41"),
        "the lines are named: {table}"
    );

    // The resume reaches everyone; the user who is gone stays to do.
    assert_eq!(resume_to_the_end(&work, &sim), 1);
    let (json, exit) = report_json(&work);
    assert_eq!(json["not_attempted"], 0, "{json}");
    assert_eq!(json["statuses"]["failed"], 1, "{json}");
    assert_eq!(exit, 1);
}

#[test]
fn max_failures_that_stops_the_run_leaves_the_others_never_attempted() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let gone = &directory_users(&work)[11];
    remove_user(sim.endpoint(), &gone[0], &gone[1]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--concurrency", "1", "--max-failures", "1"]);
    let output = output_of(cmd);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    let never = (USERS - lines_attempted(&work)) as u64;
    assert!(
        never >= 27,
        "stopped at the 12th user ({never} never attempted)"
    );
    both_say_never_attempted(&work, &sim, never, "verified-1.csv");
}

#[test]
fn a_file_appended_by_several_resumes_counts_each_planned_user_once() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &["--latency-ms", "30"]);
    run_stopped_by_ctrl_c(&work, &sim, false, 8);
    let plan = std::fs::read(work.path("results.csv.plan.json")).expect("a plan beside");
    run_stopped_by_ctrl_c(&work, &sim, true, 20);
    assert_eq!(resume_to_the_end(&work, &sim), 0);
    assert_eq!(
        std::fs::read(work.path("results.csv.plan.json")).unwrap(),
        plan,
        "a resume adds nothing to the plan"
    );
    let (json, exit) = report_json(&work);
    assert_eq!(json["planned"], 40, "{json}");
    assert_eq!(json["not_attempted"], 0, "{json}");
    assert_eq!(json["users"], 40, "{json}");
    assert_eq!(exit, 0);
    let markdown = stdout(&report_offline(&work, &["results.csv", "--markdown"]));
    assert!(markdown.contains("### Coverage"), "{markdown}");
    assert!(markdown.contains("| total | 40 | 40 | 0 |"), "{markdown}");
}

#[test]
fn the_workbook_shows_the_coverage_on_a_sheet_of_its_own() {
    use calamine::Reader;
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--canary", "12", "--pins", "omit"]);
    remove_user(
        sim.endpoint(),
        &directory_users(&work)[0][0],
        &directory_users(&work)[0][1],
    );
    assert_eq!(code(&output_of(cmd)), 3);
    let output = report_offline(&work, &["results.csv", "--xlsx", "results.xlsx"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook(work.path("results.xlsx")).expect("a workbook");
    let sheet = workbook
        .worksheet_range("Coverage")
        .expect("a Coverage sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["account", "planned", "attempted", "never attempted"]
    );
    assert_eq!(rows.last().unwrap(), &["total", "40", "12", "28"]);
}

#[test]
fn results_without_a_plan_report_as_before_and_say_coverage_is_unknown() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]);
    assert_eq!(code(&output_of(cmd)), 0);
    // What an older version left: the results alone.
    std::fs::remove_file(work.path("results.csv.plan.json")).expect("a plan beside");
    let output = report_offline(&work, &["results.csv"]);
    assert_eq!(code(&output), 0);
    assert!(
        stdout(&output).contains("Coverage unknown for results.csv: it has no plan"),
        "{}",
        stdout(&output)
    );
    let (json, _) = report_json(&work);
    assert!(
        json["planned"].is_null() && json["not_attempted"].is_null(),
        "{json}"
    );

    // Stdin is not read ahead: its results say they have no plan.
    let mut cmd = run_command(&work, sim.endpoint(), &["-", "-o", "piped.csv"]);
    cmd.args(["--rate", "0", "--resume"])
        .stdin(std::fs::File::open(work.path("input.csv")).unwrap());
    assert_eq!(code(&output_of(cmd)), 0);
    let output = report_offline(&work, &["piped.csv"]);
    assert!(
        stdout(&output).contains("its input was stdin, which is not read ahead"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_plan_left_without_its_results_is_refused_unless_forced() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    work.write("results.csv.plan.json", "{}\n");
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]);
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 2, "{text}");
    assert!(
        text.contains("results.csv.plan.json exists already"),
        "{text}"
    );
    assert!(!work.path("results.csv").exists(), "nothing written");

    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--force"]);
    assert_eq!(code(&output_of(cmd)), 0);
    let plan: serde_json::Value =
        serde_json::from_str(&work.read("results.csv.plan.json")).expect("a plan");
    assert_eq!(plan["accounts"][0]["planned"], 3, "{plan}");
    assert_eq!(
        plan["fingerprint"]["size"],
        std::fs::metadata(work.path("input.csv")).unwrap().len(),
        "{plan}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(work.path("results.csv.plan.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_resume_over_an_edited_input_plans_what_it_sets_out_to_do() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let gone = directory_users(&work)[4].clone();
    remove_user(sim.endpoint(), &gone[0], &gone[1]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--canary", "12"]);
    assert_eq!(code(&output_of(cmd)), 3);
    // The user who is gone taken out of the input, as the report advises: every line after
    // theirs moves up one.
    let input: String = work
        .read("input.csv")
        .lines()
        .filter(|line| !line.contains(&gone[1]))
        .map(|line| format!("{line}\n"))
        .collect();
    work.write("input.csv", input);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--resume"]);
    let output = output_of(cmd);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let (json, _) = report_json(&work);
    assert_eq!(
        json["planned"], 28,
        "the 28 users this resume set out to reset: {json}"
    );
    assert_eq!(json["not_attempted"], 0, "{json}");
    assert!(stderr(&output).contains("its plan now covers what this run sets out to do"));
}
