//! Edge authentication of a backend's routes, from its `[backends.auth]`
//! settings: API keys (a header, `x-api-key` by default) and JWTs (a
//! bearer token checked against a JWKS file: RS256, ES256 or EdDSA,
//! `exp` and `nbf`, issuer and audience). A request passes with any one
//! credential that checks out. Missing or bad credentials answer 401, a
//! token that is valid but for another issuer or audience 403, both in
//! the JSON error shape.
//!
//! ```toml
//! [backends.auth]
//! api_keys = ["env:HELLO_KEYS"]     # or "file:keys.txt", or the key itself
//! api_key_header = "x-api-key"
//! jwt = { jwks_file = "jwks.json", issuer = "https://issuer", audience = "kitegate" }
//! # A verified token's claims sent on as call metadata (TTHeader string
//! # info, gRPC metadata, Dubbo attachments), claim = key; Kitex reads
//! # one-hop TTHeader values under metainfo's `RPC_TRANSIT_` prefix.
//! forward_claims = { sub = "x-user-id", tenant = "RPC_TRANSIT_tenant" }
//!
//! [backends.methods.echo]             # one method's routes:
//! auth = false                        # open, or `auth = { … }`: their own checks
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Failure};

/// The `auth` settings of a backend.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Where the accepted keys are: `env:NAME` (comma or newline
    /// separated), `file:PATH` (one per line, `#` comments), or a key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<String>,
    /// The header an API key comes in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtConfig>,
    /// Claims of a verified token sent to the backend as metadata: claim
    /// name -> metadata key. Strings go as they are, other values as JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forward_claims: BTreeMap<String, String>,
}

/// A method's own authentication (`[backends.methods.NAME] auth`):
/// `false` opens its routes, a table gives them their own checks.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MethodAuth {
    On(bool),
    Own(AuthConfig),
}

/// The metadata a verified token adds to a call (key, value), from
/// `forward_claims`; kept in the request's extensions.
#[derive(Debug, Clone)]
pub struct Claims(Arc<[(Box<str>, Box<str>)]>);

impl Claims {
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub jwks_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf` (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway_s: Option<u64>,
}

/// The algorithms a token may be signed with (never HMAC or `none`: the
/// keys are public).
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// A backend's checks, built once from its settings.
pub struct Auth {
    keys: HashSet<Vec<u8>>,
    key_header: axum::http::HeaderName,
    jwt: Option<Jwt>,
}

struct Jwt {
    keys: JwkSet,
    cfg: JwtConfig,
    /// Claim name -> metadata key.
    forward: Vec<(String, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("api_keys", &self.keys.len())
            .field("jwt", &self.jwt.as_ref().map(|j| j.keys.keys.len()))
            .finish()
    }
}

impl Auth {
    /// Reads the keys and the JWKS file; an error says which setting is wrong.
    pub fn build(cfg: &AuthConfig) -> Result<Auth, String> {
        let mut keys = HashSet::new();
        for source in &cfg.api_keys {
            let text = if let Some(var) = source.strip_prefix("env:") {
                std::env::var(var)
                    .map_err(|_| format!("auth.api_keys: environment variable {var} is not set"))?
            } else if let Some(path) = source.strip_prefix("file:") {
                std::fs::read_to_string(path)
                    .map_err(|e| format!("auth.api_keys: cannot read {path}: {e}"))?
            } else {
                source.clone()
            };
            for k in text.split([',', '\n']).map(str::trim) {
                if !k.is_empty() && !k.starts_with('#') {
                    keys.insert(k.as_bytes().to_vec());
                }
            }
        }
        if !cfg.api_keys.is_empty() && keys.is_empty() {
            return Err("auth.api_keys: no key found".into());
        }
        let key_header = cfg.api_key_header.as_deref().unwrap_or("x-api-key");
        let key_header = axum::http::HeaderName::from_bytes(key_header.as_bytes())
            .map_err(|e| format!("auth.api_key_header: `{key_header}`: {e}"))?;
        let jwt = match &cfg.jwt {
            None => None,
            Some(j) => {
                let text = std::fs::read_to_string(&j.jwks_file).map_err(|e| {
                    format!(
                        "auth.jwt.jwks_file: cannot read {}: {e}",
                        j.jwks_file.display()
                    )
                })?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                    format!(
                        "auth.jwt.jwks_file: {}: not a JWKS: {e}",
                        j.jwks_file.display()
                    )
                })?;
                if set.keys.is_empty() {
                    return Err(format!(
                        "auth.jwt.jwks_file: {} holds no key",
                        j.jwks_file.display()
                    ));
                }
                let mut forward = Vec::new();
                for (claim, key) in &cfg.forward_claims {
                    axum::http::HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes())
                        .map_err(|e| format!("auth.forward_claims.{claim}: `{key}`: {e}"))?;
                    forward.push((claim.clone(), key.clone()));
                }
                Some(Jwt {
                    keys: set,
                    cfg: j.clone(),
                    forward,
                })
            }
        };
        if keys.is_empty() && jwt.is_none() {
            return Err("auth: neither api_keys nor jwt is set".into());
        }
        if !cfg.forward_claims.is_empty() && jwt.is_none() {
            return Err("auth.forward_claims: only tokens have claims; set auth.jwt".into());
        }
        Ok(Auth {
            keys,
            key_header,
            jwt,
        })
    }

    /// Whether the request carries a credential that checks out; a token
    /// gives the claims to forward, when the settings name some.
    pub fn check(&self, headers: &HeaderMap) -> Result<Option<Claims>, ApiError> {
        let unauthorized = |m: String| Err(ApiError::from(Failure::Unauthorized(m)));
        if !self.keys.is_empty()
            && let Some(given) = headers.get(&self.key_header)
        {
            let given = given.as_bytes();
            // Every key is compared in full, so the time says nothing of which one is close.
            let ok = self
                .keys
                .iter()
                .fold(false, |ok, k| ok | crate::admin::constant_time_eq(k, given));
            return if ok {
                Ok(None)
            } else {
                unauthorized(format!(
                    "the {} is not a key of this backend",
                    self.key_header
                ))
            };
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.jwt, bearer) {
            (Some(jwt), Some(token)) => jwt.check(token.trim()),
            _ => {
                let mut wanted = Vec::new();
                if !self.keys.is_empty() {
                    wanted.push(format!("an API key in {}", self.key_header));
                }
                if self.jwt.is_some() {
                    wanted.push("a bearer token".to_string());
                }
                unauthorized(format!("this route needs {}", wanted.join(" or ")))
            }
        }
    }
}

impl Jwt {
    fn check(&self, token: &str) -> Result<Option<Claims>, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let unauthorized = |m: String| ApiError::from(Failure::Unauthorized(m));
        let head = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthorized(format!("the bearer token is not a JWT: {e}")))?;
        if !ALGORITHMS.contains(&head.alg) {
            return Err(unauthorized(format!(
                "token algorithm {:?} is not accepted",
                head.alg
            )));
        }
        let jwk = match &head.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| unauthorized("the token's key is not in the JWKS".into()))?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| unauthorized(format!("the token's key cannot be used: {e}")))?;
        let mut v = Validation::new(head.alg);
        v.validate_nbf = true;
        v.leeway = self.cfg.leeway_s.unwrap_or(30);
        match &self.cfg.issuer {
            Some(i) => v.set_issuer(&[i]),
            None => v.iss = None,
        }
        match &self.cfg.audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        match jsonwebtoken::decode::<serde_json::Value>(token, &key, &v) {
            Ok(data) => Ok(self.claims(&data.claims)),
            Err(e) => Err(match e.kind() {
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => ApiError::from(
                    Failure::Forbidden(format!("the token is not for this gateway: {e}")),
                ),
                ErrorKind::ExpiredSignature => unauthorized("the token has expired".into()),
                ErrorKind::ImmatureSignature => {
                    unauthorized("the token is not valid yet (nbf)".into())
                }
                _ => unauthorized(format!("the token does not check out: {e}")),
            }),
        }
    }
}

impl Jwt {
    /// The forwarded claims of a verified token (those it has).
    fn claims(&self, all: &serde_json::Value) -> Option<Claims> {
        if self.forward.is_empty() {
            return None;
        }
        let pairs: Vec<(Box<str>, Box<str>)> = self
            .forward
            .iter()
            .filter_map(|(claim, key)| {
                let v = all.get(claim)?;
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((key.as_str().into(), text.into()))
            })
            .collect();
        Some(Claims(pairs.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_from_their_sources() {
        let dir = std::env::temp_dir().join(format!("kitegate-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys.txt");
        std::fs::write(&file, "# keys\nfile-key\n\n").unwrap();
        let cfg = AuthConfig {
            api_keys: vec!["literal".into(), format!("file:{}", file.display())],
            ..Default::default()
        };
        let auth = Auth::build(&cfg).unwrap();
        let with = |k: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-api-key", k.parse().unwrap());
            auth.check(&h)
        };
        assert!(with("literal").is_ok() && with("file-key").is_ok());
        assert_eq!(with("nope").unwrap_err().status(), 401);
        assert_eq!(auth.check(&HeaderMap::new()).unwrap_err().status(), 401);
        assert!(
            Auth::build(&AuthConfig {
                api_keys: vec!["env:KITEGATE_NO_SUCH_VAR".into()],
                ..Default::default()
            })
            .is_err()
        );
        assert!(Auth::build(&AuthConfig::default()).is_err());
    }
}
