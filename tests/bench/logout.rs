//! Section 10: what `run --logout` costs. The same 10,000 rows at 20 ms a call and 16 in
//! flight, as a plain run and with `--logout`: rows a second for each, and the calls a row
//! made, from the simulator's log. A logout is one more call a row, so at a fixed latency and
//! concurrency the offboarding run should take about twice the plain run's time.

use crate::fixture::Fixture;
use crate::measure::least_disturbed_with;
use crate::report::{path_str, section, thousands, Verdict};
use crate::support::{request_log, LogLine};
use crate::Simulator;

const ROWS: u64 = 10_000;

pub fn logout_cost(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    section("10. The cost of --logout: 10,000 rows, simulator --latency-ms 20, --concurrency 16");
    let mut rates = Vec::new();
    for (name, extra) in [("plain run", &[][..]), ("--logout", &["--logout"][..])] {
        let (usage, log) = least_disturbed_with(|try_no| {
            let log = fixture
                .work
                .path(&format!("logout-{}-{try_no}.jsonl", rates.len()));
            let sim = Simulator::spawn(&[
                "--directory",
                path_str(&fixture.inputs.directory_40k),
                "--latency-ms",
                "20",
                "--log",
                path_str(&log),
            ]);
            let output = format!("logout-{}-{try_no}.csv", rates.len());
            let mut args = vec!["--rate", "0", "--concurrency", "16"];
            args.extend_from_slice(extra);
            let usage = fixture.run(&sim, &fixture.inputs.rows_10k, &output, &args);
            sim.stop();
            (usage, request_log(&log))
        });
        let rate = ROWS as f64 / usage.wall;
        let calls = row_calls(&log) as f64 / ROWS as f64;
        let logouts = log.iter().filter(|l| l.operation == "LogoutUser").count();
        println!(
            "   {name}: {} rows in {:.2} s = {rate:.0} rows/s, {calls:.2} calls a row \
             ({} LogoutUser)",
            thousands(ROWS),
            usage.wall,
            thousands(logouts as u64)
        );
        usage.print_load();
        rates.push((rate, calls));
    }
    let [(plain, plain_calls), (logout, logout_calls)] = rates[..] else {
        unreachable!("two runs were measured")
    };
    verdicts.push(Verdict::info(
        10,
        "throughput with --logout beside a plain run (20 ms, 16 in flight)",
        format!(
            "{logout:.0} rows/s beside {plain:.0} rows/s ({:.0}%); {logout_calls:.2} calls a \
             row beside {plain_calls:.2}",
            logout / plain * 100.0
        ),
    ));
}

/// The calls made for rows: everything but the identity and account checks made once.
fn row_calls(log: &[LogLine]) -> usize {
    log.iter()
        .filter(|line| !["GetCallerIdentity", "GetAccount"].contains(&line.operation.as_str()))
        .count()
}
