//! Recovery codes: ten single-use codes of 79 random bits each, shown once
//! and kept as SHA-256 (with that much randomness a hash cannot be
//! reversed by trying codes).

use rand::RngExt;

pub const COUNT: usize = 10;
/// No 0/O, 1/I/L: codes are read off paper and typed.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const GROUPS: usize = 4;
const GROUP_LEN: usize = 4;

/// Ten new codes, as shown: `xxxx-xxxx-xxxx-xxxx` (16 of 31 characters).
pub fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    (0..COUNT)
        .map(|_| {
            let groups: Vec<String> = (0..GROUPS)
                .map(|_| {
                    (0..GROUP_LEN)
                        .filter_map(|_| ALPHABET.get(rng.random_range(0..ALPHABET.len())))
                        .map(|b| char::from(*b))
                        .collect()
                })
                .collect();
            groups.join("-")
        })
        .collect()
}

/// A code as typed, in the form it was hashed in: lower case, without
/// separators or spaces.
pub fn normalise(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a code.
pub fn hash(code: &str) -> Vec<u8> {
    crate::tokens::sha256(normalise(code).as_bytes())
}

/// Whether something typed could be a recovery code (not a six-digit code).
pub fn looks_like_one(typed: &str) -> bool {
    normalise(typed).len() == GROUPS * GROUP_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_normalise_as_typed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19);
            assert!(looks_like_one(code));
            assert_eq!(hash(code), hash(&code.to_uppercase().replace('-', " ")));
        }
        assert!(!looks_like_one("123456"));
    }
}
