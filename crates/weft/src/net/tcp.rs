//! TCP: [`TcpListener`] and [`TcpStream`], on `mio`'s non-blocking sockets.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::{each_addr, Timeout};
use crate::runtime::reactor::{self, RegCell, READ, WRITE};

/// A TCP socket server, listening for connections; [`accept`](Self::accept) parks the
/// calling green thread until one comes.
///
/// ```
/// let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
/// assert!(listener.local_addr()?.port() != 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    // Before `inner`: dropped (taken out of epoll) while the descriptor is open.
    reg: RegCell,
    inner: mio::net::TcpListener,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (each address it resolves to is tried in
    /// turn).
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::bind`]: the address is in use, not available, not
    /// resolvable, and so on.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, mio::net::TcpListener::bind).map(|inner| TcpListener {
            inner,
            reg: RegCell::new(),
        })
    }

    /// Accepts a connection, waiting until one comes.
    ///
    /// # Errors
    ///
    /// The operating system's, as std gives them; out of descriptors (`EMFILE`) is
    /// returned and the listener stays usable: nothing is lost and nothing spins.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self.io(None, || self.inner.accept())?;
        Ok((TcpStream::from_mio(s), a))
    }

    /// An iterator over incoming connections, each [`accept`](Self::accept)'s result.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets the IP time-to-live of accepted sockets.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    fn io<R>(&self, deadline: Option<Instant>, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        reactor::io_op(self.inner.as_raw_fd(), &self.reg, READ, deadline, op)
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.inner.local_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

/// The connections of a [`TcpListener`], from [`TcpListener::incoming`]; never ends.
#[derive(Debug)]
#[must_use = "iterators do nothing unless iterated"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection. Reads and writes park the calling green thread while the socket
/// has no data (or no room); `&TcpStream` reads and writes too, as std's does.
///
/// ```
/// use std::io::Write;
/// let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut s = weft::net::TcpStream::connect(listener.local_addr()?)?;
/// s.set_nodelay(true)?;
/// s.write_all(b"ping")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    // Before `inner`: dropped (taken out of epoll) while the descriptor is open.
    reg: RegCell,
    inner: mio::net::TcpStream,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl TcpStream {
    fn from_mio(inner: mio::net::TcpStream) -> TcpStream {
        TcpStream {
            inner,
            reg: RegCell::new(),
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        }
    }

    /// Opens a connection to `addr` (each address it resolves to is tried in turn),
    /// waiting until it is established.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::connect`]: refused, unreachable, not resolvable...
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| Self::connect_until(a, None))
    }

    /// Opens a connection to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::connect_timeout`]; a zero timeout is `InvalidInput`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_until(*addr, Instant::now().checked_add(timeout))
    }

    fn connect_until(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let s = Self::from_mio(mio::net::TcpStream::connect(addr)?);
        // A non-blocking connect is in progress; it is done when the socket is writable:
        // then `SO_ERROR` says how it ended, and a peer address says it is connected.
        s.io(WRITE, deadline, || match s.inner.take_error()? {
            Some(e) => Err(e),
            None => match s.inner.peer_addr() {
                Ok(_) => Ok(()),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            },
        })
        .map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
            } else {
                e
            }
        })?;
        Ok(s)
    }

    /// A second handle to the same socket (a duplicated descriptor), as std's
    /// `try_clone`: one green thread can read while another writes. The timeouts are
    /// copied and then set apart.
    ///
    /// # Errors
    ///
    /// Out of descriptors (`EMFILE`), as std's.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        use std::os::fd::AsFd;
        let fd = self.inner.as_fd().try_clone_to_owned()?;
        let s = TcpStream::from_mio(mio::net::TcpStream::from_std(std::net::TcpStream::from(fd)));
        s.read_timeout.set(self.read_timeout.get()).ok();
        s.write_timeout.set(self.write_timeout.get()).ok();
        Ok(s)
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As std's (`NotConnected`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Sets how long a read may wait (`None`: for ever); a read that waits longer fails
    /// with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration, as std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout)
    }

    /// Sets how long a write may wait (`None`: for ever); a write that waits longer fails
    /// with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration, as std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// Never (the `Result` is std's signature).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// Never (the `Result` is std's signature).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    /// Reads without removing the data from the queue, waiting for some.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(READ, self.read_timeout.deadline(), || self.inner.peek(buf))
    }

    fn io<R>(
        &self,
        interest: usize,
        deadline: Option<Instant>,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        reactor::io_op(self.inner.as_raw_fd(), &self.reg, interest, deadline, op)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s: &TcpStream = self;
        s.io(READ, s.read_timeout.deadline(), || (&s.inner).read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let s: &TcpStream = self;
        s.io(READ, s.read_timeout.deadline(), || {
            (&s.inner).read_vectored(bufs)
        })
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s: &TcpStream = self;
        s.io(WRITE, s.write_timeout.deadline(), || (&s.inner).write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let s: &TcpStream = self;
        s.io(WRITE, s.write_timeout.deadline(), || {
            (&s.inner).write_vectored(bufs)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.inner.local_addr().ok())
            .field("peer", &self.inner.peer_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}
