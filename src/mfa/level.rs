//! What a sign-in proved: the factors used, as RFC 8176 `amr` values, and
//! the level they reach, as the `acr` value (OIDC Core §2 leaves the values
//! to the provider; monban's are in `acr_values_supported`).

use serde::{Deserialize, Serialize};

/// A way the user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Password,
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// A single-use recovery code: a one-time password the user wrote down.
    RecoveryCode,
    /// A passkey bound to its device (not backup eligible), with user
    /// verification.
    Passkey,
    /// A passkey a password manager syncs between devices.
    SyncedPasskey,
}

impl Factor {
    /// Its `amr` values (RFC 8176 §2): a passkey is a key in hardware
    /// (`hwk`) or software (`swk`, synced), used with the user present and
    /// verified (`user`; WebAuthn does not tell a PIN from a fingerprint).
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Factor::Password => &["pwd"],
            Factor::Totp | Factor::RecoveryCode => &["otp"],
            Factor::Passkey => &["hwk", "user"],
            Factor::SyncedPasskey => &["swk", "user"],
        }
    }

    pub fn is_passkey(self) -> bool {
        matches!(self, Factor::Passkey | Factor::SyncedPasskey)
    }

    /// The name operators read in logs, metrics and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::Passkey | Factor::SyncedPasskey => "passkey",
        }
    }
}

/// How strongly a sign-in proved who the user is, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// One factor: a password (`acr` "1", the value monban always used).
    Password,
    /// Two factors (`acr` "mfa").
    Mfa,
    /// A passkey: phishing-resistant (`acr` "phr").
    PhishingResistant,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Password, Level::Mfa, Level::PhishingResistant];

    pub fn acr(self) -> &'static str {
        match self {
            Level::Password => "1",
            Level::Mfa => "mfa",
            Level::PhishingResistant => "phr",
        }
    }

    /// An `acr` value monban knows; others are none of its levels.
    pub fn of_acr(acr: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.acr() == acr)
    }

    /// The level factors reach together: a passkey (verified by the
    /// authenticator, bound to monban's origin) is phishing-resistant on its
    /// own; a password and a code are two factors.
    pub fn of(factors: &[Factor]) -> Level {
        if factors.iter().any(|f| f.is_passkey()) {
            return Level::PhishingResistant;
        }
        let second = factors.iter().any(|f| *f != Factor::Password);
        if second && factors.contains(&Factor::Password) {
            Level::Mfa
        } else {
            Level::Password
        }
    }
}

/// The `amr` of a sign-in with `factors`: each method once, and `mfa`
/// (RFC 8176 §2: "multiple-factor authentication") when more than one kind
/// of factor was used.
pub fn amr(factors: &[Factor]) -> Vec<String> {
    let mut amr: Vec<String> = Vec::new();
    for value in factors.iter().flat_map(|f| f.amr()) {
        if !amr.iter().any(|a| a == value) {
            amr.push((*value).to_owned());
        }
    }
    if Level::of(factors) >= Level::Mfa {
        amr.push("mfa".to_owned());
    }
    amr
}

/// What an authorization request asks of the sign-in (`acr_values`, OIDC
/// Core §3.1.2.1, or `acr` in `claims`, §5.5.1.1): levels in order of
/// preference; `essential` when the client cannot do with less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    pub levels: Vec<Level>,
    pub essential: bool,
    /// Values were asked, none of them monban's.
    pub only_unknown: bool,
}

impl Asked {
    /// `values` as the client sent them; unknown ones are ignored.
    pub fn of(values: &[&str], essential: bool) -> Asked {
        let levels: Vec<Level> = values.iter().filter_map(|v| Level::of_acr(v)).collect();
        Asked {
            only_unknown: !values.is_empty() && levels.is_empty(),
            levels,
            essential,
        }
    }

    /// Whether a sign-in at `level` gives the client a value it asked for
    /// (or it asked for none).
    pub fn met_by(&self, level: Level) -> bool {
        self.levels.is_empty() || self.levels.iter().any(|asked| level >= *asked)
    }

    /// The `acr` to tell the client of a sign-in at `level`: the most
    /// preferred value it asked for that the sign-in meets (OIDC Core
    /// §5.5.1.1: the value must be one it asked for), else the level's own.
    pub fn acr_for(&self, level: Level) -> &'static str {
        self.levels
            .iter()
            .find(|asked| level >= **asked)
            .map_or(level.acr(), |l| l.acr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_make_amr_and_level() {
        assert_eq!(amr(&[Factor::Password]), ["pwd"]);
        assert_eq!(Level::of(&[Factor::Password]), Level::Password);
        let two = [Factor::Password, Factor::Totp];
        assert_eq!(amr(&two), ["pwd", "otp", "mfa"]);
        assert_eq!(Level::of(&two), Level::Mfa);
        let recovery = [Factor::Password, Factor::RecoveryCode];
        assert_eq!(amr(&recovery), ["pwd", "otp", "mfa"]);
        // A code alone is no second factor.
        assert_eq!(Level::of(&[Factor::Totp]), Level::Password);
        assert_eq!(amr(&[Factor::Passkey]), ["hwk", "user", "mfa"]);
        assert_eq!(amr(&[Factor::SyncedPasskey]), ["swk", "user", "mfa"]);
        let stepped = [Factor::Password, Factor::Passkey];
        assert_eq!(Level::of(&stepped), Level::PhishingResistant);
        assert_eq!(amr(&stepped), ["pwd", "hwk", "user", "mfa"]);
    }

    #[test]
    fn asked_levels_are_met_by_higher_ones() {
        let asked = Asked::of(&["phr", "mfa"], false);
        assert!(!asked.met_by(Level::Password));
        assert!(asked.met_by(Level::Mfa));
        assert_eq!(asked.acr_for(Level::Mfa), "mfa");
        assert_eq!(asked.acr_for(Level::PhishingResistant), "phr");
        assert_eq!(asked.acr_for(Level::Password), "1");
        let unknown = Asked::of(&["urn:example:gold"], true);
        assert!(unknown.only_unknown && unknown.met_by(Level::Password));
        assert!(Asked::default().met_by(Level::Password));
        assert_eq!(Level::of_acr("1"), Some(Level::Password));
        assert_eq!(Level::of_acr("0"), None);
    }
}
