//! The HTTP plumbing of the simulator: the listener on 127.0.0.1, connections and their
//! shutdown, reading bodies, delaying, holding and dropping answers, and the shared
//! [`ServerState`] that counts and logs each request once its [`Reply`] is known. What a request
//! asks for is `routing`'s business; what it gets, `operations`' (and `admin`'s for
//! `/__simulator/`).
//!
//! Per request the hot path takes three short locks that are never held across an await (the
//! fault generator, the throttle bucket, and the one user's PIN) and otherwise only atomics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::{request::Parts, Request, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::admin::ADMIN_PREFIX;
use super::auth::KeyLifetime;
use super::counters::{CountedStatus, Counters, LiveCounters};
use super::directory::{format_guid, Directory};
use super::errors::{http_response, Reply, WireResponse, JSON};
use super::faults::{Draw, Fate, FaultEngine, Faults};
use super::log::{unix_ms, LogLine, RequestLog, FLUSH_EVERY};
use super::routing::{route, ApiOperation};
use super::store::UserStore;
use super::sts::{CallerIdentity, DEFAULT_CALLER_ARN};
use crate::rules::rfc3339_millis;
use crate::timer::PreciseTimer;

/// Everything [`Simulator::start`] needs. Its `Debug` redacts the secret key.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// The accounts and users served.
    pub directory: Directory,
    /// Faults to inject into the Chime operations.
    pub faults: Faults,
    /// Who STS GetCallerIdentity says the caller is; its account is GetAccount's AwsAccountId.
    pub caller_arn: String,
    /// Whether `POST /` serves STS GetCallerIdentity (when not, it is an unknown request).
    pub serve_sts: bool,
    /// When set, verify every SigV4 signature with this secret access key.
    pub secret_key: Option<String>,
    /// When set, write one JSON line per API request to this file.
    pub log_path: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seed of the initial PINs, the new PINs and every fault decision.
    pub seed: u64,
}

impl Default for SimulatorConfig {
    /// No users, no faults, the default caller, STS served, a free port, seed 0.
    fn default() -> Self {
        SimulatorConfig {
            directory: Directory::default(),
            faults: Faults::default(),
            caller_arn: DEFAULT_CALLER_ARN.to_string(),
            serve_sts: true,
            secret_key: None,
            log_path: None,
            port: 0,
            seed: 0,
        }
    }
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("users", &self.directory.len())
            .field("faults", &self.faults)
            .field("caller_arn", &self.caller_arn)
            .field("serve_sts", &self.serve_sts)
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
        let caller = CallerIdentity::parse(&config.caller_arn)
            .map_err(|e| anyhow::anyhow!("invalid caller ARN: {e}"))?;
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
        let clock = PreciseTimer::start("simulator-clock")
            .context("cannot start the simulator's answer clock")?;
        let shared = Arc::new(ServerState::new(config, caller, log, clock));
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

    /// Stops accepting, lets open connections finish their requests (2 s at most) and held
    /// resets apply (`--late-apply-ms` at most), flushes the log and returns the final counters.
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
    let open = shared.open_work.clone();
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
        let guard = OpenWork::enter(&open);
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

/// Counts open connections and held resets, so shutdown can wait for them.
#[derive(Default)]
struct OpenWork {
    count: AtomicU64,
    closed: tokio::sync::Notify,
}

struct OpenWorkGuard(Arc<OpenWork>);

impl OpenWork {
    fn enter(this: &Arc<Self>) -> OpenWorkGuard {
        this.count.fetch_add(1, Ordering::AcqRel);
        OpenWorkGuard(this.clone())
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

impl Drop for OpenWorkGuard {
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
    if req.uri().path().starts_with(ADMIN_PREFIX) {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| DropAnswer)?.to_bytes();
        return Ok(shared.admin(&parts.method, parts.uri.path(), &body));
    }
    let arrival = SystemTime::now();
    let in_flight = InFlight::enter(&shared);
    let draw = shared.faults.draw();
    let answer_due = answer_time(draw.delay);
    let (parts, body) = req.into_parts();
    // Read the (normally empty) body so the connection can be kept alive and the payload hash
    // checked; a client that gives up mid-body gets no answer.
    let body = body.collect().await.map_err(|_| DropAnswer)?.to_bytes();
    // Only a held reset or a delayed answer is routed here as well as in `respond`: the hot
    // path (no latency, no fault) routes once.
    if draw.fate == Fate::LateApply
        && route(&parts, &body, shared.serve_sts).op == ApiOperation::ResetPersonalPin
    {
        return apply_late(shared.clone(), parts, body, draw, arrival, in_flight.count).await;
    }
    if let Some(due) = answer_due {
        // The latency models the user operations a run makes by the thousand; the identity
        // and account checks made once before a run answer at once, so a test's slow resets
        // do not also slow its preflight.
        if route(&parts, &body, shared.serve_sts)
            .op
            .is_user_operation()
        {
            shared.clock.sleep_until(due).await;
        }
    }
    shared.respond(&parts, &body, &draw, arrival, in_flight.count, None)
}

/// Holds a reset `--late-apply-ms` (instead of the latency), then applies it in a task of its
/// own, so it happens even when the client has given up and hyper has dropped this request;
/// the answer goes out only if the client still waits.
async fn apply_late(
    shared: Arc<ServerState>,
    parts: Parts,
    body: Bytes,
    draw: Draw,
    arrival: SystemTime,
    in_flight: u64,
) -> Result<WireResponse, DropAnswer> {
    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
    let hold = Duration::from_millis(shared.faults.faults.late_apply_ms);
    let guard = OpenWork::enter(&shared.open_work);
    shared.counters.late_pending.fetch_add(1, Ordering::AcqRel);
    tokio::spawn(async move {
        let _guard = guard;
        tokio::time::sleep(hold).await;
        let client_waits = !answer_tx.is_closed();
        let answer = shared.respond(&parts, &body, &draw, arrival, in_flight, Some(client_waits));
        // After the reset is in the store, so a state that shows none pending shows it applied.
        shared.counters.late_pending.fetch_sub(1, Ordering::AcqRel);
        // The client may have gone meanwhile: then nobody takes the answer.
        let _ = answer_tx.send(answer);
    });
    answer_rx.await.unwrap_or(Err(DropAnswer))
}

/// When an answer delayed by `delay` is due, counted from its arrival.
fn answer_time(delay: Duration) -> Option<Instant> {
    (!delay.is_zero()).then(|| Instant::now() + delay)
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

/// What every connection shares: the users, the faults, the caller, the counters and the log.
pub(super) struct ServerState {
    pub store: UserStore,
    pub faults: FaultEngine,
    pub secret_key: Option<String>,
    /// Whether the keys have expired (`--expire-keys-after`, `POST /__simulator/credentials`).
    pub key_lifetime: KeyLifetime,
    pub caller: CallerIdentity,
    pub serve_sts: bool,
    log: Option<RequestLog>,
    open_work: Arc<OpenWork>,
    pub counters: LiveCounters,
    in_flight: AtomicU64,
    request_seq: AtomicU64,
    seed: u64,
    clock: PreciseTimer,
}

impl ServerState {
    fn new(
        config: SimulatorConfig,
        caller: CallerIdentity,
        log: Option<RequestLog>,
        clock: PreciseTimer,
    ) -> Self {
        let key_lifetime = KeyLifetime::new(config.faults.expire_keys_after);
        let faults = FaultEngine::new(config.faults, config.seed);
        let store = UserStore::new(&config.directory, || faults.fresh_pin());
        ServerState {
            store,
            faults,
            secret_key: config.secret_key,
            key_lifetime,
            caller,
            serve_sts: config.serve_sts,
            log,
            open_work: Arc::default(),
            counters: LiveCounters::default(),
            in_flight: AtomicU64::new(0),
            request_seq: AtomicU64::new(0),
            seed: config.seed,
            clock,
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

    /// Everything after the delay: decide, count, log, answer. `late` is `Some(client_waits)`
    /// for a held reset.
    fn respond(
        &self,
        parts: &Parts,
        body: &[u8],
        draw: &Draw,
        arrival: SystemTime,
        in_flight: u64,
        late: Option<bool>,
    ) -> Result<WireResponse, DropAnswer> {
        let route = route(parts, body, self.serve_sts);
        let request_id = self.request_id();
        let reply = self.serve(parts, body, &route, draw, &request_id);
        let (counted, status, label) = match (&reply, late) {
            (Reply::Answer { status, .. }, Some(client_waits)) if *status == StatusCode::OK => {
                self.counters.late_applied.fetch_add(1, Ordering::Relaxed);
                match client_waits {
                    true => (CountedStatus::Status(200), Some(200), "late-applied"),
                    false => (CountedStatus::Dropped, None, "late-applied"),
                }
            }
            (_, Some(false)) => (CountedStatus::Dropped, None, "dropped"),
            (Reply::Answer { status, .. }, _) => (
                CountedStatus::Status(status.as_u16()),
                Some(status.as_u16()),
                "answered",
            ),
            (Reply::Garbage(_), _) => (CountedStatus::Status(200), Some(200), "garbage"),
            (Reply::NoPin(_), _) => {
                self.counters.no_pin.fetch_add(1, Ordering::Relaxed);
                (CountedStatus::Status(200), Some(200), "no-pin")
            }
            (Reply::Dropped, _) => (CountedStatus::Dropped, None, "dropped"),
            (Reply::ResetThenDropped, _) => {
                (CountedStatus::Dropped, Some(200), "reset-then-dropped")
            }
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
        if late == Some(false) {
            return Err(DropAnswer);
        }
        match reply {
            Reply::Answer {
                status,
                content_type,
                error,
                body,
            } => Ok(http_response(
                status,
                content_type,
                &request_id,
                error,
                body,
            )),
            Reply::Garbage(body) | Reply::NoPin(body) => {
                Ok(http_response(StatusCode::OK, JSON, &request_id, None, body))
            }
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
