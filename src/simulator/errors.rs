//! What the simulator sends back, and the error shapes it sends: [`Reply`] (an answer, or a
//! deliberate fault in place of one); Chime's rest-json errors — `{"Code","Message"}` with the
//! exception name in `x-amzn-ErrorType` — and STS's query-protocol XML errors
//! (`<ErrorResponse><Error><Type>Sender</Type><Code>…`). Every answer carries the request id in
//! `x-amzn-RequestId`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

/// The HTTP response type every handler returns.
pub(crate) type WireResponse = Response<Full<Bytes>>;

/// How a request ended.
pub(crate) enum Reply {
    /// An answer to send as it is.
    Answer {
        status: StatusCode,
        content_type: &'static str,
        /// The exception name for `x-amzn-ErrorType`, for Chime's errors.
        error: Option<&'static str>,
        body: Bytes,
    },
    /// The operation was carried out; the 200 body is cut short.
    Garbage(Bytes),
    /// The reset was carried out; the 200 body lacks the PIN.
    NoPin(Bytes),
    /// No answer, and nothing changed.
    Dropped,
    /// The operation was carried out; no answer.
    ResetThenDropped,
}

impl Reply {
    /// A Chime error: `status`, `exception` in `x-amzn-ErrorType`, `{"Code","Message"}`.
    pub fn error(status: StatusCode, exception: &'static str, code: &str, message: &str) -> Self {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ChimeErrorBody<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body = serde_json::to_vec(&ChimeErrorBody { code, message })
            .expect("strings always serialize");
        Reply::Answer {
            status,
            content_type: JSON,
            error: Some(exception),
            body: body.into(),
        }
    }

    pub fn ok(body: Vec<u8>) -> Self {
        Reply::Answer {
            status: StatusCode::OK,
            content_type: JSON,
            error: None,
            body: body.into(),
        }
    }

    /// A success with nothing to say (LogoutUser).
    pub fn no_content() -> Self {
        Reply::Answer {
            status: StatusCode::NO_CONTENT,
            content_type: JSON,
            error: None,
            body: Bytes::new(),
        }
    }

    /// A Chime request signed with an expired key, answered as AWS's authentication layer does
    /// before any Chime code runs: 403, `ExpiredTokenException` in `x-amzn-ErrorType` and a body
    /// of only `{"message"}` (no Chime `Code`; the exception is not in Chime's model, so SDKs see
    /// an unmodelled error with that code).
    pub fn expired_token() -> Self {
        Reply::Answer {
            status: StatusCode::FORBIDDEN,
            content_type: JSON,
            error: Some("ExpiredTokenException"),
            body: Bytes::from_static(
                br#"{"message":"The security token included in the request is expired"}"#,
            ),
        }
    }

    /// An STS answer: XML, no `x-amzn-ErrorType`.
    pub fn xml(status: StatusCode, body: String) -> Self {
        Reply::Answer {
            status,
            content_type: XML,
            error: None,
            body: body.into(),
        }
    }

    /// An STS error: `status`, `<ErrorResponse>` with Type `Sender`, `code` and `message`.
    pub fn sts_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Self {
        Reply::xml(
            status,
            format!(
                "<ErrorResponse xmlns=\"{STS_NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
                 <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
                 <RequestId>{}</RequestId>\n</ErrorResponse>\n",
                xml_escape(code),
                xml_escape(message),
                xml_escape(request_id)
            ),
        )
    }

    pub fn bad_request(message: &str) -> Self {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "BadRequest",
            message,
        )
    }

    pub fn unauthorized() -> Self {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedClientException",
            "Unauthorized",
            "The client is not currently authorized to make the request.",
        )
    }

    pub fn forbidden(code: &str, message: &str) -> Self {
        Reply::error(StatusCode::FORBIDDEN, "ForbiddenException", code, message)
    }

    pub fn not_found(message: &str) -> Self {
        Reply::error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            "NotFound",
            message,
        )
    }

    pub fn throttled() -> Self {
        Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottledClientException",
            "Throttled",
            "The client exceeded its request rate limit.",
        )
    }

    pub fn service_failure() -> Self {
        Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceFailureException",
            "ServiceFailure",
            "The service encountered an unexpected error.",
        )
    }

    /// What a load balancer in front of the service answers when the service behind it does
    /// not: no Chime error type, a body of its own.
    pub fn gateway(status: StatusCode) -> Self {
        let reason = status.canonical_reason().unwrap_or("Gateway error");
        Reply::Answer {
            status,
            content_type: JSON,
            error: None,
            body: format!("{{\"message\":\"{reason}\"}}").into_bytes().into(),
        }
    }

    pub fn service_unavailable() -> Self {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "ServiceUnavailable",
            "The service is currently unavailable.",
        )
    }
}

/// The `Content-Type` of Chime's answers.
pub(crate) const JSON: &str = "application/json";
/// The `Content-Type` of STS's answers.
pub(crate) const XML: &str = "text/xml";
/// The XML namespace of STS 2011-06-15.
pub(crate) const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// `text` with XML's five special characters escaped.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// A response with the request id and, for Chime's errors, the exception name.
pub(crate) fn http_response(
    status: StatusCode,
    content_type: &'static str,
    request_id: &str,
    error: Option<&'static str>,
    body: Bytes,
) -> WireResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(exception) = error {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(exception));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_errors_are_escaped_xml() {
        let Reply::Answer {
            status,
            content_type,
            error,
            body,
        } = Reply::sts_error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "a<b & 'c'",
            "r-1",
        )
        else {
            panic!("an STS error is an answer");
        };
        assert_eq!(
            (status, content_type, error),
            (StatusCode::FORBIDDEN, XML, None)
        );
        let body = std::str::from_utf8(&body).unwrap();
        assert!(
            body.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
        );
        assert!(body.contains("<Type>Sender</Type>"), "{body}");
        assert!(body.contains("<Code>InvalidClientTokenId</Code>"), "{body}");
        assert!(
            body.contains("<Message>a&lt;b &amp; &apos;c&apos;</Message>"),
            "{body}"
        );
        assert!(body.contains("<RequestId>r-1</RequestId>"), "{body}");
    }
}
