//! The audit log, with the admin API's filters (license, action, time range), a page at a
//! time, newest first.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use crate::console::view::{self, Ctx, Nav, Notice};
use crate::core::CoreError;
use crate::core::admin::{self as rules, AuditFilter};
use crate::extract::ApiQuery;
use crate::model::AuditEvent;
use crate::state::AppState;

/// Events on one page.
const PAGE: usize = 100;

/// `GET /admin/audit` query.
#[derive(Debug, Default, Deserialize)]
pub struct Query {
    #[serde(default)]
    license_id: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD` (UTC): from the start of that day.
    #[serde(default)]
    since: String,
    /// `YYYY-MM-DD` (UTC): to the end of that day.
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
}

/// The actions the log records, for the filter's list.
const ACTIONS: &[&str] = &[
    "console.sign_in",
    "console.sign_in_failed",
    "console.sign_out_all",
    "lease.force_release",
    "lease.obtain",
    "lease.release",
    "lease.renew",
    "license.create",
    "license.delete",
    "license.reinstate",
    "license.revoke",
    "license.suspend",
    "license.update",
    "machine.activate",
    "machine.check_in",
    "machine.deactivate",
    "machine.reset",
    "product.create",
    "product.delete",
    "product.update",
    "request.refused",
];

fn day(s: &str, field: &str, end: bool) -> Result<Option<u64>, CoreError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(t, &fmt)
        .map_err(|_| CoreError::BadRequest(format!("{field} '{t}' is not a date (YYYY-MM-DD)")))?;
    let start = u64::try_from(d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| CoreError::BadRequest(format!("{field} is before 1970")))?;
    Ok(Some(if end { start + 86_399 } else { start }))
}

fn filter_of(q: &Query) -> Result<AuditFilter, CoreError> {
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_ascii_lowercase());
    Ok(AuditFilter {
        license_id: nonempty(&q.license_id),
        action: (!q.action.is_empty()).then(|| q.action.clone()),
        since: day(&q.since, "from", false)?,
        until: day(&q.until, "to", true)?,
        limit: Some(PAGE),
        cursor: match q.cursor.as_str() {
            "" => None,
            c => Some(
                c.parse()
                    .map_err(|_| CoreError::BadRequest("cursor is not a number".into()))?,
            ),
        },
    })
}

/// `GET /admin/audit`.
pub async fn page(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiQuery(q): ApiQuery<Query>,
) -> Response {
    let r = match filter_of(&q) {
        Ok(f) => rules::audit(&s.store, f).await,
        Err(e) => Err(e),
    };
    let (page, total, notice) = match r {
        Ok((p, total)) => (Some(p), total, Notice::None),
        Err(e) => (None, 0, Notice::Error(e)),
    };
    let body = html! {
        form.card.inline method="get" action="/admin/audit" {
            div {
                label for="a-license" { "License id" }
                input id="a-license" name="license_id" value=(q.license_id) size="34";
            }
            div {
                label for="a-action" { "Action" }
                select id="a-action" name="action" {
                    option value="" { "any" }
                    @for a in ACTIONS {
                        option value=(a) selected[q.action == *a] { (a) }
                    }
                }
            }
            div { label for="a-since" { "From (UTC)" } input id="a-since" name="since" type="date" value=(q.since); }
            div { label for="a-until" { "To (UTC)" } input id="a-until" name="until" type="date" value=(q.until); }
            button type="submit" { "Filter" }
        }
        @if let Some(page) = &page {
            p { (total) " events in the log." }
            (table(&page.items, ctx.now))
            @if let Some(next) = page.next_cursor {
                @let more = serde_urlencoded::to_string([
                    ("license_id", q.license_id.as_str()),
                    ("action", q.action.as_str()),
                    ("since", q.since.as_str()),
                    ("until", q.until.as_str()),
                    ("cursor", next.to_string().as_str()),
                ]).unwrap_or_default();
                p { a href={ "/admin/audit?" (more) } rel="next" { "Older events →" } }
            }
        }
    };
    view::respond(Some(&ctx), Some(Nav::Audit), "Audit log", notice, body)
}

/// A table of audit events (also on a license's page).
pub fn table(events: &[AuditEvent], now: u64) -> Markup {
    html! {
        @if events.is_empty() {
            p { "No event." }
        } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "By" } th scope="col" { "License" } th scope="col" { "Detail" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (view::time(e.at, now)) }
                            td { code { (e.action) } }
                            td { (e.actor) }
                            td { @if let Some(l) = &e.license_id { a.mono href={ "/admin/licenses/" (l) } { (l.get(..8).unwrap_or(l)) "…" } } @else { "—" } }
                            td { code.detail { (e.detail.to_string()) } }
                        }
                    }
                }
            } }
        }
    }
}
