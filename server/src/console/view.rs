//! What every page shares: the layout, times, error messages in words, notices.
//!
//! Pages are written with maud: each is a Rust function, so the compiler checks every
//! field a page shows, and every value is HTML-escaped unless wrapped in `PreEscaped`
//! (used nowhere in the console).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::core::CoreError;
use crate::routes::rfc3339;

/// What a signed-in request knows: the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The session's random id.
    pub nonce: [u8; 16],
    /// The CSRF token of its forms.
    pub csrf: String,
    /// Now, by the server's clock.
    pub now: u64,
}

/// Which section of the menu a page is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The dashboard.
    Dashboard,
    /// Licenses.
    Licenses,
    /// Products.
    Products,
    /// The audit log.
    Audit,
    /// The public keys.
    Keys,
}

/// A message at the top of a page: what was done, or what went wrong and why.
#[derive(Debug, Clone, Default)]
pub enum Notice {
    /// Nothing to say.
    #[default]
    None,
    /// What was done.
    Done(&'static str),
    /// A refusal.
    Error(CoreError),
}

/// The CSRF field every state-changing form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A whole page.
pub fn page(
    ctx: Option<&Ctx>,
    nav: Option<Nav>,
    title: &str,
    notice: &Notice,
    body: Markup,
) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            li { a href=(href) aria-current=[(nav == Some(n)).then_some("page")] { (label) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · licet console" }
                link rel="stylesheet" href="/admin/assets/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/admin" { "licet console" }
                    @if let Some(ctx) = ctx {
                        nav aria-label="Main" {
                            ul {
                                (item(Nav::Dashboard, "/admin", "Dashboard"))
                                (item(Nav::Licenses, "/admin/licenses", "Licenses"))
                                (item(Nav::Products, "/admin/products", "Products"))
                                (item(Nav::Audit, "/admin/audit", "Audit log"))
                                (item(Nav::Keys, "/admin/keys", "Keys"))
                            }
                        }
                        form.signout method="post" action="/admin/sign-out" {
                            (csrf(ctx))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (notice_box(notice))
                    (body)
                }
            }
        }
    }
}

fn notice_box(n: &Notice) -> Markup {
    match n {
        Notice::None => html! {},
        Notice::Done(m) => html! { p.notice.done role="status" { (m) } },
        Notice::Error(e) => html! {
            div.notice.error role="alert" {
                strong { (words(e)) } ": " (e.message())
                " " small { "(" (e.code()) ")" }
            }
        },
    }
}

impl Notice {
    /// The status of a page showing this notice: an error's own, else 200.
    pub fn status(&self) -> StatusCode {
        match self {
            Notice::Error(e) => crate::error::status(e),
            _ => StatusCode::OK,
        }
    }
}

/// A whole page as an answer, with the status its notice calls for.
pub fn respond(
    ctx: Option<&Ctx>,
    nav: Option<Nav>,
    title: &str,
    notice: Notice,
    body: Markup,
) -> Response {
    (notice.status(), page(ctx, nav, title, &notice, body)).into_response()
}

/// An API error code in words.
pub fn words(e: &CoreError) -> &'static str {
    match e.code() {
        "KEY_INVALID" => "Unknown license key",
        "KEY_EXPIRED" => "The license has expired",
        "KEY_SUSPENDED" => "The license is suspended",
        "KEY_REVOKED" => "The license is revoked",
        "ACTIVATION_LIMIT_REACHED" => "Every activation is in use",
        "MACHINE_NOT_FOUND" => "No such machine",
        "FINGERPRINT_MISMATCH" => "Another machine's token",
        "LEASE_LIMIT_REACHED" => "Every floating seat is in use",
        "LEASE_INVALID" => "Unknown lease",
        "LEASE_EXPIRED" => "The lease has expired",
        "LEASE_RELEASED" => "The lease was released",
        "BAD_REQUEST" => "Please check the form",
        "PAYLOAD_TOO_LARGE" => "Too much data in one request",
        "UNAUTHORIZED" => "Wrong admin token",
        "NOT_FOUND" => "Not found",
        "CONFLICT" => "Not possible now",
        "TIMEOUT" => "That took too long",
        "STORAGE_UNAVAILABLE" => "The database cannot be written now",
        _ => "Something failed in the server",
    }
}

/// A page that only says what went wrong, with the error's status.
pub fn error_page(ctx: Option<&Ctx>, e: CoreError) -> Response {
    let status = crate::error::status(&e);
    let body = html! { p { a href="/admin" { "Back to the dashboard" } } };
    (status, page(ctx, None, words(&e), &Notice::Error(e), body)).into_response()
}

/// A time in UTC with how long ago or ahead it is.
pub fn time(t: u64, now: u64) -> Markup {
    let stamp = rfc3339(t);
    html! { time datetime=(stamp) { (stamp.replace('T', " ").replace('Z', " UTC")) } " " small.rel { "(" (relative(t, now)) ")" } }
}

/// An optional time; `never` when absent.
pub fn opt_time(t: Option<u64>, now: u64, none: &str) -> Markup {
    match t {
        Some(t) => time(t, now),
        None => html! { (none) },
    }
}

/// "3 days ago", "in 2 hours", "just now".
pub fn relative(t: u64, now: u64) -> String {
    let (d, future) = if t >= now {
        (t - now, true)
    } else {
        (now - t, false)
    };
    if d < 60 {
        return "just now".into();
    }
    let (n, unit) = match d {
        d if d < 3600 => (d / 60, "minute"),
        d if d < 86_400 => (d / 3600, "hour"),
        d if d < 60 * 86_400 => (d / 86_400, "day"),
        d if d < 730 * 86_400 => (d / (30 * 86_400), "month"),
        d => (d / (365 * 86_400), "year"),
    };
    let s = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{s}")
    } else {
        format!("{n} {unit}{s} ago")
    }
}

/// A 303 to `to` (the answer to every form that worked: a reload does not send it again).
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, to.to_owned())],
    )
        .into_response()
}

/// The part of a URL path naming `s` (a product name), percent-encoded.
pub fn path_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_as_people_say_them() {
        assert_eq!(relative(1000, 1000), "just now");
        assert_eq!(relative(1000, 1000 + 2 * 86_400), "2 days ago");
        assert_eq!(relative(1000 + 3600, 1000), "in 1 hour");
        assert_eq!(relative(0, 3 * 365 * 86_400), "3 years ago");
    }

    #[test]
    fn stored_strings_are_escaped() {
        let s = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
        let out = html! { p title=(s) { (s) } }.into_string();
        assert!(!out.contains("<script>"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn path_parts_are_percent_encoded() {
        assert_eq!(path_part("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(path_part("cad-pro_1.0"), "cad-pro_1.0");
    }
}
