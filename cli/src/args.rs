//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// licet: make signing keys, mint and check license tokens, and activate air-gapped machines.
///
/// A first session:
///
///   licet keys generate                      # keys/signing-key.pem + keys/signature.pem
///
///   licet mint license --key keys/signing-key.pem --product acme-studio-pro --days 365
///
///   licet verify --pubkey keys/signature.pem LIC-…
///
/// Exit codes: 0 success, 1 the token or request is not valid, 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "licet", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make, show and rotate the vendor's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign a new license, machine or lease token.
    #[command(subcommand)]
    Mint(MintCommand),
    /// Show what a token says, WITHOUT checking it.
    Inspect(InspectArgs),
    /// Check a token's signature and claims against signature.pem.
    Verify(VerifyArgs),
    /// Print this machine's fingerprint hash (salted per product).
    Fingerprint(FingerprintArgs),
    /// Activate a machine that has no network, by exchanging files.
    #[command(subcommand)]
    Offline(OfflineCommand),
    /// Read the vendor's signed revocation lists.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Alg {
    /// Ed25519: small, fast tokens (the default).
    Ed25519,
    /// RSA-PSS (PS256): for vendors who must use RSA.
    Rsa,
}

/// Where a passphrase for an encrypted key comes from, besides the prompt.
#[derive(Debug, Args, Clone)]
pub struct PassphraseArgs {
    /// Read the key's passphrase from the first line of this file (otherwise from
    /// LICET_KEY_PASSPHRASE, otherwise from a prompt). Never given on the command line.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key: DIR/signing-key.pem (private, mode 0600) and DIR/signature.pem
    /// (public: ship it with your application). With --root, a root key instead:
    /// DIR/root-key.pem (keep it offline) and DIR/root.pem (pin it in your application).
    Generate {
        /// Make a root key, which endorses signing keys (`licet keys endorse`) and signs
        /// no token itself.
        #[arg(long)]
        root: bool,
        /// Signature algorithm.
        #[arg(long, value_enum, default_value_t = Alg::Ed25519)]
        alg: Alg,
        /// RSA key size in bits (2048 to 4096).
        #[arg(long, default_value_t = licet_keys::RSA_DEFAULT_BITS)]
        bits: usize,
        /// Directory for the key files.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Encrypt the private key with a passphrase (PKCS#8 PBES2, scrypt + AES-256).
        #[arg(long)]
        encrypt: bool,
        /// Replace an existing signing key (keep a backup: tokens it signed cannot be
        /// checked without its public key).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key (SPKI PEM) of a signing key.
    Public {
        /// The signing key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the key's algorithm, kid and PEM as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Endorse a signing key with the root key until a date: prints (or writes) a LICET
    /// ENDORSEMENT block to add to signature.pem, so that applications pinning only the
    /// root accept that key's tokens.
    Endorse {
        /// The root key file (root-key.pem, from `licet keys generate --root`).
        #[arg(long, value_name = "FILE")]
        root: PathBuf,
        /// The signing key to endorse: its public key (PEM) or its private key file
        /// (not encrypted; for an encrypted one give `licet keys public`'s output).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The last day the key is trusted (2027-12-31, an RFC 3339 time, or @SECONDS).
        #[arg(long, value_name = "DATE")]
        until: String,
        /// Write the endorsement here (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Passphrase of the root key.
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the result as JSON (the endorsement itself under "endorsement").
        #[arg(long)]
        json: bool,
    },
    /// Replace the signing key with a new one. The old key moves to DIR/retired/ and its
    /// public key stays in DIR/signature.pem, so tokens it signed still verify.
    Rotate {
        /// Directory of the key files.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Algorithm of the new key.
        #[arg(long, value_enum, default_value_t = Alg::Ed25519)]
        alg: Alg,
        /// RSA key size in bits (2048 to 4096).
        #[arg(long, default_value_t = licet_keys::RSA_DEFAULT_BITS)]
        bits: usize,
        /// Encrypt the new key (it is encrypted anyway when the old one was).
        #[arg(long)]
        encrypt: bool,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What every mint command shares.
#[derive(Debug, Args)]
pub struct MintCommon {
    /// The signing key file (from `licet keys generate`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Write the file form here (mode 0644) instead of printing the text form.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists (by default an existing file is never overwritten).
    #[arg(long)]
    pub force: bool,
    /// Print the token and its claims as JSON.
    #[arg(long)]
    pub json: bool,
    /// Sign even when the token would already have expired (`--days 0`, a past
    /// `--expires`): for testing how an application handles expiry. Without it such a
    /// token is refused.
    #[arg(long)]
    pub allow_expired: bool,
}

#[derive(Debug, Subcommand)]
pub enum MintCommand {
    /// Sign a license: prints the license key (text form) or writes the file form.
    License(MintLicenseArgs),
    /// Sign a machine token for a machine of a license (for vendors who activate offline).
    Machine(MintMachineArgs),
    /// Sign a lease (floating seat) of a license.
    Lease(MintLeaseArgs),
}

#[derive(Debug, Args)]
pub struct MintLicenseArgs {
    #[command(flatten)]
    pub common: MintCommon,
    /// The product name (the token's audience; your application checks it).
    #[arg(long)]
    pub product: String,
    /// An enabled feature (repeat for more).
    #[arg(long = "feature", value_name = "F")]
    pub features: Vec<String>,
    /// Expiry: a date (2027-12-31, valid through that day, UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", conflicts_with = "days")]
    pub expires: Option<String>,
    /// Expiry in days from now. Without --expires or --days the license is perpetual.
    #[arg(long, value_name = "N")]
    pub days: Option<u64>,
    /// Not valid before this time: a date (its start, UTC), an RFC 3339 time or @SECONDS.
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Most machines that may be activated (unlimited when absent).
    #[arg(long, value_name = "N")]
    pub max_machines: Option<u64>,
    /// Most floating seats held at once (unlimited when absent).
    #[arg(long, value_name = "N")]
    pub max_leases: Option<u64>,
    /// License type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub license_type: Option<LicenseTypeArg>,
    /// Customer id or name.
    #[arg(long)]
    pub customer: Option<String>,
    /// Issuer (your company's name).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Metadata entry KEY=VALUE (repeat for more; at most 16).
    #[arg(long = "meta", value_name = "K=V")]
    pub meta: Vec<String>,
    /// A policy (docs/policies.md) as TOML, or JSON in a file ending .json: its type,
    /// duration (the expiry, from now), features, max_machines and max_leases go into the
    /// license; a flag given too wins over the policy's value (--feature adds features).
    /// Its lease and check-in terms are the server's and are not in the license key.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LicenseTypeArg {
    /// Time-limited evaluation.
    Trial,
    /// Paid for a period.
    Subscription,
    /// Bought once.
    Perpetual,
}

#[derive(Debug, Args)]
pub struct MintMachineArgs {
    #[command(flatten)]
    pub common: MintCommon,
    /// The license (text, file, or - for stdin); it is checked against --pubkey first.
    #[arg(long, value_name = "TOKEN|FILE")]
    pub license: String,
    /// The vendor's public keys to check the license against (default: the signing key's own).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// The machine's fingerprint hash (64 hex digits, from `licet fingerprint --product P`).
    #[arg(long, value_name = "HEX")]
    pub fingerprint: String,
    /// Validity in days from now (never past the license's expiry). The default is the
    /// one of `licet offline respond`: such a machine cannot check in, so the token is
    /// its activation until the vendor sends a new one.
    #[arg(long, value_name = "N", default_value_t = licet::offline::DEFAULT_DAYS)]
    pub days: u64,
}

#[derive(Debug, Args)]
pub struct MintLeaseArgs {
    #[command(flatten)]
    pub common: MintCommon,
    /// The license (text, file, or - for stdin); it is checked against --pubkey first.
    #[arg(long, value_name = "TOKEN|FILE")]
    pub license: String,
    /// The vendor's public keys to check the license against (default: the signing key's own).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Lease length in minutes (never past the license's expiry).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub minutes: u64,
    /// The client holding the seat.
    #[arg(long)]
    pub client_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token: its text, a file holding it, or - for standard input.
    #[arg(value_name = "TOKEN|FILE|-")]
    pub token: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The vendor's public keys (signature.pem).
    #[arg(long, value_name = "FILE")]
    pub pubkey: PathBuf,
    /// Pin this root key (root.pem): then only the signing keys that --pubkey's
    /// endorsements by this root vouch for, unexpired, are trusted.
    #[arg(long, value_name = "FILE")]
    pub root: Option<PathBuf>,
    /// Require this kind of token (by default any kind passes; with --fingerprint, machine).
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Require this product (by default the token's own).
    #[arg(long)]
    pub product: Option<String>,
    /// Require a machine token bound to this fingerprint hash (64 hex digits).
    #[arg(long, value_name = "HEX")]
    pub fingerprint: Option<String>,
    /// Check as of this time (2027-01-15, an RFC 3339 time, or @SECONDS) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Clock tolerance in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = licet_verifier::DEFAULT_LEEWAY)]
    pub leeway: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The token: its text, a file holding it, or - for standard input.
    #[arg(value_name = "TOKEN|FILE|-")]
    pub token: String,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KindArg {
    /// A license.
    License,
    /// A machine activation.
    Machine,
    /// A floating seat.
    Lease,
}

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The product to salt the fingerprint for (each product sees a different value; use
    /// the product name your vendor's tokens carry).
    #[arg(long)]
    pub product: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// On the customer's machine: write an activation request for the vendor.
    Request {
        /// The license key (text, file, or - for stdin).
        #[arg(long, value_name = "TOKEN|FILE")]
        license: String,
        /// A name for this machine (default: its host name).
        #[arg(long)]
        name: Option<String>,
        /// Write the request here (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON (the request itself under "request").
        #[arg(long)]
        json: bool,
    },
    /// On the vendor's side: check a request and write the machine token that answers it.
    /// With --server, the licensing server answers it instead, counting the machine
    /// against the license's limit like an online activation.
    Respond {
        /// The signing key file (not with --server).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "server",
            conflicts_with = "server"
        )]
        key: Option<PathBuf>,
        /// Send the request to this licet-server (http://host:port), which records the
        /// machine and signs its token (POST /v1/offline/activate).
        #[arg(long, value_name = "URL", conflicts_with_all = ["pubkey", "days"])]
        server: Option<String>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// The request file from the customer.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// The vendor's public keys to check the license against (default: signature.pem
        /// beside the key, else the key's own public key).
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Validity of the machine token in days (never past the license's expiry).
        #[arg(long, value_name = "N", default_value_t = licet::offline::DEFAULT_DAYS)]
        days: u64,
        /// Where to write the machine token file for the customer.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// On the customer's machine being retired: remove its stored machine token and write a
    /// deactivation request (the token, a nonce, the time) for the vendor's server
    /// (`licet offline release`). The application on this machine is no longer activated.
    Deactivate {
        /// The license key (text, file, or - for stdin).
        #[arg(long, value_name = "TOKEN|FILE")]
        license: String,
        /// Where to write the request (it is written before the token is removed).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a deactivation request to the licensing server, which frees the activation;
    /// write the signed receipt it answers with (checked against the server's
    /// signature.pem, or --pubkey) to --out, to keep as proof.
    Release {
        /// The licet-server (http://host:port) (POST /v1/offline/deactivate).
        #[arg(long, value_name = "URL")]
        server: String,
        /// The request file from `licet offline deactivate`.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// The vendor's public keys to check the receipt with (default: the server's
        /// GET /signature.pem).
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Where to write the receipt (a LICET RECEIPT PEM file).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a kept receipt: signed by the vendor's key, and (with --request) the answer to
    /// that very deactivation request.
    Receipt {
        /// The receipt file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The vendor's public keys (signature.pem).
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// The deactivation request it must answer.
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// On the customer's machine: check the vendor's answer and store it for the application.
    Import {
        /// The machine token file from the vendor.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The vendor's public keys (signature.pem).
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// Fetch the server's current revocation list, check it, and write it to a file (for
    /// an air-gapped site, or to ship with the application).
    Fetch {
        /// The licet-server (http://host:port); the list is GET /v1/revocations.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The vendor's public keys (signature.pem) to check the list against.
        #[arg(long, value_name = "FILE")]
        pubkey: PathBuf,
        /// Pin this root key (root.pem), as `licet verify --root`.
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
        /// Refuse a list whose sequence is below this one (the last one accepted).
        #[arg(long, value_name = "N")]
        last_sequence: Option<u64>,
        /// Where to write the list.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a revocation list file says; with --pubkey, check it first.
    Inspect {
        /// The revocation list file (-----BEGIN LICET REVOCATIONS-----).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Check the list against the vendor's public keys (signature.pem). Without it the
        /// list is shown UNCHECKED.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// With --pubkey: pin this root key (root.pem), as `licet verify --root`.
        #[arg(long, value_name = "FILE", requires = "pubkey")]
        root: Option<PathBuf>,
        /// Refuse a list whose sequence is below this one (the last one accepted).
        #[arg(long, value_name = "N", requires = "pubkey")]
        last_sequence: Option<u64>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}
