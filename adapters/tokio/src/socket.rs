//! tokio's UDP socket as the driver's [`DatagramSocket`].

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use utp_driver::{Batch, DatagramSocket, ErrorQueue, SocketError};

/// tokio's socket as the driver's [`DatagramSocket`]. Its `try_*` calls
/// (and `try_io` around quinn-udp's) clear tokio's readiness on
/// `WouldBlock`, as the loop needs. With `batch` (Linux), sends of equal
/// datagrams to one peer go out as one GSO call and receives take GRO
/// batches, through quinn-udp. ICMP errors (Linux) are read through
/// `try_io(Interest::ERROR)`, which clears the error readiness the loop
/// waits on once the queue is empty.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) io: UdpSocket,
    batch: Batch,
    pub(crate) errors: ErrorQueue,
    pub(crate) dual_stack: bool,
}

impl Socket {
    pub(crate) fn new(io: UdpSocket, batching: bool) -> Socket {
        let batch = Batch::new((&io).into(), batching);
        let errors = ErrorQueue::new(&io);
        let dual_stack = utp_driver::is_dual_stack(&io);
        Socket {
            io,
            batch,
            errors,
            dual_stack,
        }
    }
}

impl DatagramSocket for Socket {
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_recv_from(buf)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.io.try_send_to(buf, to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn max_send_segments(&self) -> usize {
        self.batch.max_send_segments()
    }

    fn try_send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, || {
            self.batch.send((&self.io).into(), buf, segment, to)
        })
    }

    fn try_recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        if !self.batch.is_on() {
            let (len, from) = self.io.try_recv_from(buf)?;
            return Ok((len, len, from));
        }
        self.io.try_io(Interest::READABLE, || {
            self.batch
                .recv((&self.io).into(), buf)
                .unwrap_or_else(|| Err(io::ErrorKind::Unsupported.into()))
        })
    }

    fn try_recv_error(&self) -> io::Result<Option<SocketError>> {
        if !self.errors.is_on() {
            return Ok(None);
        }
        // Only when tokio saw error readiness: free otherwise.
        let queued = self.io.try_io(Interest::ERROR, || {
            self.errors
                .recv(&self.io)?
                .ok_or_else(|| io::ErrorKind::WouldBlock.into())
        });
        match queued {
            Ok(error) => Ok(Some(error)),
            // Nothing queued, or tokio has not seen the readiness yet: the
            // loop's wait for it wakes the driver then.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_queue(&self) -> Option<utp_driver::RecvQueue> {
        utp_driver::recv_queue(&self.io)
    }

    fn dual_stack(&self) -> bool {
        self.dual_stack
    }
}
