//! People sign in as people: a user's email address (unique across
//! ScaiHub, kept in lower case, editable by an admin) signs them in to the
//! console and to `/oauth/authorize`, where a `usr_…` id was needed before.

use serde_json::json;

use crate::both;
use crate::console::{Browser, PASSWORD};
use crate::support::{Backend, TestEnv};

both!(people_sign_in_with_their_email_which_is_checked_unique_and_editable,);

async fn people_sign_in_with_their_email_which_is_checked_unique_and_editable(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let person = |email: serde_json::Value| {
        json!({"name": "Ana", "kind": "human", "password": PASSWORD,
            "permissions": ["admin:read"], "email": email})
    };
    // Checked by name; nothing is created by a refusal.
    for bad in [
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "a na@example.com",
        "ana@@example.com",
    ] {
        let (s, e) = env
            .call("POST", "/v1/orgs/{org}/users", Some(person(json!(bad))))
            .await;
        assert_eq!(s, 422, "{bad}: {e}");
        assert_eq!(e["field"], "email", "{e}");
    }
    let (s, ana) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(person(json!("  Ana.Lima@Example.COM "))),
        )
        .await;
    assert_eq!(s, 201, "{ana}");
    assert_eq!(ana["email"], "ana.lima@example.com");
    let ana_id = ana["id"].as_str().unwrap().to_string();

    // Unique across ScaiHub, whatever the case, in a child organisation too.
    let (_, child) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Child"})))
        .await;
    let child = child["id"].as_str().unwrap().to_string();
    let (s, e) = env
        .call(
            "POST",
            &format!("/v1/orgs/{child}/users"),
            Some(person(json!("ANA.LIMA@example.com"))),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["field"], "email");
    let (_, users) = env
        .call("GET", &format!("/v1/orgs/{child}/users"), None)
        .await;
    assert_eq!(users["data"].as_array().unwrap().len(), 0, "{users}");

    // The console takes the address, in any case, and still the id.
    for login in [
        "ana.lima@example.com",
        "Ana.Lima@Example.com",
        ana_id.as_str(),
    ] {
        let mut b = Browser::new(&env);
        let a = b.sign_in(login, PASSWORD).await;
        assert_eq!(a.status, 303, "{login}: {}", a.body);
        let home = b.get("/console/webhooks").await;
        assert_eq!(home.status, 200, "{login}");
    }
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in("ana.lima@example.com", "not the password")
            .await
            .status,
        401
    );

    // An admin changes it: the old address no longer signs in, the new one does.
    let (s, u) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/users/{ana_id}"),
            Some(json!({"email": "ana@example.org"})),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["email"], "ana@example.org");
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in("ana.lima@example.com", PASSWORD).await.status,
        401
    );
    let mut b = Browser::new(&env);
    assert_eq!(b.sign_in("ana@example.org", PASSWORD).await.status, 303);
    let (s, e) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/users/{ana_id}"),
            Some(json!({"email": "nope"})),
        )
        .await;
    assert_eq!((s, e["field"].clone()), (422, json!("email")));

    // A deleted user's address is free again.
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/users/{ana_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, again) = env
        .call(
            "POST",
            &format!("/v1/orgs/{child}/users"),
            Some(person(json!("ana@example.org"))),
        )
        .await;
    assert_eq!(s, 201, "{again}");
    env.finish().await;
}
