//! What the generated `tests/api.rs` sends: request bodies built from the fields' sample
//! values, in an order where every referenced row exists first.

use std::collections::HashSet;

use crate::model::{FieldKind, Model, ResourceModel};

/// The test steps of one resource.
pub struct TestResource<'a> {
    pub r: &'a ResourceModel,
    /// The `json!` body of a valid create (refs point at rows created before), when the
    /// resource and every resource it refers to can be created.
    pub create_body: Option<String>,
    /// Read-only fields, each refused in `readonly_body`.
    pub readonly: Vec<String>,
    pub readonly_body: String,
    /// A field and a new value for PATCH.
    pub patch: Option<(String, String)>,
    /// A well-formed key of no row.
    pub missing_key: String,
    /// A malformed key (none when any text is a valid key).
    pub bad_key: Option<String>,
    /// With `auth`: the subject the steps run as (a `&str` expression): the owner field's
    /// value of the created row for an owned resource, so it owns what it creates.
    pub subject: String,
}

/// How the generated tests authenticate, with `auth`: the secrets the server is started
/// with and how a caller's credentials are made. Test-only keys, written in the test.
pub struct TestAuth {
    /// `(variable, Rust expression)` set on the server process.
    pub env: Vec<(String, String)>,
    /// Bearer tokens minted with jsonwebtoken, when the spec has `auth.jwt`.
    pub jwt: Option<TestJwt>,
}

pub struct TestJwt {
    /// `Algorithm::HS256` or `Algorithm::ES256`.
    pub algorithm: &'static str,
    /// The `EncodingKey` expression.
    pub key: &'static str,
    /// Extra claims (`"iss": "…"`, `"aud": "…"`), JSON members.
    pub claims: String,
    pub roles_claim: String,
    /// Every role the spec names: the test caller has them all.
    pub roles: Vec<String>,
}

/// The HS256 secret of the generated tests.
const TEST_SECRET: &str = "apiforge-generated-test-secret-0123456789abcdef";
/// The API key of the generated tests, and the SHA-256 the server is given.
pub const TEST_API_KEY: &str = "apiforge-test-key";
const TEST_API_KEY_SHA256: &str =
    "a33bfab542a615e9b51fe2b4cb18403b4889e6ebbb7cf537c99ac79bf32854ef";
/// An ES256 key pair made for the generated tests (`openssl ecparam -name prime256v1`):
/// never use it for anything else.
const TEST_EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWEff08x0rtmYX7Hb
Q/7F0WKD2G/PNKWGMvX+8Ee8z5ChRANCAATo516M0XoQLyVooxjOmzquhjG0RoSv
PRPT8vKzUL+pk7N2c0E0DuE+bup0w2WzhoW8d0lk1CwaW6Hk1S4UOjEB
-----END PRIVATE KEY-----";
const TEST_EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6OdejNF6EC8laKMYzps6roYxtEaE
rz0T0/Lys1C/qZOzdnNBNA7hPm7qdMNls4aFvHdJZNQsGluh5NUuFDoxAQ==
-----END PUBLIC KEY-----";

/// The test credentials of a spec with `auth`.
pub fn test_auth(m: &Model) -> Option<TestAuth> {
    let auth = m.auth.as_ref()?;
    let mut env = Vec::new();
    let jwt = auth.jwt.as_ref().map(|j| {
        let (algorithm, key) = match (&j.secret_env, &j.public_key_env) {
            (Some(var), _) => {
                env.push((var.clone(), format!("{TEST_SECRET:?}")));
                (
                    "Algorithm::HS256",
                    "EncodingKey::from_secret(TEST_SECRET.as_bytes()).expect(\"the test secret\")",
                )
            }
            (None, public) => {
                env.push((
                    public.clone().unwrap_or_default(),
                    format!("{TEST_EC_PUBLIC:?}"),
                ));
                (
                    "Algorithm::ES256",
                    "EncodingKey::from_ec_pem(TEST_EC_PRIVATE.as_bytes()).expect(\"the test key\")",
                )
            }
        };
        let mut claims = String::new();
        if let Some(iss) = &j.issuer {
            claims.push_str(&format!("\"iss\": {iss:?}, "));
        }
        if let Some(aud) = &j.audience {
            claims.push_str(&format!("\"aud\": {aud:?}, "));
        }
        TestJwt {
            algorithm,
            key,
            claims,
            roles_claim: j.roles_claim.clone(),
            roles: m.roles(),
        }
    });
    if let Some(var) = &auth.api_keys_env {
        env.push((var.clone(), format!("\"test:{TEST_API_KEY_SHA256}\"")));
    }
    Some(TestAuth { env, jwt })
}

/// The Rust constants the test credentials need (test keys only).
pub fn test_constants(auth: &TestAuth) -> String {
    match &auth.jwt {
        Some(j) if j.algorithm == "Algorithm::HS256" => {
            format!("const TEST_SECRET: &str = {TEST_SECRET:?};")
        }
        Some(_) => format!("const TEST_EC_PRIVATE: &str = {TEST_EC_PRIVATE:?};"),
        None => format!("const TEST_API_KEY: &str = {TEST_API_KEY:?};"),
    }
}

pub fn tests(m: &Model) -> Vec<TestResource<'_>> {
    let mut created: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for r in m.creation_order() {
        let creatable = r.ops.create
            && r.fields
                .iter()
                .filter_map(|f| f.ref_to.as_deref())
                .all(|t| created.contains(t));
        let entries: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.in_create)
            .map(|f| match &f.ref_to {
                Some(t) => format!("\"{}\": ids[\"{t}\"].clone()", f.name),
                None => format!("\"{}\": {}", f.name, f.sample),
            })
            .collect();
        let readonly: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.readonly)
            .map(|f| f.name.clone())
            .collect();
        let readonly_entries: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.readonly)
            .map(|f| format!("\"{}\": {}", f.name, f.sample))
            .chain(entries.iter().cloned())
            .collect();
        if creatable {
            created.insert(&r.key);
        }
        // An owned row cannot be given away: the owner field is not the one changed.
        let owner = r.access.as_ref().and_then(|a| a.owner.as_deref());
        let patch = if r.ops.update {
            r.fields
                .iter()
                .find(|f| f.in_update && f.ref_to.is_none() && Some(f.name.as_str()) != owner)
                .map(|f| (f.name.clone(), f.sample_alt.clone()))
        } else {
            None
        };
        let (missing_key, bad_key) = match r.pk.kind {
            FieldKind::Int | FieldKind::Bigint | FieldKind::Serial | FieldKind::Bigserial => {
                ("999999999".to_string(), Some("not-a-number".to_string()))
            }
            FieldKind::Uuid => (
                "00000000-0000-4000-8000-000000000000".to_string(),
                Some("not-a-uuid".to_string()),
            ),
            FieldKind::String | FieldKind::Text => ("no-such-key".to_string(), None),
            _ => ("no-such-key".to_string(), Some("%00".to_string())),
        };
        // An owned resource's rows belong to the caller: run as the owner its body names.
        let subject = match owner.and_then(|o| r.fields.iter().find(|f| f.name == o)) {
            Some(f) if creatable => match &f.ref_to {
                Some(t) => format!("&key(&ids[\"{t}\"])"),
                None => format!("&key(&json!({}))", f.sample),
            },
            _ => "\"apiforge-test\"".to_owned(),
        };
        out.push(TestResource {
            subject,
            r,
            create_body: creatable.then(|| format!("{{ {} }}", entries.join(", "))),
            readonly,
            readonly_body: format!("{{ {} }}", readonly_entries.join(", ")),
            patch,
            missing_key,
            bad_key,
        });
    }
    out
}
