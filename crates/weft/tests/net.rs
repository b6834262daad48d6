//! `weft::net` and `weft::blocking`: sockets on loopback from green and kernel threads,
//! timeouts, resets, back-pressure, and that a waiting green thread leaves its worker to
//! the others.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::net::{TcpListener, TcpStream, UdpSocket};

fn runtime(workers: usize) -> weft::Runtime {
    weft::Runtime::builder().workers(workers).build().unwrap()
}

/// Echoes everything read back to the sender until end of stream; the bytes echoed.
fn echo(mut s: TcpStream) -> io::Result<usize> {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n;
    }
}

/// Sends `rounds` messages of `size` bytes, each checked when it comes back; closes the
/// write half at the end and expects end of stream.
fn client(addr: SocketAddr, id: usize, rounds: usize, size: usize) -> io::Result<usize> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut back = vec![0u8; size];
    for r in 0..rounds {
        let msg: Vec<u8> = (0..size).map(|i| (id * 31 + r * 7 + i) as u8).collect();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        assert_eq!(back, msg, "client {id} round {r}");
    }
    s.shutdown(Shutdown::Write)?;
    assert_eq!(s.read(&mut back)?, 0, "end of stream after the echo");
    Ok(rounds * size)
}

/// Many green clients against a green server on two workers: every byte comes back, in
/// order, and the server's count matches the clients'.
#[test]
fn green_threads_echo_every_byte() {
    let rt = runtime(2);
    let (conns, rounds, size) = (40, 20, 1500);
    let (sent, echoed) = rt.block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(move || {
            let handlers: Vec<_> = (0..conns)
                .map(|_| {
                    let (s, _) = listener.accept().unwrap();
                    weft::spawn(move || echo(s).unwrap())
                })
                .collect();
            handlers
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<usize>()
        });
        let clients: Vec<_> = (0..conns)
            .map(|id| weft::spawn(move || client(addr, id, rounds, size).unwrap()))
            .collect();
        let sent: usize = clients.into_iter().map(|h| h.join().unwrap()).sum();
        (sent, server.join().unwrap())
    });
    assert_eq!(sent, conns * rounds * size);
    assert_eq!(echoed, sent);
}

/// On kernel threads the same types block as std's do; a kernel client talks to a green
/// server and a green client to a kernel server.
#[test]
fn kernel_threads_block_as_with_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        echo(s).unwrap()
    });
    assert_eq!(client(addr, 1, 10, 300).unwrap(), 3000);
    assert_eq!(server.join().unwrap(), 3000);

    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let green_server = rt.spawn(move || {
        let (s, _) = listener.accept().unwrap();
        echo(s).unwrap()
    });
    assert_eq!(client(addr, 2, 10, 300).unwrap(), 3000);
    assert_eq!(green_server.join().unwrap(), 3000);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let kernel_server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        echo(s).unwrap()
    });
    let green_client = rt.spawn(move || client(addr, 3, 10, 300).unwrap());
    assert_eq!(green_client.join().unwrap(), 3000);
    assert_eq!(kernel_server.join().unwrap(), 3000);
}

/// Counts, on a green thread of its own, while `go` holds: the proof that the worker
/// kept running other green threads.
fn ticker(rt: &weft::Runtime, go: Arc<AtomicBool>) -> (Arc<AtomicUsize>, weft::JoinHandle<()>) {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let h = rt.spawn(move || {
        while go.load(Ordering::Acquire) {
            t.fetch_add(1, Ordering::Relaxed);
            weft::sleep(Duration::from_millis(1));
        }
    });
    (ticks, h)
}

/// A green thread waiting in `accept` on a one-worker runtime leaves the worker to the
/// others; the connection, when it comes, is accepted.
#[test]
fn a_waiting_accept_parks_only_its_green_thread() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let go = Arc::new(AtomicBool::new(true));
    let (ticks, tick) = ticker(&rt, go.clone());
    let acceptor = rt.spawn(move || listener.accept().map(|(_, peer)| peer));
    std::thread::sleep(Duration::from_millis(60));
    let during = ticks.load(Ordering::Relaxed);
    assert!(
        during >= 5,
        "the other green thread ran only {during} times"
    );
    let c = std::net::TcpStream::connect(addr).unwrap();
    assert_eq!(acceptor.join().unwrap().unwrap(), c.local_addr().unwrap());
    go.store(false, Ordering::Release);
    tick.join().unwrap();
}

/// A read timeout ends the wait with `WouldBlock` no earlier than the timeout; data that
/// comes before the timeout is read.
#[test]
fn read_timeouts_end_the_wait_and_data_still_arrives() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s
    });
    let r = rt.block_on(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        assert!(s.set_read_timeout(Some(Duration::ZERO)).is_err());
        s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(30)));
        let t = Instant::now();
        let mut buf = [0u8; 8];
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
        s
    });
    let mut theirs = peer.join().unwrap();
    theirs.write_all(b"late").unwrap();
    let got = rt.block_on(move || {
        let mut s = r;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    assert_eq!(&got, b"late");
}

/// A peer that resets the connection (`SO_LINGER` 0, then close) makes the waiting read
/// fail with `ConnectionReset`, as std reports it.
#[test]
fn a_reset_connection_is_an_error() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = rt.spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 16];
        s.read(&mut buf)
    });
    let c = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket, a `linger` value of the right size for SO_LINGER.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&c),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(c);
    let e = reader.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
}

/// A peer that never reads: writes fill the socket buffers, then the writer waits
/// (parked: the worker's other green thread keeps running) until its write timeout.
#[test]
fn a_peer_that_never_reads_holds_the_writer_without_spinning() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = std::thread::spawn(move || listener.accept().unwrap().0);
    let go = Arc::new(AtomicBool::new(true));
    let (ticks, tick) = ticker(&rt, go.clone());
    let writer = rt.spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(80)))
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0usize;
        loop {
            match s.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => return (written, e.kind(), s),
            }
        }
    });
    let (written, kind, _s) = writer.join().unwrap();
    go.store(false, Ordering::Release);
    tick.join().unwrap();
    assert_eq!(kind, io::ErrorKind::WouldBlock);
    assert!(written > 0, "the buffers took nothing");
    let ran = ticks.load(Ordering::Relaxed);
    assert!(ran >= 5, "the other green thread ran only {ran} times");
    drop(silent.join().unwrap());
}

/// Connecting to a port nobody listens on is refused, on green and kernel threads.
#[test]
fn refused_connections_are_errors() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = TcpStream::connect(port).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    let rt = runtime(1);
    let e = rt
        .block_on(move || TcpStream::connect(port).map(drop))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert!(TcpListener::bind("256.0.0.1:0").is_err());
}

/// `blocking` runs its closure on a pool thread while the caller's worker runs other
/// green threads; its value comes back, and so does its panic.
#[test]
fn blocking_calls_leave_the_worker_to_others() {
    let rt = runtime(1);
    let go = Arc::new(AtomicBool::new(true));
    let (ticks, tick) = ticker(&rt, go.clone());
    let name = rt.block_on(|| {
        weft::blocking(|| {
            std::thread::sleep(Duration::from_millis(60));
            std::thread::current().name().map(str::to_owned)
        })
    });
    assert_eq!(name.as_deref(), Some("weft-blocking"));
    let ran = ticks.load(Ordering::Relaxed);
    assert!(ran >= 5, "the other green thread ran only {ran} times");
    go.store(false, Ordering::Release);
    tick.join().unwrap();

    let r = rt.spawn(|| weft::blocking(|| panic!("in the pool"))).join();
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"in the pool"));

    // Many at once, each gets its own value back.
    let hs: Vec<_> = (0..32)
        .map(|i| rt.spawn(move || weft::blocking(move || i * 3)))
        .collect();
    let got: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, (0..32).map(|i| i * 3).collect::<Vec<_>>());
    // On a kernel thread it runs right there.
    assert_eq!(
        weft::blocking(|| std::thread::current().id()),
        std::thread::current().id()
    );
}

/// The socket types cross threads and are shared as std's are.
#[test]
fn socket_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<TcpListener>();
    assert_send_sync::<TcpStream>();
    assert_send_sync::<UdpSocket>();
    fn assert_send<T: Send + std::fmt::Debug>() {}
    assert_send::<weft::net::Incoming<'static>>();
}

/// UDP between green threads on one worker and a kernel thread: every datagram arrives
/// whole and in order (loopback does not drop or reorder below its buffer), a waiting
/// `recv_from` parks only its green thread, and the replies find their senders.
#[test]
fn udp_datagrams_between_green_and_kernel_threads() {
    const N: usize = 500;
    let rt = runtime(1);
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let go = Arc::new(AtomicBool::new(true));
    let (ticks, tick) = ticker(&rt, go.clone());
    // A green server: echoes each datagram to its sender, reversed.
    let srv = rt.spawn(move || -> io::Result<usize> {
        let mut buf = [0u8; 64];
        for k in 0..2 * N {
            let (n, from) = server.recv_from(&mut buf)?;
            buf[..n].reverse();
            assert_eq!(server.send_to(&buf[..n], from)?, n, "datagram {k}");
        }
        Ok(2 * N)
    });
    // One green client, connected, and one kernel-thread client, unconnected.
    let green = rt.spawn(move || -> io::Result<()> {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.connect(addr)?;
        let mut back = [0u8; 64];
        for i in 0..N {
            let msg = format!("green {i}");
            s.send(msg.as_bytes())?;
            let n = s.recv(&mut back)?;
            let want: Vec<u8> = msg.bytes().rev().collect();
            assert_eq!(&back[..n], &want[..]);
        }
        Ok(())
    });
    std::thread::sleep(Duration::from_millis(30));
    let during = ticks.load(Ordering::Relaxed);
    let kernel = std::thread::spawn(move || -> io::Result<()> {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        let mut back = [0u8; 64];
        for i in 0..N {
            let msg = format!("kernel {i}");
            s.send_to(msg.as_bytes(), addr)?;
            let (n, from) = s.recv_from(&mut back)?;
            assert_eq!(from, addr);
            let want: Vec<u8> = msg.bytes().rev().collect();
            assert_eq!(&back[..n], &want[..]);
        }
        Ok(())
    });
    kernel.join().unwrap().unwrap();
    green.join().unwrap().unwrap();
    assert_eq!(srv.join().unwrap().unwrap(), 2 * N);
    go.store(false, Ordering::Release);
    tick.join().unwrap();
    assert!(during >= 5, "the ticker ran only {during} times");
}

/// UDP's bad input and timeouts: a receive timeout ends with `WouldBlock`, a datagram
/// too long for the buffer is cut, an unconnected `send` and an unresolvable
/// destination are errors, and a zero timeout is refused as std refuses it.
#[test]
fn udp_timeouts_truncation_and_errors() {
    let rt = runtime(1);
    rt.block_on(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(b.read_timeout().unwrap(), Some(Duration::from_millis(30)));
        let t = Instant::now();
        let e = b.recv_from(&mut [0; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(t.elapsed() >= Duration::from_millis(30));
        // Cut to the buffer; the rest of the datagram is gone.
        a.send_to(b"0123456789", b.local_addr().unwrap()).unwrap();
        a.send_to(b"next", b.local_addr().unwrap()).unwrap();
        let mut small = [0u8; 4];
        let (n, _) = b.peek_from(&mut small).unwrap();
        assert_eq!(&small[..n], b"0123");
        let (n, _) = b.recv_from(&mut small).unwrap();
        assert_eq!(&small[..n], b"0123");
        let (n, _) = b.recv_from(&mut small).unwrap();
        assert_eq!(&small[..n], b"next");
        // As std's: the kernel wants a destination (EDESTADDRREQ).
        let e = a.send(b"x").unwrap_err();
        let std_e = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send(b"x")
            .unwrap_err();
        assert_eq!(e.raw_os_error(), std_e.raw_os_error(), "{e}");
        assert_eq!(e.raw_os_error(), Some(libc::EDESTADDRREQ), "{e}");
        assert!(a.peer_addr().is_err());
        let none: &[SocketAddr] = &[];
        let e = a.send_to(b"x", none).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        // A clone shares the socket: a datagram sent to it is received through either.
        let a2 = a.try_clone().unwrap();
        assert_eq!(a2.local_addr().unwrap(), a.local_addr().unwrap());
        b.send_to(b"to a", a.local_addr().unwrap()).unwrap();
        let (n, _) = a2.recv_from(&mut small).unwrap();
        assert_eq!(&small[..n], b"to a");
        let e = a.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(format!("{a:?}").contains("UdpSocket"));
    });
}

/// `weft::fs` from a green thread on a one-worker runtime: what is written is read back
/// (through `Read`, `Seek`, `read_to_end` and the whole-file helpers, across more than
/// one chunk), and errors are std's.
#[test]
fn files_through_the_blocking_pool() {
    use std::io::{Seek, SeekFrom};
    let rt = runtime(1);
    let dir = std::env::temp_dir().join(format!("weft-fs-test-{}", std::process::id()));
    let d = dir.clone();
    let r = rt.block_on(move || -> io::Result<()> {
        weft::fs::create_dir_all(&d)?;
        let p = d.join("data");
        let mut f = weft::fs::File::create(&p)?;
        let data: Vec<u8> = (0..3 * weft::fs::CHUNK / 2)
            .map(|i| (i % 251) as u8)
            .collect();
        f.write_all(&data)?;
        f.sync_all()?;
        assert_eq!(f.metadata()?.len(), data.len() as u64);
        assert_eq!(weft::fs::read(&p)?, data);
        let mut f = weft::fs::File::open(&p)?;
        f.seek(SeekFrom::Start(1000))?;
        let mut part = [0u8; 16];
        f.read_exact(&mut part)?;
        assert_eq!(&part[..], &data[1000..1016]);
        let mut rest = Vec::new();
        f.read_to_end(&mut rest)?;
        assert_eq!(&rest[..], &data[1016..]);
        weft::fs::write(d.join("text"), "héllo")?;
        assert_eq!(weft::fs::read_to_string(d.join("text"))?, "héllo");
        weft::fs::rename(d.join("text"), d.join("moved"))?;
        assert_eq!(weft::fs::copy(d.join("moved"), d.join("copy"))?, 6);
        weft::fs::remove_file(d.join("moved"))?;
        let e = weft::fs::File::open(d.join("moved")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(format!("{f:?}").contains("data"));
        Ok(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
    r.unwrap();
}

/// `try_clone`: one green thread reads while another writes the same connection, on one
/// worker; the clone keeps the socket open after the original is dropped.
#[test]
fn a_cloned_stream_reads_while_the_original_writes() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(move || echo(listener.accept().unwrap().0));
    let n = rt.block_on(move || -> io::Result<usize> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut r = s.try_clone()?;
        assert_eq!(r.read_timeout()?, Some(Duration::from_secs(20)));
        let reader = weft::spawn(move || -> io::Result<Vec<u8>> {
            let mut got = Vec::new();
            r.read_to_end(&mut got)?;
            Ok(got)
        });
        let mut w = s;
        for i in 0..200u32 {
            w.write_all(&i.to_le_bytes())?;
        }
        w.shutdown(Shutdown::Write)?;
        drop(w);
        let got = reader.join().unwrap()?;
        let want: Vec<u8> = (0..200u32).flat_map(u32::to_le_bytes).collect();
        assert_eq!(got, want);
        Ok(got.len())
    });
    assert_eq!(n.unwrap(), 800);
    assert_eq!(server.join().unwrap().unwrap(), 800);
}
