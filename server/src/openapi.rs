//! The API's contract: an OpenAPI 3.1 document built from one table of the routes
//! ([`operations`]), served at `GET /openapi.json` and committed as `docs/openapi.json`
//! (`server/tests/openapi.rs` keeps the two equal; `.ci/schemathesis` checks the real
//! server's answers against it).
//!
//! Built as plain JSON rather than derived (`utoipa`): the handlers answer with `json!`
//! objects, not types, so a derive would have nothing to read; the table is the one place
//! the shapes are written, and schemathesis holds the server to it. What the table does
//! not write twice:
//! - the scope of each admin route comes from [`crate::auth::required_scope`];
//! - the error codes come from [`CoreError::every`] and each code's status from
//!   [`crate::error::status`];
//! - the statuses the layers add (400 for a bad body, query or path, 413, 401/403 on the
//!   admin routes, 403 `DENIED` and 429 on the client routes, 503) are added here from
//!   the route's kind, as the router adds the layers.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::auth::required_scope;
use crate::core::error::CoreError;
use crate::model::limits as terms;
use licet_verifier::claims::limits as claim;

/// Which group of routes an operation belongs to: the layers, and so the statuses, differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/v1/…` but not admin: the deny list and the rate limits apply.
    Client,
    /// `/v1/admin/…`: the bearer token and its scope.
    Admin,
    /// `/healthz`, `/readyz`, `/signature.pem`, `/openapi.json`: no layer of their own.
    Public,
}

/// What a request carries besides its path.
enum Input {
    None,
    /// A JSON body.
    Json(Value),
    /// Any bytes (the offline request files, sent as they are).
    Raw,
    /// Query parameters, all optional.
    Query(Vec<(&'static str, Value)>),
}

/// One route and method.
struct Op {
    method: Method,
    path: &'static str,
    summary: &'static str,
    input: Input,
    /// Success statuses, each with its body.
    ok: Vec<(u16, Body)>,
    /// Error statuses the handler itself may answer (the layers' are added).
    errors: &'static [u16],
}

/// A success answer's body.
enum Body {
    Json(Value),
    /// No body (204).
    Empty,
    /// Another media type, any bytes.
    Other(&'static str),
}

fn op(
    method: Method,
    path: &'static str,
    summary: &'static str,
    input: Input,
    ok: Vec<(u16, Body)>,
    errors: &'static [u16],
) -> Op {
    Op {
        method,
        path,
        summary,
        input,
        ok,
        errors,
    }
}

// ------------------------------------------------------------------ schema helpers

fn string() -> Value {
    json!({"type": "string"})
}
fn opt_string() -> Value {
    json!({"type": ["string", "null"]})
}
fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
fn opt_time() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}
fn uint() -> Value {
    json!({"type": "integer", "minimum": 0})
}
fn opt_uint() -> Value {
    json!({"type": ["integer", "null"], "minimum": 0})
}
fn boolean() -> Value {
    json!({"type": "boolean"})
}
fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}
/// A string of `min` to `max` bytes (the server counts bytes; a schema counts
/// characters, so a string of non-ASCII characters may still be refused).
fn bytes(min: usize, max: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}
fn upto(max: u64) -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": max})
}
fn opt_upto(max: u64) -> Value {
    json!({"type": ["integer", "null"], "minimum": 0, "maximum": max})
}
/// A machine's fingerprint hash: 64 hex digits.
fn fingerprint() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-fA-F]{64}$"})
}
fn product_name() -> Value {
    bytes(1, claim::PRODUCT)
}
fn features() -> Value {
    json!({"type": "array", "maxItems": claim::FEATURES, "items": bytes(1, claim::FEATURE)})
}
/// A license's metadata, within the token format's limits (docs/token-format.md §7.4).
fn metadata() -> Value {
    json!({
        "type": "object",
        "maxProperties": claim::METADATA_ENTRIES,
        "propertyNames": {"minLength": 1, "maxLength": claim::METADATA_KEY},
        "additionalProperties": {"type": "string", "maxLength": claim::METADATA_VALUE},
    })
}
fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

/// An object with exactly these properties: `required` always present, `optional` maybe.
/// No others (answers: a field added to a handler must be added here, or schemathesis
/// fails; requests: the server refuses unknown fields).
fn object(required: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for (k, v) in required.iter().chain(optional) {
        props.insert((*k).to_owned(), v.clone());
    }
    let names: Vec<&str> = required.iter().map(|(k, _)| *k).collect();
    json!({
        "type": "object",
        "properties": props,
        "required": names,
        "additionalProperties": false,
    })
}

/// The license terms a license or a policy takes (`docs/policies.md`), as a request sets
/// them: each optional.
fn term_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("type", opt_string()),
        ("features", features()),
        ("max_machines", opt_upto(terms::MAX_MACHINES)),
        ("max_leases", opt_upto(terms::MAX_LEASES)),
        ("lease_ttl", upto(terms::LEASE_TTL_MAX)),
        ("lease_ttl_max", upto(terms::LEASE_TTL_MAX)),
        ("check_in_interval", upto(terms::CHECK_IN_INTERVAL)),
        ("deactivation_limit", opt_upto(terms::DEACTIVATIONS)),
        ("deactivation_period", upto(terms::DEACTIVATION_PERIOD)),
        ("activation_cooldown", upto(terms::ACTIVATION_COOLDOWN)),
        ("grace_period", upto(terms::GRACE_PERIOD)),
    ]
}

/// What an activation or a check-in answer adds while a grace period runs (only then):
/// the warning and when the grace ends (`docs/policies.md`).
fn grace_fields() -> Vec<(&'static str, Value)> {
    vec![
        (
            "code",
            json!({"type": "string", "enum": ["KEY_IN_GRACE", "CHECK_IN_OVERDUE"]}),
        ),
        ("grace_ends_at", time()),
    ]
}

/// The named schemas: the records the answers show, and the error shape.
fn components() -> Value {
    let codes: Vec<&str> = CoreError::every().iter().map(CoreError::code).collect();
    let license_status = json!({"type": "string", "enum": ["active", "suspended", "revoked"]});
    let mut license_req = vec![
        ("policy", string()),
        ("expires_at", opt_time()),
        ("customer", bytes(1, claim::NAME)),
        ("metadata", metadata()),
    ];
    license_req.extend(term_fields());
    json!({
        "Error": object(&[("error", object(
            &[("code", json!({"type": "string", "enum": codes})), ("message", string())],
            &[
                ("support_message", string()),
                ("retry_at", time()),
            ],
        ))], &[]),
        "Product": object(&[
            ("name", string()),
            ("support_message", opt_string()),
            ("created_at", time()),
            ("updated_at", time()),
            ("trial_policy", opt_string()),
        ], &[]),
        "Policy": {
            "description": "The product, the name, the times, and the policy's terms (docs/policies.md).",
            "type": "object",
            "properties": {
                "product": string(), "name": string(),
                "created_at": time(), "updated_at": time(),
            },
            "required": ["product", "name", "created_at", "updated_at"],
        },
        "License": object(&[
            ("id", string()),
            ("license_key", string()),
            ("product", string()),
            ("policy", opt_string()),
            ("overrides", array(string())),
            ("type", opt_string()),
            ("status", license_status),
            ("features", array(string())),
            ("expires_at", opt_time()),
            ("max_machines", opt_uint()),
            ("max_leases", opt_uint()),
            ("lease_ttl", uint()),
            ("lease_ttl_max", uint()),
            ("check_in_interval", uint()),
            ("customer", opt_string()),
            ("deactivation_limit", opt_uint()),
            ("deactivation_period", uint()),
            ("activation_cooldown", uint()),
            ("grace_period", uint()),
            ("metadata", string_map()),
            ("created_at", time()),
            ("updated_at", time()),
        ], &[]),
        "NewLicense": object(&[("product", product_name())], &license_req),
        "Machine": object(&[
            ("id", string()),
            ("fingerprint", string()),
            ("name", opt_string()),
            ("platform", opt_string()),
            ("user", opt_string()),
            ("activated_at", time()),
            ("last_check_in", time()),
        ], &[]),
        "Lease": object(&[
            ("id", string()),
            ("state", json!({"type": "string", "enum": ["active", "released", "expired"]})),
            ("client_id", opt_string()),
            ("created_at", time()),
            ("expires_at", time()),
            ("released_at", opt_time()),
            ("renewals", uint()),
        ], &[]),
        "LeaseGrant": object(&[
            ("lease_token", string()),
            ("lease_id", string()),
            ("expires_at", time()),
        ], &[]),
        "AuditEvent": object(&[
            ("seq", uint()),
            ("at", time()),
            ("action", string()),
            ("actor", string()),
            ("license_id", opt_string()),
            ("detail", json!({})),
        ], &[]),
        "AdminToken": object(&[
            ("id", string()),
            ("name", string()),
            ("scopes", array(string())),
            ("created_at", time()),
            ("last_used_at", opt_time()),
        ], &[]),
        "DenyEntry": object(&[
            ("id", string()),
            ("kind", json!({"type": "string", "enum": ["fingerprint", "ip", "license"]})),
            ("value", string()),
            ("reason", string()),
            ("expires_at", opt_time()),
            ("active", boolean()),
            ("created_at", time()),
        ], &[]),
        "Keys": object(&[("keys", array(object(&[
            ("kid", string()),
            ("algorithm", string()),
            ("current", boolean()),
            ("private", boolean()),
            ("endorsed_until", opt_time()),
        ], &[])))], &[("kid", string())]),
        "MachineGrant": object(&[
            ("machine_token", string()),
            ("machine_id", string()),
            ("check_in_before", time()),
            ("remaining_activations", opt_uint()),
        ], &grace_fields()),
        "MachineRef": object(&[], &[
            ("license_key", string()),
            ("fingerprint", fingerprint()),
            ("machine_token", string()),
        ]),
    })
}

/// A JSON answer of the named schema.
fn named(name: &str) -> Body {
    Body::Json(reference(name))
}

/// Every route of the API but the admin console's HTML pages (`/admin`).
fn operations() -> Vec<Op> {
    use Method as M;
    let ok = |b: Body| vec![(200, b)];
    let created = |b: Body| vec![(201, b)];
    let license_query = vec![
        ("product", string()),
        (
            "status",
            json!({"type": "string", "enum": ["active", "suspended", "revoked"]}),
        ),
        ("customer", string()),
        ("type", string()),
        ("expires_before", time()),
        ("expires_after", time()),
        ("limit", uint()),
        ("cursor", string()),
    ];
    let mut license_patch = vec![
        ("expires_at", opt_time()),
        (
            "customer",
            json!({"type": ["string", "null"], "minLength": 1, "maxLength": claim::NAME}),
        ),
        ("metadata", metadata()),
        ("inherit", array(string())),
    ];
    license_patch.extend(term_fields());
    let activated = |extra: &[(&str, Value)]| {
        let mut fields = vec![
            ("machine_token", string()),
            ("machine_id", string()),
            ("check_in_before", time()),
            ("remaining_activations", opt_uint()),
        ];
        fields.extend(extra.iter().cloned());
        object(&fields, &grace_fields())
    };
    let trial = activated(&[
        ("license_key", string()),
        ("license_id", string()),
        ("product", string()),
        ("type", opt_string()),
        ("expires_at", opt_time()),
        ("features", array(string())),
        ("new", boolean()),
    ]);
    let offline = activated(&[("machine_token_file", string())]);
    let used = object(&[("allowed", opt_uint()), ("used", uint())], &[]);
    let validated = object(
        &[
            ("code", string()),
            ("expires_at", opt_time()),
            ("features", array(string())),
            ("leases", used.clone()),
            ("license_id", string()),
            ("machines", used),
            ("product", string()),
            ("status", reference("License/properties/status")),
            ("type", opt_string()),
            ("valid", boolean()),
        ],
        &[
            (
                "machine",
                object(
                    &[("activated", boolean())],
                    &[("id", string()), ("last_check_in", time())],
                ),
            ),
            ("support_message", string()),
            ("grace_ends_at", time()),
        ],
    );
    let list =
        |field: &str, item: &str| Body::Json(object(&[(field, array(reference(item)))], &[]));
    vec![
        // ------------------------------------------------------------ public
        op(
            M::GET,
            "/healthz",
            "Liveness: whether the process answers, and whether writes and reads work.",
            Input::None,
            ok(Body::Json(object(
                &[
                    ("status", json!({"enum": ["ok", "degraded"]})),
                    ("writes", json!({"enum": ["ok", "unavailable"]})),
                    ("reads", json!({"enum": ["ok", "unavailable"]})),
                    (
                        "database",
                        object(
                            &[
                                ("backend", json!({"enum": ["redb", "postgres"]})),
                                ("answers", boolean()),
                            ],
                            &[],
                        ),
                    ),
                ],
                // While writes fail: why, since when, and what to do.
                &[
                    ("cause", string()),
                    ("since", time()),
                    ("message", string()),
                ],
            ))),
            &[],
        ),
        op(
            M::GET,
            "/readyz",
            "Readiness: whether the database answers a read in time.",
            Input::None,
            ok(Body::Json(object(
                &[("status", json!({"const": "ready"}))],
                &[],
            ))),
            &[503],
        ),
        op(
            M::GET,
            "/signature.pem",
            "The public keys tokens are signed with (PEM).",
            Input::None,
            ok(Body::Other("application/x-pem-file")),
            &[],
        ),
        op(
            M::GET,
            "/openapi.json",
            "This document.",
            Input::None,
            ok(Body::Json(
                json!({"type": "object", "required": ["openapi", "info", "paths"]}),
            )),
            &[],
        ),
        // ------------------------------------------------------------ client
        op(
            M::POST,
            "/v1/validate",
            "A license's online state (200 for every known license, with `valid` and a `code`).",
            Input::Json(object(
                &[("license_key", string())],
                &[("fingerprint", fingerprint())],
            )),
            ok(Body::Json(validated)),
            &[404],
        ),
        op(
            M::POST,
            "/v1/activate",
            "Activates a machine: 201 for a new one, 200 for one activated already.",
            Input::Json(object(
                &[("license_key", string()), ("fingerprint", fingerprint())],
                &[
                    ("name", bytes(0, 256)),
                    ("platform", bytes(0, 256)),
                    ("user", bytes(0, 256)),
                ],
            )),
            vec![(201, named("MachineGrant")), (200, named("MachineGrant"))],
            &[403, 404, 409],
        ),
        op(
            M::POST,
            "/v1/check-in",
            "A fresh machine token with a new deadline.",
            Input::Json(reference("MachineRef")),
            ok(Body::Json(object(
                &[
                    ("machine_token", string()),
                    ("machine_id", string()),
                    ("check_in_before", time()),
                ],
                &[],
            ))),
            &[403, 404],
        ),
        op(
            M::POST,
            "/v1/deactivate",
            "Frees a machine's activation.",
            Input::Json(reference("MachineRef")),
            ok(Body::Json(object(
                &[
                    ("deactivated", json!({"const": true})),
                    ("machine_id", string()),
                ],
                &[],
            ))),
            &[403, 404, 409],
        ),
        op(
            M::POST,
            "/v1/offline/activate",
            "Activates from the request file of `licet offline request`, sent as it is.",
            Input::Raw,
            vec![
                (201, Body::Json(offline.clone())),
                (200, Body::Json(offline)),
            ],
            &[403, 404, 409],
        ),
        op(
            M::POST,
            "/v1/offline/deactivate",
            "Deactivates from the request file of `licet offline deactivate`: a signed receipt.",
            Input::Raw,
            ok(Body::Json(object(
                &[
                    ("receipt", string()),
                    ("license_id", string()),
                    ("machine_id", string()),
                    ("fingerprint", string()),
                    ("released_at", time()),
                ],
                &[],
            ))),
            &[403, 404, 409],
        ),
        op(
            M::GET,
            "/v1/revocations",
            "The current signed revocation list (PEM).",
            Input::None,
            ok(Body::Other("application/x-pem-file")),
            &[],
        ),
        op(
            M::POST,
            "/v1/trials",
            "A keyless trial for this machine: 201 new, 200 had already.",
            Input::Json(object(
                &[("product", product_name()), ("fingerprint", fingerprint())],
                &[],
            )),
            vec![(201, Body::Json(trial.clone())), (200, Body::Json(trial))],
            &[403, 404, 409],
        ),
        op(
            M::POST,
            "/v1/leases/obtain",
            "Takes a floating seat.",
            Input::Json(object(
                &[("license_key", string())],
                &[("client_id", bytes(1, claim::NAME)), ("ttl", uint())],
            )),
            created(named("LeaseGrant")),
            &[403, 404, 409],
        ),
        op(
            M::POST,
            "/v1/leases/renew",
            "Renews a lease: a new lease token.",
            Input::Json(object(
                &[("lease_token", string())],
                &[("ttl", uint()), ("request_id", string())],
            )),
            ok(named("LeaseGrant")),
            &[403, 404, 409, 410],
        ),
        op(
            M::POST,
            "/v1/leases/release",
            "Releases a lease.",
            Input::Json(object(&[("lease_token", string())], &[])),
            ok(Body::Json(object(
                &[("released", json!({"const": true})), ("lease_id", string())],
                &[],
            ))),
            &[403, 404, 410],
        ),
        op(
            M::POST,
            "/v1/leases/validate",
            "Whether a lease is current.",
            Input::Json(object(&[("lease_token", string())], &[])),
            ok(Body::Json(object(
                &[
                    ("valid", json!({"const": true})),
                    ("lease_id", string()),
                    ("license_id", string()),
                    ("client_id", opt_string()),
                    ("expires_at", time()),
                ],
                &[],
            ))),
            &[403, 404, 410],
        ),
        // ------------------------------------------------------------ admin: products
        op(
            M::POST,
            "/v1/admin/products",
            "Creates a product.",
            Input::Json(object(
                &[("name", product_name())],
                &[("support_message", string())],
            )),
            created(named("Product")),
            &[409],
        ),
        op(
            M::GET,
            "/v1/admin/products",
            "Lists products.",
            Input::None,
            ok(list("products", "Product")),
            &[],
        ),
        op(
            M::GET,
            "/v1/admin/products/{name}",
            "Gets a product.",
            Input::None,
            ok(named("Product")),
            &[404],
        ),
        op(
            M::PATCH,
            "/v1/admin/products/{name}",
            "Changes a product's support message and trial policy.",
            Input::Json(object(
                &[],
                &[
                    ("support_message", opt_string()),
                    ("trial_policy", opt_string()),
                ],
            )),
            ok(named("Product")),
            &[404],
        ),
        op(
            M::DELETE,
            "/v1/admin/products/{name}",
            "Deletes a product that has no licenses.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404, 409],
        ),
        // ------------------------------------------------------------ admin: policies
        op(
            M::POST,
            "/v1/admin/policies",
            "Creates a policy: the product, the name and the terms.",
            Input::Json({
                let mut fields = vec![("duration", opt_upto(terms::DURATION))];
                fields.extend(term_fields());
                object(&[("product", string()), ("name", string())], &fields)
            }),
            created(named("Policy")),
            &[404, 409],
        ),
        op(
            M::GET,
            "/v1/admin/policies",
            "Lists policies (of one product with `product`).",
            Input::Query(vec![("product", string())]),
            ok(list("policies", "Policy")),
            &[],
        ),
        op(
            M::GET,
            "/v1/admin/policies/{product}/{name}",
            "Gets a policy.",
            Input::None,
            ok(named("Policy")),
            &[404],
        ),
        op(
            M::PATCH,
            "/v1/admin/policies/{product}/{name}",
            "Changes a policy's terms (a JSON merge patch).",
            Input::Json(json!({"type": "object"})),
            ok(named("Policy")),
            &[404, 409],
        ),
        op(
            M::DELETE,
            "/v1/admin/policies/{product}/{name}",
            "Deletes a policy no license uses.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404, 409],
        ),
        // ------------------------------------------------------------ admin: licenses
        op(
            M::POST,
            "/v1/admin/licenses",
            "Creates a license.",
            Input::Json(reference("NewLicense")),
            created(named("License")),
            &[404],
        ),
        op(
            M::GET,
            "/v1/admin/licenses",
            "Lists licenses, a page at a time (`next_cursor` continues).",
            Input::Query(license_query),
            ok(Body::Json(object(
                &[
                    ("licenses", array(reference("License"))),
                    ("next_cursor", opt_string()),
                ],
                &[],
            ))),
            &[],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/bulk",
            "Creates up to 1000 licenses, all or nothing.",
            Input::Json(object(&[("licenses", array(reference("NewLicense")))], &[])),
            created(list("licenses", "License")),
            &[404],
        ),
        op(
            M::GET,
            "/v1/admin/licenses/{id}",
            "Gets a license.",
            Input::None,
            ok(named("License")),
            &[404],
        ),
        op(
            M::PATCH,
            "/v1/admin/licenses/{id}",
            "Changes a license's online settings.",
            Input::Json(object(&[], &license_patch)),
            ok(named("License")),
            &[404],
        ),
        op(
            M::DELETE,
            "/v1/admin/licenses/{id}",
            "Deletes a license with its machines and leases.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/{id}/suspend",
            "Suspends a license.",
            Input::None,
            ok(named("License")),
            &[404, 409],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/{id}/reinstate",
            "Reinstates a suspended license.",
            Input::None,
            ok(named("License")),
            &[404, 409],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/{id}/revoke",
            "Revokes a license for good.",
            Input::None,
            ok(named("License")),
            &[404, 409],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/{id}/reissue",
            "Signs the license key again with the current key.",
            Input::None,
            ok(named("License")),
            &[404, 409],
        ),
        // ------------------------------------------------------------ admin: machines, leases
        op(
            M::GET,
            "/v1/admin/licenses/{id}/machines",
            "Lists a license's machines.",
            Input::None,
            ok(list("machines", "Machine")),
            &[404],
        ),
        op(
            M::DELETE,
            "/v1/admin/licenses/{id}/machines",
            "Deactivates every machine of a license.",
            Input::None,
            ok(Body::Json(object(&[("deactivated", uint())], &[]))),
            &[404],
        ),
        op(
            M::DELETE,
            "/v1/admin/licenses/{id}/machines/{machine}",
            "Deactivates one machine.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404],
        ),
        op(
            M::GET,
            "/v1/admin/licenses/{id}/leases",
            "Lists a license's leases.",
            Input::Query(vec![(
                "state",
                json!({"type": "string", "enum": ["active", "released", "expired"]}),
            )]),
            ok(list("leases", "Lease")),
            &[404],
        ),
        op(
            M::POST,
            "/v1/admin/licenses/{id}/leases/{lease}/release",
            "Releases a lease.",
            Input::None,
            ok(named("Lease")),
            &[404, 410],
        ),
        // ------------------------------------------------------------ admin: the rest
        op(
            M::GET,
            "/v1/admin/audit",
            "The audit log, newest first, a page at a time.",
            Input::Query(vec![
                ("license_id", string()),
                ("action", string()),
                ("since", time()),
                ("until", time()),
                ("limit", uint()),
                ("cursor", uint()),
            ]),
            ok(Body::Json(object(
                &[
                    ("events", array(reference("AuditEvent"))),
                    ("next_cursor", opt_uint()),
                    ("total", uint()),
                ],
                &[],
            ))),
            &[],
        ),
        op(
            M::GET,
            "/v1/admin/backup",
            "A consistent copy of the whole database, in the backend's own format.",
            Input::None,
            ok(Body::Other("application/octet-stream")),
            &[],
        ),
        op(
            M::POST,
            "/v1/admin/tokens",
            "Creates a named admin token with scopes; the token is shown once.",
            Input::Json(object(
                &[
                    ("name", string()),
                    (
                        "scopes",
                        array(json!({"type": "string",
                "enum": crate::core::tokens::Scope::ALL.map(crate::core::tokens::Scope::as_str)})),
                    ),
                ],
                &[],
            )),
            created(Body::Json(object(
                &[
                    ("id", string()),
                    ("name", string()),
                    ("scopes", array(string())),
                    ("created_at", time()),
                    ("last_used_at", opt_time()),
                    ("token", string()),
                ],
                &[],
            ))),
            &[409],
        ),
        op(
            M::GET,
            "/v1/admin/tokens",
            "Lists the named admin tokens.",
            Input::None,
            ok(list("tokens", "AdminToken")),
            &[],
        ),
        op(
            M::DELETE,
            "/v1/admin/tokens/{id}",
            "Revokes a named admin token.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404],
        ),
        op(
            M::POST,
            "/v1/admin/deny",
            "Adds a deny-list entry.",
            Input::Json(object(
                &[
                    ("kind", reference("DenyEntry/properties/kind")),
                    ("value", string()),
                    ("reason", string()),
                ],
                &[("expires_at", opt_time())],
            )),
            created(named("DenyEntry")),
            &[409],
        ),
        op(
            M::GET,
            "/v1/admin/deny",
            "Lists the deny list.",
            Input::None,
            ok(list("entries", "DenyEntry")),
            &[],
        ),
        op(
            M::DELETE,
            "/v1/admin/deny/{id}",
            "Removes a deny-list entry.",
            Input::None,
            vec![(204, Body::Empty)],
            &[404],
        ),
        op(
            M::GET,
            "/v1/admin/keys",
            "The signing keys published.",
            Input::None,
            ok(named("Keys")),
            &[],
        ),
        op(
            M::POST,
            "/v1/admin/keys/rotate",
            "Makes a new signing key the current one.",
            Input::None,
            created(named("Keys")),
            &[409],
        ),
        op(
            M::POST,
            "/v1/admin/keys/{kid}/endorsement",
            "Stores a root's endorsement of a key.",
            Input::Json(object(&[("endorsement", string())], &[])),
            ok(named("Keys")),
            &[404, 409],
        ),
        op(
            M::POST,
            "/v1/admin/keys/{kid}/retire",
            "Stops publishing a key that is not the current one.",
            Input::None,
            ok(named("Keys")),
            &[404, 409],
        ),
    ]
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in operations() {
        let item = paths.entry(o.path).or_insert_with(|| json!({}));
        item[o.method.as_str().to_ascii_lowercase()] = operation(&o);
    }
    add_links(&mut paths);
    let scopes: Vec<&str> = crate::core::tokens::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "licet-server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The licet licensing server's HTTP API; docs/api.md says the rest.",
        },
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": format!(
                        "The bootstrap admin token, or a named token with scopes ({}; `admin` covers all). \
                         Each admin operation lists the one scope it needs.",
                        scopes.join(", ")
                    ),
                },
            },
            "headers": {
                "RateLimit-Limit": {"description": "The bucket's size.", "schema": uint()},
                "RateLimit-Remaining": {"description": "Requests left in the bucket.", "schema": uint()},
                "RateLimit-Reset": {"description": "Seconds until the bucket is full again.", "schema": uint()},
                "Retry-After": {"description": "Seconds until a request would be let through.", "schema": uint()},
            },
        },
    })
}

/// The records a `POST` creates (its 201 answer), and the fields of it that name the
/// record in the paths below it.
const CREATES: &[(&str, &[&str])] = &[
    ("/v1/admin/products", &["name"]),
    ("/v1/admin/licenses", &["id"]),
    ("/v1/admin/policies", &["product", "name"]),
    ("/v1/admin/deny", &["id"]),
    ("/v1/admin/tokens", &["id"]),
];

/// OpenAPI links from each 201 of [`CREATES`] to the operations on the record made (so
/// that a stateful test reaches them with a record that exists), from a new product to
/// a license of it, and from a new license to the client calls that take its key.
fn add_links(paths: &mut Map<String, Value>) {
    let mut all: Vec<(String, String, String)> = Vec::new();
    for (path, item) in paths.iter() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            all.push((path.clone(), method.clone(), id));
        }
    }
    for (collection, fields) in CREATES {
        let mut links = Map::new();
        for (path, _, id) in &all {
            let Some(rest) = path.strip_prefix(collection) else {
                continue;
            };
            let params: Vec<&str> = rest
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            if !rest.starts_with("/{") || !params.iter().all(|p| fields.contains(p)) {
                continue;
            }
            let values: Map<String, Value> = params
                .iter()
                .map(|p| ((*p).to_owned(), json!(format!("$response.body#/{p}"))))
                .collect();
            links.insert(id.clone(), json!({"operationId": id, "parameters": values}));
        }
        for (from, to, body) in BODY_LINKS {
            if from == collection {
                links.insert((*to).to_owned(), body_link(to, body));
            }
        }
        if let Some(created) = paths
            .get_mut(*collection)
            .and_then(|item| item.pointer_mut("/post/responses/201"))
        {
            created["links"] = Value::Object(links);
        }
    }
    // The client calls that take a token an answer of another one gave.
    for (from, status, to, body) in TOKEN_LINKS {
        if let Some(answer) = paths
            .get_mut(*from)
            .and_then(|item| item.pointer_mut(&format!("/post/responses/{status}")))
        {
            answer["links"][*to] = body_link(to, body);
        }
    }
}

/// Links whose target takes a JSON body: (the creating path, the target's operationId,
/// the body: each field a runtime expression or a literal).
/// A link's request body: each field a runtime expression or a literal.
type LinkBody = &'static [(&'static str, &'static str)];

const BODY_LINKS: &[(&str, &str, LinkBody)] = &[
    (
        "/v1/admin/products",
        "post_admin_licenses",
        &[("product", "$response.body#/name")],
    ),
    (
        "/v1/admin/licenses",
        "post_validate",
        &[("license_key", "$response.body#/license_key")],
    ),
    (
        "/v1/admin/licenses",
        "post_leases_obtain",
        &[("license_key", "$response.body#/license_key")],
    ),
    (
        "/v1/admin/licenses",
        "post_activate",
        &[
            ("license_key", "$response.body#/license_key"),
            ("fingerprint", TEST_FINGERPRINT),
        ],
    ),
];

/// A fingerprint for the links that activate a machine (any 64 hex digits will do).
const TEST_FINGERPRINT: &str = "00000000000000000000000000000000000000000000000000000000000000a1";

/// (the path, the status of its answer, the target's operationId, the body).
const TOKEN_LINKS: &[(&str, u16, &str, LinkBody)] = &[
    (
        "/v1/activate",
        201,
        "post_check_in",
        &[("machine_token", "$response.body#/machine_token")],
    ),
    (
        "/v1/activate",
        201,
        "post_deactivate",
        &[("machine_token", "$response.body#/machine_token")],
    ),
    (
        "/v1/activate",
        200,
        "post_check_in",
        &[("machine_token", "$response.body#/machine_token")],
    ),
    (
        "/v1/leases/obtain",
        201,
        "post_leases_renew",
        &[("lease_token", "$response.body#/lease_token")],
    ),
    (
        "/v1/leases/obtain",
        201,
        "post_leases_release",
        &[("lease_token", "$response.body#/lease_token")],
    ),
    (
        "/v1/leases/obtain",
        201,
        "post_leases_validate",
        &[("lease_token", "$response.body#/lease_token")],
    ),
];

fn body_link(to: &str, body: &[(&str, &str)]) -> Value {
    let body: Map<String, Value> = body
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({"operationId": to, "requestBody": body})
}

fn operation(o: &Op) -> Value {
    let kind = if o.path.starts_with("/v1/admin/") {
        Kind::Admin
    } else if o.path.starts_with("/v1/") {
        Kind::Client
    } else {
        Kind::Public
    };
    let path_params: Vec<&str> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": string()}))
        .collect();
    let mut out = json!({"summary": o.summary, "operationId": operation_id(o)});
    match &o.input {
        Input::None => {}
        Input::Json(schema) => {
            out["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema}},
            });
        }
        Input::Raw => {
            out["requestBody"] = json!({
                "required": true,
                "description": "The request file as `licet` wrote it (JSON), in any content type.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        Input::Query(params) => {
            parameters.extend(
                params.iter().map(
                    |(n, s)| json!({"name": n, "in": "query", "required": false, "schema": s}),
                ),
            );
        }
    }
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    let mut statuses: Vec<u16> = o.errors.to_vec();
    // A body, query string or path the extractor refuses.
    if !matches!(o.input, Input::None) || !path_params.is_empty() {
        statuses.push(400);
    }
    if matches!(o.input, Input::Json(_) | Input::Raw) {
        statuses.push(413);
    }
    // A path parameter that is empty falls through to the router's 404.
    if !path_params.is_empty() {
        statuses.push(404);
    }
    match kind {
        Kind::Admin => {
            let route = o.path.strip_prefix("/v1/admin").unwrap_or(o.path);
            let scope = required_scope(&o.method, route).as_str();
            out["security"] = json!([{ "adminToken": [scope] }]);
            out["description"] = json!(format!("Needs the scope `{scope}`."));
            statuses.extend([401, 403]);
        }
        // The deny list (403 DENIED) and the rate limits (429).
        Kind::Client => statuses.extend([403, 429]),
        Kind::Public => {}
    }
    // The request timeout, and storage that cannot answer.
    if o.path != "/openapi.json" && o.path != "/signature.pem" {
        statuses.push(503);
    }
    statuses.sort_unstable();
    statuses.dedup();
    let mut responses = Map::new();
    for (status, body) in &o.ok {
        let mut r = json!({"description": "Success."});
        match body {
            Body::Json(schema) => {
                r["content"] = json!({"application/json": {"schema": schema}});
            }
            Body::Empty => {}
            Body::Other(media) => {
                r["content"] = json!({ *media: {"schema": {"type": "string"}} });
            }
        }
        if kind == Kind::Client {
            r["headers"] = rate_headers(false);
        }
        responses.insert(status.to_string(), r);
    }
    for status in statuses {
        let mut r = json!({
            "description": error_description(status),
            "content": {"application/json": {"schema": reference("Error")}},
        });
        if status == 429 {
            r["headers"] = rate_headers(true);
        }
        responses.insert(status.to_string(), r);
    }
    out["responses"] = Value::Object(responses);
    out
}

/// The `RateLimit-*` headers: on every answer of a client route once a bucket was looked
/// at, and with `Retry-After` (all required) on a 429.
fn rate_headers(refused: bool) -> Value {
    let mut h = Map::new();
    for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
        h.insert(name.into(), header_ref(name, refused));
    }
    if refused {
        h.insert("Retry-After".into(), header_ref("Retry-After", true));
    }
    Value::Object(h)
}

fn header_ref(name: &str, required: bool) -> Value {
    if required {
        // A `$ref` cannot carry `required` beside it in a header object: copy the
        // component with it.
        json!({"required": true, "schema": uint(), "description": name})
    } else {
        json!({ "$ref": format!("#/components/headers/{name}") })
    }
}

/// The codes answered with `status`, from the one mapping ([`crate::error::status`]).
fn error_description(status: u16) -> String {
    let mut codes: Vec<&str> = CoreError::every()
        .iter()
        .filter(|e| crate::error::status(e).as_u16() == status)
        .map(CoreError::code)
        .collect();
    codes.sort_unstable();
    codes.dedup();
    // The settings that decide when these are answered (`licet-server --help`,
    // docs/operations.md).
    let settings = match status {
        413 => {
            " The largest body is --body-limit (64 KiB by default; 64 times it for POST /v1/admin/licenses/bulk)."
        }
        429 => {
            " The limits are --ip-rate and --ip-burst per source address (behind the proxies --trusted-proxy names, the X-Forwarded-For address), --key-rate and --key-burst per license key; 0 turns a rate off."
        }
        503 => &format!(
            " TIMEOUT after --request-timeout seconds (30 by default); NOT_READY from /readyz when a read takes over {} s.",
            crate::READY_DEADLINE.as_secs()
        ),
        _ => "",
    };
    format!(
        "An error (docs/api.md §5); the codes this status carries: {}.{settings}",
        codes.join(", ")
    )
}

fn operation_id(o: &Op) -> String {
    let mut id = o.method.as_str().to_ascii_lowercase();
    for seg in o.path.split('/').filter(|s| !s.is_empty() && *s != "v1") {
        id.push('_');
        id.extend(
            seg.chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// The document as served and committed: pretty, with a final newline.
pub fn text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}

/// `GET /openapi.json`.
pub async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_operation_names_its_scope_and_every_ref_resolves() {
        let doc = document();
        let text = doc.to_string();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                if path.starts_with("/v1/admin/") {
                    assert!(
                        op["security"][0]["adminToken"][0].is_string(),
                        "{method} {path}"
                    );
                }
            }
        }
        for piece in text.split("\"$ref\":\"#/").skip(1) {
            let target = piece.split('"').next().unwrap_or_default();
            let pointer = format!("/{target}");
            assert!(
                doc.pointer(&pointer).is_some(),
                "{pointer} does not resolve"
            );
        }
    }
}
