//! The JSON bodies of successful Chime answers (`User`, `Account` and their envelopes), members
//! in the model's order (the AWS CLI prints them in that order), and the simulated dates they
//! carry.

use aws_smithy_types::DateTime;
use serde::Serialize;

use super::store::{StoredAccount, StoredUser};
use crate::rules::rfc3339_millis;

/// `User` of the model.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireUser<'a> {
    user_id: &'a str,
    account_id: &'a str,
    primary_email: &'a str,
    display_name: &'a str,
    license_type: &'a str,
    user_type: &'a str,
    user_registration_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_invitation_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_on: Option<String>,
    alexa_for_business_metadata: WireAlexaMetadata,
    #[serde(rename = "PersonalPIN", skip_serializing_if = "Option::is_none")]
    personal_pin: Option<&'a str>,
}

/// `AlexaForBusinessMetadata` of the model.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireAlexaMetadata {
    is_alexa_for_business_enabled: bool,
}

/// `{"User": User}`: the answer of GetUser and ResetPersonalPIN.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireUserAnswer<'a> {
    pub user: WireUser<'a>,
}

/// `{"Users": [User], "NextToken": "…"}`: the answer of ListUsers.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireUserPage<'a> {
    pub users: Vec<WireUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// 2020-01-06T09:00:00Z: invitations in the simulated past start here.
const EPOCH_OF_INVITES_MS: i64 = 1_578_301_200_000;

impl<'a> WireUser<'a> {
    /// The user as Chime shows it, with `pin` as its PIN.
    pub fn new(user: &'a StoredUser, pin: &'a [u8; 10]) -> Self {
        let u = &user.info;
        // Deterministic dates: one invitation every 97 minutes, registration a day later.
        let invited_ms = EPOCH_OF_INVITES_MS + i64::from(user.index) * 97 * 60_000;
        let (invitation, registered) = match u.registration_status.as_str() {
            "Unregistered" => ("Pending", None),
            _ => (
                "Accepted",
                Some(rfc3339_millis(DateTime::from_millis(
                    invited_ms + 86_400_000,
                ))),
            ),
        };
        WireUser {
            user_id: &u.user_id,
            account_id: &u.account_id,
            primary_email: &u.email,
            display_name: &u.display_name,
            license_type: &u.license_type,
            user_type: &u.user_type,
            user_registration_status: &u.registration_status,
            user_invitation_status: Some(invitation),
            registered_on: registered,
            invited_on: Some(rfc3339_millis(DateTime::from_millis(invited_ms))),
            alexa_for_business_metadata: WireAlexaMetadata {
                is_alexa_for_business_enabled: false,
            },
            personal_pin: Some(std::str::from_utf8(pin).expect("PINs are ASCII digits")),
        }
    }

    /// The same user without `PersonalPIN` (the `--no-pin-rate` fault).
    pub fn without_pin(self) -> Self {
        WireUser {
            personal_pin: None,
            ..self
        }
    }
}

/// `{"Account": Account}`: the answer of GetAccount.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireAccountAnswer<'a> {
    pub account: WireAccount<'a>,
}

/// `Account` of the model.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireAccount<'a> {
    aws_account_id: &'a str,
    account_id: &'a str,
    name: &'a str,
    account_type: &'static str,
    created_timestamp: String,
    default_license: &'static str,
    supported_licenses: [&'static str; 2],
    account_status: &'a str,
    signin_delegate_groups: [(); 0],
}

impl<'a> WireAccount<'a> {
    /// The account as Chime shows it to a caller of AWS account `aws_account_id`: a Team
    /// account, created 30 days apart in directory order before the first invitation.
    pub fn new(account: &'a StoredAccount, aws_account_id: &'a str) -> Self {
        let created_ms = EPOCH_OF_INVITES_MS - (i64::from(account.index) + 1) * 30 * 86_400_000;
        WireAccount {
            aws_account_id,
            account_id: &account.details.account_id,
            name: &account.details.name,
            account_type: "Team",
            created_timestamp: rfc3339_millis(DateTime::from_millis(created_ms)),
            default_license: "Pro",
            supported_licenses: ["Basic", "Pro"],
            account_status: &account.details.status,
            signin_delegate_groups: [],
        }
    }
}
