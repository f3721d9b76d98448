//! Integration tests: each runs the built `chime-pin-reset` binary in its own temporary
//! directory against the simulator over real HTTP on 127.0.0.1.

mod answers;
mod binary_workbooks;
mod coverage;
mod endpoints;
mod first_hour;
mod guards;
mod help;
mod hidden_rows;
mod input;
mod ledger_trust;
mod line_ends;
mod offboarding;
mod other_commands;
mod outputs;
mod preflight;
mod progress;
mod promises;
mod rehearsal;
mod reliability;
mod report;
mod resume;
mod run;
mod samples;
mod shell;
mod signals;
mod simulator;
mod spreadsheets;
mod support;
mod verify;
mod verify_resume;
