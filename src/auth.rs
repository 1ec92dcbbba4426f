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
    /// Optional in RFC 7519; ours always carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
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
        validation.validate_nbf = true;
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
        if *principal == Principal::Anonymous {
            anyhow::bail!("anonymous callers have no token");
        }
        let sub = principal.subject();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub,
            iat: Some(now),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            scope: scope.map(str::to_owned),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks signature, algorithm, expiry and `nbf`, then reads the
    /// principal.
    pub fn verify(&self, token: &str) -> Result<Viewer, AuthError> {
        self.verify_until(token).map(|(viewer, _)| viewer)
    }

    /// [`Self::verify`], with the token's expiry (seconds since the epoch):
    /// what a long-lived connection must honour.
    pub fn verify_until(&self, token: &str) -> Result<(Viewer, i64), AuthError> {
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
        Ok((Viewer::new(principal, scopes), claims.exp))
    }

    /// Reads an `Authorization` header value; no header is an anonymous viewer.
    pub fn viewer_from_header(&self, header: Option<&str>) -> Result<Viewer, AuthError> {
        self.session_from_header(header).map(|(viewer, _)| viewer)
    }

    /// The viewer and, for a token, its expiry (none for anonymous).
    pub fn session_from_header(
        &self,
        header: Option<&str>,
    ) -> Result<(Viewer, Option<i64>), AuthError> {
        let Some(value) = header else {
            return Ok((Viewer::ANONYMOUS, None));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MalformedHeader)?;
        let (viewer, exp) = self.verify_until(token)?;
        Ok((viewer, Some(exp)))
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

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    #[test]
    fn iat_is_optional_and_nbf_is_honoured() {
        let keys = TokenKeys::new(b"secret");
        let now = chrono::Utc::now().timestamp();
        let sub = "admin:ops";
        let no_iat = signed(serde_json::json!({"sub": sub, "exp": now + 60}));
        assert!(keys.verify(&no_iat).is_ok());
        let later = signed(serde_json::json!({"sub": sub, "exp": now + 600, "nbf": now + 300}));
        assert!(matches!(keys.verify(&later), Err(AuthError::Invalid)));
        let began = signed(serde_json::json!({"sub": sub, "exp": now + 600, "nbf": now - 1}));
        assert!(keys.verify(&began).is_ok());
        let (_, exp) = keys.verify_until(&no_iat).unwrap();
        assert_eq!(exp, now + 60);
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
