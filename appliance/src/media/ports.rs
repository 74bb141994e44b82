//! The RTP port range as even/odd pairs (RTP on the even port, RTCP on the next, RFC 3550 §11),
//! handed out round robin so that a just-freed pair is the last to be reused: late packets of an
//! ended call then do not land in a new one.
//!
//! A pair is free again only when its sockets are closed, which happens when the relay tasks of
//! the call are gone (a [`Lease`] lives beside the sockets and gives the pair back on drop).
//! Until then it is `Closing`, and `open` may wait a moment for it instead of failing.

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    Busy,
    Closing,
}

pub(crate) struct PortPool {
    first: u16,
    state: Mutex<Pool>,
    pub(crate) released: Notify,
}

struct Pool {
    pairs: Vec<State>,
    cursor: usize,
}

/// Why no pair could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortage {
    /// Every pair is in use by a call.
    Exhausted,
    /// Pairs of closed calls are still being released: worth waiting for.
    Closing,
}

impl PortPool {
    /// Pairs start at the even ports of `range`; a last odd-only port is left unused.
    pub(crate) fn new(range: &RangeInclusive<u16>) -> Arc<PortPool> {
        let first = range.start().saturating_add(range.start() % 2);
        let count = if *range.end() > first { (usize::from(*range.end()) - usize::from(first)).div_ceil(2) } else { 0 };
        Arc::new(PortPool {
            first,
            state: Mutex::new(Pool { pairs: vec![State::Free; count], cursor: 0 }),
            released: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.lock().pairs.len()
    }

    pub(crate) fn in_use(&self) -> usize {
        self.lock().pairs.iter().filter(|s| **s != State::Free).count()
    }

    /// The next free pair after the last one handed out.
    pub(crate) fn take(self: &Arc<Self>) -> Result<Lease, Shortage> {
        let mut pool = self.lock();
        let n = pool.pairs.len();
        for step in 0..n {
            let i = (pool.cursor + step) % n;
            if pool.pairs[i] == State::Free {
                pool.pairs[i] = State::Busy;
                pool.cursor = (i + 1) % n;
                return Ok(Lease { pool: self.clone(), index: i, rtp: self.first + 2 * i as u16 });
            }
        }
        if pool.pairs.contains(&State::Closing) {
            Err(Shortage::Closing)
        } else {
            Err(Shortage::Exhausted)
        }
    }

    /// The call holding `index` ended; its sockets are on their way out.
    pub(crate) fn closing(&self, index: usize) {
        if let Some(s) = self.lock().pairs.get_mut(index) {
            if *s == State::Busy {
                *s = State::Closing;
            }
        }
    }

    fn release(&self, index: usize) {
        if let Some(s) = self.lock().pairs.get_mut(index) {
            *s = State::Free;
        }
        self.released.notify_waiters();
    }
}

/// One pair, held while its sockets exist.
pub(crate) struct Lease {
    pool: Arc<PortPool>,
    pub(crate) index: usize,
    /// The even port; RTCP is `rtp + 1`.
    pub(crate) rtp: u16,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pairs_round_robin_and_come_back_on_drop() {
        let pool = PortPool::new(&(10_001..=10_006));
        assert_eq!(pool.capacity(), 2, "10002/3 and 10004/5; 10006 alone is no pair");
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert_eq!((a.rtp, b.rtp), (10_002, 10_004));
        assert_eq!(pool.take().err(), Some(Shortage::Exhausted));
        pool.closing(a.index);
        assert_eq!(pool.take().err(), Some(Shortage::Closing));
        drop(a);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.take().unwrap().rtp, 10_002);
    }

    #[test]
    fn a_freed_pair_is_reused_last() {
        let pool = PortPool::new(&(20_000..=20_007));
        let a = pool.take().unwrap();
        drop(a);
        assert_eq!(pool.take().unwrap().rtp, 20_002);
    }
}
