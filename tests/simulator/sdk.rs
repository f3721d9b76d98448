//! The three user operations and GetAccount through aws-sdk-chime: answers, pages and each
//! modelled error.

use super::*;

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
async fn sdk_gets_accounts_with_their_details_and_errors() {
    use aws_sdk_chime::operation::get_account::GetAccountError;
    use aws_sdk_chime::types::{AccountStatus, AccountType, License};

    let mut directory = Directory::generate(3, 1, 11);
    let ids: Vec<String> = directory.accounts().iter().map(|a| a.to_string()).collect();
    directory.set_account(DirectoryAccount {
        account_id: ids[1].clone(),
        name: "Acme Ltd".into(),
        status: "Suspended".into(),
    });
    let sim = Simulator::start(SimulatorConfig {
        directory,
        caller_arn: "arn:aws:iam::210987654321:user/alice".into(),
        faults: Faults {
            forbidden_accounts: vec![ids[2].clone()],
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = chime_client(sim.endpoint());
    let get = |id: &str| client.get_account().account_id(id).send();

    let first = get(&ids[0]).await.unwrap();
    let account = first.account().expect("an answer holds the account");
    assert_eq!(account.aws_account_id(), "210987654321");
    assert_eq!(account.account_id(), ids[0]);
    assert_eq!(account.name(), "Example Corp 1");
    assert_eq!(account.account_type(), Some(&AccountType::Team));
    assert!(
        account.created_timestamp().is_some(),
        "the timestamp parses"
    );
    assert_eq!(account.default_license(), Some(&License::Pro));
    assert_eq!(account.supported_licenses(), [License::Basic, License::Pro]);
    assert_eq!(account.account_status(), Some(&AccountStatus::Active));
    assert!(account.signin_delegate_groups().is_empty());
    let second = get(&ids[1]).await.unwrap();
    let account = second.account().unwrap();
    assert_eq!(
        (account.name(), account.account_status()),
        ("Acme Ltd", Some(&AccountStatus::Suspended))
    );

    let err = get("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetAccountError::NotFoundException(_))
    ));
    let err = get(&ids[2]).await.unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetAccountError::ForbiddenException(_))
    ));
    let err = get("not-a-guid").await.unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetAccountError::BadRequestException(_))
    ));
    let counters = sim.shutdown().await;
    assert_eq!(counters.get("GetAccount", "200"), 2);
    assert_eq!(counters.get("GetAccount", "404"), 1);
    assert_eq!(counters.get("GetAccount", "403"), 1);
    assert_eq!(counters.get("GetAccount", "400"), 1);

    // A role that may only reset: GetAccount is refused, the rest works.
    let sim = start(
        1,
        1,
        Faults {
            get_account_forbidden: true,
            ..Faults::default()
        },
    )
    .await;
    let client = chime_client(sim.endpoint());
    let (account, user) = user_ids(&sim.state(), 0);
    let err = client
        .get_account()
        .account_id(&account)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_service_error(),
        Some(GetAccountError::ForbiddenException(_))
    ));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    reset(&client, &account, &user)
        .await
        .expect("a reset still works");
    sim.shutdown().await;
}
