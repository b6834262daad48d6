//! The watchdog names a green thread that holds its worker, once on detection and once
//! when it lets go, and stays quiet about threads that switch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft::runtime::watchdog::{Stall, StallKind};
use weft::Runtime;

const SLICE: Duration = Duration::from_millis(10);

fn watched(workers: usize) -> (Runtime, Arc<Mutex<Vec<Stall>>>) {
    let stalls = Arc::new(Mutex::new(Vec::new()));
    let seen = stalls.clone();
    let rt = Runtime::builder()
        .workers(workers)
        .watchdog(SLICE)
        .on_stall(move |s| seen.lock().unwrap().push(s.clone()))
        .build()
        .unwrap();
    (rt, stalls)
}

fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_spinning_green_thread_is_named_on_detection_and_when_it_lets_go() {
    let (rt, stalls) = watched(1);
    let h = weft::Builder::new()
        .name("hog".into())
        .spawn_on(&rt, || spin_for(Duration::from_millis(120)))
        .unwrap();
    h.join().unwrap();
    // The release is seen at the watchdog's next look, a quarter slice later.
    std::thread::sleep(SLICE);
    drop(rt);
    let stalls = stalls.lock().unwrap();
    let hog: Vec<_> = stalls
        .iter()
        .filter(|s| s.thread.as_ref().and_then(|t| t.name()) == Some("hog"))
        .collect();
    assert_eq!(hog.len(), 2, "{stalls:?}");
    let (found, ended) = (hog[0], hog[1]);
    assert!(!found.ended && ended.ended, "{stalls:?}");
    assert_eq!(found.kind, StallKind::Running, "{stalls:?}");
    assert_eq!(found.worker, 0);
    assert!(found.held >= SLICE, "{found:?}");
    assert!(found.held < Duration::from_millis(120), "{found:?}");
    // The whole hold: from the watchdog's first sighting of the turn (a quarter slice
    // after it began, or later when the watchdog itself waits for a CPU) to its first
    // sighting of the next; so at least the time held at detection, and most of the hog.
    assert!(ended.held >= found.held, "{found:?} then {ended:?}");
    assert!(ended.held >= Duration::from_millis(60), "{ended:?}");
    assert!(found.to_string().contains("'hog'"), "{found}");
}

#[test]
fn a_blocking_sleep_in_a_green_thread_is_reported_as_blocked_in_the_kernel() {
    let (rt, stalls) = watched(1);
    rt.block_on(|| std::thread::sleep(Duration::from_millis(100)));
    std::thread::sleep(SLICE);
    drop(rt);
    let stalls = stalls.lock().unwrap();
    let first = stalls.first().unwrap_or_else(|| panic!("no report"));
    match &first.kind {
        StallKind::Blocked { syscall } => {
            let s = syscall.as_deref().unwrap_or("");
            assert!(s.contains("sleep"), "{first:?}");
        }
        k => panic!("reported as {k:?}"),
    }
    assert!(!first.ended);
    assert!(
        first.to_string().contains("blocked in the kernel"),
        "{first}"
    );
    assert_eq!(stalls.iter().filter(|s| !s.ended).count(), 1, "{stalls:?}");
}

#[test]
fn threads_that_switch_and_idle_workers_are_never_reported() {
    let (rt, stalls) = watched(2);
    // For ten slices: two green threads ping-pong through yields and short sleeps, and
    // the other worker idles.
    rt.block_on(|| {
        let t = Instant::now();
        let a = weft::spawn(move || {
            while t.elapsed() < Duration::from_millis(100) {
                spin_for(Duration::from_micros(200));
                weft::yield_now();
            }
        });
        while t.elapsed() < Duration::from_millis(100) {
            weft::sleep(Duration::from_millis(1));
        }
        a.join().unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    assert!(
        stalls.lock().unwrap().is_empty(),
        "{:?}",
        stalls.lock().unwrap()
    );
}

#[test]
fn a_thread_that_keeps_yielding_alone_on_its_worker_is_not_a_stall() {
    // The same slot is resumed again and again: the turn still moves.
    let (rt, stalls) = watched(1);
    rt.block_on(|| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(80) {
            weft::yield_now();
        }
    });
    drop(rt);
    assert!(
        stalls.lock().unwrap().is_empty(),
        "{:?}",
        stalls.lock().unwrap()
    );
}

#[test]
fn a_slice_below_the_minimum_is_an_error() {
    let e = Runtime::builder()
        .watchdog(Duration::from_micros(10))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("minimum"), "{e}");
}
