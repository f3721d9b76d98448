//! Who signed a request, and whether they may call: the SigV4 header, the service its scope
//! names, the credential faults (`--unauthorized-key`, `--expired-key`) and, with
//! `--secret-key`, the signature itself. One check serves both protocols; each turns a
//! [`Refusal`] into its own error shape.

use hyper::http::{request::Parts, StatusCode};

use super::errors::Reply;
use super::faults::Faults;
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
    /// The access key id of `--expired-key`.
    ExpiredKey,
    /// The signature does not match the one `--secret-key` gives.
    BadSignature,
}

/// The request's SigV4 authorization, if `service` may be called with it.
pub(crate) fn authenticate<'a>(
    parts: &'a Parts,
    body: &[u8],
    service: &'static str,
    faults: &Faults,
    secret_key: Option<&str>,
) -> Result<Authorization<'a>, Refusal> {
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
    if let Some(secret) = secret_key {
        if !auth.verify(parts, body, secret) {
            return Err(Refusal::BadSignature);
        }
    }
    Ok(auth)
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
