//! Applying and exporting the site config document.
//!
//! An apply validates the whole document, then rewrites the config tables in one immediate
//! transaction together with the revision bump and the audit row: the database holds either the
//! old document or the new one, never a mix. Exporting and re-applying is a no-op.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::secrets::random_password;
use super::{audit, unix_now, SecretBox, Store, StoreError};
use crate::site::{self, *};

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub revision: u64,
    /// False when the document equalled the stored one: nothing was written.
    pub changed: bool,
}

impl Store {
    pub fn revision(&self) -> Result<u64, StoreError> {
        let rev: i64 = self.conn().query_row("SELECT revision FROM site_meta", [], |r| r.get(0))?;
        Ok(rev as u64)
    }

    pub(super) fn ensure_site_meta(&self) -> Result<(), StoreError> {
        let site = Site::default();
        self.conn().execute(
            "INSERT OR IGNORE INTO site_meta (id, revision, name, time_zone, updated_at) VALUES (1, 0, ?1, ?2, ?3)",
            params![site.name, site.time_zone, unix_now()],
        )?;
        Ok(())
    }

    /// The current document, secrets included (the caller decides whether to show them).
    pub fn export_site(&self) -> Result<SiteDoc, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let doc = read_doc(&tx, &self.secrets)?;
        Ok(doc)
    }

    /// Validates and applies `doc` as `actor`, all or nothing. See the module doc.
    pub fn apply_site(&self, mut doc: SiteDoc, actor: &str) -> Result<Applied, StoreError> {
        site::validate(&mut doc).map_err(SiteError::Invalid)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = read_doc(&tx, &self.secrets)?;
        let revision = current.revision.unwrap_or(0);
        if let Some(base) = doc.revision {
            if base != revision {
                return Err(SiteError::Conflict { base, current: revision }.into());
            }
        }
        doc.revision = Some(revision);
        fill_secrets(&mut doc, &current)?;
        if doc == current {
            return Ok(Applied { revision, changed: false });
        }
        let next = revision + 1;
        write_doc(&tx, &doc, &self.secrets, next)?;
        super::portal::drop_orphans(&tx, actor)?;
        let detail = format!("revision {revision} -> {next}: {}", summary(&doc));
        audit::record(&tx, actor, "config.apply", &detail)?;
        tx.commit()?;
        tracing::info!(actor, revision = next, "site config applied");
        Ok(Applied { revision: next, changed: true })
    }
}

/// Omitted secrets keep their stored value; a new extension without one gets a random one.
fn fill_secrets(doc: &mut SiteDoc, current: &SiteDoc) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    for (ti, tenant) in doc.tenants.iter_mut().enumerate() {
        let old = current.tenants.iter().find(|t| t.name == tenant.name);
        for ext in tenant.extensions.iter_mut().filter(|x| x.secret.is_none()) {
            let stored = old.and_then(|t| t.extensions.iter().find(|x| x.number == ext.number));
            ext.secret = match stored.and_then(|x| x.secret.clone()) {
                Some(s) => Some(s),
                None => Some(random_password(16)?),
            };
        }
        for (i, trunk) in tenant.trunks.iter_mut().enumerate() {
            if trunk.username.is_some() && trunk.secret.is_none() {
                let stored = old.and_then(|t| t.trunks.iter().find(|x| x.name == trunk.name));
                trunk.secret = stored.and_then(|x| x.secret.clone());
                if trunk.secret.is_none() {
                    missing.push(FieldError {
                        field: format!("tenants[{ti}].trunks[{i}].secret"),
                        reason: "a trunk with a username needs a secret".into(),
                    });
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SiteError::Invalid(missing).into())
    }
}

fn summary(doc: &SiteDoc) -> String {
    let count = |f: fn(&Tenant) -> usize| doc.tenants.iter().map(f).sum::<usize>();
    format!(
        "{} tenants, {} extensions, {} devices, {} ring groups, {} trunks, {} routes, {} DHCP scopes",
        doc.tenants.len(),
        count(|t| t.extensions.len()),
        count(|t| t.devices.len()),
        count(|t| t.ring_groups.len()),
        count(|t| t.trunks.len()),
        count(|t| t.inbound_routes.len() + t.outbound_routes.len()),
        doc.dhcp_scopes.len()
    )
}

/// A tenant's routing extras, one JSON column (migration 0006).
#[derive(Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct TenantRouting {
    blocked: Vec<Blocked>,
    remote_sites: Vec<RemoteSite>,
    holidays: Vec<String>,
}

impl TenantRouting {
    fn of(t: &Tenant) -> TenantRouting {
        TenantRouting { blocked: t.blocked.clone(), remote_sites: t.remote_sites.clone(), holidays: t.holidays.clone() }
    }
}

/// A trunk's fields beyond its columns.
#[derive(Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct TrunkOptions {
    register: Option<bool>,
    domain: Option<String>,
    caller_id: Option<String>,
    codecs: Vec<String>,
    health: TrunkHealth,
}

impl TrunkOptions {
    fn of(k: &Trunk) -> TrunkOptions {
        TrunkOptions {
            register: k.register,
            domain: k.domain.clone(),
            caller_id: k.caller_id.clone(),
            codecs: k.codecs.clone(),
            health: k.health.clone(),
        }
    }
}

/// An inbound route's conditions.
#[derive(Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct RouteConditions {
    caller: Option<String>,
    days: Vec<String>,
    hours: Option<String>,
}

impl RouteConditions {
    fn of(r: &InboundRoute) -> RouteConditions {
        RouteConditions { caller: r.caller.clone(), days: r.days.clone(), hours: r.hours.clone() }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("JSON column: {e}")))
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::Corrupt(format!("unknown value `{s}`: {e}")))
}

fn write_doc(tx: &Transaction<'_>, doc: &SiteDoc, secrets: &SecretBox, revision: u64) -> Result<(), StoreError> {
    // Children go with their tenant or scope by ON DELETE CASCADE.
    tx.execute_batch("DELETE FROM tenants; DELETE FROM dhcp_scopes;")?;
    tx.execute(
        "UPDATE site_meta SET revision = ?1, name = ?2, time_zone = ?3, updated_at = ?4, survivable = ?5",
        params![revision as i64, doc.site.name, doc.site.time_zone, unix_now(), json(&doc.site.survivable)],
    )?;
    for t in &doc.tenants {
        tx.execute(
            "INSERT INTO tenants (name, display_name, emergency_numbers, routing) VALUES (?1, ?2, ?3, ?4)",
            params![t.name, t.display_name, json(&t.emergency_numbers), json(&TenantRouting::of(t))],
        )?;
        let tid = tx.last_insert_rowid();
        for (i, d) in t.domains.iter().enumerate() {
            tx.execute(
                "INSERT INTO tenant_domains (domain, tenant_id, position) VALUES (?1, ?2, ?3)",
                params![d, tid, i],
            )?;
        }
        for x in &t.extensions {
            let secret = secrets.seal_str(x.secret.as_deref().unwrap_or_default())?;
            tx.execute(
                "INSERT INTO extensions (tenant_id, number, name, secret_enc, forward_always, forward_busy,
                 forward_no_answer, no_answer_secs, caller_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    tid,
                    x.number,
                    x.name,
                    secret,
                    x.forward_always,
                    x.forward_busy,
                    x.forward_no_answer,
                    x.no_answer_secs,
                    x.caller_id
                ],
            )?;
        }
        for tpl in &t.templates {
            tx.execute(
                "INSERT INTO tenant_templates (tenant_id, vendor, body) VALUES (?1, ?2, ?3)",
                params![tid, tpl.vendor.as_str(), tpl.body],
            )?;
        }
        for (i, d) in t.devices.iter().enumerate() {
            tx.execute(
                "INSERT INTO devices (mac, tenant_id, position, vendor, model, extension) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![d.mac, tid, i, d.vendor.as_str(), d.model, d.extension],
            )?;
        }
        for g in &t.ring_groups {
            tx.execute(
                "INSERT INTO ring_groups (tenant_id, number, name, strategy, member_timeout, members) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tid, g.number, g.name, g.strategy.as_str(), g.member_timeout, json(&g.members)],
            )?;
        }
        for k in &t.trunks {
            let secret = k.secret.as_deref().map(|s| secrets.seal_str(s)).transpose()?;
            tx.execute(
                "INSERT INTO trunks (tenant_id, name, role, host, port, transport, username, secret_enc, max_channels,
                 options) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    tid,
                    k.name,
                    enum_str(&k.role),
                    k.host,
                    k.port,
                    enum_str(&k.transport),
                    k.username,
                    secret,
                    k.max_channels,
                    json(&TrunkOptions::of(k))
                ],
            )?;
        }
        for r in &t.inbound_routes {
            tx.execute(
                "INSERT INTO inbound_routes (tenant_id, did, destination, conditions) VALUES (?1, ?2, ?3, ?4)",
                params![tid, r.did, r.destination, json(&RouteConditions::of(r))],
            )?;
        }
        for r in &t.outbound_routes {
            tx.execute(
                "INSERT INTO outbound_routes (tenant_id, name, pattern, trunks, strip, prepend) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tid, r.name, r.pattern, json(&r.trunks), r.strip, r.prepend],
            )?;
        }
    }
    for s in &doc.dhcp_scopes {
        tx.execute(
            "INSERT INTO dhcp_scopes (name, interface, network, range_start, range_end, router, dns, ntp, lease_time,
             authoritative, allow_secrets_over_tftp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                s.name,
                s.interface,
                s.network,
                s.range_start,
                s.range_end,
                s.router,
                json(&s.dns),
                json(&s.ntp),
                s.lease_time,
                s.authoritative,
                s.allow_secrets_over_tftp
            ],
        )?;
        let sid = tx.last_insert_rowid();
        for (i, r) in s.reservations.iter().enumerate() {
            tx.execute(
                "INSERT INTO dhcp_reservations (scope_id, position, mac, ip) VALUES (?1, ?2, ?3, ?4)",
                params![sid, i, r.mac, r.ip],
            )?;
        }
    }
    Ok(())
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Reads rows of one table for one parent, in their stored order.
fn rows<T>(
    tx: &Transaction<'_>,
    sql: &str,
    parent: i64,
    f: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut out = Vec::new();
    let mut q = stmt.query([parent])?;
    while let Some(row) = q.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

fn read_doc(tx: &Transaction<'_>, secrets: &SecretBox) -> Result<SiteDoc, StoreError> {
    let (revision, name, time_zone, survivable): (i64, String, String, String) =
        tx.query_row("SELECT revision, name, time_zone, survivable FROM site_meta", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let tenant_ids: Vec<i64> = rows(tx, "SELECT id FROM tenants WHERE ?1 = ?1 ORDER BY id", 0, |r| Ok(r.get(0)?))?;
    let mut tenants = Vec::new();
    for tid in tenant_ids {
        let (name, display_name, emergency, routing): (String, String, String, String) = tx.query_row(
            "SELECT name, display_name, emergency_numbers, routing FROM tenants WHERE id = ?1",
            [tid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let routing: TenantRouting = from_json(&routing)?;
        tenants.push(Tenant {
            blocked: routing.blocked,
            remote_sites: routing.remote_sites,
            holidays: routing.holidays,
            name,
            display_name,
            emergency_numbers: from_json(&emergency)?,
            domains: rows(tx, "SELECT domain FROM tenant_domains WHERE tenant_id = ?1 ORDER BY position", tid, |r| {
                Ok(r.get(0)?)
            })?,
            extensions: rows(
                tx,
                "SELECT number, name, secret_enc, forward_always, forward_busy, forward_no_answer, no_answer_secs,
                 caller_id FROM extensions WHERE tenant_id = ?1 ORDER BY id",
                tid,
                |r| {
                    let blob: Vec<u8> = r.get(2)?;
                    Ok(Extension {
                        number: r.get(0)?,
                        name: r.get(1)?,
                        secret: Some(secrets.open_str(&blob)?),
                        forward_always: r.get(3)?,
                        forward_busy: r.get(4)?,
                        forward_no_answer: r.get(5)?,
                        no_answer_secs: r.get(6)?,
                        caller_id: r.get(7)?,
                    })
                },
            )?,
            devices: rows(
                tx,
                "SELECT mac, vendor, model, extension FROM devices WHERE tenant_id = ?1 ORDER BY position",
                tid,
                |r| {
                    let vendor: String = r.get(1)?;
                    Ok(Device { mac: r.get(0)?, vendor: parse_enum(&vendor)?, model: r.get(2)?, extension: r.get(3)? })
                },
            )?,
            ring_groups: rows(
                tx,
                "SELECT number, name, strategy, member_timeout, members FROM ring_groups WHERE tenant_id = ?1 ORDER BY id",
                tid,
                |r| {
                    let strategy: String = r.get(2)?;
                    let members: String = r.get(4)?;
                    Ok(RingGroup {
                        number: r.get(0)?,
                        name: r.get(1)?,
                        strategy: parse_enum(&strategy)?,
                        member_timeout: r.get(3)?,
                        members: from_json(&members)?,
                    })
                },
            )?,
            trunks: rows(
                tx,
                "SELECT name, role, host, port, transport, username, secret_enc, max_channels, options FROM trunks
                 WHERE tenant_id = ?1 ORDER BY id",
                tid,
                |r| {
                    let role: String = r.get(1)?;
                    let transport: String = r.get(4)?;
                    let secret: Option<Vec<u8>> = r.get(6)?;
                    let options: String = r.get(8)?;
                    let options: TrunkOptions = from_json(&options)?;
                    Ok(Trunk {
                        register: options.register,
                        domain: options.domain,
                        caller_id: options.caller_id,
                        codecs: options.codecs,
                        health: options.health,
                        name: r.get(0)?,
                        role: parse_enum(&role)?,
                        host: r.get(2)?,
                        port: r.get(3)?,
                        transport: parse_enum(&transport)?,
                        username: r.get(5)?,
                        secret: secret.map(|b| secrets.open_str(&b)).transpose()?,
                        max_channels: r.get(7)?,
                    })
                },
            )?,
            inbound_routes: rows(
                tx,
                "SELECT did, destination, conditions FROM inbound_routes WHERE tenant_id = ?1 ORDER BY id",
                tid,
                |r| {
                    let conditions: String = r.get(2)?;
                    let c: RouteConditions = from_json(&conditions)?;
                    Ok(InboundRoute {
                        did: r.get(0)?,
                        destination: r.get(1)?,
                        caller: c.caller,
                        days: c.days,
                        hours: c.hours,
                    })
                },
            )?,
            outbound_routes: rows(
                tx,
                "SELECT name, pattern, trunks, strip, prepend FROM outbound_routes WHERE tenant_id = ?1 ORDER BY id",
                tid,
                |r| {
                    let trunks: String = r.get(2)?;
                    Ok(OutboundRoute {
                        name: r.get(0)?,
                        pattern: r.get(1)?,
                        trunks: from_json(&trunks)?,
                        strip: r.get(3)?,
                        prepend: r.get(4)?,
                    })
                },
            )?,
            templates: rows(tx, "SELECT vendor, body FROM tenant_templates WHERE tenant_id = ?1 ORDER BY rowid", tid, |r| {
                let vendor: String = r.get(0)?;
                Ok(TemplateOverride { vendor: parse_enum(&vendor)?, body: r.get(1)? })
            })?,
        });
    }
    let dhcp_scopes = rows(
        tx,
        "SELECT id, name, interface, network, range_start, range_end, router, dns, ntp, lease_time, authoritative,
         allow_secrets_over_tftp FROM dhcp_scopes WHERE ?1 = ?1 ORDER BY id",
        0,
        |r| {
            let sid: i64 = r.get(0)?;
            let (dns, ntp): (String, String) = (r.get(7)?, r.get(8)?);
            Ok(DhcpScope {
                name: r.get(1)?,
                interface: r.get(2)?,
                network: r.get(3)?,
                range_start: r.get(4)?,
                range_end: r.get(5)?,
                router: r.get(6)?,
                dns: from_json(&dns)?,
                ntp: from_json(&ntp)?,
                lease_time: r.get(9)?,
                authoritative: r.get(10)?,
                allow_secrets_over_tftp: r.get(11)?,
                reservations: rows(
                    tx,
                    "SELECT mac, ip FROM dhcp_reservations WHERE scope_id = ?1 ORDER BY position",
                    sid,
                    |r| Ok(Reservation { mac: r.get(0)?, ip: r.get(1)? }),
                )?,
            })
        },
    )?;
    Ok(SiteDoc {
        schema: SCHEMA,
        revision: Some(revision as u64),
        site: Site { name, time_zone, survivable: from_json(&survivable)? },
        tenants,
        dhcp_scopes,
    })
}

/// The tenant that owns a SIP domain, if any.
pub fn tenant_for_domain(store: &Store, domain: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT t.name FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id WHERE d.domain = ?1",
            [domain.to_ascii_lowercase()],
            |r| r.get(0),
        )
        .optional()?)
}

#[cfg(test)]
mod forwarding_tests {
    use rusqlite::Connection;

    use super::super::MIGRATIONS;
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/site.toml");

    fn key() -> SecretBox {
        SecretBox::from_key(&[7; 32])
    }

    #[test]
    fn forwarding_is_stored_and_exported() {
        let s = Store::open_in_memory(key()).unwrap();
        let mut doc = site::from_toml(EXAMPLE).unwrap();
        let x = &mut doc.tenants[0].extensions[0];
        x.forward_always = Some("600".into());
        x.forward_busy = Some("102".into());
        x.forward_no_answer = Some("0301234567".into());
        x.no_answer_secs = 45;
        s.apply_site(doc.clone(), "test").unwrap();
        let mut exported = s.export_site().unwrap();
        exported.revision = None;
        assert_eq!(exported, doc);
        // Clearing a forward is a change like any other, and it sticks.
        exported.tenants[0].extensions[0].forward_always = None;
        assert!(s.apply_site(exported, "test").unwrap().changed);
        assert_eq!(s.export_site().unwrap().tenants[0].extensions[0].forward_always, None);
    }

    /// A box updated from a build without forwarding keeps its extensions, which get none.
    #[test]
    fn a_schema_2_database_gains_forwarding_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outpost.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO site_meta (id, revision, name, time_zone, updated_at) VALUES (1, 4, 'old', 'UTC', 0)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO tenants (id, name, display_name, emergency_numbers) VALUES (1, 'acme', '', '[\"112\"]')",
                [],
            )
            .unwrap();
            conn.execute("INSERT INTO tenant_domains (domain, tenant_id, position) VALUES ('acme.test', 1, 0)", [])
                .unwrap();
            let secret = key().seal_str("correct-horse-101").unwrap();
            conn.execute(
                "INSERT INTO extensions (tenant_id, number, name, secret_enc) VALUES (1, '101', 'Alice', ?1)",
                [secret],
            )
            .unwrap();
        }
        let s = Store::open(&path, key()).unwrap();
        assert_eq!(s.schema_version().unwrap(), 3.max(MIGRATIONS.len()));
        let doc = s.export_site().unwrap();
        let x = &doc.tenants[0].extensions[0];
        assert_eq!(x.number, "101");
        assert_eq!(
            (x.forward_always.as_deref(), x.forward_busy.as_deref(), x.forward_no_answer.as_deref()),
            (None, None, None)
        );
        assert_eq!(x.no_answer_secs, crate::site::DEFAULT_NO_ANSWER_SECS);
        assert_eq!(doc.revision, Some(4));
    }
}
