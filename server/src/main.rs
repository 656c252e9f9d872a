//! `licet-server`: see `licet-server --help` and `docs/api.md`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod keys_command;

/// licet-server: keeps products, licenses, machines and leases in an embedded redb
/// database and issues signed tokens over a JSON HTTP API.
///
/// On first start in an empty data directory it creates DIR/licet.redb and, unless
/// --signing-key is given, an Ed25519 signing key in DIR/keys/ (rotate it with
/// `licet-server keys rotate`). A directory that holds
/// a signing key but no database is refused (restore the database from a backup, or run
/// `licet-server init`). The admin token comes from LICET_ADMIN_TOKEN, or is generated on
/// first start and printed once.
///
/// With --database postgres://… (or LICET_DATABASE_URL) the data lives in PostgreSQL
/// instead, and several licet-server processes may share it (docs/scale-out.md); `migrate`
/// moves a redb data directory there.
#[derive(Debug, Parser)]
#[command(
    name = "licet-server",
    version,
    about,
    long_about,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    config: licet_server::Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates a new, empty database in the data directory (and a signing key if there is
    /// none), then exits. Needed only where a signing key is there already: a start refuses
    /// then, rather than answer KEY_INVALID to every license the key signed. An initialised
    /// database is left untouched.
    Init {
        // Boxed: the whole configuration is far larger than the other commands' arguments.
        #[command(flatten)]
        config: Box<licet_server::Config>,
    },
    /// Copies a redb data directory (products, licenses, machines, leases, the audit log,
    /// the admin token's hash) into an empty PostgreSQL database in one transaction, then
    /// compares counts and a digest of both sides. Exit 0 when they are equal, 1 when not,
    /// 2 on an error. Stop the server on the data directory first. Keys, machine and lease
    /// tokens issued before keep working: start the servers on PostgreSQL with
    /// `--data DATA_DIR` (its signing keys) or a copy of its key files.
    Migrate {
        /// The redb data directory (holding licet.redb).
        #[arg(long, value_name = "DATA_DIR")]
        from: std::path::PathBuf,
        /// The empty PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE.
        #[arg(long, value_name = "URL", value_parser = licet_server::config::DatabaseUrl::parse)]
        to: licet_server::config::DatabaseUrl,
        /// Print the two summaries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks a configuration file (docs/operations.md, "Configuration"): TOML, known keys,
    /// values in range, the files it names readable, the TLS certificate and key loadable.
    /// Exit 0 with a summary when it is fine, 1 with each problem (line and key) when not, 2
    /// when the command line is wrong. A server started with a bad file exits 2.
    CheckConfig {
        /// The file.
        file: std::path::PathBuf,
        /// Print the result as JSON: {"file", "ok", "keys", "problems": [{"line", "key", "message"}]}.
        #[arg(long)]
        json: bool,
    },
    /// The signing keys in the data directory: list, rotate, endorse, retire
    /// (docs/key-rotation.md). A running server picks up a change within a second.
    #[command(subcommand)]
    Keys(keys_command::KeysCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let (config, init_only) = match cli.command {
        Some(Command::Init { config }) => (*config, true),
        Some(Command::Migrate { from, to, json }) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            return migrate(&from, &to, json).await;
        }
        Some(Command::Keys(cmd)) => return keys_command::run(cmd),
        Some(Command::CheckConfig { file, json }) => return check_config(&file, json),
        None => (cli.config, false),
    };
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
    if init_only {
        return init(&config);
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
    if let Some(m) = server.metrics_addr {
        println!("licet-server metrics on http://{m}/metrics");
    }
    println!(
        "licet-server listening on {}://{}",
        server.scheme, server.addr
    );
    match server.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, over the configuration file's settings (--config or LICET_CONFIG) if
/// there is one: its values are the flags' defaults, so flags and LICET_* variables win.
fn parse() -> Result<Cli, ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = Cli::command();
    // `check-config FILE` reads its file itself, even when LICET_CONFIG names another.
    let checking = args.get(1).is_some_and(|a| a == "check-config");
    if let Some(path) = licet_server::config_file::path_from(&args).filter(|_| !checking) {
        match licet_server::config_file::read(&path) {
            Ok(settings) => cmd = licet_server::config_file::apply(cmd, &settings),
            Err(problems) => {
                for p in problems {
                    eprintln!("error: {}: {p}", path.display());
                }
                return Err(ExitCode::from(2));
            }
        }
    }
    let matches = cmd.get_matches_from(args);
    Cli::from_arg_matches(&matches).map_err(|e| {
        let _ = e.print();
        ExitCode::from(2)
    })
}

fn check_config(file: &std::path::Path, json: bool) -> ExitCode {
    let (keys, problems) = match licet_server::config_file::read(file) {
        Ok(settings) => (
            settings.entries.iter().map(|e| e.key.clone()).collect(),
            licet_server::config_file::check(&settings),
        ),
        Err(problems) => (Vec::new(), problems),
    };
    let ok = problems.is_empty();
    if json {
        println!(
            "{}",
            serde_json::json!({"file": file, "ok": ok, "keys": keys, "problems": problems})
        );
    } else if ok {
        println!(
            "{}: fine, {} setting{} ({}); the others are their defaults",
            file.display(),
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            keys.join(", ")
        );
    } else {
        for p in &problems {
            eprintln!("{}: {p}", file.display());
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn init(config: &licet_server::Config) -> ExitCode {
    let db = licet_server::database_path(&config.data);
    match licet_server::init(config) {
        Ok(licet_server::Initialised::Created { new_key }) => {
            println!("created an empty database {}", db.display());
            if new_key {
                println!("generated a new signing key in {}", config.data.display());
            }
            ExitCode::SUCCESS
        }
        Ok(licet_server::Initialised::Postgres { target, new_key }) => {
            // The redb file plays no part here: name the database that does.
            println!("PostgreSQL database {target} holds licet's schema, up to date");
            if new_key {
                println!("generated a new signing key in {}", config.data.display());
            }
            ExitCode::SUCCESS
        }
        Ok(licet_server::Initialised::Already) => {
            println!("{} is initialised already; nothing changed", db.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn migrate(
    from: &std::path::Path,
    to: &licet_server::config::DatabaseUrl,
    json: bool,
) -> ExitCode {
    let m = match licet_server::migrate(from, to).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let equal = m.from == m.to;
    if json {
        println!(
            "{}",
            serde_json::json!({"from": m.from, "to": m.to, "equal": equal})
        );
    } else {
        for (side, s) in [("from", &m.from), ("to", &m.to)] {
            println!(
                "{side:>4}: {} products, {} licenses, {} machines, {} leases, {} audit events, sha256 {}",
                s.products, s.licenses, s.machines, s.leases, s.audit_events, s.sha256
            );
        }
        println!(
            "{}",
            if equal {
                "equal: the copy is complete"
            } else {
                "DIFFERENT: do not switch over; the server log has the cause"
            }
        );
    }
    if equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
