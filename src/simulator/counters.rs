//! Request counters: lock-free tallies per operation and answer status while serving, and the
//! [`Counters`] snapshot that the state endpoint, the handle and the shutdown summary show.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::routing::ApiOperation;

/// How a request ended, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CountedStatus {
    Status(u16),
    Dropped,
}

const STATUSES: [u16; 11] = [200, 204, 400, 401, 403, 404, 429, 500, 502, 503, 504];
const SLOTS: usize = STATUSES.len() + 2; // + dropped + any other status
const DROPPED: usize = STATUSES.len();
const OTHER: usize = STATUSES.len() + 1;

fn slot(counted: CountedStatus) -> usize {
    match counted {
        CountedStatus::Dropped => DROPPED,
        CountedStatus::Status(s) => STATUSES.iter().position(|&x| x == s).unwrap_or(OTHER),
    }
}

fn slot_name(i: usize) -> String {
    match i {
        DROPPED => "dropped".to_string(),
        OTHER => "other".to_string(),
        _ => STATUSES[i].to_string(),
    }
}

/// The live tallies, shared by all connections.
#[derive(Default)]
pub(crate) struct LiveCounters {
    cells: [[AtomicU64; SLOTS]; ApiOperation::ALL.len()],
    pub max_in_flight: AtomicU64,
    /// Resets answered without their PIN (`--no-pin-rate`).
    pub no_pin: AtomicU64,
    /// Resets held and applied late (`--late-apply-rate`), answered or not.
    pub late_applied: AtomicU64,
    /// Resets held and not applied yet: a gauge, not a tally.
    pub late_pending: AtomicU64,
}

impl LiveCounters {
    pub fn record(&self, op: ApiOperation, counted: CountedStatus) {
        self.cells[op as usize][slot(counted)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Counters {
        let mut requests = BTreeMap::new();
        for op in ApiOperation::ALL {
            let mut by_status = BTreeMap::new();
            for (i, cell) in self.cells[op as usize].iter().enumerate() {
                let n = cell.load(Ordering::Relaxed);
                if n > 0 {
                    by_status.insert(slot_name(i), n);
                }
            }
            if op != ApiOperation::Unknown || !by_status.is_empty() {
                requests.insert(op.name().to_string(), by_status);
            }
        }
        Counters {
            requests,
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            no_pin: self.no_pin.load(Ordering::Relaxed),
            late_applied: self.late_applied.load(Ordering::Relaxed),
            late_pending: self.late_pending.load(Ordering::Acquire),
        }
    }
}

/// A snapshot of the request counters.
///
/// Serializes as `{"requests": {"ResetPersonalPIN": {"200": 5, "429": 2, "dropped": 1}, "GetUser":
/// {…}, "ListUsers": {…}, "GetAccount": {…}, "GetCallerIdentity": {…}}, "max_in_flight": 7,
/// "no_pin": 0, "late_applied": 0, "late_pending": 0}`. Status keys are strings; `dropped` counts answers never
/// sent (drops, reset-then-drops, late applications whose client had gone). An `Unknown`
/// operation appears only when requests matched no operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Operation name → answer status (or `dropped`) → count.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// The highest number of API requests in flight seen when one arrived.
    pub max_in_flight: u64,
    /// ResetPersonalPIN answers (status 200) that lacked the PIN.
    pub no_pin: u64,
    /// ResetPersonalPIN requests held and then applied; counted under `200` when the client
    /// still waited for the answer, under `dropped` when it had gone.
    pub late_applied: u64,
    /// ResetPersonalPIN requests held now, to be applied when their `--late-apply-ms` is up
    /// (0 once every one has landed, which tests wait for).
    pub late_pending: u64,
}

impl Counters {
    /// Requests of `operation` that ended with `status` (`"200"`, `"429"`, `"dropped"`, …).
    pub fn get(&self, operation: &str, status: &str) -> u64 {
        self.requests
            .get(operation)
            .and_then(|m| m.get(status))
            .copied()
            .unwrap_or(0)
    }

    /// All requests of `operation`.
    pub fn total(&self, operation: &str) -> u64 {
        self.requests.get(operation).map_or(0, |m| m.values().sum())
    }

    /// All API requests.
    pub fn total_all(&self) -> u64 {
        self.requests.values().flat_map(|m| m.values()).sum()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut columns: Vec<&str> = Vec::new();
        for m in self.requests.values() {
            for k in m.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
        columns.sort_by_key(|c| (c.parse::<u16>().unwrap_or(u16::MAX), *c));
        let width = |c: &str| c.len().max(7);
        write!(f, "{:<18}", "operation")?;
        for c in &columns {
            write!(f, " {:>w$}", c, w = width(c))?;
        }
        writeln!(f, " {:>7}", "total")?;
        for (op, m) in &self.requests {
            write!(f, "{op:<18}")?;
            for c in &columns {
                write!(f, " {:>w$}", m.get(*c).copied().unwrap_or(0), w = width(c))?;
            }
            writeln!(f, " {:>7}", m.values().sum::<u64>())?;
        }
        write!(f, "max in flight: {}", self.max_in_flight)?;
        if self.no_pin > 0 || self.late_applied > 0 {
            write!(
                f,
                "\nresets answered without a PIN: {}; resets applied late: {}",
                self.no_pin, self.late_applied
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_table() {
        let live = LiveCounters::default();
        live.record(ApiOperation::ResetPersonalPin, CountedStatus::Status(200));
        live.record(ApiOperation::ResetPersonalPin, CountedStatus::Status(200));
        live.record(ApiOperation::ResetPersonalPin, CountedStatus::Dropped);
        live.record(ApiOperation::GetUser, CountedStatus::Status(429));
        let c = live.snapshot();
        assert_eq!(c.get("ResetPersonalPIN", "200"), 2);
        assert_eq!(c.get("ResetPersonalPIN", "dropped"), 1);
        assert_eq!(c.total_all(), 4);
        assert!(!c.requests.contains_key("Unknown"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["requests"]["GetUser"]["429"], 1);
        assert_eq!(json["requests"]["ListUsers"], serde_json::json!({}));
        let table = c.to_string();
        assert!(table.lines().next().unwrap().contains("200"), "{table}");
        assert!(table.contains("ResetPersonalPIN"), "{table}");
    }
}
