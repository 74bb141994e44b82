//! `outpost-fleet`: the cloud side of cloud sync. Keeps, per box, the desired site config with
//! its history, the last report and the status, in SQLite; pushes configs over MQTT; answers a
//! small REST API (docs/sync-protocol.md).
//!
//! # Layout
//! - `store`: SQLite (numbered migrations): desired history, last report, status.
//! - `mqtt`: the broker connection: reports and statuses in, desired documents out.
//! - `api`: the REST API (axum) to push a config and read a box's state.
//!
//! This session supports an external broker only (`--broker`). The embedded broker
//! (`rumqttd`) is not built: rumqttd 0.20 uses tokio-rustls 0.25 (rustls 0.22), not the
//! workspace's rustls 0.23.

mod api;
mod claim;
mod mqtt;
mod replace;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "outpost-fleet", version, about = "Outpost fleet service")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the fleet service.
    Run {
        /// The MQTT broker, mqtt://host:port (an embedded broker is not built yet).
        #[arg(long)]
        broker: String,
        /// Broker username of the fleet service (the ACL lets it use every box's topics); the
        /// password comes from $OUTPOST_FLEET_PASSWORD, never the command line.
        #[arg(long)]
        username: Option<String>,
        /// Where the REST API listens. It has no login yet: keep it on loopback.
        #[arg(long, default_value = "127.0.0.1:8088")]
        api: SocketAddr,
        /// Data directory (the SQLite store).
        #[arg(long, default_value = "/var/lib/outpost-fleet")]
        data: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let Cmd::Run { broker, username, api, data } = Cli::parse().command;
    let password = std::env::var("OUTPOST_FLEET_PASSWORD").ok();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let store = store::FleetStore::open(&data.join("fleet.db"))?;
    let (host, port) = mqtt::parse_broker(&broker)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let link = mqtt::start(&host, port, username, password, store.clone()).await;
        let listener = tokio::net::TcpListener::bind(api).await.with_context(|| format!("cannot listen on {api}"))?;
        println!("outpost-fleet API on http://{}", listener.local_addr()?);
        let app = api::router(api::App { store, link, public_mqtt: broker.clone(), claims: claim::Guard::default() });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("API server")
    })
}
