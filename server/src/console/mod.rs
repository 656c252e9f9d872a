//! The admin console at `/admin`: server-rendered pages for the people who run licensing
//! day to day (`docs/admin-console.md`).
//!
//! Each handler calls the licensing core ([`crate::core`]) as the admin API's handlers do,
//! so a rule is never written twice. Pages are plain HTML forms answered by redirects: no
//! script at all, so the Content-Security-Policy allows none. Sign-in exchanges the admin
//! token for a stateless session cookie ([`session`]); every form carries a CSRF token
//! derived from the session.

pub mod audit;
pub mod dashboard;
pub mod keys;
pub mod licenses;
pub mod products;
pub mod session;
pub mod view;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use cookie::{Cookie, SameSite};
use maud::html;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::CoreError;
use crate::state::AppState;
use session::{Keys, Session, Throttle};
use view::{Ctx, Notice};

/// The console's own state: its session key, the sign-in brake, and whether the listener
/// is TLS (then cookies are `Secure`).
pub struct Console {
    keys: Keys,
    throttle: Throttle,
    secure_cookies: bool,
}

impl Console {
    /// The console of a server with this signing key secret (PKCS#8) and admin token hash.
    /// `tls`: whether the server is reached over TLS (cookies get `Secure`).
    pub fn new(signing_key_secret: &[u8], admin_token_sha256: &[u8; 32], tls: bool) -> Console {
        Console {
            keys: Keys::derive(signing_key_secret, admin_token_sha256),
            throttle: Throttle::default(),
            secure_cookies: tls,
        }
    }
}

/// Every failed sign-in waits this long before its answer, whatever the source: guessing
/// costs time even from many addresses, and a wrong token answers no faster than a right
/// one is checked.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(500);

/// The Content-Security-Policy of every console answer: nothing inline, nothing from
/// elsewhere, no frames, forms only to the console itself.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, to be nested at `/admin`.
pub fn router(
    state: &AppState,
    console: Arc<Console>,
    limits: Arc<crate::limit::RateLimits>,
) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(dashboard::page))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-all", post(sign_out_all))
        .route("/products", get(products::list).post(products::create))
        .route(
            "/products/{name}",
            get(products::show).post(products::update),
        )
        .route("/products/{name}/delete", post(products::delete))
        .route("/licenses", get(licenses::list))
        .route("/licenses/search", post(licenses::search))
        .route(
            "/licenses/new",
            get(licenses::new_form).post(licenses::create),
        )
        .route(
            "/licenses/bulk",
            get(licenses::bulk_form).post(licenses::bulk),
        )
        .route("/licenses/bulk.csv", post(licenses::bulk_csv))
        .route("/licenses/{id}", get(licenses::show).post(licenses::edit))
        .route("/licenses/{id}/status", post(licenses::status))
        .route(
            "/licenses/{id}/machines/reset",
            post(licenses::reset_machines),
        )
        .route(
            "/licenses/{id}/machines/{machine}/deactivate",
            post(licenses::deactivate_machine),
        )
        .route(
            "/licenses/{id}/leases/{lease}/release",
            post(licenses::release_lease),
        )
        .route("/audit", get(audit::page))
        .route("/keys", get(keys::page))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/assets/console.css", get(css))
        .merge(signed_in)
        .fallback(|| async { view::error_page(None, CoreError::NotFound("no such page".into())) })
        .layer(middleware::from_fn(security_headers))
        .layer(Extension(console))
        .layer(Extension(limits))
}

/// Headers on every console answer, errors included.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show license keys: no copy in a shared or disk cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// The value of cookie `name` in a request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cookie<'a>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
}

fn set_cookie(name: &str, value: String, max_age: u64, secure: bool) -> HeaderValue {
    let c = Cookie::build((name.to_owned(), value))
        .path("/admin")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .build();
    HeaderValue::from_str(&c.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("licet_console=; Max-Age=0"))
}

/// Lets a request with a live session through (as a [`Ctx`]) and slides its idle expiry;
/// anything else goes to the sign-in page.
async fn require_session(
    State(s): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = s.now();
    let session =
        cookie(req.headers(), session::COOKIE).and_then(|c| console.keys.open(c.value(), now));
    let Some(session) = session else {
        return view::see_other("/admin/sign-in?expired=1");
    };
    match crate::core::admin::console_sessions_after(&s.store).await {
        Ok(after) if session.issued < after => {
            return view::see_other("/admin/sign-in?expired=1");
        }
        Ok(_) => {}
        Err(e) => return view::error_page(None, e),
    }
    let ctx = Ctx {
        nonce: session.nonce,
        csrf: console.keys.csrf(&session.nonce),
        now,
    };
    req.extensions_mut().insert(ctx);
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key(header::SET_COOKIE) {
        let renewed = Session {
            seen: now.max(session.seen),
            ..session
        };
        resp.headers_mut().insert(
            header::SET_COOKIE,
            set_cookie(
                session::COOKIE,
                console.keys.seal(&renewed),
                session::IDLE,
                console.secure_cookies,
            ),
        );
    }
    resp
}

/// A form body whose CSRF token was checked against the session's.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let ctx = req.extensions().get::<Ctx>().cloned();
        let console = req.extensions().get::<Arc<Console>>().cloned();
        let (Some(ctx), Some(console)) = (ctx, console) else {
            return Err(view::error_page(None, CoreError::Internal));
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let e = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                CoreError::PayloadTooLarge
            } else {
                CoreError::BadRequest("the form could not be read".into())
            };
            view::error_page(Some(&ctx), e)
        })?;
        checked_form(&console.keys, &ctx.nonce, &bytes)
            .map(Form)
            .map_err(|e| view::error_page(Some(&ctx), e))
    }
}

/// Parses a form after checking its `csrf` field against `nonce`'s token.
fn checked_form<T: DeserializeOwned>(
    keys: &Keys,
    nonce: &[u8; 16],
    body: &[u8],
) -> Result<T, CoreError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| CoreError::BadRequest("the form could not be read".into()))?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    if !keys.csrf_ok(nonce, token) {
        return Err(CoreError::BadRequest(
            "this form is out of date or came from another site (its CSRF token does not match your session): reload the page and send it again".into(),
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| CoreError::BadRequest(format!("the form is incomplete: {e}")))
}

// ---------------------------------------------------------------- sign-in and sign-out

#[derive(Deserialize)]
struct SignInQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// The nonce of the sign-in form: the pre-session cookie's, or a new one to set.
fn pre_nonce(headers: &HeaderMap) -> Option<[u8; 16]> {
    cookie(headers, session::PRE_COOKIE).and_then(|c| licet_verifier::unhex::<16>(c.value()))
}

async fn sign_in_page(
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<SignInQuery>,
) -> Response {
    let notice = if q.signed_out.is_some() {
        Notice::Done("Signed out.")
    } else if q.expired.is_some() {
        Notice::Done("Please sign in (no session, or it expired).")
    } else {
        Notice::None
    };
    sign_in_form(&console, &headers, StatusCode::OK, notice)
}

fn sign_in_form(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let (nonce, fresh) = match pre_nonce(headers) {
        Some(n) => (n, false),
        None => match licet::new_id() {
            Ok(n) => (n, true),
            Err(_) => return view::error_page(None, CoreError::Internal),
        },
    };
    let csrf = console.keys.csrf(&nonce);
    let body = html! {
        form.card method="post" action="/admin/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            label for="token" { "Admin token" }
            input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
            p.hint { "The token licet-server printed on its first start, or LICET_ADMIN_TOKEN." }
            button type="submit" { "Sign in" }
        }
    };
    let mut resp = (status, view::page(None, None, "Sign in", &notice, body)).into_response();
    if fresh {
        resp.headers_mut().insert(
            header::SET_COOKIE,
            set_cookie(
                session::PRE_COOKIE,
                licet_verifier::hex(&nonce),
                session::IDLE,
                console.secure_cookies,
            ),
        );
    }
    resp
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
}

/// The source address a sign-in is braked by: the client's as the rate limits take it
/// (behind a proxy named by `--trusted-proxy`, from its `X-Forwarded-For`; else the peer's).
fn source(
    limits: &crate::limit::RateLimits,
    peer: Option<&Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.0.ip());
    limits.client_ip(peer, headers)
}

async fn sign_in(
    State(s): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(limits): Extension<Arc<crate::limit::RateLimits>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let ip = source(&limits, peer.as_ref(), &headers);
    let Some(nonce) = pre_nonce(&headers) else {
        return sign_in_form(
            &console,
            &headers,
            StatusCode::BAD_REQUEST,
            Notice::Error(CoreError::BadRequest(
                "your browser sent no sign-in cookie: allow cookies for this site and try again"
                    .into(),
            )),
        );
    };
    let form: SignInForm = match checked_form(&console.keys, &nonce, &body) {
        Ok(f) => f,
        Err(e) => {
            return sign_in_form(
                &console,
                &headers,
                StatusCode::BAD_REQUEST,
                Notice::Error(e),
            );
        }
    };
    let wait = console.throttle.wait(ip, now);
    if wait > 0 {
        let e = CoreError::BadRequest(format!(
            "too many failed sign-ins from your address; wait {wait} seconds and try again"
        ));
        return sign_in_form(
            &console,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Notice::Error(e),
        );
    }
    let presented = Sha256::digest(form.token.trim().as_bytes());
    let ok: bool = presented.as_slice().ct_eq(&s.admin_token_sha256).into();
    if let Err(e) = crate::core::admin::console_sign_in(&s.store, ok, ip.to_string(), now).await {
        return sign_in_form(
            &console,
            &headers,
            crate::error::status(&e),
            Notice::Error(e),
        );
    }
    if !ok {
        console.throttle.failed(ip, now);
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        return sign_in_form(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            Notice::Error(CoreError::BadRequest(
                "that is not the admin token; check it was copied whole".into(),
            )),
        );
    }
    console.throttle.succeeded(ip);
    let session = match console.keys.new_session(now) {
        Ok(s) => s,
        Err(e) => return view::error_page(None, e),
    };
    let mut resp = view::see_other("/admin");
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            session::COOKIE,
            console.keys.seal(&session),
            session::IDLE,
            console.secure_cookies,
        ),
    );
    // The sign-in nonce is spent: a new one is made for the next sign-in page.
    h.append(
        header::SET_COOKIE,
        set_cookie(
            session::PRE_COOKIE,
            String::new(),
            0,
            console.secure_cookies,
        ),
    );
    resp
}

#[derive(Deserialize)]
struct Empty {}

async fn sign_out(
    Extension(console): Extension<Arc<Console>>,
    Form(Empty {}): Form<Empty>,
) -> Response {
    let mut resp = view::see_other("/admin/sign-in?signed_out=1");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(session::COOKIE, String::new(), 0, console.secure_cookies),
    );
    resp
}

/// `POST /admin/sign-out-all`: ends every session signed in before now, this one too.
async fn sign_out_all(
    State(s): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<products::Confirm>,
) -> Response {
    if let Err(e) = f.check() {
        return view::error_page(Some(&ctx), e);
    }
    if let Err(e) = crate::core::admin::end_console_sessions(&s.store, ctx.now).await {
        return view::error_page(Some(&ctx), e);
    }
    let mut resp = view::see_other("/admin/sign-in?signed_out=1");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(session::COOKIE, String::new(), 0, console.secure_cookies),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_only_over_tls() {
        let plain = set_cookie(session::COOKIE, "v".into(), 60, false);
        let tls = set_cookie(session::COOKIE, "v".into(), 60, true);
        let (plain, tls) = (plain.to_str().expect("ascii"), tls.to_str().expect("ascii"));
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(tls.contains("Secure"), "{tls}");
        for c in [plain, tls] {
            for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=60"] {
                assert!(c.contains(attr), "{attr} in {c}");
            }
        }
    }

    #[test]
    fn a_form_needs_its_sessions_csrf_token() {
        let keys = Keys::derive(b"k", &[1; 32]);
        let nonce = [5; 16];
        let token = keys.csrf(&nonce);
        let ok: Result<SignInForm, _> =
            checked_form(&keys, &nonce, format!("csrf={token}&token=x").as_bytes());
        assert_eq!(ok.map(|f| f.token).ok().as_deref(), Some("x"));
        let bad: Result<SignInForm, _> =
            checked_form(&keys, &[6; 16], format!("csrf={token}").as_bytes());
        assert!(bad.is_err());
        let none: Result<SignInForm, _> = checked_form(&keys, &nonce, b"token=x");
        assert!(none.is_err());
    }
}
