use std::time::{Duration, Instant};
fn main() {
    let h = weft::spawn(|| 40 + 2);
    println!("join: {:?}", h.join());
    let t = Instant::now();
    let hs: Vec<_> = (0..1000).map(|i| weft::spawn(move || { weft::sleep(Duration::from_millis(10)); i })).collect();
    let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("sum {s} in {:?}", t.elapsed());
    let p = weft::spawn(|| panic!("boom")).join();
    println!("panic joined: {}", p.is_err());
    let mut v = vec![0; 4];
    weft::scope(|s| for (i, x) in v.iter_mut().enumerate() { s.spawn(move || *x = i * 10); });
    println!("scope {:?}", v);
    // yield cost on one worker
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let n = 1_000_000;
    let t = rt.block_on(move || {
        let a = weft::spawn(move || for _ in 0..n { weft::yield_now() });
        let t = Instant::now();
        for _ in 0..n { weft::yield_now() }
        a.join().unwrap();
        t.elapsed()
    });
    println!("yield: {:.1} ns/switch", t.as_nanos() as f64 / (2.0 * n as f64));
}
