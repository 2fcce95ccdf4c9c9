//! Black-box tests: the real server over real HTTP, on SQLite and on
//! PostgreSQL (`TEST_POSTGRES_URL`), and the real `monban` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod browser;
mod chromium;
mod helpers;
mod interop;

mod admin_api;
mod admin_pages;
mod apis;
mod apply;
mod backchannel;
mod bad_input;
mod cli;
mod crash;
mod device;
mod forward_auth;
mod fuzz_corpus;
mod gateway_apps;
mod gateway_sessions;
mod gateways;
mod hardening;
mod instances;
mod introspection;
mod keys;
mod layers;
mod load;
mod logout;
mod metadata;
mod mfa;
mod migrations;
mod operations;
mod outage;
mod par;
mod passkeys;
mod private_key_jwt;
mod registration;
mod revocation;
mod shutdown;
mod sso;
mod sso_tokens;
mod token;
mod token_exchange;
mod upgrades;
