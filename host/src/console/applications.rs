//! Console pages for OAuth applications: list, new (client id and secret
//! shown once), edit scopes and token lifetime, rotate the secret.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::{
    Console, Form, Layout, PageError, PageResult, Posted, error_for, page, see_other, when,
};
use crate::domain::{FieldError, Scope};
use crate::hub::HubError;
use crate::hub::applications::{ApplicationPatch, MAX_TOKEN_LIFETIME_SECS, NewApplication};
use crate::state::AppState;
use crate::storage::applications::ApplicationRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/applications", get(list).post(create))
        .route("/console/applications/new", get(new_form))
        .route("/console/applications/{id}", get(edit_form).post(update))
        .route("/console/applications/{id}/rotate-secret", post(rotate))
}

pub struct AppRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub lifetime: i64,
    pub created: String,
    pub previous_until: String,
}

fn row(a: &ApplicationRecord, now: i64) -> AppRow {
    AppRow {
        id: a.id.clone(),
        name: a.name.clone(),
        scopes: a
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        lifetime: a.token_lifetime_secs,
        created: when(a.created_at),
        previous_until: a
            .prev_secret_expires_at
            .filter(|t| *t > now)
            .map(when)
            .unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/applications.html")]
struct ListPage {
    l: Layout,
    rows: Vec<AppRow>,
}

async fn list(State(state): State<AppState>, c: Console) -> PageResult {
    c.need(Scope::AdminRead)?;
    let now = state.hub.now();
    let rows = state
        .hub
        .store
        .list_applications(c.org())
        .await?
        .iter()
        .map(|a| row(a, now))
        .collect();
    let l = Layout::new(&state, &c, "applications", "Applications").await?;
    Ok(page(StatusCode::OK, &ListPage { l, rows }))
}

/// The form as typed.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub name: String,
    pub description: String,
    pub redirect_uris: String,
    pub scopes: Vec<String>,
    pub lifetime: String,
}

impl Values {
    fn from_form(f: &Form) -> Values {
        Values {
            name: f.get("name").to_string(),
            description: f.get("description").to_string(),
            redirect_uris: f.get("redirect_uris").to_string(),
            scopes: f.all("scopes"),
            lifetime: f.get("token_lifetime_secs").to_string(),
        }
    }

    fn from_record(a: &ApplicationRecord) -> Values {
        Values {
            name: a.name.clone(),
            description: a.description.clone(),
            redirect_uris: a.redirect_uris.join("\n"),
            scopes: a.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            lifetime: a.token_lifetime_secs.to_string(),
        }
    }

    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }

    fn uris(&self) -> Vec<String> {
        self.redirect_uris
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn lifetime(&self) -> Result<Option<i64>, FieldError> {
        match self.lifetime.trim() {
            "" => Ok(None),
            n => n.parse().map(Some).map_err(|_| {
                FieldError::new("token_lifetime_secs", "must be a whole number of seconds")
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "console/application_form.html")]
struct FormPage {
    l: Layout,
    id: Option<String>,
    v: Values,
    error: Option<FieldError>,
    /// (scope, whether the user holds it and so may grant it).
    scopes: Vec<(&'static str, bool)>,
    previous_until: String,
    max_lifetime: i64,
}

impl FormPage {
    fn err(&self, control: &str) -> Option<&str> {
        error_for(&self.error, control)
    }
}

async fn form_page(
    state: &AppState,
    c: &Console,
    id: Option<String>,
    v: Values,
    previous_until: String,
    error: Option<FieldError>,
) -> PageResult {
    let title = if id.is_some() {
        format!("Application {}", v.name)
    } else {
        "New application".into()
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let l = Layout::new(state, c, "applications", title).await?;
    let scopes = Scope::ALL
        .iter()
        .map(|s| (s.as_str(), c.0.principal.has(*s)))
        .collect();
    Ok(page(
        status,
        &FormPage {
            l,
            id,
            v,
            error,
            scopes,
            previous_until,
            max_lifetime: MAX_TOKEN_LIFETIME_SECS,
        },
    ))
}

async fn new_form(State(state): State<AppState>, c: Console) -> PageResult {
    c.need(Scope::AdminWrite)?;
    let v = Values {
        lifetime: MAX_TOKEN_LIFETIME_SECS.to_string(),
        ..Values::default()
    };
    form_page(&state, &c, None, v, String::new(), None).await
}

#[derive(Template)]
#[template(path = "console/application_secret.html")]
struct SecretPage {
    l: Layout,
    id: String,
    name: String,
    secret: String,
    /// Set after a rotation: until when the old secret still works.
    previous_until: Option<String>,
}

async fn create(State(state): State<AppState>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let v = Values::from_form(&p.form);
    let lifetime = match v.lifetime() {
        Ok(l) => l,
        Err(e) => return form_page(&state, c, None, v, String::new(), Some(e)).await,
    };
    let input = NewApplication {
        name: v.name.clone(),
        description: v.description.clone(),
        redirect_uris: v.uris(),
        scopes: v.scopes.clone(),
        token_lifetime_secs: lifetime,
    };
    match state
        .hub
        .create_application(c.org(), &s.principal, input)
        .await
    {
        Ok((app, secret)) => {
            let l = Layout::new(&state, c, "applications", "Application created").await?;
            Ok(page(
                StatusCode::CREATED,
                &SecretPage {
                    l,
                    id: app.id,
                    name: app.name,
                    secret,
                    previous_until: None,
                },
            ))
        }
        Err(HubError::Invalid(e)) => form_page(&state, c, None, v, String::new(), Some(e)).await,
        Err(e) => Err(e.into()),
    }
}

async fn get_app(state: &AppState, c: &Console, id: &str) -> Result<ApplicationRecord, PageError> {
    state
        .hub
        .store
        .get_application(Some(c.org()), id)
        .await?
        .ok_or(PageError::NotFound("application"))
}

async fn edit_form(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
) -> PageResult {
    c.need(Scope::AdminRead)?;
    let app = get_app(&state, &c, &id).await?;
    let r = row(&app, state.hub.now());
    form_page(
        &state,
        &c,
        Some(app.id.clone()),
        Values::from_record(&app),
        r.previous_until,
        None,
    )
    .await
}

async fn update(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let v = Values::from_form(&p.form);
    let lifetime = match v.lifetime() {
        Ok(l) => l,
        Err(e) => return form_page(&state, c, Some(id), v, String::new(), Some(e)).await,
    };
    // Scopes the editor does not hold show as disabled boxes, which a form
    // never submits: keep them by leaving the scopes alone when the held
    // ones are unchanged, and otherwise send them along, so the service
    // refuses the change naming the scope instead of silently dropping it.
    let current = get_app(&state, c, &id).await?;
    let (held, unheld): (Vec<_>, Vec<_>) = current
        .scopes
        .iter()
        .map(|x| x.as_str().to_string())
        .partition(|x| Scope::parse(x).is_some_and(|x| s.principal.has(x)));
    let scopes = if unheld.is_empty() {
        Some(v.scopes.clone())
    } else {
        let submitted: std::collections::BTreeSet<&String> = v.scopes.iter().collect();
        if submitted == held.iter().collect() {
            None
        } else {
            Some(v.scopes.iter().cloned().chain(unheld).collect())
        }
    };
    let patch = ApplicationPatch {
        name: Some(v.name.clone()),
        description: Some(v.description.clone()),
        redirect_uris: Some(v.uris()),
        scopes,
        token_lifetime_secs: lifetime,
    };
    match state
        .hub
        .update_application(c.org(), &s.principal, &id, patch)
        .await
    {
        Ok(_) => Ok(see_other("/console/applications")),
        Err(HubError::Invalid(e)) => {
            form_page(&state, c, Some(id), v, String::new(), Some(e)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn rotate(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let (secret, until) = state
        .hub
        .rotate_application_secret(c.org(), &s.principal, &id)
        .await?;
    let app = get_app(&state, c, &id).await?;
    let l = Layout::new(&state, c, "applications", "Secret rotated").await?;
    Ok(page(
        StatusCode::OK,
        &SecretPage {
            l,
            id: app.id,
            name: app.name,
            secret,
            previous_until: Some(when(until)),
        },
    ))
}
