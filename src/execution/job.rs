//! What the executor is handed and what it hands back. A mode's reader turns its file into
//! [`Work`]: [`Job`]s for the rows to send, each with the user it names and a payload the
//! executor carries through untouched; the mode's recorder gets each job's outcome joined to
//! its payload again ([`Payload::answer`]). `run`'s payload is the row's other columns;
//! `verify`'s is the PIN the results recorded, which never travels in an outcome.

use crate::input::{InputItem, RowTask, Target};
use crate::outcome::Outcome;

/// One user to act on, as a line of the mode's input names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub account_id: String,
    pub target: Target,
    /// The email a row gave beside its user id, which the run checks against Chime's before
    /// anything changes.
    pub email: Option<String>,
}

/// A row to send, and what its mode needs back with its outcome.
pub struct Job<P> {
    pub row: Row,
    pub payload: P,
}

/// What a mode's reader hands the executor, a row at a time.
pub enum Work<P: Payload> {
    Job(Job<P>),
    /// A row answered without a call (invalid, a duplicate): its answer goes straight on to
    /// the recorder.
    Answered(P::Answered),
    /// Done already, in the results being resumed: only counted.
    Skipped,
    /// The input cannot be read any further: why, naming the file and line.
    Unreadable(String),
}

/// What a job carries through the executor, and what it makes of the job's outcome.
pub trait Payload: Send + 'static {
    /// What the mode's recorder receives for each row.
    type Answered: Send + 'static;

    fn answer(self, outcome: Outcome) -> Self::Answered;
}

/// A run's payload: the row's other columns, written beside its outcome.
pub struct Carried(pub Vec<String>);

impl Payload for Carried {
    type Answered = Outcome;

    fn answer(self, outcome: Outcome) -> Outcome {
        outcome.with_carried(self.0)
    }
}

impl From<InputItem> for Work<Carried> {
    fn from(item: InputItem) -> Self {
        match item {
            InputItem::Task(task) => Work::Job(Job::from(task)),
            InputItem::Rejected(rejected) => Work::Answered(rejected.into_outcome()),
            InputItem::Skipped => Work::Skipped,
            InputItem::Unreadable(why) => Work::Unreadable(why),
        }
    }
}

impl From<RowTask> for Job<Carried> {
    fn from(task: RowTask) -> Self {
        let RowTask {
            line,
            account_id,
            target,
            email,
            carried,
        } = task;
        Job {
            row: Row {
                line,
                account_id,
                target,
                email,
            },
            payload: Carried(carried),
        }
    }
}
