//! Start-up and shutdown of the box: prepares the data directory, store, box key, certificate
//! and first admin, prints the banner, runs the services under the supervisor, and stops them
//! on SIGTERM or SIGINT within the configured grace time.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::dhcp::{self, driver, DhcpShared, DhcpStatus};
use crate::metrics::Metrics;
use crate::provision::service::{Endpoint, Provisioner};
use crate::site::{SiteDoc, Tenant};
use crate::store::{SecretBox, Store};
use crate::supervisor::{Policy, Stopped, Supervisor};
use crate::{provision, sip, tls, web};

/// Opens the store in `data_dir`, creating the directory (0700) and the box key if needed.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict data directory {}", data_dir.display()))?;
    // A restore staged before this start (from a backup) takes effect now, before anything
    // reads the box key or the store.
    if crate::backup::restore::finish(data_dir)? {
        tracing::warn!(data_dir = %data_dir.display(), "restored from a backup");
    }
    let secrets = SecretBox::load_or_create(&data_dir.join("box.key"))?;
    Ok(Store::open(&data_dir.join("outpost.db"), secrets)?)
}

/// The document a new box starts with: one tenant, reachable at the box's `.local` name.
pub fn first_site(hostname: &str) -> SiteDoc {
    let mut doc = SiteDoc::default();
    doc.site.name = hostname.to_owned();
    doc.tenants.push(Tenant {
        name: "default".into(),
        display_name: "Default tenant".into(),
        domains: vec!["outpost.local".into()],
        emergency_numbers: vec!["112".into(), "911".into()],
        extensions: Vec::new(),
        devices: Vec::new(),
        ring_groups: Vec::new(),
        trunks: Vec::new(),
        inbound_routes: Vec::new(),
        outbound_routes: Vec::new(),
        blocked: Vec::new(),
        remote_sites: Vec::new(),
        holidays: Vec::new(),
        templates: Vec::new(),
    });
    doc
}

/// Runs the box until SIGTERM/SIGINT or a fatal service failure.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config.data_dir)?;
    let hostname = tls::hostname();
    if store.revision()? == 0 {
        store.apply_site(first_site(&hostname), "system")?;
        tracing::info!("created the default tenant");
    }
    let first_password = store.ensure_first_admin()?;
    let identity = tls::Identity::load_or_create(&config.data_dir.join("tls"), &hostname)?;
    let tls_config = identity.server_config()?;

    // Bind before announcing anything: a port in use is a start-up error, not a retry loop.
    let api_listener = web::bind(config.api).await?.into_std()?;
    let api_addr = api_listener.local_addr()?;

    let cancel = CancellationToken::new();
    let mut supervisor = Supervisor::new(cancel.clone());
    let metrics = Metrics::new();
    let sip = sip::start(store.clone(), metrics.clone(), &config.sip, cancel.clone()).await?;
    // Media of every call is anchored on the box, at the address the B2BUA advertises.
    let media_address = sip.core().b2bua.me.ip();
    let bridge =
        crate::media::Bridge::new(crate::media::MediaConfig::from_config(&config, media_address), metrics.clone());
    sip.attach_media(bridge.clone(), cancel.clone());
    spawn_sip(&mut supervisor, &config.sip, &sip, &identity).await?;
    // Without `[dhcp] interface`, the interface a scope of the site names (chosen at setup):
    // a problem with that one turns DHCP off with the reason instead of stopping the box.
    let mut config = config;
    let dhcp_from_site = config.dhcp.is_none() && config.dhcp_from_site;
    if dhcp_from_site {
        if let Some(interface) = driver::interface_from_site(&store.export_site()?, Path::new("/sys/class/net")) {
            config.notes.retain(|n| !n.starts_with("DHCP off"));
            config.notes.push(format!("DHCP on {interface}, as a DHCP scope of the site names it"));
            config.dhcp = Some((interface, 67));
        }
    }
    // The DHCP interface's address and MAC, read once: DHCP serves on it, and the phones'
    // files name it as the box's address (as option 66 does) unless `[provision] host` is set.
    let lan = match &config.dhcp {
        Some((interface, _)) => match driver::interface_info(interface).await {
            Ok(info) => Ok(info),
            Err(e) if dhcp_from_site => Err(format!("{interface}: {e}")),
            Err(e) => return Err(e).context("cannot serve DHCP"),
        },
        None => Err("no [dhcp] interface configured, and no DHCP scope names an interface of this box".into()),
    };
    let prov =
        start_provisioning(&mut supervisor, &config, &store, &metrics, api_addr, lan.as_ref().ok().map(|(ip, _)| *ip))
            .await?;
    let dhcp = start_dhcp(&mut supervisor, &config, &store, &metrics, (lan, dhcp_from_site), &prov.endpoint).await?;
    let cloud = spawn_cloud_sync(&mut supervisor, &config, &store, &metrics, &prov, &sip, &cancel)?;
    let mut state = AppState::new(store.clone(), metrics.clone());
    state.cloud = cloud;
    state.sip = Some(sip.clone());
    state.media = Some(bridge);
    state.dhcp = Some(dhcp);
    state.provisioning = Some(prov.clone());
    state.data_dir = Some(config.data_dir.clone());
    state.dhcp_from_site = config.dhcp_from_site;
    let backups = crate::backup::local::Local {
        data_dir: config.data_dir.clone(),
        box_id: config.box_name(),
        cloud: config.cloud.as_ref().map(|c| format!("{}:{}", c.host, c.port)),
    };
    state.backups = Some(backups.clone());
    state.updates = Some(crate::api::update::Staging {
        data_dir: config.data_dir.clone(),
        public_key: config.update_key.clone(),
        root_service: config.root_service,
    });
    tokio::spawn(crate::backup::local::schedule(store.clone(), backups, cancel.clone()));
    tokio::spawn(crate::ui::chart::sample(store.clone(), state.registrations.clone(), cancel.clone()));
    // The trusted networks added on the box, beside the configured allowlists.
    crate::api::trusted::apply(&state).await.map_err(|e| anyhow::anyhow!("cannot read the trusted networks: {e}"))?;
    let extra = provisioning_routes(&config, &prov)?.merge(crate::ui::router(state.clone()));
    let router = api::router_with(state, extra);
    // Signals are caught from here on: a SIGTERM right after the banner stops cleanly too.
    use tokio::signal::unix::{signal, SignalKind};
    let signals = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    tokio::spawn(stop_on_signal(signals, cancel.clone()));
    // Everything is bound: what the banner announces answers from now on.
    println!("{}", banner(&config, api_addr, &identity, &prov.endpoint, first_password.as_deref()));
    // Only now: a bound port answers a probe before anything serves it, and the ready line
    // must never come before the banner (the one-time password) on the console.
    crate::update::spawn_monitor(&config);
    supervisor.spawn("https", Policy::Restart { max_backoff: Duration::from_secs(30) }, move |token| {
        let listener = api_listener.try_clone().map(tokio::net::TcpListener::from_std);
        let (tls_config, router) = (tls_config.clone(), router.clone());
        async move { web::serve(listener??, tls_config, router, token).await }
    });

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "outpost running");
    match supervisor.run(config.shutdown_timeout).await {
        Stopped::Clean => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
        Stopped::Aborted(services) => {
            tracing::warn!(?services, "stopped; some services had to be aborted");
            Ok(())
        }
        Stopped::Failed { service, error } => anyhow::bail!("service {service} failed: {error}"),
    }
}

/// The cloud-sync agent, when `[cloud] broker` is set (or the box is claimed); it reconnects by
/// itself, and the supervisor restarts it if it stops with an error.
fn spawn_cloud_sync(
    supervisor: &mut Supervisor,
    config: &Config,
    store: &Store,
    metrics: &Metrics,
    provisioner: &Arc<Provisioner>,
    sip: &Arc<sip::Shared>,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<Arc<crate::sync::Agent>>> {
    let Some(settings) = config.cloud.clone() else { return Ok(None) };
    let data_dir = config.data_dir.clone();
    let agent = crate::sync::Agent::new(
        settings,
        store.clone(),
        data_dir.clone(),
        Some(crate::api::update::Staging {
            data_dir,
            public_key: config.update_key.clone(),
            root_service: config.root_service,
        }),
        metrics.clone(),
        provisioner.clone(),
    )?;
    tokio::spawn(sip::trunks::follow_cloud_link(sip.clone(), agent.link(), cancel.clone()));
    let running = agent.clone();
    supervisor.spawn("cloud-sync", Policy::Restart { max_backoff: Duration::from_secs(60) }, move |token| {
        crate::sync::run(running.clone(), token)
    });
    Ok(Some(agent))
}

/// Provisioning: the box's address as phones see it, TFTP (bound here, so that a port in use
/// stops the start) and check-sync, as services.
async fn start_provisioning(
    supervisor: &mut Supervisor,
    config: &Config,
    store: &Store,
    metrics: &Metrics,
    api_addr: std::net::SocketAddr,
    lan_ip: Option<std::net::Ipv4Addr>,
) -> anyhow::Result<Arc<Provisioner>> {
    let lan_ip = lan_ip.map(|ip| ip.to_string());
    let host = provision::settings::box_host(config.provision.host.as_deref().or(lan_ip.as_deref()), api_addr);
    let sip_port = config.sip.udp.or(config.sip.tcp).map_or(5060, |a| a.port());
    let endpoint = Endpoint::new(&host, api_addr.port(), sip_port, config.provision.resync_interval);
    let prov = Arc::new(Provisioner::new(store.clone(), endpoint, config.provision.clone(), metrics.clone()));
    provision::tftp::warn_if_secrets_allowed(&*prov.doc().await?);
    let restart = Policy::Restart { max_backoff: Duration::from_secs(30) };
    if let Some(addr) = config.tftp {
        let socket =
            std::net::UdpSocket::bind(addr).with_context(|| format!("cannot listen for TFTP on udp {addr}"))?;
        let prov = prov.clone();
        supervisor.spawn("tftp", restart, move |token| {
            let (socket, prov) = (socket.try_clone(), prov.clone());
            async move { provision::tftp::serve(socket?, prov, token).await }
        });
    }
    let checksync = prov.clone();
    supervisor.spawn("check-sync", restart, move |token| provision::checksync::run(checksync.clone(), token));
    Ok(prov)
}

/// How long the DHCP probe listens for another server before serving. dnsmasq pings an address
/// (about 3 s) before its first OFFER, so a shorter wait would miss the commonest rival.
const DHCP_PROBE_WAIT: Duration = Duration::from_secs(5);

/// DHCP on `[dhcp] interface`, when a scope covers that interface or its network. A missing
/// interface or a port in use stops the start; no matching scope only turns DHCP off.
async fn start_dhcp(
    supervisor: &mut Supervisor,
    config: &Config,
    store: &Store,
    metrics: &Metrics,
    (lan, from_site): (Result<(std::net::Ipv4Addr, [u8; 6]), String>, bool),
    provisioning: &Endpoint,
) -> anyhow::Result<Arc<DhcpShared>> {
    driver::describe(metrics);
    let off = |reason: String| {
        tracing::warn!("DHCP off: {reason}");
        Ok(Arc::new(DhcpShared::new(DhcpStatus::Off { reason })))
    };
    let (Some((interface, port)), Ok((ip, mac))) = (config.dhcp.clone(), lan.clone()) else {
        return off(lan.err().unwrap_or_else(|| "no [dhcp] interface configured".into()));
    };
    let (_, scopes) = driver::scopes(store)?;
    if !scopes.iter().any(|s| s.interface.as_deref() == Some(interface.as_str()) || s.contains(ip)) {
        let reason = format!("no DHCP scope for interface {interface} or its network ({ip})");
        tracing::warn!("DHCP off: {reason}");
        return Ok(Arc::new(DhcpShared::new(DhcpStatus::Off { reason })));
    }
    let socket = match driver::bind(&interface, port, false) {
        Ok(socket) => Arc::new(socket),
        Err(e) if from_site => return off(format!("cannot listen on {interface} udp {port}: {e}")),
        Err(e) => return Err(e).with_context(|| format!("cannot listen for DHCP on {interface} udp {port}")),
    };
    // The same URL the files carry: option 66 and the bootstrap cannot disagree.
    let provisioning = dhcp::options::Provisioning {
        url: provisioning.provisioning_url.clone(),
        // Options 150 and 66-as-address cannot name a port: only offered when TFTP is on 69.
        tftp: config.tftp.filter(|a| a.port() == 69).map(|_| ip),
    };
    let shared = Arc::new(DhcpShared::new(DhcpStatus::Probing { interface: interface.clone() }));
    let service = driver::Service {
        store: store.clone(),
        metrics: metrics.clone(),
        shared: shared.clone(),
        ctx: dhcp::Context { server_ip: ip, port, interface, provisioning },
        mac,
        probe_wait: DHCP_PROBE_WAIT,
    };
    supervisor.spawn("dhcp", Policy::Restart { max_backoff: Duration::from_secs(30) }, move |token| {
        driver::run(service.clone(), socket.clone(), token)
    });
    Ok(shared)
}

/// `/prov/` on the HTTPS listener, merged into the API's router.
fn provisioning_routes(config: &Config, prov: &Arc<Provisioner>) -> anyhow::Result<axum::Router<()>> {
    let uploads = provision::uploads::Uploads::new(config.data_dir.join("uploads"), config.provision.uploads);
    Ok(provision::https::router(Arc::new(provision::https::Https::new(prov.clone(), uploads)?)))
}

/// Binds the SIP listeners (a port in use stops the start) and runs each as a service.
async fn spawn_sip(
    supervisor: &mut Supervisor,
    settings: &sip::SipSettings,
    shared: &Arc<sip::Shared>,
    identity: &tls::Identity,
) -> anyhow::Result<()> {
    let restart = Policy::Restart { max_backoff: Duration::from_secs(30) };
    if let Some(addr) = settings.udp {
        let socket =
            Arc::new(UdpSocket::bind(addr).await.with_context(|| format!("cannot listen for SIP on udp {addr}"))?);
        let shared = shared.clone();
        supervisor.spawn("sip-udp", restart, move |token| sip::udp::serve(socket.clone(), shared.clone(), token));
    }
    let limits = Arc::new(sip::stream::Limits { per_ip: settings.max_connections_per_ip, idle: settings.idle_timeout });
    let tls = identity.sip_acceptor()?;
    for (addr, acceptor, name) in [(settings.tcp, None, "sip-tcp"), (settings.tls, Some(tls), "sip-tls")] {
        let Some(addr) = addr else { continue };
        let listener =
            std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen for SIP on {name} {addr}"))?;
        listener.set_nonblocking(true)?;
        let (shared, limits) = (shared.clone(), limits.clone());
        supervisor.spawn(name, restart, move |token| {
            let listener = listener.try_clone().map(TcpListener::from_std);
            let (shared, limits, acceptor) = (shared.clone(), limits.clone(), acceptor.clone());
            async move { sip::stream::serve(listener??, acceptor, shared, limits, token).await }
        });
    }
    Ok(())
}

async fn stop_on_signal(
    (mut term, mut int): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
    cancel: CancellationToken,
) {
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = which, "shutting down");
    cancel.cancel();
}

fn banner(
    config: &Config,
    api: std::net::SocketAddr,
    identity: &tls::Identity,
    provisioning: &Endpoint,
    password: Option<&str>,
) -> String {
    let host = if api.ip().is_unspecified() { "127.0.0.1".to_string() } else { api.ip().to_string() };
    let mut b = String::new();
    let _ = writeln!(b, "Outpost {} is running", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(b, "  Admin API:   https://{host}:{}/api/v1/health", api.port());
    let _ = writeln!(b, "  Web UI:      https://{host}:{}/ui/", api.port());
    let _ = writeln!(b, "  Certificate: {} (SHA-256 {})", identity.cert_path.display(), identity.fingerprint());
    let listening: Vec<String> = [("udp", config.sip.udp), ("tcp", config.sip.tcp), ("tls", config.sip.tls)]
        .iter()
        .filter_map(|(t, a)| a.map(|a| format!("{t} {a}")))
        .collect();
    let _ =
        writeln!(b, "  SIP:         {}", if listening.is_empty() { "off".to_owned() } else { listening.join(", ") });
    let tftp = config.tftp.map_or("TFTP off".to_owned(), |a| format!("TFTP udp {a}"));
    let _ = writeln!(b, "  Phone files: {} ({tftp})", provisioning.provisioning_url);
    let dhcp = config.dhcp.as_ref().map_or("off".to_owned(), |(i, p)| format!("{i} udp {p}"));
    let _ = writeln!(b, "  DHCP:        {dhcp}");
    let _ = writeln!(b, "  Data:        {}", config.data_dir.display());
    match password {
        Some(p) => {
            let _ = writeln!(b, "  Admin login: admin / {p}   (one-time password: change it at first login)");
        }
        None => {
            let _ = writeln!(b, "  Admin login: as set before (forgotten? `outpost admin reset-password`)");
        }
    }
    for note in &config.notes {
        let _ = writeln!(b, "  Note:        {note}");
    }
    b
}
