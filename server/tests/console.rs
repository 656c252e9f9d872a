//! The admin console over HTTP, against a real server on 127.0.0.1: sign-in, the session
//! cookie and its expiry, CSRF, sign-out, the security headers, escaping of every stored
//! string, and that no secret reaches a URL. The browser suite (`console_browser.rs`)
//! drives the same pages in Chromium.

mod common;

use common::{ADMIN, ConsoleClient, Db, TestServer, fp};
use reqwest::Method;
use serde_json::json;

/// Every page a signed-in person can open (the license's id is filled in).
const PAGES: &[&str] = &[
    "/admin",
    "/admin/products",
    "/admin/licenses",
    "/admin/licenses/new",
    "/admin/licenses/bulk",
    "/admin/audit",
    "/admin/keys",
];

async fn signed_in(s: &TestServer) -> ConsoleClient {
    let mut c = ConsoleClient::new(&s.base);
    let p = c.sign_in(ADMIN).await;
    assert_eq!(p.status, 303, "sign-in: {}", p.body);
    assert_eq!(p.location(), Some("/admin"));
    c
}

fn assert_security_headers(p: &common::Page, what: &str) {
    let h = |n: &str| {
        p.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: CSP {csp:?}");
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp:?}");
    assert!(
        !csp.contains("script-src"),
        "{what}: no script allowed: {csp:?}"
    );
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
}

/// The attribute names of every tag (values in double quotes skipped, as the console
/// writes every attribute).
fn attribute_names(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let mut rest = tag.trim_start_matches(|c: char| !c.is_whitespace());
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let end = rest
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(rest.len());
            names.push(rest[..end].to_ascii_lowercase());
            rest = &rest[end..];
            if let Some(v) = rest.strip_prefix("=\"") {
                rest = v.split_once('"').map_or("", |(_, after)| after);
            }
        }
    }
    names
}

/// Whether some tag has an `on…` event handler attribute.
fn has_event_handler(html: &str) -> bool {
    attribute_names(html).iter().any(|n| n.starts_with("on"))
}

async fn every_page_is_closed_without_a_session_and_open_with_one(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({})).await;
    let id = l["id"].as_str().expect("id");
    let license_page = format!("/admin/licenses/{id}");
    let mut anon = ConsoleClient::new(&s.base);
    for path in PAGES.iter().copied().chain([license_page.as_str()]) {
        let p = anon.get(path).await;
        assert_eq!(p.status, 303, "{path} without a session");
        assert_eq!(p.location(), Some("/admin/sign-in?expired=1"), "{path}");
        assert_security_headers(&p, path);
    }
    // A form posted without a session changes nothing.
    let p = anon
        .post_raw("/admin/products", &[("name", "sneaky"), ("csrf", "00")])
        .await;
    assert_eq!(p.status, 303);
    let (st, _) = s.admin(Method::GET, "/products/sneaky", None).await;
    assert_eq!(st, 404, "nothing was created without a session");

    let mut c = signed_in(&s).await;
    for path in PAGES.iter().copied().chain([license_page.as_str()]) {
        let p = c.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_security_headers(&p, path);
        assert!(
            p.body.contains("name=\"viewport\""),
            "{path}: readable on a phone"
        );
        assert!(!p.body.contains(" style="), "{path}: no inline style");
        assert!(!p.body.contains("<script"), "{path}: no script");
        assert!(
            !has_event_handler(&p.body),
            "{path}: no inline event handler"
        );
    }
    let css = c.get("/admin/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert_security_headers(&css, "the style sheet");
    let missing = c.get("/admin/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "a missing page");
}

async fn the_session_cookie_is_httponly_strict_and_expires_when_idle(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut c = ConsoleClient::new(&s.base);
    let p = c.sign_in(ADMIN).await;
    assert_eq!(p.status, 303);
    let session = c
        .set_cookies
        .iter()
        .find(|h| h.starts_with("licet_console="))
        .expect("a session cookie")
        .clone();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=1800"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain HTTP: no Secure ({session})"
    );
    assert!(
        !session.contains(ADMIN),
        "the cookie does not carry the token"
    );

    // Used every 20 minutes, it stays open (each answer slides its idle expiry) ...
    for _ in 0..3 {
        s.advance(20 * 60);
        assert_eq!(c.get("/admin").await.status, 200);
    }
    // ... unused for 31 minutes, it is over.
    s.advance(31 * 60);
    let p = c.get("/admin").await;
    assert_eq!(p.status, 303, "idle session refused");

    // However busy, a session ends 12 hours after sign-in.
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    for _ in 0..(12 * 3) {
        s.advance(20 * 60);
        assert_eq!(c.get("/admin/keys").await.status, 200);
    }
    s.advance(20 * 60);
    assert_eq!(c.get("/admin/keys").await.status, 303, "absolute expiry");
}

async fn a_changed_or_foreign_cookie_is_refused(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut c = signed_in(&s).await;
    let value = c.cookies.get("licet_console").expect("session").clone();
    // Push the time of last use forward by hand: the MAC no longer matches.
    let mut parts: Vec<String> = value.split('.').map(str::to_owned).collect();
    parts[1] = (parts[1].parse::<u64>().expect("seen") + 1).to_string();
    c.cookies.insert("licet_console".into(), parts.join("."));
    assert_eq!(c.get("/admin").await.status, 303, "tampered cookie refused");

    // A session of another server (another signing key) opens nothing here.
    let other = TestServer::start().await;
    let theirs = signed_in(&other).await;
    c.cookies.insert(
        "licet_console".into(),
        theirs.cookies["licet_console"].clone(),
    );
    assert_eq!(c.get("/admin").await.status, 303, "foreign cookie refused");
}

async fn forms_without_the_sessions_csrf_token_change_nothing(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut c = signed_in(&s).await;
    c.get("/admin/products").await;
    let good = c.csrf.clone().expect("a CSRF token on the page");
    for bad in ["", "00", &"0".repeat(64), &good[..63]] {
        let p = c
            .post_raw("/admin/products", &[("csrf", bad), ("name", "cad")])
            .await;
        assert_eq!(p.status, 400, "csrf {bad:?}: {}", p.body);
        assert!(p.body.contains("CSRF"), "says why: {}", p.body);
    }
    // Another session's token does not fit this session.
    let mut other = signed_in(&s).await;
    other.get("/admin/products").await;
    let theirs = other.csrf.clone().expect("token");
    assert_ne!(theirs, good);
    let p = c
        .post_raw("/admin/products", &[("csrf", &theirs), ("name", "cad")])
        .await;
    assert_eq!(p.status, 400);
    let (st, _) = s.admin(Method::GET, "/products/cad", None).await;
    assert_eq!(st, 404, "no product made by a forged form");

    let p = c.post("/admin/products", &[("name", "cad")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (st, _) = s.admin(Method::GET, "/products/cad", None).await;
    assert_eq!(st, 200);
}

async fn sign_out_clears_the_cookie_and_closes_every_page(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut c = signed_in(&s).await;
    c.get("/admin").await;
    let p = c.post("/admin/sign-out", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), Some("/admin/sign-in?signed_out=1"));
    let cleared = c
        .set_cookies
        .iter()
        .find(|h| h.starts_with("licet_console="))
        .expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(!c.cookies.contains_key("licet_console"));
    for path in PAGES {
        assert_eq!(c.get(path).await.status, 303, "{path} after sign-out");
    }
}

async fn sign_out_every_session_ends_the_others_too(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut a = signed_in(&s).await;
    let mut b = signed_in(&s).await;
    s.advance(5);
    a.get("/admin").await;
    // Not without the confirmation box.
    assert_eq!(a.post("/admin/sign-out-all", &[]).await.status, 400);
    assert_eq!(b.get("/admin").await.status, 200);
    a.get("/admin").await;
    let p = a.post("/admin/sign-out-all", &[("confirm", "yes")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(a.get("/admin").await.status, 303, "this session is over");
    // Another session keeps its cookie, and is over all the same.
    assert!(b.cookies.contains_key("licet_console"));
    assert_eq!(
        b.get("/admin").await.status,
        303,
        "the other session is over"
    );
    let (_, log) = s
        .admin(Method::GET, "/audit?action=console.sign_out_all", None)
        .await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "{log}");
    // A new sign-in works.
    s.advance(1);
    assert_eq!(b.sign_in(ADMIN).await.status, 303);
    assert_eq!(b.get("/admin").await.status, 200);
}

async fn failed_sign_ins_are_audited_and_braked(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut c = ConsoleClient::new(&s.base);
    for i in 0..5 {
        let p = c.sign_in("wrong-token").await;
        assert_eq!(p.status, 401, "attempt {i}");
        assert!(p.body.contains("not the admin token"), "{}", p.body);
        assert!(!c.cookies.contains_key("licet_console"));
    }
    // The sixth try waits, even with the right token.
    let p = c.sign_in(ADMIN).await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.body.contains("wait"), "{}", p.body);
    assert!(!c.cookies.contains_key("licet_console"));
    let (_, log) = s
        .admin(Method::GET, "/audit?action=console.sign_in_failed", None)
        .await;
    let events = log["events"].as_array().expect("events");
    assert_eq!(events.len(), 5, "{log}");
    assert_eq!(events[0]["detail"]["source"], "127.0.0.1");
    assert!(
        !log.to_string().contains("wrong-token"),
        "the token is not logged"
    );
    // Once the wait is over, the right token signs in, and that is audited too.
    s.advance(10);
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    let (_, log) = s
        .admin(Method::GET, "/audit?action=console.sign_in", None)
        .await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "{log}");
}

/// Behind a proxy named by `--trusted-proxy`, sign-ins are braked and audited by the
/// client's address from `X-Forwarded-For` (as the rate limits take it), not the proxy's:
/// one client's failures do not lock out every other client of the proxy.
#[tokio::test]
async fn behind_a_trusted_proxy_sign_ins_are_braked_per_client() {
    let s = TestServer::start_with(|c| {
        c.trusted_proxy = vec!["127.0.0.1/32".parse().expect("range")];
    })
    .await;
    let mut guesser = ConsoleClient::new(&s.base);
    guesser.headers = vec![("x-forwarded-for", "203.0.113.7".into())];
    for i in 0..5 {
        assert_eq!(
            guesser.sign_in("wrong-token").await.status,
            401,
            "attempt {i}"
        );
    }
    assert_eq!(
        guesser.sign_in(ADMIN).await.status,
        429,
        "the guesser waits"
    );
    let mut other = ConsoleClient::new(&s.base);
    other.headers = vec![("x-forwarded-for", "198.51.100.4".into())];
    assert_eq!(
        other.sign_in(ADMIN).await.status,
        303,
        "another client does not"
    );
    let (_, log) = s
        .admin(Method::GET, "/audit?action=console.sign_in_failed", None)
        .await;
    let events = log["events"].as_array().expect("events");
    assert_eq!(events.len(), 5, "{log}");
    assert_eq!(events[0]["detail"]["source"], "203.0.113.7");
}

/// Every link, form action and redirect of the console, to check none carries a secret.
fn urls(p: &common::Page) -> Vec<String> {
    let mut out: Vec<String> = p.location().map(str::to_owned).into_iter().collect();
    for attr in ["href=\"", "action=\"", "src=\""] {
        for part in p.body.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap_or("").to_owned());
        }
    }
    out
}

async fn no_key_token_or_session_id_in_any_url(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"customer": "Globex"})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let id = l["id"].as_str().expect("id").to_owned();
    let mut c = signed_in(&s).await;
    let session = c.cookies["licet_console"].clone();
    let mut seen = Vec::new();
    for path in PAGES
        .iter()
        .map(|p| p.to_string())
        .chain([format!("/admin/licenses/{id}")])
    {
        let p = c.get(&path).await;
        seen.extend(urls(&p));
    }
    // Search by key goes in the body and answers with the license's page, by id.
    c.get("/admin/licenses").await;
    let p = c.post("/admin/licenses/search", &[("q", &key)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), Some(format!("/admin/licenses/{id}").as_str()));
    seen.extend(urls(&p));
    // An unknown key is not echoed back.
    let unknown = key.replacen(&key[8..12], "AAAA", 1);
    let p = c.post("/admin/licenses/search", &[("q", &unknown)]).await;
    assert!(
        !p.body.contains(&unknown),
        "an unknown key is not shown back"
    );
    // A damaged key is not taken for a customer's name (whose search goes in a URL).
    let damaged = format!("{}!!!", &key[..key.len() - 3]);
    let damaged = damaged.as_str();
    let p = c.post("/admin/licenses/search", &[("q", damaged)]).await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert_eq!(p.location(), None);
    assert!(p.body.contains("not a whole license key"), "{}", p.body);
    assert!(!p.body.contains(damaged));
    // Search by customer lists by a part of the name (not secret).
    let p = c.post("/admin/licenses/search", &[("q", "glob")]).await;
    assert_eq!(p.location(), Some("/admin/licenses?customer=glob"));
    let list = c.get("/admin/licenses?customer=glob").await;
    assert!(list.body.contains(&id), "found by customer");
    seen.extend(urls(&list));
    let nonce_part = session.split('.').nth(2).expect("nonce").to_owned();
    for u in &seen {
        for secret in [key.as_str(), ADMIN, session.as_str(), nonce_part.as_str()] {
            assert!(!u.contains(secret), "a secret in the URL {u}");
        }
        assert!(!u.contains("csrf"), "no CSRF token in {u}");
    }
    assert!(seen.len() > 20, "the pages' URLs were read: {}", seen.len());
}

/// Every string field a client or an admin can store, with markup in it.
const NASTY: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];

async fn every_stored_string_is_shown_as_text(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut ids = Vec::new();
    for (i, nasty) in NASTY.iter().enumerate() {
        let product = format!("p{i}{nasty}");
        let (st, body) = s
            .admin(
                Method::POST,
                "/products",
                Some(json!({"name": product, "support_message": nasty})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let (st, l) = s
            .admin(
                Method::POST,
                "/licenses",
                Some(json!({
                    "product": product, "customer": nasty, "features": [nasty],
                    "metadata": {*nasty: nasty}, "max_leases": 5,
                    "expires_at": "2027-02-01T00:00:00Z",
                })),
            )
            .await;
        assert_eq!(st, 201, "{l}");
        let key = l["license_key"].as_str().expect("key");
        let (st, body) = s
            .post(
                "/v1/activate",
                json!({"license_key": key, "fingerprint": fp(i as u64 + 1), "name": nasty, "platform": nasty, "user": nasty}),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let (st, body) = s
            .post(
                "/v1/leases/obtain",
                json!({"license_key": key, "client_id": nasty}),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        ids.push((l["id"].as_str().expect("id").to_owned(), product));
    }
    let mut c = signed_in(&s).await;
    let mut pages: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    for (id, product) in &ids {
        pages.push(format!("/admin/licenses/{id}"));
        pages.push(format!(
            "/admin/products/{}",
            serde_urlencoded::to_string([("x", product)]).expect("enc")[2..].replace('+', "%20")
        ));
        pages.push(format!("/admin/audit?license_id={id}"));
        pages.push(format!(
            "/admin/licenses?{}",
            serde_urlencoded::to_string([("customer", NASTY[0]), ("product", product)])
                .expect("enc")
        ));
    }
    let mut shown = 0;
    for path in &pages {
        let p = c.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(!p.body.contains("<script"), "{path}: raw <script>");
        assert!(!p.body.contains("<img"), "{path}: raw <img>");
        assert!(!has_event_handler(&p.body), "{path}: an onerror attribute");
        shown += p.body.matches("&lt;script&gt;").count() + p.body.matches("&lt;img").count();
    }
    assert!(
        shown > 20,
        "the strings were shown, escaped ({shown} times)"
    );
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let s = TestServer::start_with(|c| c.no_admin_console = true).await;
    let (st, body) = s.get("/admin/sign-in").await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let (st, _) = s.admin(Method::GET, "/products", None).await;
    assert_eq!(st, 200, "the JSON admin API stays");
}

async fn pages_act_through_the_same_rules_as_the_api(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s
        .license(
            "cad",
            json!({"customer": "Globex", "expires_at": "2027-02-01T00:00:00Z"}),
        )
        .await;
    let id = l["id"].as_str().expect("id").to_owned();
    let page = format!("/admin/licenses/{id}");
    let mut c = signed_in(&s).await;

    // A product with licenses is not deleted: the core's refusal, in words, in place.
    c.get("/admin/products/cad").await;
    let p = c
        .post("/admin/products/cad/delete", &[("confirm", "yes")])
        .await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("Not possible now"), "{}", p.body);
    assert!(p.body.contains("still has licenses"), "{}", p.body);
    // Nothing destructive happens without the confirmation box.
    let p = c.post("/admin/products/cad/delete", &[]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("tick the confirmation box"), "{}", p.body);
    let p = c
        .post(
            "/admin/products/cad",
            &[("support_message", "Call 555-0100")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, prod) = s.admin(Method::GET, "/products/cad", None).await;
    assert_eq!(prod["support_message"], "Call 555-0100");

    // Status actions need their box ticked.
    c.get(&page).await;
    let p = c
        .post(&format!("{page}/status"), &[("action", "revoke")])
        .await;
    assert_eq!(p.status, 400);
    let (_, got) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(got["status"], "active", "not revoked without confirmation");
    let p = c
        .post(
            &format!("{page}/status"),
            &[("action", "suspend"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.location(), Some(format!("{page}?done=suspend").as_str()));
    let (_, got) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(got["status"], "suspended");

    // Editing: a bad value is refused naming the field, and the form keeps what was typed.
    c.get(&page).await;
    let p = c
        .post(
            &page,
            &[("max_machines", "lots"), ("customer", "Globex Ltd")],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("max machines must be a whole number"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("value=\"Globex Ltd\""),
        "the form keeps the input"
    );
    let p = c
        .post(
            &page,
            &[
                ("customer", "Globex Ltd"),
                ("type", "trial"),
                ("expires", "2027-03-31"),
                ("max_machines", "4"),
                ("max_leases", ""),
                ("features", "a, b"),
                ("metadata", "order=A-1\nregion=eu"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, got) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(got["customer"], "Globex Ltd");
    assert_eq!(got["type"], "trial");
    assert_eq!(got["expires_at"], "2027-04-01T00:00:00Z");
    assert_eq!(got["max_machines"], 4);
    assert_eq!(got["max_leases"], serde_json::Value::Null);
    assert_eq!(got["features"], json!(["a", "b"]));
    assert_eq!(got["metadata"], json!({"order": "A-1", "region": "eu"}));

    // Filters: by type, and the suspended license among the suspended ones.
    let p = c.get("/admin/licenses?type=trial&status=suspended").await;
    assert!(p.body.contains(&id));
    let p = c.get("/admin/licenses?type=perpetual").await;
    assert!(!p.body.contains(&id));
    assert!(p.body.contains("No license matches."));

    // The dashboard counts it as suspended; the audit log filters by action.
    let p = c.get("/admin").await;
    assert!(
        p.body
            .contains("<span class=\"n\">1</span><span class=\"l\">suspended</span>"),
        "{}",
        p.body
    );
    let p = c.get("/admin/audit?action=license.suspend").await;
    assert!(p.body.contains("license.suspend"));
    assert!(!p.body.contains("<code>license.create</code>"));

    // The keys page shows the key id of the key in /signature.pem.
    let kr = s.keyring().await;
    let kid = licet_verifier::hex(kr.keys()[0].kid());
    let p = c.get("/admin/keys").await;
    assert!(p.body.contains(&kid), "{}", p.body);
    assert!(p.body.contains("BEGIN PUBLIC KEY"));
}

async fn bulk_creation_answers_a_csv_of_the_new_keys(db: Db) {
    let s = TestServer::start_on(db).await;
    s.license("cad", json!({})).await;
    let mut c = signed_in(&s).await;
    c.get("/admin/licenses/bulk").await;
    let p = c
        .post(
            "/admin/licenses/bulk",
            &[("count", "1001"), ("product", "cad")],
        )
        .await;
    assert_eq!(p.status, 400, "over the bound: {}", p.body);
    let p = c
        .post(
            "/admin/licenses/bulk",
            &[
                ("count", "5"),
                ("product", "cad"),
                ("customer", "=HYPERLINK(\"x\")"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let ids = p
        .body
        .split("name=\"ids\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the ids field")
        .to_owned();
    assert_eq!(ids.split(',').count(), 5);
    let r = c.post("/admin/licenses/bulk.csv", &[("ids", &ids)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok()),
        Some("attachment; filename=\"licenses.csv\"")
    );
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.len(), 6, "{}", r.body);
    for (line, id) in lines[1..].iter().zip(ids.split(',')) {
        let (_, l) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
        let key = l["license_key"].as_str().expect("key");
        assert!(line.starts_with(&format!("{id},{key},cad,")), "{line}");
        // A formula is written as text, quoted as CSV.
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
    }
}

// Every console test on both backends: the console acts through the licensing core, so it
// must behave the same on redb and on PostgreSQL.
on_every_backend!(
    every_page_is_closed_without_a_session_and_open_with_one,
    the_session_cookie_is_httponly_strict_and_expires_when_idle,
    a_changed_or_foreign_cookie_is_refused,
    forms_without_the_sessions_csrf_token_change_nothing,
    sign_out_clears_the_cookie_and_closes_every_page,
    sign_out_every_session_ends_the_others_too,
    failed_sign_ins_are_audited_and_braked,
    no_key_token_or_session_id_in_any_url,
    every_stored_string_is_shown_as_text,
    pages_act_through_the_same_rules_as_the_api,
    bulk_creation_answers_a_csv_of_the_new_keys,
);
