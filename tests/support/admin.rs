//! The simulator's admin endpoints: changes made behind the tool's back (a PIN set, a user
//! removed, the credentials expired or renewed), waiting for held resets to land, and `verify`
//! commands against a simulator.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{fetch_state, Workdir};

/// Sets a user's PIN behind the tool's back: to `pin`, or to a fresh one when `None`.
pub fn set_pin(endpoint: &str, account: &str, user: &str, pin: Option<&str>) {
    let url = format!("{endpoint}/__simulator/users/{account}/{user}/pin");
    let body = pin.map_or(String::new(), |pin| format!("{{\"pin\":\"{pin}\"}}"));
    ureq::post(&url)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
}

/// Removes a user from the simulator: GetUser answers 404 from then on.
pub fn remove_user(endpoint: &str, account: &str, user: &str) {
    let url = format!("{endpoint}/__simulator/users/{account}/{user}");
    ureq::delete(&url)
        .call()
        .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
}

/// Expires every key at once (`true`) or renews them for good (`false`); returns the answer,
/// `{"expired": bool}`.
pub fn set_credentials_expired(endpoint: &str, expired: bool) -> serde_json::Value {
    let url = format!("{endpoint}/__simulator/credentials");
    let body = ureq::post(&url)
        .send(format!("{{\"expired\":{expired}}}"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .into_body()
        .read_to_string()
        .unwrap_or_else(|e| panic!("read body of {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the answer is not JSON: {e}"))
}

/// Waits until no reset held by `--late-apply-rate` is pending (60 s at most) and returns the
/// state then: every late reset has landed.
pub fn wait_for_late_resets(endpoint: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = fetch_state(endpoint);
        let pending = state["late_pending"]
            .as_u64()
            .expect("the state counts pending late resets");
        if pending == 0 {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} late resets still pending after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `verify` command against `endpoint`, with dummy credentials, in `work`.
pub fn verify_command(work: &Workdir, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = work.command(&["verify"]);
    cmd.args(args)
        .args(["--endpoint-url", endpoint, "--rate", "0"]);
    cmd
}

/// Gives the simulator a new token bucket of `rps` requests a second with `burst` (0 turns
/// throttling off); returns the answer, `{"rps": R, "burst": B}`.
pub fn set_throttle(endpoint: &str, rps: f64, burst: u32) -> serde_json::Value {
    let url = format!("{endpoint}/__simulator/throttle");
    let body = ureq::post(&url)
        .send(format!("{{\"rps\":{rps},\"burst\":{burst}}}"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .into_body()
        .read_to_string()
        .unwrap_or_else(|e| panic!("read body of {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the answer is not JSON: {e}"))
}
