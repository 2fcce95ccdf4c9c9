//! RFC 8628 user codes: how they are made, shown and read back.

use rand::RngExt;

/// §6.1: user codes from 20 consonants (no vowels, so no words; no
/// look-alikes such as 0/O or 1/I), 8 of them: 20^8 ≈ 2^34.6.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A fresh user code, undisplayed (`display` adds the dash).
pub fn generate() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LEN)
        .map(|_| {
            let i = rng.random_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'X'))
        })
        .collect()
}

/// `BCDF-GHJK`: easier to read out and type.
pub fn display(user_code: &str) -> String {
    let (head, tail) = user_code.split_at(user_code.len().min(USER_CODE_LEN / 2));
    format!("{head}-{tail}")
}

/// What the user typed, as stored: upper case, separators and spaces gone
/// (§6.1: "the characters ... should be case-insensitive").
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typeable() {
        let code = generate();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        let shown = display(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize(&shown.to_lowercase()), code);
        assert_eq!(normalize(" bcdf ghjk "), "BCDFGHJK");
    }
}
