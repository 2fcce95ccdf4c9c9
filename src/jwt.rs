//! Verifying JWTs monban signed itself — access tokens, ID tokens — in one
//! place, so that no use can take one kind of token for another: each
//! kind has its own `typ` (RFC 8725 §3.11, "explicit typing"), and a token
//! whose `typ` is not the one expected is refused before its signature is
//! even checked. Logout tokens (`logout+jwt`) and signed introspection
//! answers (`token-introspection+jwt`) are only ever sent, never accepted.

use serde::de::DeserializeOwned;

use crate::keys::KeySet;

/// The kinds of token monban accepts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RFC 9068 §2.1: `at+jwt` (§4: also `application/at+jwt`).
    Access,
    /// OIDC Core §2 defines no `typ`; monban's ID tokens carry `JWT`
    /// (RFC 7519 §5.1), and only those are ID tokens.
    Id,
}

impl Kind {
    /// The `typ` this kind is signed with.
    pub const fn typ(self) -> &'static str {
        match self {
            Kind::Access => "at+jwt",
            Kind::Id => "JWT",
        }
    }

    /// RFC 7515 §4.1.9: `typ` is a media type, compared without regard to
    /// case, with or without its `application/` prefix.
    fn accepts(self, typ: &str) -> bool {
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        typ.eq_ignore_ascii_case(self.typ())
    }
}

/// What a token must be, besides signed by one of monban's published keys.
pub struct Expected<'a> {
    pub kind: Kind,
    pub issuer: &'a str,
    /// One value `aud` must contain; `None`: any audience.
    pub audience: Option<&'a str>,
}

/// The claims of a token monban signed, if it is of the expected kind: the
/// `typ` pinned, the key found by `kid` among the published ones, that
/// key's own algorithm (never the header's choice), the issuer and, when
/// asked, the audience. Time is the caller's to check, against its `now`
/// (an `id_token_hint` may have expired; an access token may not).
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    expected: &Expected<'_>,
    token: &str,
) -> Option<T> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !expected.kind.accepts(header.typ.as_deref()?) {
        return None;
    }
    let key = keys.by_kid(header.kid.as_deref()?)?;
    if header.alg != key.alg.jwt_algorithm() {
        return None;
    }
    let mut validation = jsonwebtoken::Validation::new(key.alg.jwt_algorithm());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[expected.issuer]);
    match expected.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
        .ok()
        .map(|data| data.claims)
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn each_kind_accepts_its_own_typ_only() {
        assert!(Kind::Access.accepts("at+jwt"));
        assert!(Kind::Access.accepts("application/AT+JWT"));
        assert!(Kind::Id.accepts("JWT"));
        assert!(Kind::Id.accepts("jwt"));
        for other in [
            "logout+jwt",
            "token-introspection+jwt",
            "at+jwt",
            "",
            "JOSE",
        ] {
            assert!(!Kind::Id.accepts(other), "{other}");
        }
        assert!(!Kind::Access.accepts("JWT"));
    }
}
