//! The status LED: one LED says what the box is doing, readable from across a room.
//!
//! [`pattern`] maps a state to a blink pattern (pure); [`SysfsLed`] shows a pattern through the
//! kernel's LED class (`trigger`, `brightness`, and the `timer` trigger's delays).

use std::path::PathBuf;

/// What the box is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedState {
    /// Powered, services not yet ready.
    Booting,
    /// Everything up.
    Running,
    /// Calls work locally, the cloud trunk or link is down.
    Survivable,
    /// Writing an update (do not unplug).
    Update,
    /// Something needs a person.
    Fault,
}

/// How the LED shows a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Steadily on or off.
    Solid(bool),
    /// On for `on_ms`, off for `off_ms`, repeated (the kernel's `timer` trigger).
    Blink { on_ms: u32, off_ms: u32 },
    /// The kernel's `heartbeat` trigger (double pulse, faster under load).
    Heartbeat,
}

/// The pattern of each state: steady means fine, slow blink means degraded but working, fast
/// blink means busy (update) and a short flash every second means fault.
pub fn pattern(state: LedState) -> Pattern {
    match state {
        LedState::Booting => Pattern::Heartbeat,
        LedState::Running => Pattern::Solid(true),
        LedState::Survivable => Pattern::Blink { on_ms: 1000, off_ms: 1000 },
        LedState::Update => Pattern::Blink { on_ms: 100, off_ms: 100 },
        LedState::Fault => Pattern::Blink { on_ms: 100, off_ms: 900 },
    }
}

/// Why the LED could not be set.
#[derive(Debug, thiserror::Error)]
#[error("cannot set LED {path}: {source}")]
pub struct LedError {
    path: String,
    source: std::io::Error,
}

/// A sysfs LED (`/sys/class/leds/<name>`).
pub struct SysfsLed {
    dir: PathBuf,
}

impl SysfsLed {
    /// The LED whose sysfs directory is `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Shows a state.
    pub fn show(&self, state: LedState) -> Result<(), LedError> {
        match pattern(state) {
            Pattern::Solid(on) => {
                self.write("trigger", "none")?;
                self.write("brightness", if on { "1" } else { "0" })
            }
            Pattern::Heartbeat => self.write("trigger", "heartbeat"),
            Pattern::Blink { on_ms, off_ms } => {
                // Setting the trigger creates delay_on/delay_off; they must be written after it.
                self.write("trigger", "timer")?;
                self.write("delay_on", &on_ms.to_string())?;
                self.write("delay_off", &off_ms.to_string())
            }
        }
    }

    fn write(&self, file: &str, value: &str) -> Result<(), LedError> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(|source| LedError { path: path.display().to_string(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_looks_different() {
        let all = [LedState::Booting, LedState::Running, LedState::Survivable, LedState::Update, LedState::Fault];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(pattern(*a), pattern(*b), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn sysfs_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let led = SysfsLed::new(dir.path().to_owned());
        led.show(LedState::Update).unwrap();
        let read = |f| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(
            (read("trigger"), read("delay_on"), read("delay_off")),
            ("timer".into(), "100".into(), "100".into())
        );
        led.show(LedState::Running).unwrap();
        assert_eq!((read("trigger"), read("brightness")), ("none".into(), "1".into()));
    }
}
