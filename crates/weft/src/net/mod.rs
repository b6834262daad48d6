//! Sockets for green threads: a call that would block parks only the calling green
//! thread, and its worker runs others meanwhile.
//!
//! The survey's warning is that "if one green thread makes a blocking call, the whole
//! kernel thread is blocked", and its fix that "all I/O operations need to be
//! non-blocking, which the runtime needs to coordinate". These types are that fix. They
//! are shaped like `std::net` ([`std::io::Read`] and [`std::io::Write`], timeouts,
//! `shutdown`), so blocking code reads as it would with std:
//!
//! ```
//! use std::io::{Read, Write};
//! use weft::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = weft::spawn(move || -> std::io::Result<()> {
//!     let (mut conn, _) = listener.accept()?; // parks this green thread only
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf)?;
//!     conn.write_all(&buf)
//! });
//! let client = weft::spawn(move || -> std::io::Result<Vec<u8>> {
//!     let mut s = TcpStream::connect(addr)?;
//!     s.write_all(b"hello")?;
//!     let mut back = vec![0; 5];
//!     s.read_exact(&mut back)?;
//!     Ok(back)
//! });
//! assert_eq!(client.join().unwrap()?, b"hello");
//! server.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The descriptors are non-blocking. On a green thread an operation that finds no data
//! (or no room, or no connection to accept) waits in its worker's reactor (epoll; see
//! `runtime/reactor.rs`); on a kernel thread it waits in `poll(2)`, so the same socket
//! behaves as std's there. A timeout set with `set_read_timeout`/`set_write_timeout`
//! ends a wait with [`std::io::ErrorKind::WouldBlock`], as std's does on Linux. Errors are
//! the operating system's, as std reports them (a reset connection is `ConnectionReset`,
//! a listener out of descriptors gets `EMFILE` from `accept`, and so on).

mod tcp;
mod udp;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// A timeout kept as nanoseconds in an atomic (0: none), so it can be changed through
/// `&self` as std allows.
#[derive(Default)]
pub(crate) struct Timeout(AtomicU64);

impl Timeout {
    pub(crate) fn set(&self, d: Option<Duration>) -> io::Result<()> {
        let nanos = match d {
            None => 0,
            // std refuses a zero timeout the same way.
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        };
        self.0.store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// The deadline of an operation starting now (`None` when there is no timeout or
    /// it is too far to represent).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.get().and_then(|d| Instant::now().checked_add(d))
    }
}

/// Tries each address `f` accepts, as std does: the first success, else the last error.
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
