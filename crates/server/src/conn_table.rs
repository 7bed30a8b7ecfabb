use c1m_net::Conn;

/// The connections of one event-loop thread: a slab of 8-byte slots keyed by a `u32` index (the epoll token).
///
/// A slot is the connection's fd (4 bytes, `None` when free) and the coarse second of its last activity
/// (4 bytes). Nothing else is kept per connection: counters are per thread, and echo's unsent bytes live in a
/// side map only while they exist. The table reserves its capacity up front (the process's fd limit bounds it),
/// so it never reallocates and copies; untouched capacity costs address space, not resident memory.
#[derive(Debug)]
pub(crate) struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    last_active: u32,
}

impl ConnTable {
    pub(crate) fn with_capacity(capacity: usize) -> ConnTable {
        ConnTable {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Store `conn`, returning its key.
    pub(crate) fn insert(&mut self, conn: Conn, now: u32) -> u32 {
        self.len += 1;
        let slot = Slot {
            conn: Some(conn),
            last_active: now,
        };
        if let Some(key) = self.free.pop() {
            self.slots[key as usize] = slot;
            key
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        }
    }

    pub(crate) fn get(&self, key: u32) -> Option<&Conn> {
        self.slots.get(key as usize).and_then(|s| s.conn.as_ref())
    }

    pub(crate) fn touch(&mut self, key: u32, now: u32) {
        if let Some(s) = self.slots.get_mut(key as usize) {
            s.last_active = now;
        }
    }

    /// Take the connection out (dropping it closes the fd).
    pub(crate) fn remove(&mut self, key: u32) -> Option<Conn> {
        let conn = self.slots.get_mut(key as usize)?.conn.take()?;
        self.len -= 1;
        self.free.push(key);
        Some(conn)
    }

    /// Keys of connections idle since before `cutoff`.
    pub(crate) fn idle_since(&self, cutoff: u32) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some() && s.last_active < cutoff)
            .map(|(k, _)| k as u32)
            .collect()
    }

    /// Close every connection.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }

    fn conn(l: &c1m_net::Listener) -> Conn {
        let _c = std::net::TcpStream::connect(l.local_addr()).unwrap();
        loop {
            if let Ok(c) = l.accept() {
                return c;
            }
        }
    }

    #[test]
    fn reuses_freed_keys_and_finds_idle_ones() {
        let l = c1m_net::Listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let mut t = ConnTable::with_capacity(4);
        let a = t.insert(conn(&l), 1);
        let b = t.insert(conn(&l), 5);
        assert_eq!((a, b, t.len()), (0, 1, 2));
        assert_eq!(t.idle_since(3), vec![a]);
        t.touch(a, 9);
        assert_eq!(t.idle_since(6), vec![b]);
        assert!(t.remove(a).is_some());
        assert!(t.remove(a).is_none(), "double remove is a no-op");
        assert!(t.get(a).is_none());
        assert_eq!(t.insert(conn(&l), 10), a, "freed key is reused");
        assert_eq!(t.len(), 2);
        t.clear();
        assert_eq!(t.len(), 0);
    }
}
