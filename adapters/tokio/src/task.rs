//! The driver task: the loop of [`utp_driver`] on tokio, one per socket.
//! It drives the socket (a UDP socket's readiness, error queue and
//! writability; a [`Transport`](crate::Transport)'s own wakeups), runs the
//! timers, and once every handle is gone winds the connections down.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{Interest, Ready};
use tokio::time::Sleep;
use utp_core::Peer;

use crate::Shared;

/// How long the driver task keeps closing connections alive after the
/// last handle and stream are dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(30);
/// Loop turns in one poll of the driver task before it yields.
const TURNS_PER_POLL: usize = 16;

/// The driver task's future: the loop of [`utp_driver`].
pub(crate) struct DriverTask<P: Peer> {
    shared: Arc<Shared<P>>,
    sleep: Pin<Box<Sleep>>,
    /// Waits for error readiness (a queued ICMP error, Linux), which
    /// tokio's receive readiness does not include.
    errors: Option<ErrorWait>,
    /// When the last handle went away.
    orphaned: Option<Instant>,
    /// The tasks a turn woke, woken after the lock is released.
    woken: Vec<std::task::Waker>,
}

impl<P: Peer> DriverTask<P> {
    /// The loop for `shared`'s socket.
    pub(crate) fn new(shared: Arc<Shared<P>>) -> Self {
        DriverTask {
            shared,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            errors: None,
            orphaned: None,
            woken: Vec::new(),
        }
    }
}

impl<P: Peer + Send + 'static> Future for DriverTask<P> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.socket.set_task_waker(cx.waker());
        for _ in 0..TURNS_PER_POLL {
            let now = Instant::now();
            let (wait, orphaned) = {
                let mut d = this.shared.lock();
                let at = this.shared.clock.timestamp(now);
                let wait = d.drive_deferred(&*this.shared.socket, at, &mut this.woken);
                d.set_driver_waker(cx.waker());
                let orphaned = this.shared.handles.load(Ordering::Acquire) == 0;
                if orphaned && this.orphaned.is_none() {
                    // Nobody will accept: close the backlog, refuse new SYNs.
                    d.close_all(&*this.shared.socket, at);
                }
                (wait, orphaned.then(|| d.endpoint().connection_count()))
            };
            for w in this.woken.drain(..) {
                w.wake();
            }
            let mut deadline = wait.deadline.map(|t| this.shared.clock.instant(t));
            if let Some(connections) = orphaned {
                let since = *this.orphaned.get_or_insert(now);
                // Done once no connection is left and the last datagrams
                // (a final ACK) left the socket.
                if (connections == 0 && !wait.writable) || now >= since + CLOSE_GRACE {
                    return Poll::Ready(());
                }
                deadline =
                    Some(deadline.map_or(since + CLOSE_GRACE, |d| d.min(since + CLOSE_GRACE)));
            }
            if wait.again {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut ready = false;
            // A transport registered this task's waker in the calls that
            // found nothing to do; a UDP socket is polled for readiness.
            if let Some(udp) = this.shared.socket.udp() {
                let socket = &udp.io;
                match socket.poll_recv_ready(cx) {
                    Poll::Ready(Ok(())) => ready = true,
                    Poll::Ready(Err(e)) => return fail(&this.shared, e),
                    Poll::Pending => {}
                }
                if udp.errors.is_on() {
                    let shared = &this.shared;
                    let errors = this.errors.get_or_insert_with(|| error_wait(shared));
                    if let Poll::Ready(result) = errors.as_mut().poll(cx) {
                        this.errors = None;
                        match result {
                            Ok(_) => ready = true,
                            Err(e) => return fail(&this.shared, e),
                        }
                    }
                }
                if wait.writable {
                    match socket.poll_send_ready(cx) {
                        Poll::Ready(Ok(())) => ready = true,
                        Poll::Ready(Err(e)) => return fail(&this.shared, e),
                        Poll::Pending => {}
                    }
                }
            }
            if let Some(at) = deadline {
                let at = tokio::time::Instant::from_std(at);
                if this.sleep.deadline() != at {
                    this.sleep.as_mut().reset(at);
                }
                ready |= this.sleep.as_mut().poll(cx).is_ready();
            }
            if !ready {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A wait for the socket's error readiness.
type ErrorWait = Pin<Box<dyn Future<Output = io::Result<Ready>> + Send>>;

fn error_wait<P: Peer + Send + 'static>(shared: &Arc<Shared<P>>) -> ErrorWait {
    let shared = Arc::clone(shared);
    Box::pin(async move {
        match shared.socket.udp() {
            Some(udp) => udp.io.ready(Interest::ERROR).await,
            None => std::future::pending().await,
        }
    })
}

/// The socket failed: the loop ends.
fn fail<P: Peer>(shared: &Shared<P>, e: io::Error) -> Poll<()> {
    shared.lock().terminate(e.kind());
    Poll::Ready(())
}

impl<P: Peer> Drop for DriverTask<P> {
    /// The loop ended (or the runtime shut down): every waiter is woken and
    /// every later call fails.
    fn drop(&mut self) {
        self.shared.lock().terminate(io::ErrorKind::NotConnected);
    }
}
