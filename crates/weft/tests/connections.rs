//! Ten thousand TCP connections held at once, one green thread per connection on each
//! side: the server here, the clients in a child process (this test binary run again),
//! so that each process needs some 10 000 descriptors rather than 20 000.
//!
//! The test raises `RLIMIT_NOFILE` itself (to the hard limit at most) and says so, and
//! skips with a message when the hard limit is too low.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::net::{TcpListener, TcpStream};
use weft::sync::Semaphore;

const CONNECTIONS: usize = 10_000;
/// Connections being set up at once by the client: fewer than the listener's backlog
/// (128, as std's), so none is dropped and retried a second later.
const CONNECTING: usize = 100;
const MSG: usize = 32;

/// Raises the soft descriptor limit to `want`; `Err` names the limit when it cannot.
fn raise_nofile(want: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if lim.rlim_cur >= want {
        return Ok(());
    }
    if lim.rlim_max < want {
        return Err(format!(
            "RLIMIT_NOFILE's hard limit is {}, and {want} descriptors are needed",
            lim.rlim_max
        ));
    }
    let new = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(format!("setrlimit: {}", io::Error::last_os_error()));
    }
    eprintln!("raised RLIMIT_NOFILE from {} to {want}", lim.rlim_cur);
    Ok(())
}

fn payload(id: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (i, b) in m.iter_mut().enumerate() {
        *b = (id * 131 + i * 7) as u8;
    }
    m
}

#[test]
fn ten_thousand_connections_are_held_and_each_echoes() {
    if let Ok(addr) = std::env::var("WEFT_CONNECT_TO") {
        clients(addr.parse().unwrap());
        return;
    }
    if let Err(why) = raise_nofile(CONNECTIONS as u64 + 256) {
        eprintln!("skipped: {why}");
        return;
    }
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let echoed = Arc::new(AtomicUsize::new(0));
    let (l, p, e) = (live.clone(), peak.clone(), echoed.clone());
    let server = rt.spawn(
        move || -> io::Result<Vec<weft::JoinHandle<io::Result<()>>>> {
            let mut conns = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (mut s, _) = listener.accept()?;
                let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let (l, e) = (l.clone(), e.clone());
                conns.push(weft::spawn(move || {
                    let mut buf = [0u8; MSG];
                    s.read_exact(&mut buf)?;
                    s.write_all(&buf)?;
                    e.fetch_add(1, Ordering::SeqCst);
                    // Held until the client closes, which it does only once every
                    // connection has echoed.
                    let n = s.read(&mut buf)?;
                    l.fetch_sub(1, Ordering::SeqCst);
                    assert_eq!(n, 0, "end of stream");
                    Ok(())
                }));
            }
            Ok(conns)
        },
    );
    let t = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ten_thousand_connections_are_held_and_each_echoes",
            "--nocapture",
        ])
        .env("WEFT_CONNECT_TO", addr.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a child that hangs is killed and the test fails.
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the clients failed:\n{stderr}");
    assert!(
        stderr.contains(&format!("held {CONNECTIONS} connections")),
        "{stderr}"
    );
    for h in server.join().unwrap().unwrap() {
        h.join().unwrap().unwrap();
    }
    assert_eq!(echoed.load(Ordering::SeqCst), CONNECTIONS);
    assert_eq!(live.load(Ordering::SeqCst), 0);
    // Every connection was open on the server at once (the clients close none before
    // all have echoed).
    assert_eq!(peak.load(Ordering::SeqCst), CONNECTIONS);
    eprintln!(
        "{CONNECTIONS} connections held and echoed in {:.2?}; the clients said:\n{stderr}",
        t.elapsed()
    );
}

/// The child: connects every client and echoes one message on it (at most
/// [`CONNECTING`] at a time, so the server's accept queue cannot overflow: a connection
/// counts as set up once the server has answered on it), waits until all have, closes.
fn clients(addr: SocketAddr) {
    let rt = weft::Runtime::builder().workers(2).build().unwrap();
    let t0 = Instant::now();
    let held = rt.block_on(move || {
        let gate = Arc::new(Semaphore::new(CONNECTING));
        let echoed = Arc::new(weft::sync::Barrier::new(CONNECTIONS + 1));
        let hs: Vec<_> = (0..CONNECTIONS)
            .map(|id| {
                let (gate, echoed) = (gate.clone(), echoed.clone());
                weft::spawn(move || -> io::Result<()> {
                    let permit = gate.acquire(1).unwrap();
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))?;
                    let m = payload(id);
                    s.write_all(&m)?;
                    let mut back = [0u8; MSG];
                    s.read_exact(&mut back)?;
                    drop(permit);
                    assert_eq!(back, m, "connection {id}");
                    // Held open until every connection has echoed.
                    echoed.wait();
                    Ok(())
                })
            })
            .collect();
        let t = Instant::now();
        echoed.wait();
        eprintln!("all connected and echoed in {:.2?}", t.elapsed());
        let mut ok = 0;
        for h in hs {
            h.join().unwrap().unwrap();
            ok += 1;
        }
        ok
    });
    eprintln!("held {held} connections, {:.2?}", t0.elapsed());
}
