//! `verify`: proves a results file against Chime. For each user whose final row (the last one
//! wins, across appended runs) is `reset`, it reads the user back with GetUser and says whether
//! the PIN recorded is the live one: `current`, `changed`, `not-found`, `unverifiable` or
//! `failed`, one row per user in the verified file, never a PIN.
//!
//! It runs through the same executor as `run` (`execution::execute` in `Mode::Verify`): the
//! same rate, concurrency, retry loop, adaptive rate, stop rules and signals. The files are
//! locked as `run` locks its results, and `--resume` skips the users a verified file settled.
//!
//! Where the recorded PIN travels: the executor's `RowTask` carries what every row has (the
//! line, here the results file's, the account, the user and the carried columns, which are
//! written out). The recorded PIN must not go with the carried columns, so it waits in
//! [`Expected`], keyed by the results line, from when the reader thread hands the row over
//! until the recorder judges its outcome. The reader is at most a bounded read-ahead in front
//! of the recorder, so this table stays small whatever the file's size.
//!
//! Memory for a million rows: the first pass over the results keeps 20 bytes a row to find
//! each user's last row ([`ledger::final_rows`]), then 4 bytes a user; the second pass streams.

mod file;
mod record;
mod verdict;
mod verified_record;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::chime::{ChimeClient, ClientSettings};
use crate::config::resume_command;
use crate::dedup::Dedup;
use crate::execution::{ExecConfig, RunState, Running};
use crate::input::{InputItem, RowTask, Target};
use crate::ledger::{self, FinalRow, FinalRows, RowReader};
use crate::outcome::{Pin, RowStatus, StopReason};
use crate::output::{Destination, Existing, Files, ResultsWriter};
use crate::progress::{Progress, ProgressMode};
use crate::summary::Tally;

pub use verdict::Verified;

use file::{ResultsFingerprint, Settled, VerifiedCells, VerifiedWriter};
use record::{VerifyFiles, VerifyRecorder};

/// Rows handed from the reader's thread to the executor at a time, and chunks read ahead.
const READ_CHUNK: usize = 64;
const READ_AHEAD_CHUNKS: usize = 16;

/// Everything `verify` needs, validated.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    pub results: PathBuf,
    pub output: Destination,
    /// What to do when the verified file exists already.
    pub existing: Existing,
    pub update_results: bool,
    pub exec: ExecConfig,
    pub client: ClientSettings,
    pub max_failures: Option<u64>,
    pub grace_period: Duration,
    pub raw_cells: bool,
    pub quiet: bool,
    pub progress: ProgressMode,
    pub command_line: Vec<String>,
}

impl VerifyConfig {
    fn resume_command(&self) -> Option<String> {
        (self.output != Destination::Stdout).then(|| resume_command(&self.command_line))
    }
}

/// A row's recorded PIN and input line, waiting for the row's outcome.
struct Recorded {
    pin: Pin,
    input_line: u64,
}

/// The rows between the reader and the recorder: results line → what was recorded.
#[derive(Default)]
pub struct Expected {
    rows: Mutex<HashMap<u64, Recorded>>,
}

impl Expected {
    fn put(&self, line: u64, recorded: Recorded) {
        self.lock().insert(line, recorded);
    }

    fn take(&self, line: u64) -> Option<Recorded> {
        self.lock().remove(&line)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Recorded>> {
        self.rows
            .lock()
            .expect("the table of expected PINs is never poisoned")
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
    let verified = files.rows(&config.output, config.existing, "the verified file")?;
    let settled = match verified.existing_file() {
        Some(path) if config.existing == Existing::Append => {
            file::already_verified(path, config.update_results, &config.results)?
        }
        _ => Settled::default(),
    };
    let finals = ledger::final_rows(std::slice::from_ref(&config.results))?;
    let coverage = ledger::plan::coverage(std::slice::from_ref(&config.results))?;
    // Who is asking, before the first GetUser, as for every command that calls AWS.
    let connection = crate::preflight::connect(&config.client).await?;
    if !config.quiet {
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
    let state = Arc::new(RunState::new(
        config.exec.rate_governor(),
        Arc::new(Dedup::default()),
    ));
    let expected = Arc::new(Expected::default());
    let (item_tx, item_rx) = mpsc::channel(READ_AHEAD_CHUNKS);
    let (outcome_tx, outcome_rx) = mpsc::channel(config.exec.concurrency.get() * 4 + 64);
    let users = finals.users() as u64;
    let reader = {
        let expected = expected.clone();
        let lines = settled.lines;
        thread::spawn(move || read_users(&finals, &lines, &expected, &item_tx))
    };
    let updating = files.updates.is_some();
    let recorded = files.recorded.clone();
    // The executor starts only once the rows have somewhere to go.
    let Some(files) = crate::pipeline::start_writer(files, &state, "the verified file") else {
        return crate::exit::USAGE;
    };
    let mut running = Running::start(
        client,
        item_rx,
        config.exec.clone(),
        state.clone(),
        outcome_tx,
        config.grace_period,
    );
    let mut recorder = VerifyRecorder {
        files: Some(files),
        backlog: Vec::new(),
        updating,
        cells,
        expected,
        counts: BTreeMap::new(),
        settled: BTreeMap::new(),
        recorded,
        tally: Tally::default(),
        progress: Progress::new(config.progress, Some(users)),
        max_failures: config.max_failures,
    };
    crate::pipeline::record_all(&mut recorder, outcome_rx, &state).await;
    running.finished().await;
    // The signals are still watched: a writer blocked on a pipe is given up on only when the
    // grace period that a signal started ends.
    let closed = recorder.close_files(&state).await;
    running.stop_watching();
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

/// The reader's thread: each user's final row, handed over when it is `reset` and not settled
/// by the verified file being resumed. Returns the users not checked, by status, and those
/// settled, by the status the verified file gave them: only lines that are still their user's
/// final row count (a row appended since, by `--update-results` or a run, is checked anew).
fn read_users(
    finals: &FinalRows,
    settled: &[(u64, Verified)],
    expected: &Expected,
    items: &mpsc::Sender<Vec<InputItem>>,
) -> (BTreeMap<RowStatus, u64>, BTreeMap<Verified, u64>) {
    let mut not_checked = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    let mut chunk = Vec::with_capacity(READ_CHUNK);
    for found in finals.iter() {
        let row = match found {
            Ok(FinalRow { row, .. }) => row,
            Err(err) => {
                chunk.push(InputItem::Unreadable(crate::stderr::one_line(&err)));
                break;
            }
        };
        if row.status != RowStatus::Reset {
            *not_checked.entry(row.status).or_default() += 1;
            continue;
        }
        if let Ok(at) = settled.binary_search_by_key(&row.file_line, |(line, _)| *line) {
            *skipped.entry(settled[at].1).or_default() += 1;
            continue;
        }
        let recorded = Recorded {
            pin: row.personal_pin,
            input_line: row.input_line,
        };
        expected.put(row.file_line, recorded);
        chunk.push(InputItem::Task(RowTask {
            line: row.file_line,
            account_id: row.account_id,
            target: Target::UserId(row.user_id),
            email: None,
            carried: row.carried,
        }));
        if chunk.len() == READ_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK));
            if items.blocking_send(full).is_err() {
                return (not_checked, skipped);
            }
        }
    }
    if !chunk.is_empty() {
        let _ = items.blocking_send(chunk);
    }
    (not_checked, skipped)
}
