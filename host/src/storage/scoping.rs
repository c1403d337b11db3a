//! The tenancy rule, checked on the source: every SQL statement in
//! `storage/` that reads or changes an organisation's rows names
//! `org_id` (or scopes itself through [`super::WEBHOOK_OF_ORG`]), unless
//! its function is one of the system operations listed below, each with
//! the reason it serves no single organisation's request. A new statement
//! that forgets the organisation fails this test instead of waiting for
//! an audit.

/// Tables whose rows belong to an organisation.
const ORG_TABLES: &[&str] = &[
    "users",
    "api_keys",
    "events",
    "webhooks",
    "deliveries",
    "delivery_queue",
    "attempts",
    "plugins",
    "plugin_names",
    "applications",
    "oauth_codes",
    "refresh_tokens",
    "console_sessions",
    "webhook_hours",
    "webhook_gates",
    "webhook_sends",
    "org_oidc",
    "oidc_domains",
    "oidc_sign_ins",
];

/// (file, function, why it is not scoped by organisation).
const SYSTEM: &[(&str, &str, &str)] = &[
    (
        "deliveries.rs",
        "record_completions",
        "the worker records attempts of deliveries it leased, by id",
    ),
    (
        "deliveries.rs",
        "claim_due",
        "the worker claims due work of every organisation",
    ),
    (
        "deliveries.rs",
        "next_due_at",
        "the worker's idle wake-up time, across organisations",
    ),
    (
        "deliveries.rs",
        "release_all_leases",
        "start-up: frees the leases a crashed process held",
    ),
    (
        "deliveries.rs",
        "count_owed_deliveries",
        "the /metrics gauge, a count across organisations",
    ),
    (
        "notify.rs",
        "renew_leases",
        "a live process renews the leases it holds",
    ),
    (
        "notify.rs",
        "release_leases",
        "a stopping process hands back what it holds",
    ),
    (
        "notify.rs",
        "take_over_dead",
        "a living process releases a dead one's leases",
    ),
    (
        "notify.rs",
        "still_leased",
        "a worker checks which of its holdings it still leases",
    ),
    (
        "health.rs",
        "record_health",
        "the recorder's health update for webhooks it delivered",
    ),
    (
        "health.rs",
        "sqlite_buckets_sql",
        "the recorder's bucket upsert of record_health (SQLite), for webhooks it delivered",
    ),
    (
        "health.rs",
        "postgres_buckets_sql",
        "the recorder's bucket upsert of record_health (PostgreSQL), for webhooks it delivered",
    ),
    (
        "health.rs",
        "all_webhook_health",
        "the /metrics gauges, across organisations",
    ),
    (
        "retention.rs",
        "webhook_ids",
        "retention walks every webhook",
    ),
    (
        "retention.rs",
        "prune_deliveries",
        "retention of finished deliveries, per webhook",
    ),
    (
        "retention.rs",
        "prune_events",
        "retention of events nothing refers to",
    ),
    (
        "retention.rs",
        "prune_health_hours",
        "retention of old health buckets",
    ),
    (
        "webhooks.rs",
        "get_webhook_by_id",
        "the worker reads the webhook of a delivery it leased",
    ),
    (
        "plugins.rs",
        "plugin_artifact",
        "the worker loads a plugin a webhook attached",
    ),
    (
        "scripts.rs",
        "script_of_plugin",
        "the worker loads a script plugin a webhook attached",
    ),
    (
        "scripts.rs",
        "any_script_plugin",
        "start-up: load the script engine early if any organisation has scripts",
    ),
    (
        "compiles.rs",
        "compiles_owed",
        "the compile queue picks up versions left compiling, across organisations",
    ),
    (
        "compiles.rs",
        "release_compile_claims",
        "start-up on SQLite: frees the compile claims a crashed process held",
    ),
    (
        "plugins.rs",
        "webhooks_naming_plugin",
        "a delete checks attachments from the plugin's organisation and its children",
    ),
    (
        "applications.rs",
        "application_live",
        "token verification: is the token's client live",
    ),
    (
        "applications.rs",
        "take_code",
        "a code is spent by its hash, by the client it was issued to",
    ),
    (
        "applications.rs",
        "take_refresh",
        "a refresh token is spent by its hash, by its client",
    ),
    (
        "applications.rs",
        "revoke",
        "revocation by token id or family, by the token's own client",
    ),
    (
        "applications.rs",
        "user_for_login",
        "sign-in looks a person up by login",
    ),
    (
        "applications.rs",
        "user_permissions",
        "a token's subject's current permissions, by id",
    ),
    (
        "orgs.rs",
        "find_api_key",
        "authentication: the key's hash finds its principal",
    ),
    (
        "sessions.rs",
        "console_session",
        "a console session is found by its token's hash",
    ),
    (
        "sessions.rs",
        "set_console_session_org",
        "a person's own session, by its token's hash (the organisation is checked first)",
    ),
    (
        "sessions.rs",
        "delete_console_session",
        "sign-out by the session's token hash",
    ),
    (
        "sessions.rs",
        "delete_expired_console_sessions",
        "expiry sweep across organisations",
    ),
    (
        "oidc.rs",
        "oidc_org_for_domain",
        "sign-in finds the organisation by the person's email domain",
    ),
    (
        "oidc.rs",
        "take_oidc_sign_in",
        "the sign-in callback spends a sign-in by its state and the browser's binding; the organisation comes from that row",
    ),
    (
        "oidc.rs",
        "delete_expired_oidc_sign_ins",
        "expiry sweep across organisations",
    ),
];

const FILES: &[(&str, &str)] = &[
    ("applications.rs", include_str!("applications.rs")),
    ("charts.rs", include_str!("charts.rs")),
    ("compiles.rs", include_str!("compiles.rs")),
    ("deliveries.rs", include_str!("deliveries.rs")),
    ("direct.rs", include_str!("direct.rs")),
    ("events.rs", include_str!("events.rs")),
    ("health.rs", include_str!("health.rs")),
    ("limits.rs", include_str!("limits.rs")),
    ("lines.rs", include_str!("lines.rs")),
    ("mod.rs", include_str!("mod.rs")),
    ("notify.rs", include_str!("notify.rs")),
    ("oidc.rs", include_str!("oidc.rs")),
    ("orgs.rs", include_str!("orgs.rs")),
    ("plugins.rs", include_str!("plugins.rs")),
    ("retention.rs", include_str!("retention.rs")),
    ("scripts.rs", include_str!("scripts.rs")),
    ("sessions.rs", include_str!("sessions.rs")),
    ("webhooks.rs", include_str!("webhooks.rs")),
];

/// The functions of a source file, as (name, body).
fn functions(src: &str) -> Vec<(&str, &str)> {
    let starts: Vec<(usize, &str)> = src
        .match_indices("fn ")
        .filter_map(|(i, _)| {
            let name: &str = src[i + 3..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()?;
            // Only definitions: `fn name(` or `fn name<`.
            let after = src[i + 3 + name.len()..].chars().next()?;
            (!name.is_empty() && (after == '(' || after == '<')).then_some((i, name))
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, (i, name))| {
            let end = starts.get(n + 1).map_or(src.len(), |(j, _)| *j);
            (*name, &src[*i..end])
        })
        .collect()
}

/// The file's string constants (`const NAME: &str = "…";`), which
/// statements splice in as `{NAME}`.
fn constants(src: &str) -> Vec<(&str, &str)> {
    src.match_indices("const ")
        .filter_map(|(i, _)| {
            let rest = &src[i + 6..];
            let (name, rest) = rest.split_once(": &str = \"")?;
            let end = rest.find("\";")?;
            Some((name.trim(), &rest[..end]))
        })
        .collect()
}

/// The statement with the file's constants spliced in for `{NAME}`, and
/// `{table}` read as the owed-deliveries table it stands for.
fn expand(sql: &str, consts: &[(&str, &str)]) -> String {
    let mut out = sql.replace("{table}", "delivery_queue");
    for (name, text) in consts {
        out = out.replace(&format!("{{{name}}}"), text);
    }
    out
}

/// The string literals of a body that hold SQL statements, with the
/// file's constants spliced in.
fn statements(body: &str, consts: &[(&str, &str)]) -> Vec<String> {
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(|s| expand(s, consts))
        .filter(|s| {
            let t = s.trim_start();
            ["SELECT ", "UPDATE ", "INSERT ", "DELETE ", "WITH "]
                .iter()
                .any(|k| t.starts_with(k))
        })
        .collect()
}

fn names_org_table(sql: &str) -> Option<&'static str> {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    ORG_TABLES.iter().copied().find(|t| words.contains(t))
}

/// Whether the statement filters by organisation: `org_id` in its
/// conditions (after `WHERE`/`ON`, and before any `RETURNING`, which
/// only reports what was already changed), or, for an insert of values,
/// among the columns it writes.
fn filters_by_org(sql: &str) -> bool {
    let upper_all = sql.to_ascii_uppercase();
    let (sql, upper) = match upper_all.find(" RETURNING ") {
        Some(i) => (&sql[..i], &upper_all[..i]),
        None => (sql, upper_all.as_str()),
    };
    let conditions = ["WHERE ", " ON "]
        .iter()
        .filter_map(|k| upper.find(k))
        .min()
        .map(|i| &sql[i..]);
    match conditions {
        Some(c) => c.contains("org_id"),
        None => upper.trim_start().starts_with("INSERT") && sql.contains("org_id"),
    }
}

#[test]
fn every_statement_on_an_organisations_rows_names_the_organisation() {
    let mut unscoped = Vec::new();
    let mut used_exemptions = Vec::new();
    for (file, src) in FILES {
        // Test modules are not the store's statements.
        let src = src.split("#[cfg(test)]").next().unwrap();
        let consts = constants(src);
        for (name, body) in functions(src) {
            let exempt = SYSTEM.iter().find(|(f, n, _)| f == file && *n == name);
            for sql in &statements(body, &consts) {
                let Some(table) = names_org_table(sql) else {
                    continue;
                };
                let scoped =
                    filters_by_org(sql) || (sql.contains('{') && body.contains("WEBHOOK_OF_ORG"));
                if scoped {
                    continue;
                }
                match exempt {
                    Some(e) => used_exemptions.push(*e),
                    None => unscoped.push(format!(
                        "{file} {name}: {table}: {}",
                        sql.split_whitespace().collect::<Vec<_>>().join(" ")
                    )),
                }
            }
        }
    }
    assert!(
        unscoped.is_empty(),
        "statements on an organisation's rows without org_id (scope them, or list the \
         function in SYSTEM with the reason no organisation's request reaches it):\n{}",
        unscoped.join("\n")
    );
    // An exemption nothing needs any more is removed, so the list stays true.
    let stale: Vec<_> = SYSTEM
        .iter()
        .filter(|e| !used_exemptions.contains(e))
        .map(|(f, n, _)| format!("{f} {n}"))
        .collect();
    assert!(stale.is_empty(), "exemptions no statement needs: {stale:?}");
}
