//! A file of rows (the results, or `verify`'s files) written on a thread of its own, fed by a
//! bounded channel of batches.
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
//! While rows are being written, the file is also fsynced within [`SYNC_EVERY`] of the first
//! row not yet synced, the batches written since then in one group: an operating-system crash
//! loses at most that last second of answers.
//!
//! The run remembers the rows of a batch only until the writer has written it: what it holds
//! is bounded by the channel, never by the number of rows.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::outcome::{Outcome, UnrecordedRow};
use crate::output::ResultsWriter;

/// What the writer's thread writes: a batch of rows in one go, made durable on demand; each
/// row names itself for the summary when it could not be written.
pub trait BatchWriter: Send + 'static {
    type Row: Send + 'static;

    fn write_batch(&mut self, rows: &[Self::Row]) -> io::Result<()>;

    fn sync(&mut self) -> io::Result<()>;

    fn unrecorded(row: &Self::Row) -> UnrecordedRow;
}

impl BatchWriter for ResultsWriter {
    type Row = Outcome;

    fn write_batch(&mut self, rows: &[Outcome]) -> io::Result<()> {
        ResultsWriter::write_batch(self, rows)
    }

    fn sync(&mut self) -> io::Result<()> {
        ResultsWriter::sync(self)
    }

    fn unrecorded(row: &Outcome) -> UnrecordedRow {
        UnrecordedRow::from(row)
    }
}

/// Batches waiting for the writer. Two: one being written, one ready to follow it.
const QUEUED_BATCHES: usize = 2;

/// The longest a written row waits for its fsync.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A batch on its way to the writer, with its place in the channel, freed when it is taken.
type Handed<Row> = (Vec<Row>, OwnedSemaphorePermit);

/// The handle the run keeps on the writer's thread.
pub struct WriterThread<W: BatchWriter = ResultsWriter> {
    /// Closed (`None`) when the run hands its last batch, or when the thread is gone.
    batches: Option<std_mpsc::Sender<Handed<W::Row>>>,
    /// Places in the channel: what bounds it (a std channel, so that the thread can wait for
    /// a batch and for the time of the next fsync at once). Closed when the thread ends.
    room: Arc<Semaphore>,
    /// The rows of the batches handed over and not yet known to be written, oldest first, to
    /// name those not written.
    unwritten: VecDeque<Vec<UnrecordedRow>>,
    /// How many of the batches handed over are no longer in `unwritten` (the first ones).
    forgotten: usize,
    /// How many of the batches handed over are written (the first ones: writes are in order).
    written: Arc<AtomicUsize>,
    /// The outcome of the fsyncs (see [`Closed::synced`]), sent when the thread ends.
    finished: oneshot::Receiver<io::Result<()>>,
}

/// How the writer ended.
pub struct Closed {
    /// The first fsync that failed, else the final one; `None` when the run gave up waiting
    /// for the writer.
    pub synced: Option<io::Result<()>>,
    /// Rows answered whose outcome is not known to be in the results.
    pub unrecorded: Vec<UnrecordedRow>,
}

/// The writer's thread is gone (it panicked): nothing more can be written.
#[derive(Debug)]
pub struct WriterGone;

impl<W: BatchWriter> WriterThread<W> {
    /// Starts the thread. `on_failure` is called, on the writer's thread, the moment a write
    /// or an fsync fails, so that dispatching stops without waiting for the run to hear of it.
    pub fn start(
        writer: W,
        on_failure: impl FnOnce(&io::Error) + Send + 'static,
    ) -> io::Result<Self> {
        Self::start_with_clock(writer, on_failure, Instant::now)
    }

    /// [`WriterThread::start`] with the clock that times the fsyncs given (a test's own).
    fn start_with_clock(
        writer: W,
        on_failure: impl FnOnce(&io::Error) + Send + 'static,
        clock: impl Fn() -> Instant + Send + 'static,
    ) -> io::Result<Self> {
        let (sender, receiver) = std_mpsc::channel();
        let room = Arc::new(Semaphore::new(QUEUED_BATCHES));
        let (done, finished) = oneshot::channel();
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        let closes_on_exit = ClosesOnDrop(room.clone());
        thread::Builder::new()
            .name("rows-writer".into())
            .spawn(move || {
                let _closes_on_exit = closes_on_exit;
                let syncs = SyncSchedule::new(clock);
                let synced = write_until_closed(writer, receiver, &counter, on_failure, syncs);
                let _ = done.send(synced);
            })?;
        Ok(WriterThread {
            batches: Some(sender),
            room,
            unwritten: VecDeque::new(),
            forgotten: 0,
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
    pub async fn hand_over(&mut self, backlog: &mut Vec<W::Row>) -> Result<(), WriterGone> {
        if self.batches.is_none() {
            return Err(WriterGone);
        }
        let Ok(place) = self.room.clone().acquire_owned().await else {
            self.batches = None;
            return Err(WriterGone);
        };
        self.forget_written();
        self.unwritten
            .push_back(backlog.iter().map(W::unrecorded).collect());
        let batch = std::mem::take(backlog);
        let sender = self.batches.as_ref().expect("checked at the top");
        if sender.send((batch, place)).is_err() {
            // The batch is in `unwritten` and never counted as written: it is named.
            self.batches = None;
            return Err(WriterGone);
        }
        Ok(())
    }

    /// Drops the rows of the batches the writer has written: only those not written are
    /// ever named.
    fn forget_written(&mut self) {
        let written = self.written.load(Ordering::Acquire);
        while self.forgotten < written {
            self.unwritten.pop_front();
            self.forgotten += 1;
        }
    }

    /// Hands over what is left of `backlog`, closes the channel and waits for the writer to
    /// finish and fsync, unless `give_up` completes first (the grace period of a stopped run
    /// ended with the writer still blocked). Names every row not known to be written.
    pub async fn close(
        mut self,
        mut backlog: Vec<W::Row>,
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
                .unwrap_or_else(|_| Err(io::Error::other("the writer's thread stopped")))
        };
        let synced = tokio::select! {
            synced = finishing => Some(synced),
            () = give_up => None,
        };
        self.forget_written();
        let mut unrecorded: Vec<UnrecordedRow> = self.unwritten.into_iter().flatten().collect();
        unrecorded.extend(backlog.iter().map(W::unrecorded));
        Closed { synced, unrecorded }
    }
}

/// Closes the channel's room when the writer's thread ends, even by a panic, so that the run
/// waiting for room hears that the writer is gone.
struct ClosesOnDrop(Arc<Semaphore>);

impl Drop for ClosesOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// When the next fsync is due: [`SYNC_EVERY`] after the first write not yet synced.
struct SyncSchedule<Clock> {
    clock: Clock,
    unsynced_since: Option<Instant>,
}

impl<Clock: Fn() -> Instant> SyncSchedule<Clock> {
    fn new(clock: Clock) -> Self {
        SyncSchedule {
            clock,
            unsynced_since: None,
        }
    }

    /// A write went out: it is due for an fsync within [`SYNC_EVERY`].
    fn wrote(&mut self) {
        if self.unsynced_since.is_none() {
            self.unsynced_since = Some((self.clock)());
        }
    }

    fn synced(&mut self) {
        self.unsynced_since = None;
    }

    /// How long to wait for the next batch before an fsync is due; `None`: nothing to sync.
    fn wait(&self) -> Option<Duration> {
        self.unsynced_since
            .map(|since| (since + SYNC_EVERY).saturating_duration_since((self.clock)()))
    }

    fn is_due(&self) -> bool {
        self.wait() == Some(Duration::ZERO)
    }
}

/// The thread's work: write each batch as it comes, fsyncing at least every [`SYNC_EVERY`];
/// after a failure keep the rest, try them once more when the channel closes, and fsync.
fn write_until_closed<W: BatchWriter>(
    mut writer: W,
    batches: std_mpsc::Receiver<Handed<W::Row>>,
    written: &AtomicUsize,
    on_failure: impl FnOnce(&io::Error),
    mut syncs: SyncSchedule<impl Fn() -> Instant>,
) -> io::Result<()> {
    let mut on_failure = Some(on_failure);
    let mut failed_sync = None;
    let mut received = 0;
    let mut kept: Vec<W::Row> = Vec::new();
    loop {
        let next = match syncs.wait() {
            Some(wait) => batches.recv_timeout(wait),
            None => batches.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((batch, place)) => {
                drop(place);
                received += 1;
                if on_failure.is_some() {
                    match writer.write_batch(&batch) {
                        Ok(()) => {
                            written.store(received, Ordering::Release);
                            syncs.wrote();
                        }
                        Err(err) => {
                            on_failure.take().expect("checked just above")(&err);
                            kept.extend(batch);
                        }
                    }
                } else {
                    kept.extend(batch);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if syncs.is_due() {
            syncs.synced();
            if let Err(err) = writer.sync() {
                // Rows written may not be durable: stop as for a failed write.
                if let Some(on_failure) = on_failure.take() {
                    on_failure(&err);
                }
                failed_sync.get_or_insert(err);
            }
        }
    }
    if !kept.is_empty() && writer.write_batch(&kept).is_ok() {
        written.store(received, Ordering::Release);
    }
    let synced = writer.sync();
    match failed_sync {
        Some(err) => Err(err),
        None => synced,
    }
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

    /// A disk that counts its fsyncs, for the tests of the periodic fsync.
    #[derive(Clone, Default)]
    struct CountingDisk {
        bytes: Arc<Mutex<Vec<u8>>>,
        syncs: Arc<AtomicUsize>,
    }

    impl Write for CountingDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for CountingDisk {
        fn sync(&mut self) -> io::Result<()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn truncate_to(&mut self, _length: u64) -> io::Result<()> {
            Ok(())
        }
    }

    impl CountingDisk {
        fn rows(&self) -> usize {
            self.bytes
                .lock()
                .unwrap()
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        }
    }

    /// Waits, for at most ten seconds, until `done` holds.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A clock that moves only when the test moves it.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<Instant>>);

    impl TestClock {
        fn new() -> Self {
            TestClock(Arc::new(Mutex::new(Instant::now())))
        }
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    #[tokio::test]
    async fn the_rows_of_a_batch_are_forgotten_once_it_is_written() {
        const BATCHES: u64 = 200;
        let disk = CountingDisk::default();
        let writer = ResultsWriter::from_sink(Box::new(disk.clone()), PinPolicy::Full, false);
        let mut thread = WriterThread::start(writer, |_| panic!("no write fails")).unwrap();
        for line in 0..BATCHES {
            thread.hand_over(&mut vec![reset_row(line)]).await.unwrap();
            assert!(
                thread.unwritten.len() <= QUEUED_BATCHES + 1,
                "only the batches queued or being written are remembered, not {}",
                thread.unwritten.len()
            );
        }
        until("every batch is written", || {
            thread.written.load(Ordering::Acquire) == BATCHES as usize
        })
        .await;
        thread.forget_written();
        assert!(
            thread.unwritten.is_empty(),
            "no written batch is remembered"
        );
        let closed = thread.close(Vec::new(), std::future::pending()).await;
        assert!(closed.unrecorded.is_empty());
        assert_eq!(disk.rows(), BATCHES as usize);
    }

    #[tokio::test]
    async fn the_written_rows_are_fsynced_in_groups_within_a_second() {
        let disk = CountingDisk::default();
        let clock = TestClock::new();
        let writer = ResultsWriter::from_sink(Box::new(disk.clone()), PinPolicy::Full, false);
        let time = clock.clone();
        let mut thread = WriterThread::start_with_clock(
            writer,
            |_| panic!("no write fails"),
            move || time.now(),
        )
        .unwrap();
        let syncs = || disk.syncs.load(Ordering::SeqCst);
        for line in 2..5 {
            thread.hand_over(&mut vec![reset_row(line)]).await.unwrap();
        }
        until("three rows are written", || disk.rows() == 3).await;
        clock.advance(SYNC_EVERY / 2);
        thread.hand_over(&mut vec![reset_row(5)]).await.unwrap();
        until("four rows are written", || disk.rows() == 4).await;
        assert_eq!(syncs(), 0, "none is due before a second has passed");

        clock.advance(SYNC_EVERY / 2);
        until("the four rows are fsynced together", || syncs() == 1).await;

        thread.hand_over(&mut vec![reset_row(6)]).await.unwrap();
        until("a fifth row is written", || disk.rows() == 5).await;
        assert_eq!(syncs(), 1, "the fifth row waits for its own second");
        clock.advance(SYNC_EVERY);
        until(
            "the fifth row is fsynced, with no batch to wake the writer",
            || syncs() == 2,
        )
        .await;

        let closed = thread.close(Vec::new(), std::future::pending()).await;
        assert!(closed.synced.expect("not given up").is_ok());
        assert_eq!(syncs(), 3, "and once more at the end");
    }
}
