//! A run from end to end: the files named and opened, the resume read back, the preflight and
//! the plan, then the input's rows on the [`crate::engine`], with this module's recorder, which
//! owns the counters and the progress display and hands each outcome on to the results file's
//! writer; and at the end the summary.

use std::io::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config::RunConfig;
use crate::engine::{drive, feed, start_reader, start_writer, Recording};
use crate::execution::{Carried, Control, RunState, Work};
use crate::exit;
use crate::input::{self, Fingerprints, InputReader};
use crate::ledger::plan::{PlanRecord, PlannedAccount};
use crate::ledger::{self, resume::Resumed};
use crate::outcome::{Outcome, RowStatus, StopReason, UnrecordedRow};
use crate::output::{self, Destination, Existing, Files, ResultsWriter, WholeOutput};
use crate::preflight::survey::Survey;
use crate::preflight::{self, Prepared};
use crate::progress::Progress;
use crate::summary::{Summary, Tally};
use crate::writer_thread::{Closed, WriterThread};

/// Runs the whole job and returns the exit code. An `Err` means nothing was sent.
pub async fn run(config: RunConfig) -> anyhow::Result<u8> {
    let existing = config.engine.existing;
    // Every file the run reads and writes, named before anything else is done: the results
    // are locked first, so a second run on them is refused before it reads them.
    let mut files = Files::default();
    if let input::Source::File(path) = &config.input.source {
        files.reads(path, "the input");
    }
    if let Some(path) = config.rehearsal.as_ref().and_then(|r| r.directory.as_ref()) {
        files.reads(path, "the simulator's directory");
    }
    let results = files.rows(&config.engine.output, existing, "the results file")?;
    let summary = match &config.summary_json {
        Some(path) => Some(files.whole(path, existing, "the summary")?),
        None => None,
    };
    let logout = config.engine.exec.offboarding.logout;
    let resumed_file = results
        .existing_file()
        .filter(|_| existing == Existing::Append);
    let mut resumed = match resumed_file {
        Some(path) => ledger::resume::read(path, logout)?,
        None => Resumed::default(),
    };
    if let (Some(path), true) = (resumed_file, logout) {
        if output::lacks_offboarding_columns(path)? {
            anyhow::bail!(
                "{} was written by an earlier version, without the logout column: run --logout \
                 into a new results file",
                config.engine.output.name()
            );
        }
    }
    let plan_file = PlanFile::choose(&config, &mut files, results.existing_file().is_some())?;
    let already_reset = Arc::new(std::mem::take(&mut resumed.already_reset));
    let awaiting_logout = std::mem::take(&mut resumed.awaiting_logout);
    let mut reader = InputReader::open(config.input.clone(), already_reset.clone())?;
    resumed.check_carried(reader.carried_headers())?;
    resumed.check_dry_run(config.engine.exec.mode == crate::execution::Mode::DryRun)?;
    if let Some(notice) = reader.notice() {
        // A closed stderr must not stop the run.
        let _ = writeln!(std::io::stderr(), "chime-pin-reset: notice: {notice}");
    }
    let prepared = preflight::prepare_run(&config, &config.engine.client, already_reset).await?;
    if let Some(read) = prepared.survey.as_ref().and_then(|s| s.fingerprint.clone()) {
        reader.expect_fingerprint(read);
    }
    // Created last, just before the first reset: a run refused or interrupted before then
    // (the identity, the accounts, the question) leaves no results file behind.
    let writer = ResultsWriter::create(
        results,
        reader.carried_headers(),
        config.pins,
        config.raw_cells,
    )?;
    // Before the first reset, under the results file's lock.
    plan_file.write(&config, prepared.survey.as_ref())?;
    let code = match changed_since_the_plan(&config, prepared.survey.as_ref()) {
        Some(why) => {
            crate::say!("chime-pin-reset: the run stopped before the first reset: {why}");
            exit::STOPPED_EARLY
        }
        None => execute_run(&config, prepared, reader, writer, summary, awaiting_logout).await,
    };
    Ok(code)
}

/// Whether the input changed while the preflight waited (a question, a slow account check):
/// checked once more just before the first reset, so that a change found now sends nothing.
/// The run's reader checks the bytes it reads again at their end.
fn changed_since_the_plan(config: &RunConfig, survey: Option<&Survey>) -> Option<String> {
    let input::Source::File(path) = &config.input.source else {
        return None;
    };
    let planned = survey?.fingerprint.as_ref()?;
    let name = config.input.source.name();
    match planned.check_file(path) {
        Ok(None) => None,
        Ok(Some(now)) => Some(planned.describe_change(&name, &now)),
        Err(err) => Some(format!("{name} cannot be read again: {err}")),
    }
}

/// What becomes of the plan beside the results file ([`ledger::plan`]).
enum PlanFile {
    /// Written: a new run's plan (over an existing one with `--force`).
    Write(WholeOutput),
    /// A resume: the plan is kept when the input is the one it read (a resume adds nothing to
    /// it), replaced when the input changed, and a results file without one (an older
    /// version's) stays without one.
    Resume {
        results: std::path::PathBuf,
        plan: WholeOutput,
    },
    /// No plan: the results go to stdout or a device.
    Keep,
}

impl PlanFile {
    /// Decided before anything is read or sent, and named to `files` like every file the run
    /// writes: a plan left without its results file is refused without `--force`, as the
    /// results file would be.
    fn choose(config: &RunConfig, files: &mut Files, results_exist: bool) -> anyhow::Result<Self> {
        let Destination::File(results) = &config.engine.output else {
            return Ok(PlanFile::Keep);
        };
        // A device or a pipe (`-o /dev/stdout`) has no place beside it for a plan.
        if std::fs::metadata(results).is_ok_and(|metadata| !metadata.is_file()) {
            return Ok(PlanFile::Keep);
        }
        let path = Destination::File(ledger::plan::plan_path(results));
        let force = config.engine.existing == Existing::Overwrite;
        if results_exist && !force {
            return Ok(PlanFile::Resume {
                results: results.clone(),
                plan: files.whole(&path, Existing::Overwrite, "the plan")?,
            });
        }
        let existing = if force {
            Existing::Overwrite
        } else {
            Existing::Refuse
        };
        Ok(PlanFile::Write(files.whole(&path, existing, "the plan")?))
    }

    /// Writes the plan of the survey (or says there is none, for stdin).
    fn write(&self, config: &RunConfig, survey: Option<&Survey>) -> anyhow::Result<()> {
        let (plan, after_line) = match self {
            PlanFile::Keep => return Ok(()),
            PlanFile::Write(plan) => (plan, 1),
            PlanFile::Resume { results, plan } => {
                let Some(kept) = ledger::plan::read_plan(results)? else {
                    return Ok(());
                };
                let read = survey.and_then(|survey| survey.fingerprint.as_ref());
                let same = match (&kept.fingerprint, read) {
                    (Some(kept), Some(read)) => kept.same_bytes(read),
                    (kept, read) => kept.is_none() && read.is_none(),
                };
                if same {
                    return Ok(());
                }
                crate::say!(
                    "chime-pin-reset: notice: the input is not the one {} was planned from: \
                     its plan now covers what this run sets out to do",
                    results.display()
                );
                (plan, ledger::plan::count_lines(results)?)
            }
        };
        let accounts = survey.map(|survey| {
            survey
                .accounts
                .iter()
                .zip(&survey.lines)
                .map(|((account_id, planned), lines)| PlannedAccount {
                    account_id: account_id.clone(),
                    planned: *planned,
                    lines: lines.clone(),
                })
                .collect()
        });
        let record = PlanRecord {
            format: PlanRecord::FORMAT,
            mode: match config.engine.exec.mode {
                crate::execution::Mode::DryRun => "dry-run",
                _ => "reset",
            }
            .to_string(),
            input: config.input.source.name(),
            fingerprint: survey.and_then(|survey| survey.fingerprint.clone()),
            accounts,
            after_line,
        };
        Ok(plan.write_all(record.json().as_bytes())?)
    }
}

/// Sends every row and records every outcome; returns the exit code.
async fn execute_run(
    config: &RunConfig,
    prepared: Prepared,
    reader: InputReader,
    writer: ResultsWriter,
    summary: Option<WholeOutput>,
    awaiting_logout: Fingerprints,
) -> u8 {
    let started = Instant::now();
    let state = RunState::new(config.engine.exec.rate_governor())
        .with_dedup(reader.dedup())
        .with_awaiting_logout(awaiting_logout);
    let state = Arc::new(state);
    let progress_bar = Arc::new(OnceLock::new());
    *state.canary.lock().expect("never poisoned") =
        preflight::canary_gate(config, &prepared, progress_bar.clone());
    let ending = Ending {
        plan: serde_json::to_value(&prepared.plan).ok(),
        // The rows the plan read that this run must answer (those already reset are skipped).
        planned_rows: prepared
            .plan
            .rows
            .as_ref()
            .map(|rows| rows.valid + rows.invalid + rows.duplicate),
        summary_file: summary,
        hidden_rows: reader.hidden_rows(),
    };
    let expected_rows = reader.expected_rows();
    let (_reader, items) = start_reader(move |executor| {
        feed(reader.map(Work::<Carried>::from), executor);
    });
    // The executor starts only once the results have somewhere to go.
    let Some(results) = start_writer(writer, &state, "the results") else {
        return exit::USAGE;
    };
    let mut recorder = RunRecorder {
        results: Some(results),
        backlog: Vec::new(),
        tally: Tally::default(),
        progress: Progress::new(config.engine.progress, expected_rows),
        max_failures: config.engine.max_failures,
    };
    let _ = progress_bar.set(recorder.progress.bar());
    let closed = drive(prepared.chime, items, &mut recorder, &config.engine, &state).await;
    recorder.finish(config, &state, closed, started, ending)
}

/// What the end of a run needs from before its first reset: the plan it shows in the summary,
/// the rows it must have answered to be complete, where `--summary-json` goes, and the rows
/// its workbook hides, which it skipped.
struct Ending {
    plan: Option<serde_json::Value>,
    planned_rows: Option<u64>,
    summary_file: Option<WholeOutput>,
    hidden_rows: u64,
}

/// The one owner of the counters and the progress display, and of the handle on the results
/// writer's thread: every outcome comes here first.
struct RunRecorder {
    results: Option<WriterThread>,
    /// Answers in, not yet handed to the writer (it is busy, or blocked on a pipe).
    backlog: Vec<Outcome>,
    tally: Tally,
    progress: Progress,
    max_failures: Option<u64>,
}

impl Recording for RunRecorder {
    type Answer = Outcome;
    type Writer = ResultsWriter;

    fn writer(&mut self) -> (&mut WriterThread, &mut Vec<Outcome>) {
        let results = self
            .results
            .as_mut()
            .expect("handed off only after the run");
        (results, &mut self.backlog)
    }

    fn take(&mut self, batch: &mut Vec<Outcome>, control: &Control) {
        self.take_answers(batch, control);
    }

    fn woke(&mut self, state: &RunState) {
        self.progress
            .update(&self.tally, &state.live, state.rate.current());
    }

    fn wants_ticks(&self) -> bool {
        self.progress.is_shown()
    }

    fn hand_off(&mut self) -> (WriterThread, Vec<Outcome>) {
        (
            self.results.take().expect("handed off once"),
            std::mem::take(&mut self.backlog),
        )
    }
}

impl RunRecorder {
    fn take_answers(&mut self, batch: &mut Vec<Outcome>, control: &Control) {
        for outcome in batch.iter() {
            self.tally.record(outcome);
        }
        self.backlog.append(batch);
        if let Some(limit) = self.max_failures {
            if self.tally.count(RowStatus::Failed) >= limit {
                control.stop(StopReason::MaxFailures(limit));
            }
        }
    }

    fn finish(
        self,
        config: &RunConfig,
        state: &RunState,
        closed: Closed,
        started: Instant,
        ending: Ending,
    ) -> u8 {
        let Ending {
            plan,
            planned_rows,
            summary_file,
            hidden_rows,
        } = ending;
        self.progress.finish();
        let mut stop = state.control.reason();
        if let (Some(Err(err)), None) = (&closed.synced, &stop) {
            stop = Some(StopReason::ResultsUnwritable(err.to_string()));
        }
        // A run that answered fewer rows than the plan counted is not complete, whatever ended
        // its input early.
        if let (Some(planned), None) = (planned_rows, &stop) {
            if self.tally.rows < planned {
                stop = Some(StopReason::InputUnreadable(format!(
                    "the plan counted {planned} rows, and the run answered only {}",
                    self.tally.rows
                )));
            }
        }
        let mut summary = Summary::new(
            &self.tally,
            &state.live,
            stop.as_ref(),
            started.elapsed(),
            config.engine.output.name(),
        );
        summary.skipped_hidden = hidden_rows;
        summary.unrecorded_rows = closed.unrecorded;
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
            summary.resume_command = config.engine.resume_command();
        }
        summary.plan = plan;
        if !config.engine.quiet || stop.is_some() {
            summary.print();
        }
        if let Some(file) = summary_file {
            if let Err(err) = file.write_all(summary.json().as_bytes()) {
                crate::say!("chime-pin-reset: {:#}", anyhow::Error::new(err));
            }
        }
        StopReason::exit_code(stop.as_ref(), self.tally.unsuccessful() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record_all;
    use crate::outcome::reset_row;
    use crate::output::{FullDisk, PinPolicy};
    use crate::progress::ProgressMode;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn an_unwritable_result_stops_dispatching_and_keeps_every_answer_after_it() {
        let state = Arc::new(RunState::new(crate::execution::RateGovernor::new(
            None,
            std::num::NonZeroU32::MIN,
            std::num::NonZeroUsize::MIN,
        )));
        let writer = ResultsWriter::from_sink(Box::new(FullDisk::new(0)), PinPolicy::Full, false);
        let stopper = state.clone();
        let results = WriterThread::start(writer, move |err| {
            stopper
                .control
                .stop(StopReason::ResultsUnwritable(err.to_string()))
        })
        .unwrap();
        let mut recorder = RunRecorder {
            results: Some(results),
            backlog: Vec::new(),
            tally: Tally::default(),
            progress: Progress::new(ProgressMode::Off, None),
            max_failures: None,
        };
        let (answers, outcomes) = mpsc::channel(8);
        answers.send(reset_row(2)).await.unwrap();
        answers.send(reset_row(3)).await.unwrap();
        let recording = async {
            record_all(&mut recorder, outcomes, &state).await;
        };
        let answering = async {
            state.control.dispatch.cancelled().await;
            // An answer from a row that was in flight when the write failed.
            answers.send(reset_row(4)).await.unwrap();
            drop(answers);
        };
        tokio::join!(recording, answering);
        assert!(matches!(
            state.control.reason(),
            Some(StopReason::ResultsUnwritable(_))
        ));
        let (results, backlog) = recorder.hand_off();
        let closed = results.close(backlog, std::future::pending()).await;
        let kept: Vec<u64> = closed.unrecorded.iter().map(|row| row.line).collect();
        assert_eq!(
            kept,
            vec![2, 3, 4],
            "the answers in flight are kept to be named"
        );
        assert_eq!(recorder.tally.count(RowStatus::Reset), 3);
    }
}
