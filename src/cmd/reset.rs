//! `reset`: one ResetPersonalPIN call, printed as `aws chime reset-personal-pin` prints it: the
//! `{"User": {...}}` document with the model's member names in the model's order, only the
//! members Chime returned, timestamps as Chime sends them (ISO 8601 with milliseconds, which
//! AWS CLI v1 passes through unchanged), indented by four spaces.
//!
//! This is the one place a PIN goes to stdout: the user asked for that one user's PIN. It
//! never goes to stderr, and the document has no `Debug`.

use std::io::{self, Write};

use aws_sdk_chime::types::User;
use serde::Serialize;

use aws_sdk_chime::operation::RequestId as _;

use crate::chime::{check_reset_answer, classify};
use crate::cmd::args::{AwsArgs, IdArgs, PinsArg};
use crate::cmd::examples;
use crate::cmd::{describe, exit_code};
use crate::execution::RetryPolicy;
use crate::exit;
use crate::output::PinPolicy;
use crate::rules::rfc3339_millis;

/// Flags of `chime-pin-reset reset`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help(
    "reset",
    "\
Prints the answer on stdout as `aws chime reset-personal-pin` does, PIN included
(choose with --pins). A throttled, failed or lost call is retried: each attempt
that reaches Chime makes a new PIN, and the answer printed carries the current one.
IAM permission needed: chime:ResetPersonalPIN.

Exit codes:
  0  the PIN was reset and printed
  1  Chime or the network refused the call (the exception name is on stderr), or
     the PIN was reset but could not be printed
  2  a usage error, or no usable credentials: nothing was sent",
))]
pub struct ResetArgs {
    /// The user's account.
    #[arg(long, value_name = "ID")]
    pub account_id: String,

    /// The user whose PIN to reset.
    #[arg(long, value_name = "ID")]
    pub user_id: String,

    /// How the new PIN appears in the output (`omit` leaves the PersonalPIN member out).
    #[arg(long, value_enum, default_value_t = PinsArg::Full)]
    pub pins: PinsArg,

    #[command(flatten)]
    pub ids: IdArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reset`; an `Err` is a usage error (exit 2).
pub async fn run(args: ResetArgs) -> anyhow::Result<u8> {
    let account = &args.ids.id("--account-id", &args.account_id)?;
    let user = &args.ids.id("--user-id", &args.user_id)?;
    let settings = args.aws.client_settings()?;
    // The identity first: missing or rejected credentials end the command before any call.
    let connection = crate::preflight::connect(&settings).await?;
    crate::say!("chime-pin-reset: {}", connection.caller.line());
    let client = connection.chime;
    let answer = RetryPolicy::default()
        .call_alone(|| async {
            let output = client
                .sdk()
                .reset_personal_pin()
                .account_id(account)
                .user_id(user)
                .send()
                .await
                .map_err(classify)?;
            check_reset_answer(output.user(), output.request_id())?;
            Ok(output)
        })
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(error) => {
            crate::say!("chime-pin-reset: {}", describe(&error));
            return Ok(exit_code(&error));
        }
    };
    let user = output
        .user()
        .expect("the retry loop only lets answers with a User through");
    let document = Document {
        user: CliUser::new(user, args.pins.into()),
    };
    let mut text = Vec::with_capacity(1024);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    document.serialize(&mut serializer)?;
    text.push(b'\n');
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&text).and_then(|()| stdout.flush()) {
        // The reader went away (`| head`): what it wanted, it has.
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            // The PIN has changed by now: exit 2 ("nothing was sent") would be untrue.
            crate::say!(
                "chime-pin-reset: the PIN was reset but could not be printed ({err}); read it \
                 back with `aws chime get-user`"
            );
            Ok(exit::ROWS_FAILED)
        }
        _ => Ok(exit::SUCCESS),
    }
}

/// `ResetPersonalPINResponse`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    user: CliUser<'a>,
}

/// `User` of the model, members in model order, absent ones left out.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CliUser<'a> {
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_provisioned_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    license_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_registration_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_invitation_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alexa_for_business_metadata: Option<AlexaJson<'a>>,
    #[serde(rename = "PersonalPIN", skip_serializing_if = "Option::is_none")]
    personal_pin: Option<String>,
}

/// `AlexaForBusinessMetadata` of the model.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AlexaJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    is_alexa_for_business_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alexa_for_business_room_arn: Option<&'a str>,
}

impl<'a> CliUser<'a> {
    fn new(user: &'a User, pins: PinPolicy) -> Self {
        CliUser {
            user_id: user.user_id(),
            account_id: user.account_id(),
            primary_email: user.primary_email(),
            primary_provisioned_number: user.primary_provisioned_number(),
            display_name: user.display_name(),
            license_type: user.license_type().map(|license| license.as_str()),
            user_type: user.user_type().map(|kind| kind.as_str()),
            user_registration_status: user
                .user_registration_status()
                .map(|status| status.as_str()),
            user_invitation_status: user.user_invitation_status().map(|status| status.as_str()),
            registered_on: user.registered_on().map(|time| rfc3339_millis(*time)),
            invited_on: user.invited_on().map(|time| rfc3339_millis(*time)),
            alexa_for_business_metadata: user.alexa_for_business_metadata().map(|alexa| {
                AlexaJson {
                    is_alexa_for_business_enabled: alexa.is_alexa_for_business_enabled(),
                    alexa_for_business_room_arn: alexa.alexa_for_business_room_arn(),
                }
            }),
            personal_pin: match pins {
                PinPolicy::Omit => None,
                _ => user.personal_pin().map(|pin| pins.apply(pin)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_chime::types::{AlexaForBusinessMetadata, RegistrationStatus};

    fn render(user: &User, pins: PinPolicy) -> String {
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
        Document {
            user: CliUser::new(user, pins),
        }
        .serialize(&mut serializer)
        .expect("strings serialize");
        String::from_utf8(text).expect("UTF-8")
    }

    #[test]
    fn members_follow_the_model_and_absent_ones_are_left_out() {
        let user = User::builder()
            .user_id("u")
            .display_name("Ada")
            .user_registration_status(RegistrationStatus::Registered)
            .alexa_for_business_metadata(
                AlexaForBusinessMetadata::builder()
                    .is_alexa_for_business_enabled(false)
                    .build(),
            )
            .personal_pin("1234567890")
            .build()
            .expect("a user id is given");
        let text = render(&user, PinPolicy::Masked);
        let expected = "{\n    \"User\": {\n        \"UserId\": \"u\",\n        \"DisplayName\": \"Ada\",\n        \
             \"UserRegistrationStatus\": \"Registered\",\n        \"AlexaForBusinessMetadata\": {\n            \
             \"IsAlexaForBusinessEnabled\": false\n        },\n        \"PersonalPIN\": \"********90\"\n    }\n}";
        assert_eq!(text, expected);
        assert!(!render(&user, PinPolicy::Omit).contains("PersonalPIN"));
    }
}
