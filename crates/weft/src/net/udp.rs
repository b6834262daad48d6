//! UDP: [`UdpSocket`], on `mio`'s non-blocking socket.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::{each_addr, Timeout};
use crate::runtime::reactor::{self, RegCell, READ, WRITE};

/// A UDP socket; a receive with nothing to receive (or a send with no room in the
/// socket's buffer) parks the calling green thread until it can go on.
///
/// Shaped like [`std::net::UdpSocket`]: datagrams are sent and received whole, a
/// datagram longer than the buffer is cut to fit (the rest is lost, as with std), and
/// the timeouts end a wait with [`io::ErrorKind::WouldBlock`].
///
/// ```
/// use weft::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// let to = b.local_addr()?;
/// let got = weft::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf)?; // parks this green thread only
///     Ok::<_, std::io::Error>((buf[..n].to_vec(), from))
/// });
/// a.send_to(b"ping", to)?;
/// let (data, from) = got.join().unwrap()?;
/// assert_eq!((data.as_slice(), from), (&b"ping"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    // Before `inner`: dropped (taken out of epoll) while the descriptor is open.
    reg: RegCell,
    inner: mio::net::UdpSocket,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (each address it resolves to is tried in turn).
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::bind`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, mio::net::UdpSocket::bind).map(|inner| UdpSocket {
            reg: RegCell::new(),
            inner,
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        })
    }

    /// Receives one datagram, waiting for one; returns its length (cut to `buf`) and
    /// sender.
    ///
    /// # Errors
    ///
    /// `WouldBlock` past the read timeout; else the operating system's, as std gives them.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io(READ, self.read_timeout.deadline(), || {
            self.inner.recv_from(buf)
        })
    }

    /// As [`recv_from`](Self::recv_from), but leaves the datagram queued.
    ///
    /// # Errors
    ///
    /// As `recv_from`.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io(READ, self.read_timeout.deadline(), || {
            self.inner.peek_from(buf)
        })
    }

    /// Sends `buf` as one datagram to `addr` (to the first address it resolves to, as
    /// std does), waiting for room in the socket's buffer.
    ///
    /// # Errors
    ///
    /// `WouldBlock` past the write timeout, `InvalidInput` when `addr` resolves to
    /// nothing; else the operating system's (a datagram too long is `EMSGSIZE`).
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let to = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.io(WRITE, self.write_timeout.deadline(), || {
            self.inner.send_to(buf, to)
        })
    }

    /// Sets the peer: [`send`](Self::send) goes to it and [`recv`](Self::recv) only
    /// takes its datagrams.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::connect`].
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.inner.connect(a))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` without [`connect`](Self::connect), as with std; a refusal by the peer
    /// (`ConnectionRefused`) may surface here from an earlier datagram; as std's.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io(WRITE, self.write_timeout.deadline(), || {
            self.inner.send(buf)
        })
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](Self::recv_from).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(READ, self.read_timeout.deadline(), || self.inner.recv(buf))
    }

    /// As [`recv`](Self::recv), but leaves the datagram queued.
    ///
    /// # Errors
    ///
    /// As `recv`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(READ, self.read_timeout.deadline(), || self.inner.peek(buf))
    }

    /// A second handle to the same socket (a duplicated descriptor), as std's
    /// `try_clone`. The timeouts are copied and then set apart.
    ///
    /// # Errors
    ///
    /// Out of descriptors (`EMFILE`), as std's.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        use std::os::fd::AsFd;
        let fd = self.inner.as_fd().try_clone_to_owned()?;
        let s = UdpSocket {
            reg: RegCell::new(),
            inner: mio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd)),
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        };
        s.read_timeout.set(self.read_timeout.get()).ok();
        s.write_timeout.set(self.write_timeout.get()).ok();
        Ok(s)
    }

    /// The address this socket is bound to.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sets the read timeout (`None`: wait for ever).
    ///
    /// # Errors
    ///
    /// A zero duration is `InvalidInput`, as with std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout)
    }

    /// Sets the write timeout (`None`: wait for ever).
    ///
    /// # Errors
    ///
    /// A zero duration is `InvalidInput`, as with std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// Never; a `Result` as std's.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// Never; a `Result` as std's.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
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

    /// Joins an IPv4 multicast group on `interface`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.join_multicast_v4(group, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.leave_multicast_v4(group, interface)
    }

    /// Joins an IPv6 multicast group on interface number `interface`.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.leave_multicast_v6(group, interface)
    }

    /// Sets whether multicast datagrams sent here loop back to this host.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.set_multicast_loop_v4(on)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
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

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.inner.local_addr().ok())
            .field("peer", &self.inner.peer_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}
