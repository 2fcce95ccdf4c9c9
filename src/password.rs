//! Passwords: argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1),
//! always on the blocking pool and behind a semaphore, so that hashing never
//! stalls the async threads and a burst of logins cannot exhaust memory.

use std::sync::Arc;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::RngExt;
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

/// Runs argon2 on the blocking pool, at most `parallel` at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Passwords {
    pub fn new(parallel: usize) -> Passwords {
        Passwords {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
        }
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, PasswordError> {
        let password = password.clone();
        self.run(move || {
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
        self.run(move || {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Join)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| PasswordError::Join)
    }
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
        assert!(check_policy("long enough pass").is_ok());
    }
}
