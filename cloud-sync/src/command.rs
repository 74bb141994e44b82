//! `cmd/<id>` (cloud → box, QoS 1) and `cmd/<id>/result` (box → cloud, QoS 1, retained so the
//! cloud finds the answer after its own restart). Commands are idempotent by id: a command seen
//! again (redelivery after a reconnect) is answered with the first result and not run twice.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::SCHEMA;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandKind {
    /// Send check-sync to a phone so it fetches its files again.
    Reprovision {
        mac: String,
    },
    BackupNow,
    Restore {
        backup: String,
    },
    Reboot,
    /// Fetch the update bundle at `url` (HTTPS; plain HTTP only from a loopback address),
    /// check it is the one whose SHA-256 is `sha256` (hex), then check and stage it as an
    /// admin's upload is: the box's updater installs it on the other slot and reboots.
    Update {
        url: String,
        sha256: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub schema: u32,
    pub id: String,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandOutcome {
    Done,
    Failed {
        reason: String,
    },
    /// This box cannot do that (yet): the reason says why.
    Unsupported {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    pub schema: u32,
    pub id: String,
    pub outcome: CommandOutcome,
}

impl CommandResult {
    pub fn new(id: &str, outcome: CommandOutcome) -> CommandResult {
        CommandResult { schema: SCHEMA, id: id.to_owned(), outcome }
    }
}

/// The results of the last `capacity` commands by id, so a redelivered command is not run again.
#[derive(Debug)]
pub struct Ledger {
    capacity: usize,
    order: VecDeque<String>,
    results: HashMap<String, CommandResult>,
}

impl Ledger {
    pub fn new(capacity: usize) -> Ledger {
        Ledger { capacity: capacity.max(1), order: VecDeque::new(), results: HashMap::new() }
    }

    /// The result already given for `id`, if the command was seen.
    pub fn seen(&self, id: &str) -> Option<&CommandResult> {
        self.results.get(id)
    }

    pub fn record(&mut self, result: CommandResult) {
        if self.results.insert(result.id.clone(), result.clone()).is_none() {
            self.order.push_back(result.id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.results.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode, DecodeError};

    #[test]
    fn commands_read_as_documented_and_unknown_kinds_are_refused() {
        let c: Command =
            decode(br#"{"schema":1,"id":"c1","kind":{"type":"reprovision","mac":"80:5e:c0:11:22:33"}}"#).unwrap();
        assert_eq!(c.kind, CommandKind::Reprovision { mac: "80:5e:c0:11:22:33".into() });
        assert_eq!(decode::<Command>(&encode(&c)).unwrap(), c);
        assert!(matches!(
            decode::<Command>(br#"{"schema":1,"id":"c2","kind":{"type":"format_disk"}}"#),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_redelivered_command_gets_its_first_result() {
        let mut ledger = Ledger::new(2);
        ledger.record(CommandResult::new("a", CommandOutcome::Done));
        ledger.record(CommandResult::new("b", CommandOutcome::Failed { reason: "x".into() }));
        assert_eq!(ledger.seen("a").map(|r| &r.outcome), Some(&CommandOutcome::Done));
        ledger.record(CommandResult::new("c", CommandOutcome::Done));
        assert!(ledger.seen("a").is_none(), "the oldest is forgotten past capacity");
        assert!(ledger.seen("b").is_some() && ledger.seen("c").is_some());
    }
}
