//! `status`: retained, so a reader learns a box's state when it subscribes. The box's MQTT last
//! will is the same document with `offline` and the same `boot_seq`.
//!
//! Why `boot_seq`: a broker may publish a box's will late (keepalive expiry) after the box has
//! already rebooted and said `online`. Each boot increments the sequence; a reader keeps the
//! status with the highest one, and within one boot the latest received, so a stale will can
//! never mark a reborn box offline.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{BoxId, SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxState {
    Online,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub schema: u32,
    pub state: BoxState,
    /// Increases with every start of the box daemon (kept in its data directory).
    pub boot_seq: u64,
    /// The box's software version.
    pub version: String,
    /// Unix seconds when written (for the will: when the box connected).
    pub at: u64,
}

impl Status {
    pub fn new(state: BoxState, boot_seq: u64, version: &str, at: u64) -> Status {
        Status { schema: SCHEMA, state, boot_seq, version: version.to_owned(), at }
    }
}

/// What a reader (the fleet service, a dashboard) believes about each box.
#[derive(Debug, Default)]
pub struct StatusBoard {
    boxes: HashMap<BoxId, Status>,
}

impl StatusBoard {
    /// Takes a status received for `id`; returns whether it replaced what was known.
    pub fn observe(&mut self, id: BoxId, status: Status) -> bool {
        match self.boxes.get(&id) {
            Some(known) if status.boot_seq < known.boot_seq => false,
            _ => {
                self.boxes.insert(id, status);
                true
            }
        }
    }

    pub fn get(&self, id: &BoxId) -> Option<&Status> {
        self.boxes.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn a_stale_will_does_not_mark_a_reborn_box_offline() {
        let id = BoxId::new("b1").unwrap();
        let mut board = StatusBoard::default();
        assert!(board.observe(id.clone(), Status::new(BoxState::Online, 5, "0.1", 10)));
        assert!(board.observe(id.clone(), Status::new(BoxState::Online, 6, "0.1", 20)));
        // Boot 5's will arrives after boot 6 said online.
        assert!(!board.observe(id.clone(), Status::new(BoxState::Offline, 5, "0.1", 10)));
        assert_eq!(board.get(&id).map(|s| s.state), Some(BoxState::Online));
        // Boot 6's own will counts.
        assert!(board.observe(id.clone(), Status::new(BoxState::Offline, 6, "0.1", 20)));
        assert_eq!(board.get(&id).map(|s| s.state), Some(BoxState::Offline));
    }

    #[test]
    fn status_bytes_are_as_documented() {
        let s = Status::new(BoxState::Offline, 3, "0.1.0", 1700000000);
        let bytes = encode(&s);
        assert_eq!(bytes, br#"{"schema":1,"state":"offline","boot_seq":3,"version":"0.1.0","at":1700000000}"#);
        assert_eq!(decode::<Status>(&bytes).unwrap(), s);
    }
}
