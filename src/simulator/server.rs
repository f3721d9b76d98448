//! The HTTP plumbing of the simulator: the listener on 127.0.0.1, connections and their
//! shutdown, reading bodies, delaying and dropping answers, and the shared [`ServerState`] that
//! counts and logs each request once its [`Reply`] is known. What a request asks for is
//! `routing`'s business; what it gets, `operations`'.
//!
//! Per request the hot path takes three short locks that are never held across an await (the
//! fault generator, the throttle bucket, and the one user's PIN) and otherwise only atomics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::{request::Parts, Method, Request, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::counters::{CountedStatus, Counters, LiveCounters};
use super::directory::{format_guid, Directory};
use super::errors::{json_response, Reply, WireResponse};
use super::faults::{Draw, FaultEngine, Faults};
use super::log::{unix_ms, LogLine, RequestLog, FLUSH_EVERY};
use super::routing::route;
use super::store::UserStore;
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
        let shared = Arc::new(ServerState::new(config, log));
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
    shared: Arc<ServerState>,
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

async fn accept_loop(listener: TcpListener, shared: Arc<ServerState>, cancel: CancellationToken) {
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
pub(super) struct DropAnswer;

impl std::fmt::Display for DropAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the simulator dropped this answer on purpose")
    }
}

impl std::error::Error for DropAnswer {}

async fn handle(
    shared: Arc<ServerState>,
    req: Request<Incoming>,
) -> Result<WireResponse, DropAnswer> {
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
    shared: &'a ServerState,
    count: u64,
}

impl<'a> InFlight<'a> {
    fn enter(shared: &'a ServerState) -> Self {
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

/// What every connection shares: the users, the faults, the counters and the log.
pub(super) struct ServerState {
    pub store: UserStore,
    pub faults: FaultEngine,
    pub secret_key: Option<String>,
    log: Option<RequestLog>,
    pub counters: LiveCounters,
    in_flight: AtomicU64,
    request_seq: AtomicU64,
    seed: u64,
}

impl ServerState {
    fn new(config: SimulatorConfig, log: Option<RequestLog>) -> Self {
        let faults = FaultEngine::new(config.faults, config.seed);
        let store = UserStore::new(&config.directory, || faults.initial_pin());
        ServerState {
            store,
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
    pub fn request_id(&self) -> String {
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

    /// The document of `GET /__simulator/state`: every user with PIN and reset count, and the
    /// counters.
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
        struct StateDocument<'a> {
            users: Vec<StateUser<'a>>,
            #[serde(flatten)]
            counters: Counters,
        }
        let pins: Vec<([u8; 10], u64)> = self
            .store
            .users()
            .iter()
            .map(|u| {
                let p = u.pin();
                (p.pin, p.reset_count)
            })
            .collect();
        let users = self
            .store
            .users()
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
        serde_json::to_vec(&StateDocument {
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
    ) -> Result<WireResponse, DropAnswer> {
        let route = route(parts);
        let reply = self.serve(parts, body, &route, draw);
        let (counted, status, label) = match &reply {
            Reply::Answer { status, .. } => (
                CountedStatus::Status(status.as_u16()),
                Some(status.as_u16()),
                "answered",
            ),
            Reply::Garbage(_) => (CountedStatus::Status(200), Some(200), "garbage"),
            Reply::Dropped => (CountedStatus::Dropped, None, "dropped"),
            Reply::ResetThenDropped => (CountedStatus::Dropped, Some(200), "reset-then-dropped"),
        };
        self.counters.record(route.op, counted);
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
        match reply {
            Reply::Answer {
                status,
                error,
                body,
            } => Ok(json_response(status, &self.request_id(), error, body)),
            Reply::Garbage(body) => Ok(json_response(
                StatusCode::OK,
                &self.request_id(),
                None,
                body,
            )),
            Reply::Dropped | Reply::ResetThenDropped => Err(DropAnswer),
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
