//! The gateway's access decision, pure (no I/O): may this client connect as this box, publish
//! to this topic, subscribe to this filter? A box may only use `outpost/v1/<its username>/…`
//! (docs/sync-protocol.md, "Access"), the same rule as the Mosquitto ACL pattern
//! `outpost/v1/%u/#`.
//!
//! The check is literal: the topic or filter must begin with the box's own prefix, whose three
//! levels are plain text, so no wildcard (`+`, `#`) can stand at or above the box level and a
//! filter can only ever match the box's own topics. Below the prefix, wildcards are allowed in
//! filters where MQTT allows them (a whole level; `#` last); levels that are empty, `.`, `..`,
//! or contain `$`, NUL or control characters are refused although MQTT would carry them: no
//! Outpost topic has them, and refusing them leaves no room for a broker's quirks.

use cloud_sync::topic::PREFIX;
use cloud_sync::BoxId;

/// Longest topic or filter the gateway lets through (Outpost's are far shorter).
const MAX_TOPIC: usize = 512;

/// Why a client was refused. Carries topics (what the client asked for), never passwords.
/// What the box's backup-fetching connection adds to its id (`appliance::sync::link`).
pub const FETCH_SUFFIX: &str = ".fetch";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("no username in CONNECT")]
    NoUsername,
    #[error("username {0:?} is not a box id")]
    BadUsername(String),
    #[error("client id {client_id:?} is not the username {username:?}")]
    ClientId { client_id: String, username: String },
    #[error("last will on {0:?}, outside the box's prefix")]
    Will(String),
    #[error("publish to {0:?}, outside the box's prefix")]
    Publish(String),
    #[error("subscription to {0:?}, outside the box's prefix")]
    Subscribe(String),
}

/// The box a CONNECT may act as. The client id must be the username, or the username with
/// `.fetch` (the box's second connection that fetches a backup for a restore; a `.` is never
/// in a box id, so this is nobody else's id): otherwise a box could take over (and read the
/// queued messages of) another box's kept session.
pub fn connect(username: Option<&str>, client_id: &str, will_topic: Option<&str>) -> Result<BoxId, Denied> {
    let username = username.ok_or(Denied::NoUsername)?;
    let id = BoxId::new(username).map_err(|_| Denied::BadUsername(username.to_owned()))?;
    if client_id != username && client_id.strip_suffix(FETCH_SUFFIX) != Some(username) {
        return Err(Denied::ClientId { client_id: client_id.to_owned(), username: username.to_owned() });
    }
    if let Some(topic) = will_topic {
        if !topic_ok(&id, topic) {
            return Err(Denied::Will(topic.to_owned()));
        }
    }
    Ok(id)
}

/// A PUBLISH (or last will) by `id` to `topic`.
pub fn may_publish(id: &BoxId, topic: &str) -> Result<(), Denied> {
    if topic_ok(id, topic) {
        Ok(())
    } else {
        Err(Denied::Publish(topic.to_owned()))
    }
}

/// One filter of a SUBSCRIBE by `id`.
pub fn may_subscribe(id: &BoxId, filter: &str) -> Result<(), Denied> {
    let ok = below_prefix(id, filter).is_some_and(|rest| {
        let levels: Vec<&str> = rest.split('/').collect();
        levels.iter().enumerate().all(|(i, level)| match *level {
            "+" => true,
            "#" => i + 1 == levels.len(),
            plain => plain_level(plain),
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Denied::Subscribe(filter.to_owned()))
    }
}

fn topic_ok(id: &BoxId, topic: &str) -> bool {
    below_prefix(id, topic).is_some_and(|rest| rest.split('/').all(plain_level))
}

/// What follows `outpost/v1/<id>/`, if `s` starts with it and is not too long.
fn below_prefix<'a>(id: &BoxId, s: &'a str) -> Option<&'a str> {
    if s.len() > MAX_TOPIC {
        return None;
    }
    s.strip_prefix(PREFIX)?.strip_prefix('/')?.strip_prefix(id.as_str())?.strip_prefix('/')
}

fn plain_level(level: &str) -> bool {
    !level.is_empty()
        && level != "."
        && level != ".."
        && !level.chars().any(|c| matches!(c, '+' | '#' | '$') || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_sync::Topic;
    use proptest::prelude::*;

    fn id(s: &str) -> BoxId {
        BoxId::new(s).unwrap()
    }

    #[test]
    fn a_box_may_use_every_outpost_topic_of_its_own() {
        let b1 = id("b1");
        for kind in [
            Topic::Desired,
            Topic::Reported,
            Topic::Status,
            Topic::Telemetry,
            Topic::command("c-17").unwrap(),
            Topic::command_result("c-17").unwrap(),
            Topic::backup("bk-1/chunk/3").unwrap(),
        ] {
            assert_eq!(may_publish(&b1, &b1.topic(&kind)), Ok(()), "{kind}");
            assert_eq!(may_subscribe(&b1, &b1.topic(&kind)), Ok(()), "{kind}");
        }
        for filter in b1.inbound_filters() {
            assert_eq!(may_subscribe(&b1, &filter), Ok(()), "{filter}");
        }
        assert_eq!(may_subscribe(&b1, "outpost/v1/b1/#"), Ok(()));
        assert_eq!(may_subscribe(&b1, "outpost/v1/b1/+/reported"), Ok(()));
    }

    #[test]
    fn nothing_outside_the_prefix() {
        let b1 = id("b1");
        for topic in [
            "outpost/v1/b2/status",
            "outpost/v1/b1",
            "outpost/v1/b1/",
            "outpost/v1/b10/status",
            "outpost/v1/b1x/status",
            "outpost/v1/+/status",
            "outpost/v1/b1/+",
            "outpost/v1/b1/#",
            "outpost/v1/b1//status",
            "outpost/v1/b1/../b2/status",
            "outpost/v1/b1/./status",
            "outpost/v1/b1/sta\0tus",
            "outpost/v1/b1/$SYS",
            "$SYS/broker",
            "/outpost/v1/b1/status",
            "Outpost/v1/b1/status",
        ] {
            assert!(may_publish(&b1, topic).is_err(), "publish {topic:?}");
        }
        for filter in [
            "#",
            "+/#",
            "outpost/#",
            "outpost/v1/#",
            "outpost/v1/+/status",
            "outpost/v1/+/#",
            "outpost/v1/b2/#",
            "outpost/v1/b1",
            "outpost/v1/b1/",
            "outpost/v1/b1/#/status",
            "outpost/v1/b1/sta#",
            "outpost/v1/b1/st+",
            "outpost/v1/b1//#",
            "$share/g/outpost/v1/b1/#",
            "$SYS/#",
        ] {
            assert!(may_subscribe(&b1, filter).is_err(), "subscribe {filter:?}");
        }
    }

    #[test]
    fn connect_needs_the_box_id_as_username_and_client_id() {
        assert_eq!(connect(Some("b1"), "b1", Some("outpost/v1/b1/status")), Ok(id("b1")));
        assert_eq!(connect(Some("b1"), "b1", None), Ok(id("b1")));
        assert_eq!(connect(None, "b1", None), Err(Denied::NoUsername));
        assert!(matches!(connect(Some("b1"), "b2", None), Err(Denied::ClientId { .. })));
        assert_eq!(connect(Some("b1"), "b1.fetch", None), Ok(id("b1")), "the restore's own connection");
        assert!(matches!(connect(Some("b1"), "b2.fetch", None), Err(Denied::ClientId { .. })));
        assert!(matches!(connect(Some("b1"), "b1-fetch", None), Err(Denied::ClientId { .. })));
        assert!(matches!(connect(Some("b1"), "", None), Err(Denied::ClientId { .. })));
        assert!(matches!(connect(Some("+"), "+", None), Err(Denied::BadUsername(_))));
        assert!(matches!(connect(Some("_outpost-fleet"), "_outpost-fleet", None), Err(Denied::BadUsername(_))));
        assert!(matches!(connect(Some("a/b"), "a/b", None), Err(Denied::BadUsername(_))));
        assert_eq!(
            connect(Some("b1"), "b1", Some("outpost/v1/b2/status")),
            Err(Denied::Will("outpost/v1/b2/status".into()))
        );
    }

    /// Topic-ish strings built from the pieces an attacker would try.
    fn nasty() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec![
            "outpost", "v1", "b1", "b2", "b1x", "+", "#", "$share", "$SYS", "", ".", "..", "\0", "a\0", "status",
            "cmd", "x+", "#x", "b1/", "/",
        ]);
        prop::collection::vec(level, 0..8).prop_map(|levels| levels.join("/"))
    }

    /// The box level and everything above it are the literal prefix: no filter or topic that
    /// passes can match a topic of another box.
    fn stays_inside(s: &str) -> bool {
        let levels: Vec<&str> = s.split('/').collect();
        levels.len() >= 4
            && levels[..3] == ["outpost", "v1", "b1"]
            && levels[3..].iter().all(|l| !l.is_empty() && !l.contains(['\0', '$']) && *l != "..")
    }

    proptest! {
        #[test]
        fn allowed_filters_stay_inside(s in prop_oneof![nasty(), any::<String>()]) {
            let b1 = id("b1");
            if may_subscribe(&b1, &s).is_ok() {
                prop_assert!(stays_inside(&s), "{s:?}");
                let levels: Vec<&str> = s.split('/').collect();
                for (i, l) in levels.iter().enumerate() {
                    if l.contains('#') { prop_assert!(*l == "#" && i + 1 == levels.len(), "{s:?}"); }
                    if l.contains('+') { prop_assert!(*l == "+", "{s:?}"); }
                }
            }
        }

        #[test]
        fn allowed_topics_stay_inside_and_have_no_wildcards(s in prop_oneof![nasty(), any::<String>()]) {
            let b1 = id("b1");
            if may_publish(&b1, &s).is_ok() {
                prop_assert!(stays_inside(&s) && !s.contains(['+', '#']), "{s:?}");
                prop_assert!(may_subscribe(&b1, &s).is_ok(), "a topic one may publish is a filter one may use: {s:?}");
            }
            prop_assert!(may_publish(&id("b2"), &s).is_err() || !stays_inside(&s));
        }

        #[test]
        fn connect_accepts_only_matching_valid_ids(user in "[a-zA-Z0-9_+#/-]{0,8}", client in "[a-zA-Z0-9_+#/-]{0,8}") {
            if let Ok(got) = connect(Some(&user), &client, None) {
                prop_assert_eq!(got.as_str(), user.as_str());
                prop_assert_eq!(&user, &client);
                prop_assert!(!user.contains(['+', '#', '/']));
            }
        }
    }
}
