//! Simulator tests: the real aws-sdk-chime client and the AWS CLI against the simulator over
//! real HTTP, in process and as `chime-pin-reset simulate`.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use aws_sdk_chime::error::SdkError;
use aws_sdk_chime::operation::get_user::GetUserError;
use aws_sdk_chime::operation::list_users::ListUsersError;
use aws_sdk_chime::operation::reset_personal_pin::ResetPersonalPINError;
use chime_pin_reset::simulator::{Directory, Faults, Simulator, SimulatorConfig, SimulatorHandle};
use serde_json::Value;

use crate::support::{
    self, aws_env, bin, chime_client, chime_client_with, fetch_state, SimulatorProcess, Workdir,
};

type ResetError = SdkError<ResetPersonalPINError, aws_sdk_chime::config::http::HttpResponse>;

/// Starts an in-process simulator over `accounts × users` generated users.
async fn start(accounts: usize, users: usize, faults: Faults) -> SimulatorHandle {
    start_logged(accounts, users, faults, None).await
}

/// Like [`start`], writing the request log to `log`.
async fn start_logged(
    accounts: usize,
    users: usize,
    faults: Faults,
    log: Option<&std::path::Path>,
) -> SimulatorHandle {
    Simulator::start(SimulatorConfig {
        directory: Directory::generate(accounts, users, 11),
        faults,
        seed: 11,
        log_path: log.map(Into::into),
        ..SimulatorConfig::default()
    })
    .await
    .expect("start the simulator")
}

/// The only line of a request log, parsed.
fn only_log_line(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one request, one line");
    serde_json::from_str(lines[0]).unwrap()
}

/// (account_id, user_id) of the `n`th user in the state document.
fn user_ids(state: &Value, n: usize) -> (String, String) {
    let u = &state["users"][n];
    (
        u["account_id"].as_str().unwrap().into(),
        u["user_id"].as_str().unwrap().into(),
    )
}

fn state_user<'a>(state: &'a Value, user_id: &str) -> &'a Value {
    state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user_id)
        .unwrap_or_else(|| panic!("user {user_id} is not in the state"))
}

fn pin_of(state: &Value, user_id: &str) -> String {
    state_user(state, user_id)["personal_pin"]
        .as_str()
        .unwrap()
        .to_string()
}

fn reset_count(state: &Value, user_id: &str) -> u64 {
    state_user(state, user_id)["reset_count"].as_u64().unwrap()
}

fn is_ten_digits(pin: &str) -> bool {
    pin.len() == 10 && pin.bytes().all(|b| b.is_ascii_digit())
}

async fn reset(
    client: &aws_sdk_chime::Client,
    account: &str,
    user: &str,
) -> Result<String, ResetError> {
    let out = client
        .reset_personal_pin()
        .account_id(account)
        .user_id(user)
        .send()
        .await?;
    Ok(out
        .user()
        .and_then(|u| u.personal_pin())
        .expect("a reset answer carries the PIN")
        .into())
}

/// The modelled error of a failed reset, as the name of its variant.
fn reset_error_variant(err: &ResetError) -> &'static str {
    match err.as_service_error() {
        Some(ResetPersonalPINError::BadRequestException(_)) => "BadRequestException",
        Some(ResetPersonalPINError::ForbiddenException(_)) => "ForbiddenException",
        Some(ResetPersonalPINError::NotFoundException(_)) => "NotFoundException",
        Some(ResetPersonalPINError::ServiceFailureException(_)) => "ServiceFailureException",
        Some(ResetPersonalPINError::ServiceUnavailableException(_)) => {
            "ServiceUnavailableException"
        }
        Some(ResetPersonalPINError::ThrottledClientException(_)) => "ThrottledClientException",
        Some(ResetPersonalPINError::UnauthorizedClientException(_)) => {
            "UnauthorizedClientException"
        }
        Some(_) => "unhandled service error",
        None => "not a service error",
    }
}

fn status_of(err: &ResetError) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_resets_gets_and_lists_across_pages() {
    let sim = start(2, 23, Faults::default()).await;
    let client = chime_client(sim.endpoint());
    let before = sim.state();
    let (account, user) = user_ids(&before, 3);
    let old_pin = pin_of(&before, &user);
    assert!(
        is_ten_digits(&old_pin),
        "every user starts with a 10-digit PIN"
    );

    let got = client
        .get_user()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .unwrap();
    let got = got.user().unwrap();
    assert_eq!(got.user_id(), user);
    assert_eq!(got.account_id(), Some(account.as_str()));
    assert!(
        got.personal_pin() == Some(old_pin.as_str()),
        "GetUser returns the current PIN"
    );
    assert!(got.primary_email().is_some_and(|e| e.contains('@')));
    assert!(got.invited_on().is_some(), "timestamps parse as ISO 8601");

    let new_pin = reset(&client, &account, &user).await.unwrap();
    assert!(is_ten_digits(&new_pin), "the new PIN has 10 digits");
    assert!(new_pin != old_pin, "a reset changes the PIN");
    let after = sim.state();
    assert!(
        pin_of(&after, &user) == new_pin,
        "the answer carries the PIN the server keeps"
    );
    assert_eq!(reset_count(&after, &user), 1);
    let again = client
        .get_user()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .unwrap();
    assert!(again.user().unwrap().personal_pin() == Some(new_pin.as_str()));

    // The paginator follows NextToken over 4 pages of at most 6 users.
    let pages = client
        .list_users()
        .account_id(&account)
        .max_results(6)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 4);
    let listed: Vec<String> = pages
        .into_iter()
        .flat_map(|page| {
            let page = page.expect("every page arrives");
            page.users()
                .iter()
                .map(|u| u.user_id().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<String> = before["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["account_id"] == account.as_str())
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, expected);
    let counters = sim.counters();
    assert_eq!(counters.get("ListUsers", "200"), 4);
    assert_eq!(counters.get("GetUser", "200"), 2);
    assert_eq!(counters.get("ResetPersonalPIN", "200"), 1);

    // Filter by email (and by user type, which every generated user matches).
    let email = before["users"][5]["primary_email"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let filtered = client
        .list_users()
        .account_id(&account)
        .user_email(&email)
        .user_type(aws_sdk_chime::types::UserType::PrivateUser)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.users().len(), 1);
    assert_eq!(
        filtered.users()[0].user_id(),
        before["users"][5]["user_id"].as_str().unwrap()
    );
    assert!(filtered.next_token().is_none());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_sees_each_client_error_as_its_modelled_variant() {
    let forbidden = Directory::generate(2, 1, 11).accounts()[1].to_string();
    let sim = start(
        2,
        1,
        Faults {
            unauthorized_key: Some("AKIDREVOKED".into()),
            forbidden_accounts: vec![forbidden.clone()],
            ..Faults::default()
        },
    )
    .await;
    let client = chime_client(sim.endpoint());
    let state = sim.state();
    let (account, user) = user_ids(&state, 0);
    let (other_account, other_user) = user_ids(&state, 1);
    assert_eq!(other_account, forbidden);
    let unknown = "00000000-0000-4000-8000-000000000000";

    let err = reset(&client, &account, unknown).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("NotFoundException", Some(404))
    );
    let err = reset(&client, unknown, &user).await.unwrap_err();
    assert_eq!(reset_error_variant(&err), "NotFoundException");
    let err = reset(&client, &account, "not-a-guid").await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("BadRequestException", Some(400))
    );
    let err = reset(&client, &other_account, &other_user)
        .await
        .unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("ForbiddenException", Some(403))
    );
    let revoked = chime_client_with(sim.endpoint(), "AKIDREVOKED", "whatever");
    let err = reset(&revoked, &account, &user).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("UnauthorizedClientException", Some(401))
    );
    assert!(
        err.as_service_error().and_then(|e| e.meta().code()) == Some("UnauthorizedClientException")
    );

    let err = client
        .get_user()
        .account_id(&account)
        .user_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetUserError::NotFoundException(_))
    ));
    let err = client
        .list_users()
        .account_id(&account)
        .max_results(201)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(ListUsersError::BadRequestException(_))
    ));
    let err = client
        .list_users()
        .account_id(&account)
        .next_token("bogus")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(ListUsersError::BadRequestException(_))
    ));
    let err = client
        .list_users()
        .account_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(ListUsersError::NotFoundException(_))
    ));

    // Nothing above changed a PIN.
    assert_eq!(reset_count(&sim.state(), &user), 0);
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "404"), 2);
    assert_eq!(counters.get("ResetPersonalPIN", "401"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_answers_429_beyond_the_bucket() {
    let faults = Faults {
        throttle_rps: Some(0.01),
        throttle_burst: 2,
        ..Faults::default()
    };
    let sim = start(1, 1, faults).await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    reset(&client, &account, &user).await.unwrap();
    reset(&client, &account, &user).await.unwrap();
    let err = reset(&client, &account, &user).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("ThrottledClientException", Some(429))
    );
    assert!(
        err.as_service_error().and_then(|e| e.meta().code()) == Some("ThrottledClientException")
    );
    assert_eq!(
        reset_count(&sim.state(), &user),
        2,
        "a throttled reset changes nothing"
    );
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "429"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_rate_answers_500_and_503() {
    let sim = start(
        1,
        1,
        Faults {
            fail_rate: 1.0,
            ..Faults::default()
        },
    )
    .await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    let mut seen = HashSet::new();
    for _ in 0..40 {
        let err = reset(&client, &account, &user).await.unwrap_err();
        seen.insert((reset_error_variant(&err), status_of(&err)));
    }
    let expected: HashSet<_> = [
        ("ServiceFailureException", Some(500)),
        ("ServiceUnavailableException", Some(503)),
    ]
    .into();
    assert_eq!(seen, expected);
    assert_eq!(reset_count(&sim.state(), &user), 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_answers_reach_the_client_as_connection_errors() {
    let work = Workdir::new();
    let logs = ["drop.jsonl", "reset-then-drop.jsonl", "garbage.jsonl"].map(|n| work.path(n));
    // Drop: no answer and nothing changed.
    let faults = Faults {
        drop_rate: 1.0,
        ..Faults::default()
    };
    let sim = start_logged(1, 1, faults, Some(&logs[0])).await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    let err = reset(&client, &account, &user).await.unwrap_err();
    assert!(
        matches!(err, SdkError::DispatchFailure(_)),
        "a drop is a dispatch failure: {err}"
    );
    assert!(err.raw_response().is_none(), "no response was received");
    assert_eq!(reset_count(&sim.state(), &user), 0);
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "dropped"), 1);

    // Reset then drop: no answer, but the PIN changed.
    let faults = Faults {
        reset_then_drop_rate: 1.0,
        ..Faults::default()
    };
    let sim = start_logged(1, 1, faults, Some(&logs[1])).await;
    let client = chime_client(sim.endpoint());
    let before = sim.state();
    let (account, user) = user_ids(&before, 0);
    let err = reset(&client, &account, &user).await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err}");
    assert!(err.raw_response().is_none());
    let after = sim.state();
    assert_eq!(reset_count(&after, &user), 1);
    assert!(
        pin_of(&after, &user) != pin_of(&before, &user),
        "the lost reset changed the PIN"
    );
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "dropped"), 1);

    // Garbage: a 200 whose body is cut short, and the PIN changed.
    let faults = Faults {
        garbage_rate: 1.0,
        ..Faults::default()
    };
    let sim = start_logged(1, 1, faults, Some(&logs[2])).await;
    let client = chime_client(sim.endpoint());
    let before = sim.state();
    let (account, user) = user_ids(&before, 0);
    let err = reset(&client, &account, &user).await.unwrap_err();
    // A 200 that does not parse: aws-sdk-rust reports a service error of no modelled variant and
    // no code, whose source is the deserialization error, with the 200 response attached.
    let context = aws_smithy_types::error::display::DisplayErrorContext(&err).to_string();
    assert!(matches!(err, SdkError::ServiceError(_)), "{context}");
    assert_eq!(
        reset_error_variant(&err),
        "unhandled service error",
        "{context}"
    );
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.meta().code().is_none()));
    assert!(context.contains("unexpected end"), "{context}");
    assert_eq!(status_of(&err), Some(200));
    let after = sim.state();
    assert_eq!(reset_count(&after, &user), 1);
    assert!(pin_of(&after, &user) != pin_of(&before, &user));
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "200"), 1);

    let outcomes = logs.map(|path| {
        let line = only_log_line(&path);
        (
            line["outcome"].as_str().unwrap().to_string(),
            line["status"].as_u64(),
        )
    });
    assert_eq!(
        outcomes,
        [
            ("dropped".to_string(), None),
            ("reset-then-dropped".to_string(), Some(200)),
            ("garbage".to_string(), Some(200)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_verified_with_the_secret_key() {
    let sim = Simulator::start(SimulatorConfig {
        directory: Directory::generate(1, 2, 3),
        secret_key: Some(crate::support::SECRET_ACCESS_KEY.into()),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let (account, user) = user_ids(&sim.state(), 1);
    let right = chime_client(sim.endpoint());
    reset(&right, &account, &user)
        .await
        .expect("a correctly signed reset succeeds");
    right
        .list_users()
        .account_id(&account)
        .max_results(1)
        .send()
        .await
        .unwrap();
    right
        .get_user()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .unwrap();

    let wrong = chime_client_with(
        sim.endpoint(),
        crate::support::ACCESS_KEY_ID,
        "not-the-secret",
    );
    let err = reset(&wrong, &account, &user).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("ForbiddenException", Some(403))
    );
    assert_eq!(reset_count(&sim.state(), &user), 1);

    // Unsigned, or signed for another service: 403 in Chime's error form.
    let endpoint = sim.endpoint().to_string();
    let url = format!("{endpoint}/accounts/{account}/users/{user}");
    let answers = tokio::task::spawn_blocking(move || {
        [None, Some(fake_authorization("s3"))].map(|auth| raw_get(&url, auth.as_deref()))
    })
    .await
    .unwrap();
    for (status, headers, body) in answers {
        assert_eq!(status, 403);
        assert_eq!(
            headers.get("x-amzn-errortype").map(String::as_str),
            Some("ForbiddenException")
        );
        assert!(body["Code"].is_string() && body["Message"].is_string());
    }
    sim.shutdown().await;
}

/// A well-formed SigV4 header for `service` whose signature is never checked (no secret key).
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDRAW/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0000"
    )
}

/// A blocking GET that returns status, lowercased headers and the JSON body, whatever the status.
fn raw_get(
    url: &str,
    authorization: Option<&str>,
) -> (u16, std::collections::HashMap<String, String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent.get(url);
    if let Some(auth) = authorization {
        request = request.header("authorization", auth);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_travel_in_the_chime_wire_form() {
    let sim = start(1, 1, Faults::default()).await;
    let (account, user) = user_ids(&sim.state(), 0);
    let endpoint = sim.endpoint().to_string();
    let auth = fake_authorization("chime");
    let user_for_get = user.clone();
    let results = tokio::task::spawn_blocking(move || {
        let user = user_for_get;
        let get = |path: &str| raw_get(&format!("{endpoint}{path}"), Some(&auth));
        [
            get(&format!(
                "/accounts/{account}/users/00000000-0000-4000-8000-000000000000"
            )),
            get("/nothing/here"),
            get(&format!(
                "/accounts/{account}/users/{user}?operation=reset-personal-pin"
            )),
            get(&format!("/accounts/{account}/users?max-results=0")),
            get(&format!("/accounts/{account}/users?user-type=Robot")),
            get(&format!(
                "/accounts/{}/users/{user}",
                account.replace('-', "%2D")
            )),
        ]
    })
    .await
    .unwrap();
    let expected = [
        (404, "NotFoundException", "NotFound"),
        (400, "BadRequestException", "BadRequest"),
        (400, "BadRequestException", "BadRequest"),
        (400, "BadRequestException", "BadRequest"),
        (400, "BadRequestException", "BadRequest"),
    ];
    let mut ids = HashSet::new();
    for ((status, headers, body), (want_status, exception, code)) in results.iter().zip(expected) {
        assert_eq!(*status, want_status, "{body}");
        assert_eq!(headers["x-amzn-errortype"], exception);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["Code"], code);
        assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
        ids.insert(headers["x-amzn-requestid"].clone());
    }
    // Percent-encoded path segments are decoded: this is the real user.
    let (status, headers, body) = &results[5];
    assert_eq!(*status, 200);
    assert!(!headers.contains_key("x-amzn-errortype"));
    assert_eq!(body["User"]["UserId"], user.as_str());
    ids.insert(headers["x-amzn-requestid"].clone());
    assert_eq!(ids.len(), 6, "every answer has a fresh request id");
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("Unknown", "400"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_log_record_every_request_without_pins() {
    let work = Workdir::new();
    let log_path = work.path("requests.jsonl");
    let sim = Simulator::start(SimulatorConfig {
        directory: Directory::generate(1, 8, 5),
        faults: Faults {
            latency_ms: 300,
            ..Faults::default()
        },
        log_path: Some(log_path.clone()),
        seed: 5,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = chime_client(sim.endpoint());
    let state = sim.state();
    let ids: Vec<(String, String)> = (0..8).map(|i| user_ids(&state, i)).collect();
    // Eight resets at once: with 300 ms latency all are in flight together.
    let mut pins: Vec<String> = futures::future::join_all(
        ids.iter()
            .map(|(account, user)| reset(&client, account, user)),
    )
    .await
    .into_iter()
    .map(|r| r.expect("reset"))
    .collect();
    let (account, _) = &ids[0];
    client
        .list_users()
        .account_id(account)
        .send()
        .await
        .unwrap();
    let err = client
        .get_user()
        .account_id(account)
        .user_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetUserError::NotFoundException(_))
    ));

    let state = fetch_state_async(sim.endpoint()).await;
    let mut keys: Vec<&str> = state
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["max_in_flight", "requests", "users"]);
    assert_eq!(state["max_in_flight"], 8);
    assert_eq!(
        state["requests"]["ResetPersonalPIN"],
        serde_json::json!({"200": 8})
    );
    assert_eq!(
        state["requests"]["ListUsers"],
        serde_json::json!({"200": 1})
    );
    assert_eq!(state["requests"]["GetUser"], serde_json::json!({"404": 1}));
    for user in state["users"].as_array().unwrap() {
        let mut fields: Vec<&str> = user
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "account_id",
                "display_name",
                "personal_pin",
                "primary_email",
                "reset_count",
                "user_id"
            ]
        );
        assert_eq!(user["reset_count"], 1);
    }
    pins.extend(
        state["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["personal_pin"].as_str().unwrap().into()),
    );
    let counters = sim.shutdown().await;
    assert_eq!(counters.max_in_flight, 8);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        10,
        "one line per API request (state requests are not logged)"
    );
    for line in &lines {
        for field in [
            "time",
            "at_unix_ms",
            "operation",
            "account_id",
            "user_id",
            "status",
            "outcome",
            "in_flight",
        ] {
            assert!(line.get(field).is_some(), "log line lacks {field}");
        }
        let time = line["time"].as_str().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && &time[19..20] == ".",
            "{time}"
        );
        assert!(line["at_unix_ms"].as_f64().unwrap() > 1.5e12);
        assert_eq!(line["outcome"], "answered");
    }
    let resets: Vec<&Value> = lines
        .iter()
        .filter(|l| l["operation"] == "ResetPersonalPIN")
        .collect();
    assert_eq!(resets.len(), 8);
    assert!(resets.iter().all(|l| l["status"] == 200));
    assert_eq!(
        resets
            .iter()
            .map(|l| l["in_flight"].as_u64().unwrap())
            .max(),
        Some(8)
    );
    assert!(lines
        .iter()
        .any(|l| l["operation"] == "GetUser" && l["status"] == 404));
    assert!(lines
        .iter()
        .any(|l| l["operation"] == "ListUsers" && l["user_id"].is_null()));
    let leaked = pins.iter().filter(|pin| log.contains(pin.as_str())).count();
    assert_eq!(leaked, 0, "the log must not contain any PIN");
}

async fn fetch_state_async(endpoint: &str) -> Value {
    let endpoint = endpoint.to_string();
    tokio::task::spawn_blocking(move || fetch_state(&endpoint))
        .await
        .unwrap()
}

#[test]
fn directories_generate_deterministically_and_round_trip_through_csv() {
    let work = Workdir::new();
    let a = Directory::generate(3, 4, 9);
    assert_eq!(a.len(), 12);
    assert_eq!(a.users(), Directory::generate(3, 4, 9).users());
    assert_ne!(a.users(), Directory::generate(3, 4, 10).users());
    let path = work.path("directory.csv");
    a.write_csv(&path).unwrap();
    let b = Directory::from_csv_path(&path).unwrap();
    assert_eq!(a.users(), b.users());

    // The optional columns may be left out; defaults fill them.
    let minimal = work.write(
        "minimal.csv",
        "account_id,user_id,email,display_name\n\
         aaaaaaaa-0000-4000-8000-000000000001,bbbbbbbb-0000-4000-8000-000000000001,x@example.com,X Y\n",
    );
    let c = Directory::from_csv_path(&minimal).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.users()[0].license_type, "Pro");
    assert_eq!(c.users()[0].registration_status, "Registered");

    let bad = work.write(
        "bad.csv",
        "account_id,user_id,email,display_name,license_type\n\
         aaaaaaaa-0000-4000-8000-000000000001,bbbbbbbb-0000-4000-8000-000000000001,x@example.com,X,Pro\n\
         aaaaaaaa-0000-4000-8000-000000000001,bbbbbbbb-0000-4000-8000-000000000002,y@example.com,Y,Gold\n",
    );
    let err = format!("{:#}", Directory::from_csv_path(&bad).unwrap_err());
    assert!(
        err.contains("bad.csv:3:") && err.contains("license_type"),
        "{err}"
    );

    let mut d = Directory::new();
    d.ensure_user(
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000009",
    );
    d.ensure_user(
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000009",
    );
    assert_eq!(d.len(), 1);
    assert!(d.users()[0].email.contains('@'));
}

/// Runs `aws chime …` (the CLI at `aws`, from [`crate::support::aws_cli`]) against `endpoint`;
/// returns (success, stdout, stderr).
fn aws(aws: &Path, endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(aws);
    aws_env(&mut cmd);
    cmd.args(["chime", "--endpoint-url", endpoint, "--output", "json"])
        .args(args);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", aws.display()));
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[test]
fn aws_cli_drives_the_simulator_process() {
    let Some(aws_cli) = support::aws_cli("aws_cli_drives_the_simulator_process") else {
        return;
    };
    let work = Workdir::new();
    let dir_csv = work.path("directory.csv");
    let sim = SimulatorProcess::spawn(&[
        "--accounts",
        "2",
        "--users-per-account",
        "7",
        "--seed",
        "21",
        "--write-directory",
        dir_csv.to_str().unwrap(),
    ]);
    let directory = Directory::from_csv_path(&dir_csv).expect("the directory was written first");
    assert_eq!(directory.len(), 14);
    let first = &directory.users()[0];
    let (account, user) = (first.account_id.as_str(), first.user_id.as_str());
    let before = sim.state();

    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "reset-personal-pin",
            "--account-id",
            account,
            "--user-id",
            user,
        ],
    );
    assert!(ok, "reset-personal-pin failed: {err}");
    // Members print in the model's order.
    let members = [
        "\"UserId\"",
        "\"AccountId\"",
        "\"PrimaryEmail\"",
        "\"DisplayName\"",
        "\"LicenseType\"",
        "\"UserType\"",
        "\"UserRegistrationStatus\"",
        "\"UserInvitationStatus\"",
        "\"RegisteredOn\"",
        "\"InvitedOn\"",
        "\"AlexaForBusinessMetadata\"",
        "\"PersonalPIN\"",
    ];
    let positions: Vec<Option<usize>> = members.iter().map(|m| out.find(m)).collect();
    assert!(
        positions.iter().all(Option::is_some),
        "a member is missing from the CLI output"
    );
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "members are out of model order"
    );
    let json: Value = serde_json::from_str(&out).unwrap();
    let pin = json["User"]["PersonalPIN"].as_str().unwrap();
    assert!(is_ten_digits(pin));
    assert_eq!(json["User"]["UserId"], user);
    assert_eq!(
        json["User"]["AlexaForBusinessMetadata"]["IsAlexaForBusinessEnabled"],
        false
    );
    let after = sim.state();
    assert!(
        pin_of(&after, user) == pin && pin_of(&before, user) != pin,
        "the CLI saw the new PIN"
    );

    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &["get-user", "--account-id", account, "--user-id", user],
    );
    assert!(ok, "get-user failed: {err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert!(
        json["User"]["PersonalPIN"] == pin,
        "get-user shows the current PIN"
    );
    assert_eq!(json["User"]["PrimaryEmail"], first.email.as_str());

    // The CLI pages on its own: 7 users at 3 a page take 3 requests.
    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &["list-users", "--account-id", account, "--page-size", "3"],
    );
    assert!(ok, "list-users failed: {err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let listed: Vec<&str> = json["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserId"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = directory
        .users()
        .iter()
        .filter(|u| u.account_id == account)
        .map(|u| u.user_id.as_str())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(sim.state()["requests"]["ListUsers"]["200"], 3);

    // And by hand with --max-items / --starting-token.
    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "list-users",
            "--account-id",
            account,
            "--page-size",
            "2",
            "--max-items",
            "4",
        ],
    );
    assert!(ok, "list-users failed: {err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["Users"].as_array().unwrap().len(), 4);
    let token = json["NextToken"]
        .as_str()
        .expect("a truncated listing has a NextToken");
    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "list-users",
            "--account-id",
            account,
            "--page-size",
            "2",
            "--starting-token",
            token,
        ],
    );
    assert!(ok, "list-users failed: {err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let rest: Vec<&str> = json["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserId"].as_str().unwrap())
        .collect();
    assert_eq!(rest, expected[4..]);

    let (ok, _, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "get-user",
            "--account-id",
            account,
            "--user-id",
            "00000000-0000-4000-8000-000000000000",
        ],
    );
    assert!(!ok);
    assert!(err.contains("NotFoundException"), "{err}");

    let stderr = sim.stop();
    assert!(
        stderr.contains("ResetPersonalPIN") && stderr.contains("max in flight"),
        "{stderr}"
    );
    assert!(!stderr.contains(pin), "no PIN on stderr");
}

#[test]
fn simulate_serves_a_directory_file_with_faults_and_a_log() {
    let Some(aws_cli) = support::aws_cli("simulate_serves_a_directory_file_with_faults_and_a_log")
    else {
        return;
    };
    let work = Workdir::new();
    let account = "aaaaaaaa-0000-4000-8000-000000000001";
    let forbidden = "aaaaaaaa-0000-4000-8000-000000000002";
    let dir = work.write(
        "people.csv",
        format!(
            "account_id,user_id,email,display_name,license_type,user_type,registration_status\n\
             {account},bbbbbbbb-0000-4000-8000-000000000001,ann@example.com,Ann,Basic,SharedDevice,Unregistered\n\
             {account},bbbbbbbb-0000-4000-8000-000000000002,bob@example.com,Bob,Pro,PrivateUser,Registered\n\
             {forbidden},bbbbbbbb-0000-4000-8000-000000000003,cy@example.com,Cy,Pro,PrivateUser,Registered\n"
        ),
    );
    let log = work.path("log.jsonl");
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        dir.to_str().unwrap(),
        "--forbidden-account",
        forbidden,
        "--log",
        log.to_str().unwrap(),
        "--throttle-rps",
        "1000",
    ]);
    let state = sim.state();
    assert_eq!(state["users"].as_array().unwrap().len(), 3);
    assert_eq!(state["users"][0]["primary_email"], "ann@example.com");

    let (ok, out, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "get-user",
            "--account-id",
            account,
            "--user-id",
            "bbbbbbbb-0000-4000-8000-000000000001",
        ],
    );
    assert!(ok, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["User"]["LicenseType"], "Basic");
    assert_eq!(json["User"]["UserType"], "SharedDevice");
    assert_eq!(json["User"]["UserRegistrationStatus"], "Unregistered");
    assert_eq!(json["User"]["UserInvitationStatus"], "Pending");
    let (ok, _, err) = aws(
        &aws_cli,
        sim.endpoint(),
        &[
            "reset-personal-pin",
            "--account-id",
            forbidden,
            "--user-id",
            "bbbbbbbb-0000-4000-8000-000000000003",
        ],
    );
    assert!(!ok && err.contains("ForbiddenException"), "{err}");

    let stderr = sim.stop();
    assert!(
        stderr.contains("403"),
        "the counters table names the statuses: {stderr}"
    );
    let lines: Vec<Value> = work
        .read("log.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the log is flushed at shutdown");
    assert_eq!(lines[1]["status"], 403);
    assert_eq!(lines[1]["account_id"], forbidden);

    // A broken directory stops `simulate` before it prints an endpoint, naming file and line.
    let broken = work.write(
        "broken.csv",
        "account_id,user_id,email,display_name\nx,y,z,w\n",
    );
    let out = bin()
        .args(["simulate", "--directory", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.csv:2:"), "{stderr}");
}

#[test]
fn simulate_generates_the_same_directory_for_the_same_seed() {
    let work = Workdir::new();
    let paths = ["a.csv", "b.csv", "c.csv"].map(|n| work.path(n));
    for (path, seed) in paths.iter().zip(["4", "4", "5"]) {
        let sim = SimulatorProcess::spawn(&[
            "--accounts",
            "2",
            "--users-per-account",
            "3",
            "--seed",
            seed,
            "--write-directory",
            path.to_str().unwrap(),
        ]);
        let state = sim.state();
        assert_eq!(state["users"].as_array().unwrap().len(), 6);
        sim.stop();
    }
    assert_eq!(work.read("a.csv"), work.read("b.csv"));
    assert_ne!(work.read("a.csv"), work.read("c.csv"));
    assert_eq!(work.read("a.csv").lines().count(), 7);
}
