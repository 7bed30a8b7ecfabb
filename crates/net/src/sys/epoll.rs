//! epoll: one instance per event-loop thread, edge-triggered registrations keyed by a u64 token.

use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;

pub(crate) use epoll::{Event, EventFlags};

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub(crate) fn create() -> Result<OwnedFd, Errno> {
    epoll::create(epoll::CreateFlags::CLOEXEC)
}

/// `epoll_ctl(EPOLL_CTL_ADD)`.
pub(crate) fn add(ep: impl AsFd, fd: impl AsFd, token: u64, flags: EventFlags) -> Result<(), Errno> {
    epoll::add(ep, fd, epoll::EventData::new_u64(token), flags)
}

/// `epoll_ctl(EPOLL_CTL_DEL)`.
pub(crate) fn delete(ep: impl AsFd, fd: impl AsFd) -> Result<(), Errno> {
    epoll::delete(ep, fd)
}

/// `epoll_wait` into the spare capacity of `events` (cleared first). EINTR reads as "no events".
pub(crate) fn wait(ep: impl AsFd, events: &mut Vec<Event>, timeout: Duration) -> Result<(), Errno> {
    events.clear();
    // Round up: a sub-millisecond remainder must not become a zero timeout and spin.
    let ts = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos().div_ceil(1_000_000) * 1_000_000).min(999_999_999),
    };
    match epoll::wait(ep, spare_capacity(events), Some(&ts)) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(e) => Err(e),
    }
}
