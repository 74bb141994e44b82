//! The hardware watchdog: petted only while the box is healthy, so that a hung or broken
//! daemon ends in a reset (and, on a fresh slot, in a rollback) instead of a box that looks on
//! but serves nobody.
//!
//! [`Policy`] is pure: told the time and the health, it says whether to pet. [`Device`] is the
//! Linux `/dev/watchdog` driver: any write pets it, and writing `V` before closing disarms it
//! ("magic close"), which only a clean shutdown does. On the image, systemd holds the hardware
//! device (`RuntimeWatchdogSec`) and the daemon pets systemd (`WATCHDOG=1`) by the same policy.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the policy says to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Pet the watchdog.
    Pet,
    /// Do not: the box is unhealthy (or never became healthy in time) and should be reset.
    Withhold,
}

/// When to pet: always while healthy; while not yet healthy only within the boot grace (the
/// daemon needs some seconds to open the store and bind); never after being unhealthy for
/// longer than `unhealthy_grace` (one failed probe is not a reason to reset a box).
#[derive(Clone, Debug)]
pub struct Policy {
    started: Instant,
    boot_grace: Duration,
    unhealthy_grace: Duration,
    last_healthy: Option<Instant>,
}

impl Policy {
    /// A policy for a daemon that started at `started`.
    pub fn new(started: Instant, boot_grace: Duration, unhealthy_grace: Duration) -> Self {
        Self { started, boot_grace, unhealthy_grace, last_healthy: None }
    }

    /// Records a health probe's result at `now` and says whether to pet.
    pub fn decide(&mut self, now: Instant, healthy: bool) -> Decision {
        if healthy {
            self.last_healthy = Some(now);
            return Decision::Pet;
        }
        let within = match self.last_healthy {
            None => now.saturating_duration_since(self.started) < self.boot_grace,
            Some(at) => now.saturating_duration_since(at) < self.unhealthy_grace,
        };
        if within {
            Decision::Pet
        } else {
            Decision::Withhold
        }
    }

    /// Whether the box has been healthy at least once (the ready point).
    pub fn ever_healthy(&self) -> bool {
        self.last_healthy.is_some()
    }
}

/// An open `/dev/watchdog`. Dropping it without [`Device::disarm`] leaves it armed: the
/// kernel then resets the box when the timeout passes, which is the point.
pub struct Device {
    file: File,
}

impl Device {
    /// Opens (and thereby arms) the watchdog device.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        Ok(Self { file })
    }

    /// Pets the watchdog: any byte but `V` will do.
    pub fn pet(&mut self) -> std::io::Result<()> {
        self.file.write_all(b"\0")?;
        self.file.flush()
    }

    /// Magic close: disarms the watchdog (for a clean shutdown or hand-over).
    pub fn disarm(mut self) -> std::io::Result<()> {
        self.file.write_all(b"V")?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_while_healthy_and_within_graces_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = Policy::new(t0, s(60), s(20));
        assert_eq!(p.decide(t0 + s(10), false), Decision::Pet, "booting");
        assert_eq!(p.decide(t0 + s(61), false), Decision::Withhold, "never became healthy");
        assert!(!p.ever_healthy());
        assert_eq!(p.decide(t0 + s(62), true), Decision::Pet);
        assert!(p.ever_healthy());
        assert_eq!(p.decide(t0 + s(70), false), Decision::Pet, "one failed probe");
        assert_eq!(p.decide(t0 + s(83), false), Decision::Withhold, "unhealthy too long");
        assert_eq!(p.decide(t0 + s(84), true), Decision::Pet, "recovered");
    }

    #[test]
    fn device_writes_pets_and_magic_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dev = Device::open(&path).unwrap();
        dev.pet().unwrap();
        dev.disarm().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\0V");
    }
}
