//! ScaiHub as an OpenID Connect *client* of an organisation's own
//! provider: discovery (cached briefly), the provider's signing keys
//! (cached by `kid`, fetched again for an unknown one, at most every
//! [`JWKS_REFETCH_MS`]), the code exchange with PKCE, and the ID token's
//! verification — signature (RS*, PS*, ES256/384, EdDSA; never `none` or
//! a shared secret), issuer, audience, `azp`, expiry and issue time with a
//! small leeway, and the nonce.
//!
//! Every request goes through the destination policy, like a webhook's:
//! the provider's addresses are checked at connect time, so an issuer
//! that resolves inward is refused unless the operator allows the range.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::clock::Millis;
use crate::destinations::{DestinationPolicy, guarded_client};

/// How long discovery documents are kept.
pub const DISCOVERY_TTL_MS: Millis = 5 * 60 * 1000;
/// How long a key set is kept when no unknown key asks for a new one.
pub const JWKS_TTL_MS: Millis = 60 * 60 * 1000;
/// At most one fetch of a key set in this long for unknown `kid`s, so
/// tokens naming made-up keys cannot make ScaiHub hammer the provider.
pub const JWKS_REFETCH_MS: Millis = 30 * 1000;
/// Clock skew allowed on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Each request to a provider gives up after this long.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider answers larger than this are refused.
const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// Why talking to a provider, or its ID token, failed. The messages name
/// no secret and are fit for an audit event and the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider's {0} is not usable: {1}")]
    BadDocument(&'static str, String),
    #[error("the provider refused the code: {0}")]
    CodeRefused(String),
    #[error("the ID token is refused: {0}")]
    IdToken(String),
}

/// Whether a provider URL may be used: https, or http to a loopback host
/// (a provider on the same machine, as in tests and local demos).
pub fn url_allowed(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The parts of a provider's `/.well-known/openid-configuration` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

impl Discovery {
    /// `client_secret_basic` when offered (the default when the provider
    /// lists nothing), else `client_secret_post`.
    pub fn client_auth(&self) -> Result<ClientAuth, OidcError> {
        match &self.token_endpoint_auth_methods_supported {
            None => Ok(ClientAuth::Basic),
            Some(m) if m.iter().any(|x| x == "client_secret_basic") => Ok(ClientAuth::Basic),
            Some(m) if m.iter().any(|x| x == "client_secret_post") => Ok(ClientAuth::Post),
            Some(_) => Err(OidcError::BadDocument(
                "discovery document",
                "it offers neither client_secret_basic nor client_secret_post".into(),
            )),
        }
    }

    /// The document must name the issuer it was fetched for (OpenID
    /// Connect Discovery §4.3), with usable endpoints and S256 PKCE.
    fn check(&self, issuer: &str) -> Result<(), OidcError> {
        let bad = |m: String| OidcError::BadDocument("discovery document", m);
        if self.issuer != issuer {
            return Err(bad(format!(
                "it names the issuer {:?}, not {issuer:?}",
                self.issuer
            )));
        }
        for (name, value) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ] {
            let ok = url::Url::parse(value).is_ok_and(|u| url_allowed(&u));
            if !ok {
                return Err(bad(format!(
                    "{name} must be an https URL (http only on this machine)"
                )));
            }
        }
        if let Some(m) = &self.code_challenge_methods_supported
            && !m.iter().any(|x| x == "S256")
        {
            return Err(bad("it does not offer PKCE with S256".into()));
        }
        self.client_auth().map(|_| ())
    }
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub subject: String,
    pub email: Option<String>,
    /// Only a JSON `true` counts.
    pub email_verified: bool,
}

/// What an ID token must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: Millis,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
}

/// The signature algorithms accepted: public-key ones only.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The `kid` and `alg` of a token's header, without trusting anything.
pub fn token_key_id(token: &str) -> Result<(Option<String>, Algorithm), OidcError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| OidcError::IdToken(format!("its header is malformed: {e}")))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(OidcError::IdToken(format!(
            "it is signed with {:?}, which is not accepted",
            header.alg
        )));
    }
    Ok((header.kid, header.alg))
}

/// Verifies an ID token with one of the provider's keys (the one its
/// `kid` names, or the only one of the right kind when it names none).
pub fn verify_id_token(
    token: &str,
    keys: &[Jwk],
    expected: &Expected<'_>,
) -> Result<Person, OidcError> {
    let refuse = |m: String| OidcError::IdToken(m);
    let (kid, alg) = token_key_id(token)?;
    let jwk = pick_key(keys, kid.as_deref(), alg)
        .ok_or_else(|| refuse("no key of the provider matches its kid".into()))?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(refuse("the provider offered a shared-secret key".into()));
    }
    if let Some(key_alg) = jwk.common.key_algorithm
        && key_alg.to_string() != format!("{alg:?}")
    {
        return Err(refuse(format!(
            "it is signed with {alg:?} but its key is for {key_alg}"
        )));
    }
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| refuse(format!("the provider's key is unusable: {e}")))?;
    let mut validation = Validation::new(alg);
    // Times, issuer and audience are checked below, against ScaiHub's clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                refuse("its signature does not verify".into())
            }
            _ => refuse(format!("it cannot be read: {e}")),
        })?
        .claims;
    if claims.iss != expected.issuer {
        return Err(refuse(format!(
            "it was issued by {:?}, not the provider",
            claims.iss
        )));
    }
    let audiences: Vec<&str> = match &claims.aud {
        Audience::One(a) => vec![a.as_str()],
        Audience::Many(list) => list.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(refuse("it was issued to another client".into()));
    }
    match claims.azp.as_deref() {
        Some(azp) if azp != expected.client_id => {
            return Err(refuse("its authorized party is another client".into()));
        }
        None if audiences.len() > 1 => {
            return Err(refuse(
                "it names several audiences and no authorized party".into(),
            ));
        }
        _ => {}
    }
    let now = expected.now / 1000;
    if claims.exp + LEEWAY_SECS <= now {
        return Err(refuse("it has expired".into()));
    }
    if claims.iat - LEEWAY_SECS > now {
        return Err(refuse("it was issued in the future".into()));
    }
    let nonce_ok = claims.nonce.as_deref().is_some_and(|n| {
        !expected.nonce.is_empty()
            && crate::crypto::constant_time_eq(n.as_bytes(), expected.nonce.as_bytes())
    });
    if !nonce_ok {
        return Err(refuse("its nonce is not this sign-in's".into()));
    }
    Ok(Person {
        subject: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified == Some(serde_json::Value::Bool(true)),
    })
}

fn pick_key<'a>(keys: &'a [Jwk], kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |k: &&Jwk| {
        matches!(
            (&k.algorithm, alg),
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256 | Algorithm::ES384
            ) | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
        ) && k
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature)
    };
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .filter(|k| fits(k)),
        None => {
            let mut candidates = keys.iter().filter(fits);
            let first = candidates.next()?;
            candidates.next().is_none().then_some(first)
        }
    }
}

/// Parses a key set, keeping the public keys this build can use and
/// skipping the rest (a provider may publish kinds we do not know, and a
/// shared secret is never a provider's signing key).
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, OidcError> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body)
        .map_err(|e| OidcError::BadDocument("key set", e.to_string()))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .filter(|k| {
            matches!(
                k.algorithm,
                AlgorithmParameters::RSA(_)
                    | AlgorithmParameters::EllipticCurve(_)
                    | AlgorithmParameters::OctetKeyPair(_)
            )
        })
        .collect())
}

struct CachedKeys {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Millis,
}

/// The HTTP side: one client, the discovery and key caches.
pub struct OidcClient {
    http: reqwest::Client,
    policy: DestinationPolicy,
    discovery: Mutex<HashMap<String, (Millis, Arc<Discovery>)>>,
    keys: Mutex<HashMap<String, CachedKeys>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient").finish_non_exhaustive()
    }
}

/// A successful code exchange's answer (the parts we use).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OidcClient {
    pub fn new(policy: DestinationPolicy) -> OidcClient {
        let builder = guarded_client(&policy)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .user_agent(format!("ScaiHub/{}", env!("CARGO_PKG_VERSION")));
        OidcClient {
            http: builder
                .build()
                .expect("the OIDC client's settings are valid"),
            policy,
            discovery: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// An address written as an IP skips the resolver, so it is checked here.
    fn check_literal(&self, url: &url::Url) -> Result<(), OidcError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.policy
            .check_ip(ip)
            .map_err(|e| OidcError::Unreachable(e.to_string()))
    }

    async fn read(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OidcError> {
        let mut res = req
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(describe(&e)))?;
        let status = res.status();
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| OidcError::Unreachable(describe(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(OidcError::Unreachable("its answer is too large".into()));
            }
        }
        Ok((status, body))
    }

    async fn get_json(&self, what: &'static str, url: &str) -> Result<Vec<u8>, OidcError> {
        let parsed =
            url::Url::parse(url).map_err(|e| OidcError::BadDocument(what, e.to_string()))?;
        self.check_literal(&parsed)?;
        let (status, body) = self.read(self.http.get(parsed)).await?;
        if !status.is_success() {
            return Err(OidcError::Unreachable(format!(
                "{what} answered HTTP {}",
                status.as_u16()
            )));
        }
        Ok(body)
    }

    /// The provider's discovery document, from the cache when it is
    /// younger than [`DISCOVERY_TTL_MS`]; `fresh` always fetches.
    pub async fn discover(
        &self,
        issuer: &str,
        now: Millis,
        fresh: bool,
    ) -> Result<Arc<Discovery>, OidcError> {
        if !fresh
            && let Some((at, doc)) = self.discovery.lock().expect("not poisoned").get(issuer)
            && now - at < DISCOVERY_TTL_MS
        {
            return Ok(doc.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = self.get_json("discovery document", &url).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| OidcError::BadDocument("discovery document", e.to_string()))?;
        doc.check(issuer)?;
        let doc = Arc::new(doc);
        self.discovery
            .lock()
            .expect("not poisoned")
            .insert(issuer.to_string(), (now, doc.clone()));
        Ok(doc)
    }

    /// The provider's keys for a token: from the cache, or fetched when
    /// the cache is old or lacks the token's `kid` (at most once every
    /// [`JWKS_REFETCH_MS`]).
    pub async fn keys_for(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: Millis,
    ) -> Result<Arc<Vec<Jwk>>, OidcError> {
        let cached = self
            .keys
            .lock()
            .expect("not poisoned")
            .get(jwks_uri)
            .map(|c| (c.keys.clone(), c.fetched_at));
        if let Some((keys, at)) = &cached {
            let young = now - at < JWKS_TTL_MS;
            let has = pick_key(keys, kid, alg).is_some();
            if young && (has || now - at < JWKS_REFETCH_MS) {
                return Ok(keys.clone());
            }
        }
        let body = self.get_json("key set", jwks_uri).await?;
        let keys = Arc::new(parse_jwks(&body)?);
        self.keys.lock().expect("not poisoned").insert(
            jwks_uri.to_string(),
            CachedKeys {
                keys: keys.clone(),
                fetched_at: now,
            },
        );
        Ok(keys)
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the
    /// ID token, authenticating as the provider's discovery asks.
    pub async fn exchange_code(
        &self,
        doc: &Discovery,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, OidcError> {
        let url = url::Url::parse(&doc.token_endpoint)
            .map_err(|e| OidcError::BadDocument("token endpoint", e.to_string()))?;
        self.check_literal(&url)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut req = self.http.post(url);
        match doc.client_auth()? {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: each part form-encoded, then base64.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", enc(client_id), enc(client_secret));
                req = req.header(
                    reqwest::header::AUTHORIZATION,
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ),
                );
            }
            ClientAuth::Post => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
        }
        let body = serde_urlencoded::to_string(&form).expect("strings encode");
        let req = req
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        let (status, body) = self.read(req).await?;
        if !status.is_success() {
            let why = serde_json::from_slice::<TokenError>(&body)
                .map(|e| match e.error_description {
                    Some(d) => format!("{}: {}", e.error, cut(&d, 200)),
                    None => e.error,
                })
                .unwrap_or_else(|_| format!("HTTP {}", status.as_u16()));
            return Err(OidcError::CodeRefused(why));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| OidcError::BadDocument("token answer", e.to_string()))?;
        answer
            .id_token
            .ok_or_else(|| OidcError::BadDocument("token answer", "it has no id_token".into()))
    }
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A reqwest error with its cause (a refused destination says why).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "it did not answer in time".to_string()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    cut(&text, 300)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://idp.example.com";
    const CLIENT: &str = "scaihub";
    const NONCE: &str = "n-0S6_WzA2Mj";
    /// 2026-06-01T00:00:00Z, ScaiHub's clock in these tests.
    const NOW: Millis = 1_780_272_000_000;

    /// A provider's ES256 key made for the test: the private half to sign
    /// with and the public JWK it would publish.
    struct TestKey {
        private: EncodingKey,
        jwk: Jwk,
    }

    fn key(kid: &str) -> TestKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        }))
        .unwrap();
        TestKey {
            private: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
        }
    }

    fn claims() -> Value {
        let now = NOW / 1000;
        json!({
            "iss": ISSUER, "sub": "248289761001", "aud": CLIENT, "exp": now + 300,
            "iat": now, "nonce": NONCE, "email": "ana@example.com", "email_verified": true,
        })
    }

    fn sign(k: &TestKey, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &k.private).unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: CLIENT,
            nonce: NONCE,
            now: NOW,
        }
    }

    fn refused(token: &str, keys: &[Jwk]) -> String {
        match verify_id_token(token, keys, &expected()) {
            Err(OidcError::IdToken(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_from_the_provider_for_this_sign_in_is_accepted() {
        let k = key("k1");
        let other = key("k2");
        let token = sign(&k, Some("k1"), &claims());
        let person =
            verify_id_token(&token, &[other.jwk.clone(), k.jwk.clone()], &expected()).unwrap();
        assert_eq!(person.subject, "248289761001");
        assert_eq!(person.email.as_deref(), Some("ana@example.com"));
        assert!(person.email_verified);
        // No kid: the one key of the right kind is used.
        let token = sign(&k, None, &claims());
        assert!(verify_id_token(&token, std::slice::from_ref(&k.jwk), &expected()).is_ok());
        // Within the leeway of its expiry, still good.
        let mut c = claims();
        c["exp"] = json!(NOW / 1000 - LEEWAY_SECS + 5);
        assert!(
            verify_id_token(
                &sign(&k, Some("k1"), &c),
                std::slice::from_ref(&k.jwk),
                &expected()
            )
            .is_ok()
        );
    }

    #[test]
    fn tampered_tokens_and_tokens_signed_by_another_key_are_refused() {
        let k = key("k1");
        let token = sign(&k, Some("k1"), &claims());
        // Another payload under the same signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut c = claims();
        c["email"] = json!("admin@example.com");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        let tampered = parts.join(".");
        assert!(refused(&tampered, std::slice::from_ref(&k.jwk)).contains("signature"));
        // Signed by a key that is not the provider's, claiming its kid.
        let impostor = key("k1");
        let forged = sign(&impostor, Some("k1"), &claims());
        assert!(refused(&forged, std::slice::from_ref(&k.jwk)).contains("signature"));
        // A kid the provider does not publish.
        let unknown = sign(&k, Some("k9"), &claims());
        assert!(refused(&unknown, std::slice::from_ref(&k.jwk)).contains("kid"));
    }

    #[test]
    fn unsigned_and_shared_secret_tokens_are_refused() {
        let k = key("k1");
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "k1"})),
            b64(&claims())
        );
        assert!(verify_id_token(&none, std::slice::from_ref(&k.jwk), &expected()).is_err());
        // HS256 keyed with something public must never verify.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(CLIENT.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(refused(&hs, std::slice::from_ref(&k.jwk)).contains("HS256"));
    }

    #[test]
    fn expired_future_wrong_nonce_issuer_audience_and_party_are_refused() {
        let k = key("k1");
        let keys = [k.jwk.clone()];
        let with = |field: &str, value: Value| {
            let mut c = claims();
            c[field] = value;
            sign(&k, Some("k1"), &c)
        };
        let now = NOW / 1000;
        assert!(refused(&with("exp", json!(now - LEEWAY_SECS - 1)), &keys).contains("expired"));
        assert!(refused(&with("iat", json!(now + LEEWAY_SECS + 60)), &keys).contains("future"));
        assert!(refused(&with("nonce", json!("another sign-in")), &keys).contains("nonce"));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nonce");
        assert!(refused(&sign(&k, Some("k1"), &c), &keys).contains("nonce"));
        assert!(refused(&with("iss", json!("https://evil.example")), &keys).contains("issued by"));
        assert!(refused(&with("aud", json!("another-client")), &keys).contains("another client"));
        assert!(
            refused(&with("aud", json!([CLIENT, "another-client"])), &keys)
                .contains("authorized party")
        );
        assert!(refused(&with("azp", json!("another-client")), &keys).contains("authorized party"));
        let mut c = claims();
        c["aud"] = json!([CLIENT, "another-client"]);
        c["azp"] = json!(CLIENT);
        assert!(verify_id_token(&sign(&k, Some("k1"), &c), &keys, &expected()).is_ok());
    }

    #[test]
    fn only_a_json_true_verifies_an_email() {
        let k = key("k1");
        for value in [json!("true"), json!(1), json!(false), Value::Null] {
            let mut c = claims();
            c["email_verified"] = value.clone();
            let person = verify_id_token(
                &sign(&k, Some("k1"), &c),
                std::slice::from_ref(&k.jwk),
                &expected(),
            )
            .unwrap();
            assert!(!person.email_verified, "{value}");
        }
    }

    #[test]
    fn provider_urls_are_https_or_loopback_http() {
        for ok in [
            "https://idp.example.com",
            "http://127.0.0.1:8080",
            "http://localhost/realms/x",
            "http://[::1]:9000",
        ] {
            assert!(url_allowed(&url::Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.1",
            "ftp://idp.example.com",
        ] {
            assert!(!url_allowed(&url::Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn key_sets_keep_the_keys_they_can_use() {
        let k = key("k1");
        let body = json!({"keys": [
            serde_json::to_value(&k.jwk).unwrap(),
            {"kty": "weird", "kid": "x"},
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(parse_jwks(b"not json").is_err());
    }
}
