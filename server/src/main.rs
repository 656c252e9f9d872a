//! `licet-server`: see `licet-server --help` and `docs/api.md`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let config = licet_server::Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        // Colour only for a person at a terminal: in a file, a pipe or a service manager's
        // journal the escape codes are noise that breaks grep.
        tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .init();
    }
    let server = match licet_server::start(
        &config,
        licet_server::Options::default(),
        licet_server::shutdown_signal(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(token) = &server.generated_admin_token {
        // Printed once, on the terminal only (never logged): only its hash is stored.
        println!("Admin token (shown only now; store it safely): {token}");
    }
    tracing::info!(addr = %server.addr, data = %config.data.display(), "licet-server listening");
    println!("licet-server listening on http://{}", server.addr);
    match server.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
