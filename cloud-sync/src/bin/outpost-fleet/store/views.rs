//! Read-only views for the dashboard: what the fleet knows of each box in one row, config
//! history, backups, commands and claim codes as the pages show them.
//!
//! The tables are written by other parts (`mqtt`, backups, commands, claims); this file only
//! reads them, and reads a stored document leniently where another part owns its shape
//! (commands, backup manifests), so a change there degrades a cell, not the page.

use cloud_sync::{Desired, Reported, Status, Telemetry};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{FleetStore, StoreError};

/// Everything the fleet list shows of one box.
#[derive(Debug, Clone, Default)]
pub struct BoxRow {
    pub box_id: String,
    /// Its tenant, if the box was claimed or added (boxes configured by hand on the broker only
    /// are known by their messages).
    pub tenant: Option<String>,
    pub status: Option<Status>,
    pub telemetry: Option<Telemetry>,
    pub telemetry_at: Option<i64>,
    pub reported: Option<Reported>,
    pub reported_at: Option<i64>,
    /// The newest desired revision pushed to it.
    pub desired_revision: Option<u64>,
    /// When its newest complete backup was taken.
    pub last_backup: Option<i64>,
}

/// One backup as listed.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub id: String,
    pub created_at: i64,
    pub revision: Option<u64>,
    /// Chunks in the manifest, and how many arrived and were checked.
    pub chunks: Option<u64>,
    pub have: u64,
    pub complete: bool,
}

/// One command as listed, with its result once the box answered.
#[derive(Debug, Clone)]
pub struct CommandRow {
    pub id: String,
    /// `reboot`, `backup_now`, `reprovision 80:5e:…`, `restore <backup>`.
    pub what: String,
    /// `done`, `failed: why`, `unsupported: why`; `None` while waiting.
    pub result: Option<String>,
    pub at: i64,
}

/// One claim code as listed (never the code: only its hash is kept).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClaimView {
    pub box_id: String,
    pub tenant: String,
    pub replaces: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Every box id any table knows, with the newest of each per-box row.
const BOX_ROWS: &str = "
    WITH ids AS (SELECT box_id FROM status UNION SELECT box_id FROM telemetry
                 UNION SELECT box_id FROM reported UNION SELECT box_id FROM boxes
                 UNION SELECT box_id FROM backups UNION SELECT box_id FROM desired)
    SELECT ids.box_id, b.tenant, s.body, t.body, t.at, r.body, r.at,
           (SELECT MAX(revision) FROM desired d WHERE d.box_id = ids.box_id),
           (SELECT MAX(created_at) FROM backups k WHERE k.box_id = ids.box_id AND k.complete = 1)
    FROM ids LEFT JOIN boxes b ON b.box_id = ids.box_id LEFT JOIN status s ON s.box_id = ids.box_id
         LEFT JOIN telemetry t ON t.box_id = ids.box_id LEFT JOIN reported r ON r.box_id = ids.box_id";

/// A stored document of ours; one that no longer parses shows as missing rather than failing
/// the whole list.
fn parsed<T: serde::de::DeserializeOwned>(body: Option<String>) -> Option<T> {
    body.and_then(|b| serde_json::from_str(&b).ok())
}

fn box_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BoxRow> {
    Ok(BoxRow {
        box_id: r.get(0)?,
        tenant: r.get(1)?,
        status: parsed(r.get(2)?),
        telemetry: parsed(r.get(3)?),
        telemetry_at: r.get(4)?,
        reported: parsed(r.get(5)?),
        reported_at: r.get(6)?,
        desired_revision: r.get(7)?,
        last_backup: r.get(8)?,
    })
}

/// What a command's stored body asks for, in a few words.
fn describe_command(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return "?".into() };
    let kind = if v["kind"].is_object() { &v["kind"] } else { &v };
    let name = kind["type"].as_str().unwrap_or("?");
    let arg = kind.as_object().into_iter().flatten().find(|(k, _)| k.as_str() != "type").and_then(|(_, v)| v.as_str());
    match arg {
        Some(arg) => format!("{name} {arg}"),
        None => name.to_owned(),
    }
}

/// A stored command result (`CommandResult`) in a few words.
fn describe_result(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return body.to_owned() };
    let outcome = if v["outcome"].is_object() { &v["outcome"] } else { &v };
    match (outcome["result"].as_str(), outcome["reason"].as_str()) {
        (Some(r), Some(why)) => format!("{r}: {why}"),
        (Some(r), None) => r.to_owned(),
        _ => v.to_string(),
    }
}

impl FleetStore {
    /// Every box the fleet knows of, by id.
    pub fn fleet_rows(&self) -> Result<Vec<BoxRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("{BOX_ROWS} ORDER BY ids.box_id"))?;
        let rows = stmt.query_map([], box_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One box, if any table knows it.
    pub fn fleet_row(&self, box_id: &str) -> Result<Option<BoxRow>, StoreError> {
        let conn = self.conn()?;
        Ok(conn.query_row(&format!("{BOX_ROWS} WHERE ids.box_id = ?1"), [box_id], box_row).optional()?)
    }

    /// The box's document as it last sent it (only with local edits or a conflict).
    pub fn reported_document(&self, box_id: &str) -> Result<Option<Value>, StoreError> {
        let body: Option<String> =
            self.conn()?.query_row("SELECT body FROM reported WHERE box_id = ?1", [box_id], |r| r.get(0)).optional()?;
        Ok(parsed::<Reported>(body).and_then(|r| r.document))
    }

    /// The newest `limit` desired documents of a box, newest first.
    pub fn desired_history(&self, box_id: &str, limit: u32) -> Result<Vec<Desired>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT body FROM desired WHERE box_id = ?1 ORDER BY revision DESC LIMIT ?2")?;
        let rows = stmt.query_map(params![box_id, limit], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    /// Desired revision `revision` of a box and the one before it (for a diff).
    pub fn desired_pair(&self, box_id: &str, revision: u64) -> Result<(Option<Desired>, Option<Desired>), StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT body FROM desired WHERE box_id = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 2")?;
        let rows = stmt.query_map(params![box_id, revision], |r| r.get::<_, String>(0))?;
        let mut docs = Vec::new();
        for body in rows {
            docs.push(serde_json::from_str::<Desired>(&body?)?);
        }
        let mut docs = docs.into_iter();
        let this = docs.next().filter(|d| d.revision == revision);
        let before = if this.is_some() { docs.next() } else { None };
        Ok((this, before))
    }

    /// The box's backups, newest first.
    pub fn backup_rows(&self, box_id: &str, limit: u32) -> Result<Vec<BackupRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, created_at, manifest, have, complete FROM backups WHERE box_id = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![box_id, limit], |r| {
            let manifest: Option<Value> = parsed(r.get(2)?);
            Ok(BackupRow {
                id: r.get(0)?,
                created_at: r.get(1)?,
                revision: manifest.as_ref().and_then(|m| m["revision"].as_u64()),
                chunks: manifest.as_ref().and_then(|m| m["chunks"].as_array()).map(|c| c.len() as u64),
                have: r.get(3)?,
                complete: r.get::<_, i64>(4)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The commands sent to the box, newest first.
    pub fn command_rows(&self, box_id: &str, limit: u32) -> Result<Vec<CommandRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, body, result, at FROM commands WHERE box_id = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![box_id, limit], |r| {
            let body: String = r.get(1)?;
            let result: Option<String> = r.get(2)?;
            Ok(CommandRow {
                id: r.get(0)?,
                what: describe_command(&body),
                result: result.as_deref().map(describe_result),
                at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Claim codes, newest first.
    pub fn claim_views(&self, limit: u32) -> Result<Vec<ClaimView>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT box_id, tenant, replaces, created_by, created_at, expires_at, used_at
             FROM claims ORDER BY created_at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(ClaimView {
                box_id: r.get(0)?,
                tenant: r.get(1)?,
                replaces: r.get(2)?,
                created_by: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                used_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Boxes claimed or added (those a claim code can replace), with their tenant.
    pub fn claimed_boxes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT box_id, tenant FROM boxes ORDER BY box_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cloud_sync::BoxState;

    #[test]
    fn every_table_contributes_boxes_and_rows_carry_the_newest_of_each() {
        let dir = tempfile::tempdir().unwrap();
        let s = FleetStore::open(&dir.path().join("fleet.db")).unwrap();
        s.set_status("b1", &Status::new(BoxState::Online, 1, "0.1.0", 5)).unwrap();
        s.add_desired("b2", |r| Desired::new(r, 1, serde_json::json!({"a": 1}), "ops", 7)).unwrap();
        s.add_desired("b2", |r| Desired::new(r, 1, serde_json::json!({"a": 2}), "ops", 8)).unwrap();
        s.conn()
            .unwrap()
            .execute_batch(
                "INSERT INTO backups (id, box_id, created_at, manifest, have, complete, received_at)
                   VALUES ('b3-9', 'b3', 9, '{\"revision\": 4, \"chunks\": [{}, {}]}', 2, 1, 10);
                 INSERT INTO commands (box_id, id, body, result, at)
                   VALUES ('b3', 'c1', '{\"schema\":1,\"id\":\"c1\",\"kind\":{\"type\":\"reprovision\",\"mac\":\"aa\"}}',
                           '{\"schema\":1,\"id\":\"c1\",\"outcome\":{\"result\":\"failed\",\"reason\":\"no phone\"}}', 11);",
            )
            .unwrap();
        let rows = s.fleet_rows().unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.box_id.as_str()).collect();
        assert_eq!(ids, ["b1", "b2", "b3"]);
        assert_eq!(rows[0].status.as_ref().map(|s| s.state), Some(BoxState::Online));
        assert_eq!(rows[1].desired_revision, Some(2));
        assert_eq!(rows[2].last_backup, Some(9));
        assert!(s.fleet_row("nope").unwrap().is_none());

        let (this, before) = s.desired_pair("b2", 2).unwrap();
        assert_eq!((this.unwrap().document["a"].clone(), before.unwrap().revision), (serde_json::json!(2), 1));
        assert!(s.desired_pair("b2", 3).unwrap().0.is_none());
        assert!(s.desired_pair("b2", 1).unwrap().1.is_none());

        let backups = s.backup_rows("b3", 10).unwrap();
        assert_eq!((backups[0].revision, backups[0].chunks, backups[0].complete), (Some(4), Some(2), true));
        let commands = s.command_rows("b3", 10).unwrap();
        assert_eq!(commands[0].what, "reprovision aa");
        assert_eq!(commands[0].result.as_deref(), Some("failed: no phone"));
    }
}
