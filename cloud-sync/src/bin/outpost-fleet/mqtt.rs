//! The fleet's broker connection: subscribes to every box's reports and statuses, stores them,
//! and publishes desired documents (retained). A box asking for the full document gets the
//! latest desired one again.

use std::time::Duration;

use cloud_sync::{decode, encode, BoxId, Desired, Reported, Status, Telemetry, Topic};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::store::{now, FleetStore};

pub fn parse_broker(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| anyhow::anyhow!("broker `{url}`: only mqtt://host:port is supported yet"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| anyhow::anyhow!("broker `{url}`: no port"))?;
    Ok((host.to_owned(), port.parse().map_err(|_| anyhow::anyhow!("broker `{url}`: bad port"))?))
}

#[derive(Clone)]
pub struct Link {
    client: AsyncClient,
}

impl Link {
    pub async fn publish_desired(&self, id: &BoxId, desired: &Desired) -> Result<(), rumqttc::ClientError> {
        self.client.publish(id.topic(&Topic::Desired), QoS::AtLeastOnce, true, encode(desired)).await
    }
}

/// Connects (in a background task that reconnects forever) and returns the publishing side once
/// the subscriptions are acknowledged (or after 10 s without a broker), so that what boxes
/// report after the fleet service has started is not missed.
pub async fn start(
    host: &str,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    store: FleetStore,
) -> Link {
    let mut o = MqttOptions::new("outpost-fleet", host, port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(false);
    o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    if let Some(u) = username {
        o.set_credentials(u, password.unwrap_or_default());
    }
    let (client, mut events) = AsyncClient::new(o, 256);
    let link = Link { client: client.clone() };
    let publisher = link.clone();
    let (subscribed, ready) = tokio::sync::oneshot::channel();
    let mut subscribed = Some(subscribed);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_millis(500);
                    tracing::info!("connected to the broker");
                    for filter in ["outpost/v1/+/config/reported", "outpost/v1/+/status", "outpost/v1/+/telemetry"] {
                        // try_: the request queue is being drained by this very loop.
                        if let Err(e) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                            tracing::warn!(error = %e, "cannot subscribe");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let (store, publisher) = (store.clone(), publisher.clone());
                    tokio::spawn(async move { on_message(&store, &publisher, &p.topic, &p.payload).await });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "broker connection lost");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
    if tokio::time::timeout(Duration::from_secs(10), ready).await.is_err() {
        tracing::warn!("not subscribed yet: the broker is not reachable");
    }
    link
}

async fn on_message(store: &FleetStore, link: &Link, topic: &str, payload: &[u8]) {
    let Ok((id, kind)) = Topic::parse(topic) else { return };
    let result = match kind {
        Topic::Status if !payload.is_empty() => match decode::<Status>(payload) {
            Ok(s) => store.set_status(id.as_str(), &s).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Topic::Reported => match decode::<Reported>(payload) {
            Ok(r) => {
                let stored = store.set_reported(id.as_str(), &r, now() as u64).map_err(|e| e.to_string());
                if r.want_full {
                    if let Ok(Some(d)) = store.latest_desired(id.as_str()) {
                        if let Err(e) = link.publish_desired(&id, &d).await {
                            tracing::warn!(box_id = %id, error = %e, "cannot republish the desired config");
                        }
                    }
                }
                stored
            }
            Err(e) => Err(e.to_string()),
        },
        Topic::Telemetry => match decode::<Telemetry>(payload) {
            Ok(t) => store.set_telemetry(id.as_str(), &t, now()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(box_id = %id, topic, error = %e, "message not stored");
    }
}
