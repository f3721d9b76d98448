//! The admin endpoints under `/__simulator/`, which change or show the simulated world behind
//! the tool's back: the state document, a user's PIN, a user's removal, the throttle, the
//! share of logouts that fail, and whether the credentials have expired. They
//! need no signature, meet no fault, and are neither counted nor logged.

use bytes::Bytes;
use hyper::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::counters::Counters;
use super::errors::{http_response, WireResponse, JSON};
use super::routing::decode;
use super::server::ServerState;

/// The prefix of every admin path.
pub(crate) const ADMIN_PREFIX: &str = "/__simulator/";

/// Body of `POST /__simulator/users/{account}/{user}/pin`; an empty body or `{}` asks for a
/// fresh PIN.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PinRequest {
    pin: Option<String>,
}

/// Body of `POST /__simulator/throttle`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleRequest {
    /// Requests per second; 0 turns throttling off.
    rps: f64,
    /// Bucket size; absent or 0 means max(1, rps).
    #[serde(default)]
    burst: u32,
}

/// Body of `POST /__simulator/logout-faults`, and its answer.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LogoutFaults {
    /// The fraction of LogoutUser requests answered 500, from 0 to 1.
    fail_rate: f64,
}

/// The answer of `POST /__simulator/throttle`: what is in force now (0 and 0: no throttling).
#[derive(Serialize)]
struct ThrottleAnswer {
    rps: f64,
    burst: f64,
}

/// Body of `POST /__simulator/credentials`, and its answer: the state now in force.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CredentialsState {
    /// `true` expires every key at once; `false` renews them for good.
    expired: bool,
}

/// The answer of the user endpoints.
#[derive(Serialize)]
struct UserAnswer<'a> {
    account_id: &'a str,
    user_id: &'a str,
    /// `pin-set` or `removed`.
    done: &'static str,
}

impl ServerState {
    /// The answer to a request whose path starts with [`ADMIN_PREFIX`].
    pub(super) fn admin(&self, method: &Method, path: &str, body: &[u8]) -> WireResponse {
        let (status, json) = self.admin_json(method, path, body);
        http_response(status, JSON, &self.request_id(), None, Bytes::from(json))
    }

    fn admin_json(&self, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let rest = &path[ADMIN_PREFIX.len()..];
        let segments: Vec<&str> = rest.split('/').collect();
        match (method, &segments[..]) {
            (&Method::GET, ["state"]) => (StatusCode::OK, self.state_json()),
            (&Method::POST, ["throttle"]) => self.set_throttle(body),
            (&Method::POST, ["credentials"]) => self.set_credentials(body),
            (&Method::POST, ["logout-faults"]) => self.set_logout_faults(body),
            (&Method::POST, ["users", account, user, "pin"]) => {
                self.set_pin(&decoded(account), &decoded(user), body)
            }
            (&Method::DELETE, ["users", account, user]) => {
                self.remove_user(&decoded(account), &decoded(user))
            }
            _ => admin_error(
                StatusCode::NOT_FOUND,
                &format!("no admin endpoint matches {method} {path}"),
            ),
        }
    }

    /// Sets a user's PIN (the one given, or a fresh one from the seeded generator) without
    /// counting a reset.
    fn set_pin(&self, account_id: &str, user_id: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let request = if body.iter().all(u8::is_ascii_whitespace) {
            PinRequest::default()
        } else {
            match serde_json::from_slice::<PinRequest>(body) {
                Ok(request) => request,
                // serde's message may quote the value, which may be a PIN: say only what is wanted.
                Err(_) => {
                    return admin_error(
                        StatusCode::BAD_REQUEST,
                        "expected {\"pin\": \"0123456789\"} or nothing",
                    )
                }
            }
        };
        let pin = match request.pin {
            Some(pin) => match <[u8; 10]>::try_from(pin.as_bytes()) {
                Ok(digits) if digits.iter().all(u8::is_ascii_digit) => digits,
                // The PIN itself is never echoed.
                _ => return admin_error(StatusCode::BAD_REQUEST, "a PIN is 10 ASCII digits"),
            },
            None => self.faults.fresh_pin(),
        };
        let Some((_, mut record)) = self.store.live_user(account_id, user_id) else {
            return user_not_found(account_id, user_id);
        };
        record.pin = pin;
        drop(record);
        user_answer(account_id, user_id, "pin-set")
    }

    /// Removes a user: the API answers 404 for it from now on.
    fn remove_user(&self, account_id: &str, user_id: &str) -> (StatusCode, Vec<u8>) {
        let Some((_, mut record)) = self.store.live_user(account_id, user_id) else {
            return user_not_found(account_id, user_id);
        };
        record.removed = true;
        drop(record);
        user_answer(account_id, user_id, "removed")
    }

    /// Replaces the token bucket (`rps` 0: no throttling).
    fn set_throttle(&self, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let request = match serde_json::from_slice::<ThrottleRequest>(body) {
            Ok(request) if request.rps.is_finite() && request.rps >= 0.0 => request,
            Ok(_) => return admin_error(StatusCode::BAD_REQUEST, "rps must be 0 or more"),
            Err(err) => {
                return admin_error(
                    StatusCode::BAD_REQUEST,
                    &format!("expected {{\"rps\": R, \"burst\": B}}: {err}"),
                )
            }
        };
        let (rps, burst) = self
            .faults
            .set_throttle(request.rps, request.burst)
            .unwrap_or((0.0, 0.0));
        let json =
            serde_json::to_vec(&ThrottleAnswer { rps, burst }).expect("numbers always serialize");
        (StatusCode::OK, json)
    }

    /// Replaces the share of LogoutUser requests that fail (`--logout-fail-rate`).
    fn set_logout_faults(&self, body: &[u8]) -> (StatusCode, Vec<u8>) {
        match serde_json::from_slice::<LogoutFaults>(body) {
            Ok(request) if (0.0..=1.0).contains(&request.fail_rate) => {
                self.faults.set_logout_fail_rate(request.fail_rate);
                let json = serde_json::to_vec(&request).expect("a number always serializes");
                (StatusCode::OK, json)
            }
            _ => admin_error(
                StatusCode::BAD_REQUEST,
                "expected {\"fail_rate\": P} with P from 0 to 1",
            ),
        }
    }

    /// Expires the keys at once, or renews them (after which they never expire).
    fn set_credentials(&self, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let Ok(request) = serde_json::from_slice::<CredentialsState>(body) else {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "expected {\"expired\": true} or {\"expired\": false}",
            );
        };
        self.key_lifetime.set_expired(request.expired);
        let now = CredentialsState {
            expired: self.key_lifetime.is_expired(),
        };
        let json = serde_json::to_vec(&now).expect("a bool always serializes");
        (StatusCode::OK, json)
    }

    /// The document of `GET /__simulator/state`: every user not removed, with PIN, reset and
    /// logout counts, and the counters.
    pub(super) fn state_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct StateUser<'a> {
            account_id: &'a str,
            user_id: &'a str,
            primary_email: &'a str,
            display_name: &'a str,
            personal_pin: &'a str,
            reset_count: u64,
            logout_count: u64,
        }
        #[derive(Serialize)]
        struct StateDocument<'a> {
            users: Vec<StateUser<'a>>,
            #[serde(flatten)]
            counters: Counters,
        }
        // Copied under each user's lock first, so no lock is held while the document is built.
        let records: Vec<Option<([u8; 10], u64, u64)>> = self
            .store
            .users()
            .iter()
            .map(|u| {
                let record = u.pin();
                (!record.removed).then_some((record.pin, record.reset_count, record.logout_count))
            })
            .collect();
        let users = self
            .store
            .users()
            .iter()
            .zip(&records)
            .filter_map(|(u, record)| {
                let (pin, reset_count, logout_count) = record.as_ref()?;
                Some(StateUser {
                    account_id: &u.info.account_id,
                    user_id: &u.info.user_id,
                    primary_email: &u.info.email,
                    display_name: &u.info.display_name,
                    personal_pin: std::str::from_utf8(pin).expect("PINs are ASCII digits"),
                    reset_count: *reset_count,
                    logout_count: *logout_count,
                })
            })
            .collect();
        serde_json::to_vec(&StateDocument {
            users,
            counters: self.counters.snapshot(),
        })
        .expect("strings and numbers always serialize")
    }
}

/// A path segment decoded; one that is not UTF-8 once decoded matches no user.
fn decoded(segment: &str) -> String {
    decode(segment).map(|s| s.into_owned()).unwrap_or_default()
}

fn user_answer(account_id: &str, user_id: &str, done: &'static str) -> (StatusCode, Vec<u8>) {
    let json = serde_json::to_vec(&UserAnswer {
        account_id,
        user_id,
        done,
    })
    .expect("strings always serialize");
    (StatusCode::OK, json)
}

fn user_not_found(account_id: &str, user_id: &str) -> (StatusCode, Vec<u8>) {
    admin_error(
        StatusCode::NOT_FOUND,
        &format!("no user {user_id} in account {account_id}"),
    )
}

/// `{"error": message}`.
fn admin_error(status: StatusCode, message: &str) -> (StatusCode, Vec<u8>) {
    let json = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .expect("strings always serialize");
    (status, json)
}
