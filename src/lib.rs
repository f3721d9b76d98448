//! chime-pin-reset: reset the personal meeting PINs of many Amazon Chime users at once.
//!
//! A row travels through one module per stage: [`input`] reads and checks the CSV or workbook
//! (asking [`dedup`] whether its user was met already), [`preflight`] proves who and what
//! before the first change (identity, accounts, the plan, the question, the canary),
//! [`execution`] sends each row to Chime within the rate and in-flight limits, [`chime`] makes
//! the calls and classifies their errors, [`output`] writes the results file (on a thread of
//! its own, [`writer_thread`]), [`progress`] shows the run as it goes and [`summary`] counts
//! it and sums it up at its end. [`outcome`] is
//! the model of a results row that they pass along; [`pipeline`] wires the stages of a run
//! together.
//!
//! After a run, [`ledger`] reads results files back, strictly (resume, `report`, `verify`);
//! [`report`] counts what the runs did (the `report` command), [`verify`] proves the PINs recorded against Chime, and
//! [`xlsx`] writes the results as a workbook. [`cmd`] is the command line, one module per
//! subcommand; [`stderr`] is the one way messages reach the terminal; [`simulator`] is a
//! local stand-in for the Chime API that tests and rehearsals use, sharing only [`rules`]
//! and [`timer`] (waking a task to within a fraction of a millisecond) with the tool.

// The binary needs the command line and the exit codes; the tests also drive the simulator in
// process. Everything else is the library's own, so the compiler reports what nobody uses.
mod chime;
pub mod cmd;
mod config;
mod dedup;
mod engine;
mod execution;
pub mod exit;
mod input;
mod ledger;
mod outcome;
mod output;
mod pipeline;
mod preflight;
mod progress;
mod report;
mod rules;
pub mod simulator;
mod stderr;
mod summary;
mod timer;
mod verify;
mod words;
mod writer_thread;
mod xlsx;
