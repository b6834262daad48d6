//! Two CSP processes that each wait to send to the other over a rendezvous channel: a
//! true deadlock. The runtime's deadlock detector proves nothing can run any more and
//! `join` panics with a report naming both green threads and the channel operation each
//! waits in ("channel send").
//!
//! `cargo run -p weft --example csp_deadlock` (the process is meant to panic).
use weft::csp::channel;

fn main() {
    let (a_tx, a_rx) = channel::<u8>();
    let (b_tx, b_rx) = channel::<u8>();
    let left = weft::Builder::new()
        .name("left".into())
        .spawn(move || {
            a_tx.send(1).unwrap(); // waits for right to receive, but right is sending
            b_rx.recv().unwrap();
        })
        .unwrap();
    let right = weft::Builder::new()
        .name("right".into())
        .spawn(move || {
            b_tx.send(2).unwrap();
            a_rx.recv().unwrap();
        })
        .unwrap();
    left.join().unwrap();
    right.join().unwrap();
}
