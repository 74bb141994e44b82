use super::*;
use crate::store::{SecretBox, Store, MIGRATIONS};

/// A short schema of our own: a build at version 1, 2 or 3 is `&STEPS[..n]`.
const STEPS: &[&str] = &[
    "CREATE TABLE notes (body TEXT NOT NULL);",
    "ALTER TABLE notes ADD COLUMN at INTEGER NOT NULL DEFAULT 0;",
    "CREATE TABLE tags (name TEXT NOT NULL);",
];

fn notes(conn: &Connection) -> Vec<String> {
    let mut q = conn.prepare("SELECT body FROM notes ORDER BY rowid").unwrap();
    q.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn note(conn: &Connection, body: &str) {
    conn.execute("INSERT INTO notes (body) VALUES (?1)", [body]).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn the_plan_follows_the_versions_and_the_copy() {
    assert_eq!(plan(0, 8, false), Plan::Create);
    assert_eq!(plan(0, 8, true), Plan::Create);
    assert_eq!(plan(8, 8, false), Plan::Current);
    assert_eq!(plan(8, 8, true), Plan::Current);
    assert_eq!(plan(7, 8, false), Plan::CopyThenMigrate { from: 7 });
    assert_eq!(plan(1, 8, true), Plan::CopyThenMigrate { from: 1 });
    assert_eq!(plan(9, 8, true), Plan::RollBack { found: 9 });
    assert_eq!(plan(9, 8, false), Plan::Refuse { found: 9 });
}

#[test]
fn file_names_are_beside_the_database() {
    let db = Path::new("/data/outpost.db");
    assert_eq!(copy_path(db, 7), Path::new("/data/outpost.db.schema-7.bak"));
    assert_eq!(rolled_back_path(db, 9), Path::new("/data/outpost.db.schema-9.rolled-back"));
    assert_eq!(dir_of(Path::new("outpost.db")), Path::new("."));
}

#[test]
fn a_fresh_database_is_created_without_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    let conn = open(&db, STEPS).unwrap();
    assert_eq!(read_version(&conn).unwrap(), 3);
    drop(conn);
    assert_eq!(names(dir.path()), ["outpost.db"]);
}

#[test]
fn an_older_database_is_copied_then_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    note(&open(&db, &STEPS[..1]).unwrap(), "from version 1");
    let conn = open(&db, STEPS).unwrap();
    assert_eq!(read_version(&conn).unwrap(), 3);
    assert_eq!(notes(&conn), ["from version 1"]);
    conn.execute("INSERT INTO tags (name) VALUES ('new')", []).unwrap();

    let copy = Connection::open(copy_path(&db, 1)).unwrap();
    assert_eq!(read_version(&copy).unwrap(), 1);
    assert_eq!(notes(&copy), ["from version 1"]);
    assert!(copy.prepare("SELECT at FROM notes").is_err(), "the copy is at the old schema");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(copy_path(&db, 1)).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn only_the_newest_copy_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    drop(open(&db, &STEPS[..1]).unwrap());
    drop(open(&db, &STEPS[..2]).unwrap());
    assert!(copy_path(&db, 1).exists());
    drop(open(&db, STEPS).unwrap());
    assert!(!copy_path(&db, 1).exists());
    assert!(copy_path(&db, 2).exists());
    // Opening at the same schema again takes no copy and removes none.
    drop(open(&db, STEPS).unwrap());
    assert!(copy_path(&db, 2).exists());
}

#[test]
fn the_real_schema_is_copied_before_its_last_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    let known = MIGRATIONS.len();
    let old = open(&db, &MIGRATIONS[..known - 1]).unwrap();
    old.execute(
        "INSERT INTO tenants (id, name, display_name, emergency_numbers) VALUES (1, 'acme', '', '[\"112\"]')",
        [],
    )
    .unwrap();
    drop(old);
    let store = Store::open(&db, SecretBox::from_key(&[5; 32])).unwrap();
    assert_eq!(store.schema_version().unwrap(), known);
    let copy = Connection::open(copy_path(&db, known - 1)).unwrap();
    assert_eq!(read_version(&copy).unwrap(), known - 1);
    let tenant: String = copy.query_row("SELECT name FROM tenants", [], |r| r.get(0)).unwrap();
    assert_eq!(tenant, "acme");
}

/// A box updated from schema 1 to 2 (copy taken), the new build wrote data, then the new slot
/// failed its trial: the old build opens the database.
fn updated_then_used(db: &Path) {
    note(&open(db, &STEPS[..1]).unwrap(), "before the update");
    let new = open(db, &STEPS[..2]).unwrap();
    note(&new, "on trial");
}

#[test]
fn a_rollback_puts_the_copy_back_and_keeps_the_newer_file_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    updated_then_used(&db);
    let conn = open(&db, &STEPS[..1]).unwrap();
    assert_eq!(read_version(&conn).unwrap(), 1);
    assert_eq!(notes(&conn), ["before the update"]);
    note(&conn, "after the rollback");
    drop(conn);
    assert!(!copy_path(&db, 1).exists(), "the copy is the database now");
    let aside = Connection::open(rolled_back_path(&db, 2)).unwrap();
    assert_eq!(read_version(&aside).unwrap(), 2);
    assert_eq!(notes(&aside), ["before the update", "on trial"]);
    drop(aside);
    assert!(!marker_path(&db).exists());
    // The old build keeps working on it.
    assert_eq!(notes(&open(&db, &STEPS[..1]).unwrap()), ["before the update", "after the rollback"]);
}

#[test]
fn a_rollback_takes_the_newer_wal_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    note(&open(&db, &STEPS[..1]).unwrap(), "before the update");
    // The new build is killed with a commit still in its WAL: copy the files while it is open.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let live = crashed.join("outpost.db");
    {
        let new = open(&db, &STEPS[..2]).unwrap();
        new.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        note(&new, "only in the wal");
        for name in ["outpost.db", "outpost.db-wal", "outpost.db.schema-1.bak"] {
            std::fs::copy(dir.path().join(name), crashed.join(name)).unwrap();
        }
    }
    assert!(with_suffix(&live, "-wal").exists());
    // The rollback itself, with no connection open (as `open` does after reading the version).
    roll_back(&live, 2, 1).unwrap();
    assert!(!with_suffix(&live, "-wal").exists(), "the newer WAL is not left to meet the copy");
    let conn = open(&live, &STEPS[..1]).unwrap();
    assert_eq!(notes(&conn), ["before the update"]);
    let aside = Connection::open(rolled_back_path(&live, 2)).unwrap();
    assert_eq!(notes(&aside), ["before the update", "only in the wal"]);
}

#[test]
fn a_newer_database_without_a_copy_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    note(&open(&db, STEPS).unwrap(), "newer");
    let before = names(dir.path());
    let err = open(&db, &STEPS[..2]).err().unwrap();
    assert!(matches!(err, StoreError::NewerSchema { found: 3, known: 2 }), "{err}");
    assert!(err.to_string().contains("no copy at schema 2"), "{err}");
    assert_eq!(names(dir.path()), before);
    assert_eq!(notes(&open(&db, STEPS).unwrap()), ["newer"]);
}

#[test]
fn a_temporary_copy_left_by_a_crash_is_never_taken_for_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    note(&open(&db, STEPS).unwrap(), "newer");
    let tmp = with_suffix(&copy_path(&db, 2), ".tmp");
    std::fs::write(&tmp, b"half a copy").unwrap();
    assert!(matches!(open(&db, &STEPS[..2]), Err(StoreError::NewerSchema { found: 3, known: 2 })));
    assert_eq!(notes(&open(&db, STEPS).unwrap()), ["newer"]);

    // And a copy taken later replaces it.
    let older = dir.path().join("older.db");
    drop(open(&older, &STEPS[..2]).unwrap());
    let tmp = with_suffix(&copy_path(&older, 2), ".tmp");
    std::fs::write(&tmp, b"half a copy").unwrap();
    drop(open(&older, STEPS).unwrap());
    assert!(!tmp.exists());
    assert_eq!(read_version(&Connection::open(copy_path(&older, 2)).unwrap()).unwrap(), 2);
}

#[test]
fn a_rollback_cut_short_is_finished_at_the_next_open() {
    // After each step of the rollback: the marker alone, the WAL moved, the database moved,
    // the copy in place (marker not yet removed).
    for done in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outpost.db");
        updated_then_used(&db);
        let rolled = rolled_back_path(&db, 2);
        std::fs::write(marker_path(&db), "2 1\n").unwrap();
        std::fs::write(with_suffix(&db, "-shm"), b"stale").unwrap();
        if done >= 1 {
            std::fs::rename(with_suffix(&db, "-shm"), with_suffix(&rolled, "-shm")).unwrap();
        }
        if done >= 2 {
            std::fs::rename(&db, &rolled).unwrap();
        }
        if done >= 3 {
            std::fs::rename(copy_path(&db, 1), &db).unwrap();
        }
        let conn = open(&db, &STEPS[..1]).unwrap();
        assert_eq!(notes(&conn), ["before the update"], "after step {done}");
        assert!(!marker_path(&db).exists());
        assert_eq!(notes(&Connection::open(&rolled).unwrap()), ["before the update", "on trial"], "step {done}");
    }
}

#[test]
fn a_second_rollback_of_the_same_version_replaces_the_first_file_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outpost.db");
    updated_then_used(&db);
    drop(open(&db, &STEPS[..1]).unwrap());
    note(&open(&db, &STEPS[..2]).unwrap(), "second trial");
    let conn = open(&db, &STEPS[..1]).unwrap();
    assert_eq!(notes(&conn), ["before the update"]);
    let aside = Connection::open(rolled_back_path(&db, 2)).unwrap();
    assert_eq!(notes(&aside), ["before the update", "second trial"]);
}
