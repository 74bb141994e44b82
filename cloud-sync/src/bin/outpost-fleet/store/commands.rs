//! Commands sent to boxes and the results they gave (`crate::commands`).

use rusqlite::params;

use super::{FleetStore, StoreError};

/// A command as listed by the API: what was sent, and the answer once it came.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandRow {
    pub id: String,
    pub command: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub at: i64,
}

impl FleetStore {
    pub fn add_command(&self, box_id: &str, command: &cloud_sync::Command, now: i64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO commands (box_id, id, body, at) VALUES (?1, ?2, ?3, ?4)",
            params![box_id, command.id, serde_json::to_string(command)?, now],
        )?;
        Ok(())
    }

    /// Keeps a box's answer to one of its commands (an answer to an unknown id is dropped).
    pub fn set_command_result(&self, box_id: &str, result: &cloud_sync::CommandResult) -> Result<bool, StoreError> {
        let n = self.conn()?.execute(
            "UPDATE commands SET result = ?3 WHERE box_id = ?1 AND id = ?2",
            params![box_id, result.id, serde_json::to_string(result)?],
        )?;
        Ok(n > 0)
    }

    /// The commands of a box, newest first.
    pub fn commands(&self, box_id: &str) -> Result<Vec<CommandRow>, StoreError> {
        let conn = self.conn()?;
        let mut q =
            conn.prepare("SELECT id, body, result, at FROM commands WHERE box_id = ?1 ORDER BY at DESC, id DESC")?;
        let rows = q.query_map(params![box_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body, result, at) = row?;
            let result = match result {
                Some(r) => Some(serde_json::from_str(&r)?),
                None => None,
            };
            out.push(CommandRow { id, command: serde_json::from_str(&body)?, result, at });
        }
        Ok(out)
    }
}
