//! Every path monban serves, relative to the issuer (all but the RFC 8414
//! metadata suffix, the health checks and `/metrics`, which sit at the
//! root): the router mounts them, discovery and the pages link to them.

/// RFC 8414 §3: the well-known suffix. For an issuer with a path, §3.1 puts
/// the path after it: `/.well-known/oauth-authorization-server/auth`.
pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
/// OIDC Discovery §4: appended to the issuer, path included.
pub const OPENID_METADATA: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const HOME: &str = "/";
pub const STYLESHEET: &str = "/static/monban.css";
pub const ICON: &str = "/static/favicon.svg";
/// The one script of monban's pages: passkeys (WebAuthn) where the browser
/// has them; every page works without it.
pub const PASSKEY_SCRIPT: &str = "/static/webauthn.js";
/// Passkeys: options for a ceremony (JSON), and the answers.
pub const LOGIN_PASSKEY_OPTIONS: &str = "/login/passkey/options";
pub const LOGIN_PASSKEY: &str = "/login/passkey";
pub const LOGIN_FACTOR_PASSKEY_OPTIONS: &str = "/login/factor/passkey/options";
pub const LOGIN_FACTOR_PASSKEY: &str = "/login/factor/passkey";
pub const ACCOUNT_PASSKEY_OPTIONS: &str = "/account/passkeys/options";
pub const ACCOUNT_PASSKEYS: &str = "/account/passkeys";
pub const ACCOUNT_PASSKEY_REMOVE: &str = "/account/passkeys/remove";
/// Where browsers look for an icon when a page names none: always the root
/// of the host, also for an issuer with a path.
pub const FAVICON: &str = "/favicon.ico";
pub const LIVE: &str = "/healthz";
pub const READY: &str = "/readyz";
pub const METRICS: &str = "/metrics";

// The protocol endpoints.
pub const AUTHORIZE: &str = "/authorize";
/// Where the login and consent pages send the browser back to a parked
/// authorization request.
pub const AUTHORIZE_RESUME: &str = "/authorize/resume";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
pub const PAR: &str = "/par";
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
pub const END_SESSION: &str = "/end_session";
pub const REGISTER: &str = "/register";
pub const REGISTER_CLIENT: &str = "/register/{client_id}";
pub const FORWARD_AUTH: &str = "/forward_auth";

// monban's pages.
pub const LOGIN: &str = "/login";
/// The second step of a sign-in, or a session stepping up.
pub const LOGIN_FACTOR: &str = "/login/factor";
/// Setting up a required second factor while signing in.
pub const LOGIN_FACTOR_ENROL: &str = "/login/factor/enrol";
pub const CONSENT: &str = "/consent";
pub const LOGOUT: &str = "/logout";
/// The device flow's verification URI (RFC 8628 §3.2), where codes are typed.
pub const DEVICE: &str = "/device";
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_CALLBACK: &str = "/account/callback";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_REVOKE_CONSENT: &str = "/account/consents/revoke";
pub const ACCOUNT_END_ALL_SESSIONS: &str = "/account/sessions/end-all";
pub const ACCOUNT_LOGOUT: &str = "/account/logout";
pub const ACCOUNT_TOTP: &str = "/account/totp";
pub const ACCOUNT_TOTP_CONFIRM: &str = "/account/totp/confirm";
pub const ACCOUNT_TOTP_REMOVE: &str = "/account/totp/remove";
pub const ACCOUNT_RECOVERY_CODES: &str = "/account/recovery-codes";
pub const ADMIN: &str = "/admin";
pub const ADMIN_USERS: &str = "/admin/users";
pub const ADMIN_USER: &str = "/admin/users/{id}";
pub const ADMIN_GROUPS: &str = "/admin/groups";
pub const ADMIN_CLIENTS: &str = "/admin/clients";
pub const ADMIN_CLIENT: &str = "/admin/clients/{client_id}";
pub const ADMIN_KEYS: &str = "/admin/keys";
pub const ADMIN_AUDIT: &str = "/admin/audit";

// The admin REST API.
pub const ADMIN_API: &str = "/admin/api/v1";
pub const ADMIN_API_OPENAPI: &str = "/admin/api/openapi.json";
pub const ADMIN_API_DOCS: &str = "/admin/api/docs";
