//! The factory-reset button: held for 10 s, it asks for the data partition to be wiped on the
//! next boot. The wipe itself happens before the data partition is mounted (the image's
//! `outpost-data-setup`), so that nothing has the database open while it goes.
//!
//! [`decode_event`] reads Linux `struct input_event` records (pure); [`Hold`] is the press
//! timer, told the time; [`request_wipe`] writes the flag file.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long the button must be held.
pub const HOLD: Duration = Duration::from_secs(10);

/// Size of `struct input_event` on 64-bit Linux: `timeval` (16) + type, code (2 + 2) + value (4).
pub const EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 1;

/// A key event: `pressed` is true on press and autorepeat, false on release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub code: u16,
    pub pressed: bool,
}

/// Decodes one `input_event` record; `None` for non-key events (sync, misc) or a short record.
pub fn decode_event(record: &[u8]) -> Option<KeyEvent> {
    let field = |at: usize, len: usize| record.get(at..at + len);
    let kind = u16::from_ne_bytes(field(16, 2)?.try_into().ok()?);
    let code = u16::from_ne_bytes(field(18, 2)?.try_into().ok()?);
    let value = i32::from_ne_bytes(field(20, 4)?.try_into().ok()?);
    (kind == EV_KEY).then_some(KeyEvent { code, pressed: value != 0 })
}

/// The press timer of one key.
#[derive(Clone, Debug)]
pub struct Hold {
    key: u16,
    hold: Duration,
    since: Option<Instant>,
    fired: bool,
}

impl Hold {
    /// Watches `key` for a hold of [`HOLD`].
    pub fn new(key: u16) -> Self {
        Self::lasting(key, HOLD)
    }

    /// Watches `key` for a hold of `hold` (tests use a short one).
    pub fn lasting(key: u16, hold: Duration) -> Self {
        Self { key, hold, since: None, fired: false }
    }

    /// Feeds an event seen at `now`; true once per press when the hold is long enough.
    pub fn on_event(&mut self, now: Instant, event: KeyEvent) -> bool {
        if event.code != self.key {
            return false;
        }
        match (event.pressed, self.since) {
            (true, None) => self.since = Some(now),
            (false, _) => {
                self.since = None;
                self.fired = false;
            }
            (true, Some(_)) => {}
        }
        self.poll(now)
    }

    /// Checks the timer at `now` (the driver calls this on a tick, as a held key sends nothing).
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.since {
            Some(at) if !self.fired && now.saturating_duration_since(at) >= self.hold => {
                self.fired = true;
                true
            }
            _ => false,
        }
    }

    /// When the hold would fire, for the driver's next timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.filter(|_| !self.fired).map(|at| at + self.hold)
    }
}

/// Writes the wipe flag (and its directory), synced, so that a power cut right after the
/// press still wipes.
pub fn request_wipe(flag: &Path) -> std::io::Result<()> {
    if let Some(dir) = flag.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(flag)?;
    file.sync_all()?;
    tracing::warn!(flag = %flag.display(), "factory reset requested: data is wiped on the next boot");
    Ok(())
}

/// Reads key events from `device` (an evdev node) until `key` has been held for `hold`.
///
/// A held key sends nothing after its press (autorepeat aside), so the events come from a
/// reader thread over a channel and the wait for the next one ends at the hold's deadline.
/// Returns an error when the device ends or fails: the caller's service restarts it.
pub fn wait_for_hold(device: &Path, key: u16, hold: Duration) -> std::io::Result<()> {
    use std::io::Read;
    use std::sync::mpsc;
    let mut file = std::fs::File::open(device)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("reset-button".into()).spawn(move || {
        let mut record = [0u8; EVENT_SIZE];
        loop {
            let read = file.read_exact(&mut record);
            let stop = read.is_err();
            if tx.send(read.map(|()| decode_event(&record))).is_err() || stop {
                return;
            }
        }
    })?;
    let mut timer = Hold::lasting(key, hold);
    loop {
        let wait = timer.deadline().map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(Ok(Some(event))) if timer.on_event(Instant::now(), event) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) if timer.poll(Instant::now()) => return Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the button device closed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut r = vec![0u8; 16];
        r.extend(kind.to_ne_bytes());
        r.extend(code.to_ne_bytes());
        r.extend(value.to_ne_bytes());
        r
    }

    #[test]
    fn decodes_key_events_only() {
        assert_eq!(decode_event(&record(1, 0x198, 1)), Some(KeyEvent { code: 0x198, pressed: true }));
        assert_eq!(decode_event(&record(1, 0x198, 0)), Some(KeyEvent { code: 0x198, pressed: false }));
        assert_eq!(decode_event(&record(0, 0, 0)), None, "EV_SYN");
        assert_eq!(decode_event(&record(1, 0x198, 1)[..20]), None, "short");
    }

    #[test]
    fn fires_once_after_ten_seconds_held() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let down = KeyEvent { code: 0x198, pressed: true };
        let up = KeyEvent { code: 0x198, pressed: false };
        let mut h = Hold::new(0x198);
        assert!(!h.on_event(t0, down));
        assert_eq!(h.deadline(), Some(t0 + HOLD));
        assert!(!h.poll(t0 + s(9)));
        assert!(!h.on_event(t0 + s(9), up), "released early");
        assert!(!h.poll(t0 + s(20)));
        assert!(!h.on_event(t0 + s(30), down));
        assert!(!h.on_event(t0 + s(31), KeyEvent { code: 0x1c, pressed: true }), "other key");
        assert!(h.poll(t0 + s(40)));
        assert!(!h.poll(t0 + s(41)), "once per press");
    }

    #[test]
    fn wipe_flag_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("outpost/factory-reset");
        request_wipe(&flag).unwrap();
        assert!(flag.exists());
    }

    /// A FIFO stands in for the evdev node; `presses` are (held for, then released?) pairs.
    fn button(dir: &Path, presses: Vec<(Duration, bool)>) -> std::path::PathBuf {
        let fifo = dir.join("event0");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let path = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            for (held, released) in presses {
                f.write_all(&record(1, 0x198, 1)).unwrap();
                f.write_all(&record(0, 0, 0)).unwrap();
                std::thread::sleep(held);
                if released {
                    f.write_all(&record(1, 0x198, 0)).unwrap();
                }
            }
            // Kept open a while (a held button sends nothing), then the device goes away.
            std::thread::sleep(Duration::from_secs(2));
        });
        fifo
    }

    #[test]
    fn a_held_button_ends_the_wait_and_short_presses_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let hold = Duration::from_millis(300);
        let short = Duration::from_millis(50);
        let device = button(dir.path(), vec![(short, true), (short, true), (Duration::ZERO, false)]);
        wait_for_hold(&device, 0x198, hold).unwrap();

        let other = tempfile::tempdir().unwrap();
        let device = button(other.path(), vec![(short, true), (short, true)]);
        let err = wait_for_hold(&device, 0x198, hold).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    }
}
