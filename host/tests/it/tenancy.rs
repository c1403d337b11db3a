//! No organisation reaches another's things, whatever the endpoint. The
//! endpoints come from the server's own OpenAPI document, so one added
//! later is tried without editing this file. Two sibling organisations, A
//! and B, each with a full admin; A holds one of everything (users, keys,
//! webhooks paused and not, a delivery, a plugin, an application and its
//! token). B's admin then calls every `/v1/orgs/{org_id}/…` endpoint with
//! A's organisation and ids, and with its own organisation and A's ids.
//! Every answer must be 401/403/404/422 and carry none of A's data, and
//! afterwards every row of A's, secrets and hashes included, must be
//! byte for byte as before, and A's credentials must still work.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::access::service_key;
use crate::both;
use crate::support::{Backend, Receiver, TestDb, TestEnv, event, plugin_wasm};

both!(another_organisation_changes_and_reads_nothing_through_any_endpoint);

const EVERY_SCOPE: [&str; 9] = [
    "files:read",
    "files:write",
    "shares:read",
    "shares:write",
    "links:create",
    "search:read",
    "admin:read",
    "admin:write",
    "events:write",
];

/// What one organisation holds, for the attack and the checks after it.
#[derive(Default)]
struct Holdings {
    org: String,
    admin_key: String,
    ids: BTreeMap<&'static str, String>,
    /// Values that must never appear in an answer to the other organisation.
    markers: Vec<String>,
    client_id: String,
    client_secret: String,
    access_token: String,
    service_key: String,
    webhook_secret: String,
}

async fn child_org(env: &TestEnv, name: &str) -> (String, String) {
    let (s, org) = env
        .call("POST", "/v1/orgs", Some(json!({"name": name})))
        .await;
    assert_eq!(s, 201, "{org}");
    let id = org["id"].as_str().unwrap().to_string();
    let (_, key) = service_key(env, &id, &env.admin_key, &EVERY_SCOPE).await;
    (id, key)
}

async fn upload_plugin(env: &TestEnv, org: &str, key: &str, name: &str) -> Value {
    let res = env
        .http
        .post(env.url(&format!("/v1/orgs/{org}/plugins?name={name}&kind=filter")))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(plugin_wasm("payload_field_filter")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Gives organisation A one of everything an endpoint could reach.
async fn furnish(env: &TestEnv, rx: &Receiver) -> Holdings {
    let (org, admin_key) = child_org(env, "Tenant A (victim)").await;
    let mut h = Holdings {
        org: org.clone(),
        admin_key: admin_key.clone(),
        ..Holdings::default()
    };
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let key = admin_key.clone();
        async move { env.call_as(&key, method, &path, body).await }
    };
    let plugin = upload_plugin(env, &org, &admin_key, "victim-filter").await;
    h.ids
        .insert("plugin_id", plugin["id"].as_str().unwrap().into());
    h.markers.push(plugin["sha256"].as_str().unwrap().into());
    h.markers.push("victim-filter".into());

    let (s, w) = call(
        "POST",
        format!("/v1/orgs/{org}/webhooks"),
        Some(json!({
            "name": "victim-crm-hook", "url": rx.url("/victim"), "events": ["SHARING"],
            "headers": {"Authorization": "Bearer victim-receiver-token"},
            "filter_plugins": [{"plugin_id": h.ids["plugin_id"], "config": {"pointer": "/role", "allowed": ["owner"]}}],
        })),
    )
    .await;
    assert_eq!(s, 201, "{w}");
    h.ids.insert("webhook_id", w["id"].as_str().unwrap().into());
    h.webhook_secret = w["secret"].as_str().unwrap().into();
    h.markers.extend([
        h.webhook_secret.clone(),
        "victim-crm-hook".into(),
        "victim-receiver-token".into(),
    ]);
    // A second webhook, paused with a queued delivery: a resume by anyone
    // else would release it.
    let (s, paused) = call(
        "POST",
        format!("/v1/orgs/{org}/webhooks"),
        Some(
            json!({"name": "victim-paused-hook", "url": rx.url("/paused"), "events": ["SHARING"]}),
        ),
    )
    .await;
    assert_eq!(s, 201);
    let paused_id = paused["id"].as_str().unwrap().to_string();
    h.markers.push(paused["secret"].as_str().unwrap().into());
    let (s, _) = call(
        "POST",
        format!("/v1/orgs/{org}/webhooks/{paused_id}/pause"),
        None,
    )
    .await;
    assert_eq!(s, 200);

    let mut ev = event("evt_victim_private", "SHARING", "share.member_added");
    ev["payload"] = json!({"role": "owner", "note": "victim-payload-text"});
    let (s, _) = call("POST", format!("/v1/orgs/{org}/events"), Some(ev)).await;
    assert_eq!(s, 202);
    h.markers.push("victim-payload-text".into());
    let delivered = rx.wait_for(1).await;
    assert_eq!(delivered[0].path, "/victim");
    // Wait until the delivery is recorded, so nothing of A's moves on its own.
    let d = loop {
        let (_, list) = call(
            "GET",
            format!("/v1/orgs/{org}/webhooks/{}/deliveries", h.ids["webhook_id"]),
            None,
        )
        .await;
        if list["data"][0]["status"] == "succeeded" {
            break list["data"][0]["id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    h.ids.insert("delivery_id", d);

    let (s, user) = call(
        "POST",
        format!("/v1/orgs/{org}/users"),
        Some(json!({"name": "victim-integration-account", "kind": "service", "permissions": ["files:read", "admin:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{user}");
    let uid = user["id"].as_str().unwrap().to_string();
    let (s, key) = call(
        "POST",
        format!("/v1/orgs/{org}/users/{uid}/api-keys"),
        Some(json!({"scopes": ["admin:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    h.ids.insert("user_id", uid);
    h.ids.insert("key_id", key["id"].as_str().unwrap().into());
    h.service_key = key["key"].as_str().unwrap().into();
    h.markers
        .extend([h.service_key.clone(), "victim-integration-account".into()]);

    let (s, app) = call(
        "POST",
        format!("/v1/orgs/{org}/applications"),
        Some(json!({"name": "victim-ci-app", "description": "victim-app-description", "scopes": ["files:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{app}");
    h.ids
        .insert("application_id", app["id"].as_str().unwrap().into());
    h.client_id = app["client_id"].as_str().unwrap().into();
    h.client_secret = app["client_secret"].as_str().unwrap().into();
    h.access_token = client_credentials(env, &h.client_id, &h.client_secret).await;
    h.markers.extend([
        h.client_secret.clone(),
        h.access_token.clone(),
        "victim-ci-app".into(),
        "victim-app-description".into(),
        admin_key,
    ]);
    h
}

async fn client_credentials(env: &TestEnv, id: &str, secret: &str) -> String {
    let res = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "client credentials of {id}");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Every row of the organisation's, in every table with an `org_id`
/// column (found from the schema, so new tables are covered), plus the
/// rows of tables keyed by webhook only (`delivery_queue`, health hours),
/// all as text, secrets and hashes included.
async fn org_rows(db: &TestDb, org: &str) -> BTreeMap<String, Vec<String>> {
    use sqlx::{Connection, Row};
    let mut out = BTreeMap::new();
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let tables = sqlx::query(
            "SELECT c.table_name::text AS t, bool_or(c.column_name = 'org_id') AS has_org, \
                    bool_or(c.column_name = 'webhook_id') AS has_hook \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_name = c.table_name AND t.table_schema = c.table_schema \
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' GROUP BY c.table_name",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        for t in tables {
            let name: String = t.get("t");
            let filter = if t.get::<bool, _>("has_org") {
                "x.org_id = $1"
            } else if t.get::<bool, _>("has_hook") {
                "x.webhook_id IN (SELECT id FROM webhooks WHERE org_id = $1)"
            } else {
                continue;
            };
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT x::text AS r FROM {name} x WHERE {filter} ORDER BY 1"
            )))
            .bind(org)
            .fetch_all(&mut c)
            .await
            .unwrap();
            out.insert(name, rows.iter().map(|r| r.get("r")).collect());
        }
        let _ = c.close().await;
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let tables = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        for t in tables {
            let name: String = t.get("name");
            let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info($1)")
                .bind(&name)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("name"))
                .collect();
            let filter = if cols.iter().any(|c| c == "org_id") {
                "org_id = $1"
            } else if cols.iter().any(|c| c == "webhook_id") {
                "webhook_id IN (SELECT id FROM webhooks WHERE org_id = $1)"
            } else {
                continue;
            };
            let row = cols
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {row} AS r FROM \"{name}\" WHERE {filter} ORDER BY 1"
            )))
            .bind(org)
            .fetch_all(&mut c)
            .await
            .unwrap();
            out.insert(name, rows.iter().map(|r| r.get("r")).collect());
        }
        let _ = c.close().await;
    }
    out.insert("orgs (the row itself)".into(), vec![org.to_string()]);
    out
}

/// A body an endpoint would accept from its own organisation, so that a
/// missing check would change something rather than fail validation.
/// References to plugins name A's, so attaching another organisation's
/// plugin is tried too. Endpoints not listed get `{}` (JSON) or a real
/// component (`application/wasm`).
fn body_for(method: &str, template: &str, a: &Holdings) -> Option<Value> {
    let plugin = &a.ids["plugin_id"];
    Some(match (method, template) {
        ("POST", "/v1/orgs/{org_id}/events") => {
            event("evt_intruder", "SHARING", "share.member_added")
        }
        ("POST", "/v1/orgs/{org_id}/webhooks") => json!({
            "name": "intruder", "url": "http://127.0.0.1:9/", "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": plugin, "config": null}],
        }),
        ("PATCH", "/v1/orgs/{org_id}/webhooks/{webhook_id}") => json!({
            "name": "pwned", "url": "http://127.0.0.1:9/pwned", "paused": true,
            "filter_plugins": [{"plugin_id": plugin, "config": null}],
        }),
        ("POST", "/v1/orgs/{org_id}/users") => {
            json!({"name": "intruder", "kind": "service", "permissions": ["admin:write"]})
        }
        ("PATCH", "/v1/orgs/{org_id}/users/{user_id}") => {
            json!({"name": "pwned", "permissions": ["admin:write", "admin:read"]})
        }
        ("POST", "/v1/orgs/{org_id}/users/{user_id}/api-keys") => json!({"scopes": ["admin:read"]}),
        ("POST", "/v1/orgs/{org_id}/applications") => {
            json!({"name": "intruder", "scopes": ["files:read"]})
        }
        ("PATCH", "/v1/orgs/{org_id}/applications/{application_id}") => {
            json!({"name": "pwned", "scopes": ["admin:write"], "redirect_uris": ["https://evil.example/cb"]})
        }
        ("POST", "/v1/orgs/{org_id}/webhooks/{webhook_id}/recover") => {
            json!({"since": "2000-01-01T00:00:00Z"})
        }
        ("POST", "/v1/orgs/{org_id}/plugins/{plugin_id}/test") => {
            json!({"event": event("evt_probe", "SHARING", "share.a"), "config": {"pointer": "/role", "allowed": ["owner"]}})
        }
        _ => return None,
    })
}

/// Query strings an endpoint needs to get past its own validation.
fn query_for(op: &Value) -> String {
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    let pairs: Vec<String> = names
        .iter()
        .map(|n| match *n {
            "name" => "name=victim-filter".to_string(),
            "kind" => "kind=filter".to_string(),
            other => format!("{other}=x"),
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The path with `{org_id}` set to `org` and every other parameter set to
/// A's id of that name; panics on a parameter it has no id for, so a new
/// kind of id is noticed rather than skipped.
fn fill(template: &str, org: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        let param = &rest[open + 1..close];
        if param == "org_id" {
            out.push_str(org);
        } else {
            let id = ids.get(param).unwrap_or_else(|| {
                panic!("{template}: no id of organisation A for {{{param}}}; add one to furnish()")
            });
            out.push_str(id);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn another_organisation_changes_and_reads_nothing_through_any_endpoint(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let a = furnish(&env, &rx).await;
    let (b_org, b_key) = child_org(&env, "Tenant B (intruder)").await;
    // B has things of its own too, so a check that only asks "does this
    // organisation have such a thing" is caught.
    upload_plugin(&env, &b_org, &b_key, "intruder-filter").await;

    let before = org_rows(&env.db, &a.org).await;
    assert!(
        before.get("webhooks").is_some_and(|r| r.len() == 2)
            && before.get("api_keys").is_some_and(|r| r.len() >= 2),
        "A is furnished: {before:?}"
    );

    let doc: Value = env
        .http
        .get(env.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tried = 0;
    for (template, ops) in doc["paths"].as_object().unwrap() {
        if !template.contains("{org_id}") {
            continue;
        }
        let names_an_id = template.matches('{').count() > 1;
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_uppercase();
            // A's organisation with A's ids; B's organisation with A's ids
            // (only where the path names an id beyond the organisation).
            let mut targets = vec![fill(template, &a.org, &a.ids)];
            if names_an_id {
                targets.push(fill(template, &b_org, &a.ids));
            }
            let content = &op["requestBody"]["content"];
            for path in targets {
                let url = env.url(&format!("{path}{}", query_for(op)));
                let mut req = env
                    .http
                    .request(method.parse().unwrap(), &url)
                    .bearer_auth(&b_key);
                if content.get("application/wasm").is_some() {
                    // A component's preamble: the organisation is checked
                    // before the body is looked at, and a short body is
                    // read whole (an unread large one closes the
                    // connection under the next request).
                    req = req
                        .header("content-type", "application/wasm")
                        .body(b"\0asm\x0d\0\x01\0".to_vec());
                } else if content.get("application/json").is_some() {
                    req = req.json(&body_for(&method, template, &a).unwrap_or(json!({})));
                }
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let text = res.text().await.unwrap();
                assert!(
                    matches!(status, 401 | 403 | 404 | 422),
                    "{method} {path} by another organisation's admin answered {status}: {text}"
                );
                for m in &a.markers {
                    assert!(
                        !text.contains(m.as_str()),
                        "{method} {path} answered A's data ({m:?}): {text}"
                    );
                }
                tried += 1;
            }
        }
    }
    assert!(tried >= 40, "only {tried} calls were tried");
    // B attaching A's plugin to B's own new webhook: the body's reference
    // crosses organisations, not the path.
    let (s, err) = env
        .call_as(
            &b_key,
            "POST",
            &format!("/v1/orgs/{b_org}/webhooks"),
            body_for("POST", "/v1/orgs/{org_id}/webhooks", &a),
        )
        .await;
    assert!(matches!(s, 404 | 422), "attaching A's plugin: {s} {err}");

    let after = org_rows(&env.db, &a.org).await;
    for (table, rows) in &before {
        assert_eq!(
            rows, &after[table],
            "organisation A's {table} changed under another organisation's calls"
        );
    }
    assert_eq!(before.len(), after.len());

    // A's credentials all still work, and its webhook still signs with
    // the same secret.
    for key in [&a.admin_key, &a.service_key, &a.access_token] {
        let (s, me) = env.call_as(key, "GET", "/v1/me", None).await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["org_id"], a.org.as_str());
    }
    client_credentials(&env, &a.client_id, &a.client_secret).await;
    let mut ev = event("evt_after_the_attack", "SHARING", "share.member_added");
    ev["payload"] = json!({"role": "owner"});
    let (s, _) = env
        .call_as(
            &a.admin_key,
            "POST",
            &format!("/v1/orgs/{}/events", a.org),
            Some(ev),
        )
        .await;
    assert_eq!(s, 202);
    let got = rx.wait_for(2).await;
    let last = got
        .iter()
        .find(|r| r.body.windows(20).any(|w| w == b"evt_after_the_attack"))
        .unwrap();
    assert_eq!(last.path, "/victim");
    assert_eq!(
        last.header("x-scaidrive-signature"),
        crate::support::independent_signature(&a.webhook_secret, &last.body)
    );
    env.finish().await;
}
