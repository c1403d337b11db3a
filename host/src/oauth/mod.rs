//! ScaiHub as an OAuth 2.0 authorization server: access tokens are JWTs
//! (RFC 9068) signed with Ed25519 keys that are sealed at rest and rotate
//! with overlap; grants, introspection and revocation live in
//! [`crate::hub::oauth`], the endpoints in [`crate::http::oauth`].
//! [`oidc`] is the other direction: ScaiHub as a client of an
//! organisation's own OpenID Connect provider, for signing people in.

pub mod jwt;
pub mod keys;
pub mod oidc;
pub mod pkce;
