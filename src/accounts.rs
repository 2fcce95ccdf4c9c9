//! The rules for user accounts, shared by the CLI, the admin API and
//! `monban apply`: what makes a username, an email address and a display
//! name. Each returns the value as stored (trimmed, lower-cased where the
//! database compares case-insensitively).

/// Usernames: 1–64 characters of `a-z 0-9 . _ - @ +`, stored lower-case.
pub fn username(raw: &str) -> Result<String, String> {
    let name = raw.to_lowercase();
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@+".contains(c));
    if ok {
        Ok(name)
    } else {
        Err("1 to 64 characters of a-z, 0-9 and . _ - @ +".into())
    }
}

/// An email address, loosely checked (one `@`, a dotted domain), stored
/// lower-case.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(format!("{raw:?} is not an email address"))
    }
}

/// A display name: 1–200 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err("1 to 200 characters".into());
    }
    Ok(name.to_owned())
}
