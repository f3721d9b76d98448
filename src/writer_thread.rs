//! The results writer on a thread of its own, fed by a bounded channel of batches.
//!
//! A write can block for as long as the reader of a pipe likes (`-o - | age -p` waits for a
//! passphrase before it reads). On the runtime's thread that stalled the timers, the answers
//! and Ctrl-C, and answers that had arrived were retried as timeouts. Here only this thread
//! waits; the run goes on until the channel is full, and a stopped run can give up on a
//! writer that never returns, naming every row it could not confirm as written.
//!
//! The guarantees of [`ResultsWriter`] hold as before: one owner of the file, a batch in one
//! write, a failed write cut back to the last whole row. After a failed write nothing more is
//! written until the end, when the rows kept are tried once more; then the file is fsynced.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::outcome::Outcome;
use crate::output::ResultsWriter;
use crate::report::UnrecordedRow;

/// Batches waiting for the writer. Two: one being written, one ready to follow it.
const QUEUED_BATCHES: usize = 2;

/// The handle the run keeps on the writer's thread.
pub struct WriterThread {
    /// Closed (`None`) when the run hands its last batch, or when the thread is gone.
    batches: Option<mpsc::Sender<Vec<Outcome>>>,
    /// The rows of every batch handed over, in order, to name those not written.
    handed: VecDeque<Vec<UnrecordedRow>>,
    /// How many of the batches handed over are written (the first ones: writes are in order).
    written: Arc<AtomicUsize>,
    /// The outcome of the final fsync, sent when the thread ends.
    finished: oneshot::Receiver<io::Result<()>>,
}

/// How the writer ended.
pub struct Closed {
    /// The final fsync's outcome; `None` when the run gave up waiting for the writer.
    pub synced: Option<io::Result<()>>,
    /// Rows answered whose outcome is not known to be in the results.
    pub unrecorded: Vec<UnrecordedRow>,
}

/// The writer's thread is gone (it panicked): nothing more can be written.
#[derive(Debug)]
pub struct WriterGone;

impl WriterThread {
    /// Starts the thread. `on_failure` is called, on the writer's thread, the moment a write
    /// fails, so that dispatching stops without waiting for the run to hear of it.
    pub fn start(
        writer: ResultsWriter,
        on_failure: impl FnOnce(&io::Error) + Send + 'static,
    ) -> io::Result<Self> {
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        let (done, finished) = oneshot::channel();
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        thread::Builder::new()
            .name("results-writer".into())
            .spawn(move || {
                let synced = write_until_closed(writer, receiver, &counter, on_failure);
                let _ = done.send(synced);
            })?;
        Ok(WriterThread {
            batches: Some(sender),
            handed: VecDeque::new(),
            written,
            finished,
        })
    }

    /// Whether batches can still be handed over.
    pub fn is_open(&self) -> bool {
        self.batches.is_some()
    }

    /// Waits for room in the channel, then hands over everything in `backlog` as one batch.
    /// Cancel-safe: if the wait is dropped, `backlog` is left as it was.
    pub async fn hand_over(&mut self, backlog: &mut Vec<Outcome>) -> Result<(), WriterGone> {
        let Some(sender) = &self.batches else {
            return Err(WriterGone);
        };
        let Ok(permit) = sender.reserve().await else {
            self.batches = None;
            return Err(WriterGone);
        };
        self.handed
            .push_back(backlog.iter().map(UnrecordedRow::from).collect());
        permit.send(std::mem::take(backlog));
        Ok(())
    }

    /// Hands over what is left of `backlog`, closes the channel and waits for the writer to
    /// finish and fsync, unless `give_up` completes first (the grace period of a stopped run
    /// ended with the writer still blocked). Names every row not known to be written.
    pub async fn close(
        mut self,
        mut backlog: Vec<Outcome>,
        give_up: impl std::future::Future<Output = ()>,
    ) -> Closed {
        let finishing = async {
            if !backlog.is_empty() {
                let _ = self.hand_over(&mut backlog).await;
            }
            self.batches = None;
            // A thread that panicked dropped its sender without a word.
            (&mut self.finished)
                .await
                .unwrap_or_else(|_| Err(io::Error::other("the results writer stopped")))
        };
        let synced = tokio::select! {
            synced = finishing => Some(synced),
            () = give_up => None,
        };
        let written = self.written.load(Ordering::Acquire);
        let mut unrecorded: Vec<UnrecordedRow> =
            self.handed.into_iter().skip(written).flatten().collect();
        unrecorded.extend(backlog.iter().map(UnrecordedRow::from));
        Closed { synced, unrecorded }
    }
}

/// The thread's work: write each batch as it comes; after a failure keep the rest, try them
/// once more when the channel closes, and fsync.
fn write_until_closed(
    mut writer: ResultsWriter,
    mut batches: mpsc::Receiver<Vec<Outcome>>,
    written: &AtomicUsize,
    on_failure: impl FnOnce(&io::Error),
) -> io::Result<()> {
    let mut on_failure = Some(on_failure);
    let mut received = 0;
    let mut kept: Vec<Outcome> = Vec::new();
    while let Some(batch) = batches.blocking_recv() {
        received += 1;
        if on_failure.is_some() {
            match writer.write_batch(&batch) {
                Ok(()) => {
                    written.store(received, Ordering::Release);
                    continue;
                }
                Err(err) => on_failure.take().expect("checked just above")(&err),
            }
        }
        kept.extend(batch);
    }
    if !kept.is_empty() && writer.write_batch(&kept).is_ok() {
        written.store(received, Ordering::Release);
    }
    writer.sync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::reset_row;
    use crate::output::{FullDisk, PinPolicy, Sink};
    use std::io::Write;
    use std::sync::Mutex;

    fn lines(rows: &[UnrecordedRow]) -> Vec<u64> {
        rows.iter().map(|row| row.line).collect()
    }

    #[tokio::test]
    async fn every_batch_is_written_and_synced() {
        let disk = FullDisk::new(1 << 20);
        let on_disk = disk.written.clone();
        let writer = ResultsWriter::from_sink(Box::new(disk), PinPolicy::Full, false);
        let mut thread = WriterThread::start(writer, |_| panic!("no write fails")).unwrap();
        thread
            .hand_over(&mut vec![reset_row(2), reset_row(3)])
            .await
            .unwrap();
        let closed = thread
            .close(vec![reset_row(4)], std::future::pending())
            .await;
        assert!(closed.synced.expect("not given up").is_ok());
        assert!(closed.unrecorded.is_empty());
        let text = String::from_utf8(on_disk.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "three rows");
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_at_once_and_every_answer_after_it_is_kept() {
        let writer = ResultsWriter::from_sink(Box::new(FullDisk::new(0)), PinPolicy::Full, false);
        let (failed, told) = oneshot::channel();
        let mut thread = WriterThread::start(writer, move |err| {
            let _ = failed.send(err.raw_os_error());
        })
        .unwrap();
        thread
            .hand_over(&mut vec![reset_row(2), reset_row(3)])
            .await
            .unwrap();
        assert_eq!(
            told.await.unwrap(),
            Some(28),
            "the failure is told before the run ends"
        );
        thread.hand_over(&mut vec![reset_row(4)]).await.unwrap();
        let closed = thread.close(Vec::new(), std::future::pending()).await;
        assert_eq!(
            lines(&closed.unrecorded),
            vec![2, 3, 4],
            "the answers after the failure are kept, tried once more and named"
        );
    }

    /// A pipe whose reader never reads: every write blocks until the test ends.
    struct BlockedPipe(Mutex<std::sync::mpsc::Receiver<()>>);

    impl Write for BlockedPipe {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.lock().unwrap().recv();
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for BlockedPipe {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn truncate_to(&mut self, _length: u64) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stopped_run_gives_up_on_a_blocked_writer_and_names_its_rows() {
        let (unblock, blocked) = std::sync::mpsc::channel();
        let sink = BlockedPipe(Mutex::new(blocked));
        let writer = ResultsWriter::from_sink(Box::new(sink), PinPolicy::Full, false);
        let mut thread = WriterThread::start(writer, |_| {}).unwrap();
        thread.hand_over(&mut vec![reset_row(2)]).await.unwrap();
        thread.hand_over(&mut vec![reset_row(3)]).await.unwrap();
        let closed = thread.close(vec![reset_row(4)], async {}).await;
        assert!(closed.synced.is_none(), "gave up");
        assert_eq!(lines(&closed.unrecorded), vec![2, 3, 4]);
        drop(unblock);
    }
}
