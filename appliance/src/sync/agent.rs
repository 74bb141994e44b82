//! The agent's loop: on each connect it subscribes, says `online` (retained) and reports its
//! revision (asking for the full document when the session was not kept, and carrying local
//! edits); on each desired document it applies and reports; it checks for local edits and
//! publishes telemetry every `TICK`.
//!
//! Backups: on `backup_now` (and, each hour, for a newer local backup, e.g. the daily one) the
//! agent uploads a sealed backup chunk by chunk behind the fleet's acks (`backup::Upload`),
//! resuming after a reconnect from what the fleet holds. The backup key is escrowed once per
//! boot on connect. Commands are run once per id (`Ledger`); `restore` fetches and stages a
//! backup, answers `done`, then exits the daemon with [`RESTART_EXIT`] so that systemd
//! (`Restart=on-failure`) starts it again and that start commits the restore.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloud_sync::backup::{part, Ack, KeyEscrow};
use cloud_sync::link::Client;
use cloud_sync::{
    decode, encode, BoxId, BoxState, Command, CommandKind, CommandOutcome, CommandResult, Desired, Ledger, Reported,
    Status, Telemetry, Topic, SCHEMA,
};
use rumqttc::QoS;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use super::apply::{handle_desired, hello};
use super::backup::{Step, Upload};
use super::link::{self, Incoming};
use super::state::{State, StateFile};
use super::{CloudSettings, SyncError};
use crate::store::{unix_now, Store};

const TICK: Duration = Duration::from_secs(30);
/// How often a running upload is checked for a stall, and how long without an ack is one.
const UPLOAD_CHECK: Duration = Duration::from_secs(5);
const STALL: Duration = Duration::from_secs(20);
/// How often the newest local backup (the daily one) is offered to the fleet.
const OFFER_EVERY: Duration = Duration::from_secs(3600);
/// How long a restore may take to download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);
/// The daemon's exit status after staging a restore: not 0, so that systemd's
/// `Restart=on-failure` starts it again, and that start commits the restore (EX_TEMPFAIL).
pub const RESTART_EXIT: i32 = 75;

/// What survives restarts of the agent task within one run of the daemon.
pub struct Agent {
    settings: CloudSettings,
    store: Store,
    file: StateFile,
    state: Mutex<State>,
    started: Instant,
    /// Whether the broker connection is up now: survivable mode listens.
    link: tokio::sync::watch::Sender<bool>,
    data_dir: PathBuf,
    /// Where bundles are staged and whether a root service acts on them and on reboots
    /// (`[update]`); none where the daemon takes no updates.
    staging: Option<crate::api::update::Staging>,
    /// The backup key went to the fleet in this boot.
    escrowed: AtomicBool,
    /// Results of the commands run, by id: a redelivered command is answered, not run again.
    ledger: Mutex<Ledger>,
    /// The newest backup the fleet holds whole, as far as this run knows.
    uploaded: Mutex<Option<String>>,
    /// The box's metrics, read for telemetry.
    metrics: crate::metrics::Metrics,
    /// Phone provisioning: the `reprovision` command sends its check-sync.
    provisioner: Arc<crate::provision::service::Provisioner>,
    /// The link and the last exchange with the fleet, for the dashboard.
    view: std::sync::Mutex<LinkView>,
}

/// The cloud link as the dashboard shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkView {
    pub connected: bool,
    /// When the link last came up or went down (unix seconds); none before the first try.
    pub since: Option<i64>,
    /// When the box last reported its site config to the fleet, and at which revision.
    pub last_sync: Option<i64>,
    pub last_sync_revision: Option<u64>,
}

impl Agent {
    /// Loads the agent's state and counts this boot.
    pub fn new(
        settings: CloudSettings,
        store: Store,
        data_dir: PathBuf,
        staging: Option<crate::api::update::Staging>,
        metrics: crate::metrics::Metrics,
        provisioner: Arc<crate::provision::service::Provisioner>,
    ) -> Result<Arc<Agent>, SyncError> {
        let file = StateFile::new(&data_dir);
        let mut state = file.load()?;
        state.boot_seq += 1;
        file.save(&state)?;
        let (link, _) = tokio::sync::watch::channel(false);
        Ok(Arc::new(Agent {
            settings,
            store,
            file,
            state: Mutex::new(state),
            started: Instant::now(),
            link,
            metrics,
            provisioner,
            data_dir,
            staging,
            escrowed: AtomicBool::new(false),
            ledger: Mutex::new(Ledger::new(256)),
            uploaded: Mutex::new(None),
            view: std::sync::Mutex::new(LinkView::default()),
        }))
    }

    /// The link and the last exchange with the fleet, now.
    pub fn view(&self) -> LinkView {
        *self.view.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn note(&self, change: impl FnOnce(&mut LinkView)) {
        change(&mut self.view.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
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
    let endpoint = link::endpoint(&agent.settings, &will)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (client, events) = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        connected = link::connect(&endpoint, &tx) => connected,
    };
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
    client: &Client,
    rx: &mut mpsc::UnboundedReceiver<Incoming>,
    boot_seq: u64,
    token: &CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected = false;
    let mut active: Option<Active> = None;
    let mut check = tokio::time::interval(UPLOAD_CHECK);
    let mut offer = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), OFFER_EVERY);
    offer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let incoming = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = check.tick() => {
                if let Some(a) = active.as_mut().filter(|a| connected && a.last.elapsed() > STALL) {
                    tracing::warn!(backup = %a.upload.id, have = a.upload.have(), "backup upload stalled: asking the fleet where it stands");
                    a.upload.restart();
                    a.last = Instant::now();
                    send_manifest(agent, client, a).await?;
                }
                continue;
            }
            _ = offer.tick() => {
                if connected && active.is_none() {
                    offer_latest(agent, client, &mut active).await?;
                }
                continue;
            }
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
                agent.note(|v| *v = LinkView { connected: false, since: Some(unix_now()), ..*v });
            }
            Some(Incoming::Connected { session_present }) => {
                connected = true;
                agent.link.send_replace(true);
                agent.note(|v| *v = LinkView { connected: true, since: Some(unix_now()), ..*v });
                on_connect(agent, client, boot_seq, session_present).await?;
                if let Some(a) = active.as_mut() {
                    tracing::info!(backup = %a.upload.id, have = a.upload.have(), "resuming the backup upload");
                    a.upload.restart();
                    a.last = Instant::now();
                    send_manifest(agent, client, a).await?;
                }
            }
            Some(Incoming::Message { topic, payload }) => {
                on_message(agent, client, &mut active, &topic, &payload).await?;
            }
        }
    }
}

async fn publish_report(agent: &Agent, client: &Client, report: &Reported) -> Result<(), SyncError> {
    let topic = agent.id().topic(&Topic::Reported);
    client.publish(topic, QoS::AtLeastOnce, false, encode(report)).await?;
    agent.note(|v| {
        v.last_sync = Some(unix_now());
        v.last_sync_revision = Some(report.revision);
    });
    Ok(())
}

async fn on_connect(agent: &Agent, client: &Client, boot_seq: u64, session_present: bool) -> anyhow::Result<()> {
    for filter in agent.id().inbound_filters() {
        client.subscribe(filter, QoS::AtLeastOnce).await?;
    }
    client.subscribe(agent.id().topic(&Topic::Backup(part::ACK.into())), QoS::AtLeastOnce).await?;
    escrow_key(agent, client).await?;
    let online = Status::new(BoxState::Online, boot_seq, env!("CARGO_PKG_VERSION"), unix_now() as u64);
    client.publish(agent.id().topic(&Topic::Status), QoS::AtLeastOnce, true, encode(&online)).await?;
    let report = agent.store_call(move |s, st| hello(s, st, !session_present)).await?;
    if report.local_edits {
        tracing::info!(revision = report.revision, "reporting local config edits to the cloud");
    }
    publish_report(agent, client, &report).await?;
    Ok(())
}

async fn on_message(
    agent: &Agent,
    client: &Client,
    active: &mut Option<Active>,
    topic: &str,
    payload: &[u8],
) -> anyhow::Result<()> {
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
        Ok((id, Topic::Command(cid))) if &id == agent.id() => on_command(agent, client, active, &cid, payload).await?,
        Ok((id, Topic::Backup(p))) if &id == agent.id() && p == part::ACK => {
            on_ack(agent, client, active, payload).await?
        }
        other => tracing::debug!(topic, ?other, "ignoring a message"),
    }
    Ok(())
}

/// Local edits made while connected are reported; telemetry is dropped if the queue is full.
async fn periodic(agent: &Agent, client: &Client, boot_seq: u64) -> anyhow::Result<()> {
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
    let base = Telemetry::new(unix_now() as u64, env!("CARGO_PKG_VERSION"), up, boot_seq, revision);
    let telemetry = super::telemetry::sample(&agent.metrics, base);
    if client.try_publish(agent.id().topic(&Topic::Telemetry), QoS::AtMostOnce, false, encode(&telemetry)).is_err() {
        tracing::debug!("telemetry dropped: the MQTT queue is full");
    }
    Ok(())
}

/// An upload under way, and the command that asked for it.
struct Active {
    sealed: crate::backup::Sealed,
    upload: Upload,
    command: Option<String>,
    /// When the fleet last answered (or the manifest last went).
    last: Instant,
}

fn on_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Publishes the backup key once per boot, and only over TLS (or on loopback, for tests).
async fn escrow_key(agent: &Agent, client: &Client) -> Result<(), SyncError> {
    if agent.escrowed.load(Ordering::Relaxed) || !(agent.settings.tls || on_loopback(&agent.settings.host)) {
        return Ok(());
    }
    let path = crate::backup::key_path(&agent.data_dir);
    let key = tokio::task::spawn_blocking(move || crate::backup::BackupKey::load_or_create(&path))
        .await
        .map_err(|e| SyncError::Backup(e.to_string()))?
        .map_err(|e| SyncError::Backup(e.to_string()))?;
    let doc = KeyEscrow { schema: SCHEMA, key: hex::encode(key.0) };
    client.publish(agent.id().topic(&Topic::Backup(part::KEY.into())), QoS::AtLeastOnce, false, encode(&doc)).await?;
    agent.escrowed.store(true, Ordering::Relaxed);
    tracing::info!("backup key escrowed with the fleet");
    Ok(())
}

async fn send_manifest(agent: &Agent, client: &Client, a: &Active) -> Result<(), SyncError> {
    let topic = agent.id().topic(&Topic::Backup(part::MANIFEST.into()));
    client.publish(topic, QoS::AtLeastOnce, false, encode(&a.sealed.manifest)).await?;
    Ok(())
}

/// Starts uploading `sealed` (a running upload is given up: the newer backup wins).
async fn start_upload(
    agent: &Agent,
    client: &Client,
    active: &mut Option<Active>,
    sealed: crate::backup::Sealed,
    command: Option<String>,
) -> Result<(), SyncError> {
    if let Some(old) = active.take() {
        if let Some(c) = old.command {
            let reason = format!("superseded by backup {}", sealed.manifest.id);
            finish_command(agent, client, &c, CommandOutcome::Failed { reason }).await?;
        }
    }
    let upload = Upload::new(&sealed.manifest.id, sealed.chunks.len());
    tracing::info!(backup = %upload.id, chunks = sealed.chunks.len(), "uploading a backup to the fleet");
    let a = Active { sealed, upload, command, last: Instant::now() };
    send_manifest(agent, client, &a).await?;
    *active = Some(a);
    Ok(())
}

async fn on_ack(agent: &Agent, client: &Client, active: &mut Option<Active>, payload: &[u8]) -> Result<(), SyncError> {
    let ack: Ack = match decode(payload) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable backup ack ignored");
            return Ok(());
        }
    };
    let Some(a) = active.as_mut() else { return Ok(()) };
    if ack.id != a.upload.id {
        return Ok(());
    }
    a.last = Instant::now();
    let answers_manifest = a.upload.awaiting_manifest();
    match a.upload.on_ack(&ack) {
        Step::Send(indexes) => {
            if answers_manifest && ack.have > 0 {
                tracing::info!(backup = %a.upload.id, from = ack.have, "backup upload continues where the fleet stands");
            }
            for i in indexes {
                let Some(chunk) = a.sealed.chunks.get(i) else { continue };
                let topic = agent.id().topic(&Topic::Backup(part::chunk(&a.upload.id, i)));
                client.publish(topic, QoS::AtLeastOnce, false, chunk.clone()).await?;
            }
        }
        Step::Complete => {
            tracing::info!(backup = %a.upload.id, "backup uploaded: the fleet holds it whole");
            *agent.uploaded.lock().await = Some(a.upload.id.clone());
            if let Some(c) = a.command.take() {
                finish_command(agent, client, &c, CommandOutcome::Done).await?;
            }
            *active = None;
        }
        Step::Failed(reason) => {
            tracing::warn!(backup = %a.upload.id, reason, "the fleet refused the backup");
            if let Some(c) = a.command.take() {
                finish_command(agent, client, &c, CommandOutcome::Failed { reason }).await?;
            }
            *active = None;
        }
    }
    Ok(())
}

/// Offers the newest local backup (the daily one) if the fleet may not hold it yet; a backup
/// the fleet holds whole costs one manifest and its ack.
async fn offer_latest(agent: &Agent, client: &Client, active: &mut Option<Active>) -> Result<(), SyncError> {
    let dir = agent.data_dir.clone();
    let newest =
        tokio::task::spawn_blocking(move || -> Result<Option<crate::backup::Sealed>, crate::backup::BackupError> {
            match crate::backup::local::list(&dir)?.pop() {
                Some((path, _)) => Ok(Some(crate::backup::file::read(&path)?)),
                None => Ok(None),
            }
        })
        .await
        .map_err(|e| SyncError::Backup(e.to_string()))?;
    match newest {
        Ok(Some(sealed)) if agent.uploaded.lock().await.as_deref() != Some(sealed.manifest.id.as_str()) => {
            start_upload(agent, client, active, sealed, None).await
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the local backups");
            Ok(())
        }
    }
}

async fn finish_command(agent: &Agent, client: &Client, id: &str, outcome: CommandOutcome) -> Result<(), SyncError> {
    let result = CommandResult::new(id, outcome);
    agent.ledger.lock().await.record(result.clone());
    tracing::info!(command = id, outcome = ?result.outcome, "command answered");
    let topic = agent.id().topic(&Topic::CommandResult(id.to_owned()));
    client.publish(topic, QoS::AtLeastOnce, true, encode(&result)).await?;
    Ok(())
}

/// The appliance image says so in os-release (`IMAGE_ID=outpost`, image/build).
async fn on_command(
    agent: &Agent,
    client: &Client,
    active: &mut Option<Active>,
    id: &str,
    payload: &[u8],
) -> Result<(), SyncError> {
    if payload.is_empty() {
        return Ok(());
    }
    if let Some(done) = agent.ledger.lock().await.seen(id).cloned() {
        let topic = agent.id().topic(&Topic::CommandResult(id.to_owned()));
        client.publish(topic, QoS::AtLeastOnce, true, encode(&done)).await?;
        return Ok(());
    }
    if active.as_ref().is_some_and(|a| a.command.as_deref() == Some(id)) {
        return Ok(()); // redelivered while it runs
    }
    let command: Command = match decode(payload) {
        Ok(c) => c,
        Err(e) => return finish_command(agent, client, id, CommandOutcome::Failed { reason: e.to_string() }).await,
    };
    tracing::info!(command = id, kind = ?command.kind, "command from the fleet");
    match command.kind {
        CommandKind::BackupNow => {
            let (store, dir, box_id) = (agent.store.clone(), agent.data_dir.clone(), agent.id().as_str().to_owned());
            let taken = tokio::task::spawn_blocking(move || {
                let (path, _) = crate::backup::local::take(&store, &dir, &box_id, unix_now())?;
                crate::backup::file::read(&path)
            })
            .await
            .map_err(|e| SyncError::Backup(e.to_string()))?;
            match taken {
                Ok(sealed) => start_upload(agent, client, active, sealed, Some(id.to_owned())).await,
                Err(e) => finish_command(agent, client, id, CommandOutcome::Failed { reason: e.to_string() }).await,
            }
        }
        CommandKind::Restore { backup } => match restore(agent, &backup).await {
            Ok(restored) => {
                finish_command(agent, client, id, CommandOutcome::Done).await?;
                tracing::warn!(
                    backup = restored,
                    status = RESTART_EXIT,
                    "restore staged: restarting the daemon to commit it"
                );
                // Time for the result to reach the broker (the event loop runs in its task).
                tokio::spawn(async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    std::process::exit(RESTART_EXIT);
                });
                Ok(())
            }
            Err(reason) => finish_command(agent, client, id, CommandOutcome::Failed { reason }).await,
        },
        CommandKind::Reprovision { mac } => {
            let Some(mac) = crate::site::normalize_mac(&mac) else {
                let reason = format!("`{mac}` is not a MAC address");
                return finish_command(agent, client, id, CommandOutcome::Failed { reason }).await;
            };
            let outcome = match crate::provision::checksync::reprovision(&agent.provisioner, &mac).await {
                Ok(n) if n > 0 => CommandOutcome::Done,
                Ok(_) => CommandOutcome::Failed { reason: format!("phone {mac} did not answer its check-sync") },
                Err(reason) => CommandOutcome::Failed { reason },
            };
            finish_command(agent, client, id, outcome).await
        }
        CommandKind::Reboot => {
            use crate::update::requests::{self, Request};
            if !agent.staging.as_ref().is_some_and(|s| s.root_service) {
                let reason = "no root service on this host reboots it (not the Outpost image): refusing".to_owned();
                return finish_command(agent, client, id, CommandOutcome::Unsupported { reason }).await;
            }
            // The daemon cannot reboot (it is not root): the image's root service does, once
            // the result is out.
            let placed = requests::place(&agent.data_dir, Request::Reboot, "cloud");
            let outcome = match placed {
                Ok(()) => CommandOutcome::Done,
                Err(e) => CommandOutcome::Failed { reason: format!("cannot ask for the reboot: {e}") },
            };
            finish_command(agent, client, id, outcome).await
        }
        CommandKind::Update { url, sha256 } => {
            let Some(staging) = agent.staging.clone() else {
                let reason = "this box takes no update bundles".to_owned();
                return finish_command(agent, client, id, CommandOutcome::Unsupported { reason }).await;
            };
            let staged = super::fetch::update(&staging, &agent.store, &agent.settings.ca_file, &url, &sha256).await;
            let outcome = match staged {
                Ok(s) => {
                    tracing::warn!(version = %s.version, %url, "update bundle from the cloud staged: {}", s.next);
                    CommandOutcome::Done
                }
                Err(reason) => {
                    tracing::warn!(%url, %reason, "update bundle from the cloud refused");
                    CommandOutcome::Failed { reason }
                }
            };
            finish_command(agent, client, id, outcome).await
        }
    }
}

/// Fetches backup `which` from the fleet and stages it (checked whole); its id.
async fn restore(agent: &Agent, which: &str) -> Result<String, String> {
    let sealed = super::backup::fetch_backup(&agent.settings, which, FETCH_TIMEOUT).await.map_err(|e| e.to_string())?;
    let dir = agent.data_dir.clone();
    tokio::task::spawn_blocking(move || {
        let key = crate::backup::BackupKey::load(&crate::backup::key_path(&dir)).map_err(|e| e.to_string())?;
        crate::backup::restore::stage(&dir, &sealed, &key).map_err(|e| e.to_string())?;
        Ok(sealed.manifest.id)
    })
    .await
    .map_err(|e| e.to_string())?
}
