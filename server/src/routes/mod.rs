//! The HTTP routes: the client API (the license key is the credential) and the admin API
//! (a bearer token).

pub mod admin;
pub mod client;
pub mod deny;
pub mod keys;
pub mod leases;
pub mod tokens;

use serde::{Deserialize, Deserializer, Serializer};

/// Times in JSON: RFC 3339 UTC strings, formatted as everywhere else in licet.
pub use licet::json::rfc3339;

/// Parses an RFC 3339 time into seconds since 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Serde helper: an optional RFC 3339 time.
pub mod opt_time {
    use super::*;

    /// Serialises.
    pub fn serialize<S: Serializer>(t: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        v.map(|s| {
            parse_time(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not an RFC 3339 time")))
        })
        .transpose()
    }
}

/// Serde helper: an RFC 3339 time.
pub mod req_time {
    use super::*;

    /// Serialises.
    pub fn serialize<S: Serializer>(t: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(*t))
    }
}
