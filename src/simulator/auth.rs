//! Who signed a request, and whether they may call: the SigV4 header, the service its scope
//! names, the credential faults (`--unauthorized-key`, `--expired-key`), with `--secret-key`
//! the signature itself, and the credentials' lifetime ([`KeyLifetime`]: `--expire-keys-after`
//! and `POST /__simulator/credentials`). One check serves both protocols; each turns a
//! [`Refusal`] into its own error shape.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::http::{request::Parts, StatusCode};

use super::errors::Reply;
use super::routing::ApiOperation;
use super::server::ServerState;
use super::sigv4::Authorization;

/// Why a request may not proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No SigV4 `Authorization` header, or a malformed one.
    Unsigned,
    /// Signed for another service than the operation's.
    WrongService(&'static str),
    /// The access key id of `--unauthorized-key`.
    UnknownKey,
    /// The access key id of `--expired-key`, or any key once the credentials have expired.
    ExpiredKey,
    /// The signature does not match the one `--secret-key` gives.
    BadSignature,
}

impl ServerState {
    /// The request's SigV4 authorization, if it may call `op` (STS GetCallerIdentity is signed
    /// for `sts`, the rest for `chime`). A user operation that passes counts against
    /// `--expire-keys-after`.
    pub(crate) fn authenticate<'a>(
        &self,
        parts: &'a Parts,
        body: &[u8],
        op: ApiOperation,
    ) -> Result<Authorization<'a>, Refusal> {
        let service = match op {
            ApiOperation::GetCallerIdentity => "sts",
            _ => "chime",
        };
        let faults = &self.faults.faults;
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let auth = header
            .and_then(Authorization::parse)
            .ok_or(Refusal::Unsigned)?;
        if auth.service != service {
            return Err(Refusal::WrongService(service));
        }
        if faults.unauthorized_key.as_deref() == Some(auth.access_key) {
            return Err(Refusal::UnknownKey);
        }
        if faults.expired_key.as_deref() == Some(auth.access_key) {
            return Err(Refusal::ExpiredKey);
        }
        if let Some(secret) = self.secret_key.as_deref() {
            if !auth.verify(parts, body, secret) {
                return Err(Refusal::BadSignature);
            }
        }
        if !self.key_lifetime.admit(op.is_user_operation()) {
            return Err(Refusal::ExpiredKey);
        }
        Ok(auth)
    }
}

/// How long every key stays valid: for good, for so many more user operations
/// (`--expire-keys-after N`), or no longer (expired). One atomic, so the request that runs the
/// allowance out and those after it agree, however many arrive at once.
#[derive(Debug)]
pub(crate) struct KeyLifetime {
    /// User operations still allowed; [`FOREVER`] while the keys do not expire, 0 once expired.
    allowance: AtomicU64,
}

const FOREVER: u64 = u64::MAX;

impl KeyLifetime {
    /// Keys that expire after `after` user operations, or never.
    pub fn new(after: Option<u64>) -> Self {
        KeyLifetime {
            allowance: AtomicU64::new(after.map_or(FOREVER, |n| n.min(FOREVER - 1))),
        }
    }

    /// Whether a request signed with an otherwise good key may proceed; a user operation that
    /// may takes one from the allowance.
    pub fn admit(&self, user_operation: bool) -> bool {
        if !user_operation {
            return self.allowance.load(Ordering::Acquire) != 0;
        }
        let taken = self
            .allowance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match n {
                0 | FOREVER => None,
                n => Some(n - 1),
            });
        taken != Err(0)
    }

    /// Expires the keys at once, or renews them for good.
    pub fn set_expired(&self, expired: bool) {
        let allowance = if expired { 0 } else { FOREVER };
        self.allowance.store(allowance, Ordering::Release);
    }

    pub fn is_expired(&self) -> bool {
        self.allowance.load(Ordering::Acquire) == 0
    }
}

impl Refusal {
    /// The refusal in Chime's shape.
    pub fn chime_reply(self) -> Reply {
        match self {
            Refusal::Unsigned => Reply::forbidden(
                "AccessDenied",
                "Missing or malformed SigV4 Authorization header.",
            ),
            Refusal::WrongService(_) => Reply::forbidden(
                "AccessDenied",
                "The credential scope must name the service chime.",
            ),
            Refusal::UnknownKey => Reply::unauthorized(),
            Refusal::ExpiredKey => Reply::expired_token(),
            Refusal::BadSignature => Reply::forbidden(
                "AccessDenied",
                "The request signature we calculated does not match the signature you provided.",
            ),
        }
    }

    /// The refusal in STS's shape, with the codes and messages STS sends.
    pub fn sts_reply(self, request_id: &str) -> Reply {
        let (status, code, message) = match self {
            Refusal::Unsigned => (
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token".to_string(),
            ),
            Refusal::WrongService(service) => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                format!("Credential should be scoped to correct service: '{service}'. "),
            ),
            Refusal::UnknownKey => (
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".to_string(),
            ),
            Refusal::ExpiredKey => (
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "The security token included in the request is expired".to_string(),
            ),
            Refusal::BadSignature => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details."
                    .to_string(),
            ),
        };
        Reply::sts_error(status, code, &message, request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_after_their_allowance_of_user_operations_until_renewed() {
        let keys = KeyLifetime::new(Some(2));
        assert!(keys.admit(false), "the identity check does not count");
        assert!(keys.admit(true) && keys.admit(true));
        assert!(!keys.admit(true), "the third user operation is refused");
        assert!(!keys.admit(false), "and so is everything after it");
        assert!(keys.is_expired());
        keys.set_expired(false);
        assert!((0..1000).all(|_| keys.admit(true)), "renewed keys last");
        keys.set_expired(true);
        assert!(!keys.admit(false) && keys.is_expired());
        let forever = KeyLifetime::new(None);
        assert!((0..1000).all(|_| forever.admit(true)) && !forever.is_expired());
        assert!(
            !KeyLifetime::new(Some(0)).admit(false),
            "0: expired from the start"
        );
    }
}
