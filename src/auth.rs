//! Bearer tokens: HS256 JWTs with a pinned algorithm and a required `exp`.
//!
//! `sub` names the principal (`creator:<uuid>`, `agency:<uuid>`,
//! `admin:<name>`); an optional `scope` narrows what the token may do.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Principal, Scopes, Viewer};

/// The secret `serve --demo` signs with. Public by design: demo only.
pub const DEMO_SECRET: &str = "agency-center-demo-secret-do-not-use-in-production";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Why a presented token was not accepted. Deliberately coarse: callers
/// learn that the token is unusable, not which check it failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs a token for `principal`, valid for `ttl`.
    pub fn issue(
        &self,
        principal: &Principal,
        ttl: Duration,
        scope: Option<&str>,
    ) -> anyhow::Result<String> {
        if let Some(scope) = scope {
            Scopes::parse(scope).map_err(anyhow::Error::msg)?;
        }
        let sub = match principal {
            Principal::Creator(id) => format!("creator:{id}"),
            Principal::Agency(id) => format!("agency:{id}"),
            Principal::Admin(name) => format!("admin:{name}"),
            Principal::Anonymous => anyhow::bail!("anonymous callers have no token"),
        };
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub,
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            scope: scope.map(str::to_owned),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks signature, algorithm and expiry, then reads the principal.
    pub fn verify(&self, token: &str) -> Result<Viewer, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let claims = data.claims;
        let principal = parse_subject(&claims.sub).ok_or(AuthError::Invalid)?;
        let scopes = claims
            .scope
            .as_deref()
            .map(Scopes::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid)?;
        Ok(Viewer::new(principal, scopes))
    }

    /// Reads an `Authorization` header value; no header is an anonymous viewer.
    pub fn viewer_from_header(&self, header: Option<&str>) -> Result<Viewer, AuthError> {
        let Some(value) = header else {
            return Ok(Viewer::ANONYMOUS);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token)
    }
}

fn parse_subject(sub: &str) -> Option<Principal> {
    let (kind, rest) = sub.split_once(':')?;
    match kind {
        "creator" => Uuid::parse_str(rest).ok().map(Principal::Creator),
        "agency" => Uuid::parse_str(rest).ok().map(Principal::Agency),
        "admin" if !rest.trim().is_empty() => Some(Principal::Admin(rest.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_to_their_principal_and_scopes() {
        let keys = TokenKeys::new(b"secret");
        let id = Uuid::now_v7();
        let token = keys
            .issue(
                &Principal::Agency(id),
                Duration::from_secs(60),
                Some("read ingest"),
            )
            .unwrap();
        let viewer = keys.verify(&token).unwrap();
        assert_eq!(viewer.principal, Principal::Agency(id));
        let scopes = viewer.scopes.unwrap();
        assert!(scopes.read && scopes.ingest && !scopes.write);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = TokenKeys::new(b"other")
            .issue(&Principal::Admin("x".into()), Duration::from_secs(60), None)
            .unwrap();
        assert!(matches!(
            TokenKeys::new(b"secret").verify(&token),
            Err(AuthError::Invalid)
        ));
    }

    #[test]
    fn subjects_must_name_a_known_principal() {
        assert!(parse_subject("creator:not-a-uuid").is_none());
        assert!(parse_subject("root:x").is_none());
        assert!(parse_subject("admin:").is_none());
        assert_eq!(
            parse_subject("admin:ops"),
            Some(Principal::Admin("ops".into()))
        );
    }
}
