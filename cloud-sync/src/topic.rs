//! Topics under `outpost/v1/<box-id>/`. The box id is checked to a safe charset so that it can
//! never contain MQTT wildcards (`+`, `#`) or a level separator, and so that an ACL pattern on
//! `%u` (the username, equal to the box id) means exactly one box.

use std::fmt;

/// The prefix of every topic; `v1` changes only with an incompatible topic layout.
pub const PREFIX: &str = "outpost/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("box id `{0}`: use 1-64 of a-z A-Z 0-9 - _, starting with a letter or digit")]
    BadBoxId(String),
    #[error("command id `{0}`: use 1-64 of a-z A-Z 0-9 - _, starting with a letter or digit")]
    BadCommandId(String),
    #[error("backup part `{0}`: use 1-128 of a-z A-Z 0-9 - _ . / without empty levels")]
    BadBackupPart(String),
    #[error("topic `{0}` is not an Outpost topic")]
    Unknown(String),
}

fn safe_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

fn safe_backup(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.split('/').all(|level| !level.is_empty() && level != "." && level != "..")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// A box's identity on the broker (also its MQTT username and client id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoxId(String);

impl BoxId {
    pub fn new(id: &str) -> Result<BoxId, TopicError> {
        if safe_id(id) {
            Ok(BoxId(id.to_owned()))
        } else {
            Err(TopicError::BadBoxId(id.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic `kind` of this box.
    pub fn topic(&self, kind: &Topic) -> String {
        format!("{PREFIX}/{}/{kind}", self.0)
    }

    /// The filter a box subscribes to: what the cloud sends it (desired config and commands).
    pub fn inbound_filters(&self) -> [String; 2] {
        [format!("{PREFIX}/{}/config/desired", self.0), format!("{PREFIX}/{}/cmd/+", self.0)]
    }
}

impl fmt::Display for BoxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a topic is about, below the box id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Desired,
    Reported,
    Status,
    Telemetry,
    Command(String),
    CommandResult(String),
    /// `backup/<part>`: reserved for the backup transfer (not built yet).
    Backup(String),
}

impl Topic {
    /// A command topic, with its id checked.
    pub fn command(id: &str) -> Result<Topic, TopicError> {
        if safe_id(id) {
            Ok(Topic::Command(id.to_owned()))
        } else {
            Err(TopicError::BadCommandId(id.to_owned()))
        }
    }

    pub fn command_result(id: &str) -> Result<Topic, TopicError> {
        if safe_id(id) {
            Ok(Topic::CommandResult(id.to_owned()))
        } else {
            Err(TopicError::BadCommandId(id.to_owned()))
        }
    }

    pub fn backup(part: &str) -> Result<Topic, TopicError> {
        if safe_backup(part) {
            Ok(Topic::Backup(part.to_owned()))
        } else {
            Err(TopicError::BadBackupPart(part.to_owned()))
        }
    }

    /// Parses a full topic name into its box and kind.
    pub fn parse(topic: &str) -> Result<(BoxId, Topic), TopicError> {
        let unknown = || TopicError::Unknown(topic.to_owned());
        let rest = topic.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('/')).ok_or_else(unknown)?;
        let (id, kind) = rest.split_once('/').ok_or_else(unknown)?;
        let id = BoxId::new(id)?;
        let kind = match kind.split('/').collect::<Vec<_>>().as_slice() {
            ["config", "desired"] => Topic::Desired,
            ["config", "reported"] => Topic::Reported,
            ["status"] => Topic::Status,
            ["telemetry"] => Topic::Telemetry,
            ["cmd", cid] => Topic::command(cid)?,
            ["cmd", cid, "result"] => Topic::command_result(cid)?,
            ["backup", ..] => Topic::backup(&kind["backup/".len()..])?,
            _ => return Err(unknown()),
        };
        Ok((id, kind))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Desired => f.write_str("config/desired"),
            Topic::Reported => f.write_str("config/reported"),
            Topic::Status => f.write_str("status"),
            Topic::Telemetry => f.write_str("telemetry"),
            Topic::Command(id) => write!(f, "cmd/{id}"),
            Topic::CommandResult(id) => write!(f, "cmd/{id}/result"),
            Topic::Backup(part) => write!(f, "backup/{part}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topics_are_built_under_the_box() {
        let id = BoxId::new("harbour-1").unwrap();
        assert_eq!(id.topic(&Topic::Desired), "outpost/v1/harbour-1/config/desired");
        assert_eq!(id.topic(&Topic::command_result("c7").unwrap()), "outpost/v1/harbour-1/cmd/c7/result");
        assert_eq!(id.inbound_filters()[1], "outpost/v1/harbour-1/cmd/+");
    }

    #[test]
    fn unsafe_ids_and_foreign_topics_are_refused() {
        for bad in ["", "a/b", "+", "#", "a+b", "-x", "é", &"a".repeat(65)] {
            assert!(BoxId::new(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "outpost/v2/a/status",
            "outpost/v1/a",
            "outpost/v1/a/config",
            "outpost/v1/a/cmd/x/y",
            "outpost/v1/+/status",
            "outpost/v1/a/backup/../x",
            "outpost/v1/a/backup/",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
    }

    fn any_topic() -> impl Strategy<Value = Topic> {
        let id = "[a-zA-Z0-9][a-zA-Z0-9_-]{0,20}";
        prop_oneof![
            Just(Topic::Desired),
            Just(Topic::Reported),
            Just(Topic::Status),
            Just(Topic::Telemetry),
            id.prop_map(Topic::Command),
            id.prop_map(Topic::CommandResult),
            "[a-z0-9]{1,8}(/[a-z0-9.-]{0,6}[a-z0-9]){0,3}".prop_map(Topic::Backup),
        ]
    }

    proptest! {
        #[test]
        fn build_then_parse_is_identity(id in "[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}", kind in any_topic()) {
            let id = BoxId::new(&id).unwrap();
            let (back, k) = Topic::parse(&id.topic(&kind)).unwrap();
            prop_assert_eq!(back, id);
            prop_assert_eq!(k, kind);
        }
    }
}
