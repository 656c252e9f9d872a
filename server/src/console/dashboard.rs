//! The dashboard: licenses by state, floating seats in use now, licenses expiring in the
//! next 30 days, and activations and lease obtains per day over the last 30 days (an SVG
//! chart drawn here).
//!
//! The counts come from bounded scans, so that a large database cannot make the page
//! slow without saying so: the licenses from one scan of at most
//! [`rules::SUMMARY_SCAN`] (`core::admin::summary`), the daily series from the audit log's
//! own listing, at most [`MAX_EVENTS`] events per series. A page past a bound says that
//! its numbers are partial.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::console::view::{self, Ctx, Nav, Notice, path_part};
use crate::core::CoreError;
use crate::core::admin::{self as rules, AuditFilter, MAX_PAGE};
use crate::state::AppState;

const DAY: u64 = 86_400;
/// Days in the chart and the expiry horizon.
const DAYS: usize = 30;
/// Most audit events one series of the chart reads.
pub const MAX_EVENTS: usize = 20_000;

/// Events of `action` per UTC day, the last [`DAYS`] days (today last), and whether the
/// bound was reached.
async fn per_day(s: &AppState, action: &str, now: u64) -> Result<([u64; DAYS], bool), CoreError> {
    let today = now - now % DAY;
    let first = today.saturating_sub((DAYS as u64 - 1) * DAY);
    let mut counts = [0u64; DAYS];
    let mut cursor = None;
    let mut read = 0usize;
    loop {
        let (page, _) = rules::audit(
            &s.store,
            AuditFilter {
                action: Some(action.to_owned()),
                since: Some(first),
                limit: Some(MAX_PAGE),
                cursor,
                ..AuditFilter::default()
            },
        )
        .await?;
        for e in &page.items {
            let i = usize::try_from(e.at.saturating_sub(first) / DAY).unwrap_or(usize::MAX);
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
        read += page.items.len();
        match page.next_cursor {
            Some(c) if read < MAX_EVENTS => cursor = Some(c),
            Some(_) => return Ok((counts, true)),
            None => return Ok((counts, false)),
        }
    }
}

/// `GET /admin`.
pub async fn page(State(s): State<AppState>, Extension(ctx): Extension<Ctx>) -> Response {
    let now = ctx.now;
    let data = async {
        let summary = rules::summary(&s.store, now, DAYS as u64 * DAY).await?;
        let activations = per_day(&s, "machine.activate", now).await?;
        let obtains = per_day(&s, "lease.obtain", now).await?;
        Ok::<_, CoreError>((summary, activations, obtains))
    }
    .await;
    let (sum, (act, act_cut), (obt, obt_cut)) = match data {
        Ok(d) => d,
        Err(e) => return view::error_page(Some(&ctx), e),
    };
    let card = |n: u64, label: &str, href: &str| {
        html! { a.stat href=(href) { span.n { (n) } span.l { (label) } } }
    };
    let body = html! {
        section.stats aria-label="Licenses by state" {
            (card(sum.active, "active", "/admin/licenses?status=active"))
            (card(sum.suspended, "suspended", "/admin/licenses?status=suspended"))
            (card(sum.revoked, "revoked", "/admin/licenses?status=revoked"))
            (card(sum.expired, "expired", "/admin/licenses?expiry=expired"))
            (card(sum.seats_in_use, "floating seats in use now", "/admin/licenses"))
        }
        @if sum.truncated {
            p.notice { "The counts cover the first " (rules::SUMMARY_SCAN) " licenses only." }
        }
        section {
            h2 { "The last 30 days" }
            (chart(&act, &obt, now))
            @if act_cut || obt_cut {
                p.hint { "Partial: a series stopped after " (MAX_EVENTS) " events." }
            }
        }
        section {
            h2 { "Expiring in the next 30 days (" (sum.expiring.len()) ")" }
            @if sum.expiring.is_empty() {
                p { "No active license expires in the next 30 days." }
            } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "License" } th scope="col" { "Customer" } th scope="col" { "Product" } th scope="col" { "Expires" } } }
                    tbody {
                        @for l in &sum.expiring {
                            tr {
                                td { a.mono href={ "/admin/licenses/" (l.id) } { (l.id) } }
                                td { (l.customer.as_deref().unwrap_or("—")) }
                                td { a href={ "/admin/products/" (path_part(&l.product)) } { (l.product) } }
                                td { (view::opt_time(l.expires_at, now, "never")) }
                            }
                        }
                    }
                } }
            }
        }
        section {
            h2 { "Sessions" }
            form.card.danger method="post" action="/admin/sign-out-all" {
                (view::csrf(&ctx))
                p { "Ends every console session signed in until now, on every server, this one too (after a laptop was lost, say). Everyone signs in again." }
                label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, sign out every session" }
                button type="submit" { "Sign out every session" }
            }
        }
    };
    view::page(
        Some(&ctx),
        Some(Nav::Dashboard),
        "Dashboard",
        &Notice::None,
        body,
    )
    .into_response()
}

/// Two series of daily counts as grouped bars, with the numbers in a table beside it for
/// screen readers and for reading exact values.
fn chart(a: &[u64; DAYS], b: &[u64; DAYS], now: u64) -> Markup {
    const W: u64 = 600;
    const H: u64 = 160;
    const SLOT: u64 = W / DAYS as u64;
    let max = a.iter().chain(b.iter()).copied().max().unwrap_or(0).max(1);
    let bar = |v: u64| v * (H - 20) / max;
    let today = now - now % DAY;
    let first = today.saturating_sub((DAYS as u64 - 1) * DAY);
    let date = |i: usize| {
        crate::routes::rfc3339(first + i as u64 * DAY)
            .get(..10)
            .unwrap_or_default()
            .to_owned()
    };
    html! {
        figure.chart {
            svg viewBox={ "-16 0 " (W + 32) " " (H + 20) } role="img" aria-labelledby="chart-title" {
                title id="chart-title" { "Machine activations and lease obtains per day, last 30 days (max " (max) " a day)" }
                line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
                @for i in 0..DAYS {
                    @let x = i as u64 * SLOT;
                    @let (ha, hb) = (bar(a[i]), bar(b[i]));
                    rect.sa x=(x + 2) y=(H - ha) width=(SLOT / 2 - 2) height=(ha) {
                        title { (date(i)) ": " (a[i]) " activations" }
                    }
                    rect.sb x=(x + SLOT / 2) y=(H - hb) width=(SLOT / 2 - 2) height=(hb) {
                        title { (date(i)) ": " (b[i]) " lease obtains" }
                    }
                    // Today and every seventh day before it.
                    @if (DAYS - 1 - i).is_multiple_of(7) {
                        text x=(x + SLOT / 2) y=(H + 15) text-anchor="middle" { (date(i).get(5..).unwrap_or_default()) }
                    }
                }
                text.max x="2" y="12" { "max " (max) }
            }
            figcaption {
                span.key.sa { "■" } " machine activations (" (a.iter().sum::<u64>()) ")  "
                span.key.sb { "■" } " lease obtains (" (b.iter().sum::<u64>()) ")"
            }
        }
        details {
            summary { "The numbers per day" }
            div.scroll { table {
                thead { tr { th scope="col" { "Day (UTC)" } th scope="col" { "Activations" } th scope="col" { "Lease obtains" } } }
                tbody {
                    @for i in (0..DAYS).rev() {
                        tr { td { (date(i)) } td { (a[i]) } td { (b[i]) } }
                    }
                }
            } }
        }
    }
}
