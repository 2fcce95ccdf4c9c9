//! The jsonwebtoken `CryptoProvider` monban installs at start-up: aws-lc for
//! everything, with parsed signing keys cached. jsonwebtoken's own aws-lc
//! signer re-parses the private key on every token (for RSA that doubles the
//! cost of a signature); here each key is parsed once and signed with many
//! times. Verification and JWK helpers are aws-lc's defaults.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::errors::{ErrorKind, Result as JwtResult};
use jsonwebtoken::{Algorithm, EncodingKey};

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: cached_signer,
    verifier_factory: DEFAULT_PROVIDER.verifier_factory,
    key_utils: DEFAULT_PROVIDER.key_utils.clone(),
});

/// Installs the provider for this process (idempotent). Must run before
/// any JWT is signed or verified.
pub fn install() {
    // An Err means a provider is installed already: ours, from an earlier call.
    let _ = PROVIDER.install_default();
}

enum ParsedKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// Parsed keys by (algorithm, key bytes). Only monban's few signing keys pass
/// through here; the map is cleared if it ever grows past a bound.
type Cache = RwLock<HashMap<(Algorithm, Vec<u8>), Arc<ParsedKey>>>;
static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);
const CACHE_BOUND: usize = 64;

fn cached_signer(alg: &Algorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    if !matches!(alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
        return (DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let cache_key = (*alg, key.as_bytes().to_vec());
    let cached = CACHE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&cache_key)
        .cloned();
    let parsed = match cached {
        Some(parsed) => parsed,
        None => {
            let parsed = Arc::new(parse(*alg, key.as_bytes())?);
            let mut cache = CACHE
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.len() >= CACHE_BOUND {
                cache.clear();
            }
            cache.insert(cache_key, Arc::clone(&parsed));
            parsed
        }
    };
    Ok(Box::new(CachedSigner {
        alg: *alg,
        key: parsed,
    }))
}

/// RSA keys are PKCS#1 DER (what `EncodingKey::from_rsa_der` holds); EC and
/// Ed25519 keys are PKCS#8 DER.
fn parse(alg: Algorithm, der: &[u8]) -> JwtResult<ParsedKey> {
    match alg {
        Algorithm::RS256 => RsaKeyPair::from_der(der)
            .map(ParsedKey::Rsa)
            .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into()),
        Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(ParsedKey::Ecdsa)
            .map_err(|_| ErrorKind::InvalidEcdsaKey.into()),
        Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(der)
            .map(ParsedKey::Ed25519)
            .map_err(|_| ErrorKind::InvalidEddsaKey.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct CachedSigner {
    alg: Algorithm,
    key: Arc<ParsedKey>,
}

impl signature::Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &*self.key {
            ParsedKey::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(signature::Error::from_source)?;
                Ok(sig)
            }
            ParsedKey::Ecdsa(pair) => pair
                .sign(&rng, msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(signature::Error::from_source),
            ParsedKey::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}
