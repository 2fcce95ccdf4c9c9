//! Multi-factor sign-in, the parts without state: how a sign-in's factors
//! make its `amr` and `acr` (`level`), authenticator-app codes (`totp`), and
//! recovery codes (`recovery`).

pub mod level;
pub mod recovery;
pub mod totp;

pub use level::{Factor, Level};
