//! The one error type of the client, with stable codes.

use std::fmt;
use std::path::PathBuf;

/// Why a client call failed.
///
/// [`Error::code`] is stable: the server's own codes are passed through unchanged
/// (`LEASE_LIMIT_REACHED`, `KEY_SUSPENDED`, …), a token that fails verification carries the
/// verifier's code (`SIGNATURE_INVALID`, `CLOCK_ROLLBACK`, `FINGERPRINT_MISMATCH`, …), and
/// the client adds the few codes of its own listed on each variant.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server refused the request; `code` is the server's stable code.
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's code, e.g. `LEASE_LIMIT_REACHED`.
        code: String,
        /// The server's message: what is wrong and what to do.
        message: String,
        /// The vendor's support message, when the product has one.
        support_message: Option<String>,
    },
    /// `NETWORK`: the server could not be reached, or did not answer in time. Whatever was
    /// held stays valid offline until its token expires; try again later.
    Network {
        /// What failed, for logs.
        message: String,
    },
    /// `BAD_RESPONSE`: something answered that is not a licet server (not its JSON, or a
    /// status the API never gives). Check the server URL.
    BadResponse {
        /// The HTTP status.
        status: u16,
        /// What is wrong with the answer.
        message: String,
    },
    /// A token failed verification against the application's keyring, whether it came from
    /// the server or from the store; the code is the verifier's.
    Token(licet_verifier::Error),
    /// `TOKEN_MISMATCH`: a correctly signed token that is not the one asked for (another
    /// license's, another lease's). The server is misconfigured or not the vendor's.
    Mismatch {
        /// What does not match.
        reason: &'static str,
    },
    /// `OFFLINE`: nothing is stored to start offline from (this machine was never activated
    /// here, or it was deactivated). Go online once and activate.
    Offline {
        /// What is missing: `"machine token"` or `"lease token"`.
        what: &'static str,
    },
    /// `STORE_IO`: the token store could not be read or written.
    StoreIo {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's message, or what is wrong with the file.
        message: String,
    },
    /// `FINGERPRINT_UNAVAILABLE`: this machine's id cannot be read.
    Fingerprint(licet_app::Unavailable),
    /// `CONFIG_INVALID`: the client was set up wrongly (a server URL that is not http or
    /// https, https without the `https` feature).
    Config {
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &str {
        match self {
            Error::Server { code, .. } => code,
            Error::Network { .. } => "NETWORK",
            Error::BadResponse { .. } => "BAD_RESPONSE",
            Error::Token(e) => e.code(),
            Error::Mismatch { .. } => "TOKEN_MISMATCH",
            Error::Offline { .. } => "OFFLINE",
            Error::StoreIo { .. } => "STORE_IO",
            Error::Fingerprint(_) => "FINGERPRINT_UNAVAILABLE",
            Error::Config { .. } => "CONFIG_INVALID",
        }
    }

    /// Whether the server itself gave this answer (as opposed to the network failing or
    /// a check on this side), so that retrying the same request will not change it.
    pub fn is_from_server(&self) -> bool {
        matches!(self, Error::Server { .. })
    }

    pub(crate) fn store(path: impl Into<PathBuf>, message: impl fmt::Display) -> Error {
        Error::StoreIo {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server {
                code,
                message,
                support_message,
                ..
            } => {
                write!(f, "{message} ({code})")?;
                if let Some(s) = support_message {
                    write!(f, "; {s}")?;
                }
                Ok(())
            }
            Error::Network { message } => write!(
                f,
                "the licensing server cannot be reached ({message}); check the network and try again"
            ),
            Error::BadResponse { status, message } => write!(
                f,
                "the server's answer (HTTP {status}) is not a licet server's: {message}; check the server URL"
            ),
            Error::Token(e) => write!(f, "{e}"),
            Error::Mismatch { reason } => write!(
                f,
                "the server sent a token that does not match the request: {reason}"
            ),
            Error::Offline { what } => write!(
                f,
                "no {what} is stored on this machine; connect to the licensing server once to activate"
            ),
            Error::StoreIo { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Fingerprint(e) => write!(f, "{e}"),
            Error::Config { reason } => write!(f, "client set up wrongly: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<licet_verifier::Error> for Error {
    fn from(e: licet_verifier::Error) -> Self {
        Error::Token(e)
    }
}
