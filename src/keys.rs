//! Signing keys: generation, their JWKs, the in-memory key set every
//! instance reloads from the database, and rotation.
//!
//! Lifecycle per algorithm: a `next` key is published in the JWKS before it
//! signs anything; rotation makes it `active` (it signs) and retires the old
//! active key, which stays published until every token it signed has expired.
//! A gateway that caches the JWKS for `MONBAN_JWKS_MAX_AGE` therefore never
//! sees a `kid` it could not have fetched.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, Jwk,
    KeyAlgorithm, OctetKeyPairParameters, PublicKeyUse, RSAKeyParameters, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sqlx::types::Json;

use crate::config::Config;
use crate::key_encryption::{KeyEncryption, SealError};
use crate::store::{self, Db, keys::KeyRow};
use crate::types::{KeyState, SigningAlg};

/// How often every instance re-reads the signing keys: a rotation made by
/// the CLI or another instance is in use everywhere within this time.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {kid} is unusable: {reason}")]
    Stored { kid: String, reason: String },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error("no active {0} signing key")]
    NoActiveKey(SigningAlg),
    #[error(transparent)]
    Sealed(#[from] SealError),
}

/// A freshly generated key pair, ready to store.
pub fn generate(alg: SigningAlg, state: KeyState, now: i64) -> Result<KeyRow, KeyError> {
    let failed = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let rng = SystemRandom::new();
    let (pkcs8, params) = match alg {
        SigningAlg::RS256 => {
            // The operating system's generator; one that fails here is a
            // machine that cannot make keys at all.
            let mut os = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
            let key = rsa::RsaPrivateKey::new(&mut os, 2048).map_err(|e| failed(&e))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| failed(&e))?
                .as_bytes()
                .to_vec();
            let params = AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: Default::default(),
                n: URL_SAFE_NO_PAD.encode(key.n_bytes()),
                e: URL_SAFE_NO_PAD.encode(key.e_bytes()),
            });
            (der, params)
        }
        SigningAlg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| failed(&e))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|e| failed(&e))?;
            // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
            let point = pair.public_key().as_ref();
            let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
                return Err(KeyError::Generate("unexpected EC public key size".into()));
            };
            let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: Default::default(),
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            });
            (doc.as_ref().to_vec(), params)
        }
        SigningAlg::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| failed(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| failed(&e))?;
            let params = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: Default::default(),
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            (doc.as_ref().to_vec(), params)
        }
    };
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(key_algorithm(alg)),
            ..Default::default()
        },
        algorithm: params,
    };
    // RFC 7638 thumbprint as kid: stable, unique, derived from the key.
    let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
    jwk.common.key_id = Some(kid.clone());
    let public_jwk = serde_json::to_value(&jwk).map_err(|e| failed(&e))?;
    Ok(KeyRow {
        kid,
        alg,
        state,
        private_key: pkcs8,
        public_jwk: Json(public_jwk),
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        remove_after: None,
    })
}

fn key_algorithm(alg: SigningAlg) -> KeyAlgorithm {
    match alg {
        SigningAlg::RS256 => KeyAlgorithm::RS256,
        SigningAlg::ES256 => KeyAlgorithm::ES256,
        SigningAlg::EdDSA => KeyAlgorithm::EdDSA,
    }
}

/// A stored key, parsed for signing and verifying.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub remove_after: Option<i64>,
    pub jwk: Jwk,
    encoding: EncodingKey,
    pub decoding: DecodingKey,
}

impl SigningKey {
    fn from_row(row: &KeyRow, encryption: &KeyEncryption) -> Result<SigningKey, KeyError> {
        let bad = |reason: String| KeyError::Stored {
            kid: row.kid.clone(),
            reason,
        };
        let private_key = encryption.open(&row.kid, &row.private_key)?;
        let (alg, state) = (row.alg, row.state);
        let jwk: Jwk =
            serde_json::from_value(row.public_jwk.0.clone()).map_err(|e| bad(e.to_string()))?;
        let encoding = match alg {
            // jsonwebtoken's RSA keys are PKCS#1; monban stores PKCS#8.
            SigningAlg::RS256 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&private_key)
                    .map_err(|e| bad(e.to_string()))?;
                let pkcs1 = key.to_pkcs1_der().map_err(|e| bad(e.to_string()))?;
                EncodingKey::from_rsa_der(pkcs1.as_bytes())
            }
            SigningAlg::ES256 => EncodingKey::from_ec_der(&private_key),
            SigningAlg::EdDSA => EncodingKey::from_ed_der(&private_key),
        };
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| bad(e.to_string()))?;
        Ok(SigningKey {
            kid: row.kid.clone(),
            alg,
            state,
            created_at: row.created_at,
            activated_at: row.activated_at,
            retired_at: row.retired_at,
            remove_after: row.remove_after,
            jwk,
            encoding,
            decoding,
        })
    }
}

/// Every published key, with the JWKS document pre-serialised.
pub struct KeySet {
    keys: Vec<SigningKey>,
    jwks: axum::body::Bytes,
    /// (kid, state) of each key: tells whether a reload changed anything.
    fingerprint: Vec<(String, &'static str)>,
}

#[derive(Serialize)]
struct JwksDocument<'a> {
    keys: Vec<&'a Jwk>,
}

impl KeySet {
    /// Parses stored keys, decrypting them when they are sealed.
    pub fn from_rows(rows: &[KeyRow], encryption: &KeyEncryption) -> Result<KeySet, KeyError> {
        let mut keys = rows
            .iter()
            .map(|row| SigningKey::from_row(row, encryption))
            .collect::<Result<Vec<_>, _>>()?;
        // Active keys first, then next, then retired: verifiers that try keys
        // in order find the likely one first.
        keys.sort_by_key(|k| match k.state {
            KeyState::Active => 0,
            KeyState::Next => 1,
            KeyState::Retired => 2,
        });
        let doc = JwksDocument {
            keys: keys.iter().map(|k| &k.jwk).collect(),
        };
        let jwks = serde_json::to_vec(&doc).map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(KeySet {
            fingerprint: fingerprint(rows),
            keys,
            jwks: jwks.into(),
        })
    }

    pub fn empty() -> KeySet {
        KeySet {
            keys: Vec::new(),
            jwks: axum::body::Bytes::from_static(b"{\"keys\":[]}"),
            fingerprint: Vec::new(),
        }
    }

    /// The JWKS document (RFC 7517 §5).
    pub fn jwks(&self) -> axum::body::Bytes {
        self.jwks.clone()
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The key that signs with `alg` now.
    pub fn active(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
    }

    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Signs `claims` as a JWS with the active `alg` key; `typ` goes in the
    /// header (e.g. `at+jwt`, RFC 9068 §2.1).
    pub fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, KeyError> {
        let key = self.active(alg).ok_or(KeyError::NoActiveKey(alg))?;
        let mut header = Header::new(alg.jwt_algorithm());
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }
}

fn fingerprint(rows: &[KeyRow]) -> Vec<(String, &'static str)> {
    let mut fp: Vec<_> = rows
        .iter()
        .map(|r| (r.kid.clone(), r.state.as_str()))
        .collect();
    fp.sort();
    fp
}

/// The current key set, shared by all requests and replaced on reload.
pub struct Keys {
    current: RwLock<Arc<KeySet>>,
    encryption: KeyEncryption,
}

impl Keys {
    pub fn new(set: KeySet, encryption: KeyEncryption) -> Keys {
        Keys {
            current: RwLock::new(Arc::new(set)),
            encryption,
        }
    }

    pub fn get(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Re-reads the keys from the database; parses them again only if a key
    /// was added, removed or changed state. Returns whether it changed.
    pub async fn reload(&self, db: &Db) -> Result<bool, KeyError> {
        let mut rows = store::keys::all(db).await?;
        if fingerprint(&rows) == self.get().fingerprint {
            return Ok(false);
        }
        // A key stored in plain meanwhile (by an older version): sealed now.
        if seal_plain_keys(db, &self.encryption).await? > 0 {
            rows = store::keys::all(db).await?;
        }
        let encryption = self.encryption.clone();
        let set = tokio::task::spawn_blocking(move || KeySet::from_rows(&rows, &encryption))
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(true)
    }
}

/// Refuses to add keys to a database whose keys are sealed when this
/// process cannot seal (no `MONBAN_KEY_ENCRYPTION_KEY`): the new key would
/// be stored in plain.
fn check_can_store(rows: &[KeyRow], encryption: &KeyEncryption) -> Result<(), KeyError> {
    match rows
        .iter()
        .find(|r| KeyEncryption::is_sealed(&r.private_key))
    {
        Some(sealed) if !encryption.is_on() => Err(KeyError::Sealed(SealError::KeyMissing {
            kid: sealed.kid.clone(),
        })),
        _ => Ok(()),
    }
}

/// A generated key in its stored form: sealed when encryption is on.
fn sealed(mut row: KeyRow, encryption: &KeyEncryption) -> Result<KeyRow, KeyError> {
    row.private_key = encryption.seal(&row.kid, &row.private_key)?;
    Ok(row)
}

/// With `MONBAN_KEY_ENCRYPTION_KEY` set, seals every key still stored in
/// plain (made before the setting was). Returns how many it sealed.
pub async fn seal_plain_keys(db: &Db, encryption: &KeyEncryption) -> Result<usize, KeyError> {
    if !encryption.is_on() {
        return Ok(0);
    }
    let mut count = 0;
    for row in store::keys::all(db).await? {
        if KeyEncryption::is_sealed(&row.private_key) {
            continue;
        }
        let stored = encryption.seal(&row.kid, &row.private_key)?;
        if store::keys::replace_private_key(db, &row.kid, &row.private_key, &stored).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// Makes sure every algorithm in `algs` has an active and a next key,
/// creating what is missing. Returns the algorithms it created keys for.
pub async fn ensure(
    db: &Db,
    encryption: &KeyEncryption,
    algs: &[SigningAlg],
    now: i64,
) -> Result<Vec<SigningAlg>, KeyError> {
    let rows = store::keys::all(db).await?;
    check_can_store(&rows, encryption)?;
    let mut created = Vec::new();
    for &alg in algs {
        let has = |state: KeyState| rows.iter().any(|r| r.alg == alg && r.state == state);
        let mut missing = Vec::new();
        if !has(KeyState::Active) {
            missing.push(KeyState::Active);
        }
        if !has(KeyState::Next) {
            missing.push(KeyState::Next);
        }
        if missing.is_empty() {
            continue;
        }
        let encryption = encryption.clone();
        let new_keys = tokio::task::spawn_blocking(move || {
            missing
                .into_iter()
                .map(|state| sealed(generate(alg, state, now)?, &encryption))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))??;
        // false: another instance created them at the same moment; theirs stand.
        if store::keys::insert_all(db, &new_keys).await? {
            created.push(alg);
        }
    }
    Ok(created)
}

/// The algorithms that must have keys: the access-token algorithm, and
/// RS256, which OpenID Connect requires for ID tokens.
pub fn required_algs(signing_alg: SigningAlg) -> Vec<SigningAlg> {
    if signing_alg == SigningAlg::RS256 {
        vec![SigningAlg::RS256]
    } else {
        vec![signing_alg, SigningAlg::RS256]
    }
}

/// What one rotation did for one algorithm.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub alg: SigningAlg,
    pub retired_kid: Option<String>,
    pub active_kid: String,
    pub next_kid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "refusing to rotate: the next {alg} key {kid} has been published for {published_for}s, \
         less than MONBAN_JWKS_MAX_AGE ({max_age}s) plus the {reload}s servers take to load it; \
         gateways may not have fetched it yet. Safe from {safe_at} (in {wait}s), or use --force"
    )]
    TooEarly {
        alg: SigningAlg,
        kid: String,
        published_for: i64,
        max_age: i64,
        reload: i64,
        safe_at: String,
        wait: i64,
    },
    #[error("there is no next key to promote; start `monban serve` once to create the keys")]
    NoNextKey,
    #[error("another rotation happened at the same time; run `monban keys list` and try again")]
    Raced,
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<sqlx::Error> for RotateError {
    fn from(e: sqlx::Error) -> RotateError {
        RotateError::Key(KeyError::Db(e))
    }
}

/// How a rotation treats gateways' caches and the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateMode {
    /// Only once the next key has been published for a JWKS max-age; the
    /// old key stays published until its tokens have expired.
    Safe,
    /// At once, even if gateways may not have fetched the next key yet.
    Force,
    /// A compromised key: at once, and the old key is withdrawn from the
    /// JWKS now, so every token it signed stops verifying.
    Withdraw,
}

impl RotateMode {
    /// The names the admin API and pages take: `safe`, `force`, `now`.
    pub fn parse(raw: &str) -> Result<RotateMode, String> {
        match raw {
            "safe" => Ok(RotateMode::Safe),
            "force" => Ok(RotateMode::Force),
            "now" => Ok(RotateMode::Withdraw),
            other => Err(format!("{other:?}: expected safe, force or now")),
        }
    }
}

/// Rotates every algorithm that has a `next` key, in one transaction:
/// next → active, active → retired, and a new next. `RotateMode::Safe`
/// refuses while a next key has been published for less than
/// `MONBAN_JWKS_MAX_AGE`.
pub async fn rotate(
    db: &Db,
    config: &Config,
    mode: RotateMode,
    now: i64,
) -> Result<Vec<Rotation>, RotateError> {
    let jwks_max_age = config.jwks_max_age;
    // A retired key stays published while tokens it signed are valid: those
    // signed up to the rotation, and those other instances sign until they
    // reload the keys; plus a minute for clock skew.
    let reload_interval = RELOAD_INTERVAL.as_secs() as i64;
    let retire_for = if mode == RotateMode::Withdraw {
        0
    } else {
        // Registered APIs may give access tokens a longer life.
        let apis = store::apis::all(db).await?;
        let longest = crate::apis::longest_access_ttl(config.longest_signed_token_ttl(), &apis);
        longest + reload_interval + crate::config::CLOCK_SKEW
    };
    let rows = store::keys::all(db).await?;
    check_can_store(&rows, &config.key_encryption)?;
    let nexts: Vec<&KeyRow> = rows.iter().filter(|r| r.state == KeyState::Next).collect();
    if nexts.is_empty() {
        return Err(RotateError::NoNextKey);
    }
    if mode == RotateMode::Safe {
        // Instances publish a new key within RELOAD_INTERVAL of its creation;
        // a gateway may have cached the JWKS just before that.
        let wait = jwks_max_age + reload_interval;
        for next in &nexts {
            let published_for = now - next.created_at;
            if published_for < wait {
                let safe = next.created_at + wait;
                return Err(RotateError::TooEarly {
                    alg: next.alg,
                    kid: next.kid.clone(),
                    published_for,
                    max_age: jwks_max_age,
                    reload: reload_interval,
                    safe_at: rfc3339(safe),
                    wait: safe - now,
                });
            }
        }
    }
    let mut plan = Vec::new();
    for next in nexts {
        let alg = next.alg;
        let retired_kid = rows
            .iter()
            .find(|r| r.alg == next.alg && r.state == KeyState::Active)
            .map(|r| r.kid.clone());
        let encryption = config.key_encryption.clone();
        let new_next = tokio::task::spawn_blocking(move || {
            sealed(generate(alg, KeyState::Next, now)?, &encryption)
        })
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))??;
        plan.push((
            Rotation {
                alg,
                retired_kid,
                active_kid: next.kid.clone(),
                next_kid: new_next.kid.clone(),
            },
            new_next,
        ));
    }
    let steps: Vec<(&str, &str, &KeyRow)> = plan
        .iter()
        .map(|(r, new_next)| (r.alg.as_str(), r.active_kid.as_str(), new_next))
        .collect();
    if !store::keys::rotate(db, &steps, now, now + retire_for).await? {
        return Err(RotateError::Raced);
    }
    store::keys::purge_retired(db, now).await?;
    Ok(plan.into_iter().map(|(r, _)| r).collect())
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-11-25T16:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_622_400), "2026-11-25T16:00:00Z");
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        crate::crypto::install();
        for alg in SigningAlg::ALL {
            let row = generate(*alg, KeyState::Active, 1).unwrap();
            let set =
                KeySet::from_rows(std::slice::from_ref(&row), &KeyEncryption::default()).unwrap();
            let token = set
                .sign(
                    *alg,
                    "at+jwt",
                    &serde_json::json!({"sub": "x", "exp": 4_000_000_000_i64}),
                )
                .unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(row.kid.as_str()));
            let key = set.by_kid(&row.kid).unwrap();
            let mut v = jsonwebtoken::Validation::new(alg.jwt_algorithm());
            v.validate_aud = false;
            v.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &v).unwrap();
        }
    }
}
