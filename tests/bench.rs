//! The benchmark of `chime-pin-reset`: not part of the normal test run (`test = false` in
//! Cargo.toml: plain `cargo test` does not even build it). Run it by name, on a release build,
//! alone on the machine if possible:
//!
//! ```sh
//! cargo test --release --test bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `CHIME_BENCH_ONLY=1,4` runs only the numbered sections. It starts `chime-pin-reset simulate`
//! processes (the same binary) on free ports and runs the tool as a child process; the tool's
//! CPU time and peak RSS come from `wait4` on its pid (its own rusage, nothing else's), the
//! simulator's CPU time from `/proc/<pid>/stat`, and the CPU used by every other process on the
//! machine during a run from `/proc/stat`, so that a measurement disturbed by other work shows
//! it and is taken again.
//!
//! Sections 1, 2, 3, 5 and 6 are in `bench/sections.rs`; 4 (memory) and 9 (the cost of the
//! periodic fsync) in `bench/memory.rs`, with their lab notes in `bench/memory-notes.md`; the
//! pacing sections, 7 (the rate matrix against a token-bucket simulator) and 8 (its rate
//! changed mid-run), in `bench/pacing.rs`; section 10 (the cost of `run --logout`) in
//! `bench/logout.rs`; sections 11 and 12 (what a row costs unpaced and paced, and the rate held
//! with `--burst 1`) in `bench/paced.rs`, with their lab notes in `bench/pacing-notes.md`; their inputs and simulators in `bench/fixture.rs`; how a process is
//! measured in `bench/measure.rs`; the printing in `bench/report.rs`. The helpers shared with
//! the integration tests (the simulator process, the request log) come from `support/`.

// The tests' helpers: the benchmark uses some of them.
#[allow(dead_code, unused_imports)]
#[path = "support/mod.rs"]
mod support;

#[path = "bench/fixture.rs"]
mod fixture;
#[path = "bench/logout.rs"]
mod logout;
#[path = "bench/measure.rs"]
mod measure;
#[path = "bench/memory.rs"]
mod memory;
#[path = "bench/paced.rs"]
mod paced;
#[path = "bench/pacing.rs"]
mod pacing;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/sections.rs"]
mod sections;

use std::time::Instant;

use fixture::Fixture;
use memory::{durability, memory};
use pacing::{rate_changes, rate_matrix};
use report::print_machine;
use sections::{cpu_cost, latency_bound, rate_accuracy, start_up, validate};
use support::SimulatorProcess as Simulator;

#[test]
#[ignore = "a benchmark of several minutes: run it with --release --ignored --nocapture"]
fn benchmark() {
    if cfg!(debug_assertions) {
        println!("WARNING: a debug build: run with --release for meaningful figures");
    }
    let only: Option<Vec<u32>> = std::env::var("CHIME_BENCH_ONLY").ok().map(|list| {
        list.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    });
    let wanted = |section: u32| only.as_ref().is_none_or(|only| only.contains(&section));

    print_machine();
    let started = Instant::now();
    let fixture = Fixture::create();
    let mut verdicts = Vec::new();
    if wanted(1) {
        cpu_cost(&fixture, &mut verdicts);
    }
    if wanted(2) {
        latency_bound(&fixture, &mut verdicts);
    }
    if wanted(3) {
        rate_accuracy(&fixture, &mut verdicts);
    }
    if wanted(4) {
        memory(&fixture, &mut verdicts);
    }
    if wanted(5) {
        validate(&fixture, &mut verdicts);
    }
    if wanted(6) {
        start_up(&fixture, &mut verdicts);
    }
    if wanted(7) {
        rate_matrix(&fixture, &mut verdicts);
    }
    if wanted(8) {
        rate_changes(&fixture, &mut verdicts);
    }
    if wanted(9) {
        durability(&fixture, &mut verdicts);
    }
    if wanted(10) {
        logout::logout_cost(&fixture, &mut verdicts);
    }
    if wanted(11) {
        paced::unpaced_cost(&fixture, &mut verdicts);
    }
    if wanted(12) {
        paced::paced_cost_and_accuracy(&fixture, &mut verdicts);
    }
    drop(fixture);

    println!(
        "\n== Summary (benchmark took {:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    println!("| # | measurement | figure | target | result |");
    println!("| --- | --- | --- | --- | --- |");
    for v in &verdicts {
        let result = match (v.pass, v.target.as_str()) {
            (Some(true), _) => "PASS",
            (Some(false), _) => "MISS",
            (None, "—") => "—",
            (None, _) => "skipped",
        };
        println!(
            "| {} | {} | {} | {} | {result} |",
            v.section, v.what, v.figure, v.target
        );
    }
}
