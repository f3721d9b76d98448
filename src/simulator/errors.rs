//! What the simulator sends back, and the error shapes it sends: [`Reply`] (an answer, or a
//! deliberate fault in place of one) and Chime's rest-json errors — `{"Code","Message"}` with
//! the exception name in `x-amzn-ErrorType` and the request id in `x-amzn-RequestId`.

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
        /// The exception name for `x-amzn-ErrorType`, for errors.
        error: Option<&'static str>,
        body: Bytes,
    },
    /// The operation was carried out; the 200 body is cut short.
    Garbage(Bytes),
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
            error: Some(exception),
            body: body.into(),
        }
    }

    pub fn ok(body: Vec<u8>) -> Self {
        Reply::Answer {
            status: StatusCode::OK,
            error: None,
            body: body.into(),
        }
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

    pub fn service_unavailable() -> Self {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "ServiceUnavailable",
            "The service is currently unavailable.",
        )
    }
}

/// A JSON response with the request id and, for errors, the exception name.
pub(crate) fn json_response(
    status: StatusCode,
    request_id: &str,
    error: Option<&'static str>,
    body: Bytes,
) -> WireResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(exception) = error {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(exception));
    }
    response
}
