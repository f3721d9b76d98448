//! Sections 1, 2, 3, 5 and 6: cost, throughput, rate accuracy, validate, start-up; each a section
//! of the printed report with its verdicts.

use crate::fixture::{simulator_service_time, Fixture};
use crate::measure::{achieved_rate, busiest_second, span_s};
use crate::measure::{least_disturbed, least_disturbed_with, measure, Usage};
use crate::pacing::resets;
use crate::report::{mib, path_str, section, thousands, Verdict};
use crate::support::{bin, request_log};
use crate::Simulator;

/// Section 1: CPU cost per row: no latency, no rate limit, 64 in flight, 100,000 rows.
pub fn cpu_cost(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const ROWS: u64 = 100_000;
    section("1. CPU cost: 100,000 rows, simulator latency 0, --rate 0 --concurrency 64");
    let usage = least_disturbed(|try_no| {
        let output = format!("cpu-{try_no}.csv");
        let args = ["--rate", "0", "--concurrency", "64"];
        fixture.run(&fixture.big, &fixture.inputs.rows_100k, &output, &args)
    });
    let per_10k = usage.tool_cpu() / (ROWS as f64 / 10_000.0);
    println!(
        "   {} rows in {:.2} s: {} rows/s",
        thousands(ROWS),
        usage.wall,
        thousands((ROWS as f64 / usage.wall) as u64)
    );
    println!(
        "   tool CPU: user {:.2} s + sys {:.2} s = {:.2} CPU-s per 10,000 rows ({:.0} µs a row; \
         sys {:.0} µs)",
        usage.user,
        usage.sys,
        per_10k,
        usage.tool_cpu() / ROWS as f64 * 1e6,
        usage.sys / ROWS as f64 * 1e6
    );
    println!(
        "   simulator CPU: {:.2} s ({:.0} µs a row); tool peak RSS {:.1} MiB",
        usage.sim_cpu,
        usage.sim_cpu / ROWS as f64 * 1e6,
        mib(usage.max_rss)
    );
    usage.print_load();
    verdicts.push(Verdict::new(
        1,
        "tool CPU per 10,000 rows (rate 0, concurrency 64)",
        format!(
            "{per_10k:.2} CPU-s ({:.0} µs/row), {} rows/s",
            per_10k * 100.0,
            thousands((ROWS as f64 / usage.wall) as u64)
        ),
        "≤ 0.50 CPU-s",
        per_10k <= 0.5,
    ));
}

/// Section 2: Latency-bound throughput: 20 ms a call, 16 and 64 in flight, about 12 s each.
pub fn latency_bound(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const LATENCY_S: f64 = 0.020;
    section("2. Latency-bound throughput: simulator --latency-ms 20, --rate 0");
    let service = {
        let sim = Simulator::spawn(&[
            "--directory",
            path_str(&fixture.inputs.directory_40k),
            "--latency-ms",
            "20",
        ]);
        simulator_service_time(sim.endpoint(), &fixture.inputs.rows_2k, 50)
    };
    println!(
        "   the simulator's own answer time at --latency-ms 20 (a bare keep-alive HTTP client, \
         one request at a time, median of 50): {:.2} ms, so its ceiling is concurrency / {:.2} ms",
        service * 1e3,
        service * 1e3
    );
    for (concurrency, input, rows) in [
        (16, &fixture.inputs.rows_10k, 10_000u64),
        (64, &fixture.inputs.rows_40k, 40_000u64),
    ] {
        let limit = concurrency as f64 / LATENCY_S;
        let (usage, log) = least_disturbed_with(|try_no| {
            let log = fixture
                .work
                .path(&format!("latency-{concurrency}-{try_no}.jsonl"));
            let sim = Simulator::spawn(&[
                "--directory",
                path_str(&fixture.inputs.directory_40k),
                "--latency-ms",
                "20",
                "--log",
                path_str(&log),
            ]);
            let output = format!("latency-{concurrency}-{try_no}.csv");
            let concurrency = concurrency.to_string();
            let args = ["--rate", "0", "--concurrency", &concurrency];
            let usage = fixture.run(&sim, input, &output, &args);
            sim.stop();
            (usage, resets(request_log(&log)))
        });
        let rate = rows as f64 / usage.wall;
        let fraction = rate / limit;
        println!(
            "   --concurrency {concurrency}: {} rows in {:.2} s = {:.0} rows/s = {:.1}% of \
             {limit:.0}/s (steady, first to last request: {:.0}/s = {:.1}%)",
            thousands(rows),
            usage.wall,
            rate,
            fraction * 100.0,
            achieved_rate(&log),
            achieved_rate(&log) / limit * 100.0
        );
        let ceiling = concurrency as f64 / service;
        println!(
            "      = {:.1}% of the simulator's own ceiling {ceiling:.0}/s",
            rate / ceiling * 100.0
        );
        println!(
            "      tool CPU {:.2} s ({:.0} µs a row), simulator CPU {:.2} s, peak RSS {:.1} MiB",
            usage.tool_cpu(),
            usage.tool_cpu() / rows as f64 * 1e6,
            usage.sim_cpu,
            mib(usage.max_rss)
        );
        usage.print_load();
        verdicts.push(Verdict::new(
            2,
            &format!("throughput at 20 ms latency, --concurrency {concurrency}"),
            format!(
                "{rate:.0} rows/s = {:.1}% of {limit:.0}/s",
                fraction * 100.0
            ),
            "≥ 95%",
            fraction >= 0.95,
        ));
    }
}

/// Section 3: Rate accuracy: --rate 100 and 1000 for about 20 s each, from the simulator's log.
pub fn rate_accuracy(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    // With a burst of one, each request waits a full period after the previous one was sent,
    // so every late timer wake-up is lost for good; a burst of two absorbs it.
    const BURST: u64 = 2;
    section("3. Rate accuracy: simulator latency 0, --concurrency 64, --burst 2");
    for (rate, input, rows) in [
        (100u64, &fixture.inputs.rows_2k, 2_000u64),
        (1000u64, &fixture.inputs.rows_20k, 20_000u64),
    ] {
        let (usage, log) = least_disturbed_with(|try_no| {
            let log = fixture.work.path(&format!("rate-{rate}-{try_no}.jsonl"));
            let sim = Simulator::spawn(&[
                "--directory",
                path_str(&fixture.inputs.directory_40k),
                "--log",
                path_str(&log),
            ]);
            let output = format!("rate-{rate}-{try_no}.csv");
            let rate = rate.to_string();
            let burst = BURST.to_string();
            let args = ["--rate", &rate, "--concurrency", "64", "--burst", &burst];
            let usage = fixture.run(&sim, input, &output, &args);
            sim.stop();
            (usage, resets(request_log(&log)))
        });
        assert_eq!(log.len() as u64, rows, "one request a row");
        let achieved = achieved_rate(&log);
        let ratio = achieved / rate as f64;
        let worst = busiest_second(&log) as u64;
        println!(
            "   --rate {rate}: {} requests over {:.2} s = {achieved:.2}/s = {:.2}% of the rate; \
             busiest one-second window {worst} (limit rate + burst = {})",
            thousands(rows),
            span_s(&log),
            ratio * 100.0,
            rate + BURST
        );
        println!(
            "      tool CPU {:.2} s ({:.0} µs a row), simulator CPU {:.2} s",
            usage.tool_cpu(),
            usage.tool_cpu() / rows as f64 * 1e6,
            usage.sim_cpu
        );
        usage.print_load();
        verdicts.push(Verdict::new(
            3,
            &format!("achieved rate at --rate {rate}"),
            format!("{achieved:.2}/s = {:+.2}%", (ratio - 1.0) * 100.0),
            "within ±2%",
            (ratio - 1.0).abs() <= 0.02,
        ));
        verdicts.push(Verdict::new(
            3,
            &format!("busiest 1 s window at --rate {rate}"),
            format!("{worst} requests"),
            &format!("≤ rate + burst = {}", rate + BURST),
            worst <= rate + BURST,
        ));
    }
}

/// Section 5: `validate` of 1,000,000 rows.
pub fn validate(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const ROWS: u64 = 1_000_000;
    section("5. validate: 1,000,000 rows");
    let help = bin().args(["validate", "--help"]).output();
    if !help.is_ok_and(|out| out.status.success()) {
        println!("   skipped: this build has no `validate` subcommand");
        verdicts.push(Verdict::skipped(
            5,
            "validate of 1M rows",
            "≥ 1,000,000 rows/s",
        ));
        return;
    }
    let usage = least_disturbed(|try_no| {
        let mut cmd = bin();
        cmd.current_dir(fixture.work.root())
            .arg("validate")
            .arg(&fixture.inputs.rows_1m);
        measure(
            cmd,
            None,
            &fixture.work.path(&format!("validate-{try_no}.err")),
        )
    });
    assert_eq!(usage.code, 0, "validate of a clean file: {}", usage.stderr);
    let rate = ROWS as f64 / usage.wall;
    println!(
        "   {} rows in {:.3} s: {} rows/s; CPU user {:.2} s + sys {:.2} s; peak RSS {:.1} MiB",
        thousands(ROWS),
        usage.wall,
        thousands(rate as u64),
        usage.user,
        usage.sys,
        mib(usage.max_rss)
    );
    usage.print_load();
    verdicts.push(Verdict::new(
        5,
        "validate of 1M rows",
        format!("{} rows/s", thousands(rate as u64)),
        "≥ 1,000,000 rows/s",
        rate >= 1_000_000.0,
    ));
}

/// Section 6: Start-up: the wall time of a one-row run, median of nine.
pub fn start_up(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const RUNS: usize = 9;
    section("6. Start-up: wall time of a one-row run, median of 9");
    let sim = Simulator::spawn(&["--directory", path_str(&fixture.inputs.directory_40k)]);
    let mut runs: Vec<Usage> = (0..RUNS)
        .map(|i| fixture.run(&sim, &fixture.inputs.rows_1, &format!("start-{i}.csv"), &[]))
        .collect();
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let median = &runs[RUNS / 2];
    println!(
        "   median {:.1} ms (min {:.1}, max {:.1}); CPU of the median run {:.1} ms, peak RSS \
         {:.1} MiB",
        median.wall * 1e3,
        runs[0].wall * 1e3,
        runs[RUNS - 1].wall * 1e3,
        median.tool_cpu() * 1e3,
        mib(median.max_rss)
    );
    verdicts.push(Verdict::info(
        6,
        "start-up, one-row run (median of 9)",
        format!(
            "{:.0} ms wall, {:.0} ms CPU",
            median.wall * 1e3,
            median.tool_cpu() * 1e3
        ),
    ));
}
