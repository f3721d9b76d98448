//! The wire itself: signatures, Chime's and STS's error forms, the state document and the
//! request log, and the directory CSV.

use super::*;

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
    get_user(&right, &account, &user).await.unwrap();

    let wrong = chime_client_with(
        sim.endpoint(),
        crate::support::ACCESS_KEY_ID,
        "not-the-secret",
    );
    assert_reset_refused(&wrong, (&account, &user), "ForbiddenException", 403).await;
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
    assert_refused!(
        get_user(&client, account, "00000000-0000-4000-8000-000000000000").await,
        GetUserError::NotFoundException
    );

    let state = fetch_state_async(sim.endpoint()).await;
    assert_eq!(
        sorted_keys(&state),
        [
            "late_applied",
            "late_pending",
            "max_in_flight",
            "no_pin",
            "requests",
            "users"
        ]
    );
    assert_eq!(
        (
            state["late_applied"].as_u64(),
            state["late_pending"].as_u64(),
            state["no_pin"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    let max_in_flight = state["max_in_flight"].as_u64().expect("max_in_flight");
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
        assert_eq!(
            sorted_keys(user),
            [
                "account_id",
                "display_name",
                "logout_count",
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
    assert_eq!(counters.max_in_flight, max_in_flight);

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
        Some(max_in_flight),
        "the state's maximum is the log's"
    );
    // Every reset that arrived within 250 ms of the first was held alongside it (300 ms each):
    // at least that many were in flight together (all eight, unless the machine delayed some).
    let arrived: Vec<f64> = resets
        .iter()
        .map(|l| l["at_unix_ms"].as_f64().unwrap())
        .collect();
    let first = arrived.iter().copied().fold(f64::INFINITY, f64::min);
    let together = arrived.iter().filter(|at| **at < first + 250.0).count() as u64;
    assert!(
        (together..=8).contains(&max_in_flight),
        "{max_in_flight} in flight at most, {together} arrived within the first 250 ms"
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
    let written = work.read("directory.csv");
    assert_eq!(
        written.lines().next(),
        Some(
            "account_id,user_id,email,display_name,license_type,user_type,\
             registration_status,account_name,account_status"
        ),
        "the README's directory header"
    );
    for id in a.accounts() {
        assert_eq!(a.account(id), b.account(id), "account details round-trip");
    }
    let names: Vec<&str> = a
        .accounts()
        .iter()
        .map(|id| a.account(id).unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Example Corp 1", "Example Corp 2", "Example Corp 3"]
    );

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
    let account = c.account(&c.users()[0].account_id).unwrap();
    assert_eq!(
        (account.name.as_str(), account.status.as_str()),
        ("Example Corp 1", "Active"),
        "a file without account columns still reads"
    );

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

/// The text between `<tag>` and `</tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_answers_in_the_query_protocols_xml() {
    let sim = Simulator::start(SimulatorConfig {
        directory: Directory::generate(1, 1, 3),
        caller_arn: "arn:aws:iam::210987654321:user/alice".into(),
        faults: Faults {
            unauthorized_key: Some("AKIDRAW".into()),
            // The faults model Chime: STS meets none of these.
            fail_rate: 1.0,
            throttle_rps: Some(0.001),
            throttle_burst: 1,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/", sim.endpoint());
    let answers = tokio::task::spawn_blocking(move || {
        let form = "application/x-www-form-urlencoded; charset=utf-8";
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let post = |auth: Option<String>| {
            let mut headers = vec![("content-type", form)];
            if let Some(auth) = &auth {
                headers.push(("authorization", auth.as_str()));
            }
            raw_request("POST", &url, &headers, body)
        };
        let other_key = fake_authorization("sts").replace("AKIDRAW", "AKIDOTHER");
        [
            post(Some(other_key.clone())),
            post(Some(other_key)),
            post(Some(fake_authorization("sts"))),
            post(Some(fake_authorization("chime"))),
            post(None),
        ]
    })
    .await
    .unwrap();

    let (status, headers, body) = &answers[0];
    assert_eq!(*status, 200, "{body}");
    assert_eq!(headers["content-type"], "text/xml");
    assert!(body.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(
        xml_text(body, "Arn"),
        Some("arn:aws:iam::210987654321:user/alice")
    );
    assert_eq!(xml_text(body, "Account"), Some("210987654321"));
    let user_id = xml_text(body, "UserId").unwrap();
    assert!(
        user_id.starts_with("AIDA") && user_id.len() == 21,
        "{user_id}"
    );
    assert_eq!(
        xml_text(body, "RequestId"),
        Some(headers["x-amzn-requestid"].as_str())
    );
    assert_eq!(
        xml_text(&answers[1].2, "UserId"),
        Some(user_id),
        "the same key, the same UserId"
    );

    let expected = [
        (403, "InvalidClientTokenId"),
        (403, "SignatureDoesNotMatch"),
        (403, "MissingAuthenticationToken"),
    ];
    for ((status, headers, body), (want_status, code)) in answers[2..].iter().zip(expected) {
        assert_eq!(*status, want_status, "{body}");
        assert_eq!(headers["content-type"], "text/xml");
        assert!(!headers.contains_key("x-amzn-errortype"));
        assert!(body.starts_with("<ErrorResponse"), "{body}");
        assert_eq!(xml_text(body, "Type"), Some("Sender"));
        assert_eq!(xml_text(body, "Code"), Some(code));
        assert!(xml_text(body, "Message").is_some_and(|m| !m.is_empty()));
        assert_eq!(
            xml_text(body, "RequestId"),
            Some(headers["x-amzn-requestid"].as_str())
        );
    }
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("GetCallerIdentity", "200"), 2);
    assert_eq!(counters.get("GetCallerIdentity", "403"), 3);
    assert_eq!(counters.total("GetCallerIdentity"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sts_the_identity_call_is_an_unknown_request() {
    let sim = Simulator::start(SimulatorConfig {
        directory: Directory::generate(1, 1, 3),
        serve_sts: false,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/", sim.endpoint());
    let (status, headers, body) = tokio::task::spawn_blocking(move || {
        let auth = fake_authorization("sts");
        raw_request(
            "POST",
            &url,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &auth),
            ],
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "BadRequestException");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["Code"], "BadRequest");
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("Unknown", "400"), 1);
    assert_eq!(counters.total("GetCallerIdentity"), 0);
}
