//! Simulator tests: the real aws-sdk-chime client, the AWS CLI and plain HTTP against the
//! simulator over real HTTP, in process and as `chime-pin-reset simulate`. The shared helpers
//! live here; the tests, by subject, in the submodules.

/// Asserts that `$result` (an SDK call's result) failed with the modelled error `$variant` (a
/// path such as `GetUserError::NotFoundException`) and, when given, the HTTP `$status`. Neither a call that succeeded nor a wrong error is shown in full: an answer
/// may hold a PIN.
macro_rules! assert_refused {
    ($result:expr, $variant:path) => {
        match $result {
            Ok(_) => panic!("expected {}, but the call succeeded", stringify!($variant)),
            Err(err) => {
                // The code and status only: a raw answer is never shown.
                assert!(
                    matches!(err.as_service_error(), Some($variant(_))),
                    "expected {}, got code {:?}, status {:?}",
                    stringify!($variant),
                    err.as_service_error().and_then(|e| e.meta().code()),
                    status_of(&err)
                );
                err
            }
        }
    };
    ($result:expr, $variant:path, $status:expr) => {{
        let err = assert_refused!($result, $variant);
        assert_eq!(status_of(&err), Some($status), "{}", stringify!($variant));
    }};
}

mod admin;
mod cli;
mod faults;
mod protocol;
mod sdk;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use aws_sdk_chime::config::http::HttpResponse;
use aws_sdk_chime::error::SdkError;
use aws_sdk_chime::operation::get_user::{GetUserError, GetUserOutput};
use aws_sdk_chime::operation::list_users::ListUsersError;
use aws_sdk_chime::operation::reset_personal_pin::ResetPersonalPINError;
use aws_smithy_types::error::display::DisplayErrorContext;
use chime_pin_reset::simulator::{
    Directory, DirectoryAccount, Faults, Simulator, SimulatorConfig, SimulatorHandle,
};
use serde_json::Value;

use crate::support::{
    self, aws_env, bin, chime_client, chime_client_with, fetch_state, SimulatorProcess, Workdir,
};

type ResetError = SdkError<ResetPersonalPINError, HttpResponse>;

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

/// An in-process simulator with one account of `users` users (logging to `log`), a client for
/// it, and the account's and its first user's ids.
async fn start_with_user(
    users: usize,
    faults: Faults,
    log: Option<&Path>,
) -> (SimulatorHandle, aws_sdk_chime::Client, String, String) {
    let sim = start_logged(1, users, faults, log).await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    (sim, client, account, user)
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

/// The modelled error of a failed reset and the HTTP status it came with.
fn variant_and_status(err: &ResetError) -> (&'static str, Option<u16>) {
    (reset_error_variant(err), status_of(err))
}

/// A reset that must fail as the modelled `variant`, with that error code and HTTP `status`.
async fn assert_reset_refused(
    client: &aws_sdk_chime::Client,
    (account, user): (&str, &str),
    variant: &str,
    status: u16,
) {
    let err = reset_refused(client, account, user).await;
    let what = format!("reset {account}/{user}");
    assert_eq!(variant_and_status(&err), (variant, Some(status)), "{what}");
    let code = err.as_service_error().and_then(|e| e.meta().code());
    assert_eq!(
        code,
        Some(variant),
        "{what}: the error code names the variant"
    );
}

/// A throttle bucket of two: two resets pass, the third is refused with a 429.
async fn assert_bucket_of_two(client: &aws_sdk_chime::Client, account: &str, user: &str) {
    reset(client, account, user).await.unwrap();
    reset(client, account, user).await.unwrap();
    assert_reset_refused(client, (account, user), "ThrottledClientException", 429).await;
}

/// The HTTP status of a failed SDK call, if an answer arrived.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A reset that must fail; a success panics without showing the PIN it carried.
async fn reset_refused(client: &aws_sdk_chime::Client, account: &str, user: &str) -> ResetError {
    match reset(client, account, user).await {
        Ok(_) => panic!("expected the reset of {user} to fail, but it succeeded"),
        Err(err) => err,
    }
}

async fn get_user(
    client: &aws_sdk_chime::Client,
    account: &str,
    user: &str,
) -> Result<GetUserOutput, SdkError<GetUserError, HttpResponse>> {
    client
        .get_user()
        .account_id(account)
        .user_id(user)
        .send()
        .await
}

/// The PIN GetUser reads back for `user`; panics (showing no PIN) when the call fails or the
/// answer holds none. Compare it with `assert!(.. == ..)` so that no PIN reaches test output.
async fn pin_read_back(client: &aws_sdk_chime::Client, account: &str, user: &str) -> String {
    let got = get_user(client, account, user)
        .await
        .unwrap_or_else(|e| panic!("GetUser {user}: {}", DisplayErrorContext(&e)));
    got.user()
        .and_then(|u| u.personal_pin())
        .unwrap_or_else(|| panic!("GetUser {user} answered without a PIN"))
        .to_string()
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

/// `method` on the admin `path` that must answer 200; returns the JSON answer.
async fn admin_ok(endpoint: &str, method: &'static str, path: &str, body: &str) -> Value {
    let (status, answer) = admin(endpoint, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// The keys of a JSON object, sorted.
fn sorted_keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
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

/// The AWS CLI at `path` (from [`support::aws_cli`]) pointed at the simulator at `endpoint`.
struct AwsCli<'a> {
    path: &'a Path,
    endpoint: &'a str,
}

impl<'a> AwsCli<'a> {
    fn new(path: &'a Path, endpoint: &'a str) -> Self {
        AwsCli { path, endpoint }
    }

    /// Runs `aws SERVICE --endpoint-url ENDPOINT --output json ARGS…` with the test environment
    /// and `env` on top; returns the process output.
    fn run(&self, service: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(self.path);
        aws_env(&mut cmd);
        cmd.args([service, "--endpoint-url", self.endpoint, "--output", "json"])
            .args(args)
            .envs(env.iter().copied());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.path.display()))
    }

    /// The stdout of `aws chime ARGS…`, which must succeed.
    fn chime(&self, args: &[&str]) -> String {
        let out = self.run("chime", args, &[]);
        assert!(
            out.status.success(),
            "aws chime {} failed: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The stdout of `aws chime ARGS…`, which must succeed, parsed.
    fn chime_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.chime(args)).unwrap()
    }

    /// Asserts that `aws chime ARGS…` fails with a message naming `exception`.
    fn assert_chime_refused(&self, args: &[&str], exception: &str) {
        let (_, stderr) = failure(&self.run("chime", args, &[]));
        assert!(stderr.contains(exception), "aws chime {args:?}: {stderr}");
    }
}

/// (exit code, stderr) of a failed `aws` run; panics if it succeeded, without showing its
/// stdout (a reset's answer holds a PIN).
fn failure(out: &std::process::Output) -> (Option<i32>, String) {
    assert!(
        !out.status.success(),
        "expected a failure, but it succeeded"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
