//! `outpost-fleet`: the cloud side of cloud sync. Keeps, per box, the desired site config with
//! its history, the last report, status and telemetry, backups with retention, escrowed backup
//! keys, commands, claim codes; pushes configs and commands over MQTT; serves a REST API and a
//! dashboard (docs/sync-protocol.md, docs/claim.md, docs/fleet-dashboard.md).
//!
//! # Layout
//! - `store`: SQLite (numbered migrations), one file per concern.
//! - `mqtt`: the fleet's broker connection: reports, statuses, telemetry, backup parts in;
//!   desired documents, commands, acks out.
//! - `broker`: the embedded broker (rumqttd on loopback) and the gateway boxes connect to
//!   (per-box ACL, TLS); without `--broker` it is what the fleet runs.
//! - `backups`, `escrow`: backups received chunk by chunk with retention; backup keys sealed
//!   under the fleet's own key.
//! - `commands`, `claim`, `replace`: cloud commands; claim codes; what a replacement box gets.
//! - `api`, `web`: the REST API and the dashboard (login, sessions, CSRF) over one router.

mod api;
mod backups;
mod broker;
mod claim;
mod commands;
mod escrow;
mod https;
mod mqtt;
mod replace;
mod store;
mod web;

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

#[derive(clap::Args)]
struct RunArgs {
    /// An external MQTT broker, mqtt://host:port or mqtts://host[:port]. Without it the
    /// fleet runs its embedded broker behind the gateway on `--mqtt-listen`.
    #[arg(long)]
    broker: Option<String>,
    /// PEM file of the CAs of an mqtts:// broker (default: the system's).
    #[arg(long)]
    broker_ca: Option<PathBuf>,
    /// MQTT version with the external broker: auto (MQTT 5 where the broker has it, else
    /// 3.1.1), 5 or 3.1.1. The embedded broker speaks 3.1.1.
    #[arg(long, default_value = "auto", value_parser = parse_protocol)]
    broker_protocol: cloud_sync::link::Protocol,
    /// Name of this instance, when several share one external broker: client id
    /// `outpost-fleet-<NAME>`, shared subscriptions (each report handled by one instance).
    #[arg(long, value_parser = parse_instance)]
    instance: Option<String>,
    /// Where the embedded broker's gateway takes box connections. TLS unless on loopback
    /// (plain MQTT is refused on any other address).
    #[arg(long, default_value = "0.0.0.0:8883")]
    mqtt_listen: SocketAddr,
    /// TLS on a loopback `--mqtt-listen` too.
    #[arg(long)]
    mqtt_tls: bool,
    /// HTTPS for the API and dashboard on a loopback `--api` too (any other address always
    /// gets HTTPS), with the gateway's certificate.
    #[arg(long)]
    api_tls: bool,
    /// The gateway's certificate (PEM). Without it and the key, a self-signed one is made
    /// into `<data>/mqtt-cert.pem` on first start.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The gateway's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// More names (DNS or IP) for the self-signed certificate: those boxes dial.
    #[arg(long)]
    tls_name: Vec<String>,
    /// The broker URL handed to claimed boxes (default: the gateway's address, or `--broker`):
    /// set it when boxes dial a name, not the listen address.
    #[arg(long)]
    public_mqtt: Option<String>,
    /// Broker username of the fleet service (the ACL lets it use every box's topics); the
    /// password comes from $OUTPOST_FLEET_PASSWORD, never the command line.
    #[arg(long)]
    username: Option<String>,
    /// Where the REST API and the dashboard listen (plain HTTP: keep it on loopback, or put a
    /// TLS proxy in front).
    #[arg(long, default_value = "127.0.0.1:8088")]
    api: SocketAddr,
    /// Data directory (the SQLite store).
    #[arg(long, default_value = "/var/lib/outpost-fleet")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the fleet service.
    Run(Box<RunArgs>),
    /// Boxes known to the embedded broker (claimed boxes are added by the claim).
    #[command(subcommand)]
    Box(BoxCmd),
}

#[derive(Subcommand)]
enum BoxCmd {
    /// Adds (or re-keys) a hand-configured box; its broker password comes from
    /// $OUTPOST_BOX_PASSWORD, never the command line.
    Add {
        box_id: String,
        #[arg(long)]
        tenant: String,
        /// Data directory (the SQLite store).
        #[arg(long, default_value = "/var/lib/outpost-fleet")]
        data: PathBuf,
    },
}

fn parse_protocol(s: &str) -> Result<cloud_sync::link::Protocol, String> {
    use cloud_sync::link::Protocol;
    match s {
        "auto" => Ok(Protocol::Auto),
        "5" => Ok(Protocol::V5),
        "3.1.1" => Ok(Protocol::V311),
        _ => Err("auto, 5 or 3.1.1".into()),
    }
}

fn parse_instance(s: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("use 1-32 of a-z A-Z 0-9 - _".into())
    }
}

/// `outpost-fleet box add`.
fn box_add(box_id: &str, tenant: &str, data: &std::path::Path) -> anyhow::Result<()> {
    let id = cloud_sync::BoxId::new(box_id)?;
    let password = std::env::var("OUTPOST_BOX_PASSWORD")
        .ok()
        .filter(|p| p.len() >= 8)
        .context("set $OUTPOST_BOX_PASSWORD to the box's broker password (8 characters or more)")?;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let store = store::FleetStore::open(&data.join("fleet.db"))?;
    store.add_box(id.as_str(), tenant, &password, store::now())?;
    println!("box {id} added to tenant {tenant}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rumqttd=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let run = match Cli::parse().command {
        Cmd::Box(BoxCmd::Add { box_id, tenant, data }) => return box_add(&box_id, &tenant, &data),
        Cmd::Run(run) => *run,
    };
    let RunArgs {
        broker,
        broker_ca,
        broker_protocol,
        instance,
        mqtt_listen,
        mqtt_tls,
        api_tls,
        tls_cert,
        tls_key,
        tls_name,
        public_mqtt,
        username,
        api,
        data,
    } = run;
    let password = std::env::var("OUTPOST_FLEET_PASSWORD").ok();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let store = store::FleetStore::open(&data.join("fleet.db"))?;
    // Made before the API listens, shown after its line (tests read that line first).
    let admin_password = web::session::first_admin(&store, std::env::var("OUTPOST_FLEET_ADMIN_PASSWORD").ok())?;
    let api_tls = if api_tls || !api.ip().is_loopback() {
        let (cert, key) = match (&tls_cert, &tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => broker::self_signed(&data, api.ip(), &tls_name)?,
        };
        Some(broker::tls_acceptor(&cert, &key)?)
    } else {
        None
    };
    // The embedded broker (no --broker) or the external one.
    let (connect, embedded) = match &broker {
        Some(url) => {
            let (host, port, tls) = mqtt::parse_broker(url)?;
            let tls = if tls { Some(mqtt::client_tls(broker_ca.as_deref())?) } else { None };
            let client_id =
                instance.as_ref().map_or_else(|| "outpost-fleet".to_owned(), |i| format!("outpost-fleet-{i}"));
            let shared = instance.is_some();
            let protocol = broker_protocol;
            (mqtt::Connect { host, port, client_id, username, password, tls, shared, protocol }, None)
        }
        None => {
            anyhow::ensure!(
                instance.is_none(),
                "--instance needs an external --broker (the embedded one is one instance)"
            );
            let tls_on = mqtt_tls || tls_cert.is_some() || !mqtt_listen.ip().is_loopback();
            let acceptor = if tls_on {
                let (cert, key) = match (tls_cert, tls_key) {
                    (Some(c), Some(k)) => (c, k),
                    _ => broker::self_signed(&data, mqtt_listen.ip(), &tls_name)?,
                };
                Some(broker::tls_acceptor(&cert, &key)?)
            } else {
                None
            };
            let internal = broker::start()?;
            let connect = mqtt::Connect {
                host: internal.addr.ip().to_string(),
                port: internal.addr.port(),
                client_id: broker::FLEET_CLIENT.to_owned(),
                username: Some(broker::FLEET_CLIENT.to_owned()),
                password: Some(internal.secret.to_string()),
                tls: None,
                shared: false,
                protocol: cloud_sync::link::Protocol::V311,
            };
            (connect, Some((internal, acceptor)))
        }
    };
    // The fleet's own key, under which escrowed backup keys are sealed (made on first start).
    let fleet_key = escrow::FleetKey::load_or_create(&data)?;
    let backups = backups::Backups { data: data.clone(), key: fleet_key };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let link = mqtt::start(connect, store.clone(), backups.clone()).await;
        let gateway = match embedded {
            Some((internal, tls)) => {
                let listener = tokio::net::TcpListener::bind(mqtt_listen)
                    .await
                    .with_context(|| format!("cannot listen on {mqtt_listen}"))?;
                let scheme = if tls.is_some() { "mqtts" } else { "mqtt" };
                let url = format!("{scheme}://{}", listener.local_addr()?);
                let gw = broker::gateway::Gateway {
                    listener,
                    tls,
                    upstream: internal.addr,
                    secret: internal.secret,
                    store: store.clone(),
                    verified: Default::default(),
                };
                Some((url, gw))
            }
            None => None,
        };
        // What boxes are told to dial (claims): the gateway, or the external broker.
        let broker = match (&public_mqtt, &gateway, &broker) {
            (Some(url), _, _) => url.clone(),
            (None, Some((url, _)), _) => url.clone(),
            (None, None, Some(b)) => b.clone(),
            (None, None, None) => String::new(),
        };
        let listener = tokio::net::TcpListener::bind(api).await.with_context(|| format!("cannot listen on {api}"))?;
        let scheme = if api_tls.is_some() { "https" } else { "http" };
        println!("outpost-fleet API on {scheme}://{}", listener.local_addr()?);
        if let Some((url, gw)) = gateway {
            println!("outpost-fleet MQTT on {url}");
            tokio::spawn(gw.serve());
        }
        if let Some(pw) = &admin_password {
            use std::io::Write;
            // Whoever started the service may have stopped reading stdout: never fail on it.
            let _ = writeln!(
                std::io::stdout(),
                "outpost-fleet dashboard: log in as `{}` with password {pw} (shown once)",
                web::session::FIRST_USER
            );
        }
        let app = api::router(api::App {
            store,
            link,
            backups,
            public_mqtt: broker.clone(),
            claims: claim::Guard::default(),
            auth: web::Auth::default(),
        });
        if let Some(acceptor) = api_tls {
            https::serve(listener, acceptor, app).await;
            return Ok(());
        }
        // The peer address feeds the login rate limit.
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("API server")
    })
}
