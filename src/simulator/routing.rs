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
    Unknown = 5,
}

impl ApiOperation {
    pub const ALL: [ApiOperation; 6] = [
        ApiOperation::ResetPersonalPin,
        ApiOperation::GetUser,
        ApiOperation::ListUsers,
        ApiOperation::GetAccount,
        ApiOperation::GetCallerIdentity,
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
        assert_eq!(
            routed("GET", "/accounts/a/users/c").0,
            ApiOperation::GetUser
        );
        assert_eq!(
            routed("GET", "/accounts/a/users?max-results=3").0,
            ApiOperation::ListUsers
        );
        assert_eq!(
            routed("POST", "/accounts/a/users/c").0,
            ApiOperation::Unknown
        );
        assert_eq!(
            routed("GET", "/accounts/a/users/c/x").0,
            ApiOperation::Unknown
        );
        assert_eq!(
            routed("DELETE", "/accounts/a/users/c").0,
            ApiOperation::Unknown
        );
        assert_eq!(routed("GET", "/").0, ApiOperation::Unknown);
        assert_eq!(
            routed("GET", "/accounts/a%2Db"),
            (ApiOperation::GetAccount, Some("a-b".into()), None)
        );
        assert_eq!(routed("GET", "/accounts/").0, ApiOperation::Unknown);
        assert_eq!(routed("POST", "/accounts/a").0, ApiOperation::Unknown);
        assert_eq!(routed("GET", "/accounts/a/groups").0, ApiOperation::Unknown);
        let sts = "Action=GetCallerIdentity&Version=2011-06-15";
        assert_eq!(
            routed_with("POST", "/", sts, true).0,
            ApiOperation::GetCallerIdentity
        );
        assert_eq!(
            routed_with("POST", "/", sts, false).0,
            ApiOperation::Unknown
        );
        assert_eq!(
            routed_with("POST", "/", "Action=AssumeRole", true).0,
            ApiOperation::Unknown
        );
        assert_eq!(routed_with("GET", "/", sts, true).0, ApiOperation::Unknown);
    }
}
