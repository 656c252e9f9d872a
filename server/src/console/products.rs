//! Products: list, create, edit the support message, delete (refused while licenses use it).

use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::console::Form;
use crate::console::view::{self, Ctx, Nav, Notice, csrf, path_part};
use crate::core::CoreError;
use crate::core::admin as rules;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Extension;

/// `?done=` of the product pages.
#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

fn done(d: &Done) -> Notice {
    match d.done.as_deref() {
        Some("created") => Notice::Done("Product created."),
        Some("updated") => Notice::Done("Support message saved."),
        Some("deleted") => Notice::Done("Product deleted."),
        _ => Notice::None,
    }
}

/// `GET /admin/products`.
pub async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiQuery(d): ApiQuery<Done>,
) -> Response {
    render_list(&s, &ctx, done(&d), &NewProduct::default()).await
}

async fn render_list(s: &AppState, ctx: &Ctx, notice: Notice, form: &NewProduct) -> Response {
    let products = match rules::list_products(&s.store).await {
        Ok(p) => p,
        Err(e) => return view::error_page(Some(ctx), e),
    };
    let body = html! {
        section {
            @if products.is_empty() {
                p { "No products yet: create the first one below." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Support message" } th scope="col" { "Created" } } }
                    tbody {
                        @for p in &products {
                            tr {
                                td { a href={ "/admin/products/" (path_part(&p.name)) } { (p.name) } }
                                td { (p.support_message.as_deref().unwrap_or("—")) }
                                td { (view::time(p.created_at, ctx.now)) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "New product" }
            form.card method="post" action="/admin/products" {
                (csrf(ctx))
                label for="name" { "Name" }
                input id="name" name="name" required maxlength="64" value=(form.name);
                p.hint { "The name is the audience of every token issued for it and never changes." }
                label for="support_message" { "Support message (optional)" }
                textarea id="support_message" name="support_message" rows="2" { (form.support_message) }
                button type="submit" { "Create product" }
            }
        }
    };
    view::respond(Some(ctx), Some(Nav::Products), "Products", notice, body)
}

/// The new-product form.
#[derive(Debug, Default, Deserialize)]
pub struct NewProduct {
    #[serde(default)]
    name: String,
    #[serde(default)]
    support_message: String,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `POST /admin/products`.
pub async fn create(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<NewProduct>,
) -> Response {
    match rules::create_product(
        &s.store,
        f.name.trim().to_owned(),
        opt(&f.support_message),
        ctx.now,
    )
    .await
    {
        Ok(_) => view::see_other("/admin/products?done=created"),
        Err(e) => render_list(&s, &ctx, Notice::Error(e), &f).await,
    }
}

/// `GET /admin/products/{name}`.
pub async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(d): ApiQuery<Done>,
) -> Response {
    render_one(&s, &ctx, &name, done(&d)).await
}

async fn render_one(s: &AppState, ctx: &Ctx, name: &str, notice: Notice) -> Response {
    let p = match rules::get_product(&s.store, name).await {
        Ok(p) => p,
        Err(e) => return view::error_page(Some(ctx), e),
    };
    let here = format!("/admin/products/{}", path_part(&p.name));
    let body = html! {
        p { "Created " (view::time(p.created_at, ctx.now)) "; changed " (view::time(p.updated_at, ctx.now)) "." }
        p { a href={ "/admin/licenses?product=" (path_part(&p.name)) } { "This product's licenses" } }
        p {
            "Keyless trials: "
            @match &p.trial_policy {
                Some(t) => { "made from policy " strong { (t) } " (set through the admin API: PATCH /v1/admin/products/{name} with trial_policy)." }
                None => { "not offered (to offer them, set trial_policy through the admin API)." }
            }
        }
        section {
            h2 { "Support message" }
            form.card method="post" action=(here) {
                (csrf(ctx))
                label for="support_message" { "Shown to end users when a check fails (empty: none)" }
                textarea id="support_message" name="support_message" rows="3" { (p.support_message.as_deref().unwrap_or("")) }
                button type="submit" { "Save" }
            }
        }
        section {
            h2 { "Delete" }
            form.card.danger method="post" action={ (here) "/delete" } {
                (csrf(ctx))
                p { "A product is deleted only when no license uses it." }
                label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, delete product " strong { (p.name) } }
                button type="submit" { "Delete product" }
            }
        }
    };
    let title = format!("Product {}", p.name);
    view::respond(Some(ctx), Some(Nav::Products), &title, notice, body)
}

/// The support-message form.
#[derive(Debug, Deserialize)]
pub struct Support {
    #[serde(default)]
    support_message: String,
}

/// `POST /admin/products/{name}`.
pub async fn update(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(name): ApiPath<String>,
    Form(f): Form<Support>,
) -> Response {
    match rules::update_product(
        &s.store,
        name.clone(),
        Some(opt(&f.support_message)),
        ctx.now,
        None,
    )
    .await
    {
        Ok(_) => view::see_other(&format!(
            "/admin/products/{}?done=updated",
            path_part(&name)
        )),
        Err(e) => render_one(&s, &ctx, &name, Notice::Error(e)).await,
    }
}

/// A destructive action's form: its confirmation box.
#[derive(Debug, Deserialize)]
pub struct Confirm {
    /// `yes` when the box was ticked.
    #[serde(default)]
    pub confirm: String,
}

impl Confirm {
    /// Whether the box was ticked; else the refusal that says to tick it.
    ///
    /// # Errors
    /// `BAD_REQUEST` asking for the confirmation.
    pub fn check(&self) -> Result<(), CoreError> {
        if self.confirm == "yes" {
            Ok(())
        } else {
            Err(CoreError::BadRequest(
                "nothing was changed: tick the confirmation box to go ahead".into(),
            ))
        }
    }
}

/// `POST /admin/products/{name}/delete`.
pub async fn delete(
    State(s): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(name): ApiPath<String>,
    Form(f): Form<Confirm>,
) -> Response {
    let r = match f.check() {
        Ok(()) => rules::delete_product(&s.store, name.clone(), ctx.now).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => view::see_other("/admin/products?done=deleted"),
        Err(e) => render_one(&s, &ctx, &name, Notice::Error(e)).await,
    }
}
