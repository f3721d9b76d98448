//! Integration tests: each runs the built `chime-pin-reset` binary in its own temporary
//! directory against the simulator over real HTTP on 127.0.0.1.

mod answers;
mod guards;
mod input;
mod offboarding;
mod preflight;
mod prepare;
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
