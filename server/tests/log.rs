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

/// A SIGTERM sent as soon as the server says it listens (a service manager stopping it
/// right after start) stops it cleanly: the handler is installed before that line is
/// printed, not when the serve task first runs.
#[test]
fn a_sigterm_right_after_start_stops_cleanly() {
    // The window is short; busy threads on every core (as a loaded CI machine has) widen it
    // enough that the old server, which installed the handler in its serve task, was killed
    // by the signal in most runs of this loop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let spinners: Vec<_> = (0..cores * 4)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let statuses: Vec<_> = (0..20)
        .map(|_| {
            let dir = tempfile::tempdir().expect("tempdir");
            Process::start(&common::data_dir(&dir), &[]).terminate()
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in spinners {
        s.join().expect("spinner");
    }
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}
