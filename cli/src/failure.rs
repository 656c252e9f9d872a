//! How a command fails: a stable code, a message that says what to do, and an exit code.

use std::io::Write;
use std::process::ExitCode;

/// Exit code when a checked token or request is not valid.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for usage, input and I/O errors.
pub const EXIT_ERROR: u8 = 2;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// Stable code (shared with the libraries and the server).
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// The process exit code.
    pub exit: u8,
    /// Print the error as JSON on stdout (the command was given `--json`).
    pub json: bool,
    /// Already reported (as JSON by the command itself): print nothing more.
    pub silent: bool,
}

impl Failure {
    /// A usage, input or I/O error (exit 2).
    pub fn error(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            exit: EXIT_ERROR,
            json: false,
            silent: false,
        }
    }

    /// A token or request that was checked and is not valid (exit 1).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            exit: EXIT_INVALID,
            json: false,
            silent: false,
        }
    }

    /// Reports as JSON when `json`.
    pub fn json(mut self, json: bool) -> Failure {
        self.json = json;
        self
    }

    /// The reader of standard output went away (`licet … | head -1`): it has what it
    /// wanted, so the command stops quietly with exit 0, as `head`'s writer should; the
    /// shell's `pipefail` is not tripped by a reader that chose to stop.
    pub fn closed_pipe() -> Failure {
        Failure {
            code: "CLOSED_PIPE",
            message: String::new(),
            exit: 0,
            json: false,
            silent: true,
        }
    }

    /// Whether this is [`Failure::closed_pipe`].
    pub fn is_closed_pipe(&self) -> bool {
        self.code == "CLOSED_PIPE"
    }

    /// Marks the failure as already reported.
    pub fn silent(mut self) -> Failure {
        self.silent = true;
        self
    }

    /// Prints the failure and gives the exit code.
    pub fn report(self) -> ExitCode {
        if self.silent {
        } else if self.json {
            let body = serde_json::json!({
                "ok": false,
                "error": {"code": self.code, "message": self.message},
            });
            // Nothing more to do if standard output is closed: the exit code still says it.
            let _ = crate::output::say!("{body:#}");
        } else {
            let _ = writeln!(std::io::stderr(), "error[{}]: {}", self.code, self.message);
        }
        ExitCode::from(self.exit)
    }
}

impl From<licet::Error> for Failure {
    fn from(e: licet::Error) -> Self {
        let code = e.code();
        match e {
            licet::Error::License(e) => Failure::invalid(code, crate::output::verify_error(&e)),
            licet::Error::RequestTampered | licet::Error::Request { .. } => {
                Failure::invalid(code, e.to_string())
            }
            _ => Failure::error(code, e.to_string()),
        }
    }
}

impl From<licet_app::Error> for Failure {
    fn from(e: licet_app::Error) -> Self {
        Failure::error(e.code(), e.to_string())
    }
}

impl From<licet_keys::Error> for Failure {
    fn from(e: licet_keys::Error) -> Self {
        Failure::error(e.code(), e.to_string())
    }
}
