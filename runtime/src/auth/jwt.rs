//! Bearer JWTs, verified with the `jsonwebtoken` crate: HS256 with a shared secret, or
//! RS256 / ES256 with a PEM public key; `exp` required, `nbf` checked, both with a small
//! leeway; `iss` and `aud` checked when the spec sets them.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::engine::Caller;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// A HS256 secret shorter than this is refused (RFC 7518 §3.2: at least the hash size).
const MIN_SECRET_BYTES: usize = 32;

/// Where the verification key comes from (the names of environment variables).
#[derive(Debug, Clone, Copy)]
pub enum JwtKey {
    /// HS256 with the secret in this variable.
    Secret(&'static str),
    /// RS256 (RSA key) or ES256 (P-256 key), the PEM public key in this variable.
    PublicKey(&'static str),
}

/// `auth.jwt` of the spec.
#[derive(Debug, Clone, Copy)]
pub struct JwtSettings {
    pub key: JwtKey,
    pub issuer: Option<&'static str>,
    pub audience: Option<&'static str>,
    /// The claim holding the caller's roles (an array of strings, or one space-separated
    /// string).
    pub roles_claim: &'static str,
}

/// A verifier built from [`JwtSettings`] and the environment.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    roles_claim: &'static str,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Reads the key from the environment: a one-line error when it is missing or invalid.
    pub fn from_env(settings: &JwtSettings) -> Result<Self, String> {
        let material = match settings.key {
            JwtKey::Secret(env) => super::env_var(env, "auth.jwt.secret_env")?,
            JwtKey::PublicKey(env) => super::env_var(env, "auth.jwt.public_key_env")?,
        };
        Self::with_key(settings, &material)
    }

    /// A verifier with the secret or PEM public key `material` (what the variable holds).
    pub fn with_key(settings: &JwtSettings, material: &str) -> Result<Self, String> {
        let (key, algorithm) = match settings.key {
            JwtKey::Secret(env) => {
                let secret = material;
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(format!(
                        "{env} is too short for HS256: use at least {MIN_SECRET_BYTES} bytes"
                    ));
                }
                (
                    DecodingKey::from_secret(secret.as_bytes())
                        .map_err(|e| format!("{env}: {e}"))?,
                    Algorithm::HS256,
                )
            }
            JwtKey::PublicKey(env) => {
                // A PEM can come through an env var with `\n` written out.
                let pem = material.replace("\\n", "\n");
                if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                    (key, Algorithm::ES256)
                } else {
                    return Err(format!(
                        "{env} is not a PEM public key (RSA for RS256, P-256 for ES256)"
                    ));
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = settings.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Self {
            key,
            validation,
            roles_claim: settings.roles_claim,
        })
    }

    /// The caller a token names, or why it is refused (no secret in the message).
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| e.to_string())?;
        let claims = data.claims;
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("the token has no usable `sub` claim".into()),
        };
        let roles: Vec<String> = match claims.get(self.roles_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Caller::new(subject).with_roles(roles))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn settings() -> JwtSettings {
        JwtSettings {
            key: JwtKey::Secret("JWT_SECRET"),
            issuer: Some("https://issuer"),
            audience: Some("api"),
            roles_claim: "roles",
        }
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        let mut base = json!({
            "sub": "u1", "iss": "https://issuer", "aud": "api",
            "exp": get_current_timestamp() + 60, "roles": ["admin"],
        });
        base.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
        encode(&Header::default(), &base, &key).unwrap()
    }

    #[test]
    fn verifies_claims() {
        let v = JwtVerifier::with_key(&settings(), SECRET).unwrap();
        let caller = v.verify(&token(json!({}), SECRET)).unwrap();
        assert_eq!(caller.subject, "u1");
        assert!(caller.has_role("admin"));
        let spaced = v.verify(&token(json!({ "roles": "a b" }), SECRET)).unwrap();
        assert!(spaced.has_role("a") && spaced.has_role("b"));
        let past = get_current_timestamp() - 2 * LEEWAY_SECS - 10;
        for bad in [
            token(json!({ "exp": past }), SECRET),
            token(json!({ "nbf": get_current_timestamp() + 600 }), SECRET),
            token(json!({ "iss": "https://other" }), SECRET),
            token(json!({ "aud": "other" }), SECRET),
            token(json!({}), "another secret of 32 bytes or more"),
        ] {
            assert!(v.verify(&bad).is_err());
        }
    }

    #[test]
    fn refuses_short_secrets_and_bad_pems() {
        assert!(JwtVerifier::with_key(&settings(), "short").is_err());
        let pem = JwtSettings {
            key: JwtKey::PublicKey("JWT_PUBLIC_KEY"),
            ..settings()
        };
        assert!(JwtVerifier::with_key(&pem, "not a pem").is_err());
    }
}
