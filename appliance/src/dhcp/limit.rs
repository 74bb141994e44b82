//! Flood limits: messages per second per client MAC, per relay circuit (the relay's address and
//! the option 82 circuit id: one switch port), and per relay that sends no option 82. A client in a loop or a spoofing flood costs a few map
//! entries, not the pool or the disk. Told the time, so tests need no clock.

use std::collections::HashMap;

/// Messages per second one MAC may send; a normal client sends one or two per exchange.
pub const PER_MAC: u32 = 10;
/// Messages per second through one relay circuit (one switch port, as option 82 names it).
pub const PER_CIRCUIT: u32 = 500;
/// Messages per second through a relay that sends no option 82: all its ports together, e.g. a
/// building's phones booting at once after a power cut.
pub const PER_RELAY: u32 = 5000;
/// Keys tracked before stale ones are swept.
const SWEEP_AT: usize = 16_384;

#[derive(Debug, Default)]
pub struct Limiter {
    windows: HashMap<Vec<u8>, (i64, u32)>,
}

impl Limiter {
    /// Counts one message under `key` at `now` (seconds); false once the key's budget for this
    /// second is spent.
    pub fn allow(&mut self, key: &[u8], budget: u32, now: i64) -> bool {
        if self.windows.len() >= SWEEP_AT {
            self.windows.retain(|_, (second, _)| *second == now);
        }
        let entry = self.windows.entry(key.to_vec()).or_insert((now, 0));
        if entry.0 != now {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= budget
    }
}
