//! An application's whole licensing life with `licet-client`: activate this machine, go
//! offline and verify the stored token, hold a floating seat (renewed in the background),
//! release it.
//!
//! ```text
//! cargo run -p licet-client --example seat -- life --server http://127.0.0.1:5480 \
//!     --product acme-cad --license LIC-… --keyring signature.pem
//! ```
//!
//! Commands:
//!
//! - `life`: the whole life, one line per step.
//! - `hold`: only the floating seat: prints `SEAT HELD …` and keeps the seat (renewing it)
//!   until a line arrives on standard input or it closes, then releases it and prints
//!   `SEAT RELEASED`. When every seat is taken it prints `SEAT REFUSED LEASE_LIMIT_REACHED`
//!   and exits 1, or with `--wait SECS` keeps asking (printing `SEAT WAITING …` once) for
//!   up to SECS seconds.
//!
//! Options, or their environment variables: `--server` (`LICET_SERVER`), `--product`
//! (`LICET_PRODUCT`), `--license` (`LICET_LICENSE_KEY`), `--keyring` (`LICET_KEYRING`, the
//! vendor's `signature.pem`; a real application builds it in with
//! `include_str!("signature.pem")` and never takes keys from outside), `--client-id`,
//! `--timeout SECS` (each request; default 10). Tokens are stored under `LICET_HOME`, else
//! the per-user data folder; `LICET_MACHINE_ID` overrides the machine id.
//!
//! Exit codes: 0 done; 1 refused (the code is printed); 2 bad usage or setup.
//!
//! The same program is built as the `licet-seat-demo` binary, which the end-to-end test
//! runs against a real server.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use licet_client::{Client, Error, SeatStatus};
use licet_verifier::Keyring;

const USAGE: &str = "usage: seat (life|hold) --server URL --product NAME --license KEY --keyring signature.pem [--client-id ID] [--timeout SECS] [--wait SECS]";

/// The settings of one run.
struct Args {
    command: String,
    server: String,
    product: String,
    license: String,
    keyring: String,
    client_id: Option<String>,
    timeout: u64,
    wait: u64,
}

/// Runs the example; the `licet-seat-demo` binary calls this too.
pub fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let client = match client(&args) {
        Ok(c) => c,
        Err(e) => {
            println!("SETUP FAILED {}: {e}", e.code());
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "life" => life(&client, &args),
        _ => hold(&client, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAILED {}: {e}", e.code());
            ExitCode::from(1)
        }
    }
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = it.next().ok_or("no command")?;
    if command != "life" && command != "hold" {
        return Err(format!("unknown command '{command}'"));
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut a = Args {
        command,
        server: env("LICET_SERVER").unwrap_or_default(),
        product: env("LICET_PRODUCT").unwrap_or_default(),
        license: env("LICET_LICENSE_KEY").unwrap_or_default(),
        keyring: env("LICET_KEYRING").unwrap_or_default(),
        client_id: None,
        timeout: 10,
        wait: 0,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes whole seconds"))
        };
        match flag.as_str() {
            "--server" => a.server = value,
            "--product" => a.product = value,
            "--license" => a.license = value,
            "--keyring" => a.keyring = value,
            "--client-id" => a.client_id = Some(value),
            "--timeout" => a.timeout = secs()?.max(1),
            "--wait" => a.wait = secs()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    for (name, v) in [
        ("--server", &a.server),
        ("--product", &a.product),
        ("--license", &a.license),
        ("--keyring", &a.keyring),
    ] {
        if v.is_empty() {
            return Err(format!("{name} is required"));
        }
    }
    Ok(a)
}

fn client(a: &Args) -> Result<Client, Error> {
    // A real application: Keyring::from_pem(include_str!("signature.pem")).
    let keyring = Keyring::from_pem_file(&a.keyring)?;
    let mut b = Client::builder(&a.server, &a.product, &a.license, keyring)
        .timeout(Duration::from_secs(a.timeout))
        .machine_name("seat example");
    if let Some(id) = &a.client_id {
        b = b.client_id(id);
    }
    b.build()
}

/// Activate, go offline, verify the stored token, hold a seat, release it.
fn life(client: &Client, a: &Args) -> Result<(), Error> {
    let m = client.activate()?;
    println!(
        "ACTIVATED machine {} (check in before {})",
        m.id(),
        rfc3339(m.check_in_before())
    );

    // Offline: a client whose server cannot be reached (nothing listens on port 1) starts
    // from the stored machine token alone.
    let keyring = Keyring::from_pem_file(&a.keyring)?;
    let offline = Client::builder("http://127.0.0.1:1", &a.product, &a.license, keyring)
        .store_dir(client.store_dir())
        .build()?;
    let m = offline.load_machine()?;
    println!(
        "OFFLINE machine token verified: product {}, features [{}], check in before {}",
        m.claims().product,
        m.claims().features.join(", "),
        rfc3339(m.check_in_before())
    );

    let seat = client.hold_seat_with(report)?;
    let lease = seat.lease();
    println!(
        "SEAT HELD lease {} (expires at {})",
        lease.id(),
        rfc3339(lease.expires_at())
    );
    seat.release()?;
    Ok(())
}

/// Prints each change the renewal thread reports.
fn report(status: &SeatStatus) {
    match status {
        SeatStatus::Held {
            lease_id,
            expires_at,
        } => println!(
            "SEAT RENEWED lease {lease_id} (expires at {})",
            rfc3339(*expires_at)
        ),
        SeatStatus::Lost(e) => println!("SEAT LOST {}: {e}", e.code()),
        SeatStatus::Released => println!("SEAT RELEASED"),
        _ => {}
    }
}

/// Hold a seat until standard input has a line or closes.
fn hold(client: &Client, a: &Args) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let mut said_waiting = false;
    let seat = loop {
        match client.hold_seat_with(report) {
            Ok(seat) => break seat,
            Err(e) if e.code() == "LEASE_LIMIT_REACHED" && Instant::now() < deadline => {
                if !said_waiting {
                    println!("SEAT WAITING {}", e.code());
                    said_waiting = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) if e.code() == "LEASE_LIMIT_REACHED" => {
                println!("SEAT REFUSED {}", e.code());
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    };
    let lease = seat.lease();
    println!(
        "SEAT HELD lease {} (expires at {})",
        lease.id(),
        rfc3339(lease.expires_at())
    );

    // Standard input is read on its own thread; this one watches the seat meanwhile.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let _ = tx.send(());
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return seat.release(),
        }
        if let SeatStatus::Lost(e) = seat.status() {
            return Err(e);
        }
    }
}

/// A time as RFC 3339 UTC, `2027-01-31T12:00:00Z` (a time past what RFC 3339 can write,
/// after the year 9999, is shown as seconds since 1970).
fn rfc3339(t: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    /// Against Python's `datetime` (leap day, century, the last second of a year).
    #[test]
    fn rfc3339_matches_the_calendar() {
        for (t, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_800_000_000, "2027-01-15T08:00:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(super::rfc3339(t), want);
        }
    }
}
