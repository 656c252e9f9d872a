//! One module per subcommand; each body parses nothing and calls the libraries.

mod fingerprint;
mod inspect;
mod keys;
mod mint;
mod offline;
mod revocations;
mod verify;

use crate::args::{Cli, Command};
use crate::failure::Failure;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Keys(c) => keys::run(c),
        Command::Mint(c) => mint::run(c),
        Command::Inspect(a) => inspect::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Fingerprint(a) => fingerprint::run(&a),
        Command::Offline(c) => offline::run(c),
        Command::Revocations(c) => revocations::run(c),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            // Into memory first: clap_complete panics when it cannot write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "licet", &mut script);
            crate::output::print(&String::from_utf8_lossy(&script))
        }
    }
}
