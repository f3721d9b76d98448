//! chime-pin-reset: reset the personal meeting PINs of many Amazon Chime users at once.
//!
//! A row travels through one module per stage: [`input`] reads and checks the CSV or workbook
//! (asking [`dedup`] whether its user was met already), [`preflight`] proves who and what
//! before the first change (identity, accounts, the plan, the question, the canary),
//! [`execution`] sends each row to Chime within the rate and in-flight limits, [`chime`] makes
//! the calls and classifies their errors, [`output`] writes the results file (on a thread of
//! its own, [`writer_thread`]) and [`report`] shows progress and the summary. [`outcome`] is
//! the model of a results row that they pass along; [`pipeline`] wires the stages of a run
//! together.
//!
//! After a run, [`ledger`] reads results files back, strictly (resume, `report`, `verify`);
//! [`audit`] counts what the runs did, [`verify`] proves the PINs recorded against Chime, and
//! [`xlsx`] writes the results as a workbook. [`cmd`] is the command line, one module per
//! subcommand; [`stderr`] is the one way messages reach the terminal; [`simulator`] is a
//! local stand-in for the Chime API that tests and rehearsals use, sharing only [`rules`]
//! and [`timer`] (waking a task to within a fraction of a millisecond) with the tool.

pub mod audit;
pub mod chime;
pub mod cmd;
pub mod config;
pub mod dedup;
pub mod execution;
pub mod exit;
pub mod input;
pub mod ledger;
pub mod outcome;
pub mod output;
pub mod pipeline;
pub mod preflight;
pub mod report;
pub mod rules;
pub mod simulator;
pub mod stderr;
pub mod timer;
pub mod verify;
pub mod words;
pub mod writer_thread;
pub mod xlsx;
