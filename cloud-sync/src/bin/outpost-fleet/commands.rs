//! Commands to boxes (`cmd/<id>`, QoS 1; docs/sync-protocol.md, "Commands"): recorded, then
//! published; a box answers on `cmd/<id>/result` (retained), which is stored beside it. A box
//! runs each id once, so a redelivered command is harmless.

use cloud_sync::{encode, BoxId, Command, CommandKind, CommandResult, Topic, SCHEMA};

use crate::mqtt::Link;
use crate::store::{now, FleetStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("recorded, but the broker did not take it: {0}")]
    Publish(#[from] cloud_sync::link::ClientError),
    #[error("the system random source failed")]
    Random,
}

/// A fresh command id: `c<unix seconds>-<8 hex>` (sortable, safe as a topic level).
fn new_id() -> Result<String, CommandError> {
    use ring::rand::SecureRandom as _;
    let mut r = [0u8; 4];
    ring::rand::SystemRandom::new().fill(&mut r).map_err(|_| CommandError::Random)?;
    Ok(format!("c{}-{}", now(), hex::encode(r)))
}

/// Records and sends a command; returns its id. `by` is who asked (kept in the log).
pub async fn send(
    store: &FleetStore,
    link: &Link,
    box_id: &BoxId,
    kind: CommandKind,
    by: &str,
) -> Result<String, CommandError> {
    let id = new_id()?;
    let command = Command { schema: SCHEMA, id: id.clone(), kind };
    store.add_command(box_id.as_str(), &command, now())?;
    tracing::info!(box_id = %box_id, command = %id, kind = ?command.kind, by, "command sent");
    let topic = box_id.topic(&Topic::Command(id.clone()));
    link.publish(topic, false, encode(&command)).await?;
    Ok(id)
}

/// A `cmd/<id>/result` message.
pub fn on_result(store: &FleetStore, box_id: &BoxId, payload: &[u8]) -> Result<(), String> {
    if payload.is_empty() {
        return Ok(()); // a cleared retained result
    }
    let result: CommandResult = cloud_sync::decode(payload).map_err(|e| e.to_string())?;
    let known = store.set_command_result(box_id.as_str(), &result).map_err(|e| e.to_string())?;
    tracing::info!(box_id = %box_id, command = %result.id, outcome = ?result.outcome, known, "command result");
    Ok(())
}
