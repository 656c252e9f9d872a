//! Who may call the admin API: `Authorization: Bearer <token>` (the scheme in any case,
//! RFC 9110 §11.1), the bootstrap token or a named one ([`crate::core::tokens`]), and the
//! one scope each admin route needs ([`required_scope`]).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::tokens::{self, Caller, Scope};
use crate::error::ApiError;
use crate::state::AppState;

/// The scope an admin route needs: exactly one per route and method, `admin` covering all.
/// `route` is the route's pattern under `/v1/admin` (`/licenses/{id}`).
///
/// A route missing from this table needs `admin`: a route added later is closed to scoped
/// tokens until it is given a scope here, never open by mistake.
pub fn required_scope(method: &Method, route: &str) -> Scope {
    let read = *method == Method::GET || *method == Method::HEAD;
    match route {
        "/products"
        | "/products/{name}"
        | "/licenses"
        | "/licenses/{id}"
        | "/licenses/{id}/machines"
        | "/licenses/{id}/leases"
        | "/policies"
        | "/policies/{product}/{name}"
            if read =>
        {
            Scope::LicensesRead
        }
        "/products" | "/products/{name}" | "/policies" | "/policies/{product}/{name}" => {
            Scope::ProductsWrite
        }
        "/licenses"
        | "/licenses/bulk"
        | "/licenses/{id}"
        | "/licenses/{id}/suspend"
        | "/licenses/{id}/reinstate"
        | "/licenses/{id}/revoke"
        | "/licenses/{id}/reissue" => Scope::LicensesWrite,
        "/licenses/{id}/machines"
        | "/licenses/{id}/machines/{machine}"
        | "/licenses/{id}/leases/{lease}/release" => Scope::MachinesWrite,
        "/audit" if read => Scope::AuditRead,
        "/deny" if read => Scope::DenyRead,
        "/deny" | "/deny/{id}" => Scope::DenyWrite,
        // `/backup` (every record and every token hash), `/tokens…`, `/keys…` (what signs
        // every token), and anything new.
        _ => Scope::Admin,
    }
}

/// The middleware on the admin routes: 401 `UNAUTHORIZED` without a valid token, 403
/// `SCOPE_MISSING` when the token lacks the route's scope.
pub async fn require_scope(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(presented) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.as_bytes())))
    else {
        return ApiError::Unauthorized.into_response();
    };
    let caller = if bool::from(presented.ct_eq(&s.admin_token_sha256)) {
        Caller::bootstrap()
    } else {
        match tokens::authenticate(&s.store, presented).await {
            Ok(Some(c)) => c,
            Ok(None) => return ApiError::Unauthorized.into_response(),
            Err(e) => return e.into_response(),
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |p| p.as_str());
    let route = route.strip_prefix("/v1/admin").unwrap_or(route);
    let needed = required_scope(req.method(), route);
    if let Some(id) = &caller.token_id {
        // A refused use is a use too: the listing shows a token someone still tries.
        s.last_use.note(id, s.now());
    }
    if !caller.may(needed) {
        return ApiError::ScopeMissing {
            needed: needed.as_str(),
        }
        .into_response();
    }
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without
/// regard to case (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme) and may be
/// followed by more than one space.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        for v in ["Bearer t", "bearer t", "BEARER  t", "BeArEr t"] {
            assert_eq!(bearer(v), Some("t"), "{v}");
        }
        for v in ["Basic t", "Bearer", "Bearer ", "Bearert"] {
            assert_eq!(bearer(v), None, "{v}");
        }
    }

    #[test]
    fn an_unknown_route_needs_admin() {
        assert_eq!(required_scope(&Method::GET, "/new-thing"), Scope::Admin);
        assert_eq!(required_scope(&Method::GET, "/backup"), Scope::Admin);
        assert_eq!(required_scope(&Method::POST, "/audit"), Scope::Admin);
        assert_eq!(
            required_scope(&Method::GET, "/licenses"),
            Scope::LicensesRead
        );
        assert_eq!(
            required_scope(&Method::POST, "/licenses"),
            Scope::LicensesWrite
        );
    }
}
