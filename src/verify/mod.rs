//! `verify`: proves a results file against Chime. For each user whose final row (the last one
//! wins, across appended runs) is `reset`, it reads the user back with GetUser and says whether
//! the PIN recorded is the live one: `current`, `changed`, `not-found`, `unverifiable` or
//! `failed`, one row per user in the verified file, never a PIN.
//!
//! It runs on `run`'s engine (`engine::drive`, the executor in `Mode::Verify`): the same
//! reader thread, rate, concurrency, retry loop, adaptive rate, stop rules, signals, recorder
//! loop and writer's thread; only its jobs, its judge and its file are its own. The files are
//! locked as `run` locks its results, and `--resume` skips the users a verified file settled.
//!
//! Where the recorded PIN travels: in the job's payload ([`Recorded`]), which the executor
//! carries through untouched and joins to the GetUser outcome for the recorder
//! ([`Checked`]); the outcome itself never holds it, so nothing that writes outcomes can.
//!
//! Memory for a million rows: the first pass over the results keeps 20 bytes a row to find
//! each user's last row ([`ledger::final_rows`]), then 4 bytes a user; the second pass streams.

mod file;
mod record;
mod verdict;
mod verified_record;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::chime::ChimeClient;
use crate::config::EngineConfig;
use crate::engine::{drive, feed, start_reader, start_writer};
use crate::execution::{Job, Payload, Row, RunState, Work};
use crate::input::Target;
use crate::ledger::{self, FinalRow, FinalRows, LedgerError, ResultRow, RowReader};
use crate::outcome::{Outcome, Pin, RowStatus, StopReason};
use crate::output::{Destination, Existing, Files, ResultsWriter};
use crate::progress::Progress;
use crate::summary::Tally;

pub use verdict::Verified;

use file::{ResultsFingerprint, Settled, VerifiedCells, VerifiedWriter};
use record::{VerifyFiles, VerifyRecorder};

/// Everything `verify` needs, validated.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    /// The verified file is the engine's output.
    pub engine: EngineConfig,
    pub results: PathBuf,
    pub update_results: bool,
    pub raw_cells: bool,
}

/// A job's payload: what the results recorded for the user, which the outcome is judged
/// against.
struct Recorded {
    pin: Pin,
    input_line: u64,
    carried: Vec<String>,
}

/// A user's GetUser outcome (with the results row's carried columns), beside what the results
/// recorded for them.
pub struct Checked {
    outcome: Outcome,
    recorded: Pin,
    /// The input's line the results row came from, for a row `--update-results` appends.
    input_line: u64,
}

impl Payload for Recorded {
    type Answered = Checked;

    fn answer(self, outcome: Outcome) -> Checked {
        Checked {
            outcome: outcome.with_carried(self.carried),
            recorded: self.pin,
            input_line: self.input_line,
        }
    }
}

/// Runs `verify`; an `Err` means nothing was sent.
pub async fn run(config: VerifyConfig) -> anyhow::Result<u8> {
    // Named first, like `run`'s: the results are locked, so no run may append to them while
    // they are checked, and the verified file can land on neither them nor itself.
    let mut files = Files::default();
    let results = Destination::File(config.results.clone());
    // The results file is read first: one that cannot be (no such file, a directory) is
    // named with its cause, once.
    let carried = RowReader::open(&config.results)?.carried_headers().to_vec();
    let results = files.rows(&results, Existing::Append, "the results file")?;
    anyhow::ensure!(
        results.existing_file().is_some(),
        "{} is not a results file",
        config.results.display()
    );
    let verified = files.rows(
        &config.engine.output,
        config.engine.existing,
        "the verified file",
    )?;
    let settled = match verified.existing_file() {
        Some(path) if config.engine.existing == Existing::Append => {
            file::already_verified(path, config.update_results, &config.results)?
        }
        _ => Settled::default(),
    };
    let finals = ledger::final_rows(std::slice::from_ref(&config.results))?;
    let coverage = ledger::plan::coverage(std::slice::from_ref(&config.results))?;
    // Who is asking, before the first GetUser, as for every command that calls AWS.
    let connection = crate::preflight::connect(&config.engine.client).await?;
    if !config.engine.quiet {
        crate::say!("chime-pin-reset: {}", connection.caller.line());
    }
    let client = connection.chime;
    let fingerprint = ResultsFingerprint::of(&config.results)
        .with_context(|| format!("cannot read {}", config.results.display()))?;
    let (verified, cells) =
        VerifiedWriter::create(verified, &carried, config.raw_cells, &fingerprint)?;
    let (updates, _results_lock) = if config.update_results {
        let writer =
            ResultsWriter::create(results, &carried, record::UPDATE_PINS, config.raw_cells)?;
        (Some(writer), None)
    } else {
        (None, Some(results))
    };
    let unfinished = record::Unfinished::new(&coverage, finals.has_real_rows());
    let files = VerifyFiles {
        verified,
        updates,
        recorded: Arc::default(),
    };
    Ok(execute_verify(&config, client, finals, settled, files, cells, unfinished).await)
}

/// Checks every user and records every verdict; returns the exit code.
async fn execute_verify(
    config: &VerifyConfig,
    client: ChimeClient,
    finals: FinalRows,
    settled: Settled,
    files: VerifyFiles,
    cells: VerifiedCells,
    unfinished: record::Unfinished,
) -> u8 {
    let started = Instant::now();
    let state = Arc::new(RunState::new(config.engine.exec.rate_governor()));
    let users = finals.users() as u64;
    let (reader, items) = start_reader(move |executor| {
        let mut users = UsersToCheck::new(finals.iter(), settled.lines);
        feed(&mut users, executor);
        (users.not_checked, users.skipped)
    });
    let updating = files.updates.is_some();
    let recorded = files.recorded.clone();
    // The executor starts only once the rows have somewhere to go.
    let Some(files) = start_writer(files, &state, "the verified file") else {
        return crate::exit::USAGE;
    };
    let mut recorder = VerifyRecorder {
        files: Some(files),
        backlog: Vec::new(),
        updating,
        cells,
        counts: BTreeMap::new(),
        settled: BTreeMap::new(),
        recorded,
        tally: Tally::default(),
        progress: Progress::new(config.engine.progress, Some(users)),
        max_failures: config.engine.max_failures,
    };
    let closed = drive(client, items, &mut recorder, &config.engine, &state).await;
    let (not_checked, settled) = match reader.join() {
        Ok(counts) => counts,
        // Its users would look merely unlisted: the run must not look complete.
        Err(_) => {
            state.control.stop(StopReason::InputUnreadable(
                "the reader of the results file stopped unexpectedly".to_string(),
            ));
            Default::default()
        }
    };
    recorder.settled = settled;
    recorder.finish(config, &state, closed, started, &not_checked, &unfinished)
}

/// The reader's side, over each user's final row: a job for each one that is `reset` and not
/// settled by the verified file being resumed; it stops after a row that cannot be read. It
/// counts the users not checked, by status, and those settled, by the status the verified file
/// gave them: only lines that are still their user's final row count (a row appended since, by
/// `--update-results` or a run, is checked anew).
struct UsersToCheck<I> {
    finals: I,
    /// The verified file's settled lines, in order.
    settled: Vec<(u64, Verified)>,
    not_checked: BTreeMap<RowStatus, u64>,
    skipped: BTreeMap<Verified, u64>,
    /// A row could not be read: the rows after it are not handed over.
    ended: bool,
}

impl<I> UsersToCheck<I> {
    fn new(finals: I, settled: Vec<(u64, Verified)>) -> Self {
        UsersToCheck {
            finals,
            settled,
            not_checked: BTreeMap::new(),
            skipped: BTreeMap::new(),
            ended: false,
        }
    }

    /// The job for one final row, if its user is checked now.
    fn job(&mut self, row: ResultRow) -> Option<Job<Recorded>> {
        if row.status != RowStatus::Reset {
            *self.not_checked.entry(row.status).or_default() += 1;
            return None;
        }
        let settled = &self.settled;
        if let Ok(at) = settled.binary_search_by_key(&row.file_line, |(line, _)| *line) {
            *self.skipped.entry(settled[at].1).or_default() += 1;
            return None;
        }
        Some(Job {
            row: Row {
                line: row.file_line,
                account_id: row.account_id,
                target: Target::UserId(row.user_id),
                email: None,
            },
            payload: Recorded {
                pin: row.personal_pin,
                input_line: row.input_line,
                carried: row.carried,
            },
        })
    }
}

impl<I: Iterator<Item = Result<FinalRow, LedgerError>>> Iterator for UsersToCheck<I> {
    type Item = Work<Recorded>;

    fn next(&mut self) -> Option<Work<Recorded>> {
        while !self.ended {
            match self.finals.next()? {
                Ok(FinalRow { row, .. }) => {
                    if let Some(job) = self.job(row) {
                        return Some(Work::Job(job));
                    }
                }
                Err(err) => {
                    self.ended = true;
                    return Some(Work::Unreadable(crate::stderr::one_line(&err)));
                }
            }
        }
        None
    }
}
