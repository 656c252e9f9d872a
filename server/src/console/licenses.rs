//! Licenses: search, filter and page through them; create one or many (with a CSV of the
//! new keys); a license's page with its claims, status actions, settings, machines,
//! leases and audit trail.
//!
//! A license key is shown on pages only, never put in a URL: search takes it in a POST
//! body and finds the license by the key's hash (`core::client::find_in`), and the CSV
//! of a bulk creation is the answer to a POST naming the new licenses by id.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::console::Form;
use crate::console::products::Confirm;
use crate::console::view::{self, Ctx, Nav, Notice, csrf, path_part};
use crate::core::CoreError;
use crate::core::admin::{self as rules, AuditFilter, LicenseChange, LicenseFilter, NewLicense};
use crate::extract::{ApiPath, ApiQuery};
use crate::model::{License, Status};
use crate::state::AppState;

const DAY: u64 = 86_400;
/// Licenses on one page of the list.
const PAGE: usize = 50;
/// Audit events on a license's page.
const TRAIL: usize = 50;

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Suspended => "suspended",
        Status::Revoked => "revoked",
    }
}

/// A license's state as people read it: its status, or `expired` when active but past
/// its expiry (the core's own rule, [`crate::core::refusal`]).
fn state_badge(l: &License, now: u64) -> Markup {
    let (class, text) = match crate::core::refusal(l, now) {
        None => ("ok", "active"),
        Some(CoreError::KeySuspended) => ("warn", "suspended"),
        Some(CoreError::KeyRevoked) => ("bad", "revoked"),
        Some(_) => ("warn", "expired"),
    };
    html! { span class={ "badge " (class) } { (text) } }
}

// ---------------------------------------------------------------- list and search

/// `GET /admin/licenses` query: the filters (nothing secret: no key is ever here).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    product: String,
    #[serde(default)]
    status: String,
    #[serde(rename = "type", default)]
    license_type: String,
    #[serde(default)]
    customer: String,
    /// `30`, `90`: expiring within that many days; `expired`; empty: any.
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /admin/licenses`.
pub async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Response {
    render_list(&s, &ctx, &q, Notice::None).await
}

fn filter_of(q: &ListQuery, now: u64) -> Result<LicenseFilter, CoreError> {
    let status = match q.status.as_str() {
        "" => None,
        "active" => Some(Status::Active),
        "suspended" => Some(Status::Suspended),
        "revoked" => Some(Status::Revoked),
        _ => {
            return Err(CoreError::BadRequest(
                "status must be active, suspended or revoked".into(),
            ));
        }
    };
    let (expires_after, expires_before) = match q.expiry.as_str() {
        "" => (None, None),
        "expired" => (None, Some(now.saturating_add(1))),
        d => {
            let days: u64 = d.parse().map_err(|_| {
                CoreError::BadRequest("expiry must be a number of days or 'expired'".into())
            })?;
            (
                Some(now),
                Some(now.saturating_add(days.saturating_mul(DAY))),
            )
        }
    };
    let cursor = match q.cursor.as_str() {
        "" => None,
        c => Some(
            crate::core::id_bytes(c)
                .ok_or_else(|| CoreError::BadRequest("cursor is not a license id".into()))?,
        ),
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(LicenseFilter {
        product: nonempty(&q.product),
        status,
        customer: None,
        customer_contains: nonempty(q.customer.trim()),
        license_type: nonempty(&q.license_type),
        expires_before,
        expires_after,
        limit: Some(PAGE),
        cursor,
    })
}

fn query_string(q: &ListQuery, cursor: &str) -> String {
    let pairs = [
        ("product", q.product.as_str()),
        ("status", q.status.as_str()),
        ("type", q.license_type.as_str()),
        ("customer", q.customer.as_str()),
        ("expiry", q.expiry.as_str()),
        ("cursor", cursor),
    ];
    let kept: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

async fn render_list(s: &AppState, ctx: &Ctx, q: &ListQuery, notice: Notice) -> Response {
    let notice = match (notice, q.done.as_deref()) {
        (Notice::None, Some("deleted")) => Notice::Done("License deleted."),
        (n, _) => n,
    };
    let page = match filter_of(q, ctx.now) {
        Ok(f) => rules::list_licenses(&s.store, f).await,
        Err(e) => Err(e),
    };
    let products = rules::list_products(&s.store).await.unwrap_or_default();
    let (page, notice) = match page {
        Ok(p) => (Some(p), notice),
        Err(e) => (None, Notice::Error(e)),
    };
    let sel = |v: &str, cur: &str| (v == cur).then_some("selected");
    let body = html! {
        p.actions {
            a.button href="/admin/licenses/new" { "New license" }
            " "
            a.button href="/admin/licenses/bulk" { "Bulk create" }
        }
        form.card.inline method="post" action="/admin/licenses/search" {
            (csrf(ctx))
            label for="q" { "Find by license key, license id or customer" }
            input id="q" name="q" type="search" required autocomplete="off";
            button type="submit" { "Find" }
        }
        form.card.inline method="get" action="/admin/licenses" {
            div {
                label for="f-product" { "Product" }
                select id="f-product" name="product" {
                    option value="" { "any" }
                    @for p in &products {
                        option value=(p.name) selected=[sel(&p.name, &q.product)] { (p.name) }
                    }
                }
            }
            div {
                label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    @for (v, t) in [("", "any"), ("active", "active"), ("suspended", "suspended"), ("revoked", "revoked")] {
                        option value=(v) selected=[sel(v, &q.status)] { (t) }
                    }
                }
            }
            div {
                label for="f-type" { "Type" }
                select id="f-type" name="type" {
                    @for (v, t) in [("", "any"), ("trial", "trial"), ("subscription", "subscription"), ("perpetual", "perpetual")] {
                        option value=(v) selected=[sel(v, &q.license_type)] { (t) }
                    }
                }
            }
            div {
                label for="f-expiry" { "Expiry" }
                select id="f-expiry" name="expiry" {
                    @for (v, t) in [("", "any"), ("7", "within 7 days"), ("30", "within 30 days"), ("90", "within 90 days"), ("expired", "expired")] {
                        option value=(v) selected=[sel(v, &q.expiry)] { (t) }
                    }
                }
            }
            div {
                label for="f-customer" { "Customer contains" }
                input id="f-customer" name="customer" value=(q.customer);
            }
            button type="submit" { "Filter" }
        }
        @if let Some(page) = &page {
            @if page.items.is_empty() {
                p { "No license matches." }
            } @else {
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { "License" } th scope="col" { "Customer" } th scope="col" { "Product" }
                            th scope="col" { "Type" } th scope="col" { "State" } th scope="col" { "Expires" }
                        } }
                        tbody {
                            @for l in &page.items {
                                tr {
                                    td { a.mono href={ "/admin/licenses/" (l.id) } { (l.id) } }
                                    td { (l.customer.as_deref().unwrap_or("—")) }
                                    td { (l.product) }
                                    td { (l.license_type.as_deref().unwrap_or("—")) }
                                    td { (state_badge(l, ctx.now)) }
                                    td { (view::opt_time(l.expires_at, ctx.now, "never")) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &page.next_cursor {
                    p { a href={ "/admin/licenses?" (query_string(q, next)) } rel="next" { "Next page →" } }
                }
            }
        }
    };
    view::respond(Some(ctx), Some(Nav::Licenses), "Licenses", notice, body)
}

/// The search form.
#[derive(Debug, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// `POST /admin/licenses/search`: a license key (found by its hash) or id opens that
/// license; anything else lists the licenses whose customer contains it.
pub async fn search(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<Search>,
) -> Response {
    let q = f.q.trim();
    let not_found =
        |what: &str| Notice::Error(CoreError::NotFound(format!("no license has this {what}")));
    // Anything shaped like a token (its kind prefix, or longer than any customer name) is
    // taken as a key, even a damaged one: it must not go on to the customer search, whose
    // text ends up in a URL.
    let token_like = ["LIC-", "MCH-", "LSE-"]
        .iter()
        .any(|p| q.len() >= 4 && q[..4].eq_ignore_ascii_case(p))
        || q.len() > licet_verifier::claims::limits::NAME;
    if token_like {
        if crate::state::key_bytes(q).is_err() {
            let e = CoreError::BadRequest(
                "this is not a whole license key (LIC-…): check it was copied whole".into(),
            );
            return render_list(&s, &ctx, &ListQuery::default(), Notice::Error(e)).await;
        }
        let key = q.to_owned();
        return match rules::license_by_key(&s.store, &key).await {
            Ok(Some(l)) => view::see_other(&format!("/admin/licenses/{}", l.id)),
            Ok(None) => {
                render_list(&s, &ctx, &ListQuery::default(), not_found("license key")).await
            }
            Err(e) => render_list(&s, &ctx, &ListQuery::default(), Notice::Error(e)).await,
        };
    }
    if q.len() == 32 && crate::core::id_bytes(q).is_some() {
        return match rules::get_license(&s.store, q).await {
            Ok(l) => view::see_other(&format!("/admin/licenses/{}", l.id)),
            Err(_) => render_list(&s, &ctx, &ListQuery::default(), not_found("id")).await,
        };
    }
    let query = ListQuery {
        customer: q.to_owned(),
        ..ListQuery::default()
    };
    view::see_other(&format!("/admin/licenses?{}", query_string(&query, "")))
}

// ---------------------------------------------------------------- create

/// The fields of a new license, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct LicenseForm {
    #[serde(default)]
    product: String,
    #[serde(rename = "type", default)]
    license_type: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    features: String,
    /// `YYYY-MM-DD` (UTC): valid through that whole day.
    #[serde(default)]
    expires: String,
    #[serde(default)]
    max_machines: String,
    #[serde(default)]
    max_leases: String,
    /// One `key=value` a line.
    #[serde(default)]
    metadata: String,
    /// Bulk only: how many.
    #[serde(default)]
    count: String,
}

fn opt_text(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn features(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

fn metadata(s: &str) -> Result<BTreeMap<String, String>, CoreError> {
    let mut m = BTreeMap::new();
    for (i, line) in s.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            CoreError::BadRequest(format!(
                "metadata line {} has no '=': write one key=value a line",
                i + 1
            ))
        })?;
        m.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(m)
}

fn number(field: &str, s: &str) -> Result<Option<u64>, CoreError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| {
        CoreError::BadRequest(format!(
            "{field} must be a whole number, or empty for unlimited"
        ))
    })
}

/// `YYYY-MM-DD` as the first second after that day (UTC): the license is valid through
/// the whole day it names.
fn expiry(s: &str) -> Result<Option<u64>, CoreError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || CoreError::BadRequest(format!("expiry '{t}' is not a date (YYYY-MM-DD)"));
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(t, &fmt).map_err(|_| bad())?;
    let start = d.midnight().assume_utc().unix_timestamp();
    u64::try_from(start)
        .map(|v| Some(v + DAY))
        .map_err(|_| bad())
}

/// The form's date for a stored expiry (the day it is valid through).
fn expiry_date(t: Option<u64>) -> String {
    t.and_then(|t| {
        let last = i64::try_from(t.saturating_sub(1)).ok()?;
        let d = time::OffsetDateTime::from_unix_timestamp(last).ok()?.date();
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        d.format(&fmt).ok()
    })
    .unwrap_or_default()
}

fn new_license(f: &LicenseForm) -> Result<NewLicense, CoreError> {
    // An empty field is left to the defaults (no type, no features, unlimited), as before
    // policies: the console makes licenses without one.
    let features = features(&f.features);
    Ok(NewLicense {
        product: f.product.clone(),
        overrides: crate::model::Overrides {
            license_type: opt_text(&f.license_type).map(Some),
            features: (!features.is_empty()).then_some(features),
            max_machines: number("max machines", &f.max_machines)?.map(Some),
            max_leases: number("max floating seats", &f.max_leases)?.map(Some),
            ..crate::model::Overrides::default()
        },
        expires_at: expiry(&f.expires)?.map(Some),
        customer: opt_text(&f.customer),
        metadata: metadata(&f.metadata)?,
        ..NewLicense::default()
    })
}

/// The settings fields shared by the create, bulk and edit forms.
fn settings_fields(f: &LicenseForm, products: Option<&[crate::model::Product]>) -> Markup {
    let sel = |v: &str, cur: &str| (v == cur).then_some("selected");
    html! {
        @if let Some(products) = products {
            label for="product" { "Product" }
            select id="product" name="product" required {
                @for p in products {
                    option value=(p.name) selected=[sel(&p.name, &f.product)] { (p.name) }
                }
            }
        }
        label for="type" { "Type" }
        select id="type" name="type" {
            @for (v, t) in [("", "none"), ("trial", "trial"), ("subscription", "subscription"), ("perpetual", "perpetual")] {
                option value=(v) selected=[sel(v, &f.license_type)] { (t) }
            }
        }
        label for="customer" { "Customer" }
        input id="customer" name="customer" maxlength="128" value=(f.customer);
        label for="expires" { "Valid through (UTC date; empty: never expires)" }
        input id="expires" name="expires" type="date" value=(f.expires);
        label for="max_machines" { "Max machines (empty: unlimited)" }
        input id="max_machines" name="max_machines" inputmode="numeric" pattern="[0-9]*" value=(f.max_machines);
        label for="max_leases" { "Max floating seats (empty: unlimited)" }
        input id="max_leases" name="max_leases" inputmode="numeric" pattern="[0-9]*" value=(f.max_leases);
        label for="features" { "Features (comma-separated)" }
        input id="features" name="features" value=(f.features);
        label for="metadata" { "Metadata (one key=value a line)" }
        textarea id="metadata" name="metadata" rows="3" { (f.metadata) }
    }
}

/// `GET /admin/licenses/new`.
pub async fn new_form(State(s): State<AppState>, Extension(ctx): Extension<Ctx>) -> Response {
    render_new(&s, &ctx, &LicenseForm::default(), Notice::None, false).await
}

/// `GET /admin/licenses/bulk`.
pub async fn bulk_form(State(s): State<AppState>, Extension(ctx): Extension<Ctx>) -> Response {
    let f = LicenseForm {
        count: "10".into(),
        ..LicenseForm::default()
    };
    render_new(&s, &ctx, &f, Notice::None, true).await
}

async fn render_new(
    s: &AppState,
    ctx: &Ctx,
    f: &LicenseForm,
    notice: Notice,
    bulk: bool,
) -> Response {
    let products = match rules::list_products(&s.store).await {
        Ok(p) => p,
        Err(e) => return view::error_page(Some(ctx), e),
    };
    let (title, action) = if bulk {
        ("Bulk create licenses", "/admin/licenses/bulk")
    } else {
        ("New license", "/admin/licenses/new")
    };
    let body = html! {
        @if products.is_empty() {
            p { "There is no product yet: " a href="/admin/products" { "create one first" } "." }
        } @else {
            form.card method="post" action=(action) {
                (csrf(ctx))
                @if bulk {
                    label for="count" { "How many (1 to " (rules::MAX_BULK) ")" }
                    input id="count" name="count" required inputmode="numeric" pattern="[0-9]*" value=(f.count);
                    p.hint { "Every new license gets the settings below; the next page lists their keys and offers them as a CSV file." }
                }
                (settings_fields(f, Some(&products)))
                button type="submit" { (if bulk { "Create licenses" } else { "Create license" }) }
            }
        }
    };
    view::respond(Some(ctx), Some(Nav::Licenses), title, notice, body)
}

/// `POST /admin/licenses/new`.
pub async fn create(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<LicenseForm>,
) -> Response {
    let made = match new_license(&f) {
        Ok(req) => rules::create_license(&s.store, &s.signer, req, ctx.now).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(l) => view::see_other(&format!("/admin/licenses/{}?done=created", l.id)),
        Err(e) => render_new(&s, &ctx, &f, Notice::Error(e), false).await,
    }
}

/// `POST /admin/licenses/bulk`: creates them all or none, then lists them.
pub async fn bulk(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<LicenseForm>,
) -> Response {
    let made = async {
        let n: usize = f.count.trim().parse().map_err(|_| {
            CoreError::BadRequest(format!(
                "how many must be a number from 1 to {}",
                rules::MAX_BULK
            ))
        })?;
        if n == 0 || n > rules::MAX_BULK {
            return Err(CoreError::BadRequest(format!(
                "how many must be from 1 to {}; got {n}",
                rules::MAX_BULK
            )));
        }
        let one = new_license(&f)?;
        rules::bulk_create(&s.store, &s.signer, vec![one; n], ctx.now).await
    }
    .await;
    let made = match made {
        Ok(m) => m,
        Err(e) => return render_new(&s, &ctx, &f, Notice::Error(e), true).await,
    };
    let ids: Vec<&str> = made.iter().map(|l| l.id.as_str()).collect();
    let body = html! {
        form.card method="post" action="/admin/licenses/bulk.csv" {
            (csrf(&ctx))
            input type="hidden" name="ids" value=(ids.join(","));
            button id="download" type="submit" { "Download the " (made.len()) " keys as CSV" }
        }
        div.scroll {
            table {
                thead { tr { th scope="col" { "License" } th scope="col" { "Customer" } th scope="col" { "License key" } } }
                tbody {
                    @for l in &made {
                        tr {
                            td { a.mono href={ "/admin/licenses/" (l.id) } { (l.id) } }
                            td { (l.customer.as_deref().unwrap_or("—")) }
                            td { code.key { (l.key) } }
                        }
                    }
                }
            }
        }
    };
    let title = format!("{} licenses created", made.len());
    view::page(
        Some(&ctx),
        Some(Nav::Licenses),
        &title,
        &Notice::Done("Licenses created."),
        body,
    )
    .into_response()
}

/// The CSV form.
#[derive(Debug, Deserialize)]
pub struct Ids {
    #[serde(default)]
    ids: String,
}

/// A cell that a spreadsheet would run as a formula is written as text.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// `POST /admin/licenses/bulk.csv`: the licenses named by id, as a CSV attachment.
pub async fn bulk_csv(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<Ids>,
) -> Response {
    let ids: Vec<&str> = f
        .ids
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > rules::MAX_BULK {
        return view::error_page(
            Some(&ctx),
            CoreError::BadRequest(format!("name 1 to {} licenses", rules::MAX_BULK)),
        );
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "license_key",
        "product",
        "customer",
        "type",
        "expires_at",
    ];
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        match rules::get_license(&s.store, id).await {
            Ok(l) => rows.push(l),
            Err(e) => return view::error_page(Some(&ctx), e),
        }
    }
    let written = w.write_record(header).and_then(|()| {
        rows.iter().try_for_each(|l| {
            w.write_record([
                l.id.clone(),
                l.key.clone(),
                cell(&l.product),
                cell(l.customer.as_deref().unwrap_or("")),
                l.license_type.clone().unwrap_or_default(),
                l.expires_at.map(crate::routes::rfc3339).unwrap_or_default(),
            ])
        })
    });
    let bytes = match written
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()))
    {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "writing a CSV");
            return view::error_page(Some(&ctx), CoreError::Internal);
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"licenses.csv\"",
            ),
        ],
        bytes,
    )
        .into_response()
}

// ---------------------------------------------------------------- one license

/// `?done=` of a license's page.
#[derive(Debug, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /admin/licenses/{id}`.
pub async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(d): ApiQuery<Done>,
) -> Response {
    let notice = match d.done.as_deref() {
        Some("created") => Notice::Done("License created."),
        Some("saved") => Notice::Done("Settings saved."),
        Some("suspend") => Notice::Done("License suspended."),
        Some("reinstate") => Notice::Done("License reinstated."),
        Some("revoke") => Notice::Done("License revoked."),
        Some("reset") => Notice::Done("Every machine was deactivated."),
        Some("deactivated") => Notice::Done("Machine deactivated."),
        Some("released") => Notice::Done("Lease released."),
        _ => Notice::None,
    };
    render_one(&s, &ctx, &id, notice, None).await
}

async fn render_one(
    s: &AppState,
    ctx: &Ctx,
    id: &str,
    notice: Notice,
    edit: Option<&LicenseForm>,
) -> Response {
    let l = match rules::get_license(&s.store, id).await {
        Ok(l) => l,
        Err(e) => return view::error_page(Some(ctx), e),
    };
    let machines = rules::list_machines(&s.store, &l.id).await;
    let leases = crate::core::leases::list(&s.store, &l.id, None, ctx.now).await;
    let trail = rules::audit(
        &s.store,
        AuditFilter {
            license_id: Some(l.id.clone()),
            limit: Some(TRAIL),
            ..AuditFilter::default()
        },
    )
    .await;
    let (machines, leases, trail) = match (machines, leases, trail) {
        (Ok(m), Ok(le), Ok(t)) => (m, le, t.0.items),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return view::error_page(Some(ctx), e),
    };
    let here = format!("/admin/licenses/{}", l.id);
    let current = LicenseForm {
        product: l.product.clone(),
        license_type: l.license_type.clone().unwrap_or_default(),
        customer: l.customer.clone().unwrap_or_default(),
        features: l.features.join(", "),
        expires: expiry_date(l.expires_at),
        max_machines: l.max_machines.map(|n| n.to_string()).unwrap_or_default(),
        max_leases: l.max_leases.map(|n| n.to_string()).unwrap_or_default(),
        metadata: l
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect(),
        count: String::new(),
    };
    let form = edit.unwrap_or(&current);
    let unlimited = |n: Option<u64>| n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    let body = html! {
        section {
            dl.claims {
                dt { "State" } dd { (state_badge(&l, ctx.now)) " (status " (status_name(l.status)) ")" }
                dt { "Product" } dd { a href={ "/admin/products/" (path_part(&l.product)) } { (l.product) } }
                dt { "Customer" } dd { (l.customer.as_deref().unwrap_or("—")) }
                dt { "Policy" } dd { (l.policy.as_deref().unwrap_or("—")) @if !l.overrides.fields().is_empty() && l.policy.is_some() { " (overrides: " (l.overrides.fields().join(", ")) ")" } }
                dt { "Type" } dd { (l.license_type.as_deref().unwrap_or("—")) }
                dt { "Expires" } dd { (view::opt_time(l.expires_at, ctx.now, "never")) }
                dt { "Machines" } dd { (machines.len()) " of " (unlimited(l.max_machines)) }
                dt { "Floating seats" } dd { (leases.iter().filter(|x| x.state(ctx.now) == "active").count()) " of " (unlimited(l.max_leases)) " in use" }
                dt { "Features" } dd { @if l.features.is_empty() { "—" } @else { (l.features.join(", ")) } }
                dt { "Metadata" } dd {
                    @if l.metadata.is_empty() { "—" } @else {
                        ul.plain { @for (k, v) in &l.metadata { li { code { (k) } " = " (v) } } }
                    }
                }
                dt { "Created" } dd { (view::time(l.created_at, ctx.now)) }
                dt { "Changed" } dd { (view::time(l.updated_at, ctx.now)) }
                dt { "License key" } dd { code id="license-key" class="key" { (l.key) } }
            }
        }
        section {
            h2 { "Status" }
            div.row {
                @for (action, label, allowed) in [
                    ("suspend", "Suspend", l.status == Status::Active),
                    ("reinstate", "Reinstate", l.status == Status::Suspended),
                    ("revoke", "Revoke for good", l.status != Status::Revoked),
                ] {
                    @if allowed {
                        form.card.danger method="post" action={ (here) "/status" } {
                            (csrf(ctx))
                            input type="hidden" name="action" value=(action);
                            label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, " (label.to_lowercase()) " this license" }
                            button type="submit" name="go" value=(action) { (label) }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Machines (" (machines.len()) ")" }
            @if machines.is_empty() {
                p { "No machine is activated." }
            } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Platform" } th scope="col" { "User" } th scope="col" { "Activated" } th scope="col" { "Last check-in" } th scope="col" { "Deactivate" } } }
                    tbody {
                        @for m in &machines {
                            tr {
                                td { (m.name.as_deref().unwrap_or("—")) br; small.mono { (m.id) } }
                                td { (m.platform.as_deref().unwrap_or("—")) }
                                td { (m.user.as_deref().unwrap_or("—")) }
                                td { (view::time(m.activated_at, ctx.now)) }
                                td { (view::time(m.last_check_in, ctx.now)) }
                                td {
                                    form.compact method="post" action={ (here) "/machines/" (m.id) "/deactivate" } {
                                        (csrf(ctx))
                                        label.check { input type="checkbox" name="confirm" value="yes" required aria-label={ "Confirm deactivating " (m.id) }; " sure" }
                                        button type="submit" { "Deactivate" }
                                    }
                                }
                            }
                        }
                    }
                } }
                form.card.danger method="post" action={ (here) "/machines/reset" } {
                    (csrf(ctx))
                    label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, deactivate all " (machines.len()) " machines" }
                    button type="submit" { "Reset machines" }
                }
            }
        }
        section {
            h2 { "Floating seats (leases)" }
            @if leases.is_empty() {
                p { "No lease was obtained." }
            } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Client" } th scope="col" { "State" } th scope="col" { "Obtained" } th scope="col" { "Expires" } th scope="col" { "Renewals" } th scope="col" { "Release" } } }
                    tbody {
                        @for le in leases.iter().rev() {
                            tr {
                                td { (le.client_id.as_deref().unwrap_or("—")) br; small.mono { (le.id) } }
                                td { (le.state(ctx.now)) }
                                td { (view::time(le.created_at, ctx.now)) }
                                td { (view::time(le.expires_at, ctx.now)) }
                                td { (le.renewals) }
                                td {
                                    @if le.state(ctx.now) == "active" {
                                        form.compact method="post" action={ (here) "/leases/" (le.id) "/release" } {
                                            (csrf(ctx))
                                            label.check { input type="checkbox" name="confirm" value="yes" required aria-label={ "Confirm releasing " (le.id) }; " sure" }
                                            button type="submit" { "Force release" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section {
            h2 { "Edit settings" }
            p.hint { "The license key is not re-issued: online checks and new machine and lease tokens follow these settings; the key keeps the claims it was signed with." }
            form.card method="post" action=(here) {
                (csrf(ctx))
                (settings_fields(form, None))
                button type="submit" { "Save settings" }
            }
        }
        section {
            h2 { "Audit trail" }
            (crate::console::audit::table(&trail, ctx.now))
            p { a href={ "/admin/audit?license_id=" (l.id) } { "The whole trail in the audit log" } }
        }
    };
    let title = match &l.customer {
        Some(c) => format!("License of {c}"),
        None => format!("License {}", l.id),
    };
    view::respond(Some(ctx), Some(Nav::Licenses), &title, notice, body)
}

/// `new` when it differs from `old`: a change to make.
fn changed<T: PartialEq + Clone>(new: &T, old: &T) -> Option<T> {
    (new != old).then(|| new.clone())
}

/// `POST /admin/licenses/{id}`: saves the settings.
pub async fn edit(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
    Form(f): Form<LicenseForm>,
) -> Response {
    // Only what the form changes becomes an override: saving a form whose terms show the
    // policy's values must not pin them on the license.
    let current = rules::get_license(&s.store, &id).await;
    let change = current.and_then(|l| {
        let features = features(&f.features);
        let machines = number("max machines", &f.max_machines)?;
        let leases = number("max floating seats", &f.max_leases)?;
        let license_type = opt_text(&f.license_type);
        Ok::<_, CoreError>(LicenseChange {
            features: changed(&features, &l.features),
            expires_at: Some(expiry(&f.expires)?),
            max_machines: changed(&machines, &l.max_machines),
            max_leases: changed(&leases, &l.max_leases),
            customer: Some(opt_text(&f.customer)),
            license_type: changed(&license_type, &l.license_type),
            metadata: Some(metadata(&f.metadata)?),
            ..LicenseChange::default()
        })
    });
    let r = match change {
        Ok(c) => rules::update_license(&s.store, Arc::clone(&s.signer), &id, c, ctx.now).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(l) => view::see_other(&format!("/admin/licenses/{}?done=saved", l.id)),
        Err(e) => render_one(&s, &ctx, &id, Notice::Error(e), Some(&f)).await,
    }
}

/// The status form.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/licenses/{id}/status`: suspend, reinstate or revoke, once confirmed.
pub async fn status(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    let confirmed = Confirm {
        confirm: f.confirm.clone(),
    }
    .check();
    let r = match (confirmed, f.action.as_str()) {
        (Err(e), _) => Err(e),
        (Ok(()), "suspend") => rules::suspend(&s.store, &id, ctx.now).await,
        (Ok(()), "reinstate") => rules::reinstate(&s.store, &id, ctx.now).await,
        (Ok(()), "revoke") => rules::revoke(&s.store, &id, ctx.now).await,
        (Ok(()), _) => Err(CoreError::BadRequest(
            "action must be suspend, reinstate or revoke".into(),
        )),
    };
    match r {
        Ok(l) => view::see_other(&format!("/admin/licenses/{}?done={}", l.id, f.action)),
        Err(e) => render_one(&s, &ctx, &id, Notice::Error(e), None).await,
    }
}

/// `POST /admin/licenses/{id}/machines/reset`.
pub async fn reset_machines(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
    Form(f): Form<Confirm>,
) -> Response {
    let r = match f.check() {
        Ok(()) => rules::reset_machines(&s.store, &id, ctx.now)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    after(&s, &ctx, &id, r, "reset").await
}

/// `POST /admin/licenses/{id}/machines/{machine}/deactivate`.
pub async fn deactivate_machine(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((id, machine)): ApiPath<(String, String)>,
    Form(f): Form<Confirm>,
) -> Response {
    let r = match f.check() {
        Ok(()) => rules::deactivate_machine(&s.store, &id, &machine, ctx.now).await,
        Err(e) => Err(e),
    };
    after(&s, &ctx, &id, r, "deactivated").await
}

/// `POST /admin/licenses/{id}/leases/{lease}/release`.
pub async fn release_lease(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((id, lease)): ApiPath<(String, String)>,
    Form(f): Form<Confirm>,
) -> Response {
    let r = match f.check() {
        Ok(()) => crate::core::leases::force_release(&s.store, &id, &lease, ctx.now)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    after(&s, &ctx, &id, r, "released").await
}

async fn after(
    s: &AppState,
    ctx: &Ctx,
    id: &str,
    r: Result<(), CoreError>,
    done: &str,
) -> Response {
    match r {
        Ok(()) => view::see_other(&format!(
            "/admin/licenses/{}?done={done}",
            id.to_ascii_lowercase()
        )),
        Err(e) => render_one(s, ctx, id, Notice::Error(e), None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_valid_through_that_whole_day() {
        let t = expiry("2027-01-31").expect("date").expect("some");
        assert_eq!(crate::routes::rfc3339(t), "2027-02-01T00:00:00Z");
        assert_eq!(expiry_date(Some(t)), "2027-01-31");
        assert!(expiry("31/01/2027").is_err());
        assert_eq!(expiry(" ").expect("empty"), None);
    }

    #[test]
    fn metadata_lines_need_an_equals_sign() {
        let m = metadata("order = A-1\n\nseats=3=4\n").expect("parsed");
        assert_eq!(m.get("order").map(String::as_str), Some("A-1"));
        assert_eq!(m.get("seats").map(String::as_str), Some("3=4"));
        assert!(metadata("no equals").is_err());
    }

    #[test]
    fn spreadsheet_formulas_are_written_as_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("Globex"), "Globex");
    }
}
