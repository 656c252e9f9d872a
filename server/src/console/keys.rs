//! The public keys served at `/signature.pem`, with their key ids, ready to copy into an
//! application.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::console::view::{self, Ctx, Nav, Notice};
use crate::state::AppState;

/// `GET /admin/keys`.
pub async fn page(State(s): State<AppState>, Extension(ctx): Extension<Ctx>) -> Response {
    let keys = s.signer.keys();
    let signing = keys.key.kid();
    let body = html! {
        p { "Applications check tokens with these public keys. Copy the whole block below into your application (or fetch it from " a href="/signature.pem" { "/signature.pem" } "); it holds no secret." }
        table {
            thead { tr { th scope="col" { "Key id" } th scope="col" { "Algorithm" } th scope="col" { "Use" } } }
            tbody {
                @for k in keys.keyring.keys() {
                    tr {
                        td { code { (licet_verifier::hex(k.kid())) } }
                        td { (k.algorithm().name()) }
                        td { @if k.kid() == signing { "signs new tokens" } @else { "checks older tokens" } }
                    }
                }
            }
        }
        h2 { label for="pem" { "signature.pem" } }
        textarea id="pem" class="pem" readonly rows="8" { (keys.signature_pem) }
    };
    view::page(Some(&ctx), Some(Nav::Keys), "Keys", &Notice::None, body).into_response()
}
