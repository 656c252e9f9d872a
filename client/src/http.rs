//! JSON over HTTP to the licensing server: one POST, its answer or the server's error.

use std::time::Duration;

use serde_json::Value;

use crate::Error;

/// Largest answer read from the server. The biggest real one (an activation, with a
/// machine token of at most 16 KiB of text) is far below it; a larger body is not a licet
/// server's and is not read into memory.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

pub(crate) struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    /// `ca_pem`: the only certificate authorities trusted for https, when given.
    pub(crate) fn new(base: &str, timeout: Duration, ca_pem: Option<&[u8]>) -> Result<Http, Error> {
        let base = base.trim().trim_end_matches('/');
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            return Err(Error::Config {
                reason: format!("server URL '{base}' must start with http:// or https://"),
            });
        }
        if https && !cfg!(feature = "https") {
            return Err(Error::Config {
                reason: "https needs licet-client's `https` feature".into(),
            });
        }
        #[cfg_attr(not(feature = "https"), allow(unused_mut))]
        let mut config = ureq::Agent::config_builder();
        #[cfg(feature = "https")]
        if let Some(pem) = ca_pem {
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&ca_certificates(pem)?))
                    .build(),
            );
        }
        #[cfg(not(feature = "https"))]
        let _ = ca_pem;
        let agent = config
            // Every wait is bounded: a renewal thread must never hang on a dead server.
            .timeout_global(Some(timeout))
            // Refusals are answers to read (their JSON has the code), not transport errors.
            .http_status_as_error(false)
            // The API never redirects; following one would send the license key elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("licet-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Http {
            agent,
            base: base.to_owned(),
        })
    }

    /// GETs `path`: the text of a 2xx answer (the revocation list), else the server's
    /// error as [`Http::post`] reads it.
    pub(crate) fn get_text(&self, path: &str) -> Result<String, Error> {
        let url = format!("{}{path}", self.base);
        let mut resp = self.agent.get(&url).call().map_err(network)?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_LIST_BYTES)
            .read_to_string()
            .map_err(network)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(Error::BadResponse {
            status,
            message: format!("GET {path} answered {status}"),
        })
    }

    /// POSTs `body` to `path`; the JSON answer of a 2xx, else the server's error.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), Error> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(network)?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::BadResponse {
                    status,
                    message: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
                },
                e => network(e),
            })?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return match json {
                Some(v @ Value::Object(_)) => Ok((status, v)),
                _ => Err(Error::BadResponse {
                    status,
                    message: "not a JSON object".into(),
                }),
            };
        }
        let error = json.as_ref().and_then(|v| v.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (field("code"), field("message")) {
            (Some(code), Some(message)) => Err(Error::Server {
                status,
                code,
                message,
                support_message: field("support_message"),
            }),
            _ => Err(Error::BadResponse {
                status,
                message: "no licet error object in the answer".into(),
            }),
        }
    }
}

/// Largest revocation list read: its cap (1 MiB of binary) in base64, with room.
const MAX_LIST_BYTES: u64 = 2 << 20;

fn network(e: ureq::Error) -> Error {
    Error::Network {
        message: e.to_string(),
    }
}

/// The CERTIFICATE blocks of a PEM text (other blocks, such as a key left in the same
/// file, are skipped).
#[cfg(feature = "https")]
fn ca_certificates(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, Error> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Config {
                    reason: format!("the CA certificates are not valid PEM: {e}"),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::Config {
            reason: "the CA certificates hold no PEM CERTIFICATE block; give the CA's certificate in PEM".into(),
        });
    }
    Ok(certs)
}
