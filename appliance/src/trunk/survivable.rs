//! The site's mode: `Normal`, or `Survivable` while the cloud PBX cannot be reached.
//!
//! Enter as soon as any cloud trunk is `Down`, or the cloud-sync agent marks the cloud link
//! down (`set_link`). Leave only when every cloud trunk is `Up` (a trunk that is `Unknown`
//! again after a config change has not proved anything yet, so it keeps the site survivable),
//! the link is not marked down, and, with `fail_back_when_idle`, no call is up on a fallback
//! trunk. A site without cloud trunks is survivable only while the link is marked down.
//! Pure: the manager tells it the cloud trunks' states after every change.

use serde::Serialize;

use super::health::State;
use crate::sip::core::Now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Since this Unix time.
    Survivable {
        since: i64,
    },
}

/// A cloud trunk as the mode sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudTrunk {
    /// `tenant/name`.
    pub name: String,
    pub state: State,
    /// Why it is in that state.
    pub reason: String,
}

/// Entering or leaving survivable mode, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    pub survivable: bool,
    pub reason: String,
}

/// The mode for the API and the fleet status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeStatus {
    pub survivable: bool,
    /// When the current mode began (absent: normal since start).
    pub since_unix: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Survival {
    mode: Mode,
    since_unix: Option<i64>,
    reason: String,
    link_up: bool,
    fallback_calls: usize,
    fail_back_when_idle: bool,
}

impl Default for Survival {
    fn default() -> Self {
        Survival {
            mode: Mode::Normal,
            since_unix: None,
            reason: "cloud trunks not down".into(),
            link_up: true,
            fallback_calls: 0,
            fail_back_when_idle: false,
        }
    }
}

impl Survival {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn survivable(&self) -> bool {
        self.mode != Mode::Normal
    }

    pub fn status(&self) -> ModeStatus {
        ModeStatus { survivable: self.survivable(), since_unix: self.since_unix, reason: self.reason.clone() }
    }

    pub fn set_link(&mut self, up: bool) {
        self.link_up = up;
    }

    pub fn set_fallback_calls(&mut self, n: usize) {
        self.fallback_calls = n;
    }

    pub fn set_fail_back_when_idle(&mut self, on: bool) {
        self.fail_back_when_idle = on;
    }

    /// Decides the mode from the cloud trunks' names and states.
    pub fn update(&mut self, now: Now, cloud: &[CloudTrunk]) -> Option<ModeChange> {
        match self.mode {
            Mode::Normal => {
                let reason = if !self.link_up {
                    "cloud link down".to_owned()
                } else if let Some(t) = cloud.iter().find(|t| t.state == State::Down) {
                    format!("cloud trunk {} down: {}", t.name, t.reason)
                } else {
                    return None;
                };
                self.mode = Mode::Survivable { since: now.unix };
                Some(self.changed(now, true, reason))
            }
            Mode::Survivable { .. } => {
                if !self.link_up {
                    return None;
                }
                if cloud.iter().any(|t| t.state != State::Up) {
                    return None;
                }
                if self.fail_back_when_idle && self.fallback_calls > 0 {
                    return None;
                }
                let mut reason =
                    if cloud.is_empty() { "cloud link up".to_owned() } else { "cloud trunks up".to_owned() };
                if self.fail_back_when_idle {
                    reason.push_str(", no call on a fallback trunk");
                }
                self.mode = Mode::Normal;
                Some(self.changed(now, false, reason))
            }
        }
    }

    fn changed(&mut self, now: Now, survivable: bool, reason: String) -> ModeChange {
        self.since_unix = Some(now.unix);
        self.reason.clone_from(&reason);
        ModeChange { survivable, reason }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use super::super::health::Health;
    use super::*;
    use crate::site::TrunkHealth;

    fn at(start: Instant, secs: u64) -> Now {
        Now { at: start + Duration::from_secs(secs), unix: 5_000 + secs as i64 }
    }

    fn cloud(h: &Health) -> Vec<CloudTrunk> {
        vec![CloudTrunk { name: "acme/cloud".into(), state: h.state(), reason: h.reason().into() }]
    }

    fn one(state: State) -> [CloudTrunk; 1] {
        [CloudTrunk { name: "c".into(), state, reason: "r".into() }]
    }

    #[test]
    fn enters_when_the_cloud_trunk_is_down_and_leaves_after_its_hold_down() {
        let start = Instant::now();
        let mut s = Survival::default();
        let mut h = Health::new(at(start, 0), TrunkHealth::default());
        assert_eq!(s.update(at(start, 0), &cloud(&h)), None, "unknown at start is not down");
        h.answered(at(start, 0));
        for t in [2, 4, 6] {
            h.missed(at(start, t), "no answer");
        }
        let c = s.update(at(start, 6), &cloud(&h)).unwrap();
        assert_eq!(
            c,
            ModeChange { survivable: true, reason: "cloud trunk acme/cloud down: 3 probes missed (no answer)".into() }
        );
        assert_eq!(s.mode(), Mode::Survivable { since: 5_006 });
        // Answers again from 10 s; each one is told to the mode; it leaves when the trunk is up.
        let mut left = None;
        for t in (10..60).step_by(2) {
            h.answered(at(start, t));
            if let Some(c) = s.update(at(start, t), &cloud(&h)) {
                left = Some((t, c));
                break;
            }
        }
        let (t, c) = left.unwrap();
        assert_eq!(t, 40);
        assert_eq!(c.reason, "cloud trunks up");
        assert_eq!(
            s.status(),
            ModeStatus { survivable: false, since_unix: Some(5_040), reason: "cloud trunks up".into() }
        );
    }

    #[test]
    fn a_cloud_trunk_unknown_again_keeps_the_site_survivable() {
        let start = Instant::now();
        let mut s = Survival::default();
        s.update(at(start, 0), &one(State::Down)).unwrap();
        assert_eq!(s.update(at(start, 1), &one(State::Unknown)), None);
        assert!(s.update(at(start, 2), &one(State::Up)).is_some());
    }

    #[test]
    fn the_link_hook_and_fail_back_when_idle() {
        let start = Instant::now();
        let mut s = Survival::default();
        s.set_fail_back_when_idle(true);
        let up = one(State::Up);
        s.set_link(false);
        assert_eq!(s.update(at(start, 0), &up).unwrap().reason, "cloud link down");
        s.set_fallback_calls(2);
        s.set_link(true);
        assert_eq!(s.update(at(start, 1), &up), None, "a call is up on a fallback trunk");
        s.set_fallback_calls(0);
        let c = s.update(at(start, 2), &up).unwrap();
        assert_eq!(c, ModeChange { survivable: false, reason: "cloud trunks up, no call on a fallback trunk".into() });
        // Without cloud trunks only the link decides.
        s.set_link(false);
        assert!(s.update(at(start, 3), &[]).unwrap().survivable);
        s.set_link(true);
        assert_eq!(s.update(at(start, 4), &[]).unwrap().reason, "cloud link up, no call on a fallback trunk");
    }
}
