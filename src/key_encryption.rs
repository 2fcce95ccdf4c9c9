//! Private signing keys at rest: with `MONBAN_KEY_ENCRYPTION_KEY` set, each
//! stored private key is sealed with AES-256-GCM (aws-lc-rs), a fresh 96-bit
//! nonce per key and the key's `kid` as associated data, so a sealed key
//! cannot be moved to another row. Without the setting keys are stored as
//! plain PKCS#8, as before; a database holding sealed keys refuses to start
//! without the right encryption key.
//!
//! Stored form: `MAGIC || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! A plain PKCS#8 key starts with a DER SEQUENCE (0x30), never with `MAGIC`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;

const MAGIC: &[u8] = b"monban-aes256gcm-v1:";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "signing key {kid} is encrypted at rest: set MONBAN_KEY_ENCRYPTION_KEY to the key it was encrypted with"
    )]
    KeyMissing { kid: String },
    #[error(
        "MONBAN_KEY_ENCRYPTION_KEY does not decrypt signing key {kid}: it is not the key the database was encrypted with"
    )]
    WrongKey { kid: String },
    #[error("encryption failed")]
    Seal,
}

/// The configured encryption key, or none.
#[derive(Clone, Default)]
pub struct KeyEncryption {
    key: Option<std::sync::Arc<LessSafeKey>>,
}

impl std::fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.key.is_some() {
            "KeyEncryption(AES-256-GCM, ***)"
        } else {
            "KeyEncryption(off)"
        })
    }
}

impl KeyEncryption {
    /// Parses `MONBAN_KEY_ENCRYPTION_KEY`: 32 random bytes as 64 hex digits
    /// or base64 (e.g. `openssl rand -base64 32`).
    pub fn parse(raw: &str) -> Result<KeyEncryption, String> {
        let raw = raw.trim();
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(raw.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
                .map_err(|_| "expected 32 bytes as 64 hex digits or base64".to_owned())?
        };
        if bytes.len() != 32 {
            return Err(format!(
                "expected 32 bytes (256 bits), got {}; make one with: openssl rand -base64 32",
                bytes.len()
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|e| e.to_string())?;
        Ok(KeyEncryption {
            key: Some(std::sync::Arc::new(LessSafeKey::new(key))),
        })
    }

    pub fn is_on(&self) -> bool {
        self.key.is_some()
    }

    /// The stored form of a private key: sealed when encryption is on.
    pub fn seal(&self, kid: &str, der: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(key) = &self.key else {
            return Ok(der.to_vec());
        };
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Seal)?;
        let mut in_out = der.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| SealError::Seal)?;
        Ok([MAGIC, &nonce, &in_out].concat())
    }

    /// The PKCS#8 DER of a stored private key.
    pub fn open(&self, kid: &str, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(sealed) = stored.strip_prefix(MAGIC) else {
            return Ok(stored.to_vec());
        };
        let Some(key) = &self.key else {
            return Err(SealError::KeyMissing {
                kid: kid.to_owned(),
            });
        };
        let wrong = || SealError::WrongKey {
            kid: kid.to_owned(),
        };
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or_else(wrong)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }

    /// Whether a stored private key is sealed.
    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(MAGIC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens_bound_to_the_kid() {
        let on = KeyEncryption::parse(HEX).unwrap();
        let der = b"0\x82 pretend pkcs8".to_vec();
        let sealed = on.seal("kid-1", &der).unwrap();
        assert!(KeyEncryption::is_sealed(&sealed));
        assert!(!sealed.windows(der.len()).any(|w| w == der.as_slice()));
        assert_eq!(on.open("kid-1", &sealed).unwrap(), der);
        assert_ne!(on.seal("kid-1", &der).unwrap(), sealed, "fresh nonce");
        assert!(matches!(
            on.open("kid-2", &sealed),
            Err(SealError::WrongKey { .. })
        ));
        let other = KeyEncryption::parse(&"ab".repeat(32)).unwrap();
        assert!(matches!(
            other.open("kid-1", &sealed),
            Err(SealError::WrongKey { .. })
        ));
        let off = KeyEncryption::default();
        assert!(matches!(
            off.open("kid-1", &sealed),
            Err(SealError::KeyMissing { .. })
        ));
        // Plain keys pass through either way.
        assert_eq!(off.seal("k", &der).unwrap(), der);
        assert_eq!(on.open("k", &der).unwrap(), der);
    }

    #[test]
    fn parses_hex_and_base64_of_32_bytes_only() {
        assert!(KeyEncryption::parse(HEX).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(KeyEncryption::parse(&b64).is_ok());
        assert!(KeyEncryption::parse("too short").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(
            KeyEncryption::parse(&short)
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(format!("{:?}", KeyEncryption::parse(HEX).unwrap()).contains("***"));
    }
}
