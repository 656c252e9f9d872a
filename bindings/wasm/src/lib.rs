//! The WebAssembly module of `@licet/verifier`: offline verification of licet tokens from
//! JavaScript (Node, browsers, Electron), a thin wasm-bindgen shell over `licet-verifier`.
//!
//! Every decision is the verifier's: this crate only turns JavaScript arguments into an
//! [`Expectations`], calls [`licet_verifier::Keyring::verify`], and turns the result into a
//! [`Claims`] object or a thrown `VerifyError` carrying the verifier's stable code. The
//! names mirror the Python binding's (`Keyring.fromPem`, `keyring.verify(token, {kind,
//! product, fingerprint, now, lastSeen, leeway})`), camelCase as JavaScript spells them.
//!
//! Arguments of the wrong type or value are refused before the verifier is called, as
//! JavaScript's built-in functions refuse them (Node's convention): `TypeError` for a wrong
//! type, an unknown option or a malformed string, `RangeError` for a number out of range.
//! Nothing here may panic: the release profile aborts on panic, which would trap the module
//! (a `RuntimeError: unreachable` in JavaScript) and leave its memory in an unknown state.
//! The crate's lints refuse `unwrap`, `expect`, indexing and `panic!`.

#![no_std]

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use js_sys::{Array, JsString, Object, RangeError, TypeError, Uint8Array};
use licet_verifier::text::MAX_TEXT_BYTES;
use licet_verifier::{DEFAULT_LEEWAY, Error, Expectations, Kind, KindClaims, hex, unhex};
use wasm_bindgen::prelude::*;

extern crate alloc;

// The TypeScript declarations that wasm-bindgen cannot derive from Rust types: the options
// object, the error class and the JSON shape. They are appended to the generated `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A token's kind. */
export type Kind = "license" | "machine" | "lease";

/** What the application expects of a token; `kind` and `product` are required. */
export interface VerifyOptions {
  /** The kind of token required. */
  kind: Kind;
  /** The product this application is. */
  product: string;
  /** This machine's fingerprint hash (64 hex digits or 32 bytes); set it for machine tokens. */
  fingerprint?: string | Uint8Array | null;
  /**
   * The time to check at, in whole seconds since 1970. When it is omitted (or null), the
   * clock is read with `Date.now()`, and only then.
   */
  now?: number | bigint | null;
  /** The latest time this application has already seen (kept by it), to refuse a clock set back. */
  lastSeen?: number | bigint | null;
  /** Tolerance for clock differences, in seconds; 60 when omitted. */
  leeway?: number | bigint | null;
}

/** The stable codes of a refusal, the same strings as the Rust verifier's `Error::code()`. */
export type VerifyErrorCode =
  | "TOKEN_MALFORMED" | "TOKEN_TOO_LARGE" | "TOKEN_UNSUPPORTED_VERSION" | "KEY_UNKNOWN"
  | "ALG_UNSUPPORTED" | "ALG_MISMATCH" | "SIGNATURE_INVALID" | "TOKEN_EXPIRED"
  | "TOKEN_NOT_YET_VALID" | "CLOCK_ROLLBACK" | "WRONG_KIND" | "WRONG_PRODUCT"
  | "FINGERPRINT_MISMATCH" | "KEYRING_INVALID";

/**
 * A token or a keyring was refused. `code` is the stable, machine-readable reason; the
 * message says what is wrong and what to do.
 */
export class VerifyError extends Error {
  constructor(code: VerifyErrorCode, message: string);
  readonly name: "VerifyError";
  readonly code: VerifyErrorCode;
}

/** The claims in the specification's JSON shape (docs/token-format.md §7.3). */
export interface ClaimsJSON {
  kind: Kind;
  product: string;
  issued_at: number;
  id: string;
  issuer: string | null;
  customer: string | null;
  expires_at: number | null;
  not_before: number | null;
  features: string[];
  metadata: Record<string, string>;
  license_type?: "trial" | "subscription" | "perpetual" | null;
  max_machines?: number | null;
  max_leases?: number | null;
  license_id?: string;
  fingerprint?: string;
  client_id?: string | null;
}
"#;

#[wasm_bindgen(raw_module = "../verify-error.js")]
extern "C" {
    /// The package's `VerifyError` class (verify-error.js beside package.json), imported so
    /// that an application can test `error instanceof VerifyError`.
    #[wasm_bindgen(js_name = VerifyError)]
    type JsVerifyError;

    #[wasm_bindgen(constructor, js_class = "VerifyError")]
    fn new(code: &str, message: &str) -> JsVerifyError;
}

// The JavaScript functions that may run the caller's code (a Proxy's traps, a getter, a
// subclass's iterator, a replaced `Date.now`), imported with `catch`: an exception must come
// back to Rust as an `Err`, never unwind through the module's frames, which would leave
// their part of the module's stack allocated (wasm-bindgen issue 1959); a few hundred such
// exceptions exhaust the stack and every later call fails with "memory access out of
// bounds". js-sys's own `Object::keys`, `Array::is_array` and `Date::now` have no `catch`.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Object, js_name = keys, catch)]
    fn object_keys(value: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = isArray, catch)]
    fn is_array(value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = from, catch)]
    fn array_from(value: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(js_namespace = Date, js_name = now, catch)]
    fn date_now() -> Result<f64, JsValue>;
}

/// Turns a verifier error into the thrown `VerifyError`, with its `code`.
fn verify_error(e: &Error) -> JsValue {
    JsVerifyError::new(e.code(), &e.to_string()).into()
}

fn type_error(message: &str) -> JsValue {
    TypeError::new(message).into()
}

fn range_error(message: &str) -> JsValue {
    RangeError::new(message).into()
}

/// The largest `signature.pem` text read, in UTF-16 code units. 64 keys (the verifier's
/// most) of 4096-bit RSA are about 50 000 characters; the cap keeps a wrong file of
/// hundreds of megabytes from being copied into the module's memory.
const MAX_PEM_CHARS: u32 = 1 << 20;

/// The options `verify` reads; any other key is refused, so that a misspelt `lastseen` or
/// a Python-style `last_seen` is seen rather than silently ignored.
const OPTIONS: [&str; 6] = [
    "kind",
    "product",
    "fingerprint",
    "now",
    "lastSeen",
    "leeway",
];

/// The vendor's public keys, read once from its `signature.pem` and reused for every check.
///
/// Make one with `Keyring.fromPem(text)`; it cannot be changed afterwards. Its memory lives
/// inside the WebAssembly module: it is released when the object is garbage-collected, or
/// at once with `keyring.free()`.
#[wasm_bindgen]
pub struct Keyring(licet_verifier::Keyring);

#[wasm_bindgen]
impl Keyring {
    /// Reads a keyring from the text of `signature.pem` (one or more `PUBLIC KEY` blocks:
    /// Ed25519, or RSA of 2048 to 4096 bits).
    ///
    /// Throws `VerifyError` with code `KEYRING_INVALID` when the text is not a usable
    /// keyring (or is over a million characters), and `TypeError` when `text` is not a
    /// string.
    #[wasm_bindgen(js_name = fromPem)]
    pub fn from_pem(
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Result<Keyring, JsValue> {
        let text = js_string("text", &text)?;
        if text.length() > MAX_PEM_CHARS {
            return Err(verify_error(&Error::KeyringInvalid {
                reason: alloc::format!(
                    "the text is {} characters long, more than any signature.pem (at most {MAX_PEM_CHARS}); check that the right file was read",
                    text.length()
                ),
            }));
        }
        // A lone surrogate becomes U+FFFD here, which the PEM reader refuses inside a key
        // block and ignores outside one, as it does any other text around the blocks.
        let text = String::from(&text);
        licet_verifier::Keyring::from_pem(&text)
            .map(Keyring)
            .map_err(|e| verify_error(&e))
    }

    /// Verifies a token in its text form (`LIC-…`, `MCH-…`, `LSE-…`) or its file form
    /// (`-----BEGIN LICET …`) and returns its claims.
    ///
    /// `options.kind` is the kind of token required and `options.product` the product this
    /// application is. `fingerprint` (64 hex digits, or 32 bytes) is this machine's
    /// fingerprint hash; set it for machine tokens, or a machine token from another
    /// machine passes. `now` is the time to check at, in whole seconds since 1970 (a number
    /// or a bigint); when it is omitted or null, `Date.now()` is read, and only then.
    /// `lastSeen` is the latest time this application has already seen (kept by it), to
    /// refuse a clock set back; `leeway` the tolerance for clock differences, in seconds
    /// (60 when omitted).
    ///
    /// Throws `VerifyError` (with its `code`) when the token is refused, `TypeError` or
    /// `RangeError` when an argument is of the wrong type or out of range.
    pub fn verify(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "VerifyOptions")] options: JsValue,
    ) -> Result<Claims, JsValue> {
        let token = js_string("token", &token)?;
        // Refused before it is copied into the module: a UTF-8 string is at least as many
        // bytes as its UTF-16 form has code units, so over the cap here is over the
        // verifier's cap too (which counts UTF-8 bytes), and gets the verifier's answer.
        let units = token.length();
        if usize::try_from(units).map_or(true, |n| n > MAX_TEXT_BYTES) {
            return Err(verify_error(&Error::TooLarge {
                len: usize::try_from(units).unwrap_or(usize::MAX),
                max: MAX_TEXT_BYTES,
            }));
        }
        // A lone surrogate becomes U+FFFD, which no token holds: TOKEN_MALFORMED, as
        // the verifier answers for any character outside the token's alphabet.
        let token = String::from(&token);

        let options = options_object(&options)?;
        let kind_value = get(&options, "kind")?;
        let kind_name = js_string("options.kind", &kind_value)?;
        let kind_name = well_formed("options.kind", &kind_name)?;
        let kind = Kind::from_name(&kind_name).ok_or_else(|| {
            type_error(&alloc::format!(
                "options.kind must be 'license', 'machine' or 'lease', not {}",
                quoted(&kind_name)
            ))
        })?;
        let product = js_string("options.product", &get(&options, "product")?)?;
        let product = well_formed("options.product", &product)?;
        let now = match seconds("options.now", &get(&options, "now")?)? {
            Some(now) => now,
            None => clock_now()?,
        };
        let leeway =
            seconds("options.leeway", &get(&options, "leeway")?)?.unwrap_or(DEFAULT_LEEWAY);
        let mut expect = Expectations::new(kind, &product, now).leeway(leeway);
        if let Some(f) = fingerprint_hash(&get(&options, "fingerprint")?)? {
            expect = expect.fingerprint(f);
        }
        if let Some(t) = seconds("options.lastSeen", &get(&options, "lastSeen")?)? {
            expect = expect.last_seen(t);
        }
        self.0
            .verify(&token, &expect)
            .map(|verified| Claims(verified.claims))
            .map_err(|e| verify_error(&e))
    }

    /// The ids of the keys, as 16 hex digits each (the `kid` a token names).
    #[wasm_bindgen(getter)]
    pub fn kids(&self) -> Vec<String> {
        self.0.keys().iter().map(|k| hex(k.kid())).collect()
    }

    /// How many keys the keyring holds.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.0.len()
    }
}

/// The current time from JavaScript's clock (`Date.now()`, milliseconds), in whole seconds.
/// `std::time::SystemTime` has no clock on wasm32-unknown-unknown (it panics).
fn clock_now() -> Result<u64, JsValue> {
    // `as` rounds toward zero, which is down for a time after 1970, and saturates: a clock
    // before 1970 (or NaN) reads 0, which no valid token accepts.
    Ok((date_now()? / 1000.0) as u64)
}

/// The string in `value`, or a TypeError naming the argument.
fn js_string(name: &str, value: &JsValue) -> Result<JsString, JsValue> {
    value.dyn_ref::<JsString>().cloned().ok_or_else(|| {
        type_error(&alloc::format!(
            "{name} must be a string, not {}",
            type_name(value)
        ))
    })
}

/// The string as UTF-8, refused when it holds a lone surrogate: converting it would put
/// U+FFFD in its place, and a product named with U+FFFD would then match.
fn well_formed(name: &str, value: &JsString) -> Result<String, JsValue> {
    if !value.is_valid_utf16() {
        return Err(type_error(&alloc::format!(
            "{name} is not well-formed Unicode (it holds a lone surrogate)"
        )));
    }
    Ok(String::from(value))
}

/// `verify`'s options: a plain object with only the keys of [`OPTIONS`].
fn options_object(value: &JsValue) -> Result<Object, JsValue> {
    let missing = || {
        type_error(&alloc::format!(
            "options must be an object such as {{ kind: 'license', product: 'my-app' }}, not {}",
            type_name(value)
        ))
    };
    // `typeof` is "object" (not a function, not null); an object of another realm or with
    // a null prototype is an object too, which `instanceof Object` would deny.
    if !value.is_object() || is_array(value)? {
        return Err(missing());
    }
    for key in object_keys(value)?.iter() {
        let key = key.as_string().unwrap_or_default();
        if !OPTIONS.contains(&key.as_str()) {
            return Err(type_error(&alloc::format!(
                "unknown option {}; the options are {}",
                quoted(&key),
                OPTIONS.join(", ")
            )));
        }
    }
    Ok(value.clone().unchecked_into())
}

/// `object[key]`; a throwing getter's exception is passed on.
fn get(object: &Object, key: &str) -> Result<JsValue, JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
}

/// A time in whole seconds since 1970 (`now`, `lastSeen`) or a number of seconds
/// (`leeway`): `None` when omitted (undefined or null), a non-negative integer number up to
/// `Number.MAX_SAFE_INTEGER` or a bigint up to 2**64 - 1 otherwise. A fraction is refused
/// rather than rounded either way (`Date.now() / 1000` passed by mistake should be seen).
fn seconds(name: &str, value: &JsValue) -> Result<Option<u64>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if value.is_bigint() {
        return u64::try_from(value.clone()).map(Some).map_err(|_| {
            range_error(&alloc::format!(
                "{name} must be from 0 to 2n ** 64n - 1n seconds, not {}n",
                value
                    .unchecked_ref::<js_sys::BigInt>()
                    .to_string(10)
                    .map(String::from)
                    .unwrap_or_default()
            ))
        });
    }
    let Some(n) = value.as_f64() else {
        return Err(type_error(&alloc::format!(
            "{name} must be whole seconds (a number or a bigint), not {}; for the current time leave it out",
            type_name(value)
        )));
    };
    if !js_sys::Number::is_safe_integer(value) || n < 0.0 {
        return Err(range_error(&alloc::format!(
            "{name} must be a whole number of seconds from 0 to Number.MAX_SAFE_INTEGER (or a bigint), not {}",
            number_text(value)
        )));
    }
    // A safe integer from 0 up is exactly representable as u64.
    Ok(Some(n as u64))
}

/// A fingerprint hash given as 64 hex digits (as `licet` prints it) or as its 32 bytes;
/// `None` when omitted (undefined or null).
fn fingerprint_hash(value: &JsValue) -> Result<Option<licet_verifier::Fingerprint>, JsValue> {
    let wrong = || {
        type_error(
            "options.fingerprint must be 64 hex digits or 32 bytes (the machine's fingerprint hash)",
        )
    };
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else if let Some(text) = value.dyn_ref::<JsString>() {
        if text.length() != 64 {
            return Err(wrong());
        }
        unhex(&String::from(text)).map(Some).ok_or_else(wrong)
    } else if value.dyn_ref::<Uint8Array>().is_some() {
        // Copied through Array.from, inside `catch`, and each element checked: a subclass
        // may override `length` or the iterator, and js-sys's `copy_to` trusts `length`.
        let bytes = array_from(value)?;
        if bytes.length() != 32 {
            return Err(wrong());
        }
        let mut out = [0u8; 32];
        for (byte, v) in out.iter_mut().zip(bytes.iter()) {
            *byte = v
                .as_f64()
                .filter(|n| (0.0..=255.0).contains(n) && f64::from(*n as u8) == *n)
                .ok_or_else(wrong)? as u8;
        }
        Ok(Some(out))
    } else {
        Err(type_error(&alloc::format!(
            "options.fingerprint must be a string of 64 hex digits, a Uint8Array of 32 bytes or null, not {}",
            type_name(value)
        )))
    }
}

/// A string quoted and escaped for an error message, by JavaScript's `JSON.stringify`: Rust's
/// `{:?}` would bring in its own escaping and Unicode tables (a few KB of module).
fn quoted(text: &str) -> String {
    js_sys::JSON::stringify(&JsValue::from_str(text))
        .map(String::from)
        .unwrap_or_default()
}

/// A number as JavaScript writes it (`1.5`, `NaN`, `Infinity`), by its own `toString`: Rust's
/// float formatting would add about 15 KB to the module for this one error message.
fn number_text(value: &JsValue) -> String {
    value
        .unchecked_ref::<js_sys::Number>()
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default()
}

/// How a value is named in an error message: its `typeof`, or `null`/`array`.
fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        String::from("null")
    } else if is_array(value).unwrap_or(false) {
        String::from("an array")
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// The claims of a token that passed every check.
///
/// Times are whole seconds since 1970 (numbers); ids, fingerprints and key ids are
/// lower-case hex. Every property exists for every kind of token, `undefined` where that
/// kind has no such claim. `toJSON()` gives them in the JSON shape of the specification
/// (token-format §7.3), so `JSON.stringify(claims)` writes that shape.
#[wasm_bindgen]
pub struct Claims(licet_verifier::Claims);

/// A time or a count as a JavaScript number: exact up to 2**53 seconds (285 million years),
/// which every real token is far below.
fn number(n: u64) -> f64 {
    n as f64
}

#[wasm_bindgen]
impl Claims {
    /// `"license"`, `"machine"` or `"lease"`.
    #[wasm_bindgen(getter, unchecked_return_type = "Kind")]
    pub fn kind(&self) -> String {
        String::from(self.0.kind().name())
    }

    /// The product the token is for (already checked to be the one asked for).
    #[wasm_bindgen(getter)]
    pub fn product(&self) -> String {
        self.0.product.clone()
    }

    /// Who issued the token (the vendor), when it says.
    #[wasm_bindgen(getter)]
    pub fn issuer(&self) -> Option<String> {
        self.0.issuer.clone()
    }

    /// The customer, when the token says.
    #[wasm_bindgen(getter)]
    pub fn customer(&self) -> Option<String> {
        self.0.customer.clone()
    }

    /// When the token was issued.
    #[wasm_bindgen(getter, js_name = issuedAt)]
    pub fn issued_at(&self) -> f64 {
        number(self.0.issued_at)
    }

    /// When the token stops being valid; `undefined` for a perpetual license. For a
    /// machine token it is the check-in deadline.
    #[wasm_bindgen(getter, js_name = expiresAt)]
    pub fn expires_at(&self) -> Option<f64> {
        self.0.expires_at.map(number)
    }

    /// The token is not valid before this time, when set.
    #[wasm_bindgen(getter, js_name = notBefore)]
    pub fn not_before(&self) -> Option<f64> {
        self.0.not_before.map(number)
    }

    /// This token's id (32 hex digits): the license's, the activation's or the lease's.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        hex(&self.0.id)
    }

    /// The license this token belongs to (32 hex digits): its own `id` for a license token.
    #[wasm_bindgen(getter, js_name = licenseId)]
    pub fn license_id(&self) -> String {
        hex(self.0.license_id())
    }

    /// The enabled features, sorted, each once (a new array on each access).
    #[wasm_bindgen(getter)]
    pub fn features(&self) -> Vec<String> {
        self.0.features.clone()
    }

    /// The vendor's free-form metadata (a new object on each access).
    #[wasm_bindgen(getter, unchecked_return_type = "Record<string, string>")]
    pub fn metadata(&self) -> Result<Object, JsValue> {
        entries(
            self.0
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), JsValue::from_str(v))),
        )
    }

    /// `"trial"`, `"subscription"` or `"perpetual"` when a license says; else `undefined`.
    #[wasm_bindgen(
        getter,
        js_name = licenseType,
        unchecked_return_type = "\"trial\" | \"subscription\" | \"perpetual\" | undefined"
    )]
    pub fn license_type(&self) -> Option<String> {
        match &self.0.kind {
            KindClaims::License { license_type, .. } => license_type.map(|t| t.name().into()),
            _ => None,
        }
    }

    /// How many machines a license may activate; `undefined` is unlimited (and for other
    /// kinds).
    #[wasm_bindgen(getter, js_name = maxMachines)]
    pub fn max_machines(&self) -> Option<f64> {
        match &self.0.kind {
            KindClaims::License { max_machines, .. } => max_machines.map(number),
            _ => None,
        }
    }

    /// How many floating seats a license may have at once; `undefined` is unlimited (and
    /// for other kinds).
    #[wasm_bindgen(getter, js_name = maxLeases)]
    pub fn max_leases(&self) -> Option<f64> {
        match &self.0.kind {
            KindClaims::License { max_leases, .. } => max_leases.map(number),
            _ => None,
        }
    }

    /// The fingerprint hash a machine token is bound to (64 hex digits); `undefined` for
    /// other kinds.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> Option<String> {
        match &self.0.kind {
            KindClaims::Machine { fingerprint, .. } => Some(hex(fingerprint)),
            _ => None,
        }
    }

    /// The client that holds a lease, when it said; `undefined` for other kinds.
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> Option<String> {
        match &self.0.kind {
            KindClaims::Lease { client_id, .. } => client_id.clone(),
            _ => None,
        }
    }

    /// Whether `feature` is enabled. A non-string is never a feature (false).
    #[wasm_bindgen(js_name = hasFeature)]
    pub fn has_feature(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] feature: JsValue,
    ) -> bool {
        feature
            .dyn_ref::<JsString>()
            .filter(|f| f.is_valid_utf16())
            .is_some_and(|f| self.0.has_feature(&String::from(f)))
    }

    /// The claims as a new plain object in the JSON shape of the specification
    /// (token-format §7.3, the shape of `licet verify --json` and Python's `to_dict()`):
    /// the keys every kind has, then `license_type`, `max_machines` and `max_leases` for a
    /// license, `license_id` and `fingerprint` for a machine token, `license_id` and
    /// `client_id` for a lease. Absent claims are `null`.
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "ClaimsJSON")]
    pub fn to_json(&self) -> Result<Object, JsValue> {
        let c = &self.0;
        let text = |s: &Option<String>| s.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        let time = |t: Option<u64>| t.map_or(JsValue::NULL, |t| JsValue::from_f64(number(t)));
        let features: Array = c.features.iter().map(|f| JsValue::from_str(f)).collect();
        let mut fields: Vec<(&str, JsValue)> = Vec::with_capacity(13);
        fields.push(("kind", JsValue::from_str(c.kind().name())));
        fields.push(("product", JsValue::from_str(&c.product)));
        fields.push(("issued_at", JsValue::from_f64(number(c.issued_at))));
        fields.push(("id", JsValue::from_str(&hex(&c.id))));
        fields.push(("issuer", text(&c.issuer)));
        fields.push(("customer", text(&c.customer)));
        fields.push(("expires_at", time(c.expires_at)));
        fields.push(("not_before", time(c.not_before)));
        fields.push(("features", features.into()));
        fields.push(("metadata", self.metadata()?.into()));
        match &c.kind {
            KindClaims::License {
                license_type,
                max_machines,
                max_leases,
            } => {
                let t = license_type.map_or(JsValue::NULL, |t| JsValue::from_str(t.name()));
                fields.push(("license_type", t));
                fields.push(("max_machines", time(*max_machines)));
                fields.push(("max_leases", time(*max_leases)));
            }
            KindClaims::Machine {
                license_id,
                fingerprint,
                grace_ends_at,
            } => {
                fields.push(("license_id", JsValue::from_str(&hex(license_id))));
                fields.push(("fingerprint", JsValue::from_str(&hex(fingerprint))));
                if grace_ends_at.is_some() {
                    fields.push(("grace_ends_at", time(*grace_ends_at)));
                }
            }
            KindClaims::Lease {
                license_id,
                client_id,
            } => {
                fields.push(("license_id", JsValue::from_str(&hex(license_id))));
                fields.push(("client_id", text(client_id)));
            }
        }
        entries(fields.into_iter())
    }
}

/// A plain object from key-value pairs, through `Object.fromEntries`, which defines each
/// key as an own property: a metadata key `__proto__` stays a key and cannot change the
/// object's prototype, as assigning it would.
fn entries<'a>(pairs: impl Iterator<Item = (&'a str, JsValue)>) -> Result<Object, JsValue> {
    let array: Array = pairs
        .map(|(k, v)| Array::of2(&JsValue::from_str(k), &v))
        .collect();
    Object::from_entries(&array)
}

// The module's heap: talc instead of Rust's default dlmalloc, for its smaller code (see
// Cargo.toml). wasm32 without threads, the only target this crate is built for.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Traps, as `panic = "abort"` does. Nothing here panics on purpose (the crate's lints refuse
/// it); this handler replaces std's, whose message formatting a module never shows.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
