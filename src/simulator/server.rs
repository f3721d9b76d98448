//! The HTTP side of the simulator: accept connections on 127.0.0.1, route each request to one of
//! the three operations, apply authentication and faults, and answer the way Chime does.
//!
//! Per request the hot path takes three short locks that are never held across an await (the
//! fault generator, the throttle bucket, and the one user's PIN) and otherwise only atomics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::{request::Parts, HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::counters::{Counters, LiveCounters, Operation, Tally};
use super::directory::{format_guid, is_guid, Directory, DirectoryUser, USER_TYPES};
use super::faults::{Draw, Fate, FaultEngine, Faults};
use super::log::{unix_ms, LogLine, RequestLog, FLUSH_EVERY};
use super::sigv4::Authorization;
use crate::rules::rfc3339_millis;

/// Everything [`Simulator::start`] needs. Its `Debug` redacts the secret key.
#[derive(Clone, Default)]
pub struct SimulatorConfig {
    /// The accounts and users served.
    pub directory: Directory,
    /// Faults to inject into the three operations.
    pub faults: Faults,
    /// When set, verify every SigV4 signature with this secret access key.
    pub secret_key: Option<String>,
    /// When set, write one JSON line per API request to this file.
    pub log_path: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seed of the initial PINs, the new PINs and every fault decision.
    pub seed: u64,
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("users", &self.directory.len())
            .field("faults", &self.faults)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("log_path", &self.log_path)
            .field("port", &self.port)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1:`config.port` and serves on the current tokio runtime until
    /// [`SimulatorHandle::shutdown`] (or the handle is dropped).
    pub async fn start(config: SimulatorConfig) -> anyhow::Result<SimulatorHandle> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let log = match &config.log_path {
            Some(path) => Some(RequestLog::create(path)?),
            None => None,
        };
        let shared = Arc::new(Shared::new(config, log));
        let cancel = CancellationToken::new();
        let server = tokio::spawn(accept_loop(listener, shared.clone(), cancel.clone()));
        let flusher = shared.log.is_some().then(|| {
            let (shared, cancel) = (shared.clone(), cancel.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(FLUSH_EVERY);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tick.tick() => shared.flush_log(),
                    }
                }
            })
        });
        Ok(SimulatorHandle {
            endpoint: format!("http://{addr}"),
            shared,
            cancel,
            server: Some(server),
            flusher,
        })
    }
}

/// A running simulator. Dropping it stops accepting connections; [`shutdown`](Self::shutdown)
/// also waits for open connections and flushes the log.
pub struct SimulatorHandle {
    endpoint: String,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
    flusher: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The request counters so far.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// The document `GET /__simulator/state` answers (it holds the current PINs).
    pub fn state(&self) -> serde_json::Value {
        // A tree of strings and numbers always converts.
        serde_json::from_slice(&self.shared.state_json()).expect("state is valid JSON")
    }

    /// Stops accepting, lets open connections finish their requests (2 s at most), flushes the
    /// log and returns the final counters.
    pub async fn shutdown(mut self) -> Counters {
        self.cancel.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.await;
        }
        self.shared.flush_log();
        self.shared.counters.snapshot()
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let open = Arc::new(OpenConnections::default());
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a connection reset before accept: back off briefly
                // rather than spin.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (shared, cancel) = (shared.clone(), cancel.clone());
        let guard = OpenConnections::enter(&open);
        tokio::spawn(async move {
            let _guard = guard;
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
    drop(listener);
    open.wait_until_none().await;
}

/// Counts open connections so shutdown can wait for them.
#[derive(Default)]
struct OpenConnections {
    count: AtomicU64,
    closed: tokio::sync::Notify,
}

struct ConnectionGuard(Arc<OpenConnections>);

impl OpenConnections {
    fn enter(this: &Arc<Self>) -> ConnectionGuard {
        this.count.fetch_add(1, Ordering::AcqRel);
        ConnectionGuard(this.clone())
    }

    async fn wait_until_none(&self) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            // Registered before the check, so a close between check and await is not missed.
            closed.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

/// The error that makes hyper close the connection without writing any answer.
#[derive(Debug)]
struct DropAnswer;

impl std::fmt::Display for DropAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the simulator dropped this answer on purpose")
    }
}

impl std::error::Error for DropAnswer {}

type Answer = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Answer, DropAnswer> {
    if req.uri().path() == "/__simulator/state" && req.method() == Method::GET {
        let id = shared.request_id();
        return Ok(json_response(
            StatusCode::OK,
            &id,
            None,
            Bytes::from(shared.state_json()),
        ));
    }
    let arrival = SystemTime::now();
    let in_flight = InFlight::enter(&shared);
    let draw = shared.faults.draw();
    let answer_due = answer_time(draw.delay);
    let (parts, body) = req.into_parts();
    // Read the (normally empty) body so the connection can be kept alive and the payload hash
    // checked; a client that gives up mid-body gets no answer.
    let body = body.collect().await.map_err(|_| DropAnswer)?.to_bytes();
    if let Some(due) = answer_due {
        tokio::time::sleep_until(due).await;
    }
    shared.respond(&parts, &body, &draw, arrival, in_flight.count)
}

/// When an answer delayed by `delay` is due, counted from its arrival. Tokio's timer fires at
/// the first whole millisecond tick at or after a deadline, about a millisecond late on
/// average; aiming that much early centres the answer time on the latency asked for.
fn answer_time(delay: Duration) -> Option<tokio::time::Instant> {
    const TIMER_LATENESS: Duration = Duration::from_millis(1);
    (!delay.is_zero()).then(|| tokio::time::Instant::now() + delay.saturating_sub(TIMER_LATENESS))
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
struct InFlight<'a> {
    shared: &'a Shared,
    count: u64,
}

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let count = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared
            .counters
            .max_in_flight
            .fetch_max(count, Ordering::Relaxed);
        InFlight { shared, count }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A PIN and how often it was reset. Its `Debug` never shows the PIN.
struct PinState {
    pin: [u8; 10],
    reset_count: u64,
}

impl std::fmt::Debug for PinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinState")
            .field("pin", &"<redacted>")
            .field("reset_count", &self.reset_count)
            .finish()
    }
}

#[derive(Debug)]
struct UserEntry {
    info: DirectoryUser,
    pin: Mutex<PinState>,
}

struct Account {
    /// Indexes into `Shared::users`, in directory order.
    users: Vec<u32>,
    by_id: HashMap<Box<str>, u32>,
}

struct Shared {
    users: Vec<UserEntry>,
    accounts: HashMap<Box<str>, Account>,
    faults: FaultEngine,
    secret_key: Option<String>,
    log: Option<RequestLog>,
    counters: LiveCounters,
    in_flight: AtomicU64,
    request_seq: AtomicU64,
    seed: u64,
}

/// What the request came for, parsed from method, path and query.
struct Route<'a> {
    op: Operation,
    account_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
}

/// How a request ended.
enum Outcome {
    Answer {
        status: StatusCode,
        error: Option<&'static str>,
        body: Bytes,
    },
    Garbage(Bytes),
    Dropped,
    ResetThenDropped,
}

impl Outcome {
    fn error(status: StatusCode, exception: &'static str, code: &str, message: &str) -> Self {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ErrorBody<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body =
            serde_json::to_vec(&ErrorBody { code, message }).expect("strings always serialize");
        Outcome::Answer {
            status,
            error: Some(exception),
            body: body.into(),
        }
    }

    fn ok(body: Vec<u8>) -> Self {
        Outcome::Answer {
            status: StatusCode::OK,
            error: None,
            body: body.into(),
        }
    }

    fn bad_request(message: &str) -> Self {
        Outcome::error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "BadRequest",
            message,
        )
    }

    fn forbidden(code: &str, message: &str) -> Self {
        Outcome::error(StatusCode::FORBIDDEN, "ForbiddenException", code, message)
    }

    fn not_found(message: &str) -> Self {
        Outcome::error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "NotFound",
            message,
        )
    }
}

/// `User` of the model, members in model order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserJson<'a> {
    user_id: &'a str,
    account_id: &'a str,
    primary_email: &'a str,
    display_name: &'a str,
    license_type: &'a str,
    user_type: &'a str,
    user_registration_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_invitation_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_on: Option<String>,
    alexa_for_business_metadata: AlexaJson,
    #[serde(rename = "PersonalPIN")]
    personal_pin: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AlexaJson {
    is_alexa_for_business_enabled: bool,
}

/// 2020-01-06T09:00:00Z: invitations in the simulated past start here.
const EPOCH_OF_INVITES_MS: i64 = 1_578_301_200_000;

impl UserEntry {
    fn json<'a>(&'a self, index: u32, pin: &'a [u8; 10]) -> UserJson<'a> {
        let u = &self.info;
        // Deterministic dates: one invitation every 97 minutes, registration a day later.
        let invited_ms = EPOCH_OF_INVITES_MS + i64::from(index) * 97 * 60_000;
        let (invitation, registered) = match u.registration_status.as_str() {
            "Unregistered" => ("Pending", None),
            _ => (
                "Accepted",
                Some(rfc3339_millis(DateTime::from_millis(
                    invited_ms + 86_400_000,
                ))),
            ),
        };
        UserJson {
            user_id: &u.user_id,
            account_id: &u.account_id,
            primary_email: &u.email,
            display_name: &u.display_name,
            license_type: &u.license_type,
            user_type: &u.user_type,
            user_registration_status: &u.registration_status,
            user_invitation_status: Some(invitation),
            registered_on: registered,
            invited_on: Some(rfc3339_millis(DateTime::from_millis(invited_ms))),
            alexa_for_business_metadata: AlexaJson {
                is_alexa_for_business_enabled: false,
            },
            // PINs are ASCII digits.
            personal_pin: std::str::from_utf8(pin).expect("PINs are ASCII digits"),
        }
    }
}

impl Shared {
    fn new(config: SimulatorConfig, log: Option<RequestLog>) -> Self {
        let faults = FaultEngine::new(config.faults, config.seed);
        let mut users = Vec::with_capacity(config.directory.len());
        let mut accounts: HashMap<Box<str>, Account> = HashMap::new();
        for info in config.directory.users() {
            let index = u32::try_from(users.len()).expect("fewer than 4 billion users");
            let account = accounts
                .entry(info.account_id.as_str().into())
                .or_insert_with(|| Account {
                    users: Vec::new(),
                    by_id: HashMap::new(),
                });
            account.users.push(index);
            account.by_id.insert(info.user_id.as_str().into(), index);
            users.push(UserEntry {
                info: info.clone(),
                pin: Mutex::new(PinState {
                    pin: faults.initial_pin(),
                    reset_count: 0,
                }),
            });
        }
        Shared {
            users,
            accounts,
            faults,
            secret_key: config.secret_key,
            log,
            counters: LiveCounters::default(),
            in_flight: AtomicU64::new(0),
            request_seq: AtomicU64::new(0),
            seed: config.seed,
        }
    }

    /// A fresh GUID-shaped request id (unique per simulator, reproducible per seed).
    fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let hi = splitmix64(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let lo = splitmix64(hi ^ n);
        format_guid((u128::from(hi) << 64) | u128::from(lo))
    }

    fn flush_log(&self) {
        if let Some(log) = &self.log {
            log.flush();
        }
    }

    fn state_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct StateUser<'a> {
            account_id: &'a str,
            user_id: &'a str,
            primary_email: &'a str,
            display_name: &'a str,
            personal_pin: &'a str,
            reset_count: u64,
        }
        #[derive(Serialize)]
        struct State<'a> {
            users: Vec<StateUser<'a>>,
            #[serde(flatten)]
            counters: Counters,
        }
        let pins: Vec<([u8; 10], u64)> = self
            .users
            .iter()
            .map(|u| {
                let p = u.pin.lock().unwrap_or_else(|e| e.into_inner());
                (p.pin, p.reset_count)
            })
            .collect();
        let users = self
            .users
            .iter()
            .zip(&pins)
            .map(|(u, (pin, reset_count))| StateUser {
                account_id: &u.info.account_id,
                user_id: &u.info.user_id,
                primary_email: &u.info.email,
                display_name: &u.info.display_name,
                personal_pin: std::str::from_utf8(pin).expect("PINs are ASCII digits"),
                reset_count: *reset_count,
            })
            .collect();
        serde_json::to_vec(&State {
            users,
            counters: self.counters.snapshot(),
        })
        .expect("strings and numbers always serialize")
    }

    /// Everything after the delay: decide, count, log, answer.
    fn respond(
        &self,
        parts: &Parts,
        body: &[u8],
        draw: &Draw,
        arrival: SystemTime,
        in_flight: u64,
    ) -> Result<Answer, DropAnswer> {
        let route = parse_route(parts);
        let outcome = self.serve(parts, body, &route, draw);
        let (tally, status, label) = match &outcome {
            Outcome::Answer { status, .. } => (
                Tally::Status(status.as_u16()),
                Some(status.as_u16()),
                "answered",
            ),
            Outcome::Garbage(_) => (Tally::Status(200), Some(200), "garbage"),
            Outcome::Dropped => (Tally::Dropped, None, "dropped"),
            Outcome::ResetThenDropped => (Tally::Dropped, Some(200), "reset-then-dropped"),
        };
        self.counters.record(route.op, tally);
        if let Some(log) = &self.log {
            let at_unix_ms = unix_ms(arrival);
            log.write(&LogLine {
                time: rfc3339_millis(DateTime::from_millis(at_unix_ms as i64)),
                at_unix_ms,
                operation: route.op.name(),
                account_id: route.account_id.as_deref(),
                user_id: route.user_id.as_deref(),
                status,
                outcome: label,
                in_flight,
            });
        }
        match outcome {
            Outcome::Answer {
                status,
                error,
                body,
            } => Ok(json_response(status, &self.request_id(), error, body)),
            Outcome::Garbage(body) => Ok(json_response(
                StatusCode::OK,
                &self.request_id(),
                None,
                body,
            )),
            Outcome::Dropped | Outcome::ResetThenDropped => Err(DropAnswer),
        }
    }

    /// The checks in the order a request meets them: routing, authentication, throttling,
    /// service faults, validation, permission, existence, then the operation itself.
    fn serve(&self, parts: &Parts, body: &[u8], route: &Route<'_>, draw: &Draw) -> Outcome {
        if route.op == Operation::Unknown {
            return Outcome::bad_request(&format!(
                "No operation matches {} {}",
                parts.method,
                parts.uri.path()
            ));
        }
        if let Some(denied) = self.authenticate(parts, body) {
            return denied;
        }
        if !self.faults.admit() {
            return Outcome::error(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottledClientException",
                "Throttled",
                "The client exceeded its request rate limit.",
            );
        }
        match draw.fate {
            Fate::ServiceFailure => {
                return Outcome::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailureException",
                    "ServiceFailure",
                    "The service encountered an unexpected error.",
                )
            }
            Fate::ServiceUnavailable => {
                return Outcome::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "ServiceUnavailable",
                    "The service is currently unavailable.",
                )
            }
            Fate::Drop => return Outcome::Dropped,
            Fate::Normal | Fate::ResetThenDrop | Fate::Garbage => {}
        }
        let (Some(account_id), Some(user_id)) = (&route.account_id, &route.user_id) else {
            // Only ListUsers comes without a user ID.
            return self.list_users(parts, route.account_id.as_deref().unwrap_or_default(), draw);
        };
        if !is_guid(account_id) {
            return Outcome::bad_request("The accountId is not a valid GUID.");
        }
        if !is_guid(user_id) {
            return Outcome::bad_request("The userId is not a valid GUID.");
        }
        if self.faults.is_forbidden(account_id) {
            return Outcome::forbidden("Forbidden", "Access to this account is forbidden.");
        }
        let Some(account) = self.accounts.get(account_id.as_ref()) else {
            return Outcome::not_found("The account was not found.");
        };
        let Some(&index) = account.by_id.get(user_id.as_ref()) else {
            return Outcome::not_found("The user was not found.");
        };
        let user = &self.users[index as usize];
        let pin = {
            let mut state = user.pin.lock().unwrap_or_else(|e| e.into_inner());
            if route.op == Operation::ResetPersonalPin {
                let mut fresh = draw.pin;
                if fresh == state.pin {
                    // A reset always changes the PIN.
                    fresh[9] = b'0' + (fresh[9] - b'0' + 1) % 10;
                }
                state.pin = fresh;
                state.reset_count += 1;
            }
            state.pin
        };
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct UserResponse<'a> {
            user: UserJson<'a>,
        }
        let json = serde_json::to_vec(&UserResponse {
            user: user.json(index, &pin),
        })
        .expect("strings always serialize");
        finish(json, draw)
    }

    fn list_users(&self, parts: &Parts, account_id: &str, draw: &Draw) -> Outcome {
        if !is_guid(account_id) {
            return Outcome::bad_request("The accountId is not a valid GUID.");
        }
        let (mut email, mut user_type, mut max_results, mut offset) =
            (None, None, 100usize, 0usize);
        for (key, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        {
            match key.as_ref() {
                "user-email" => email = Some(value),
                "user-type" => {
                    if !USER_TYPES.contains(&value.as_ref()) {
                        return Outcome::bad_request(
                            "user-type must be PrivateUser or SharedDevice.",
                        );
                    }
                    user_type = Some(value);
                }
                "max-results" => match value.parse::<usize>() {
                    Ok(n @ 1..=200) => max_results = n,
                    _ => return Outcome::bad_request("max-results must be between 1 and 200."),
                },
                "next-token" => match decode_token(&value) {
                    Some(n) => offset = n,
                    None => return Outcome::bad_request("The next-token is not valid."),
                },
                _ => {}
            }
        }
        if self.faults.is_forbidden(account_id) {
            return Outcome::forbidden("Forbidden", "Access to this account is forbidden.");
        }
        let Some(account) = self.accounts.get(account_id) else {
            return Outcome::not_found("The account was not found.");
        };
        let mut matching = account.users.iter().copied().filter(|&i| {
            let u = &self.users[i as usize].info;
            email
                .as_ref()
                .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
                && user_type.as_ref().is_none_or(|t| u.user_type == *t)
        });
        let page: Vec<u32> = matching.by_ref().skip(offset).take(max_results).collect();
        let more = matching.next().is_some();
        let pins: Vec<[u8; 10]> = page
            .iter()
            .map(|&i| {
                self.users[i as usize]
                    .pin
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pin
            })
            .collect();
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ListUsersResponse<'a> {
            users: Vec<UserJson<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            next_token: Option<String>,
        }
        let users = page
            .iter()
            .zip(&pins)
            .map(|(&i, pin)| self.users[i as usize].json(i, pin))
            .collect();
        let next_token = more.then(|| encode_token(offset + page.len()));
        let json = serde_json::to_vec(&ListUsersResponse { users, next_token })
            .expect("strings always serialize");
        finish(json, draw)
    }

    /// `Some(answer)` when the request may not proceed.
    fn authenticate(&self, parts: &Parts, body: &[u8]) -> Option<Outcome> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(auth) = header.and_then(Authorization::parse) else {
            return Some(Outcome::forbidden(
                "AccessDenied",
                "Missing or malformed SigV4 Authorization header.",
            ));
        };
        if auth.service != "chime" {
            return Some(Outcome::forbidden(
                "AccessDenied",
                "The credential scope must name the service chime.",
            ));
        }
        if self.faults.faults.unauthorized_key.as_deref() == Some(auth.access_key) {
            return Some(Outcome::error(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedClientException",
                "Unauthorized",
                "The client is not currently authorized to make the request.",
            ));
        }
        if let Some(secret) = &self.secret_key {
            if !auth.verify(parts, body, secret) {
                return Some(Outcome::forbidden(
                    "AccessDenied",
                    "The request signature we calculated does not match the signature you provided.",
                ));
            }
        }
        None
    }
}

/// The success answer, or what the fate makes of it once the operation is done.
fn finish(json: Vec<u8>, draw: &Draw) -> Outcome {
    match draw.fate {
        Fate::ResetThenDrop => Outcome::ResetThenDropped,
        Fate::Garbage => {
            let mut json = json;
            json.truncate(json.len() / 2);
            Outcome::Garbage(json.into())
        }
        _ => Outcome::ok(json),
    }
}

fn parse_route(parts: &Parts) -> Route<'_> {
    let unknown = Route {
        op: Operation::Unknown,
        account_id: None,
        user_id: None,
    };
    let Some(rest) = parts.uri.path().strip_prefix("/accounts/") else {
        return unknown;
    };
    let mut segments = rest.split('/');
    let (Some(account), Some("users")) = (segments.next(), segments.next()) else {
        return unknown;
    };
    let user = segments.next();
    if segments.next().is_some() || account.is_empty() || user == Some("") {
        return unknown;
    }
    let operation = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "operation")
        .map(|(_, v)| v);
    let op = match (&parts.method, user.is_some(), operation.as_deref()) {
        (&Method::POST, true, Some("reset-personal-pin")) => Operation::ResetPersonalPin,
        (&Method::GET, true, None) => Operation::GetUser,
        (&Method::GET, false, None) => Operation::ListUsers,
        _ => return unknown,
    };
    match (decode(account), user.map(decode)) {
        (Some(account), None) => Route {
            op,
            account_id: Some(account),
            user_id: None,
        },
        (Some(account), Some(Some(user))) => Route {
            op,
            account_id: Some(account),
            user_id: Some(user),
        },
        // Not UTF-8 once decoded: the operation is known, the IDs are not valid.
        _ => Route {
            op,
            account_id: Some(Cow::Borrowed("")),
            user_id: user.map(|_| Cow::Borrowed("")),
        },
    }
}

fn decode(segment: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
}

fn encode_token(offset: usize) -> String {
    hex::encode(format!("chime-sim:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = hex::decode(token).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("chime-sim:")?
        .parse()
        .ok()
}

fn json_response(
    status: StatusCode,
    request_id: &str,
    error: Option<&'static str>,
    body: Bytes,
) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(exception) = error {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(exception));
    }
    response
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(300)), Some(300));
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token(&hex::encode("other:1")), None);
    }

    #[test]
    fn routes() {
        let route = |method: &str, uri: &str| {
            let (parts, ()) = Request::builder()
                .method(method)
                .uri(uri)
                .body(())
                .unwrap()
                .into_parts();
            let r = parse_route(&parts);
            (
                r.op,
                r.account_id.map(|s| s.into_owned()),
                r.user_id.map(|s| s.into_owned()),
            )
        };
        assert_eq!(
            route(
                "POST",
                "/accounts/a%2Db/users/c?operation=reset-personal-pin"
            ),
            (
                Operation::ResetPersonalPin,
                Some("a-b".into()),
                Some("c".into())
            )
        );
        assert_eq!(route("GET", "/accounts/a/users/c").0, Operation::GetUser);
        assert_eq!(
            route("GET", "/accounts/a/users?max-results=3").0,
            Operation::ListUsers
        );
        assert_eq!(route("POST", "/accounts/a/users/c").0, Operation::Unknown);
        assert_eq!(route("GET", "/accounts/a/users/c/x").0, Operation::Unknown);
        assert_eq!(route("DELETE", "/accounts/a/users/c").0, Operation::Unknown);
        assert_eq!(route("GET", "/").0, Operation::Unknown);
    }
}
