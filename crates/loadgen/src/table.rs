//! Per-connection state indexed by the socket's fd number: the kernel hands out the lowest free fd, so the
//! table stays dense without a free list, and `Option<T>` costs nothing extra when `T` holds a
//! [`c1m_net::Conn`] (an fd is never -1).

use std::ops::{Index, IndexMut};

/// Slots keyed by fd number.
#[derive(Debug)]
pub(crate) struct FdTable<T> {
    slots: Vec<Option<T>>,
    len: usize,
}

impl<T> FdTable<T> {
    /// Reserve room for fds below `capacity` once: growing by doubling would copy and inflate resident memory.
    pub(crate) fn with_capacity(capacity: usize) -> FdTable<T> {
        FdTable {
            slots: Vec::with_capacity(capacity),
            len: 0,
        }
    }

    /// Occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Store `value` under `fd` (which must be free: the kernel never hands out an open fd twice).
    pub(crate) fn insert(&mut self, fd: usize, value: T) {
        if fd >= self.slots.len() {
            self.slots.resize_with(fd + 1, || None);
        }
        debug_assert!(self.slots[fd].is_none(), "fd {fd} is already in the table");
        self.len += 1;
        self.slots[fd] = Some(value);
    }

    pub(crate) fn get(&self, fd: usize) -> Option<&T> {
        self.slots.get(fd).and_then(Option::as_ref)
    }

    /// Take the value out of `fd`'s slot.
    pub(crate) fn remove(&mut self, fd: usize) -> Option<T> {
        let value = self.slots.get_mut(fd).and_then(Option::take);
        self.len -= usize::from(value.is_some());
        value
    }

    /// Drop every value.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
    }

    /// Take every value out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.len = 0;
        self.slots.drain(..).flatten()
    }
}

impl<T> Index<usize> for FdTable<T> {
    type Output = T;

    fn index(&self, fd: usize) -> &T {
        self.get(fd).expect("no connection under this fd")
    }
}

impl<T> IndexMut<usize> for FdTable<T> {
    fn index_mut(&mut self, fd: usize) -> &mut T {
        self.slots
            .get_mut(fd)
            .and_then(Option::as_mut)
            .expect("no connection under this fd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut t: FdTable<u32> = FdTable::with_capacity(8);
        t.insert(5, 50);
        t.insert(3, 30);
        assert_eq!(
            (t.len(), t.get(5), t.get(4), t.get(100)),
            (2, Some(&50), None, None)
        );
        t[3] += 1;
        assert_eq!(t.remove(3), Some(31));
        assert_eq!(t.remove(3), None);
        assert_eq!(t.len(), 1);
        t.clear();
        assert_eq!((t.len(), t.get(5)), (0, None));
    }
}
