//! The one panic boundary every exported function goes through (rustls-ffi's way).
//!
//! Unwinding out of an `extern "C"` function aborts the process (Rust 1.81+), so a bug in
//! the verifier would take the C application down with it. The verifier is written not to
//! panic on any input; this boundary is the second line: a panic becomes
//! [`licet_status::LICET_PANIC`] (or the function's documented default) instead.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, returning `on_panic` if it panics.
///
/// `AssertUnwindSafe` is sound here: a panic abandons the call, and nothing `f` was
/// half-way through mutating is visible afterwards (the out-parameters are written only
/// after `f`'s work succeeded, and inputs are borrowed immutably).
pub(crate) fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

#[cfg(test)]
mod tests {
    use super::boundary;
    use crate::licet_status;

    #[test]
    fn a_panic_becomes_the_default_and_a_value_passes_through() {
        assert_eq!(
            boundary(licet_status::LICET_PANIC, || panic!("a bug")),
            licet_status::LICET_PANIC
        );
        assert_eq!(
            boundary(licet_status::LICET_PANIC, || licet_status::LICET_OK),
            licet_status::LICET_OK
        );
    }
}
