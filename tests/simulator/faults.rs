//! Faults as the SDK sees them: throttling, service failures, lost, garbled and PIN-less
//! answers, and resets applied after the client gave up.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_answers_429_beyond_the_bucket() {
    let faults = Faults {
        throttle_rps: Some(0.01),
        throttle_burst: 2,
        ..Faults::default()
    };
    let (sim, client, account, user) = start_with_user(1, faults, None).await;
    assert_bucket_of_two(&client, &account, &user).await;
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
    let faults = Faults {
        fail_rate: 1.0,
        ..Faults::default()
    };
    let (sim, client, account, user) = start_with_user(1, faults, None).await;
    let mut seen = HashSet::new();
    for _ in 0..40 {
        let err = reset_refused(&client, &account, &user).await;
        seen.insert(variant_and_status(&err));
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

/// A lone user's reset that failed, with what the test needs to judge it.
struct LoneReset {
    sim: SimulatorHandle,
    user: String,
    /// The simulator's state before the reset.
    before: Value,
    err: ResetError,
}

impl LoneReset {
    /// Asserts that the failed reset was applied all the same: once, to a new PIN.
    fn assert_applied_all_the_same(&self, what: &str) {
        let after = self.sim.state();
        assert_eq!(reset_count(&after, &self.user), 1, "{what}");
        assert!(
            pin_of(&after, &self.user) != pin_of(&self.before, &self.user),
            "{what}"
        );
    }
}

/// Starts a simulator of one user with `faults`, logging to `log`, and resets that user once,
/// which must fail.
async fn lone_reset_refused(faults: Faults, log: &Path) -> LoneReset {
    let (sim, client, account, user) = start_with_user(1, faults, Some(log)).await;
    let before = sim.state();
    let err = reset_refused(&client, &account, &user).await;
    LoneReset {
        sim,
        user,
        before,
        err,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_answers_reach_the_client_as_connection_errors() {
    let work = Workdir::new();
    let logs = ["drop.jsonl", "reset-then-drop.jsonl", "garbage.jsonl"].map(|n| work.path(n));
    // Drop: no answer and nothing changed.
    let drop = Faults {
        drop_rate: 1.0,
        ..Faults::default()
    };
    let dropped = lone_reset_refused(drop, &logs[0]).await;
    let err = &dropped.err;
    assert!(
        matches!(err, SdkError::DispatchFailure(_)),
        "a drop is a dispatch failure: {err}"
    );
    assert!(err.raw_response().is_none(), "no response was received");
    assert_eq!(reset_count(&dropped.sim.state(), &dropped.user), 0);
    let counters = dropped.sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "dropped"), 1);

    // Reset then drop: no answer, but the PIN changed.
    let reset_then_drop = Faults {
        reset_then_drop_rate: 1.0,
        ..Faults::default()
    };
    let lost = lone_reset_refused(reset_then_drop, &logs[1]).await;
    assert!(
        matches!(lost.err, SdkError::DispatchFailure(_)),
        "{}",
        lost.err
    );
    assert!(lost.err.raw_response().is_none());
    lost.assert_applied_all_the_same("the lost reset changed the PIN");
    let counters = lost.sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "dropped"), 1);

    // Garbage: a 200 whose body is cut short, and the PIN changed.
    let garbage = Faults {
        garbage_rate: 1.0,
        ..Faults::default()
    };
    let garbled = lone_reset_refused(garbage, &logs[2]).await;
    let err = &garbled.err;
    // A 200 that does not parse: aws-sdk-rust reports a service error of no modelled variant and
    // no code, whose source is the deserialization error, with the 200 response attached.
    let context = DisplayErrorContext(err).to_string();
    assert!(matches!(err, SdkError::ServiceError(_)), "{context}");
    assert_eq!(
        reset_error_variant(err),
        "unhandled service error",
        "{context}"
    );
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.meta().code().is_none()));
    assert!(context.contains("unexpected end"), "{context}");
    assert_eq!(status_of(err), Some(200));
    garbled.assert_applied_all_the_same("the garbled reset changed the PIN");
    let counters = garbled.sim.shutdown().await;
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
async fn no_pin_answers_reset_the_pin_but_leave_it_out() {
    let work = Workdir::new();
    let log = work.path("no-pin.jsonl");
    let faults = Faults {
        no_pin_rate: 1.0,
        ..Faults::default()
    };
    let (sim, client, account, user) = start_with_user(1, faults, Some(&log)).await;
    let before = sim.state();
    let answer = client
        .reset_personal_pin()
        .account_id(&account)
        .user_id(&user)
        .send()
        .await
        .expect("a 200 without a PIN still parses");
    let answered = answer.user().expect("the answer holds a User");
    assert_eq!(answered.user_id(), user);
    assert!(answered.personal_pin().is_none(), "the PIN is left out");
    let after = sim.state();
    assert_eq!(reset_count(&after, &user), 1);
    assert!(
        pin_of(&after, &user) != pin_of(&before, &user),
        "the PIN changed all the same"
    );
    assert_eq!(after["no_pin"], 1);

    // Only resets lose their PIN: GetUser reads the new one back.
    assert!(pin_read_back(&client, &account, &user).await == pin_of(&after, &user));
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "200"), 1);
    assert_eq!(counters.no_pin, 1);
    let line = &std::fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&first["operation"], &first["outcome"], &first["status"]),
        (
            &Value::from("ResetPersonalPIN"),
            &Value::from("no-pin"),
            &Value::from(200)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_resets_apply_after_the_client_gave_up() {
    use aws_sdk_chime::config::timeout::TimeoutConfig;
    use std::time::Duration;

    let work = Workdir::new();
    let log = work.path("late.jsonl");
    let faults = Faults {
        late_apply_rate: 1.0,
        late_apply_ms: 1_500,
        ..Faults::default()
    };
    let (sim, patient, account, user) = start_with_user(2, faults, Some(&log)).await;
    let impatient = aws_sdk_chime::Client::from_conf(
        patient
            .config()
            .to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(200))
                    .build(),
            )
            .build(),
    );
    let before = sim.state();

    let err = reset_refused(&impatient, &account, &user).await;
    assert!(
        matches!(err, SdkError::TimeoutError(_)),
        "the client gives up: {err}"
    );
    let held = sim.state();
    assert_eq!(reset_count(&held, &user), 0, "the reset is still held");
    assert_eq!(held["late_pending"], 1, "and shown as pending");
    let applied = wait_for_state(sim.endpoint(), "no late reset pending", |state| {
        state["late_pending"] == 0
    })
    .await;
    assert_eq!(applied["late_applied"], 1, "none pending: it has landed");
    assert_eq!(reset_count(&applied, &user), 1);
    assert!(
        pin_of(&applied, &user) != pin_of(&before, &user),
        "the reset applied after the client had gone"
    );
    assert_eq!(
        applied["requests"]["ResetPersonalPIN"],
        serde_json::json!({"dropped": 1}),
        "nobody was there to answer"
    );

    // A client that waits long enough gets the answer, with the PIN now live.
    let (_, other) = user_ids(&before, 1);
    let pin = reset(&patient, &account, &other).await.unwrap();
    let after = sim.state();
    assert!(
        pin_of(&after, &other) == pin,
        "the answer carries the live PIN"
    );
    assert_eq!(after["late_applied"], 2);
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("ResetPersonalPIN", "200"), 1);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|l| (&l["outcome"], &l["status"]))
        .collect();
    assert_eq!(
        outcomes,
        [
            (&Value::from("late-applied"), &Value::Null),
            (&Value::from("late-applied"), &Value::from(200)),
        ]
    );
}
