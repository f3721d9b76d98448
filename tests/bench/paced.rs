//! Sections 11 and 12: what a row costs, unpaced and paced, and how closely a paced run holds
//! the configured rate with the default `--burst 1` (issue 27). CPU time and context switches
//! are the tool's own (wait4's rusage: every thread of it, nothing else); rates come from the
//! simulator's request log (ResetPersonalPIN lines, by arrival). Each figure is taken three
//! times: every run is printed, and the verdict is on the median (the busiest second on the
//! worst run). The lab notes are in `bench/pacing-notes.md`.

use std::path::PathBuf;

use crate::fixture::{first_rows, Fixture};
use crate::measure::{achieved_rate, busiest_second, span_s, Usage};
use crate::pacing::resets;
use crate::report::{path_str, section, thousands, Verdict};
use crate::support::request_log;
use crate::Simulator;

/// Runs of each measurement.
const RUNS: usize = 3;

/// The paced runs: `--rate`, seconds at that rate, the share of it to hold from the first
/// request to the last.
const PACED: [(u32, u32, f64); 4] = [
    (10, 20, 0.99),
    (100, 10, 0.99),
    (300, 10, 0.98),
    (1000, 10, 0.95),
];

/// CPU per row at most at `--rate 100` and `--rate 300`, and context switches per row at most
/// at `--rate 300`.
const PACED_CPU_TARGET_US: f64 = 120.0;
const PACED_SWITCHES_TARGET: f64 = 2.0;

/// One run's figures per row.
struct PerRow {
    cpu_us: f64,
    voluntary: f64,
    involuntary: f64,
}

impl PerRow {
    fn of(usage: &Usage, rows: usize) -> PerRow {
        let rows = rows as f64;
        PerRow {
            cpu_us: usage.tool_cpu() / rows * 1e6,
            voluntary: usage.voluntary_switches as f64 / rows,
            involuntary: usage.involuntary_switches as f64 / rows,
        }
    }

    fn switches(&self) -> f64 {
        self.voluntary + self.involuntary
    }
}

/// The median of three or more figures, and their range as text.
fn median_and_range(mut figures: Vec<f64>, format: impl Fn(f64) -> String) -> (f64, String) {
    figures.sort_by(f64::total_cmp);
    let median = figures[figures.len() / 2];
    let range = format!(
        "{}–{}",
        format(figures[0]),
        format(figures[figures.len() - 1])
    );
    (median, range)
}

/// An input of the first `rows` rows of the 100,000-row input (users of the big simulator).
fn first_of_100k(fixture: &Fixture, rows: usize) -> PathBuf {
    let path = fixture.work.path(&format!("input-head-{rows}.csv"));
    if !path.exists() {
        let all = std::fs::read_to_string(&fixture.inputs.rows_100k).expect("read an input");
        let header_and_rows: Vec<&str> = all.lines().take(rows + 1).collect();
        assert_eq!(header_and_rows.len(), rows + 1, "at most 100,000 rows");
        std::fs::write(&path, header_and_rows.join("\n") + "\n").expect("write an input");
    }
    path
}

/// Section 11: CPU and context switches per row unpaced: no latency, `--rate 0
/// --concurrency 16`, 50,000 rows.
pub fn unpaced_cost(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const ROWS: usize = 50_000;
    section(
        "11. The cost of a row unpaced: 50,000 rows, simulator latency 0, --rate 0 \
         --concurrency 16, three runs",
    );
    let input = first_of_100k(fixture, ROWS);
    let args = ["--rate", "0", "--concurrency", "16"];
    let mut per_row = Vec::new();
    for run in 1..=RUNS {
        let usage = fixture.run(&fixture.big, &input, &format!("unpaced-{run}.csv"), &args);
        let figures = PerRow::of(&usage, ROWS);
        println!(
            "   run {run}: {} rows/s; CPU {:.0} µs a row; context switches {:.2} a row \
             ({:.2} voluntary + {:.2} involuntary); other processes {:.2} cores",
            thousands((ROWS as f64 / usage.wall) as u64),
            figures.cpu_us,
            figures.switches(),
            figures.voluntary,
            figures.involuntary,
            usage.other_cores()
        );
        per_row.push(figures);
    }
    let (cpu, cpu_range) = median_and_range(per_row.iter().map(|r| r.cpu_us).collect(), |f| {
        format!("{f:.0}")
    });
    verdicts.push(Verdict::new(
        11,
        "CPU per row, --rate 0 --concurrency 16, no latency (median of 3)",
        format!("{cpu:.0} µs (runs {cpu_range} µs)"),
        "≤ 80 µs (aim ≤ 50)",
        cpu <= 80.0,
    ));
    let (switches, range) = median_and_range(per_row.iter().map(PerRow::switches).collect(), |f| {
        format!("{f:.2}")
    });
    verdicts.push(Verdict::info(
        11,
        "context switches per row, --rate 0 --concurrency 16 (median of 3)",
        format!("{switches:.2} (runs {range})"),
    ));
}

/// One paced run's figures.
struct PacedRun {
    held: f64,
    busiest: usize,
    per_row: PerRow,
}

/// Section 12: paced runs with the default `--burst 1` at 10, 100, 300 and 1,000/s: the rate
/// held from the first request to the last, the busiest one-second window, and what a row
/// cost.
pub fn paced_cost_and_accuracy(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    section(
        "12. Paced runs, --burst 1: simulator latency 20 ms, --concurrency 64; 10/s for 20 s, \
         100, 300 and 1,000/s for 10 s each; three runs each",
    );
    println!(
        "   | --rate | run | rate held, first to last request | busiest 1 s window | CPU a row \
         | context switches a row (voluntary + involuntary) | other cores |"
    );
    println!("   | --- | --- | --- | --- | --- | --- | --- |");
    for (rate, seconds, held_target) in PACED {
        let rows = (rate * seconds) as usize;
        let runs: Vec<PacedRun> = (1..=RUNS)
            .map(|run| paced_run(fixture, rate, rows, run))
            .collect();
        let (held, held_range) = median_and_range(runs.iter().map(|r| r.held).collect(), |f| {
            format!("{:.2}%", f * 100.0)
        });
        verdicts.push(Verdict::new(
            12,
            &format!("--rate {rate} --burst 1: rate held, first to last request (median of 3)"),
            format!("{:.2}% (runs {held_range})", held * 100.0),
            &format!("≥ {:.0}%", held_target * 100.0),
            held >= held_target,
        ));
        let busiest = runs.iter().map(|r| r.busiest).max().unwrap_or(0);
        verdicts.push(Verdict::new(
            12,
            &format!("--rate {rate} --burst 1: busiest one-second window (worst of 3)"),
            format!("{busiest} requests"),
            &format!("≤ {rate}"),
            busiest <= rate as usize,
        ));
        let (cpu, cpu_range) =
            median_and_range(runs.iter().map(|r| r.per_row.cpu_us).collect(), |f| {
                format!("{f:.0}")
            });
        let (switches, switches_range) =
            median_and_range(runs.iter().map(|r| r.per_row.switches()).collect(), |f| {
                format!("{f:.2}")
            });
        let cpu_figure = format!("{cpu:.0} µs (runs {cpu_range} µs)");
        let switches_figure = format!("{switches:.2} (runs {switches_range})");
        let cpu_what = format!("--rate {rate}: CPU per row (median of 3)");
        let switches_what = format!("--rate {rate}: context switches per row (median of 3)");
        match rate {
            100 | 300 => verdicts.push(Verdict::new(
                12,
                &cpu_what,
                cpu_figure,
                &format!("≤ {PACED_CPU_TARGET_US:.0} µs"),
                cpu <= PACED_CPU_TARGET_US,
            )),
            _ => verdicts.push(Verdict::info(12, &cpu_what, cpu_figure)),
        }
        match rate {
            300 => verdicts.push(Verdict::new(
                12,
                &switches_what,
                switches_figure,
                &format!("≤ {PACED_SWITCHES_TARGET:.0}"),
                switches <= PACED_SWITCHES_TARGET,
            )),
            _ => verdicts.push(Verdict::info(12, &switches_what, switches_figure)),
        }
    }
}

/// One run of `rows` rows at `--rate rate --burst 1` against a fresh simulator at 20 ms.
fn paced_run(fixture: &Fixture, rate: u32, rows: usize, run: usize) -> PacedRun {
    let name = format!("paced-{rate}-{run}");
    let log = fixture.work.path(&format!("{name}.jsonl"));
    let sim = Simulator::spawn(&[
        "--directory",
        path_str(&fixture.inputs.directory_40k),
        "--latency-ms",
        "20",
        "--log",
        path_str(&log),
    ]);
    let input = first_rows(fixture, rows);
    let rate_arg = rate.to_string();
    let args = ["--rate", &rate_arg, "--burst", "1", "--concurrency", "64"];
    let usage = fixture.run(&sim, &input, &format!("{name}.csv"), &args);
    sim.stop();
    let log = resets(request_log(&log));
    assert_eq!(log.len(), rows, "one request a row");
    let held = achieved_rate(&log) / f64::from(rate);
    let busiest = busiest_second(&log);
    let per_row = PerRow::of(&usage, rows);
    println!(
        "   | {rate} | {run} | {:.2}/s over {:.2} s = {:.2}% | {busiest} | {:.0} µs | {:.2} \
         ({:.2} + {:.2}) | {:.2} |",
        achieved_rate(&log),
        span_s(&log),
        held * 100.0,
        per_row.cpu_us,
        per_row.switches(),
        per_row.voluntary,
        per_row.involuntary,
        usage.other_cores()
    );
    PacedRun {
        held,
        busiest,
        per_row,
    }
}
