//! Passwords: argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1),
//! always on the blocking pool and behind a semaphore, so that hashing never
//! stalls the async threads and a burst of logins cannot exhaust memory.

use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};
use rand::RngExt;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::types::Secret;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

/// The password rules every password set through monban must meet.
pub fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!(
            "password must have at least {MIN_LENGTH} characters"
        ));
    }
    if chars > MAX_LENGTH {
        return Err(format!(
            "password must have at most {MAX_LENGTH} characters"
        ));
    }
    Ok(())
}

/// A strong random password (24 characters, ~140 bits) for a new account.
pub fn generate() -> Secret {
    // No look-alikes (0/O, 1/l/I) so it can be read out and typed.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let password: String = (0..24)
        .map(|_| {
            let i = rng.random_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect();
    Secret::new(password)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
}

/// Runs argon2 on the blocking pool, at most `parallel` at a time, each in a
/// reused 19 MiB block of memory: allocating and faulting in fresh memory
/// for every login cost as much CPU as a quarter of the hash itself (and
/// left glibc arenas holding hundreds of MiB).
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Passwords {
    pub fn new(parallel: usize) -> Passwords {
        Passwords {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            memory: Arc::default(),
        }
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, PasswordError> {
        let password = password.clone();
        self.run(move |_| {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await?
    }

    /// True when `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: &Secret, hash: String) -> Result<bool, PasswordError> {
        let password = password.clone();
        self.run(move |memory| verify_in(memory, password.expose().as_bytes(), &hash))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Join)?;
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let (result, memory) = tokio::task::spawn_blocking(move || {
            let result = work(&mut memory);
            (result, memory)
        })
        .await
        .map_err(|_| PasswordError::Join)?;
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
        Ok(result)
    }
}

/// argon2's own verification (the parameters, salt and output of the PHC
/// string), computed in `memory` instead of a fresh allocation; the outputs
/// are compared in constant time.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let Some(memory) = memory.get_mut(..blocks) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .is_ok()
        && bool::from(expected.as_bytes().ct_eq(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let passwords = Passwords::new(2);
        let pw = generate();
        assert_eq!(pw.expose().len(), 24);
        let hash = passwords.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify(&pw, hash.clone()).await.unwrap());
        assert!(
            !passwords
                .verify(&Secret::new("wrong".into()), hash)
                .await
                .unwrap()
        );
        assert!(check_policy("short").is_err());
        // The reused-memory verification agrees with argon2's own, also for
        // other parameters (a hash from before a parameter change).
        use argon2::PasswordVerifier;
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let old = light
            .hash_password(b"old password here")
            .unwrap()
            .to_string();
        assert!(
            light
                .verify_password(b"old password here", old.as_str())
                .is_ok()
        );
        assert!(
            passwords
                .verify(&Secret::new("old password here".into()), old.clone())
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(&Secret::new("old password herE".into()), old)
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(&pw, "not a phc string".into())
                .await
                .unwrap()
        );
        assert!(check_policy("long enough pass").is_ok());
    }
}
