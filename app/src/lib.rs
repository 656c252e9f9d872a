//! What an application needs of licet beside the verifier, and nothing of the vendor's
//! side: this machine's [`fingerprint`], the per-user folder its tokens are kept in
//! ([`store::store_dir`]) and the atomic private file writer ([`store::write_file`]).
//!
//! The issuing crate `licet`, the vendor's keys (`licet-keys`), RSA key generation and the
//! encrypted-key code (scrypt) are not among its dependencies, so an application that
//! embeds `licet-client` does not compile them in. The CLI, the server and the issuing
//! crate use these functions from here.
//!
//! ```
//! use licet_app::fingerprint::fingerprint_of;
//!
//! // A machine whose id is "4c4c4544", as the vendor of "acme-studio-pro" sees it.
//! let fp = fingerprint_of("acme-studio-pro", "4c4c4544");
//! assert_ne!(fp, fingerprint_of("other-vendor-app", "4c4c4544"));
//! ```
//!
//! Features: `store` (on by default) adds [`store`] and its dependencies (`dirs`,
//! `tempfile`); without it the crate is the fingerprint alone, on std and SHA-256.

#![forbid(unsafe_code)]

pub mod fingerprint;
#[cfg(feature = "store")]
pub mod store;

pub use fingerprint::{Unavailable, fingerprint, fingerprint_of, machine_id};
#[cfg(feature = "store")]
pub use store::{Error, store_dir, write_file, write_file_new};
