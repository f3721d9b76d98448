//! The API operations: the checks every request meets in order (authentication, throttling,
//! service faults, validation, permission, existence), then one function per operation.

use hyper::http::request::Parts;

use super::directory::USER_TYPES;
use super::errors::Reply;
use super::faults::{Draw, Fate};
use super::routing::{ApiOperation, RoutedRequest};
use super::server::ServerState;
use super::sigv4::Authorization;
use super::wire::{WireUser, WireUserAnswer, WireUserPage};
use crate::rules::is_guid;

impl ServerState {
    /// The checks in the order a request meets them: routing, authentication, throttling,
    /// service faults, then the operation (which validates, checks permission and existence).
    pub(super) fn serve(
        &self,
        parts: &Parts,
        body: &[u8],
        route: &RoutedRequest<'_>,
        draw: &Draw,
    ) -> Reply {
        if route.op == ApiOperation::Unknown {
            return Reply::bad_request(&format!(
                "No operation matches {} {}",
                parts.method,
                parts.uri.path()
            ));
        }
        if let Some(denied) = self.authenticate(parts, body) {
            return denied;
        }
        if !self.faults.admit() {
            return Reply::throttled();
        }
        match draw.fate {
            Fate::ServiceFailure => return Reply::service_failure(),
            Fate::ServiceUnavailable => return Reply::service_unavailable(),
            Fate::Drop => return Reply::Dropped,
            Fate::Normal | Fate::ResetThenDrop | Fate::Garbage => {}
        }
        let account_id = route.account_id.as_deref().unwrap_or_default();
        let user_id = route.user_id.as_deref().unwrap_or_default();
        match route.op {
            ApiOperation::ResetPersonalPin => self.reset_personal_pin(account_id, user_id, draw),
            ApiOperation::GetUser => self.get_user(account_id, user_id, draw),
            ApiOperation::ListUsers => self.list_users(parts, account_id, draw),
            ApiOperation::Unknown => unreachable!("answered above"),
        }
    }

    /// `POST /accounts/{accountId}/users/{userId}?operation=reset-personal-pin`.
    fn reset_personal_pin(&self, account_id: &str, user_id: &str, draw: &Draw) -> Reply {
        self.one_user(account_id, user_id, draw, true)
    }

    /// `GET /accounts/{accountId}/users/{userId}`.
    fn get_user(&self, account_id: &str, user_id: &str, draw: &Draw) -> Reply {
        self.one_user(account_id, user_id, draw, false)
    }

    /// GetUser, or ResetPersonalPIN when `reset`: both answer `{"User": User}`.
    fn one_user(&self, account_id: &str, user_id: &str, draw: &Draw, reset: bool) -> Reply {
        if !is_guid(account_id) {
            return Reply::bad_request("The accountId is not a valid GUID.");
        }
        if !is_guid(user_id) {
            return Reply::bad_request("The userId is not a valid GUID.");
        }
        if self.faults.is_forbidden(account_id) {
            return Reply::forbidden("Forbidden", "Access to this account is forbidden.");
        }
        if !self.store.has_account(account_id) {
            return Reply::not_found("The account was not found.");
        }
        let Some(user) = self.store.user(account_id, user_id) else {
            return Reply::not_found("The user was not found.");
        };
        let pin = {
            let mut record = user.pin();
            if reset {
                let mut fresh = draw.pin;
                if fresh == record.pin {
                    // A reset always changes the PIN.
                    fresh[9] = b'0' + (fresh[9] - b'0' + 1) % 10;
                }
                record.pin = fresh;
                record.reset_count += 1;
            }
            record.pin
        };
        let json = serde_json::to_vec(&WireUserAnswer {
            user: WireUser::new(user, &pin),
        })
        .expect("strings always serialize");
        finish(json, draw)
    }

    /// `GET /accounts/{accountId}/users` with `user-email`, `user-type`, `max-results` and
    /// `next-token`.
    fn list_users(&self, parts: &Parts, account_id: &str, draw: &Draw) -> Reply {
        if !is_guid(account_id) {
            return Reply::bad_request("The accountId is not a valid GUID.");
        }
        let (mut email, mut user_type, mut max_results, mut offset) =
            (None, None, 100usize, 0usize);
        for (key, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        {
            match key.as_ref() {
                "user-email" => email = Some(value),
                "user-type" => {
                    if !USER_TYPES.contains(&value.as_ref()) {
                        return Reply::bad_request(
                            "user-type must be PrivateUser or SharedDevice.",
                        );
                    }
                    user_type = Some(value);
                }
                "max-results" => match value.parse::<usize>() {
                    Ok(n @ 1..=200) => max_results = n,
                    _ => return Reply::bad_request("max-results must be between 1 and 200."),
                },
                "next-token" => match decode_token(&value) {
                    Some(n) => offset = n,
                    None => return Reply::bad_request("The next-token is not valid."),
                },
                _ => {}
            }
        }
        if self.faults.is_forbidden(account_id) {
            return Reply::forbidden("Forbidden", "Access to this account is forbidden.");
        }
        let Some(account_users) = self.store.account_users(account_id) else {
            return Reply::not_found("The account was not found.");
        };
        let mut matching = account_users.filter(|user| {
            let u = &user.info;
            email
                .as_ref()
                .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
                && user_type.as_ref().is_none_or(|t| u.user_type == *t)
        });
        let page: Vec<_> = matching.by_ref().skip(offset).take(max_results).collect();
        let more = matching.next().is_some();
        let pins: Vec<[u8; 10]> = page.iter().map(|user| user.pin().pin).collect();
        let users = page
            .iter()
            .zip(&pins)
            .map(|(user, pin)| WireUser::new(user, pin))
            .collect();
        let next_token = more.then(|| encode_token(offset + page.len()));
        let json = serde_json::to_vec(&WireUserPage { users, next_token })
            .expect("strings always serialize");
        finish(json, draw)
    }

    /// `Some(answer)` when the request may not proceed.
    fn authenticate(&self, parts: &Parts, body: &[u8]) -> Option<Reply> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(auth) = header.and_then(Authorization::parse) else {
            return Some(Reply::forbidden(
                "AccessDenied",
                "Missing or malformed SigV4 Authorization header.",
            ));
        };
        if auth.service != "chime" {
            return Some(Reply::forbidden(
                "AccessDenied",
                "The credential scope must name the service chime.",
            ));
        }
        if self.faults.faults.unauthorized_key.as_deref() == Some(auth.access_key) {
            return Some(Reply::unauthorized());
        }
        if let Some(secret) = &self.secret_key {
            if !auth.verify(parts, body, secret) {
                return Some(Reply::forbidden(
                    "AccessDenied",
                    "The request signature we calculated does not match the signature you provided.",
                ));
            }
        }
        None
    }
}

/// The success answer, or what the fate makes of it once the operation is done.
fn finish(json: Vec<u8>, draw: &Draw) -> Reply {
    match draw.fate {
        Fate::ResetThenDrop => Reply::ResetThenDropped,
        Fate::Garbage => {
            let mut json = json;
            json.truncate(json.len() / 2);
            Reply::Garbage(json.into())
        }
        _ => Reply::ok(json),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(300)), Some(300));
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token(&hex::encode("other:1")), None);
    }
}
