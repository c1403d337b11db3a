//! Sign-in through an organisation's own OpenID Connect provider.
//!
//! The settings (issuer, client id, sealed client secret, the email
//! domains whose people sign in there) are validated by field, checked
//! against the provider's discovery document when saved, and audited. A
//! sign-in begins from the person's email address (its domain names the
//! organisation), goes to the provider with `state`, `nonce` and PKCE
//! S256, and comes back to [`CALLBACK_PATH`]: the `state` is spent once,
//! only by the browser that began it (a cookie whose hash is on the row),
//! the code is exchanged, the ID token verified
//! ([`crate::oauth::oidc::verify_id_token`]), and the person is matched
//! to a human user *of that organisation* by a verified email address of
//! an allowed domain — or refused. Both outcomes are audited in the
//! organisation: `auth.oidc_signed_in` (AUTHENTICATION) and
//! `auth.oidc_refused` (SECURITY).
//!
//! A sign-in begun on `/oauth/authorize` returns there with a short-lived
//! sealed ticket ([`AUTHORIZE_TICKET_COOKIE`]) naming the user, so the
//! person meets the consent step without a password.

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::principals::Principal;
use super::{Actor, Hub, HubError, HubResult};
use crate::clock::Millis;
use crate::crypto;
use crate::domain::{Category, FieldError, Scope};
use crate::oauth::oidc::{Expected, OidcError, url_allowed, verify_id_token};
use crate::storage::oidc::{OidcRecord, OidcSignIn};

/// Where a person chooses their organisation's provider (a form post:
/// `email`, and `authorize` when coming from `/oauth/authorize`).
pub const CHOOSE_PATH: &str = "/console/oidc";
/// Where the choice is confirmed and the browser sent to the provider.
pub const START_PATH: &str = "/console/oidc/start";
/// Where providers send people back (relative to `SCAIHUB_PUBLIC_URL`).
pub const CALLBACK_PATH: &str = "/console/oidc/callback";
/// The cookie that binds a sign-in under way to its browser.
pub const BROWSER_COOKIE: &str = "scaihub_oidc";
/// The cookie (`Path=/oauth`) that carries a provider sign-in back to the
/// authorize page's consent step.
pub const AUTHORIZE_TICKET_COOKIE: &str = "scaihub_oauth_oidc";
/// How long a person has at the provider.
pub const SIGN_IN_LIFETIME_MS: Millis = 10 * 60 * 1000;
/// How long the authorize page's ticket lasts.
pub const TICKET_LIFETIME_MS: Millis = 10 * 60 * 1000;
const TICKET_CONTEXT: &str = "oidc-authorize-ticket";
const MAX_DOMAINS: usize = 50;

/// `PUT /v1/orgs/{org_id}/sign-in/oidc` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSettingsInput {
    /// What the sign-in button names ("Sign in with …"); the issuer's
    /// host when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The provider's issuer URL, exactly as its discovery document names
    /// it: https, or http only to a loopback address.
    pub issuer: String,
    /// ScaiHub's client id at the provider.
    pub client_id: String,
    /// ScaiHub's client secret at the provider: write-only, stored sealed.
    /// Required the first time; when absent later the stored one is kept.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Email domains whose people sign in through this provider (one
    /// organisation per domain across ScaiHub).
    pub allowed_domains: Vec<String>,
}

impl std::fmt::Debug for OidcSettingsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettingsInput")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("allowed_domains", &self.allowed_domains)
            .finish_non_exhaustive()
    }
}

/// A sign-in sent to the provider: where the browser goes, and the value
/// of [`BROWSER_COOKIE`] it must bring back.
#[derive(Debug)]
pub struct OidcStart {
    pub redirect: String,
    pub browser: String,
}

/// The provider a person is about to sign in through.
#[derive(Debug, Clone)]
pub struct ProviderChoice {
    /// What the person typed, lower case.
    pub typed: String,
    pub login_hint: Option<String>,
    pub settings: OidcRecord,
    pub authorization_endpoint: String,
    /// The authorization endpoint's origin, which the page that posts to
    /// the start must allow as a form target (CSP `form-action` also
    /// covers the redirect that follows a form).
    pub origin: String,
}

/// What the provider sent back to [`CALLBACK_PATH`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub iss: Option<&'a str>,
}

/// A person signed in through their organisation's provider.
#[derive(Debug, Clone)]
pub struct OidcSignedIn {
    pub user_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub email: String,
    /// The `/oauth/authorize` query to return to; `None` for the console.
    pub authorize: Option<String>,
}

/// A refused sign-in: what to tell the person, and where they came from.
#[derive(Debug, Clone)]
pub struct OidcRefused {
    pub message: String,
    pub authorize: Option<String>,
}

/// The person behind an authorize ticket.
#[derive(Debug, Clone)]
pub struct TicketUser {
    pub user_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    /// Their email address, to show who is signed in.
    pub email: String,
}

/// An email domain as stored: trimmed, lower case, a leading `@`
/// dropped, dotted labels of letters, digits and hyphens.
pub fn validate_domain(text: &str) -> Option<String> {
    let d = text.trim().trim_start_matches('@').to_lowercase();
    let ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    ok.then_some(d)
}

fn printable(text: &str, max: usize) -> bool {
    !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control)
}

impl Hub {
    /// The redirect URI to register at a provider.
    pub fn oidc_redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.issuer())
    }

    /// Creates or replaces an organisation's provider settings: each field
    /// checked (422 naming it), the issuer's discovery document fetched and
    /// checked, the secret sealed; audited as `oidc_provider.updated`.
    pub async fn put_oidc(
        &self,
        org_id: &str,
        by: &Principal,
        input: OidcSettingsInput,
    ) -> HubResult<OidcRecord> {
        let issuer = input.issuer.trim().to_string();
        let parsed = url::Url::parse(&issuer)
            .ok()
            .filter(|u| u.query().is_none() && u.fragment().is_none() && issuer.len() <= 2000);
        let Some(parsed) = parsed else {
            return Err(FieldError::new(
                "issuer",
                "must be an absolute URL without query or fragment",
            )
            .into());
        };
        if !url_allowed(&parsed) {
            return Err(FieldError::new(
                "issuer",
                "must use https (http only to a loopback address)",
            )
            .into());
        }
        let client_id = input.client_id.trim().to_string();
        if !printable(&client_id, 255) {
            return Err(FieldError::new("client_id", "must be 1-255 printable characters").into());
        }
        if let Some(secret) = &input.client_secret
            && !printable(secret, 1024)
        {
            return Err(
                FieldError::new("client_secret", "must be 1-1024 printable characters").into(),
            );
        }
        let mut domains = Vec::new();
        for (i, d) in input.allowed_domains.iter().enumerate() {
            let domain = validate_domain(d).ok_or_else(|| {
                FieldError::new(
                    format!("allowed_domains[{i}]"),
                    "must be an email domain such as example.com",
                )
            })?;
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        if domains.is_empty() || domains.len() > MAX_DOMAINS {
            return Err(FieldError::new(
                "allowed_domains",
                format!("must name 1-{MAX_DOMAINS} email domains"),
            )
            .into());
        }
        let display_name = match input.display_name.as_deref().map(str::trim) {
            Some(name) if !printable(name, 100) => {
                return Err(
                    FieldError::new("display_name", "must be 1-100 printable characters").into(),
                );
            }
            Some(name) => name.to_string(),
            None => parsed.host_str().unwrap_or("your provider").to_string(),
        };
        let existing = self.store.get_org_oidc(org_id).await?;
        let client_secret = match (&input.client_secret, &existing) {
            (Some(secret), _) => self.master_key.seal(secret.as_bytes(), org_id),
            (None, Some(old)) => old.client_secret.clone(),
            (None, None) => {
                return Err(FieldError::new(
                    "client_secret",
                    "is required when the provider is first set up",
                )
                .into());
            }
        };
        // The provider must answer as the issuer it is said to be.
        self.oidc
            .discover(&issuer, self.now(), true)
            .await
            .map_err(|e| FieldError::new("issuer", format!("discovery failed: {e}")))?;
        let now = self.now();
        let record = OidcRecord {
            org_id: org_id.to_string(),
            display_name,
            issuer,
            client_id,
            client_secret,
            allowed_domains: domains,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.store.put_org_oidc(&record).await.map_err(|e| {
            if e.is_unique_violation() {
                HubError::from(FieldError::new(
                    "allowed_domains",
                    "a domain is already used by another organisation's provider",
                ))
            } else {
                e.into()
            }
        })?;
        let event = self.own_event(
            Category::Admin,
            "oidc_provider.updated",
            &by.actor(),
            org_id,
            json!({
                "issuer": record.issuer,
                "client_id": record.client_id,
                "display_name": record.display_name,
                "allowed_domains": record.allowed_domains,
                "client_secret_changed": input.client_secret.is_some(),
            }),
        );
        self.log_batched(org_id, event).await?;
        Ok(record)
    }

    /// Removes the organisation's provider; its people sign in with
    /// passwords again. Audited as `oidc_provider.deleted`.
    pub async fn delete_oidc(&self, org_id: &str, by: &Principal) -> HubResult<()> {
        if !self.store.delete_org_oidc(org_id).await? {
            return Err(HubError::NotFound("OpenID Connect provider"));
        }
        let event = self.own_event(
            Category::Admin,
            "oidc_provider.deleted",
            &by.actor(),
            org_id,
            json!({}),
        );
        self.log_batched(org_id, event).await
    }

    /// The provider a person signs in through, from what they typed
    /// (their email address, or its domain). `Err` is the message to show.
    pub async fn oidc_provider_for(&self, who: &str) -> HubResult<Result<ProviderChoice, String>> {
        let who = who.trim().to_lowercase();
        let domain_part = who.rsplit('@').next().unwrap_or_default();
        let Some(domain) = validate_domain(domain_part) else {
            return Ok(Err(
                "Type your work email address (such as ana@example.com).".into(),
            ));
        };
        let no_provider = || {
            format!(
                "No organisation signs in through its own provider for {domain}; sign in with your email and password."
            )
        };
        let Some(org_id) = self.store.oidc_org_for_domain(&domain).await? else {
            return Ok(Err(no_provider()));
        };
        let Some(settings) = self.store.get_org_oidc(&org_id).await? else {
            return Ok(Err(no_provider()));
        };
        let doc = match self
            .oidc
            .discover(&settings.issuer, self.now(), false)
            .await
        {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(org_id = %org_id, error = %e, "an organisation's OpenID provider cannot be reached");
                return Ok(Err(format!(
                    "{} cannot be reached right now; try again shortly.",
                    settings.display_name
                )));
            }
        };
        let origin = url::Url::parse(&doc.authorization_endpoint)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Ok(ProviderChoice {
            login_hint: who.contains('@').then_some(who.clone()),
            typed: who,
            settings,
            authorization_endpoint: doc.authorization_endpoint.clone(),
            origin,
        }))
    }

    /// Begins a sign-in from what the person typed; `authorize` is the
    /// `/oauth/authorize` query to return to. `Err` is the message to show.
    pub async fn begin_oidc_sign_in(
        &self,
        who: &str,
        authorize: Option<&str>,
    ) -> HubResult<Result<OidcStart, String>> {
        if authorize.is_some_and(|q| q.len() > 4096) {
            return Ok(Err("The authorization request is too long.".into()));
        }
        let choice = match self.oidc_provider_for(who).await? {
            Ok(c) => c,
            Err(message) => return Ok(Err(message)),
        };
        let settings = &choice.settings;
        let org_id = settings.org_id.clone();
        let now = self.now();
        let state = crypto::new_secret("");
        let nonce = crypto::new_secret("");
        let verifier = crypto::new_secret("");
        let browser = crypto::new_secret("");
        self.store.delete_expired_oidc_sign_ins(now).await?;
        self.store
            .insert_oidc_sign_in(
                &crypto::hash_token(&state),
                &crypto::hash_token(&browser),
                &OidcSignIn {
                    org_id: org_id.clone(),
                    nonce: nonce.clone(),
                    verifier: self.master_key.seal(verifier.as_bytes(), &org_id),
                    authorize: authorize.map(str::to_string),
                    expires_at: now + SIGN_IN_LIFETIME_MS,
                },
                now,
            )
            .await?;
        let mut url = url::Url::parse(&choice.authorization_endpoint)
            .map_err(|e| HubError::Internal(format!("authorization endpoint: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &settings.client_id)
                .append_pair("redirect_uri", &self.oidc_redirect_uri())
                .append_pair("scope", "openid email")
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &crate::oauth::pkce::s256(&verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = &choice.login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(Ok(OidcStart {
            redirect: url.to_string(),
            browser,
        }))
    }

    /// Finishes a sign-in at the callback: spends the state (this
    /// browser's, once), exchanges the code, verifies the ID token and
    /// matches the person to a user of the organisation by verified email.
    pub async fn finish_oidc_sign_in(
        &self,
        back: Callback<'_>,
        browser: &str,
        ip: Option<&str>,
    ) -> HubResult<Result<OidcSignedIn, OidcRefused>> {
        let now = self.now();
        let expired = || {
            OidcRefused {
            message: "This sign-in expired, was already used, or was begun in another browser. Start again from the sign-in page.".into(),
            authorize: None,
        }
        };
        let Some(state) = back.state else {
            return Ok(Err(expired()));
        };
        let Some(row) = self
            .store
            .take_oidc_sign_in(
                &crypto::hash_token(state),
                &crypto::hash_token(browser),
                now,
            )
            .await?
        else {
            tracing::warn!("an OpenID Connect callback named no sign-in under way of this browser");
            return Ok(Err(expired()));
        };
        let org_id = row.org_id.clone();
        // Audits the refusal in the organisation and answers it.
        macro_rules! refuse {
            ($reason:expr, $message:expr, $email:expr $(,)?) => {{
                let reason: String = $reason;
                let email: Option<&str> = $email;
                self.audit_oidc_refused(&org_id, ip, &reason, email).await?;
                return Ok(Err(OidcRefused {
                    message: $message.to_string(),
                    authorize: row.authorize.clone(),
                }));
            }};
        }
        let unverifiable = "The answer of your organisation's provider could not be verified, so you are not signed in. The attempt was recorded.";
        let Some(settings) = self.store.get_org_oidc(&org_id).await? else {
            refuse!(
                "the organisation no longer signs in through a provider".into(),
                "Your organisation no longer signs in through its own provider; sign in with your email and password.",
                None,
            );
        };
        if let Some(iss) = back.iss
            && iss != settings.issuer
        {
            refuse!(
                format!("the answer names the issuer {iss:?}, not the provider"),
                unverifiable,
                None,
            );
        }
        if let Some(error) = back.error {
            let error: String = error.chars().take(100).collect();
            refuse!(
                format!("the provider answered {error}"),
                &format!("{} did not sign you in ({error}).", settings.display_name),
                None,
            );
        }
        let Some(code) = back.code else {
            refuse!("the answer has no code".into(), unverifiable, None);
        };
        let person = match self.verify_at_provider(&settings, &row, code, now).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(org_id = %org_id, error = %e, "an OpenID Connect sign-in was refused");
                refuse!(e.to_string(), unverifiable, None);
            }
        };
        let Some(email) = person.email.as_deref().map(|e| e.trim().to_lowercase()) else {
            refuse!(
                "the ID token has no email address".into(),
                "Your provider did not say which email address you have, so you are not signed in.",
                None,
            );
        };
        if !person.email_verified {
            refuse!(
                "the email address is not verified by the provider".into(),
                &format!(
                    "{} has not verified your email address {email}, so you are not signed in.",
                    settings.display_name
                ),
                Some(&email),
            );
        }
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !settings.allowed_domains.iter().any(|d| d == domain) {
            refuse!(
                format!("the email domain {domain} is not allowed"),
                &format!(
                    "Your email address {email} is not of a domain your organisation signs in with."
                ),
                Some(&email),
            );
        }
        let Some((user_id, scopes)) = self.store.human_by_email(&org_id, &email).await? else {
            refuse!(
                "no user of the organisation has this email address".into(),
                &format!(
                    "No ScaiHub user of your organisation has the email address {email}. Ask an administrator to add you."
                ),
                Some(&email),
            );
        };
        let actor = Actor {
            user_id: Some(user_id.clone()),
            service_account: None,
            ip_address: ip.map(str::to_string),
        };
        let event = self.own_event(
            Category::Authentication,
            "auth.oidc_signed_in",
            &actor,
            &user_id,
            json!({
                "user_id": user_id,
                "email": email,
                "issuer": settings.issuer,
                "subject": person.subject,
                "to": if row.authorize.is_some() { "oauth_authorize" } else { "console" },
            }),
        );
        self.log_batched(&org_id, event).await?;
        Ok(Ok(OidcSignedIn {
            user_id,
            org_id,
            scopes,
            email,
            authorize: row.authorize,
        }))
    }

    async fn audit_oidc_refused(
        &self,
        org_id: &str,
        ip: Option<&str>,
        reason: &str,
        email: Option<&str>,
    ) -> HubResult<()> {
        let actor = Actor {
            user_id: None,
            service_account: None,
            ip_address: ip.map(str::to_string),
        };
        let event = self.own_event(
            Category::Security,
            "auth.oidc_refused",
            &actor,
            email.unwrap_or(org_id),
            json!({"reason": reason, "email": email}),
        );
        self.log_batched(org_id, event).await
    }

    /// The code exchange and the ID token's verification.
    async fn verify_at_provider(
        &self,
        settings: &OidcRecord,
        row: &OidcSignIn,
        code: &str,
        now: Millis,
    ) -> Result<crate::oauth::oidc::Person, OidcError> {
        let sealed =
            |e: crypto::CryptoError| OidcError::BadDocument("stored secret", e.to_string());
        let secret = self
            .master_key
            .open(&settings.client_secret, &settings.org_id)
            .map_err(sealed)?;
        let verifier = self
            .master_key
            .open(&row.verifier, &row.org_id)
            .map_err(sealed)?;
        let secret = String::from_utf8_lossy(&secret);
        let verifier = String::from_utf8_lossy(&verifier);
        let doc = self.oidc.discover(&settings.issuer, now, false).await?;
        let id_token = self
            .oidc
            .exchange_code(
                &doc,
                &settings.client_id,
                &secret,
                code,
                &self.oidc_redirect_uri(),
                &verifier,
            )
            .await?;
        let (kid, alg) = crate::oauth::oidc::token_key_id(&id_token)?;
        let keys = self
            .oidc
            .keys_for(&doc.jwks_uri, kid.as_deref(), alg, now)
            .await?;
        verify_id_token(
            &id_token,
            &keys,
            &Expected {
                issuer: &settings.issuer,
                client_id: &settings.client_id,
                nonce: &row.nonce,
                now,
            },
        )
    }

    /// A sealed ticket naming the user, for the authorize page's cookie.
    pub fn authorize_ticket(&self, user_id: &str) -> String {
        let body = json!({"user_id": user_id, "expires_at": self.now() + TICKET_LIFETIME_MS});
        let sealed = self
            .master_key
            .seal(body.to_string().as_bytes(), TICKET_CONTEXT);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The user a ticket names, if it is ours, unexpired, and the user
    /// still exists (with their permissions as they are now).
    pub async fn authorize_ticket_user(&self, ticket: &str) -> HubResult<Option<TicketUser>> {
        let Ok(sealed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(ticket) else {
            return Ok(None);
        };
        let Ok(plain) = self.master_key.open(&sealed, TICKET_CONTEXT) else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Ticket {
            user_id: String,
            expires_at: Millis,
        }
        let Ok(t) = serde_json::from_slice::<Ticket>(&plain) else {
            return Ok(None);
        };
        if t.expires_at <= self.now() {
            return Ok(None);
        }
        let Some((org_id, scopes)) = self.store.user_permissions(&t.user_id).await? else {
            return Ok(None);
        };
        let Some(user) = self.store.get_user(&org_id, &t.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(TicketUser {
            user_id: t.user_id,
            org_id,
            scopes,
            email: user.email.unwrap_or_default(),
        }))
    }
}
