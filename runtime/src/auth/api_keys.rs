//! API keys: the environment holds `name:sha256-hex-of-key,…` (never the keys), a request
//! sends the key in `X-API-Key`, and the caller is the key's name. The presented key is
//! hashed and compared with every stored hash in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured keys.
#[derive(Clone)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

impl ApiKeys {
    /// Parses `name:hex,name:hex`; `env` names the variable in messages.
    pub fn parse(env: &str, text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, hash) = entry.split_once(':').ok_or_else(|| {
                format!("{env}: each entry is `name:sha256-hex-of-key`, separated by commas")
            })?;
            let bytes = hex::decode(hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!("{env}: the hash of `{name}` is not 64 hexadecimal digits (SHA-256)")
                })?;
            keys.push((name.trim().to_owned(), bytes));
        }
        if keys.is_empty() {
            return Err(format!("{env} holds no API key"));
        }
        Ok(Self { keys })
    }

    /// The name of the key `presented` is, if any.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every stored hash is compared, so the time taken does not tell which one matched.
        let mut found = None;
        for (name, stored) in &self.keys {
            if bool::from(stored.ct_eq(&hash)) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_by_hash() {
        let hash = hex::encode(Sha256::digest(b"s3cret"));
        let keys =
            ApiKeys::parse("API_KEYS", &format!("ci:{hash}, other:{}", "0".repeat(64))).unwrap();
        assert_eq!(keys.verify("s3cret"), Some("ci"));
        assert_eq!(keys.verify("wrong"), None);
        assert!(ApiKeys::parse("API_KEYS", "ci:abc").is_err());
        assert!(ApiKeys::parse("API_KEYS", "").is_err());
        assert!(!format!("{keys:?}").contains(&hash));
    }
}
