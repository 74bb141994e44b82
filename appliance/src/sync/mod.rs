//! The cloud-sync agent: keeps the box's site config in step with the fleet service over MQTT
//! (`docs/sync-protocol.md`; the wire types are the `cloud-sync` crate).
//!
//! Off unless `[cloud] broker` is set. It never blocks the box: the rumqttc event loop runs in
//! its own task, incoming messages reach the agent over a channel, and telemetry is dropped
//! when the client's bounded request queue is full.
//!
//! # Layout
//! - `settings`: the `[cloud]` table, checked (broker URL, box id, credentials, TLS roots).
//! - `state`: what the agent keeps across restarts (boot sequence, last report) in a small file.
//! - `apply`: a desired document → `Store::apply_site` → the report (applied, rejected, conflict).
//! - `link`: the MQTT connection: options, last will, the event-loop task with backoff.
//! - `backup`: backup upload progress (pure) and the download for a restore (`fetch_backup`).
//! - `agent`: the loop that ties them together (config, backups, commands).

mod agent;
mod apply;
pub mod backup;
pub mod claim;
mod fetch;
mod link;
pub mod settings;
mod state;
mod telemetry;

pub use agent::{run, Agent, LinkView};
pub use backup::fetch_backup;
pub use settings::CloudSettings;

/// Why the agent stopped (the supervisor restarts it).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cloud-sync state file {path}: {reason}")]
    State { path: String, reason: String },
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("MQTT client: {0}")]
    Client(#[from] cloud_sync::link::ClientError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("backup transfer: {0}")]
    Backup(String),
}
