//! Who the tool acts as: STS GetCallerIdentity, the first request any AWS command makes, with
//! the credentials, region and endpoint the Chime calls will use, and the one line that says
//! so. Credentials that are missing or rejected end the command here, before anything reaches
//! Chime; an endpoint that does not serve STS only leaves the identity unknown.

use std::sync::Mutex;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde::Serialize;

use crate::chime::guard::PlainHttpRefused;
use crate::chime::{classify, error_chain, find_source, ClientSettings};
use crate::execution::RetryPolicy;

/// Who the calls are made as, and where they go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The caller's ARN; `None` when the endpoint could not say.
    pub arn: Option<String>,
    /// The AWS account of the caller.
    pub account: Option<String>,
    /// Why the identity is unknown, when it is.
    pub unknown: Option<String>,
    /// Where the credentials come from: `profile NAME`, the environment, or the simulator.
    pub credentials: String,
    pub region: String,
    /// The Chime endpoint, when it is not the default one.
    pub endpoint: Option<String>,
}

impl Caller {
    /// The identity line: `as ARN (account N, profile P, REGION)`, then the endpoint when it is
    /// not the default.
    pub fn line(&self) -> String {
        let mut line = self.without_endpoint();
        if let Some(endpoint) = &self.endpoint {
            line.push_str(&format!(" at {endpoint}"));
        }
        line
    }

    /// The identity line without the endpoint, for the plan, which shows it on its own line.
    pub fn without_endpoint(&self) -> String {
        let place = format!("{}, {}", self.credentials, self.region);
        match (&self.arn, &self.unknown) {
            (Some(arn), _) => format!(
                "as {arn} (account {}, {place})",
                self.account.as_deref().unwrap_or("unknown")
            ),
            (None, why) => format!(
                "identity: unknown ({}) ({place})",
                why.as_deref().unwrap_or("no answer")
            ),
        }
    }

    /// How the prompt names the caller.
    pub fn who(&self) -> &str {
        self.arn
            .as_deref()
            .unwrap_or("an identity STS could not name")
    }
}

/// Why a command stops at the identity check. Nothing has been sent to Chime.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "no usable AWS credentials ({detail}). Looked in: the environment (AWS_ACCESS_KEY_ID, \
         AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), {profile} in {config_file} and \
         {credentials_file} (keys, SSO, a role or a credential process), a web identity token, \
         and the container and instance metadata. To fix: run `aws configure`, or \
         `aws sso login --profile {profile_name}` when the profile signs in through SSO (its \
         session may have expired), or choose another profile with --profile. Nothing was sent"
    )]
    NoCredentials {
        detail: String,
        profile: String,
        profile_name: String,
        config_file: String,
        credentials_file: String,
    },
    #[error(
        "the credentials were rejected ({code}: {message}) by STS GetCallerIdentity, which \
         needs no permission: the keys are wrong, revoked or expired. To fix: run \
         `aws sso login --profile {profile_name}` if the profile signs in through SSO, renew \
         the keys (`aws configure`), or choose another profile with --profile. Nothing was \
         sent to Chime"
    )]
    Rejected {
        code: String,
        message: String,
        profile_name: String,
    },
    #[error("{0}. Nothing was sent")]
    PlainHttp(PlainHttpRefused),
    #[error("{refused} (set by {set_by}). Nothing was sent")]
    PlainHttpConfigured {
        set_by: String,
        refused: PlainHttpRefused,
    },
}

/// What a failed GetCallerIdentity means for the command.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Failure {
    NoCredentials(String),
    PlainHttp(PlainHttpRefused),
    Rejected {
        code: String,
        message: String,
    },
    /// The endpoint does not serve STS (or could not be reached): the identity stays unknown.
    NotSts(String),
}

/// Codes that say the credentials themselves were refused, whatever the status.
const REJECTED_CODES: [&str; 8] = [
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "UnauthorizedClientException",
    "MissingAuthenticationToken",
];

/// Judges a failed GetCallerIdentity from the error variant, the exception name and the
/// status, never from message text.
fn judge<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(refused) = find_source::<PlainHttpRefused>(err) {
        return Failure::PlainHttp(refused.clone());
    }
    if let Some(credentials) = find_source::<CredentialsError>(err) {
        return Failure::NoCredentials(error_chain(credentials));
    }
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code();
            let rejected = code.is_some_and(|code| REJECTED_CODES.contains(&code))
                || matches!(status, 401 | 403);
            match code {
                Some(code) if rejected => Failure::Rejected {
                    code: code.to_string(),
                    message: context.err().message().unwrap_or("").to_string(),
                },
                None if rejected => Failure::Rejected {
                    code: format!("HTTP {status}"),
                    message: "the endpoint refused the request".to_string(),
                },
                Some(code) => Failure::NotSts(format!("HTTP {status}, {code}")),
                None => Failure::NotSts(format!("HTTP {status}, not an STS answer")),
            }
        }
        SdkError::ResponseError(_) => Failure::NotSts("the answer is not STS XML".to_string()),
        SdkError::TimeoutError(_) => Failure::NotSts("no answer in time".to_string()),
        other => Failure::NotSts(error_chain(other)),
    }
}

/// Asks STS who the caller is. A transient failure is tried again a few times; then the
/// identity is unknown and the command goes on.
pub async fn identify(
    sts: &aws_sdk_sts::Client,
    settings: &ClientSettings,
    endpoint: Option<String>,
) -> Result<Caller, IdentityError> {
    let last_failure = Mutex::new(None);
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let answer = policy
        .call_alone(|| async {
            sts.get_caller_identity().send().await.map_err(|err| {
                *last_failure.lock().expect("never poisoned") = Some(judge(&err));
                classify(err)
            })
        })
        .await;
    let mut caller = Caller {
        arn: None,
        account: None,
        unknown: None,
        credentials: credentials_label(settings),
        region: settings.region.clone(),
        endpoint,
    };
    let failure = match answer {
        Ok(output) => {
            caller.arn = output.arn().map(str::to_string);
            caller.account = output.account().map(str::to_string);
            if caller.arn.is_none() {
                caller.unknown = Some("the answer named no ARN".to_string());
            }
            return Ok(caller);
        }
        Err(_) => last_failure
            .into_inner()
            .expect("never poisoned")
            .expect("a failed call was judged"),
    };
    match failure {
        Failure::NotSts(why) => {
            caller.unknown = Some(why);
            Ok(caller)
        }
        Failure::PlainHttp(refused) => Err(IdentityError::PlainHttp(refused)),
        Failure::Rejected { code, message } => Err(IdentityError::Rejected {
            code,
            message,
            profile_name: profile_name(settings),
        }),
        Failure::NoCredentials(detail) => Err(no_credentials(settings, detail)),
    }
}

/// The profile aws-config reads: `--profile`, else `AWS_PROFILE`, else `default`.
fn profile_name(settings: &ClientSettings) -> String {
    settings
        .profile
        .clone()
        .or_else(|| non_empty_env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_string())
}

/// Where the credentials come from, as the identity line says it.
fn credentials_label(settings: &ClientSettings) -> String {
    if settings.static_credentials.is_some() {
        "the simulator's dummy keys".to_string()
    } else if let Some(profile) = &settings.profile {
        format!("profile {profile}")
    } else if non_empty_env("AWS_ACCESS_KEY_ID").is_some() {
        "keys from the environment".to_string()
    } else {
        format!("profile {}", profile_name(settings))
    }
}

fn no_credentials(settings: &ClientSettings, detail: String) -> IdentityError {
    let home = non_empty_env("HOME").unwrap_or_else(|| "~".to_string());
    let profile_name = profile_name(settings);
    IdentityError::NoCredentials {
        detail,
        profile: format!("profile {profile_name}"),
        profile_name,
        config_file: non_empty_env("AWS_CONFIG_FILE")
            .unwrap_or_else(|| format!("{home}/.aws/config")),
        credentials_file: non_empty_env("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|| format!("{home}/.aws/credentials")),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            arn: Some("arn:aws:iam::123456789012:user/alice".to_string()),
            account: Some("123456789012".to_string()),
            unknown: None,
            credentials: "profile chime-admin".to_string(),
            region: "us-east-1".to_string(),
            endpoint: None,
        }
    }

    #[test]
    fn the_identity_line_names_arn_account_profile_and_region() {
        assert_eq!(
            caller().line(),
            "as arn:aws:iam::123456789012:user/alice (account 123456789012, profile \
             chime-admin, us-east-1)"
        );
        let elsewhere = Caller {
            endpoint: Some("http://127.0.0.1:4000".to_string()),
            ..caller()
        };
        assert!(elsewhere.line().ends_with(" at http://127.0.0.1:4000"));
        let unknown = Caller {
            arn: None,
            account: None,
            unknown: Some("HTTP 404, not an STS answer".to_string()),
            ..caller()
        };
        assert!(
            unknown
                .line()
                .starts_with("identity: unknown (HTTP 404, not an STS answer)"),
            "{}",
            unknown.line()
        );
    }
}
