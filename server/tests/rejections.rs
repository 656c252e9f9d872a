//! Refusals at the edge: every extractor refuses in the one JSON error shape, and the
//! `Authorization` scheme is matched in any case.

mod common;

use common::{ADMIN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends a raw request and asserts the answer is the JSON error shape with `status` and
/// `code`.
async fn assert_json_error(req: reqwest::RequestBuilder, status: u16, code: &str) {
    let what = format!("{req:?}");
    let resp = req.send().await.expect("request reaches the server");
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("body");
    assert!(ct.starts_with("application/json"), "{what}: {ct}: {text}");
    let v: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(v["error"]["code"], code, "{what}: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {v}"
    );
}

/// Every kind of extractor refuses in the one JSON error shape.
#[tokio::test]
async fn every_rejection_is_the_json_error_shape() {
    let s = TestServer::start().await;
    let (b, h) = (&s.base, &s.http);
    let admin = |m: Method, p: &str| h.request(m, format!("{b}/v1/admin{p}")).bearer_auth(ADMIN);
    // Path: a percent-encoded id that is not UTF-8, for one and two parameters, and a name.
    for req in [
        admin(Method::GET, "/licenses/%FF"),
        admin(Method::PATCH, "/licenses/%FF").json(&json!({})),
        admin(Method::DELETE, "/licenses/%FF/machines/%FE"),
        admin(Method::POST, "/licenses/%FF/leases/%FE/release"),
        admin(Method::GET, "/licenses/%FF/leases"),
        admin(Method::GET, "/products/%C3%28"),
    ] {
        assert_json_error(req, 400, "BAD_REQUEST").await;
    }
    // Query: a value of the wrong type, an unknown parameter.
    assert_json_error(
        admin(Method::GET, "/licenses?limit=abc"),
        400,
        "BAD_REQUEST",
    )
    .await;
    assert_json_error(admin(Method::GET, "/audit?nope=1"), 400, "BAD_REQUEST").await;
    // JSON body: bad syntax, wrong type, unknown field, no or another content type, too large.
    let post = |p: &str| h.post(format!("{b}{p}"));
    let json_ct = |r: reqwest::RequestBuilder| r.header("content-type", "application/json");
    for req in [
        json_ct(post("/v1/validate")).body("{"),
        post("/v1/validate").json(&json!({"license_key": 5})),
        post("/v1/validate").json(&json!({"license_key": "k", "nope": 1})),
        post("/v1/validate").body("{\"license_key\": \"k\"}"),
        post("/v1/validate")
            .header("content-type", "text/plain")
            .body("{\"license_key\": \"k\"}"),
    ] {
        assert_json_error(req, 400, "BAD_REQUEST").await;
    }
    assert_json_error(
        post("/v1/validate").json(&json!({"license_key": "x".repeat(70_000)})),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    // No such route, no such method.
    assert_json_error(h.get(format!("{b}/v1/nothing")), 404, "NOT_FOUND").await;
    assert_json_error(h.get(format!("{b}/v1/activate")), 404, "NOT_FOUND").await;
}

/// RFC 9110 §11.1: the authentication scheme is case-insensitive.
#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let s = TestServer::start().await;
    let get = |auth: String| {
        s.http
            .get(format!("{}/v1/admin/products", s.base))
            .header("authorization", auth)
    };
    for auth in [
        format!("Bearer {ADMIN}"),
        format!("bearer {ADMIN}"),
        format!("BEARER {ADMIN}"),
        format!("bEaReR  {ADMIN}"),
    ] {
        let (st, v) = common::send(get(auth.clone())).await;
        assert_eq!(st, 200, "{auth}: {v}");
    }
    for auth in [
        format!("Basic {ADMIN}"),
        format!("Bearer{ADMIN}"),
        format!("bearerx {ADMIN}"),
        "bearer ".to_owned(),
        "bearer wrong".to_owned(),
    ] {
        let (st, v) = common::send(get(auth.clone())).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{auth}"
        );
    }
}
