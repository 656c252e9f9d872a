//! Settings, from flags or the environment.

use std::path::PathBuf;

use clap::Parser;

/// The default port: "LI" on a phone keypad is 54; 5480 is unassigned by IANA.
pub const DEFAULT_PORT: u16 = 5480;

/// The server's settings: the flags of `licet-server` and of `licet-server init` (the
/// binary's help is in `main.rs`). A `Parser` too, so that embedders and tests parse them
/// as the command line does, with every default.
#[derive(Debug, Clone, Parser)]
#[command(name = "licet-server", version, max_term_width = 100)]
pub struct Config {
    /// TOML file of settings: each key is a flag's name with _ for - (body_limit = 65536).
    /// Flags win over LICET_* variables, which win over the file, which wins over the
    /// defaults shown here. Check one with `licet-server check-config FILE`.
    #[arg(long, env = "LICET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on: HOST:PORT, where HOST is an IP address or a name such as
    /// localhost (IPv6 in brackets: [::1]:5480); port 0 takes any free port.
    #[arg(long, env = "LICET_LISTEN", default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"), value_parser = listen_address)]
    pub listen: String,
    /// PostgreSQL database instead of the redb file in --data, as
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE: several server processes may share it
    /// (give them the same --signing-key and admin token; docs/scale-out.md). The schema is
    /// created on first start. The password is never logged or shown.
    #[arg(long, env = "LICET_DATABASE_URL", value_name = "URL", value_parser = DatabaseUrl::parse, hide_env_values = true)]
    pub database: Option<DatabaseUrl>,
    /// Most connections to PostgreSQL this process's requests use at once, 1 to 1000 (one
    /// more is kept for /healthz); with --database only.
    #[arg(long, env = "LICET_DATABASE_POOL", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool: u32,
    /// Data directory: the database, and the signing keys (keys/, current; rotate them
    /// with `licet-server keys rotate`). With --database it holds only the keys, and
    /// several processes share it.
    #[arg(long, env = "LICET_DATA", default_value = "licet-data")]
    pub data: PathBuf,
    /// One fixed signing key made with `licet keys generate`, instead of the data
    /// directory's rotating keys (encrypted keys: LICET_KEY_PASSPHRASE or
    /// --passphrase-file). signature.pem beside it, if present, is what GET /signature.pem
    /// serves.
    #[arg(long, env = "LICET_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// File holding the signing key's passphrase (first line).
    #[arg(long, env = "LICET_PASSPHRASE_FILE", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// File holding the bootstrap admin token (first line), the scope `admin`; instead of
    /// LICET_ADMIN_TOKEN, so that it is in no process environment. Stored hashed.
    #[arg(long, env = "LICET_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "LICET_LOG_JSON", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub log_json: bool,
    /// Largest request body, in bytes, 1024 to 16777216 (bulk license creation allows 64
    /// times as much).
    #[arg(long, env = "LICET_BODY_LIMIT", default_value_t = 64 * 1024, value_parser = in_range::<usize>(1024, 16 << 20))]
    pub body_limit: usize,
    /// Request timeout, in seconds (1 to 3600).
    #[arg(long, env = "LICET_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// Most write requests committed in one transaction (group commit), 1 to 65536 (on
    /// PostgreSQL at most 64); 1 turns batching off.
    #[arg(long, env = "LICET_MAX_BATCH", default_value_t = 512, value_parser = in_range::<usize>(1, 65_536))]
    pub max_batch: usize,
    /// Most client connections served at once; more wait in the listen backlog. Lowered,
    /// with a warning, when the open-file hard limit (`ulimit -Hn`) is smaller.
    #[arg(long, env = "LICET_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a connection may send nothing: a new or kept-alive connection with no
    /// request, a request body that stops arriving, an answer the client stops reading.
    #[arg(long, env = "LICET_IDLE_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Seconds a client has to send a whole request head, counted from when the server
    /// starts waiting for it (the connection's start, or the previous answer): drops
    /// clients that trickle their headers to hold a connection (slowloris).
    #[arg(long, env = "LICET_HEADER_READ_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout: u64,
    /// Do not serve the admin console at /admin (the JSON admin API under /v1/admin stays).
    #[arg(long, env = "LICET_NO_ADMIN_CONSOLE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub no_admin_console: bool,
    /// TLS certificate chain, PEM: the server's certificate first, then intermediates. With
    /// --tls-key the server speaks HTTPS only on --listen; SIGHUP reloads both files without
    /// dropping connections.
    #[arg(
        long,
        env = "LICET_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "LICET_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Client API requests each source IP address may make per minute, sustained (0: no
    /// limit). Over it: 429 RATE_LIMITED with Retry-After. Counted per server process.
    #[arg(
        long,
        env = "LICET_IP_RATE",
        default_value_t = 300,
        value_name = "PER_MINUTE"
    )]
    pub ip_rate: u32,
    /// Client API requests a source IP address may make at once before --ip-rate paces it
    /// (1 to 100000).
    #[arg(long, env = "LICET_IP_BURST", default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ip_burst: u32,
    /// Client API requests naming one license key allowed per minute, sustained, whatever
    /// their source (0: no limit).
    #[arg(
        long,
        env = "LICET_KEY_RATE",
        default_value_t = 60,
        value_name = "PER_MINUTE"
    )]
    pub key_rate: u32,
    /// Client API requests naming one license key allowed at once before --key-rate paces
    /// them (1 to 100000).
    #[arg(long, env = "LICET_KEY_BURST", default_value_t = 30, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub key_burst: u32,
    /// Reverse proxies whose X-Forwarded-For is believed, as addresses or CIDR ranges,
    /// comma-separated (e.g. 10.0.0.5,192.168.1.0/24). A request from anywhere else is
    /// counted under its own address, whatever its headers say.
    #[arg(long, env = "LICET_TRUSTED_PROXY", value_name = "ADDR|CIDR", value_delimiter = ',', value_parser = proxy_range)]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Serve GET /metrics (Prometheus text format) on this separate HOST:PORT, not on
    /// --listen; off when not given. Keep it on a private address.
    #[arg(long, env = "LICET_METRICS_LISTEN", value_name = "HOST:PORT", value_parser = listen_address)]
    pub metrics_listen: Option<String>,
    /// The database's page cache, in MiB (1 to 65536): more keeps more licenses in memory,
    /// at that cost in RSS.
    #[arg(long, env = "LICET_CACHE_SIZE", default_value_t = 16, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub cache_size: u32,
    /// How long audit events are kept, in days from when they happened, or `forever`. Older
    /// ones are removed in the background (docs/api.md, "What is kept").
    #[arg(long, env = "LICET_AUDIT_RETENTION", default_value = "forever", value_name = "DAYS|forever", value_parser = retention_days)]
    pub audit_retention: RetentionDays,
    /// How long leases are kept once they ended (released, or expired without a renewal),
    /// in days, or `forever`; they no longer hold a seat either way.
    #[arg(long, env = "LICET_LEASE_RETENTION", default_value = "90", value_name = "DAYS|forever", value_parser = retention_days)]
    pub lease_retention: RetentionDays,
    /// Seconds between pruning passes (1 to 86400); one pass also runs at start.
    #[arg(long, env = "LICET_PRUNE_INTERVAL", default_value_t = 3600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub prune_interval: u64,
}

/// A retention: a number of days, or forever (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays(pub Option<u64>);

impl RetentionDays {
    /// In seconds, `None` for forever.
    pub fn seconds(self) -> Option<u64> {
        self.0.map(|d| d.saturating_mul(86_400))
    }
}

/// `forever`, or 1 to 36500 days (a retention of 0 would remove records as they are made).
fn retention_days(s: &str) -> Result<RetentionDays, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("forever") {
        return Ok(RetentionDays(None));
    }
    match s.parse::<u64>() {
        Ok(d) if (1..=36_500).contains(&d) => Ok(RetentionDays(Some(d))),
        _ => Err(format!(
            "'{s}' is not a retention: give a number of days from 1 to 36500, or 'forever'"
        )),
    }
}

/// An address (a single host) or a CIDR range.
fn proxy_range(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| {
            format!("'{s}' is neither an IP address nor a CIDR range (e.g. 10.0.0.5 or 10.0.0.0/8)")
        })
}

/// A `postgres://` URL, held so that it never reaches a log: its `Debug` shows host and
/// database only, and it is zeroized when dropped (it may hold a password).
#[derive(Clone)]
pub struct DatabaseUrl(zeroize::Zeroizing<String>);

impl DatabaseUrl {
    /// Holds the URL as given. It is checked when the server connects, not here: clap
    /// repeats a refused value in its message, and this one may hold a password.
    ///
    /// # Errors
    /// None; a `Result` for clap's value parser.
    pub fn parse(s: &str) -> Result<DatabaseUrl, String> {
        Ok(DatabaseUrl(zeroize::Zeroizing::new(s.to_owned())))
    }

    /// The URL itself, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// A parser of a whole number from `lo` to `hi`, for settings held as `usize` (clap's ranged
/// parsers are for the fixed-width integers only). The message names the range, as clap's own
/// ranged parsers do.
fn in_range<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| match s.parse::<T>() {
        Ok(v) if v >= lo && v <= hi => Ok(v),
        _ => Err(format!("'{s}' is not a whole number from {lo} to {hi}")),
    }
}

/// Checks the shape HOST:PORT; the name is resolved when the server binds.
fn listen_address(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' has no port: write HOST:PORT, e.g. 127.0.0.1:5480"))?;
    if host.is_empty() {
        return Err(format!(
            "'{s}' has no host: write HOST:PORT, e.g. 127.0.0.1:5480"
        ));
    }
    port.parse::<u16>()
        .map_err(|_| format!("'{port}' is not a port (0 to 65535)"))?;
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    /// Each bounded flag, just outside and at the ends of its range: refused naming the
    /// range, or taken as given.
    #[test]
    fn flags_out_of_range_are_refused_naming_the_range() {
        let cases: &[(&str, &str, &str)] = &[
            ("--max-batch", "0", "1 to 65536"),
            ("--max-batch", "65537", "1 to 65536"),
            ("--body-limit", "1023", "1024 to 16777216"),
            (
                "--body-limit",
                "99999999999999999999999",
                "1024 to 16777216",
            ),
            ("--request-timeout", "0", "1..=3600"),
            ("--request-timeout", "3601", "1..=3600"),
        ];
        for (flag, value, range) in cases {
            let err = Config::try_parse_from(["licet-server", flag, value])
                .expect_err(&format!("{flag} {value} should be refused"));
            let text = err.to_string();
            assert!(text.contains(range), "{flag} {value}: {text}");
        }
        let c = Config::try_parse_from([
            "licet-server",
            "--max-batch",
            "65536",
            "--body-limit",
            "1024",
            "--request-timeout",
            "3600",
        ])
        .expect("the ends of each range are accepted");
        assert_eq!(
            (c.max_batch, c.body_limit, c.request_timeout),
            (65_536, 1024, 3600)
        );
    }

    #[test]
    fn retentions_are_days_or_forever() {
        let parse = |v: &str| {
            Config::try_parse_from(["licet-server".to_owned(), format!("--audit-retention={v}")])
                .map(|c| c.audit_retention.seconds())
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse("forever"), Ok(None));
        assert_eq!(parse("FOREVER"), Ok(None));
        assert_eq!(parse("1"), Ok(Some(86_400)));
        assert_eq!(parse("36500"), Ok(Some(36_500 * 86_400)));
        for bad in ["0", "-1", "1d", "36501", ""] {
            let e = parse(bad).expect_err(bad);
            assert!(
                e.contains("number of days from 1 to 36500, or 'forever'"),
                "{bad}: {e}"
            );
        }
        let c = Config::try_parse_from(["licet-server"]).expect("defaults");
        assert_eq!(
            (
                c.audit_retention.seconds(),
                c.lease_retention.seconds(),
                c.prune_interval
            ),
            (None, Some(90 * 86_400), 3600)
        );
    }
}
