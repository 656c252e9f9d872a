//! A held floating seat: a background thread renews its lease at about half the time the
//! lease has left, and releases it when the seat is released or dropped.
//!
//! Why half the remaining time: the first renewal then comes at half the TTL, which leaves
//! the other half for retries when the server or the network is down for a while: each
//! failed attempt waits half of what is left again (never less than [`MIN_WAIT`]), so a
//! short outage costs a few quick retries, and the seat is reported lost only when the
//! lease has really run out. Renewing much earlier would multiply the server's load for no
//! gain; much later would leave no room to retry.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Client, Error, Lease, is_final};

/// Shortest wait between two renewal attempts, so that retries near the deadline do not
/// turn into a busy loop.
pub(crate) const MIN_WAIT: Duration = Duration::from_millis(250);

/// The state of a held seat.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatStatus {
    /// The seat is held; without renewal the server frees it at `expires_at`.
    Held {
        /// The lease id, hex.
        lease_id: String,
        /// Seconds since 1970.
        expires_at: u64,
    },
    /// The seat is gone: the server refused a renewal (the error's code says why:
    /// `LEASE_EXPIRED`, `KEY_SUSPENDED`, …), or could not be reached before the lease ran
    /// out (`NETWORK`). The application should stop using what the seat allows;
    /// [`Client::hold_seat`] asks for a new one.
    Lost(Error),
    /// The seat was released (a release that failed is reported as `Lost`).
    Released,
}

type Callback = Box<dyn FnMut(&SeatStatus) + Send>;

struct Shared {
    status: SeatStatus,
    lease: Lease,
}

/// A floating seat held by this application. Dropping it stops the renewals and releases
/// the seat (best effort, waiting at most the client's request timeout).
pub struct Seat {
    shared: Arc<Mutex<Shared>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

pub(crate) fn start(client: Client, lease: Lease, lock: Option<File>, on_change: Callback) -> Seat {
    let shared = Arc::new(Mutex::new(Shared {
        status: held(&lease),
        lease: lease.clone(),
    }));
    let (stop, stopped) = mpsc::channel();
    let renewer = Renewer {
        client,
        lease,
        lock,
        shared: Arc::clone(&shared),
        on_change,
    };
    let thread = std::thread::Builder::new()
        .name("licet-seat".into())
        .spawn(move || renewer.run(&stopped));
    match thread {
        Ok(thread) => Seat {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        },
        // No thread: the seat is held but will not be renewed; say so at once rather
        // than let it lapse silently.
        Err(e) => {
            if let Ok(mut s) = shared.lock() {
                s.status = SeatStatus::Lost(Error::Config {
                    reason: format!("cannot start the renewal thread: {e}"),
                });
            }
            Seat {
                shared,
                stop: None,
                thread: None,
            }
        }
    }
}

fn held(lease: &Lease) -> SeatStatus {
    SeatStatus::Held {
        lease_id: lease.id(),
        expires_at: lease.expires_at(),
    }
}

impl Seat {
    /// The seat's state now. A lease that ran out while a renewal was still under way is
    /// reported lost even before that renewal gives up.
    pub fn status(&self) -> SeatStatus {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        match &s.status {
            SeatStatus::Held { .. } if s.lease.remaining().is_zero() => {
                SeatStatus::Lost(Error::Network {
                    message: "the lease ran out before a renewal got through".into(),
                })
            }
            other => other.clone(),
        }
    }

    /// Whether the seat is held now.
    pub fn is_held(&self) -> bool {
        matches!(self.status(), SeatStatus::Held { .. })
    }

    /// The current lease (its token changes with each renewal).
    pub fn lease(&self) -> Lease {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lease
            .clone()
    }

    /// Stops the renewals and releases the seat, so that another user can have it at once.
    ///
    /// # Errors
    /// The server's refusal (the seat is not held either way) or [`Error::Network`] (the
    /// seat is then freed by the server when the lease expires).
    pub fn release(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        // Dropping the sender wakes the thread: it releases the lease and ends.
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Ok(()),
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

struct Renewer {
    client: Client,
    lease: Lease,
    /// The seat lock: held while this thread runs; when it was taken, the lease is the
    /// store's and is written there after each renewal.
    lock: Option<File>,
    shared: Arc<Mutex<Shared>>,
    on_change: Callback,
}

impl Renewer {
    fn run(mut self, stopped: &mpsc::Receiver<()>) -> Result<(), Error> {
        loop {
            let wait = (self.lease.remaining() / 2).max(MIN_WAIT);
            match stopped.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Stopped (the sender dropped): give the seat back.
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return self.release(),
            }
            match self.client.renew_lease(&self.lease) {
                Ok(lease) => {
                    self.lease = lease;
                    self.store(true);
                    self.set(held(&self.lease));
                }
                Err(e) if is_final(&e) || self.lease.remaining().is_zero() => {
                    self.store(false);
                    self.set(SeatStatus::Lost(e));
                    return Ok(());
                }
                // The network or the server failed: try again at half of what is left.
                Err(_) => {}
            }
        }
    }

    fn release(mut self) -> Result<(), Error> {
        let result = self.client.release_lease(&self.lease);
        // Kept when the server could not be reached: a restart can still take it back,
        // and else it expires.
        if result.as_ref().is_ok() || result.as_ref().is_err_and(is_final) {
            self.store(false);
        }
        self.set(match &result {
            Ok(()) => SeatStatus::Released,
            Err(e) => SeatStatus::Lost(e.clone()),
        });
        result
    }

    /// Writes the current lease to the store (`keep`) or removes it, when this process
    /// holds the seat lock. Best effort: the store only helps a restart.
    fn store(&self, keep: bool) {
        if self.lock.is_some() {
            let _ = self.client.store_lease(keep.then_some(&self.lease));
        }
    }

    fn set(&mut self, status: SeatStatus) {
        if let Ok(mut s) = self.shared.lock() {
            s.status = status.clone();
            s.lease = self.lease.clone();
        }
        // The application's callback must not take the renewals down with it.
        let _ = catch_unwind(AssertUnwindSafe(|| (self.on_change)(&status)));
    }
}
