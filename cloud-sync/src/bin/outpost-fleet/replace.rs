//! What a replacement box needs of the box it replaces: the escrowed backup key and the id of
//! the newest complete backup. Kept apart from the claim handlers because the backup side
//! (escrow, backup store) is its own concern.

use crate::api::App;

/// (backup key as hex, newest complete backup id) of `old`.
pub fn recover(app: &App, old: &str) -> Result<(Option<String>, Option<String>), crate::escrow::EscrowError> {
    let key = crate::escrow::recover(&app.store, &app.backups.key, old)?.map(hex::encode);
    let latest = app.store.latest_complete_backup(old)?;
    Ok((key, latest))
}
