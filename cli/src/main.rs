//! `licet`: the vendor's command line. Make signing keys, mint licenses, inspect and verify
//! tokens, and carry an air-gapped activation through request, respond and import.
//!
//! Exit codes: 0 success; 1 a token or request was checked and is not valid; 2 a usage,
//! input or I/O error (bad arguments, missing file, wrong passphrase).

use std::process::ExitCode;

mod args;
mod cmd;
mod failure;
mod http;
mod input;
mod output;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
