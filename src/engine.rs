//! The engine every mode runs on (`run`, `run --dry-run`, `verify`): the mode's reader on a
//! thread of its own feeds the executor through a bounded channel, one recorder loop takes
//! every answer, and the mode's files are written on the writer's thread
//! ([`crate::writer_thread`]). A mode brings its jobs, its [`Recording`] (what it makes of an
//! answer) and its writer; [`drive`] does the rest.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::chime::ChimeApi;
use crate::config::EngineConfig;
use crate::execution::{Control, Payload, RunState, Running, Work};
use crate::outcome::StopReason;
use crate::writer_thread::{BatchWriter, Closed, WriterGone, WriterThread};

/// Rows read ahead of the executor: enough to keep it busy, never the whole file.
const READ_AHEAD: usize = 1024;
/// Rows handed from the reader's thread to the executor at a time.
const READ_CHUNK: usize = 64;
/// Answers taken from the executor at a time.
const BATCH_ROWS: usize = 256;
/// Answers held for a writer that is behind before the executor is made to wait: a batch
/// is written in one write, so this is also the most rows one write holds.
const BACKLOG_ROWS: usize = 256;
/// Answers gathered before the writer's thread is woken for them, unless [`HAND_OVER_AFTER`]
/// comes first: each wake-up of that thread costs two context switches, and a write that fails
/// (a full disk) is found only when its batch is written, the rows answered meanwhile named as
/// not recorded.
const HAND_OVER_ROWS: usize = 16;
/// How long answers are gathered for the writer while more keep coming (each wakes the recorder
/// anyway): short beside the second within which a written row is fsynced.
const HAND_OVER_AFTER: Duration = Duration::from_millis(50);
/// The longest an answer waits for the writer when no other comes to carry it: the recorder is
/// woken for it only then.
const HAND_OVER_AT_LATEST: Duration = Duration::from_millis(200);

/// Starts the thread that reads a mode's input (a plain thread: reading may block, on stdin or
/// a slow disk): `read` feeds the executor through the channel returned, and ends early when
/// the executor hangs up. Its thread returns what `read` returns.
pub fn start_reader<T, R>(
    read: impl FnOnce(&mpsc::Sender<Vec<T>>) -> R + Send + 'static,
) -> (thread::JoinHandle<R>, mpsc::Receiver<Vec<T>>)
where
    T: Send + 'static,
    R: Send + 'static,
{
    let (executor, items) = mpsc::channel(READ_AHEAD / READ_CHUNK);
    (thread::spawn(move || read(&executor)), items)
}

/// Hands `items` to the executor in chunks, so that it is woken once a chunk rather than
/// once a row; stops when the executor hangs up.
pub fn feed<T>(items: impl IntoIterator<Item = T>, executor: &mpsc::Sender<Vec<T>>) {
    let mut chunk = Vec::with_capacity(READ_CHUNK);
    for item in items {
        chunk.push(item);
        if chunk.len() == READ_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK));
            if executor.blocking_send(full).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = executor.blocking_send(chunk);
    }
}

/// Starts the thread that writes a mode's files (`what`, in messages): a write or an fsync that
/// fails stops dispatching at once, without waiting for the recorder to hear of it. `None`
/// when the thread cannot start (said on stderr).
pub fn start_writer<W: BatchWriter>(
    writer: W,
    state: &Arc<RunState>,
    what: &str,
) -> Option<WriterThread<W>> {
    let on_failure = {
        let state = state.clone();
        move |err: &std::io::Error| {
            state
                .control
                .stop(StopReason::ResultsUnwritable(err.to_string()))
        }
    };
    match WriterThread::start(writer, on_failure) {
        Ok(thread) => Some(thread),
        Err(err) => {
            crate::say!("chime-pin-reset: cannot start the writer of {what}: {err}");
            None
        }
    }
}

/// What every mode does between its reader and its summary: runs the executor over `items`,
/// records every answer and closes the mode's files. Returns how they closed.
pub async fn drive<A, P, R>(
    api: A,
    items: mpsc::Receiver<Vec<Work<P>>>,
    recorder: &mut R,
    config: &EngineConfig,
    state: &Arc<RunState>,
) -> Closed
where
    A: ChimeApi,
    P: Payload,
    R: Recording<Answer = P::Answered>,
{
    let (answers, answered) = mpsc::channel(config.exec.concurrency.get() * 4 + 64);
    let mut running = Running::start(
        api,
        items,
        config.exec.clone(),
        state.clone(),
        answers,
        config.grace_period,
    );
    record_all(recorder, answered, state).await;
    running.finished().await;
    // The signals are still watched: a writer blocked on a pipe is given up on only when the
    // grace period that a signal started ends.
    let (writer, backlog) = recorder.hand_off();
    let closed = writer.close(backlog, state.control.abort.cancelled()).await;
    running.stop_watching();
    closed
}

/// What woke the recorder.
enum Event {
    Answers,
    AnswersDone,
    HandedOver,
    WriterGone,
    Tick,
}

/// What a mode does with the answers its recorder takes: `run` queues each outcome as its row,
/// `verify` judges it against the PIN recorded first. [`record_all`] does the rest for both.
pub trait Recording {
    /// What the executor hands over for each row (its [`crate::execution::Payload`]'s answer).
    type Answer;
    type Writer: BatchWriter;

    /// The writer's thread and the rows waiting for it.
    fn writer(
        &mut self,
    ) -> (
        &mut WriterThread<Self::Writer>,
        &mut Vec<<Self::Writer as BatchWriter>::Row>,
    );

    /// Counts a batch of answers and queues their rows for the writer.
    fn take(&mut self, answers: &mut Vec<Self::Answer>, control: &Control);

    /// After every wake-up: the progress line.
    fn woke(&mut self, state: &RunState);

    /// Whether [`Recording::woke`] wants a wake-up every 200 ms too, answers or none (the
    /// progress line does; with none shown, each would only cost a wake-up).
    fn wants_ticks(&self) -> bool;

    /// The writer and the rows it has not been given yet, for it to finish with.
    fn hand_off(
        &mut self,
    ) -> (
        WriterThread<Self::Writer>,
        Vec<<Self::Writer as BatchWriter>::Row>,
    );
}

/// Takes every outcome until the executor is done, handing rows to the writer [`HAND_OVER_ROWS`]
/// at a time, or once the oldest has waited [`HAND_OVER_AFTER`] (or [`HAND_OVER_AT_LATEST`]
/// when no answer comes meanwhile; at once when the run stops).
pub async fn record_all<R: Recording>(
    recording: &mut R,
    mut outcomes: mpsc::Receiver<R::Answer>,
    state: &RunState,
) {
    let control = &state.control;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut batch = Vec::new();
    // When the oldest answer not yet handed to the writer came.
    let mut held_since: Option<tokio::time::Instant> = None;
    let ticks = recording.wants_ticks();
    loop {
        let event = {
            let (writer, backlog) = recording.writer();
            // While the writer is behind, answers wait in the executor's channel, whose tasks
            // hold their slots, so no more rows are sent. A stopping run takes every answer,
            // so that none waits in a task that the end of the grace period drops.
            let stopping = control.dispatch.is_cancelled();
            let take = backlog.len() < BACKLOG_ROWS || stopping;
            let hand_over_at = held_since.map(|since| since + HAND_OVER_AFTER);
            let due = backlog.len() >= HAND_OVER_ROWS
                || stopping
                || hand_over_at.is_some_and(|at| at <= tokio::time::Instant::now());
            let ready_to_hand = !backlog.is_empty() && writer.is_open() && due;
            let hand_over_later = !backlog.is_empty() && writer.is_open() && !due;
            let later = held_since.map_or_else(tokio::time::Instant::now, |since| {
                since + HAND_OVER_AT_LATEST
            });
            tokio::select! {
                received = outcomes.recv_many(&mut batch, BATCH_ROWS), if take => match received {
                    0 => Event::AnswersDone,
                    _ => Event::Answers,
                },
                handed = writer.hand_over(backlog), if ready_to_hand => match handed {
                    Ok(()) => Event::HandedOver,
                    Err(WriterGone) => Event::WriterGone,
                },
                () = control.dispatch.cancelled(), if !take => Event::Tick,
                () = tokio::time::sleep_until(later), if hand_over_later => Event::Tick,
                _ = ticker.tick(), if ticks => Event::Tick,
            }
        };
        match event {
            Event::AnswersDone => break,
            Event::Answers => recording.take(&mut batch, control),
            Event::WriterGone => control.stop(StopReason::ResultsUnwritable(
                "the writer's thread stopped".into(),
            )),
            Event::HandedOver | Event::Tick => {}
        }
        let (_, backlog) = recording.writer();
        held_since = match (backlog.is_empty(), held_since) {
            (true, _) => None,
            (false, None) => Some(tokio::time::Instant::now()),
            (false, since) => since,
        };
        recording.woke(state);
    }
}
