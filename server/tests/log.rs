//! The real binary's log, as an operator reads it from a pipe, a file or a journal.

mod common;

use common::Process;

#[test]
fn the_log_to_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Process::start(&common::data_dir(&dir), &[("RUST_LOG", "info")]);
    let log = server.startup.join("\n");
    // The start-up log is there (a new key and the listening line), so the check below
    // looked at real log lines.
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.contains("INFO") && l.contains("licet-server listening")),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a log written to a pipe: {log:?}"
    );
    assert!(server.terminate().success());
}
