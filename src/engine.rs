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

    /// The writer and the rows it has not been given yet, for it to finish with.
    fn hand_off(
        &mut self,
    ) -> (
        WriterThread<Self::Writer>,
        Vec<<Self::Writer as BatchWriter>::Row>,
    );
}

/// Takes every outcome until the executor is done, handing rows to the writer as it can.
pub async fn record_all<R: Recording>(
    recording: &mut R,
    mut outcomes: mpsc::Receiver<R::Answer>,
    state: &RunState,
) {
    let control = &state.control;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut batch = Vec::new();
    loop {
        let event = {
            let (writer, backlog) = recording.writer();
            // While the writer is behind, answers wait in the executor's channel, whose tasks
            // hold their slots, so no more rows are sent. A stopping run takes every answer,
            // so that none waits in a task that the end of the grace period drops.
            let take = backlog.len() < BACKLOG_ROWS || control.dispatch.is_cancelled();
            let ready_to_hand = !backlog.is_empty() && writer.is_open();
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
                _ = ticker.tick() => Event::Tick,
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
        recording.woke(state);
    }
}
