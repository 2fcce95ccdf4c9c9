//! What a user's consent covers: the OpenID Connect scopes of an app (who
//! the user is) and, per API, the scopes the app may use there. The
//! consent page names each API with its scopes, and a stored consent covers
//! exactly the (scope, API) pairs it showed: allowing `read` at one API
//! allows nothing at another.

use std::collections::BTreeMap;

use crate::apis::Apis;
use crate::store::consents::Consent;
use crate::types::OIDC_SCOPES;
use crate::types::Scopes;

/// What a request asks the user to allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needed {
    /// OpenID Connect scopes: the user's identity and claims.
    pub identity: Scopes,
    /// Per audience, the scopes its tokens would carry, in the request's
    /// order: every audience but monban itself (its issuer), with no scope
    /// too — a token for an API is access to it, which the user grants.
    pub apis: Vec<(String, Scopes)>,
}

impl Needed {
    /// The pairs a token with `scope` for `audience` stands for: a
    /// registered API that defines scopes gets those of the request it
    /// defines; any other audience every scope of the request that is not
    /// OpenID Connect's. monban itself (`issuer`, the default audience
    /// unless `MONBAN_DEFAULT_AUDIENCE` names an API) is named only when
    /// scopes go to it.
    pub fn of(scope: &Scopes, audience: &[String], apis: &Apis, issuer: &str) -> Needed {
        let identity = Scopes::from_tokens(scope.iter().filter(|s| OIDC_SCOPES.contains(s)))
            .unwrap_or_default();
        let mut per_api = Vec::new();
        for aud in audience {
            let defined = apis
                .get(aud)
                .map(|api| &api.scopes)
                .filter(|s| !s.is_empty());
            let scopes = Scopes::from_tokens(
                scope
                    .iter()
                    .filter(|s| !OIDC_SCOPES.contains(s) && defined.is_none_or(|d| d.contains(s))),
            )
            .unwrap_or_default();
            if !scopes.is_empty() || aud != issuer {
                per_api.push((aud.clone(), scopes));
            }
        }
        Needed {
            identity,
            apis: per_api,
        }
    }

    /// Whether a stored consent covers every pair. Without one nothing is
    /// covered, not even a request that names nothing: a third-party app
    /// learns who the user is only once the user has said yes.
    pub fn covered_by(&self, consent: Option<&Consent>) -> bool {
        let Some(consent) = consent else {
            return false;
        };
        self.identity.iter().all(|s| consent.scopes.0.contains(s))
            && self.apis.iter().all(|(aud, scopes)| {
                consent
                    .resources
                    .0
                    .get(aud)
                    .is_some_and(|given| scopes.iter().all(|s| given.contains(s)))
            })
    }

    /// A consent to store: `earlier`'s pairs and these.
    pub fn merged_with(&self, earlier: Option<&Consent>) -> (Scopes, BTreeMap<String, Scopes>) {
        let (mut identity, mut resources) = match earlier {
            Some(c) => (c.scopes.0.clone(), c.resources.0.clone()),
            None => (Scopes::default(), BTreeMap::new()),
        };
        identity =
            Scopes::from_tokens(identity.iter().chain(self.identity.iter())).unwrap_or(identity);
        for (aud, scopes) in &self.apis {
            let given = resources.entry(aud.clone()).or_default();
            *given = Scopes::from_tokens(given.iter().chain(scopes.iter())).unwrap_or_default();
        }
        (identity, resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::apis::{Api, OptionalFormat};
    use sqlx::types::Json;

    const DEFAULT: &str = "https://id.example.com";

    fn api(identifier: &str, scopes: &str) -> (String, Api) {
        (
            identifier.to_owned(),
            Api {
                identifier: identifier.to_owned(),
                name: None,
                scopes: Scopes::parse(scopes).unwrap_or_default(),
                token_format: OptionalFormat(None),
                access_token_ttl: None,
                created_at: 0,
            },
        )
    }

    #[test]
    fn a_consent_covers_exactly_the_pairs_it_was_given_for() {
        let apis: Apis = [api("https://a", "read write"), api("https://b", "")]
            .into_iter()
            .collect();
        let scope = Scopes::parse("openid read").unwrap_or_default();
        let at_a = Needed::of(&scope, &["https://a".into()], &apis, DEFAULT);
        assert_eq!(at_a.identity.to_string(), "openid");
        assert_eq!(at_a.apis.len(), 1);
        let (identity, resources) = at_a.merged_with(None);
        let consent = Consent {
            client_id: "c".into(),
            scopes: Json(identity),
            resources: Json(resources),
            granted_at: 0,
        };
        assert!(at_a.covered_by(Some(&consent)));
        let at_b = Needed::of(&scope, &["https://b".into()], &apis, DEFAULT);
        assert!(
            !at_b.covered_by(Some(&consent)),
            "read at b was never shown"
        );
        assert!(!at_a.covered_by(None));
        // Only OpenID Connect scopes, for monban itself: nothing per API…
        let openid = Scopes::parse("openid").unwrap_or_default();
        let login = Needed::of(&openid, &[DEFAULT.into()], &apis, DEFAULT);
        assert!(login.apis.is_empty());
        assert!(login.covered_by(Some(&consent)));
        // …but a token for an API is access to it, scopes or not.
        let at_b_only = Needed::of(&openid, &["https://b".into()], &apis, DEFAULT);
        assert_eq!(at_b_only.apis.len(), 1);
        assert!(!at_b_only.covered_by(Some(&consent)));
    }
}
