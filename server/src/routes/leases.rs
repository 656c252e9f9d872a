//! Floating licenses (leases): obtain, renew, release, validate.

use axum::Router;

use crate::state::AppState;

/// Adds the lease routes of the client API.
pub fn client_routes(r: Router<AppState>) -> Router<AppState> {
    r
}

/// Adds the lease routes of the admin API.
pub fn admin_routes(r: Router<AppState>) -> Router<AppState> {
    r
}
