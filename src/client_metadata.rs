//! A client's settings as RFC 7591 metadata names them, before they are
//! read: what the admin API's JSON body and the admin pages' client form
//! both carry. One rule reads them, with the defaults of what is left out.

use serde_json::Value;

use crate::clients::{self, ClientSettings, Invalid};
use crate::types::{ApplicationType, AuthMethod, ClientType, GrantType, Scopes, TokenFormat};

/// The fields, as given (absent or empty where not given).
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub application_type: Option<String>,
    /// Space-separated.
    pub scope: Option<String>,
    pub audience: Vec<String>,
    pub first_party: bool,
    pub access_token_format: Option<String>,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: bool,
    /// monban's own: users sign in to it with a second factor.
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
}

impl Metadata {
    /// The settings, each field checked and named when it is wrong. Left
    /// out: `token_endpoint_auth_method` is `client_secret_basic`
    /// (`private_key_jwt` with keys; `none` makes a public client), and
    /// `grant_types` the code flow with redirect URIs, else
    /// `client_credentials`.
    pub fn settings(&self) -> Result<ClientSettings, Invalid> {
        let has_keys = self.jwks.is_some() || self.jwks_uri.is_some();
        let auth_method: AuthMethod = match &self.token_endpoint_auth_method {
            Some(raw) => parse("token_endpoint_auth_method", raw)?,
            None => clients::default_auth_method(ClientType::Confidential, has_keys),
        };
        let client_type = if auth_method == AuthMethod::None {
            ClientType::Public
        } else {
            ClientType::Confidential
        };
        let grant_types = if self.grant_types.is_empty() {
            clients::default_grant_types(client_type, !self.redirect_uris.is_empty())?
        } else {
            self.grant_types
                .iter()
                .map(|g| parse("grant_types", g))
                .collect::<Result<Vec<GrantType>, _>>()?
        };
        let scopes = Scopes::parse(self.scope.as_deref().unwrap_or_default())
            .map_err(|e| Invalid::new("scope", e))?;
        let access_token_format: Option<TokenFormat> = self
            .access_token_format
            .as_deref()
            .map(|raw| parse("access_token_format", raw))
            .transpose()?;
        let application_type: ApplicationType = match &self.application_type {
            Some(raw) => parse("application_type", raw)?,
            None => ApplicationType::Web,
        };
        let settings = ClientSettings {
            name: self.client_name.clone(),
            client_type,
            application_type,
            first_party: self.first_party,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types,
            scopes,
            audiences: self.audience.clone(),
            auth_method,
            access_token_format,
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            require_par: self.require_pushed_authorization_requests,
            require_mfa: self.require_mfa,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
        };
        settings.check()?;
        Ok(settings)
    }
}

/// A wire value of `field`, or why it is not one.
fn parse<T: std::str::FromStr<Err = String>>(field: &'static str, raw: &str) -> Result<T, Invalid> {
    raw.parse().map_err(|e| Invalid::new(field, e))
}
