//! The few requests the CLI sends to a licet-server (`--server URL`).

use std::time::Duration;

use serde_json::Value;

use crate::failure::Failure;

/// Largest answer read, in bytes: a revocation list's file form at its cap (1 MiB of
/// binary in base64), with room.
const MAX_ANSWER_BYTES: u64 = 2 << 20;

/// POSTs `body` to `base` + `path`: the JSON object of a 2xx answer with its status; a
/// refusal is a failure carrying the server's own code and message (exit 1).
pub fn post(base: &str, path: &str, body: String) -> Result<(u16, Value), Failure> {
    let (url, status, text) = send(base, path, Some(body))?;
    match serde_json::from_str(&text).ok() {
        Some(v @ Value::Object(_)) => Ok((status, v)),
        _ => Err(Failure::error(
            "BAD_RESPONSE",
            format!("{url} answered {status} with no JSON object; is it a licet-server?"),
        )),
    }
}

/// GETs `base` + `path`: the text of a 2xx answer; a refusal as [`post`] says.
pub fn get_text(base: &str, path: &str) -> Result<String, Failure> {
    send(base, path, None).map(|(_, _, text)| text)
}

/// Sends the request (a POST of `body`, or a GET without one) and reads the answer: the
/// URL, status and text of a 2xx answer, else the server's refusal as a failure.
fn send(base: &str, path: &str, body: Option<String>) -> Result<(String, u16, String), Failure> {
    let base = base.trim().trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return Err(Failure::error(
            "BAD_URL",
            format!("--server '{base}' must start with http:// or https://"),
        ));
    }
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        // Refusals are answers to read (their JSON has the code), not transport errors.
        .http_status_as_error(false)
        // The API never redirects; following one would send the license key elsewhere.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("licet/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    let url = format!("{base}{path}");
    let network = |e: ureq::Error| {
        Failure::error(
            "NETWORK",
            format!("{url}: {e}; check the --server address and that the server runs"),
        )
    };
    let mut resp = match body {
        Some(body) => agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body),
        None => agent.get(&url).call(),
    }
    .map_err(network)?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(network)?;
    if (200..300).contains(&status) {
        return Ok((url, status, text));
    }
    let json: Option<Value> = serde_json::from_str(&text).ok();
    let error = json.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    Err(match (field("code"), field("message")) {
        (Some(code), Some(message)) => Failure::invalid(
            // The server's codes are the stable strings of docs/api.md; a static str is
            // needed here, so an unknown one keeps the generic code and its text.
            known_code(code),
            format!("the server refused ({status} {code}): {message}"),
        ),
        _ => Failure::error(
            "BAD_RESPONSE",
            format!("{url} answered {status} with no licet error object"),
        ),
    })
}

/// The server's code as the CLI's static code, for the codes an offline exchange meets.
fn known_code(code: &str) -> &'static str {
    const CODES: [&str; 14] = [
        "KEY_INVALID",
        "KEY_EXPIRED",
        "KEY_SUSPENDED",
        "KEY_REVOKED",
        "ACTIVATION_LIMIT_REACHED",
        "REQUEST_INVALID",
        "REQUEST_TAMPERED",
        "NONCE_REUSED",
        "MACHINE_NOT_FOUND",
        "PAYLOAD_TOO_LARGE",
        "MACHINE_LICENSE_MISMATCH",
        "REQUEST_REPLAYED",
        "DEACTIVATION_LIMIT_REACHED",
        "ACTIVATION_COOLDOWN",
    ];
    CODES
        .into_iter()
        .find(|c| *c == code)
        .unwrap_or("SERVER_REFUSED")
}
