//! The admin endpoints under `/__simulator/`: a PIN set, a user removed, the throttle changed
//! behind the client's back.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_a_pin_behind_the_clients_back() {
    let sim = start(1, 2, Faults::default()).await;
    let client = chime_client(sim.endpoint());
    let before = sim.state();
    let (account, user) = user_ids(&before, 0);
    let path = format!("users/{account}/{user}/pin");

    let (status, answer) = admin(sim.endpoint(), "POST", &path, r#"{"pin":"0123456789"}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"account_id": account, "user_id": user, "done": "pin-set"})
    );
    let got = client
        .get_user()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .unwrap();
    assert!(
        got.user().unwrap().personal_pin() == Some("0123456789"),
        "GetUser sees the PIN set behind its back"
    );
    let state = sim.state();
    assert_eq!(
        reset_count(&state, &user),
        0,
        "setting a PIN is not a reset"
    );

    // An empty body: a fresh PIN from the seeded generator.
    let (status, _) = admin(sim.endpoint(), "POST", &path, "").await;
    assert_eq!(status, 200);
    let fresh = pin_of(&sim.state(), &user);
    assert!(
        is_ten_digits(&fresh) && fresh != "0123456789",
        "a fresh PIN"
    );

    for (path, body, want) in [
        (path.as_str(), r#"{"pin":"123"}"#, 400),
        (path.as_str(), r#"{"pin":12345678901}"#, 400),
        (path.as_str(), "not json", 400),
        (
            &format!("users/{account}/00000000-0000-4000-8000-000000000000/pin") as &str,
            "",
            404,
        ),
        ("users/nowhere", "", 404),
    ] {
        let (status, answer) = admin(sim.endpoint(), "POST", path, body).await;
        assert_eq!(status, want, "POST {path}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert!(
        pin_of(&sim.state(), &user) == fresh,
        "refused requests change nothing"
    );
    let counters = sim.shutdown().await;
    assert_eq!(counters.total_all(), 1, "admin requests are not counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_removes_a_user() {
    use aws_sdk_chime::operation::get_user::GetUserError;

    let sim = start(1, 3, Faults::default()).await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 1);
    let path = format!("users/{account}/{user}");
    let (status, answer) = admin(sim.endpoint(), "DELETE", &path, "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["done"], "removed");

    let err = client
        .get_user()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetUserError::NotFoundException(_))
    ));
    let err = reset(&client, &account, &user).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("NotFoundException", Some(404))
    );
    let listed = client
        .list_users()
        .account_id(&account)
        .send()
        .await
        .unwrap();
    let listed: Vec<&str> = listed.users().iter().map(|u| u.user_id()).collect();
    assert_eq!(listed.len(), 2);
    assert!(!listed.contains(&user.as_str()));
    let state = sim.state();
    assert_eq!(state["users"].as_array().unwrap().len(), 2);
    assert!(state["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["user_id"] != user.as_str()));

    let (status, _) = admin(sim.endpoint(), "DELETE", &path, "").await;
    assert_eq!(status, 404, "a removed user is gone");
    let (status, _) = admin(sim.endpoint(), "POST", &format!("{path}/pin"), "").await;
    assert_eq!(status, 404, "a removed user has no PIN to set");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_the_throttle_mid_run() {
    let sim = start(1, 1, Faults::default()).await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    for _ in 0..5 {
        reset(&client, &account, &user)
            .await
            .expect("no throttling at first");
    }
    let (status, answer) = admin(
        sim.endpoint(),
        "POST",
        "throttle",
        r#"{"rps": 0.001, "burst": 2}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({"rps": 0.001, "burst": 2.0}));
    reset(&client, &account, &user).await.unwrap();
    reset(&client, &account, &user).await.unwrap();
    let err = reset(&client, &account, &user).await.unwrap_err();
    assert_eq!(
        (reset_error_variant(&err), status_of(&err)),
        ("ThrottledClientException", Some(429))
    );

    let (status, answer) = admin(sim.endpoint(), "POST", "throttle", r#"{"rps": 0}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({"rps": 0.0, "burst": 0.0}));
    reset(&client, &account, &user)
        .await
        .expect("rps 0 turns throttling off");
    for body in [r#"{"rps": -1}"#, r#"{"burst": 2}"#, ""] {
        let (status, answer) = admin(sim.endpoint(), "POST", "throttle", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "200"), 8);
    assert_eq!(counters.get("ResetPersonalPIN", "429"), 1);
}
