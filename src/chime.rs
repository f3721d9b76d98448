//! The Chime client: building the one shared `aws-sdk-chime` client, the four calls the tool
//! makes for rows (ResetPersonalPIN, GetUser, ListUsers, LogoutUser), and the classification of every failure into what the executor should do next.
//!
//! The SDK's own retries are switched off: the executor owns the only retry loop, because the
//! SDK's classifiers do not retry Chime's `ThrottledClientException` (HTTP 429) and two stacked
//! loops would multiply attempts and delays.
//!
//! Every client is built from one shared AWS configuration ([`shared_config`]), so the identity
//! check (STS, [`sts`]) sees the same credentials, region and endpoints as the Chime calls, and
//! every client carries the plain-http [`guard`].

pub mod guard;
pub mod sts;

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_chime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_chime::operation::RequestId;
use aws_sdk_chime::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::outcome::codes;
use crate::outcome::{Pin, UserRecord};

/// What the tool keeps of an SDK `User`: never the SDK type itself, whose `Debug` prints the PIN.
fn user_record(user: &aws_sdk_chime::types::User) -> UserRecord {
    UserRecord {
        user_id: user.user_id().to_string(),
        primary_email: user.primary_email().map(str::to_string),
        display_name: user.display_name().map(str::to_string),
        registration_status: user
            .user_registration_status()
            .map(|status| status.as_str().to_string()),
        personal_pin: user.personal_pin().map(Pin::new),
    }
}

/// What the tool keeps of an SDK `Account`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub account_id: String,
    pub name: Option<String>,
    /// `Active` or `Suspended`, as Chime spells it.
    pub status: Option<String>,
}

/// A successful call: the user as Chime returned it and the AWS request id.
#[derive(Clone, Debug)]
pub struct Answer {
    pub user: UserRecord,
    pub request_id: Option<String>,
}

/// What the executor should do about a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The answer is final for this row (400, 403, 404): record it and go on.
    Final,
    /// Transient (500, 503, timeouts, lost or unreadable answers): retry with backoff.
    Retry,
    /// The service asked us to slow down (429): retry with backoff and lower the run's rate.
    Throttled,
    /// Every remaining row would fail the same way (401, rejected or expired credentials):
    /// stop dispatching.
    StopRun,
}

/// A failed call, classified from the modelled error variant and the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    pub disposition: Disposition,
    /// The AWS exception name, or one of ours (Timeout, ConnectionError, InvalidResponse, …).
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl CallError {
    pub fn new(disposition: Disposition, code: &str, message: impl Into<String>) -> Self {
        CallError {
            disposition,
            code: code.to_string(),
            message: message.into(),
            request_id: None,
        }
    }

    /// Whether the call may still be applied by Chime although no answer says so: it timed
    /// out, or its connection was lost. (An answer that came but could not be read, or lacked
    /// the PIN, was sent after the request was processed: nothing of it can land later.)
    pub fn outcome_unknown(&self) -> bool {
        [codes::TIMEOUT, codes::CONNECTION_ERROR].contains(&self.code.as_str())
    }

    /// Whether nothing answered at all: no connection could be made or kept.
    pub fn unreachable(&self) -> bool {
        self.code == codes::CONNECTION_ERROR
    }
}

/// The calls the executor makes. [`ChimeClient`] implements it over the SDK; unit tests use
/// in-memory fakes.
pub trait ChimeApi: Send + Sync + 'static {
    /// Where the calls go, in words, for a stop when nothing answers there.
    fn endpoint_name(&self) -> String {
        "the Chime endpoint".to_string()
    }

    /// ResetPersonalPIN: a new PIN, in the answer.
    fn reset_personal_pin(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Answer, CallError>> + Send;

    /// GetUser: read-only, used by dry runs.
    fn get_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Answer, CallError>> + Send;

    /// ListUsers filtered by `user-email`: the user with that email, or NotFoundException.
    fn find_user_by_email(
        &self,
        account_id: &str,
        email: &str,
    ) -> impl Future<Output = Result<Answer, CallError>> + Send;

    /// LogoutUser: ends the user's sessions; the answer holds only the request id.
    fn logout_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<String>, CallError>> + Send;
}

/// How to reach Chime: the AWS conventions plus the tool's timeouts.
#[derive(Clone, Debug, Default)]
pub struct ClientSettings {
    pub profile: Option<String>,
    pub region: String,
    /// Wins over `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_CHIME`.
    pub endpoint_url: Option<url::Url>,
    /// Fixed credentials (the simulator's dummy keys) instead of the standard chain.
    pub static_credentials: Option<(String, String)>,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    /// `--allow-insecure-endpoint`: plain http to another machine is let through.
    pub allow_insecure_endpoint: bool,
}

/// The AWS configuration every client of a command shares: the profile, region, credentials
/// chain and endpoint overrides, resolved as the AWS CLI resolves them, with `settings` on top.
pub async fn shared_config(settings: &ClientSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()));
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint_text(url));
    }
    if let Some((key_id, secret)) = &settings.static_credentials {
        let credentials =
            aws_credential_types::Credentials::new(key_id, secret, None, None, "chime-pin-reset");
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// The tool's timeouts, for every client.
fn timeouts(settings: &ClientSettings) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.attempt_timeout)
        .build()
}

/// The one shared SDK client.
#[derive(Clone, Debug)]
pub struct ChimeClient {
    client: Client,
    /// The endpoint configured for Chime, as the SDK resolves it; `None` for the default.
    endpoint: Option<sts::Configured>,
    region: String,
}

impl ChimeClient {
    /// A client on its own, for tests that need no other client beside it.
    #[cfg(test)]
    pub async fn new(settings: &ClientSettings) -> Self {
        Self::from_shared(&shared_config(settings).await, settings)
    }

    /// The client, from the configuration the command's other clients share.
    pub fn from_shared(shared: &SdkConfig, settings: &ClientSettings) -> Self {
        let config = aws_sdk_chime::config::Builder::from(shared)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts(settings))
            .interceptor(guard::PlainHttpGuard::new(settings.allow_insecure_endpoint))
            .build();
        ChimeClient {
            client: Client::from_conf(config),
            endpoint: sts::configured_endpoint(shared, sts::Service::Chime),
            region: settings.region.clone(),
        }
    }

    /// The endpoint configured for Chime (the flag, the environment or the profile file, as the
    /// SDK resolves them); `None` for the default one.
    pub fn configured_endpoint(&self) -> Option<&sts::Configured> {
        self.endpoint.as_ref()
    }

    /// GetAccount: the account's name and status, checked before a run.
    pub async fn get_account(&self, account_id: &str) -> Result<AccountRecord, CallError> {
        let output = self
            .client
            .get_account()
            .account_id(account_id)
            .send()
            .await
            .map_err(classify)?;
        let account = output.account();
        Ok(AccountRecord {
            account_id: account_id.to_string(),
            name: account.map(|account| account.name().to_string()),
            status: account
                .and_then(|account| account.account_status())
                .map(|status| status.as_str().to_string()),
        })
    }

    /// The raw SDK client, for `export` and the single `reset`.
    pub fn sdk(&self) -> &Client {
        &self.client
    }
}

/// The endpoint as the SDK wants it. A parsed URL always has a path, `/` at the least, and
/// the SDK appends the operation's path to it: a lone `/` would make `//accounts/…`.
fn endpoint_text(url: &url::Url) -> &str {
    let text = url.as_str();
    match url.path() {
        "/" => text.strip_suffix('/').unwrap_or(text),
        _ => text,
    }
}

impl ChimeApi for ChimeClient {
    fn endpoint_name(&self) -> String {
        let url = self
            .endpoint
            .as_ref()
            .map(|configured| configured.url.as_str());
        sts::endpoint_name(url, &self.region)
    }

    async fn reset_personal_pin(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Answer, CallError> {
        let output = self
            .client
            .reset_personal_pin()
            .account_id(account_id)
            .user_id(user_id)
            .send()
            .await
            .map_err(classify)?;
        check_reset_answer(output.user(), output.request_id())?;
        answer_from(output.user(), output.request_id())
    }

    async fn get_user(&self, account_id: &str, user_id: &str) -> Result<Answer, CallError> {
        let output = self
            .client
            .get_user()
            .account_id(account_id)
            .user_id(user_id)
            .send()
            .await
            .map_err(classify)?;
        answer_from(output.user(), output.request_id())
    }

    async fn logout_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, CallError> {
        let output = self
            .client
            .logout_user()
            .account_id(account_id)
            .user_id(user_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.request_id().map(str::to_string))
    }

    async fn find_user_by_email(&self, account_id: &str, email: &str) -> Result<Answer, CallError> {
        let output = self
            .client
            .list_users()
            .account_id(account_id)
            .user_email(email)
            .send()
            .await
            .map_err(classify)?;
        let request_id = output.request_id().map(str::to_string);
        // The service filters by email already; the comparison guards against a loose match.
        let found = output.users().iter().find(|user| {
            user.primary_email()
                .is_some_and(|primary| primary.eq_ignore_ascii_case(email))
        });
        match found {
            Some(user) => Ok(Answer {
                user: user_record(user),
                request_id,
            }),
            None => Err(CallError {
                request_id,
                ..CallError::new(
                    Disposition::Final,
                    "NotFoundException",
                    format!("no user in account {account_id} has the email {email}"),
                )
            }),
        }
    }
}

fn answer_from(
    user: Option<&aws_sdk_chime::types::User>,
    request_id: Option<&str>,
) -> Result<Answer, CallError> {
    match user {
        Some(user) => Ok(Answer {
            user: user_record(user),
            request_id: request_id.map(str::to_string),
        }),
        None => Err(invalid_response("the answer held no User", request_id)),
    }
}

/// A reset's answer must hold its User with the new PIN: without them the PIN is lost as
/// surely as if the answer never came, so it is retried like a lost answer (the retry's answer
/// carries the PIN then in force), and never recorded as `reset` with an empty PIN.
pub fn check_reset_answer(
    user: Option<&aws_sdk_chime::types::User>,
    request_id: Option<&str>,
) -> Result<(), CallError> {
    match user {
        None => Err(invalid_response("the answer held no User", request_id)),
        Some(user) if user.personal_pin().is_none_or(str::is_empty) => Err(invalid_response(
            "the answer held no PersonalPIN",
            request_id,
        )),
        Some(_) => Ok(()),
    }
}

fn invalid_response(problem: &str, request_id: Option<&str>) -> CallError {
    CallError {
        request_id: request_id.map(str::to_string),
        ..CallError::new(Disposition::Retry, codes::INVALID_RESPONSE, problem)
    }
}

/// Classifies an SDK error from its modelled variant (via the exception name the SDK parsed)
/// and the HTTP status, never from message text.
pub fn classify<E>(err: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(context) if context.raw().status().is_success() => {
            // A success status whose body could not be parsed: the answer was cut short.
            CallError::new(
                Disposition::Retry,
                codes::INVALID_RESPONSE,
                "the answer could not be read (it may have been cut short)",
            )
        }
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let service_error = context.err();
            let code = service_error
                .code()
                .unwrap_or(codes::UNKNOWN_ERROR)
                .to_string();
            CallError {
                disposition: service_disposition(&code, status),
                message: service_error
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}")),
                request_id: service_error.meta().request_id().map(str::to_string),
                code,
            }
        }
        SdkError::TimeoutError(_) => CallError::new(
            Disposition::Retry,
            codes::TIMEOUT,
            "no answer within the attempt timeout",
        ),
        SdkError::DispatchFailure(failure) => {
            if let Some(refused) = find_source::<guard::PlainHttpRefused>(&err) {
                return CallError::new(
                    Disposition::StopRun,
                    codes::CONFIGURATION_ERROR,
                    refused.to_string(),
                );
            }
            if let Some(credentials) = find_source::<CredentialsError>(&err) {
                return CallError::new(
                    Disposition::StopRun,
                    codes::CREDENTIALS_ERROR,
                    format!("no usable AWS credentials: {}", error_chain(credentials)),
                );
            }
            if failure.is_timeout() {
                // A connect timeout: nothing reached Chime, as with a refused connection.
                CallError::new(
                    Disposition::Retry,
                    codes::CONNECTION_ERROR,
                    "the connection timed out",
                )
            } else {
                CallError::new(
                    Disposition::Retry,
                    codes::CONNECTION_ERROR,
                    format!("the request did not complete: {}", error_chain(&err)),
                )
            }
        }
        SdkError::ResponseError(_) => CallError::new(
            Disposition::Retry,
            codes::INVALID_RESPONSE,
            "the answer could not be read (it may have been cut short)",
        ),
        SdkError::ConstructionFailure(_) => CallError::new(
            Disposition::StopRun,
            codes::CONFIGURATION_ERROR,
            format!("the request could not be built: {}", error_chain(&err)),
        ),
        _ => CallError::new(Disposition::Retry, codes::UNKNOWN_ERROR, error_chain(&err)),
    }
}

/// The disposition of an answer the service gave, from the exception name and the status.
fn service_disposition(code: &str, status: u16) -> Disposition {
    match code {
        "ThrottledClientException" | "ThrottlingException" | "TooManyRequestsException" => {
            Disposition::Throttled
        }
        "ServiceFailureException" | "ServiceUnavailableException" => Disposition::Retry,
        // Credentials that are wrong, expired or unknown fail every row the same way.
        "UnauthorizedClientException"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "MissingAuthenticationToken" => Disposition::StopRun,
        "BadRequestException" | "ForbiddenException" | "NotFoundException" => Disposition::Final,
        _ => match status {
            429 => Disposition::Throttled,
            401 => Disposition::StopRun,
            500 | 502 | 503 | 504 => Disposition::Retry,
            _ => Disposition::Final,
        },
    }
}

/// The first error of type `T` in the source chain of `err`.
pub(crate) fn find_source<'a, T: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// An error and its sources on one line, as `a: b: c`.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_follow_the_model() {
        assert_eq!(
            service_disposition("ThrottledClientException", 429),
            Disposition::Throttled
        );
        assert_eq!(
            service_disposition("ServiceFailureException", 500),
            Disposition::Retry
        );
        assert_eq!(
            service_disposition("ServiceUnavailableException", 503),
            Disposition::Retry
        );
        assert_eq!(
            service_disposition("UnauthorizedClientException", 401),
            Disposition::StopRun
        );
        assert_eq!(
            service_disposition("NotFoundException", 404),
            Disposition::Final
        );
        assert_eq!(
            service_disposition("ForbiddenException", 403),
            Disposition::Final
        );
        assert_eq!(
            service_disposition("BadRequestException", 400),
            Disposition::Final
        );
        assert_eq!(service_disposition("SomethingNew", 502), Disposition::Retry);
        assert_eq!(
            service_disposition("SomethingNew", 429),
            Disposition::Throttled
        );
        assert_eq!(service_disposition("SomethingNew", 409), Disposition::Final);
    }
}
