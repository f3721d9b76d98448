//! Sections 7 and 8: adaptive pacing against a token-bucket simulator whose rate the tool is
//! not told. Every figure comes from the simulator's request log, ResetPersonalPIN lines only
//! (a run's identity checks, GetCallerIdentity and GetAccount, come first and are not paced).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fixture::{first_rows, Fixture};
use crate::measure::achieved_rate;
use crate::measure::Usage;
use crate::report::{path_str, section, Verdict};
use crate::support::{arrivals, request_log, LogLine};
use crate::Simulator;

/// Seconds a matrix run lasts at the server's rate: long enough for the rate to settle, short
/// enough that the 15 runs take about seven minutes.
const MATRIX_RUN_S: u32 = 25;
/// What share of the server's rate a run must hold, and how many answers may be throttles.
const SHARE_TARGET: f64 = 0.95;
const THROTTLED_TARGET: f64 = 0.02;
/// The steady share leaves out the slow start: figures from this long after the first request.
const SETTLE_S: f64 = 5.0;

/// The table: `--rate` (0: none), and the server's token bucket (rate, burst).
const MATRIX: [(u32, Bucket); 5] = [
    (0, Bucket { rps: 20, burst: 1 }),
    (0, Bucket { rps: 50, burst: 5 }),
    (200, Bucket { rps: 50, burst: 5 }),
    (100, Bucket { rps: 50, burst: 10 }),
    (200, Bucket { rps: 50, burst: 50 }),
];
/// Simulator latency (ms) and `--concurrency` of each column.
const SETTINGS: [(u32, u32); 3] = [(20, 16), (2, 16), (50, 64)];

/// The simulator's token bucket.
#[derive(Clone, Copy)]
struct Bucket {
    rps: u32,
    burst: u32,
}

/// The ResetPersonalPIN lines of a request log.
pub fn resets(log: Vec<LogLine>) -> Vec<LogLine> {
    log.into_iter()
        .filter(|line| line.operation == "ResetPersonalPIN")
        .collect()
}

fn accepted(lines: &[LogLine]) -> Vec<LogLine> {
    lines
        .iter()
        .filter(|line| line.status == Some(200))
        .cloned()
        .collect()
}

/// 429s among all answers.
fn throttled_fraction(lines: &[LogLine]) -> f64 {
    let answered = lines.iter().filter(|line| line.status.is_some()).count();
    let throttled = lines.iter().filter(|line| line.status == Some(429)).count();
    throttled as f64 / answered.max(1) as f64
}

/// Accepted requests per second over `[from, to)` (seconds since the epoch).
fn accepted_rate_between(times: &[f64], from: f64, to: f64) -> f64 {
    let count = times.iter().filter(|&&t| t >= from && t < to).count();
    count as f64 / (to - from)
}

fn unix_now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Starts a simulator with `bucket` at `latency_ms`, logging to `log`.
fn throttling_simulator(
    fixture: &Fixture,
    bucket: Bucket,
    latency_ms: u32,
    log: &str,
) -> Simulator {
    let (latency, rps, burst) = (
        latency_ms.to_string(),
        bucket.rps.to_string(),
        bucket.burst.to_string(),
    );
    Simulator::spawn(&[
        "--directory",
        path_str(&fixture.inputs.directory_40k),
        "--latency-ms",
        &latency,
        "--throttle-rps",
        &rps,
        "--throttle-burst",
        &burst,
        "--log",
        path_str(&fixture.work.path(log)),
    ])
}

/// Changes the simulator's token bucket mid-run.
fn set_throttle(endpoint: &str, bucket: Bucket) {
    let url = format!("{endpoint}/__simulator/throttle");
    let body = format!("{{\"rps\":{},\"burst\":{}}}", bucket.rps, bucket.burst);
    ureq::post(&url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
}

/// Rows that were still failed when the run ended, from its exit code.
fn exit_note(usage: &Usage) -> &'static str {
    match usage.code {
        0 => "",
        1 => " (some rows failed: exit 1)",
        _ => " (the run did not finish: see its stderr)",
    }
}

/// Section 7: the rate matrix: share of the server's rate and throttled answers.
pub fn rate_matrix(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    section(&format!(
        "7. Rate matrix: a token-bucket simulator, about {MATRIX_RUN_S} s a run at its rate; \
         share of its rate (accepted/s ÷ R, first to last accepted) and throttled answers"
    ));
    println!(
        "   | --rate | server R/B | latency, concurrency | share | steady share (after {SETTLE_S:.0} s) \
         | throttled | wall | result |"
    );
    println!("   | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (latency_ms, concurrency) in SETTINGS {
        for (rate, bucket) in MATRIX {
            let name = format!("matrix-{rate}-{}-{}-{latency_ms}", bucket.rps, bucket.burst);
            let log = format!("{name}.jsonl");
            let sim = throttling_simulator(fixture, bucket, latency_ms, &log);
            let input = first_rows(fixture, (bucket.rps * MATRIX_RUN_S) as usize);
            let args = [
                "--rate".to_string(),
                rate.to_string(),
                "--concurrency".to_string(),
                concurrency.to_string(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let usage = fixture.try_run(&sim, &input, &format!("{name}.csv"), &args);
            sim.stop();
            let lines = resets(request_log(&fixture.work.path(&log)));
            let ok = accepted(&lines);
            let share = achieved_rate(&ok) / f64::from(bucket.rps);
            let times = arrivals(&ok);
            let steady = match (times.first(), times.last()) {
                (Some(first), Some(last)) if last - first > 2.0 * SETTLE_S => {
                    accepted_rate_between(&times, first + SETTLE_S, *last) / f64::from(bucket.rps)
                }
                _ => f64::NAN,
            };
            let throttled = throttled_fraction(&lines);
            let pass = share >= SHARE_TARGET && throttled <= THROTTLED_TARGET;
            println!(
                "   | {rate} | {}/{} | {latency_ms} ms, c{concurrency} | {:.1}% | {:.1}% | {:.2}% \
                 | {:.1} s{} | {} |",
                bucket.rps,
                bucket.burst,
                share * 100.0,
                steady * 100.0,
                throttled * 100.0,
                usage.wall,
                exit_note(&usage),
                if pass { "PASS" } else { "MISS" }
            );
            if usage.other_cores() > crate::measure::DISTURBED_CORES {
                usage.print_load();
            }
            verdicts.push(Verdict::quiet(
                7,
                &format!(
                    "--rate {rate}, server {}/{}, {latency_ms} ms c{concurrency}: share / throttled",
                    bucket.rps, bucket.burst
                ),
                format!("{:.1}% / {:.2}%", share * 100.0, throttled * 100.0),
                "≥ 95% / ≤ 2%",
                pass,
            ));
        }
    }
}

/// A run of `rows` rows at 20 ms latency, `--concurrency 16`, `--rate 0`, whose server's
/// bucket changes from `from` to `to` after `change_after`. Returns the ResetPersonalPIN lines
/// and when the change was made (seconds since the epoch, the log's clock).
fn run_with_change(
    fixture: &Fixture,
    name: &str,
    rows: usize,
    (from, to): (Bucket, Bucket),
    change_after: Duration,
) -> (Vec<LogLine>, f64, Usage) {
    let log = format!("{name}.jsonl");
    let sim = throttling_simulator(fixture, from, 20, &log);
    let input = first_rows(fixture, rows);
    let args = ["--rate", "0", "--concurrency", "16"];
    let started = Instant::now();
    let (usage, changed_at) = std::thread::scope(|scope| {
        let endpoint = sim.endpoint();
        let change = scope.spawn(move || {
            // A benchmark's schedule, not a synchronisation: the change comes at a set time.
            std::thread::sleep(change_after.saturating_sub(started.elapsed()));
            let at = unix_now_s();
            set_throttle(endpoint, to);
            at
        });
        let usage = fixture.try_run(&sim, &input, &format!("{name}.csv"), &args);
        (usage, change.join().expect("the change thread"))
    });
    sim.stop();
    let lines = resets(request_log(&fixture.work.path(&log)));
    (lines, changed_at, usage)
}

/// Section 8: the server's rate doubles, then (another run) halves mid-run.
pub fn rate_changes(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const BEFORE: Duration = Duration::from_secs(20);
    /// The window over which the recovered rate is judged: long enough that the new bucket's
    /// burst (10) weighs little.
    const WINDOW_S: f64 = 3.0;
    section(
        "8. The server's rate changes mid-run (POST /__simulator/throttle): 20 ms latency, \
         --concurrency 16, --rate 0",
    );
    let slow = Bucket { rps: 50, burst: 5 };
    let fast = Bucket {
        rps: 100,
        burst: 10,
    };

    // Doubling: 20 s at 50/s, then 40 s at 100/s.
    let (lines, changed_at, usage) =
        run_with_change(fixture, "doubling", 5_000, (slow, fast), BEFORE);
    let times = arrivals(&accepted(&lines));
    let last = times.last().copied().unwrap_or(changed_at);
    let target = 0.9 * f64::from(fast.rps);
    let recovered = (0..)
        .map(|step| changed_at + f64::from(step) * 0.1)
        .take_while(|start| start + WINDOW_S <= last)
        .find(|start| accepted_rate_between(&times, *start, start + WINDOW_S) >= target)
        .map(|start| start + WINDOW_S - changed_at);
    let before = accepted_rate_between(&times, changed_at - 10.0, changed_at);
    let after = accepted_rate_between(&times, last - 10.0, last);
    println!(
        "   50/5 → 100/10 after 20 s: accepted {before:.1}/s over the 10 s before the change, \
         {after:.1}/s over the last 10 s; throttled {:.2}% in all; wall {:.1} s{}",
        throttled_fraction(&lines) * 100.0,
        usage.wall,
        exit_note(&usage)
    );
    let figure = recovered.map_or("never".to_string(), |s| format!("{s:.1} s"));
    verdicts.push(Verdict::new(
        8,
        &format!("rate doubles 50 → 100/s: time to ≥ 90% of it ({WINDOW_S:.0} s window)"),
        figure,
        "≤ 30 s",
        recovered.is_some_and(|s| s <= 30.0),
    ));

    // Halving: 20 s at 100/s, then a minute at 50/s.
    let (lines, changed_at, usage) =
        run_with_change(fixture, "halving", 5_300, (fast, slow), BEFORE);
    let minute: Vec<LogLine> = lines
        .iter()
        .filter(|line| {
            let t = line.at_unix_ms / 1000.0;
            t >= changed_at && t < changed_at + 60.0
        })
        .cloned()
        .collect();
    let minute_span = arrivals(&minute)
        .last()
        .map_or(0.0, |last| last - changed_at);
    let throttled = throttled_fraction(&minute);
    println!(
        "   100/10 → 50/5 after 20 s: in the {minute_span:.0} s after the change {} requests, \
         {:.1}/s accepted = {:.1}% of 50/s; wall {:.1} s{}",
        minute.len(),
        accepted(&minute).len() as f64 / minute_span.max(1.0),
        accepted(&minute).len() as f64 / minute_span.max(1.0) / f64::from(slow.rps) * 100.0,
        usage.wall,
        exit_note(&usage)
    );
    verdicts.push(Verdict::new(
        8,
        "rate halves 100 → 50/s: throttled answers in the minute after",
        format!("{:.2}%", throttled * 100.0),
        "< 5%",
        throttled < 0.05,
    ));
}
