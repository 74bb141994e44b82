//! `[cloud]` in outpost.toml, checked into the form the agent trusts.

use std::path::PathBuf;
use std::time::Duration;

use cloud_sync::link::Protocol;
use cloud_sync::BoxId;
use serde::Deserialize;

/// The system's CA bundle (Debian's), the default trust for the broker and the fleet.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The file layer: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFile {
    /// `mqtt://host:port` (loopback tests only) or `mqtts://host[:port]` (TLS). No broker: off.
    pub broker: Option<String>,
    /// This box's id on the broker: topics `outpost/v1/<box_id>/…`, client id, default username.
    pub box_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file of the CAs that sign the broker's certificate (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// MQTT keepalive; the broker publishes the box's last will after 1.5 × this. Default 30.
    pub keepalive_secs: Option<u64>,
    /// `"auto"` (default: MQTT 5 where the broker has it, else 3.1.1), `"5"` or `"3.1.1"`.
    pub protocol: Option<Protocol>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudSettings {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub box_id: BoxId,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: PathBuf,
    pub keepalive: Duration,
    pub protocol: Protocol,
}

/// A field that is wrong, and why (config.rs turns it into its own error).
pub type Invalid = (&'static str, String);

impl CloudSettings {
    /// `None` when no broker is set: cloud sync is off.
    pub fn from_file(f: CloudFile) -> Result<Option<CloudSettings>, Invalid> {
        let Some(broker) = f.broker else {
            if f.box_id.is_some() || f.username.is_some() || f.password.is_some() {
                return Err(("cloud.broker", "set a broker, or remove the other [cloud] fields".into()));
            }
            return Ok(None);
        };
        let (tls, rest) = if let Some(rest) = broker.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = broker.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(("cloud.broker", format!("`{broker}`: use mqtts://host[:port] or mqtt://host:port")));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p.parse::<u16>().ok().filter(|p| *p != 0);
                (h, port.ok_or(("cloud.broker", format!("`{p}` is not a port")))?)
            }
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(("cloud.broker", format!("`{broker}`: no host name")));
        }
        let id = f.box_id.ok_or(("cloud.box_id", "needed with a broker".to_owned()))?;
        let box_id = BoxId::new(&id).map_err(|e| ("cloud.box_id", e.to_string()))?;
        let keepalive = Duration::from_secs(f.keepalive_secs.unwrap_or(30));
        if !(5..=600).contains(&keepalive.as_secs()) {
            return Err(("cloud.keepalive_secs", "5 to 600 seconds".into()));
        }
        Ok(Some(CloudSettings {
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            tls,
            box_id,
            username: f.username,
            password: f.password,
            ca_file: f.ca_file.unwrap_or_else(|| PathBuf::from(SYSTEM_ROOTS)),
            keepalive,
            protocol: f.protocol.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<CloudSettings>, Invalid> {
        CloudSettings::from_file(toml::from_str(text).unwrap())
    }

    #[test]
    fn no_broker_means_off() {
        assert_eq!(parse(""), Ok(None));
        assert!(parse("box_id = \"b1\"").is_err(), "half a config is a mistake, not off");
    }

    #[test]
    fn broker_urls_are_checked() {
        let s = parse("broker = \"mqtts://fleet.example.net\"\nbox_id = \"b1\"").unwrap().unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("fleet.example.net", 8883, true));
        let s = parse("broker = \"mqtt://127.0.0.1:18830\"\nbox_id = \"b1\"").unwrap().unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("127.0.0.1", 18830, false));
        for bad in ["http://x", "mqtt://:1", "mqtt://x:0", "mqtt://x:http", "mqtt://u@x:1"] {
            let text = format!("broker = \"{bad}\"\nbox_id = \"b1\"");
            assert_eq!(parse(&text).map_err(|e| e.0), Err("cloud.broker"), "{bad}");
        }
        assert_eq!(parse("broker = \"mqtt://x:1\"\nbox_id = \"a/#\"").map_err(|e| e.0), Err("cloud.box_id"));
    }

    #[test]
    fn the_protocol_is_auto_unless_pinned() {
        let s = parse("broker = \"mqtt://x:1\"\nbox_id = \"b1\"").unwrap().unwrap();
        assert_eq!(s.protocol, Protocol::Auto);
        let s = parse("broker = \"mqtt://x:1\"\nbox_id = \"b1\"\nprotocol = \"3.1.1\"").unwrap().unwrap();
        assert_eq!(s.protocol, Protocol::V311);
        assert!(toml::from_str::<CloudFile>("protocol = \"4\"").is_err());
    }
}
