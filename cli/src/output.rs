//! Showing claims and results, for people and as JSON.

use std::io::{ErrorKind, Write};

use licet_verifier::{Claims, KindClaims, hex};

use crate::failure::Failure;

pub use licet::json::{claims_json, rfc3339 as time};

/// Writes `text` to standard output, as it is.
///
/// Every command prints through here (or [`say!`]), never with `print!`, which panics when
/// the reader has gone: `licet verify … | head -1` closes the pipe after one line.
///
/// # Errors
/// [`Failure::closed_pipe`] when the reader closed standard output (the command then ends
/// quietly); `IO_ERROR` for any other failed write (a full disk behind `> FILE`).
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Failure::closed_pipe()),
        Err(e) => Err(Failure::error(
            "IO_ERROR",
            format!("cannot write to standard output: {e}"),
        )),
    }
}

/// `println!` that returns a [`Failure`] instead of panicking; see [`print`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// A verifier error for people: as the verifier words it, but with times as RFC 3339
/// rather than seconds since 1970.
pub fn verify_error(e: &licet_verifier::Error) -> String {
    use licet_verifier::Error as E;
    match e {
        E::Expired { expired_at, now } => format!(
            "token expired at {} (checked at {}); renew the license or check in again",
            time(*expired_at),
            time(*now)
        ),
        E::NotYetValid { valid_from, now } => format!(
            "token is valid only from {} (checked at {}); wait until then, or check the system clock",
            time(*valid_from),
            time(*now)
        ),
        E::ClockRollback { now, seen } => format!(
            "the clock reads {}, earlier than {} already seen (the token's issue time or a later check); set the clock to the correct time",
            time(*now),
            time(*seen)
        ),
        other => other.to_string(),
    }
}

/// Claims for people, one `name: value` a line.
pub fn claims_text(c: &Claims) -> String {
    let mut lines = vec![
        format!("kind:          {}", c.kind().name()),
        format!("product:       {}", c.product),
        format!("id:            {}", hex(&c.id)),
    ];
    if let Some(i) = &c.issuer {
        lines.push(format!("issuer:        {i}"));
    }
    if let Some(cu) = &c.customer {
        lines.push(format!("customer:      {cu}"));
    }
    lines.push(format!("issued at:     {}", time(c.issued_at)));
    if let Some(t) = c.not_before {
        lines.push(format!("not before:    {}", time(t)));
    }
    lines.push(match c.expires_at {
        Some(t) => format!("expires at:    {}", time(t)),
        None => "expires at:    never (perpetual)".into(),
    });
    lines.push(format!(
        "features:      {}",
        if c.features.is_empty() {
            "(none)".into()
        } else {
            c.features.join(", ")
        }
    ));
    match &c.kind {
        KindClaims::License {
            license_type,
            max_machines,
            max_leases,
        } => {
            if let Some(t) = license_type {
                lines.push(format!("type:          {}", t.name()));
            }
            let limit = |n: &Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
            lines.push(format!("max machines:  {}", limit(max_machines)));
            lines.push(format!("max leases:    {}", limit(max_leases)));
        }
        KindClaims::Machine {
            license_id,
            fingerprint,
            grace_ends_at,
        } => {
            lines.push(format!("license id:    {}", hex(license_id)));
            lines.push(format!("fingerprint:   {}", hex(fingerprint)));
            if let Some(g) = grace_ends_at {
                lines.push(format!("grace ends at: {g} (the license has expired)"));
            }
        }
        KindClaims::Lease {
            license_id,
            client_id,
        } => {
            lines.push(format!("license id:    {}", hex(license_id)));
            if let Some(cid) = client_id {
                lines.push(format!("client id:     {cid}"));
            }
        }
    }
    for (k, v) in &c.metadata {
        lines.push(format!("meta {k}: {v}"));
    }
    lines.join("\n")
}
