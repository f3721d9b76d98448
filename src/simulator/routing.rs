//! Routing: which API operation a request asks for — read from its method, path and query (and,
//! for STS's query protocol, its form body) — with the account and user IDs of its path decoded.
//! Nothing here looks at credentials or state.

use std::borrow::Cow;

use hyper::http::{request::Parts, Method};

/// The API operations the simulator tells apart. `Unknown` is any request that matches none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiOperation {
    ResetPersonalPin = 0,
    GetUser = 1,
    ListUsers = 2,
    GetAccount = 3,
    /// STS, on the same endpoint.
    GetCallerIdentity = 4,
    LogoutUser = 5,
    Unknown = 6,
}

impl ApiOperation {
    /// ResetPersonalPIN, GetUser, ListUsers and LogoutUser: the calls a run makes for its rows.
    pub fn is_user_operation(self) -> bool {
        matches!(
            self,
            ApiOperation::ResetPersonalPin
                | ApiOperation::GetUser
                | ApiOperation::ListUsers
                | ApiOperation::LogoutUser
        )
    }

    pub const ALL: [ApiOperation; 7] = [
        ApiOperation::ResetPersonalPin,
        ApiOperation::GetUser,
        ApiOperation::ListUsers,
        ApiOperation::GetAccount,
        ApiOperation::GetCallerIdentity,
        ApiOperation::LogoutUser,
        ApiOperation::Unknown,
    ];

    /// The model's name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            ApiOperation::ResetPersonalPin => "ResetPersonalPIN",
            ApiOperation::GetUser => "GetUser",
            ApiOperation::ListUsers => "ListUsers",
            ApiOperation::GetAccount => "GetAccount",
            ApiOperation::GetCallerIdentity => "GetCallerIdentity",
            ApiOperation::LogoutUser => "LogoutUser",
            ApiOperation::Unknown => "Unknown",
        }
    }
}

/// What a request came for, parsed from method, path and query.
#[derive(Debug)]
pub(crate) struct RoutedRequest<'a> {
    pub op: ApiOperation,
    /// The decoded account ID of the path; empty when it was not UTF-8 once decoded.
    pub account_id: Option<Cow<'a, str>>,
    /// The decoded user ID of the path, for the operations on one user.
    pub user_id: Option<Cow<'a, str>>,
}

impl RoutedRequest<'_> {
    fn unknown() -> Self {
        RoutedRequest {
            op: ApiOperation::Unknown,
            account_id: None,
            user_id: None,
        }
    }
}

/// The operation of a request and the IDs in its path. `POST /` is STS GetCallerIdentity when
/// `serve_sts` and the form body says so; otherwise, like any path that matches nothing, it is
/// `Unknown`.
pub(crate) fn route<'a>(parts: &'a Parts, body: &[u8], serve_sts: bool) -> RoutedRequest<'a> {
    if parts.uri.path() == "/" {
        let is_form = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let action = url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v);
        if serve_sts
            && parts.method == Method::POST
            && is_form
            && action.as_deref() == Some("GetCallerIdentity")
        {
            return RoutedRequest {
                op: ApiOperation::GetCallerIdentity,
                account_id: None,
                user_id: None,
            };
        }
        return RoutedRequest::unknown();
    }
    let Some(rest) = parts.uri.path().strip_prefix("/accounts/") else {
        return RoutedRequest::unknown();
    };
    let mut segments = rest.split('/');
    let account = segments.next().unwrap_or_default();
    let users = segments.next();
    if users.is_none() && !account.is_empty() && parts.method == Method::GET {
        return match decode(account) {
            Some(account) => RoutedRequest {
                op: ApiOperation::GetAccount,
                account_id: Some(account),
                user_id: None,
            },
            None => RoutedRequest {
                op: ApiOperation::GetAccount,
                account_id: Some(Cow::Borrowed("")),
                user_id: None,
            },
        };
    }
    if users != Some("users") {
        return RoutedRequest::unknown();
    }
    let user = segments.next();
    if segments.next().is_some() || account.is_empty() || user == Some("") {
        return RoutedRequest::unknown();
    }
    let operation = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "operation")
        .map(|(_, v)| v);
    let op = match (&parts.method, user.is_some(), operation.as_deref()) {
        (&Method::POST, true, Some("reset-personal-pin")) => ApiOperation::ResetPersonalPin,
        (&Method::POST, true, Some("logout")) => ApiOperation::LogoutUser,
        (&Method::GET, true, None) => ApiOperation::GetUser,
        (&Method::GET, false, None) => ApiOperation::ListUsers,
        _ => return RoutedRequest::unknown(),
    };
    match (decode(account), user.map(decode)) {
        (Some(account), None) => RoutedRequest {
            op,
            account_id: Some(account),
            user_id: None,
        },
        (Some(account), Some(Some(user))) => RoutedRequest {
            op,
            account_id: Some(account),
            user_id: Some(user),
        },
        // Not UTF-8 once decoded: the operation is known, the IDs are not valid.
        _ => RoutedRequest {
            op,
            account_id: Some(Cow::Borrowed("")),
            user_id: user.map(|_| Cow::Borrowed("")),
        },
    }
}

/// A path segment, percent-decoded; `None` unless the result is UTF-8.
pub(crate) fn decode(segment: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::http::Request;

    fn routed(method: &str, uri: &str) -> (ApiOperation, Option<String>, Option<String>) {
        routed_with(method, uri, "", true)
    }

    fn routed_with(
        method: &str,
        uri: &str,
        body: &str,
        serve_sts: bool,
    ) -> (ApiOperation, Option<String>, Option<String>) {
        let (parts, ()) = Request::builder()
            .method(method)
            .uri(uri)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(())
            .unwrap()
            .into_parts();
        let r = route(&parts, body.as_bytes(), serve_sts);
        (
            r.op,
            r.account_id.map(|s| s.into_owned()),
            r.user_id.map(|s| s.into_owned()),
        )
    }

    #[test]
    fn routes() {
        assert_eq!(
            routed(
                "POST",
                "/accounts/a%2Db/users/c?operation=reset-personal-pin"
            ),
            (
                ApiOperation::ResetPersonalPin,
                Some("a-b".into()),
                Some("c".into())
            )
        );
        for (method, uri, op) in [
            ("GET", "/accounts/a/users/c", ApiOperation::GetUser),
            (
                "GET",
                "/accounts/a/users?max-results=3",
                ApiOperation::ListUsers,
            ),
            ("POST", "/accounts/a/users/c", ApiOperation::Unknown),
            ("GET", "/accounts/a/users/c/x", ApiOperation::Unknown),
            ("DELETE", "/accounts/a/users/c", ApiOperation::Unknown),
            ("GET", "/", ApiOperation::Unknown),
            ("GET", "/accounts/", ApiOperation::Unknown),
            ("POST", "/accounts/a", ApiOperation::Unknown),
            ("GET", "/accounts/a/groups", ApiOperation::Unknown),
        ] {
            assert_eq!(routed(method, uri).0, op, "{method} {uri}");
        }
        assert_eq!(
            routed("GET", "/accounts/a%2Db"),
            (ApiOperation::GetAccount, Some("a-b".into()), None)
        );
        let sts = "Action=GetCallerIdentity&Version=2011-06-15";
        for (method, body, serve_sts, op) in [
            ("POST", sts, true, ApiOperation::GetCallerIdentity),
            ("POST", sts, false, ApiOperation::Unknown),
            ("POST", "Action=AssumeRole", true, ApiOperation::Unknown),
            ("GET", sts, true, ApiOperation::Unknown),
        ] {
            let routed = routed_with(method, "/", body, serve_sts).0;
            assert_eq!(routed, op, "{method} / {body} (STS served: {serve_sts})");
        }
    }
}
