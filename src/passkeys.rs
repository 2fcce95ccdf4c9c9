//! Passkeys (WebAuthn Level 3) with webauthn-rs: the relying party is
//! monban's issuer origin, its RP ID the issuer's host (or
//! `MONBAN_WEBAUTHN_RP_ID`, a parent domain). Discoverable credentials, user
//! verification required, attestation `none`. The ceremonies' state is kept
//! server-side by the caller (in the browser's session), used once.

use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::config::Issuer;

/// The relying party.
pub struct Passkeys {
    webauthn: Webauthn,
    pub rp_id: String,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passkeys(rp_id = {})", self.rp_id)
    }
}

/// Why an assertion or a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The signature counter went back: the credential may have been
    /// copied (WebAuthn §7.2 step 21).
    #[error("the passkey's signature counter went back: it may be a copy")]
    PossibleClone,
    #[error("{0}")]
    Invalid(String),
}

impl From<WebauthnError> for Refused {
    fn from(e: WebauthnError) -> Refused {
        match e {
            WebauthnError::CredentialPossibleCompromise => Refused::PossibleClone,
            other => Refused::Invalid(other.to_string()),
        }
    }
}

impl Passkeys {
    /// The relying party of `issuer`; `rp_id` overrides its host (it must
    /// be the host or a parent domain of it: WebAuthn §5.1.4.1).
    pub fn new(issuer: &Issuer, rp_id: Option<&str>) -> Result<Passkeys, String> {
        let origin = Url::parse(issuer.as_str()).map_err(|e| e.to_string())?;
        let host = issuer.host();
        let rp_id = rp_id.unwrap_or(&host).to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("monban").build())
            .map_err(|e| format!("passkeys need a domain name as RP ID ({rp_id:?}): {e}"))?;
        Ok(Passkeys { webauthn, rp_id })
    }

    /// Options for registering a passkey of `user_id` (its WebAuthn user
    /// handle), excluding the credentials it has.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        username: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> Result<(Value, PasskeyRegistration), Refused> {
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (options, state) = self.webauthn.start_passkey_registration(
            user_id,
            username,
            display_name,
            Some(exclude),
        )?;
        Ok((discoverable(options)?, state))
    }

    pub fn finish_registration(
        &self,
        credential: &str,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, Refused> {
        let credential: RegisterPublicKeyCredential = parse(credential)?;
        Ok(self
            .webauthn
            .finish_passkey_registration(&credential, state)?)
    }

    /// Options for signing in with any of this site's passkeys, the browser
    /// offering them (conditional mediation, or a button).
    pub fn start_sign_in(&self) -> Result<(Value, DiscoverableAuthentication), Refused> {
        let (options, state) = self.webauthn.start_discoverable_authentication()?;
        Ok((request_options(options)?, state))
    }

    /// Whose passkey an assertion claims to be (its user handle) and which
    /// credential, before it is verified.
    pub fn identify(
        &self,
        credential: &str,
    ) -> Result<(Uuid, Vec<u8>, PublicKeyCredential), Refused> {
        let credential: PublicKeyCredential = parse(credential)?;
        let (user, id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)?;
        let id = id.to_vec();
        Ok((user, id, credential))
    }

    pub fn finish_sign_in(
        &self,
        credential: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, Refused> {
        Ok(self
            .webauthn
            .finish_discoverable_authentication_v2(credential, state, passkey)?)
    }

    /// Options for a second factor: one of these passkeys.
    pub fn start_second_factor(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(Value, PasskeyAuthentication), Refused> {
        let (options, state) = self.webauthn.start_passkey_authentication(passkeys)?;
        Ok((request_options(options)?, state))
    }

    pub fn finish_second_factor(
        &self,
        credential: &str,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, Refused> {
        let credential: PublicKeyCredential = parse(credential)?;
        Ok(self
            .webauthn
            .finish_passkey_authentication(&credential, state)?)
    }
}

fn parse<T: serde::de::DeserializeOwned>(credential: &str) -> Result<T, Refused> {
    serde_json::from_str(credential)
        .map_err(|e| Refused::Invalid(format!("not a WebAuthn credential: {e}")))
}

/// The creation options, asking for a discoverable credential (a passkey
/// the browser can offer without a username): webauthn-rs leaves
/// `residentKey` to the authenticator.
fn discoverable(options: CreationChallengeResponse) -> Result<Value, Refused> {
    let mut json = serde_json::to_value(options).map_err(|e| Refused::Invalid(e.to_string()))?;
    if let Some(selection) = json
        .get_mut("publicKey")
        .and_then(|p| p.get_mut("authenticatorSelection"))
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(json)
}

fn request_options(options: RequestChallengeResponse) -> Result<Value, Refused> {
    serde_json::to_value(options).map_err(|e| Refused::Invalid(e.to_string()))
}

/// Whether a passkey may be synced between devices (backup eligible): its
/// `amr` is then `swk`, else `hwk`.
pub fn is_synced(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v.pointer("/cred/backup_eligible").and_then(Value::as_bool))
        .unwrap_or(false)
}
