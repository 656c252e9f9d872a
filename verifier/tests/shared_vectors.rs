//! How the suites that read `../shared/vectors` find them, and when their absence fails.

mod common;

use common::locate;

#[test]
fn missing_vectors_are_a_skip_outside_ci_and_a_failure_under_ci() {
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let absent = here.join("no-such-folder");
    assert_eq!(locate(None, false, &absent), Ok(None));
    let err = locate(None, true, &absent).expect_err("under CI a missing folder fails");
    assert!(err.contains("CI is set"), "{err}");
    // A folder named by the variable, or found beside the repository, is used either way.
    assert_eq!(
        locate(Some(here.clone().into()), true, &absent),
        Ok(Some(here.clone()))
    );
    assert_eq!(locate(None, true, &here), Ok(Some(here.clone())));
    // A variable that names no folder is a broken set-up, CI or not.
    assert!(locate(Some(absent.clone().into()), false, &here).is_err());
}
