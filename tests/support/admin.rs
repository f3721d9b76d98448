//! The simulator's admin endpoints: changes made behind the tool's back (a PIN set, a user
//! removed), and `verify` commands against a simulator.

use std::process::Command;

use super::{aws_env, bin, Workdir};

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

/// A `verify` command against `endpoint`, with dummy credentials, in `work`.
pub fn verify_command(work: &Workdir, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = bin();
    aws_env(&mut cmd);
    cmd.current_dir(work.root()).arg("verify").args(args).args([
        "--endpoint-url",
        endpoint,
        "--rate",
        "0",
    ]);
    cmd
}
