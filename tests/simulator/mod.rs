//! Simulator tests: the real aws-sdk-chime client, the AWS CLI and plain HTTP against the
//! simulator over real HTTP, in process and as `chime-pin-reset simulate`. The shared helpers
//! live here; the tests, by subject, in the submodules.

mod admin;
mod cli;
mod faults;
mod protocol;
mod sdk;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use aws_sdk_chime::error::SdkError;
use aws_sdk_chime::operation::get_user::GetUserError;
use aws_sdk_chime::operation::list_users::ListUsersError;
use aws_sdk_chime::operation::reset_personal_pin::ResetPersonalPINError;
use chime_pin_reset::simulator::{
    Directory, DirectoryAccount, Faults, Simulator, SimulatorConfig, SimulatorHandle,
};
use serde_json::Value;

use crate::support::{
    self, aws_env, bin, chime_client, chime_client_with, fetch_state, SimulatorProcess, Workdir,
};

type ResetError = SdkError<ResetPersonalPINError, aws_sdk_chime::config::http::HttpResponse>;

/// Starts an in-process simulator over `accounts × users` generated users.
async fn start(accounts: usize, users: usize, faults: Faults) -> SimulatorHandle {
    start_logged(accounts, users, faults, None).await
}

/// Like [`start`], writing the request log to `log`.
async fn start_logged(
    accounts: usize,
    users: usize,
    faults: Faults,
    log: Option<&std::path::Path>,
) -> SimulatorHandle {
    Simulator::start(SimulatorConfig {
        directory: Directory::generate(accounts, users, 11),
        faults,
        seed: 11,
        log_path: log.map(Into::into),
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator")
}

/// The only line of a request log, parsed.
fn only_log_line(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one request, one line");
    serde_json::from_str(lines[0]).unwrap()
}

/// (account_id, user_id) of the `n`th user in the state document.
fn user_ids(state: &Value, n: usize) -> (String, String) {
    let u = &state["users"][n];
    (
        u["account_id"].as_str().unwrap().into(),
        u["user_id"].as_str().unwrap().into(),
    )
}

fn state_user<'a>(state: &'a Value, user_id: &str) -> &'a Value {
    state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user_id)
        .unwrap_or_else(|| panic!("user {user_id} is not in the state"))
}

fn pin_of(state: &Value, user_id: &str) -> String {
    state_user(state, user_id)["personal_pin"]
        .as_str()
        .unwrap()
        .to_string()
}

fn reset_count(state: &Value, user_id: &str) -> u64 {
    state_user(state, user_id)["reset_count"].as_u64().unwrap()
}

fn is_ten_digits(pin: &str) -> bool {
    pin.len() == 10 && pin.bytes().all(|b| b.is_ascii_digit())
}

async fn reset(
    client: &aws_sdk_chime::Client,
    account: &str,
    user: &str,
) -> Result<String, ResetError> {
    let out = client
        .reset_personal_pin()
        .account_id(account)
        .user_id(user)
        .send()
        .await?;
    Ok(out
        .user()
        .and_then(|u| u.personal_pin())
        .expect("a reset answer carries the PIN")
        .into())
}

/// The modelled error of a failed reset, as the name of its variant.
fn reset_error_variant(err: &ResetError) -> &'static str {
    match err.as_service_error() {
        Some(ResetPersonalPINError::BadRequestException(_)) => "BadRequestException",
        Some(ResetPersonalPINError::ForbiddenException(_)) => "ForbiddenException",
        Some(ResetPersonalPINError::NotFoundException(_)) => "NotFoundException",
        Some(ResetPersonalPINError::ServiceFailureException(_)) => "ServiceFailureException",
        Some(ResetPersonalPINError::ServiceUnavailableException(_)) => {
            "ServiceUnavailableException"
        }
        Some(ResetPersonalPINError::ThrottledClientException(_)) => "ThrottledClientException",
        Some(ResetPersonalPINError::UnauthorizedClientException(_)) => {
            "UnauthorizedClientException"
        }
        Some(_) => "unhandled service error",
        None => "not a service error",
    }
}

fn status_of(err: &ResetError) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A well-formed SigV4 header for `service` whose signature is never checked (no secret key).
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDRAW/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0000"
    )
}

/// Status, lowercased headers and body text of an HTTP answer.
type RawAnswer = (u16, HashMap<String, String>, String);

/// A blocking request with `headers` (and, for POST, `body`) that returns the answer whatever
/// its status.
fn raw_request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> RawAnswer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let result = match method {
        "GET" => headers
            .iter()
            .fold(agent.get(url), |r, (k, v)| r.header(*k, *v))
            .call(),
        "DELETE" => headers
            .iter()
            .fold(agent.delete(url), |r, (k, v)| r.header(*k, *v))
            .call(),
        "POST" => headers
            .iter()
            .fold(agent.post(url), |r, (k, v)| r.header(*k, *v))
            .send(body),
        _ => panic!("raw_request does not send {method}"),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, headers, body)
}

/// A blocking GET that returns status, lowercased headers and the JSON body, whatever the status.
fn raw_get(url: &str, authorization: Option<&str>) -> (u16, HashMap<String, String>, Value) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|auth| ("authorization", auth))
        .into_iter()
        .collect();
    let (status, headers, body) = raw_request("GET", url, &headers, "");
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// `method` on the admin `path` (under `/__simulator/`) of the simulator at `endpoint`, from
/// a blocking thread; returns the status and the JSON answer.
async fn admin(endpoint: &str, method: &'static str, path: &str, body: &str) -> (u16, Value) {
    let url = format!("{endpoint}/__simulator/{path}");
    let body = body.to_string();
    let (status, _, text) =
        tokio::task::spawn_blocking(move || raw_request(method, &url, &[], &body))
            .await
            .unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("an admin answer is JSON ({e}): {text}"));
    (status, json)
}

/// Polls the state document until `done` holds for it; panics after 20 s.
async fn wait_for_state(endpoint: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state = fetch_state_async(endpoint).await;
        if done(&state) {
            return state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator's state never showed {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn fetch_state_async(endpoint: &str) -> Value {
    let endpoint = endpoint.to_string();
    tokio::task::spawn_blocking(move || fetch_state(&endpoint))
        .await
        .unwrap()
}

/// Runs `aws SERVICE --endpoint-url ENDPOINT --output json ARGS…` with the CLI at `aws` (from
/// [`support::aws_cli`]), the test environment and `env` on top; returns the process output.
fn aws_run(
    aws: &Path,
    endpoint: &str,
    service: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(aws);
    aws_env(&mut cmd);
    cmd.args([service, "--endpoint-url", endpoint, "--output", "json"])
        .args(args)
        .envs(env.iter().copied());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", aws.display()))
}

/// Runs `aws chime …` against `endpoint`; returns (success, stdout, stderr).
fn aws(aws: &Path, endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let out = aws_run(aws, endpoint, "chime", args, &[]);
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}
