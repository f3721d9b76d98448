//! A run from end to end: wires the stages together. The input is read on its own thread into a
//! bounded channel, the executor sends rows within the limits, and this module owns the
//! results file, the counters and the progress display, fed by the executor's outcomes.

use std::io::Write as _;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::chime::{ChimeApi, ChimeClient};
use crate::config::{Rehearsal, RunConfig};
use crate::execution::control::watch_signals;
use crate::execution::{self, Control, RateGovernor, RunState, StopReason};
use crate::exit;
use crate::input::{self, Fingerprints, InputItem, InputReader};
use crate::ledger::{self, resume::Resumed};
use crate::outcome::{Outcome, RowStatus};
use crate::output::{self, Existing, ResultsWriter};
use crate::report::{Progress, Summary, Tally, UnrecordedRow};
use crate::simulator::{Directory, Simulator, SimulatorConfig, SimulatorHandle};

/// Rows read ahead of the executor: enough to keep it busy, never the whole file.
const READ_AHEAD: usize = 1024;
/// Rows handed from the reader's thread to the executor at a time.
const READ_CHUNK: usize = 64;
/// Results rows written at most in one write: all the answers that are in, up to this many.
const BATCH_ROWS: usize = 256;

/// Runs the whole job and returns the exit code. An `Err` means nothing was sent.
pub async fn run(config: RunConfig) -> anyhow::Result<u8> {
    let existing = config.existing;
    // Locked first: a second run on the same results file is refused before it reads them.
    let held = output::hold(&config.output, existing)?;
    let mut resumed = match &held {
        Some(file) if existing == Existing::Append => {
            ledger::resume::read(file.path(), config.pins)?
        }
        _ => Resumed::default(),
    };
    let already_reset = std::mem::take(&mut resumed.already_reset);
    let reader = InputReader::open(config.input.clone(), already_reset)?;
    resumed.check_carried(reader.carried_headers())?;
    if let Some(notice) = reader.notice() {
        // A closed stderr must not stop the run.
        let _ = writeln!(std::io::stderr(), "chime-pin-reset: notice: {notice}");
    }
    let simulator = match &config.rehearsal {
        Some(rehearsal) => Some(start_simulator(&config, rehearsal).await?),
        None => None,
    };
    let mut settings = config.client.clone();
    if let Some(simulator) = &simulator {
        settings.endpoint_url = Some(url::Url::parse(simulator.endpoint())?);
        settings.static_credentials = Some(crate::config::simulator_credentials());
    }
    let client = ChimeClient::new(&settings).await;
    // Created last, just before the first request: a run refused or interrupted before then
    // (loading credentials can take seconds) leaves no results file behind.
    let writer = ResultsWriter::create(
        &config.output,
        existing,
        held,
        reader.carried_headers(),
        config.pins,
        config.raw_cells,
    )?;
    let code = execute_run(&config, client, reader, writer).await;
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    Ok(code)
}

/// Starts the in-process simulator of `run --simulate`.
async fn start_simulator(
    config: &RunConfig,
    rehearsal: &Rehearsal,
) -> anyhow::Result<SimulatorHandle> {
    let directory = simulated_directory(config, rehearsal)?;
    Simulator::start(SimulatorConfig {
        directory,
        ..SimulatorConfig::default()
    })
    .await
    .context("cannot start the simulator")
}

/// The simulator's users for `run --simulate`: the given directory, or every user of the input.
fn simulated_directory(config: &RunConfig, rehearsal: &Rehearsal) -> anyhow::Result<Directory> {
    if let Some(path) = &rehearsal.directory {
        return Directory::from_csv_path(path);
    }
    anyhow::ensure!(
        matches!(config.input.source, input::Source::File(_)),
        "--simulate reads the input twice to build the simulator's users: give a file, \
         or --simulate-directory FILE"
    );
    let mut directory = Directory::new();
    for item in InputReader::open(config.input.clone(), Fingerprints::default())? {
        if let InputItem::Task(task) = item {
            if let input::Target::UserId(user_id) = &task.target {
                directory.ensure_user(&task.account_id, user_id);
            }
        }
    }
    Ok(directory)
}

/// Sends every row and records every outcome; returns the exit code.
async fn execute_run<A: ChimeApi>(
    config: &RunConfig,
    api: A,
    reader: InputReader,
    writer: ResultsWriter,
) -> u8 {
    let started = Instant::now();
    let state = Arc::new(RunState::new(
        RateGovernor::new(config.exec.rate, config.exec.burst),
        reader.dedup(),
    ));
    let (item_tx, item_rx) = mpsc::channel(READ_AHEAD / READ_CHUNK);
    let (outcome_tx, outcome_rx) = mpsc::channel(config.exec.concurrency.get() * 4 + 64);

    let expected_rows = reader.expected_rows();
    // A plain thread: reading may block (stdin), and it ends when the executor hangs up.
    thread::spawn(move || {
        let mut chunk = Vec::with_capacity(READ_CHUNK);
        for item in reader {
            chunk.push(item);
            if chunk.len() == READ_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK));
                if item_tx.blocking_send(full).is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = item_tx.blocking_send(chunk);
        }
    });
    let signals = {
        let (state, grace) = (state.clone(), config.grace_period);
        tokio::spawn(async move { watch_signals(&state.control, grace).await })
    };
    let executor = tokio::spawn(execution::execute(
        Arc::new(api),
        item_rx,
        config.exec.clone(),
        state.clone(),
        outcome_tx,
    ));
    let mut recorder = Recorder {
        writer,
        tally: Tally::default(),
        progress: Progress::new(config.progress, expected_rows),
        unwritten: Vec::new(),
        broken: false,
        max_failures: config.max_failures,
    };
    recorder.record_all(outcome_rx, &state).await;
    let _ = executor.await;
    signals.abort();
    recorder.finish(config, &state, started)
}

/// The one owner of the results file, the counters and the progress display.
struct Recorder {
    writer: ResultsWriter,
    tally: Tally,
    progress: Progress,
    /// Outcomes that could not be written, kept only to try once more and to name their users.
    unwritten: Vec<Outcome>,
    broken: bool,
    max_failures: Option<u64>,
}

impl Recorder {
    async fn record_all(&mut self, mut outcomes: mpsc::Receiver<Outcome>, state: &RunState) {
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                received = outcomes.recv_many(&mut batch, BATCH_ROWS) => {
                    if received == 0 {
                        break;
                    }
                    self.record_batch(&mut batch, &state.control);
                }
                _ = ticker.tick() => {}
            }
            self.progress
                .update(&self.tally, &state.live, state.rate.current());
        }
    }

    fn record_batch(&mut self, batch: &mut Vec<Outcome>, control: &Control) {
        for outcome in batch.iter() {
            self.tally.record(outcome);
        }
        if !self.broken {
            if let Err(err) = self.writer.write_batch(batch) {
                self.broken = true;
                control.stop(StopReason::ResultsUnwritable(err.to_string()));
            }
        }
        if self.broken {
            self.unwritten.append(batch);
        }
        batch.clear();
        if let Some(limit) = self.max_failures {
            if self.tally.count(RowStatus::Failed) >= limit {
                control.stop(StopReason::MaxFailures(limit));
            }
        }
    }

    fn finish(mut self, config: &RunConfig, state: &RunState, started: Instant) -> u8 {
        self.progress.finish();
        if !self.unwritten.is_empty() && self.writer.write_batch(&self.unwritten).is_ok() {
            self.unwritten.clear();
        }
        let synced = self.writer.sync();
        let mut stop = state.control.reason();
        if let (Err(err), None) = (&synced, &stop) {
            stop = Some(StopReason::ResultsUnwritable(err.to_string()));
        }
        let mut summary = Summary::new(
            &self.tally,
            &state.live,
            stop.as_ref(),
            started.elapsed(),
            config.output.name(),
        );
        summary.unrecorded_rows = self
            .unwritten
            .iter()
            .map(|outcome| UnrecordedRow {
                line: outcome.line,
                account_id: outcome.account_id.clone(),
                user: outcome.user_id.clone(),
                status: outcome.status.as_str(),
            })
            .collect();
        summary.dropped_in_flight = state
            .rows_in_flight()
            .iter()
            .map(|(line, (account_id, user))| UnrecordedRow {
                line: *line,
                account_id: account_id.clone(),
                user: user.clone(),
                status: "in flight",
            })
            .collect();
        if stop.is_some() || self.tally.unsuccessful() > 0 {
            summary.resume_command = config.resume_command();
        }
        if !config.quiet || stop.is_some() {
            summary.print();
        }
        if let Some(path) = &config.summary_json {
            if let Err(err) = summary.write_json(path) {
                eprintln!("chime-pin-reset: cannot write {}: {err}", path.display());
            }
        }
        match stop {
            Some(StopReason::Interrupted) => exit::INTERRUPTED,
            Some(_) => exit::STOPPED_EARLY,
            None if self.tally.unsuccessful() > 0 => exit::ROWS_FAILED,
            None => exit::SUCCESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{FullDisk, PinPolicy};
    use crate::report::ProgressMode;

    fn reset_row(line: u64) -> Outcome {
        Outcome::new(
            line,
            "account".into(),
            format!("user-{line}"),
            RowStatus::Reset,
        )
    }

    #[test]
    fn an_unwritable_result_stops_dispatching_and_keeps_every_answer_after_it() {
        let mut recorder = Recorder {
            writer: ResultsWriter::from_sink(Box::new(FullDisk::new(0)), PinPolicy::Full, false),
            tally: Tally::default(),
            progress: Progress::new(ProgressMode::Off, None),
            unwritten: Vec::new(),
            broken: false,
            max_failures: None,
        };
        let control = Control::default();
        recorder.record_batch(&mut vec![reset_row(2), reset_row(3)], &control);
        assert!(
            control.dispatch.is_cancelled(),
            "no row is sent once one cannot be recorded"
        );
        assert!(matches!(
            control.reason(),
            Some(StopReason::ResultsUnwritable(_))
        ));
        recorder.record_batch(&mut vec![reset_row(4)], &control);
        let kept: Vec<u64> = recorder.unwritten.iter().map(|o| o.line).collect();
        assert_eq!(
            kept,
            vec![2, 3, 4],
            "the answers in flight are kept to be named"
        );
        assert_eq!(recorder.tally.count(RowStatus::Reset), 3);
    }
}
