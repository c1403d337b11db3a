//! The authorization server's grants, token checks, introspection and
//! revocation. Errors are the RFC 6749 §5.2 codes.

use serde::Serialize;
use serde_json::json;

use super::principals::Principal;
use super::{Actor, Hub, HubResult};
use crate::clock::Millis;
use crate::crypto;
use crate::domain::{Category, Scope};
use crate::ids::{IdKind, new_id};
use crate::oauth::jwt::{self, Act, Claims};
use crate::oauth::pkce;
use crate::storage::applications::{ApplicationRecord, CodeRecord, RefreshRecord, Spent};

/// How long an authorization code is good for (RFC 6749 §4.1.2: ≤ 10 min).
pub const CODE_LIFETIME_MS: Millis = 10 * 60 * 1000;
/// How long a refresh token is good for.
pub const REFRESH_LIFETIME_MS: Millis = 30 * 24 * 3600 * 1000;
/// Failed sign-ins allowed per login per window before refusing.
pub const MAX_LOGIN_FAILURES: i64 = 5;
pub const LOGIN_WINDOW_MS: Millis = 15 * 60 * 1000;

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "client authentication failed")
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }
    pub fn server_error() -> Self {
        Self::new("server_error", "the server could not complete the request")
    }
    /// RFC 6749 §4.1.2.1's `temporarily_unavailable`: the store cannot be
    /// reached; answered with 503 and `Retry-After`.
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "the store is unavailable; retry in a few seconds",
        )
    }
}

impl From<super::HubError> for OAuthError {
    fn from(e: super::HubError) -> Self {
        match e {
            super::HubError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %format!("{other:#}"), "oauth request failed");
                OAuthError::server_error()
            }
        }
    }
}

impl From<crate::storage::StoreError> for OAuthError {
    fn from(e: crate::storage::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %format!("{e:#}"), "the store is unavailable: answering 503");
            return OAuthError::temporarily_unavailable();
        }
        tracing::error!(error = %format!("{e:#}"), "oauth storage failure");
        OAuthError::server_error()
    }
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Parses a space-separated scope parameter, refusing unknown names.
pub fn parse_scope_param(text: Option<&str>) -> Result<Option<Vec<Scope>>, OAuthError> {
    let Some(text) = text else { return Ok(None) };
    let mut out = Vec::new();
    for name in text.split(' ').filter(|s| !s.is_empty()) {
        let s = Scope::parse(name)
            .ok_or_else(|| OAuthError::invalid_scope(format!("unknown scope {name}")))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(Some(out))
}

fn scope_text(scopes: &[Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort();
    names.join(" ")
}

fn intersect(a: &[Scope], b: &[Scope]) -> Vec<Scope> {
    a.iter().copied().filter(|s| b.contains(s)).collect()
}

/// Narrows `granted` by what was requested; asking for something not
/// granted is `invalid_scope` only when nothing at all is left.
fn narrow(requested: Option<Vec<Scope>>, granted: &[Scope]) -> Result<Vec<Scope>, OAuthError> {
    match requested {
        None => Ok(granted.to_vec()),
        Some(r) if r.is_empty() => Ok(granted.to_vec()),
        Some(r) => {
            let out = intersect(&r, granted);
            if out.is_empty() {
                Err(OAuthError::invalid_scope(
                    "none of the requested scopes may be granted",
                ))
            } else {
                Ok(out)
            }
        }
    }
}

/// A verified access token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Claims,
    pub app: ApplicationRecord,
}

impl Hub {
    pub fn issuer(&self) -> String {
        self.settings.public_url.trim_end_matches('/').to_string()
    }

    fn audience(&self) -> String {
        format!("{}/v1", self.issuer())
    }

    /// Signs an access token.
    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        app: &ApplicationRecord,
        sub: &str,
        org: &str,
        scopes: &[Scope],
        exp: Millis,
        act: Option<Act>,
        fam: Option<String>,
    ) -> Result<(String, i64), OAuthError> {
        let (kid, key) = self.keys.active().ok_or_else(OAuthError::server_error)?;
        let now = self.now() / 1000;
        let exp = exp / 1000;
        let claims = Claims {
            iss: self.issuer(),
            sub: sub.to_string(),
            aud: self.audience(),
            exp,
            iat: now,
            jti: new_id(IdKind::Key).replacen("key_", "tok_", 1),
            client_id: app.id.clone(),
            scope: scope_text(scopes),
            org: org.to_string(),
            act,
            fam,
        };
        Ok((jwt::encode(&claims, &kid, &key), exp - now))
    }

    /// `grant_type=client_credentials`.
    pub async fn grant_client_credentials(
        &self,
        app: &ApplicationRecord,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let scopes = narrow(parse_scope_param(scope)?, &app.scopes)?;
        let exp = self.now() + app.token_lifetime_secs * 1000;
        let (token, expires_in) = self.mint(
            app,
            &app.service_account_id,
            &app.org_id,
            &scopes,
            exp,
            None,
            None,
        )?;
        self.audit_token(app, &app.service_account_id, "client_credentials", &scopes)
            .await;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in,
            scope: scope_text(&scopes),
            refresh_token: None,
            issued_token_type: None,
        })
    }

    /// Issues an authorization code after sign-in and consent.
    pub async fn issue_code(
        &self,
        app: &ApplicationRecord,
        user_id: &str,
        org_id: &str,
        redirect_uri: &str,
        scopes: Vec<Scope>,
        challenge: &str,
    ) -> HubResult<String> {
        let code = crypto::new_secret("ac_");
        let record = CodeRecord {
            app_id: app.id.clone(),
            user_id: user_id.to_string(),
            org_id: org_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scopes,
            code_challenge: challenge.to_string(),
            family_id: new_id(IdKind::Key).replacen("key_", "fam_", 1),
            expires_at: self.now() + CODE_LIFETIME_MS,
            used_at: None,
        };
        self.store
            .insert_code(&crypto::hash_token(&code), &record)
            .await?;
        Ok(code)
    }

    /// `grant_type=authorization_code` with PKCE.
    pub async fn grant_authorization_code(
        &self,
        app: &ApplicationRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let verifier = verifier
            .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
        let now = self.now();
        let record = match self
            .store
            .take_code(&crypto::hash_token(code), &app.id, now)
            .await?
        {
            Some(Spent::Fresh(r)) => r,
            Some(Spent::Replayed(r)) => {
                // A replayed code: revoke everything it issued (RFC 6749 §4.1.2).
                self.store
                    .revoke(&r.family_id, "family", now + REFRESH_LIFETIME_MS)
                    .await?;
                return Err(OAuthError::invalid_grant(
                    "authorization code already used; tokens issued from it are revoked",
                ));
            }
            Some(Spent::Foreign) => {
                return Err(OAuthError::invalid_grant(
                    "authorization code was issued to another client",
                ));
            }
            None => return Err(OAuthError::invalid_grant("unknown authorization code")),
        };
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if redirect_uri != Some(record.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !pkce::verify(verifier, &record.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        self.issue_user_tokens(
            app,
            &record.user_id,
            &record.org_id,
            &record.scopes,
            &record.scopes,
            &record.family_id,
            "authorization_code",
        )
        .await
    }

    /// An access token with `scopes`, and a refresh token that keeps the
    /// family's full `grant_scopes` (narrowing a refresh narrows only the
    /// access token it returns, RFC 6749 §6).
    #[allow(clippy::too_many_arguments)]
    async fn issue_user_tokens(
        &self,
        app: &ApplicationRecord,
        user_id: &str,
        org_id: &str,
        scopes: &[Scope],
        grant_scopes: &[Scope],
        family: &str,
        grant: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let (token, expires_in) = self.mint(
            app,
            user_id,
            org_id,
            scopes,
            now + app.token_lifetime_secs * 1000,
            None,
            Some(family.to_string()),
        )?;
        let refresh = crypto::new_secret("rt_");
        let record = RefreshRecord {
            family_id: family.to_string(),
            app_id: app.id.clone(),
            user_id: user_id.to_string(),
            org_id: org_id.to_string(),
            scopes: grant_scopes.to_vec(),
            expires_at: now + REFRESH_LIFETIME_MS,
            used_at: None,
        };
        self.store
            .insert_refresh(&crypto::hash_token(&refresh), &record, now)
            .await?;
        self.audit_token(app, user_id, grant, scopes).await;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in,
            scope: scope_text(scopes),
            refresh_token: Some(refresh),
            issued_token_type: None,
        })
    }

    /// `grant_type=refresh_token`: rotates the refresh token; reusing an
    /// old one revokes its whole family.
    pub async fn grant_refresh(
        &self,
        app: &ApplicationRecord,
        refresh: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let record = match self
            .store
            .take_refresh(&crypto::hash_token(refresh), &app.id, now)
            .await?
        {
            Some(Spent::Fresh(r)) => r,
            Some(Spent::Replayed(r)) => {
                self.store
                    .revoke(&r.family_id, "family", now + REFRESH_LIFETIME_MS)
                    .await?;
                return Err(OAuthError::invalid_grant(
                    "refresh token already used; its family is revoked",
                ));
            }
            Some(Spent::Foreign) => {
                return Err(OAuthError::invalid_grant(
                    "refresh token was issued to another client",
                ));
            }
            None => return Err(OAuthError::invalid_grant("unknown refresh token")),
        };
        if record.expires_at <= now || self.store.any_revoked(&[&record.family_id]).await? {
            return Err(OAuthError::invalid_grant(
                "refresh token expired or revoked",
            ));
        }
        // The user's and the application's current rights still bound it.
        let (_, perms) = self
            .store
            .user_permissions(&record.user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let allowed = intersect(&intersect(&record.scopes, &perms), &app.scopes);
        let scopes = narrow(parse_scope_param(scope)?, &allowed)?;
        self.issue_user_tokens(
            app,
            &record.user_id,
            &record.org_id,
            &scopes,
            &record.scopes,
            &record.family_id,
            "refresh_token",
        )
        .await
    }

    /// Token exchange (RFC 8693): the application acts for the subject.
    pub async fn grant_token_exchange(
        &self,
        app: &ApplicationRecord,
        subject_token: Option<&str>,
        subject_type: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let subject_token = subject_token
            .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
        if subject_type != Some(ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
        // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
        let subject = self.verify_access_token(subject_token).await.map_err(|_| {
            OAuthError::invalid_request(
                "subject_token is not a valid, unexpired, unrevoked token of this server",
            )
        })?;
        let c = &subject.claims;
        // The application must belong to the subject's organisation or its MSP.
        if app.org_id != c.org
            && !self
                .store
                .org_ancestors(&c.org)
                .await?
                .contains(&app.org_id)
        {
            return Err(OAuthError::invalid_grant(
                "the subject belongs to an organisation this application cannot act in",
            ));
        }
        let subject_scopes: Vec<Scope> = c.scope.split(' ').filter_map(Scope::parse).collect();
        let allowed = intersect(&subject_scopes, &app.scopes);
        let scopes = narrow(parse_scope_param(scope)?, &allowed)?;
        let exp = (self.now() + app.token_lifetime_secs * 1000).min(c.exp * 1000);
        let act = Act {
            sub: app.service_account_id.clone(),
            act: c.act.clone().map(Box::new),
        };
        let (token, expires_in) =
            self.mint(app, &c.sub, &c.org, &scopes, exp, Some(act), c.fam.clone())?;
        self.audit_token(app, &c.sub, "token_exchange", &scopes)
            .await;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in,
            scope: scope_text(&scopes),
            refresh_token: None,
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
        })
    }

    /// Checks an access token: signature by one of our keys, issuer,
    /// audience, expiry, revocation, and that its application still exists.
    pub async fn verify_access_token(&self, token: &str) -> Result<VerifiedToken, &'static str> {
        let kid = jwt::kid(token).map_err(|_| "malformed token")?;
        let key = match self.keys.verifying(&kid) {
            Some(k) => k,
            None => {
                // Another process may have rotated the key.
                let _ = self
                    .keys
                    .load(&self.store, &self.master_key, self.now())
                    .await;
                self.keys
                    .verifying(&kid)
                    .ok_or("token signed by an unknown key")?
            }
        };
        let claims = jwt::decode(token, &key).map_err(|_| "bad token signature")?;
        if claims.iss != self.issuer() || claims.aud != self.audience() {
            return Err("token was issued for another audience");
        }
        if claims.exp * 1000 <= self.now() {
            return Err("token expired");
        }
        let mut ids = vec![claims.jti.as_str()];
        if let Some(f) = &claims.fam {
            ids.push(f);
        }
        if self
            .store
            .any_revoked(&ids)
            .await
            .map_err(|_| "token check failed")?
        {
            return Err("token revoked");
        }
        let app = self
            .store
            .get_application(None, &claims.client_id)
            .await
            .map_err(|_| "token check failed")?
            .ok_or("the token's application was deleted")?;
        Ok(VerifiedToken { claims, app })
    }

    /// The principal behind an access token.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Principal, &'static str> {
        let v = self.verify_access_token(token).await?;
        let c = v.claims;
        let kind = if c.sub == v.app.service_account_id {
            "service"
        } else {
            "human"
        };
        Ok(Principal {
            scopes: c.scope.split(' ').filter_map(Scope::parse).collect(),
            service_account: c.act.as_ref().map(|a| a.sub.clone()),
            user_id: c.sub,
            org_id: c.org,
            kind: kind.to_string(),
            key_id: None,
        })
    }

    /// RFC 7662: what a token is, or `{"active": false}`.
    /// RFC 7662: what a token is, told only to a client of the token's own
    /// organisation (§4 leaves it to the server what each caller may
    /// learn); to any other client, every token is inactive.
    pub async fn introspect(&self, caller: &ApplicationRecord, token: &str) -> serde_json::Value {
        match self.verify_access_token(token).await {
            Ok(v) if v.claims.org == caller.org_id => {
                let c = v.claims;
                let mut out = json!({
                    "active": true, "scope": c.scope, "client_id": c.client_id, "sub": c.sub, "exp": c.exp,
                    "iat": c.iat, "iss": c.iss, "aud": c.aud, "jti": c.jti, "token_type": "Bearer", "org_id": c.org,
                });
                if let Some(act) = c.act {
                    out["act"] = serde_json::to_value(act).unwrap_or_default();
                }
                out
            }
            Ok(_) | Err(_) => json!({"active": false}),
        }
    }

    /// RFC 7009: revokes an access token of this client, or a refresh
    /// token's family. Unknown tokens are not an error.
    pub async fn revoke_token(
        &self,
        app: &ApplicationRecord,
        token: &str,
    ) -> Result<(), OAuthError> {
        if jwt::looks_like_jwt(token) {
            if let Ok(v) = self.verify_access_token(token).await
                && v.claims.client_id == app.id
            {
                self.store
                    .revoke(&v.claims.jti, "access_token", v.claims.exp * 1000)
                    .await?;
            }
            return Ok(());
        }
        let now = self.now();
        // A refresh token presented for revocation is spent, with its family;
        // another client's token is left alone.
        match self
            .store
            .take_refresh(&crypto::hash_token(token), &app.id, now)
            .await?
        {
            Some(Spent::Fresh(r) | Spent::Replayed(r)) => {
                self.store
                    .revoke(&r.family_id, "family", now + REFRESH_LIFETIME_MS)
                    .await?
            }
            Some(Spent::Foreign) | None => {}
        }
        Ok(())
    }

    /// Checks a human's password, with rate limiting; failures are audited.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        ip: Option<&str>,
    ) -> HubResult<Result<(String, String, Vec<Scope>), &'static str>> {
        let now = self.now();
        if self
            .store
            .login_failures_since(login, now - LOGIN_WINDOW_MS)
            .await?
            >= MAX_LOGIN_FAILURES
        {
            self.audit_login_failure(login, ip, "rate limited").await?;
            return Ok(Err("too many failed sign-ins; try again in 15 minutes"));
        }
        let found = self.store.user_for_login(login).await?;
        let ok = match &found {
            Some((_, _, _, hash)) => verify_password(password, hash),
            None => {
                // Same work either way, so timing does not reveal which logins exist.
                let _ = verify_password(password, dummy_hash());
                false
            }
        };
        match (ok, found) {
            (true, Some((id, org, perms, _))) => Ok(Ok((id, org, perms))),
            _ => {
                self.store.record_login_failure(login, ip, now).await?;
                self.audit_login_failure(login, ip, "wrong login or password")
                    .await?;
                Ok(Err("wrong login or password"))
            }
        }
    }

    async fn audit_login_failure(
        &self,
        login: &str,
        ip: Option<&str>,
        reason: &str,
    ) -> HubResult<()> {
        // The event goes to the user's organisation when the login names one.
        let Some((_, org_id)) = self
            .store
            .user_permissions(login)
            .await?
            .map(|(o, p)| (p, o))
        else {
            return Ok(());
        };
        let actor = Actor {
            user_id: None,
            service_account: None,
            ip_address: ip.map(str::to_string),
        };
        let event = self.own_event(
            Category::Authentication,
            "auth.login_failed",
            &actor,
            login,
            json!({"login": login, "reason": reason}),
        );
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, &org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }

    async fn audit_token(&self, app: &ApplicationRecord, sub: &str, grant: &str, scopes: &[Scope]) {
        let actor = Actor {
            user_id: Some(app.service_account_id.clone()),
            service_account: None,
            ip_address: None,
        };
        let event = self.own_event(
            Category::Authentication,
            "oauth.token_issued",
            &actor,
            &app.id,
            json!({"application_id": app.id, "grant_type": grant, "subject": sub, "scope": scope_text(scopes)}),
        );
        if let Err(e) = self.log_batched(&app.org_id, event).await {
            tracing::warn!(error = %format!("{e:#}"), "could not audit a token issue");
        }
    }
}

/// An argon2id hash of a random password, so a sign-in with an unknown
/// login costs as much as one with a known login.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        let password = hex::encode(crypto::random_bytes::<16>());
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::PasswordVerifier;
    match argon2::password_hash::PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}
