//! Outpost's box daemon (`outpost`): the site's DHCP server, phone provisioning, SIP registrar
//! and call controller, media bridge, survivable routing and cloud sync, in one process.
//!
//! # Layout
//! - `daemon`: start-up (data dir, store, TLS, first admin), the banner, services, shutdown.
//! - `supervisor`: services as tasks of one `JoinSet`, restart or stop by policy.
//! - `config`: the daemon's own `outpost.toml` (listen addresses, data dir, logs).
//! - `site`: the site config document (tenants, extensions, devices, trunks, routes, scopes).
//! - `store`: SQLite (WAL, migrations), apply/export of the site config, users, audit, secrets.
//! - `api`: the admin REST API under `/api/v1` and `/metrics`; `web`: the HTTPS listener.
//! - `sip`: the SIP registrar (transports, digest auth, location service, defences) and the
//!   B2BUA that bridges calls (docs/sip.md, docs/calls.md).
//! - `routing`: where a call goes, a pure function of the site config, the call and the
//!   situation (trunk states, survivable mode, the site's clock).
//! - `trunk`: trunk health (OPTIONS probes), outbound registration, DNS targets (RFC 3263)
//!   and survivable mode (docs/trunks.md).
//! - `media`: the RTP bridge that anchors both legs of every call.
//! - `dhcp`: the LAN's DHCP server with per-vendor provisioning options (docs/dhcp.md).
//! - `provision`: the phones' files over TFTP and HTTPS (docs/provisioning.md).
//! - `tls`: the box certificate; `metrics`: Prometheus counters.
//! - `sync`: the cloud-sync agent (MQTT; off without `[cloud] broker`).
//! - `ui`: the local web UI under `/ui/` (docs/web-ui.md).
//!
//! Not built yet (see the README's status table): most of the web UI; cloud sync is partial (config
//! only).

pub mod api;
pub mod backup;
pub mod config;
pub mod daemon;
pub mod dhcp;
pub mod durable;
pub mod media;
pub mod metrics;
pub mod provision;
pub mod routing;
pub mod sip;
pub mod site;
pub mod store;
pub mod supervisor;
pub mod sync;
pub mod tls;
pub mod trunk;
pub mod ui;
pub mod update;
pub mod web;
