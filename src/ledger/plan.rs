//! The plan beside a results file: what its run set out to do, so that the file proves its
//! coverage. A results file holds rows only for the users a run reached; a run stopped at 12 of
//! 40 leaves 12 rows, and without the plan nobody auditing the file could tell that 28 users
//! were never attempted.
//!
//! `run` writes `RESULTS.csv.plan.json` beside the results, before the first reset, while it
//! holds the results file's lock: the input lines of the rows it will send, per account, and
//! the fingerprint of the input it read. A resume over the same input adds nothing to the plan
//! (the file is kept as the first run wrote it). A resume over an input that changed (a row
//! fixed, as the advice for `invalid` rows says) replaces it with what that resume sets out to
//! do, from the end of the rows already there: the lines of the old input mean nothing in the
//! new one. A results file an older version wrote has no plan, and stays without one. Stdin is
//! not read ahead: its plan says it has none.
//!
//! [`coverage`] reads the plans back for `report` and `verify`: a planned line is attempted
//! when the rows written after the plan hold a row of that line (of a real run, unless the plan
//! was a dry run's). Lines rather than users: the plan is made before any email is resolved,
//! and an input line names one row however many times the file was resumed.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::input::InputFingerprint;
use crate::outcome::RowStatus;

use super::{LedgerError, RowReader};

/// What the plan file's name adds to the results file's.
pub const PLAN_SUFFIX: &str = ".plan.json";

/// The plan a results file records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The version of this record.
    pub format: u32,
    /// `reset` or `dry-run`.
    pub mode: String,
    /// The input, as it was named.
    pub input: String,
    /// The bytes the plan read; `None` for stdin.
    pub fingerprint: Option<InputFingerprint>,
    /// The rows to send, per account; `None` when the input was not read ahead (stdin).
    pub accounts: Option<Vec<PlannedAccount>>,
    /// The lines the results file held when the plan was made (1: the header): only the rows
    /// after them answer this plan.
    pub after_line: u64,
}

/// One account's rows to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAccount {
    pub account_id: String,
    /// Valid rows: one user each.
    pub planned: u64,
    /// Their input lines, as runs of consecutive lines `[first, last]`.
    pub lines: Vec<(u64, u64)>,
}

impl PlanRecord {
    pub const FORMAT: u32 = 1;

    /// The plan as it is written beside the results.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain strings and numbers") + "\n"
    }
}

/// Where the plan of the results file at `results` is kept.
pub fn plan_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(PLAN_SUFFIX);
    PathBuf::from(name)
}

/// The lines of the file at `path`, for [`PlanRecord::after_line`].
pub fn count_lines(path: &Path) -> io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut lines = 0;
    loop {
        match io::Read::read(&mut file, &mut buffer)? {
            0 => return Ok(lines),
            read => lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
}

/// The plan beside the results file at `results`; `None` when it has none.
pub fn read_plan(results: &Path) -> Result<Option<PlanRecord>, LedgerError> {
    let path = plan_path(results);
    let bad = |problem: String| LedgerError::BadPlan {
        file: path.display().to_string(),
        problem,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(bad(err.to_string())),
    };
    let record: PlanRecord = serde_json::from_str(&text).map_err(|err| bad(err.to_string()))?;
    if record.format != PlanRecord::FORMAT {
        return Err(bad(format!(
            "format {} is not one this version reads",
            record.format
        )));
    }
    Ok(Some(record))
}

/// Planned, attempted and never attempted users: per account, and in total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub accounts: BTreeMap<String, AccountCoverage>,
    /// Results files whose coverage is unknown, and why.
    pub unknown: Vec<(String, &'static str)>,
    /// The input lines never attempted, as runs `(first, last)`: per results file and account,
    /// at most [`MISSING_RUNS`] runs in all (the counts are always whole).
    pub missing: Vec<MissingLines>,
}

/// Input lines a results file's plan counted and its rows never reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLines {
    pub file: String,
    pub account_id: String,
    pub runs: Vec<(u64, u64)>,
}

/// The most runs of missing lines kept for the report to name.
pub const MISSING_RUNS: usize = 1000;

/// One account's coverage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountCoverage {
    pub planned: u64,
    pub attempted: u64,
    pub not_attempted: u64,
}

impl AccountCoverage {
    fn add(&mut self, other: AccountCoverage) {
        self.planned += other.planned;
        self.attempted += other.attempted;
        self.not_attempted += other.not_attempted;
    }
}

/// Why a results file has no coverage.
pub const NO_PLAN: &str = "it has no plan beside it (written by an older version, or to stdout)";
pub const STDIN_PLAN: &str = "its input was stdin, which is not read ahead: it has no plan";

impl Coverage {
    /// Every file's plan is known.
    pub fn known(&self) -> bool {
        self.unknown.is_empty()
    }

    /// Every account together.
    pub fn total(&self) -> AccountCoverage {
        let mut total = AccountCoverage::default();
        for account in self.accounts.values() {
            total.add(*account);
        }
        total
    }
}

/// The coverage of the results files at `paths`, each against its own plan.
pub fn coverage(paths: &[PathBuf]) -> Result<Coverage, LedgerError> {
    let mut coverage = Coverage::default();
    for path in paths {
        let name = path.display().to_string();
        let Some(plan) = read_plan(path)? else {
            coverage.unknown.push((name, NO_PLAN));
            continue;
        };
        let Some(accounts) = &plan.accounts else {
            coverage.unknown.push((name, STDIN_PLAN));
            continue;
        };
        let reached = lines_reached(path, &plan, accounts)?;
        for account in accounts {
            let mut runs = Vec::new();
            let mut not_attempted = 0;
            for line in account.lines.iter().flat_map(|&(first, last)| first..=last) {
                if !reached.has(line) {
                    not_attempted += 1;
                    add_to_runs(&mut runs, line);
                }
            }
            let kept: usize = coverage.missing.iter().map(|m| m.runs.len()).sum();
            runs.truncate(MISSING_RUNS.saturating_sub(kept));
            if !runs.is_empty() {
                coverage.missing.push(MissingLines {
                    file: name.clone(),
                    account_id: account.account_id.clone(),
                    runs,
                });
            }
            let planned = account.planned;
            coverage
                .accounts
                .entry(account.account_id.clone())
                .or_default()
                .add(AccountCoverage {
                    planned,
                    attempted: planned.saturating_sub(not_attempted),
                    not_attempted,
                });
        }
    }
    Ok(coverage)
}

/// Adds `line` to runs of consecutive lines, taken in ascending order.
fn add_to_runs(runs: &mut Vec<(u64, u64)>, line: u64) {
    match runs.last_mut() {
        Some((_, last)) if *last + 1 == line => *last = line,
        _ => runs.push((line, line)),
    }
}

/// Runs of lines in words: `14-41, 50`.
pub fn runs_text(runs: &[(u64, u64)]) -> String {
    runs.iter()
        .map(|&(first, last)| match first == last {
            true => first.to_string(),
            false => format!("{first}-{last}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The input lines the results at `path` hold a row of: a bit per line up to the last planned.
/// Only rows written after the plan count, and a `would-reset` row reaches its line only when
/// the plan was a dry run's.
fn lines_reached(
    path: &Path,
    plan: &PlanRecord,
    accounts: &[PlannedAccount],
) -> Result<LineSet, LedgerError> {
    let dry_run = plan.mode == "dry-run";
    let last = accounts
        .iter()
        .filter_map(|account| account.lines.last().map(|&(_, last)| last))
        .max()
        .unwrap_or(0);
    let mut reached = LineSet::up_to(last);
    for row in RowReader::open(path)? {
        let row = row?;
        if row.file_line <= plan.after_line || (row.status == RowStatus::WouldReset && !dry_run) {
            continue;
        }
        reached.insert(row.input_line);
    }
    Ok(reached)
}

/// A set of input lines, a bit each.
struct LineSet {
    words: Vec<u64>,
}

impl LineSet {
    fn up_to(last: u64) -> LineSet {
        LineSet {
            words: vec![0; usize::try_from(last / 64 + 1).unwrap_or(0)],
        }
    }

    fn insert(&mut self, line: u64) {
        if let Some(word) = usize::try_from(line / 64)
            .ok()
            .and_then(|at| self.words.get_mut(at))
        {
            *word |= 1 << (line % 64);
        }
    }

    fn has(&self, line: u64) -> bool {
        usize::try_from(line / 64)
            .ok()
            .and_then(|at| self.words.get(at))
            .is_some_and(|word| word & (1 << (line % 64)) != 0)
    }
}
