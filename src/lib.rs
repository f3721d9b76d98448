//! chime-pin-reset: reset the personal meeting PINs of many Amazon Chime users at once.
//!
//! A row travels through one module per stage: [`input`] reads and checks the CSV, [`execution`]
//! sends each row to Chime within the rate and in-flight limits, [`chime`] makes the calls and
//! classifies their errors, [`output`] writes the results file and [`report`] shows progress and
//! the summary. [`prepare`] holds the commands that get a run ready (`validate`, `export`,
//! `template`) and the single `reset`; [`simulator`] is a local stand-in for the Chime API
//! that tests and rehearsals use.

pub mod chime;
pub mod cli;
pub mod config;
pub mod execution;
pub mod exit;
pub mod input;
pub mod output;
pub mod prepare;
pub mod report;
pub mod rules;
pub mod run;
pub mod simulator;
