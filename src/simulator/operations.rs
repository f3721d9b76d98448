//! The API operations: the checks every request meets in order (authentication, throttling,
//! service faults, validation, permission, existence), then one function per operation —
//! ResetPersonalPIN, GetUser, ListUsers, GetAccount, LogoutUser, and STS GetCallerIdentity.

use std::sync::MutexGuard;

use hyper::http::request::Parts;
use hyper::StatusCode;

use super::directory::USER_TYPES;
use super::errors::Reply;
use super::faults::{Draw, Fate};
use super::routing::{ApiOperation, RoutedRequest};
use super::server::ServerState;
use super::store::{PinRecord, StoredUser};
use super::wire::{WireAccount, WireAccountAnswer, WireUser, WireUserAnswer, WireUserPage};
use crate::rules::is_guid;

impl ServerState {
    /// The checks in the order a request meets them: routing, authentication, throttling,
    /// service faults, then the operation (which validates, checks permission and existence).
    /// STS meets only authentication: the faults model Chime.
    pub(super) fn serve(
        &self,
        parts: &Parts,
        body: &[u8],
        route: &RoutedRequest<'_>,
        draw: &Draw,
        request_id: &str,
    ) -> Reply {
        match route.op {
            ApiOperation::Unknown => {
                return Reply::bad_request(&format!(
                    "No operation matches {} {}",
                    parts.method,
                    parts.uri.path()
                ))
            }
            ApiOperation::GetCallerIdentity => {
                return self.get_caller_identity(parts, body, request_id)
            }
            _ => {}
        }
        if let Err(refusal) = self.authenticate(parts, body, route.op) {
            return refusal.chime_reply();
        }
        if !self.faults.admit() {
            return Reply::throttled();
        }
        match draw.fate {
            Fate::ServiceFailure => return Reply::service_failure(),
            Fate::ServiceUnavailable => return Reply::service_unavailable(),
            Fate::BadGateway => return Reply::gateway(StatusCode::BAD_GATEWAY),
            Fate::GatewayTimeout => return Reply::gateway(StatusCode::GATEWAY_TIMEOUT),
            Fate::Drop => return Reply::Dropped,
            Fate::Normal | Fate::ResetThenDrop | Fate::Garbage | Fate::NoPin | Fate::LateApply => {}
        }
        if route.op == ApiOperation::LogoutUser && self.faults.fails_logout() {
            return Reply::service_failure();
        }
        let account_id = route.account_id.as_deref().unwrap_or_default();
        let user_id = route.user_id.as_deref().unwrap_or_default();
        match route.op {
            ApiOperation::ResetPersonalPin => self.reset_personal_pin(account_id, user_id, draw),
            ApiOperation::GetUser => self.get_user(account_id, user_id, draw),
            ApiOperation::ListUsers => self.list_users(parts, account_id, draw),
            ApiOperation::GetAccount => self.get_account(account_id, draw),
            ApiOperation::LogoutUser => self.logout_user(account_id, user_id, draw),
            ApiOperation::GetCallerIdentity | ApiOperation::Unknown => {
                unreachable!("answered above")
            }
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

    /// `POST /accounts/{accountId}/users/{userId}?operation=logout`: 204 with no body, the
    /// user's logouts counted. A fate that cuts the body short has nothing to cut.
    fn logout_user(&self, account_id: &str, user_id: &str, draw: &Draw) -> Reply {
        let mut record = match self.checked_user(account_id, user_id) {
            Ok((_, record)) => record,
            Err(refusal) => return refusal,
        };
        record.logout_count += 1;
        drop(record);
        match draw.fate {
            Fate::ResetThenDrop => Reply::ResetThenDropped,
            _ => Reply::no_content(),
        }
    }

    /// The user an operation on one user names, locked; or the error Chime answers, checked
    /// in Chime's order: the IDs' shape, permission, the account, the user.
    fn checked_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<(&StoredUser, MutexGuard<'_, PinRecord>), Reply> {
        if !is_guid(account_id) {
            return Err(Reply::bad_request("The accountId is not a valid GUID."));
        }
        if !is_guid(user_id) {
            return Err(Reply::bad_request("The userId is not a valid GUID."));
        }
        if self.faults.is_forbidden(account_id) {
            return Err(Reply::forbidden(
                "Forbidden",
                "Access to this account is forbidden.",
            ));
        }
        if self.store.account(account_id).is_none() {
            return Err(Reply::not_found("The account was not found."));
        }
        self.store
            .live_user(account_id, user_id)
            .ok_or_else(|| Reply::not_found("The user was not found."))
    }

    /// GetUser, or ResetPersonalPIN when `reset`: both answer `{"User": User}`.
    fn one_user(&self, account_id: &str, user_id: &str, draw: &Draw, reset: bool) -> Reply {
        let (user, mut record) = match self.checked_user(account_id, user_id) {
            Ok(found) => found,
            Err(refusal) => return refusal,
        };
        if reset {
            let mut fresh = draw.pin;
            if fresh == record.pin {
                // A reset always changes the PIN.
                fresh[9] = b'0' + (fresh[9] - b'0' + 1) % 10;
            }
            record.pin = fresh;
            record.reset_count += 1;
        }
        let pin = record.pin;
        drop(record);
        let wire = WireUser::new(user, &pin);
        if reset && draw.fate == Fate::NoPin {
            let json = serde_json::to_vec(&WireUserAnswer {
                user: wire.without_pin(),
            })
            .expect("strings always serialize");
            return Reply::NoPin(json.into());
        }
        let json =
            serde_json::to_vec(&WireUserAnswer { user: wire }).expect("strings always serialize");
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
        let Some(account) = self.store.account(account_id) else {
            return Reply::not_found("The account was not found.");
        };
        // Each user's lock is taken once, to skip removed users and copy the PIN.
        let mut matching = self.store.account_users(account).filter_map(|user| {
            let u = &user.info;
            let wanted = email
                .as_ref()
                .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
                && user_type.as_ref().is_none_or(|t| u.user_type == *t);
            if !wanted {
                return None;
            }
            let record = user.pin();
            (!record.removed).then_some((user, record.pin))
        });
        let page: Vec<_> = matching.by_ref().skip(offset).take(max_results).collect();
        let more = matching.next().is_some();
        let users = page
            .iter()
            .map(|(user, pin)| WireUser::new(user, pin))
            .collect();
        let next_token = more.then(|| encode_token(offset + page.len()));
        let json = serde_json::to_vec(&WireUserPage { users, next_token })
            .expect("strings always serialize");
        finish(json, draw)
    }

    /// `GET /accounts/{accountId}`.
    fn get_account(&self, account_id: &str, draw: &Draw) -> Reply {
        if !is_guid(account_id) {
            return Reply::bad_request("The accountId is not a valid GUID.");
        }
        if self.faults.faults.get_account_forbidden {
            // An IAM denial comes before the account is looked up.
            return Reply::forbidden(
                "AccessDenied",
                &format!(
                    "User: {} is not authorized to perform: chime:GetAccount",
                    self.caller.arn
                ),
            );
        }
        if self.faults.is_forbidden(account_id) {
            return Reply::forbidden("Forbidden", "Access to this account is forbidden.");
        }
        let Some(account) = self.store.account(account_id) else {
            return Reply::not_found("The account was not found.");
        };
        let json = serde_json::to_vec(&WireAccountAnswer {
            account: WireAccount::new(account, &self.caller.account),
        })
        .expect("strings always serialize");
        finish(json, draw)
    }

    /// STS `POST /` with `Action=GetCallerIdentity`: the caller's ARN, account and user id.
    fn get_caller_identity(&self, parts: &Parts, body: &[u8], request_id: &str) -> Reply {
        match self.authenticate(parts, body, ApiOperation::GetCallerIdentity) {
            Ok(auth) => self.caller.reply(auth.access_key, request_id),
            Err(refusal) => refusal.sts_reply(request_id),
        }
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
