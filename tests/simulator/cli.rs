//! The AWS CLI as an independent client of the `chime-pin-reset simulate` process.

use super::*;

#[test]
fn aws_cli_drives_the_simulator_process() {
    let Some(aws_cli) = support::aws_cli("simulator::cli::aws_cli_drives_the_simulator_process")
    else {
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
    let cli = AwsCli::new(&aws_cli, sim.endpoint());

    let out = cli.chime(&on_user("reset-personal-pin", account, user));
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

    let json = cli.chime_json(&on_user("get-user", account, user));
    assert!(
        json["User"]["PersonalPIN"] == pin,
        "get-user shows the current PIN"
    );
    assert_eq!(json["User"]["PrimaryEmail"], first.email.as_str());

    // The CLI pages on its own: 7 users at 3 a page take 3 requests.
    let json = cli.chime_json(&["list-users", "--account-id", account, "--page-size", "3"]);
    let listed = user_ids_listed(&json);
    let expected: Vec<&str> = directory
        .users()
        .iter()
        .filter(|u| u.account_id == account)
        .map(|u| u.user_id.as_str())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(sim.state()["requests"]["ListUsers"]["200"], 3);

    // And by hand with --max-items / --starting-token.
    let list_by_twos = |more: &[&str]| {
        let args = ["list-users", "--account-id", account, "--page-size", "2"];
        cli.chime_json(&[&args, more].concat())
    };
    let json = list_by_twos(&["--max-items", "4"]);
    assert_eq!(json["Users"].as_array().unwrap().len(), 4);
    let token = json["NextToken"]
        .as_str()
        .expect("a truncated listing has a NextToken");
    let json = list_by_twos(&["--starting-token", token]);
    assert_eq!(user_ids_listed(&json), expected[4..]);

    let unknown = "00000000-0000-4000-8000-000000000000";
    cli.assert_chime_refused(&on_user("get-user", account, unknown), "NotFoundException");

    let stderr = sim.stop();
    assert!(
        stderr.contains("ResetPersonalPIN") && stderr.contains("max in flight"),
        "{stderr}"
    );
    assert!(!stderr.contains(pin), "no PIN on stderr");
}

#[test]
fn simulate_serves_a_directory_file_with_faults_and_a_log() {
    let Some(aws_cli) =
        support::aws_cli("simulator::cli::simulate_serves_a_directory_file_with_faults_and_a_log")
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
        // The answers below wait on the simulator's own clock: the AWS CLI reads them as well.
        "--latency-ms",
        "30",
    ]);
    let state = sim.state();
    assert_eq!(state["users"].as_array().unwrap().len(), 3);
    assert_eq!(state["users"][0]["primary_email"], "ann@example.com");

    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let json = cli.chime_json(&on_user(
        "get-user",
        account,
        "bbbbbbbb-0000-4000-8000-000000000001",
    ));
    assert_eq!(json["User"]["LicenseType"], "Basic");
    assert_eq!(json["User"]["UserType"], "SharedDevice");
    assert_eq!(json["User"]["UserRegistrationStatus"], "Unregistered");
    assert_eq!(json["User"]["UserInvitationStatus"], "Pending");
    let cy = "bbbbbbbb-0000-4000-8000-000000000003";
    let reset_cy = on_user("reset-personal-pin", forbidden, cy);
    cli.assert_chime_refused(&reset_cy, "ForbiddenException");

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

#[test]
fn aws_cli_gets_the_caller_identity_and_its_errors() {
    use sha2::{Digest, Sha256};

    let Some(aws_cli) =
        support::aws_cli("simulator::cli::aws_cli_gets_the_caller_identity_and_its_errors")
    else {
        return;
    };
    let sim = SimulatorProcess::spawn(&[
        "--caller-arn",
        "arn:aws:iam::210987654321:user/alice",
        "--unauthorized-key",
        "AKIDREVOKED",
        "--expired-key",
        "AKIDEXPIRED",
        "--secret-key",
        support::SECRET_ACCESS_KEY,
    ]);
    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let identity = |env: &[(&str, &str)]| cli.run("sts", &["get-caller-identity"], env);

    let out = identity(&[]);
    assert!(
        out.status.success(),
        "get-caller-identity failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["Arn"], "arn:aws:iam::210987654321:user/alice");
    assert_eq!(json["Account"], "210987654321");
    // AIDA and 17 uppercase hex digits of the SHA-256 of the access key id.
    let digest = hex::encode_upper(Sha256::digest(support::ACCESS_KEY_ID.as_bytes()));
    assert_eq!(json["UserId"], format!("AIDA{}", &digest[..17]));

    for (env, code) in [
        (
            [("AWS_ACCESS_KEY_ID", "AKIDREVOKED")],
            "(InvalidClientTokenId)",
        ),
        ([("AWS_ACCESS_KEY_ID", "AKIDEXPIRED")], "(ExpiredToken)"),
        (
            [("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
            "(SignatureDoesNotMatch)",
        ),
    ] {
        let (exit, stderr) = failure(&identity(&env));
        assert_eq!(exit, Some(255), "{stderr}");
        assert!(stderr.contains(code), "{code}: {stderr}");
    }

    // Chime answers the same keys in its own forms.
    let account = sim.state()["users"][0]["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let get_account = |key: &str| {
        let args = ["get-account", "--account-id", &account];
        cli.run("chime", &args, &[("AWS_ACCESS_KEY_ID", key)])
    };
    let (_, stderr) = failure(&get_account("AKIDEXPIRED"));
    assert!(stderr.contains("(ExpiredTokenException)"), "{stderr}");
    let (_, stderr) = failure(&get_account("AKIDREVOKED"));
    assert!(stderr.contains("(UnauthorizedClientException)"), "{stderr}");
    let stderr = sim.stop();
    assert!(stderr.contains("GetCallerIdentity"), "{stderr}");

    // Without STS the endpoint speaks only Chime, and the CLI gets no identity.
    let sim = SimulatorProcess::spawn(&["--no-sts"]);
    let out = AwsCli::new(&aws_cli, sim.endpoint()).run("sts", &["get-caller-identity"], &[]);
    let (exit, _) = failure(&out);
    assert_eq!(exit, Some(255));
    let state = sim.state();
    assert!(state["requests"]["Unknown"]["400"].as_u64() >= Some(1));
    assert_eq!(
        state["requests"]["GetCallerIdentity"],
        serde_json::json!({})
    );
    sim.stop();
}

#[test]
fn aws_cli_gets_an_account() {
    let Some(aws_cli) = support::aws_cli("simulator::cli::aws_cli_gets_an_account") else {
        return;
    };
    let work = Workdir::new();
    let (acme, other) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
    );
    let dir = work.write(
        "accounts.csv",
        format!(
            "account_id,user_id,email,display_name,account_name,account_status\n\
             {acme},bbbbbbbb-0000-4000-8000-000000000001,ann@example.com,Ann,Acme Ltd,Suspended\n\
             {acme},bbbbbbbb-0000-4000-8000-000000000002,bob@example.com,Bob,,\n\
             {other},bbbbbbbb-0000-4000-8000-000000000003,cy@example.com,Cy,,\n"
        ),
    );
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        dir.to_str().unwrap(),
        "--caller-arn",
        "arn:aws:iam::210987654321:user/alice",
        "--forbidden-account",
        other,
    ]);
    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let json = cli.chime_json(&["get-account", "--account-id", acme]);
    let account = &json["Account"];
    assert_eq!(account["AwsAccountId"], "210987654321");
    assert_eq!(account["AccountId"], acme);
    assert_eq!(account["Name"], "Acme Ltd");
    assert_eq!(account["AccountType"], "Team");
    assert_eq!(account["DefaultLicense"], "Pro");
    assert_eq!(
        account["SupportedLicenses"],
        serde_json::json!(["Basic", "Pro"])
    );
    assert_eq!(account["AccountStatus"], "Suspended");
    assert_eq!(account["SigninDelegateGroups"], serde_json::json!([]));
    let created = account["CreatedTimestamp"].as_str().unwrap();
    assert!(
        created.len() == 24 && created.ends_with('Z') && &created[19..20] == ".",
        "Chime's timestamp form: {created}"
    );
    for (account, exception) in [
        (other, "(ForbiddenException)"),
        (
            "00000000-0000-4000-8000-000000000000",
            "(NotFoundException)",
        ),
    ] {
        cli.assert_chime_refused(&["get-account", "--account-id", account], exception);
    }
    sim.stop();

    // A role that may only reset.
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        dir.to_str().unwrap(),
        "--get-account-forbidden",
    ]);
    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let get_acme = ["get-account", "--account-id", acme];
    cli.assert_chime_refused(&get_acme, "(ForbiddenException)");
    cli.chime(&on_user(
        "reset-personal-pin",
        acme,
        "bbbbbbbb-0000-4000-8000-000000000002",
    ));
    let state = sim.state();
    assert_eq!(state["requests"]["GetAccount"]["403"], 1);
    assert_eq!(state["requests"]["ResetPersonalPIN"]["200"], 1);
    sim.stop();
}

#[test]
fn aws_cli_sees_the_keys_expire_mid_run_until_renewed() {
    let Some(aws_cli) =
        support::aws_cli("simulator::cli::aws_cli_sees_the_keys_expire_mid_run_until_renewed")
    else {
        return;
    };
    let sim = SimulatorProcess::spawn(&["--users-per-account", "3", "--expire-keys-after", "2"]);
    let state = sim.state();
    let (account, user) = user_ids(&state, 0);
    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let identity = || cli.run("sts", &["get-caller-identity"], &[]);
    let assert_all_expired = || {
        for args in [
            &on_user("reset-personal-pin", &account, &user)[..],
            &on_user("get-user", &account, &user),
            &["list-users", "--account-id", &account],
            &["get-account", "--account-id", &account],
        ] {
            cli.assert_chime_refused(args, "(ExpiredTokenException)");
        }
        let (exit, stderr) = failure(&identity());
        assert_eq!(exit, Some(255), "{stderr}");
        assert!(stderr.contains("(ExpiredToken)"), "{stderr}");
    };

    // The identity and account checks do not count; two user operations do.
    assert!(identity().status.success(), "the identity check works");
    cli.chime(&["get-account", "--account-id", &account]);
    cli.chime(&["list-users", "--account-id", &account]);
    cli.chime(&on_user("get-user", &account, &user));
    assert_all_expired();
    let expired = sim.state();
    assert_eq!(
        reset_count(&expired, &user),
        0,
        "a refused reset changes nothing"
    );
    assert_eq!(
        expired["requests"]["ResetPersonalPIN"],
        serde_json::json!({"403": 1})
    );
    assert_eq!(expired["requests"]["GetCallerIdentity"]["400"], 1);

    let renewed = support::set_credentials_expired(sim.endpoint(), false);
    assert_eq!(renewed, serde_json::json!({"expired": false}));
    assert!(identity().status.success(), "renewed keys work");
    for _ in 0..3 {
        cli.chime(&on_user("reset-personal-pin", &account, &user));
    }
    assert_eq!(
        reset_count(&sim.state(), &user),
        3,
        "and do not expire again"
    );

    let expired = support::set_credentials_expired(sim.endpoint(), true);
    assert_eq!(expired, serde_json::json!({"expired": true}));
    assert_all_expired();
    sim.stop();
}

#[test]
fn aws_cli_sees_the_gateway_errors_and_retries_them_as_its_own_retry_mode_says() {
    let Some(aws_cli) = support::aws_cli(
        "simulator::cli::aws_cli_sees_the_gateway_errors_and_retries_them_as_its_own_retry_mode_says",
    ) else {
        return;
    };
    let work = Workdir::new();
    let dir_csv = work.path("directory.csv");
    let sim = SimulatorProcess::spawn(&[
        "--gateway-error-rate",
        "1",
        "--write-directory",
        dir_csv.to_str().unwrap(),
    ]);
    let directory = Directory::from_csv_path(&dir_csv).expect("the directory was written first");
    let first = &directory.users()[0];
    let cli = AwsCli::new(&aws_cli, sim.endpoint());
    let args = on_user("get-user", &first.account_id, &first.user_id);
    let (_, stderr) = failure(&cli.run("chime", &args, &[("AWS_MAX_ATTEMPTS", "3")]));
    assert!(
        stderr.contains("502") || stderr.contains("504"),
        "the gateway's status: {stderr}"
    );
    let answered = &sim.state()["requests"]["GetUser"];
    let gateway = answered["502"].as_u64().unwrap_or(0) + answered["504"].as_u64().unwrap_or(0);
    assert_eq!(
        gateway, 3,
        "the AWS CLI retried them, three calls in all: {answered}"
    );
    sim.stop();
}

/// The user ids of a `list-users` answer, in order.
fn user_ids_listed(json: &Value) -> Vec<&str> {
    json["Users"]
        .as_array()
        .expect("a listing holds Users")
        .iter()
        .map(|u| u["UserId"].as_str().unwrap())
        .collect()
}

/// `OPERATION --account-id ACCOUNT --user-id USER`: the arguments of a call on one user.
fn on_user<'a>(operation: &'a str, account: &'a str, user: &'a str) -> [&'a str; 5] {
    [operation, "--account-id", account, "--user-id", user]
}
