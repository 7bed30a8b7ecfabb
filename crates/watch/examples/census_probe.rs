fn main() {
    let mut d = c1m_watch::SockDiag::open().unwrap();
    for _ in 0..3 {
        let c = d.census(&[]).unwrap();
        println!("{:?} total={} listeners={}", c.cost, c.total().total(), c.listeners.len());
    }
    let c = d.census(&[]).unwrap();
    for (s, n) in c.total().iter() { if n > 0 { println!("{s} {n}"); } }
    for l in &c.listeners { println!("{:?}", l); }
}
