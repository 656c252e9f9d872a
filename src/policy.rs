//! Licensing models as policies: the terms a license is sold under, and how a license's own
//! overrides combine with its policy's terms (`docs/policies.md`).
//!
//! One definition for everyone who mints: the server stores [`Terms`] as a product's named
//! policy and checks them with [`Terms::check`]; `licet mint license --policy FILE` reads
//! the same type from TOML or JSON and checks it the same way. The effective terms of a
//! license are [`Overrides::apply`] over its policy's terms (or over [`Terms::default`]
//! when it has no policy): one function, so that every rule reads the same values.

use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;
use crate::LicenseType;

/// Defaults of a license's online settings (a license or policy that leaves them unset).
pub mod defaults {
    /// Lease length when the client asks for none, in seconds.
    pub const LEASE_TTL: u64 = 600;
    /// Longest lease a client may ask for, in seconds.
    pub const LEASE_TTL_MAX: u64 = 3600;
    /// How long a machine token is valid before the machine must check in, in seconds.
    pub const CHECK_IN_INTERVAL: u64 = 7 * 86_400;
    /// The rolling period a deactivation limit counts over, in seconds: 30 days.
    pub const DEACTIVATION_PERIOD: u64 = 30 * 86_400;
}

/// The ranges accepted for the numeric terms (`docs/api.md`, `docs/policies.md`).
///
/// Generous for any real use, and small enough that every time derived from them (now + a
/// lease or check-in interval or a duration) stays within the token format's NumericDate
/// range (`docs/token-format.md` §7.1) and is shown as an RFC 3339 time, whose years end at
/// 9999: u64::MAX once made every activation fail, and 10^12 seconds turned
/// `check_in_before` into a bare number.
pub mod limits {
    /// Most machines a license may allow; a larger fleet is unlimited (`null`).
    pub const MAX_MACHINES: u64 = 1_000_000;
    /// Most seats a license may allow; more is unlimited (`null`).
    pub const MAX_LEASES: u64 = 1_000_000;
    /// Longest lease, in seconds: 366 days. A floating seat is meant to come back; a seat
    /// for longer than a year is a machine activation.
    pub const LEASE_TTL_MAX: u64 = 366 * 86_400;
    /// Longest check-in interval (the machine token's lifetime), in seconds: ten years of
    /// 366 days.
    pub const CHECK_IN_INTERVAL: u64 = 10 * 366 * 86_400;
    /// Longest duration of a license made from a policy, in seconds: a hundred years of 366
    /// days (longer is a perpetual license: leave `duration` out).
    pub const DURATION: u64 = 100 * 366 * 86_400;
    /// Most deactivations a license may allow per period; more is unlimited (`null`).
    pub const DEACTIVATIONS: u64 = 1_000_000;
    /// Longest period a deactivation limit counts over, in seconds: 366 days. Every
    /// deactivation is kept at least this long, so the bound is also the bound on what a
    /// license's history holds.
    pub const DEACTIVATION_PERIOD: u64 = 366 * 86_400;
    /// Longest cooldown before a freed activation can be used again, in seconds: 366 days.
    pub const ACTIVATION_COOLDOWN: u64 = 366 * 86_400;
    /// Longest grace period, in seconds: 366 days. A grace period is for a late renewal or
    /// a late check-in, not a second term.
    pub const GRACE_PERIOD: u64 = 366 * 86_400;
}

/// What a license is sold under: every value a policy holds, and so every value a license
/// reads through its policy. A license's expiry is a date of its own, set at creation from
/// `duration`; everything else is read through the policy each time it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// trial, subscription or perpetual, when set.
    #[serde(rename = "type", default)]
    pub license_type: Option<String>,
    /// How long a license made under these terms lasts from its creation, in seconds;
    /// `None`: perpetual.
    #[serde(default)]
    pub duration: Option<u64>,
    /// Enabled features (entitlements).
    #[serde(default)]
    pub features: Vec<String>,
    /// Most machines; `None` is unlimited.
    #[serde(default)]
    pub max_machines: Option<u64>,
    /// Most concurrent floating seats; `None` is unlimited.
    #[serde(default)]
    pub max_leases: Option<u64>,
    /// Lease length when the client asks for none, in seconds.
    #[serde(default = "lease_ttl")]
    pub lease_ttl: u64,
    /// Longest lease a client may ask for, in seconds.
    #[serde(default = "lease_ttl_max")]
    pub lease_ttl_max: u64,
    /// How long a machine token lasts before the machine must check in, in seconds (the
    /// machine token's lifetime: the token expires at the check-in deadline).
    #[serde(default = "check_in_interval")]
    pub check_in_interval: u64,
    /// Most machine deactivations (by the customer: online or offline) per
    /// `deactivation_period`, counted over a rolling window; `None` is unlimited. Stops a
    /// license from being cycled through machines (activate, deactivate, activate another).
    #[serde(default)]
    pub deactivation_limit: Option<u64>,
    /// The rolling window `deactivation_limit` counts over, in seconds.
    #[serde(default = "deactivation_period")]
    pub deactivation_period: u64,
    /// How long an activation freed by a deactivation stays unusable, in seconds; 0: it can
    /// be used again at once.
    #[serde(default)]
    pub activation_cooldown: u64,
    /// How long after the license expires, or after a machine misses its check-in
    /// deadline, the server still answers, with a warning (`KEY_IN_GRACE`,
    /// `CHECK_IN_OVERDUE`) rather than a refusal, in seconds; 0: no grace.
    #[serde(default)]
    pub grace_period: u64,
}

fn lease_ttl() -> u64 {
    defaults::LEASE_TTL
}
fn lease_ttl_max() -> u64 {
    defaults::LEASE_TTL_MAX
}
fn check_in_interval() -> u64 {
    defaults::CHECK_IN_INTERVAL
}
fn deactivation_period() -> u64 {
    defaults::DEACTIVATION_PERIOD
}

impl Default for Terms {
    /// A license without a policy: no type, no features, perpetual, unlimited, and the
    /// default lease and check-in settings.
    fn default() -> Self {
        Terms {
            license_type: None,
            duration: None,
            features: Vec::new(),
            max_machines: None,
            max_leases: None,
            lease_ttl: defaults::LEASE_TTL,
            lease_ttl_max: defaults::LEASE_TTL_MAX,
            check_in_interval: defaults::CHECK_IN_INTERVAL,
            deactivation_limit: None,
            deactivation_period: defaults::DEACTIVATION_PERIOD,
            activation_cooldown: 0,
            grace_period: 0,
        }
    }
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::Policy { field, reason }
}

fn in_range(field: &'static str, value: u64, lo: u64, hi: u64, unit: &str) -> Result<(), Error> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("must be {lo} to {hi}{unit}; got {value}"),
    ))
}

impl Terms {
    /// Checks the terms: every number within its range ([`limits`]), the type one the
    /// format knows, the features within the format's limits (`docs/token-format.md`
    /// §7.4), and no contradiction (a default lease longer than the longest one). The
    /// error names the first field to fix.
    ///
    /// # Errors
    /// [`Error::Policy`] naming the field and what it must be.
    pub fn check(&self) -> Result<(), Error> {
        use licet_verifier::claims::limits as claim;
        const DAYS_366: &str = " seconds (366 days)";
        // lease_ttl first: the field a vendor gave is the one to name.
        in_range(
            "lease_ttl",
            self.lease_ttl,
            1,
            limits::LEASE_TTL_MAX,
            DAYS_366,
        )?;
        in_range(
            "lease_ttl_max",
            self.lease_ttl_max,
            1,
            limits::LEASE_TTL_MAX,
            DAYS_366,
        )?;
        if self.lease_ttl > self.lease_ttl_max {
            return Err(invalid(
                "lease_ttl",
                format!(
                    "({}) must be at most lease_ttl_max ({}); raise lease_ttl_max too",
                    self.lease_ttl, self.lease_ttl_max
                ),
            ));
        }
        in_range(
            "check_in_interval",
            self.check_in_interval,
            1,
            limits::CHECK_IN_INTERVAL,
            " seconds (ten years)",
        )?;
        if let Some(d) = self.duration {
            in_range(
                "duration",
                d,
                1,
                limits::DURATION,
                " seconds (a hundred years; leave it out for a perpetual license)",
            )?;
        }
        if let Some(n) = self.max_machines {
            in_range(
                "max_machines",
                n,
                0,
                limits::MAX_MACHINES,
                " (null for unlimited)",
            )?;
        }
        if let Some(n) = self.max_leases {
            in_range(
                "max_leases",
                n,
                0,
                limits::MAX_LEASES,
                " (null for unlimited)",
            )?;
        }
        if let Some(n) = self.deactivation_limit {
            in_range(
                "deactivation_limit",
                n,
                0,
                limits::DEACTIVATIONS,
                " (null for unlimited)",
            )?;
        }
        in_range(
            "deactivation_period",
            self.deactivation_period,
            1,
            limits::DEACTIVATION_PERIOD,
            DAYS_366,
        )?;
        in_range(
            "activation_cooldown",
            self.activation_cooldown,
            0,
            limits::ACTIVATION_COOLDOWN,
            DAYS_366,
        )?;
        // A freed activation that could never be used again before the license ends.
        if let Some(d) = self.duration
            && self.activation_cooldown >= d
        {
            return Err(invalid(
                "activation_cooldown",
                format!(
                    "({}) must be shorter than duration ({}): a freed activation would never be usable again",
                    self.activation_cooldown, d
                ),
            ));
        }
        in_range(
            "grace_period",
            self.grace_period,
            0,
            limits::GRACE_PERIOD,
            DAYS_366,
        )?;
        // A grace longer than the license itself: more time after the term than in it.
        if let Some(d) = self.duration
            && self.grace_period > d
        {
            return Err(invalid(
                "grace_period",
                format!(
                    "({}) must be at most duration ({}): a grace period longer than the license is a second license",
                    self.grace_period, d
                ),
            ));
        }
        if let Some(t) = &self.license_type
            && LicenseType::from_name(t).is_none()
        {
            return Err(invalid(
                "type",
                format!("'{t}' is not one of trial, subscription, perpetual"),
            ));
        }
        if self.features.len() > claim::FEATURES {
            return Err(invalid(
                "features",
                format!(
                    "must hold at most {} names; got {}",
                    claim::FEATURES,
                    self.features.len()
                ),
            ));
        }
        for f in &self.features {
            if f.is_empty() || f.len() > claim::FEATURE {
                return Err(invalid(
                    "features",
                    format!(
                        "must each be 1 to {} bytes; got one of {}",
                        claim::FEATURE,
                        f.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `Option<Option<T>>` from JSON or TOML: absent = `None` (not overridden), `null` =
/// `Some(None)` (overridden to nothing: unlimited, no type).
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What a license sets itself, over its policy: each `Some` replaces the policy's value
/// (`Some(None)` sets an optional one to nothing: unlimited, no type); each `None` reads
/// the policy's, and follows it when the policy changes.
///
/// Stored as the license record's own fields, present only when set: a record written
/// before policies existed has every field, and so reads as a license that overrides
/// everything (its values unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// The type.
    #[serde(
        default,
        deserialize_with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    pub license_type: Option<Option<String>>,
    /// The features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Most machines.
    #[serde(
        default,
        deserialize_with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_machines: Option<Option<u64>>,
    /// Most floating seats.
    #[serde(
        default,
        deserialize_with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_leases: Option<Option<u64>>,
    /// Default lease length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl: Option<u64>,
    /// Longest lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl_max: Option<u64>,
    /// Check-in interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in_interval: Option<u64>,
    /// Most deactivations per period.
    #[serde(
        default,
        deserialize_with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    pub deactivation_limit: Option<Option<u64>>,
    /// The period deactivations are counted over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivation_period: Option<u64>,
    /// The cooldown of a freed activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_cooldown: Option<u64>,
    /// The grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<u64>,
}

/// The names of the fields a license may override, as the API and `inherit` name them.
pub const OVERRIDABLE: &[&str] = &[
    "type",
    "features",
    "max_machines",
    "max_leases",
    "lease_ttl",
    "lease_ttl_max",
    "check_in_interval",
    "deactivation_limit",
    "deactivation_period",
    "activation_cooldown",
    "grace_period",
];

/// The fields a license record made before policies holds (and so overrides): the first
/// of [`OVERRIDABLE`], before the terms added since.
pub const BEFORE_POLICIES: usize = 7;

impl Overrides {
    /// The effective terms: `base` (a policy's terms, or [`Terms::default`]) with every
    /// value set here in its place. The one place the two combine.
    pub fn apply(&self, base: &Terms) -> Terms {
        let mut t = base.clone();
        if let Some(v) = &self.license_type {
            t.license_type.clone_from(v);
        }
        if let Some(v) = &self.features {
            t.features.clone_from(v);
        }
        if let Some(v) = self.max_machines {
            t.max_machines = v;
        }
        if let Some(v) = self.max_leases {
            t.max_leases = v;
        }
        if let Some(v) = self.lease_ttl {
            t.lease_ttl = v;
        }
        if let Some(v) = self.lease_ttl_max {
            t.lease_ttl_max = v;
        }
        if let Some(v) = self.check_in_interval {
            t.check_in_interval = v;
        }
        if let Some(v) = self.deactivation_limit {
            t.deactivation_limit = v;
        }
        if let Some(v) = self.deactivation_period {
            t.deactivation_period = v;
        }
        if let Some(v) = self.activation_cooldown {
            t.activation_cooldown = v;
        }
        if let Some(v) = self.grace_period {
            t.grace_period = v;
        }
        t
    }

    /// Overrides of every field, with the values of `t`: a license that reads nothing from
    /// a policy (as every license made before policies does).
    pub fn all(t: &Terms) -> Overrides {
        Overrides {
            license_type: Some(t.license_type.clone()),
            features: Some(t.features.clone()),
            max_machines: Some(t.max_machines),
            max_leases: Some(t.max_leases),
            lease_ttl: Some(t.lease_ttl),
            lease_ttl_max: Some(t.lease_ttl_max),
            check_in_interval: Some(t.check_in_interval),
            deactivation_limit: Some(t.deactivation_limit),
            deactivation_period: Some(t.deactivation_period),
            activation_cooldown: Some(t.activation_cooldown),
            grace_period: Some(t.grace_period),
        }
    }

    /// Drops the override of `field` (one of [`OVERRIDABLE`]), so that the license reads
    /// its policy's value again.
    ///
    /// # Errors
    /// [`Error::Policy`] naming `inherit` when `field` is not one a license overrides.
    pub fn inherit(&mut self, field: &str) -> Result<(), Error> {
        match field {
            "type" => self.license_type = None,
            "features" => self.features = None,
            "max_machines" => self.max_machines = None,
            "max_leases" => self.max_leases = None,
            "lease_ttl" => self.lease_ttl = None,
            "lease_ttl_max" => self.lease_ttl_max = None,
            "check_in_interval" => self.check_in_interval = None,
            "deactivation_limit" => self.deactivation_limit = None,
            "deactivation_period" => self.deactivation_period = None,
            "activation_cooldown" => self.activation_cooldown = None,
            "grace_period" => self.grace_period = None,
            other => {
                return Err(invalid(
                    "inherit",
                    format!(
                        "'{other}' is not a field a license overrides; use one of {}",
                        OVERRIDABLE.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The names of the fields set here.
    pub fn fields(&self) -> Vec<&'static str> {
        let set = [
            self.license_type.is_some(),
            self.features.is_some(),
            self.max_machines.is_some(),
            self.max_leases.is_some(),
            self.lease_ttl.is_some(),
            self.lease_ttl_max.is_some(),
            self.check_in_interval.is_some(),
            self.deactivation_limit.is_some(),
            self.deactivation_period.is_some(),
            self.activation_cooldown.is_some(),
            self.grace_period.is_some(),
        ];
        OVERRIDABLE
            .iter()
            .zip(set)
            .filter_map(|(n, s)| s.then_some(*n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let policy = Terms {
            license_type: Some("subscription".into()),
            max_machines: Some(3),
            features: vec!["pdf".into()],
            ..Terms::default()
        };
        let o = Overrides {
            max_machines: Some(None),
            lease_ttl: Some(60),
            ..Overrides::default()
        };
        let t = o.apply(&policy);
        assert_eq!(t.max_machines, None);
        assert_eq!(t.lease_ttl, 60);
        assert_eq!(t.license_type.as_deref(), Some("subscription"));
        assert_eq!(t.features, vec!["pdf".to_string()]);
        assert_eq!(o.fields(), vec!["max_machines", "lease_ttl"]);
    }

    #[test]
    fn a_record_made_before_policies_reads_as_overriding_everything() {
        let o: Overrides = serde_json::from_str(
            r#"{"license_type":null,"features":[],"max_machines":null,"max_leases":2,
                "lease_ttl":600,"lease_ttl_max":3600,"check_in_interval":604800}"#,
        )
        .expect("old fields");
        assert_eq!(o.fields(), OVERRIDABLE[..BEFORE_POLICIES].to_vec());
        assert_eq!(o.max_machines, Some(None));
        let back = serde_json::to_value(&o).expect("json");
        assert!(back.get("max_machines").is_some_and(|v| v.is_null()));
    }

    #[test]
    fn contradictions_name_their_field() {
        let bad = |t: Terms| match t.check() {
            Err(Error::Policy { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let base = Terms::default();
        assert!(base.check().is_ok());
        assert_eq!(
            bad(Terms {
                lease_ttl: 7200,
                ..base.clone()
            }),
            "lease_ttl"
        );
        assert_eq!(
            bad(Terms {
                duration: Some(0),
                ..base.clone()
            }),
            "duration"
        );
        assert_eq!(
            bad(Terms {
                max_machines: Some(u64::MAX),
                ..base.clone()
            }),
            "max_machines"
        );
        assert_eq!(
            bad(Terms {
                license_type: Some("forever".into()),
                ..base.clone()
            }),
            "type"
        );
        assert_eq!(
            bad(Terms {
                deactivation_limit: Some(limits::DEACTIVATIONS + 1),
                ..base.clone()
            }),
            "deactivation_limit"
        );
        assert_eq!(
            bad(Terms {
                deactivation_period: 0,
                ..base.clone()
            }),
            "deactivation_period"
        );
        assert_eq!(
            bad(Terms {
                activation_cooldown: limits::ACTIVATION_COOLDOWN + 1,
                ..base.clone()
            }),
            "activation_cooldown"
        );
        assert_eq!(
            bad(Terms {
                duration: Some(86_400),
                activation_cooldown: 86_400,
                ..base.clone()
            }),
            "activation_cooldown"
        );
        assert_eq!(
            bad(Terms {
                grace_period: limits::GRACE_PERIOD + 1,
                ..base.clone()
            }),
            "grace_period"
        );
        assert_eq!(
            bad(Terms {
                duration: Some(86_400),
                grace_period: 86_401,
                ..base
            }),
            "grace_period"
        );
    }
}
