//! The agent's loop: on each connect it subscribes, says `online` (retained) and reports its
//! revision (asking for the full document when the session was not kept, and carrying local
//! edits); on each desired document it applies and reports; it checks for local edits and
//! publishes telemetry every `TICK`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloud_sync::{decode, encode, BoxId, BoxState, Desired, Reported, Status, Telemetry, Topic};
use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use super::apply::{handle_desired, hello};
use super::link::{self, Incoming};
use super::state::{State, StateFile};
use super::{CloudSettings, SyncError};
use crate::store::{unix_now, Store};

const TICK: Duration = Duration::from_secs(30);

/// What survives restarts of the agent task within one run of the daemon.
pub struct Agent {
    settings: CloudSettings,
    store: Store,
    file: StateFile,
    state: Mutex<State>,
    started: Instant,
    /// Whether the broker connection is up now: survivable mode listens.
    link: tokio::sync::watch::Sender<bool>,
}

impl Agent {
    /// Loads the agent's state and counts this boot.
    pub fn new(settings: CloudSettings, store: Store, data_dir: PathBuf) -> Result<Arc<Agent>, SyncError> {
        let file = StateFile::new(&data_dir);
        let mut state = file.load()?;
        state.boot_seq += 1;
        file.save(&state)?;
        let (link, _) = tokio::sync::watch::channel(false);
        Ok(Arc::new(Agent { settings, store, file, state: Mutex::new(state), started: Instant::now(), link }))
    }

    /// Follows the broker connection: true while connected.
    pub fn link(&self) -> tokio::sync::watch::Receiver<bool> {
        self.link.subscribe()
    }

    fn id(&self) -> &BoxId {
        &self.settings.box_id
    }

    async fn store_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, &mut State) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let mut state = self.state.lock().await.clone();
        let (value, state) = self
            .store
            .call(move |s| {
                let v = f(s, &mut state)?;
                Ok((v, state))
            })
            .await?;
        self.file.save(&state)?;
        *self.state.lock().await = state;
        Ok(value)
    }
}

/// Runs the agent until `token` is cancelled. An error ends this run; the supervisor restarts it.
pub async fn run(agent: Arc<Agent>, token: CancellationToken) -> anyhow::Result<()> {
    let boot_seq = agent.state.lock().await.boot_seq;
    let will = link::offline_will(boot_seq, unix_now() as u64);
    let (client, events) = link::client(link::options(&agent.settings, &will)?);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let link_token = token.child_token();
    let driver = tokio::spawn(link::drive(events, tx, link_token.clone()));
    let result = serve(&agent, &client, &mut rx, boot_seq, &token).await;
    agent.link.send_replace(false);
    // Goodbye: a clean DISCONNECT suppresses the will, so say offline first.
    let offline = encode(&link::offline_will(boot_seq, unix_now() as u64));
    let _ = client.try_publish(agent.id().topic(&Topic::Status), QoS::AtLeastOnce, true, offline);
    let _ = client.try_disconnect();
    link_token.cancel();
    let _ = driver.await;
    result
}

async fn serve(
    agent: &Arc<Agent>,
    client: &AsyncClient,
    rx: &mut mpsc::UnboundedReceiver<Incoming>,
    boot_seq: u64,
    token: &CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected = false;
    loop {
        let incoming = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tick.tick() => {
                if connected {
                    periodic(agent, client, boot_seq).await?;
                }
                continue;
            }
            incoming = rx.recv() => incoming,
        };
        match incoming {
            None => return Ok(()),
            Some(Incoming::Lost) => {
                connected = false;
                agent.link.send_replace(false);
            }
            Some(Incoming::Connected { session_present }) => {
                connected = true;
                agent.link.send_replace(true);
                on_connect(agent, client, boot_seq, session_present).await?;
            }
            Some(Incoming::Message { topic, payload }) => on_message(agent, client, &topic, &payload).await?,
        }
    }
}

async fn publish_report(agent: &Agent, client: &AsyncClient, report: &Reported) -> Result<(), SyncError> {
    let topic = agent.id().topic(&Topic::Reported);
    client.publish(topic, QoS::AtLeastOnce, false, encode(report)).await?;
    Ok(())
}

async fn on_connect(agent: &Agent, client: &AsyncClient, boot_seq: u64, session_present: bool) -> anyhow::Result<()> {
    for filter in agent.id().inbound_filters() {
        client.subscribe(filter, QoS::AtLeastOnce).await?;
    }
    let online = Status::new(BoxState::Online, boot_seq, env!("CARGO_PKG_VERSION"), unix_now() as u64);
    client.publish(agent.id().topic(&Topic::Status), QoS::AtLeastOnce, true, encode(&online)).await?;
    let report = agent.store_call(move |s, st| hello(s, st, !session_present)).await?;
    if report.local_edits {
        tracing::info!(revision = report.revision, "reporting local config edits to the cloud");
    }
    publish_report(agent, client, &report).await?;
    Ok(())
}

async fn on_message(agent: &Agent, client: &AsyncClient, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
    match Topic::parse(topic) {
        Ok((id, Topic::Desired)) if &id == agent.id() => {
            if payload.is_empty() {
                return Ok(()); // a cleared retained message
            }
            let desired: Desired = match decode(payload) {
                Ok(d) => d,
                Err(e) => {
                    // Not a document we can read: say so, with the reason, and change nothing.
                    tracing::warn!(error = %e, "refused a desired config");
                    let revision = agent.store_call(|s, _| s.revision()).await?;
                    let mut report = Reported::new(revision);
                    let reasons = vec![cloud_sync::Reason { field: "schema".into(), reason: e.to_string() }];
                    report.outcome = Some(cloud_sync::Outcome::Rejected { reasons });
                    publish_report(agent, client, &report).await?;
                    return Ok(());
                }
            };
            let revision = desired.revision;
            if let Some(report) = agent.store_call(move |s, st| handle_desired(s, st, desired)).await? {
                tracing::info!(desired = revision, outcome = ?report.outcome, "desired config handled");
                publish_report(agent, client, &report).await?;
            }
        }
        Ok((_, Topic::Command(id))) => {
            // Commands are part of a later step: answer so the cloud does not wait forever.
            let reason = "commands are not supported by this box yet".to_owned();
            let result = cloud_sync::CommandResult::new(&id, cloud_sync::CommandOutcome::Unsupported { reason });
            let topic = agent.id().topic(&Topic::CommandResult(id));
            client.publish(topic, QoS::AtLeastOnce, true, encode(&result)).await?;
        }
        other => tracing::debug!(topic, ?other, "ignoring a message"),
    }
    Ok(())
}

/// Local edits made while connected are reported; telemetry is dropped if the queue is full.
async fn periodic(agent: &Agent, client: &AsyncClient, boot_seq: u64) -> anyhow::Result<()> {
    let (revision, edited) = agent
        .store_call(|s, st| {
            let r = s.revision()?;
            Ok((r, st.reported_revision != Some(r)))
        })
        .await?;
    if edited {
        let report = agent.store_call(|s, st| hello(s, st, false)).await?;
        publish_report(agent, client, &report).await?;
    }
    let up = agent.started.elapsed().as_secs();
    let telemetry = Telemetry::new(unix_now() as u64, env!("CARGO_PKG_VERSION"), up, boot_seq, revision);
    if client.try_publish(agent.id().topic(&Topic::Telemetry), QoS::AtMostOnce, false, encode(&telemetry)).is_err() {
        tracing::debug!("telemetry dropped: the MQTT queue is full");
    }
    Ok(())
}
