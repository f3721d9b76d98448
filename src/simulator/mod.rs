//! A local simulator of the Amazon Chime user API, faithful enough that the real aws-sdk-chime
//! client and the AWS CLI talk to it unchanged: ResetPersonalPIN, GetUser, ListUsers and
//! GetAccount, and STS GetCallerIdentity on the same endpoint, over plain HTTP/1.1 on 127.0.0.1,
//! with each protocol's error shapes, SigV4 checks, and seeded, reproducible faults (latency,
//! throttling, failures, lost, garbled and PIN-less answers, late resets, refused keys, keys
//! that expire mid-run).
//!
//! Tests, demos and benchmarks run against it, in process ([`Simulator::start`]) or as
//! `chime-pin-reset simulate`. `GET /__simulator/state` shows every user's PIN and reset count
//! and the request counters, so tests can check what really happened on the "server"; other
//! admin endpoints change a PIN, remove a user, the throttle or the keys' expiry behind the
//! client's back.
//!
//! Layout: [`directory`] (which accounts and users exist) and `store` (their live PINs);
//! [`faults`] (what goes wrong); `server` (listener, connections, bodies, delays on the
//! crate's [`timer`](crate::timer), held and dropped answers), `routing` (which operation a
//! request asks for), `auth` and `sigv4` (who signed it), `operations` (one function per
//! operation) and `sts` (the caller's identity), `wire` (answer bodies) and `errors` (error
//! shapes); `admin` (`/__simulator/`); `counters` and `log` (what happened).

mod admin;
mod auth;
pub mod counters;
pub mod directory;
mod errors;
pub mod faults;
mod log;
mod operations;
mod routing;
mod server;
mod sigv4;
mod store;
mod sts;
mod wire;

pub use counters::Counters;
pub use directory::{Directory, DirectoryAccount, DirectoryUser};
pub use faults::Faults;
pub use server::{Simulator, SimulatorConfig, SimulatorHandle};
pub use sts::DEFAULT_CALLER_ARN;

/// Checks a `--caller-arn` and returns it as the simulator will present it.
pub fn parse_caller_arn(arn: &str) -> Result<String, String> {
    sts::CallerIdentity::parse(arn).map(|identity| identity.arn)
}
