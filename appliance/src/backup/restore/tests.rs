//! A populated box backed up and restored into an empty data directory: the restored store
//! exports the same document, secrets included; damage and a wrong key are refused before the
//! live store is touched; a restore interrupted after its commit marker completes at the next
//! start.

use std::path::Path;

use super::*;
use crate::backup::{self, file, BackupKey};
use crate::store::{SecretBox, Store};

const SITE: &str = include_str!("../../../../examples/site.toml");

fn populated(dir: &Path) -> Store {
    let secrets = SecretBox::load_or_create(&dir.join("box.key")).unwrap();
    let store = Store::open(&dir.join(DB), secrets).unwrap();
    store.apply_site(crate::site::from_toml(SITE).unwrap(), "test").unwrap();
    std::fs::write(dir.join("cert.pem"), "the box certificate").unwrap();
    store
}

fn open(dir: &Path) -> Store {
    let secrets = SecretBox::load_or_create(&dir.join("box.key")).unwrap();
    Store::open(&dir.join(DB), secrets).unwrap()
}

#[test]
fn a_backup_restores_into_a_new_box_with_everything_and_its_secrets() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = populated(one.path());
    let key = BackupKey::load_or_create(&backup::key_path(one.path())).unwrap();
    let sealed = backup::create(&store, one.path(), &key, "b1", 1_800_000_000).unwrap();
    assert!(!sealed.manifest.chunks.is_empty() && sealed.manifest.revision == store.revision().unwrap());
    let path = one.path().join("b1.outpost-backup");
    file::write(&path, &sealed).unwrap();
    // Nothing in the file is the store in clear: the secrets do not show.
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(b"s3cret-trunk-password".len()).any(|w| w == b"s3cret-trunk-password"));

    let back = file::read(&path).unwrap();
    let staged = stage(two.path(), &back, &key).unwrap();
    assert!(staged.contains(&"outpost.db".to_owned()) && staged.contains(&"box.key".to_owned()), "{staged:?}");
    assert!(pending(two.path()));
    assert!(finish(two.path()).unwrap());
    assert!(!pending(two.path()));
    let restored = open(two.path());
    assert_eq!(restored.export_site().unwrap(), store.export_site().unwrap());
    assert_eq!(std::fs::read_to_string(two.path().join("cert.pem")).unwrap(), "the box certificate");
}

#[test]
fn damage_or_a_wrong_key_is_refused_and_the_live_store_is_untouched() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = populated(one.path());
    let key = BackupKey::from_bytes([3; 32]);
    let sealed = backup::create(&store, one.path(), &key, "b1", 1).unwrap();
    let live = populated(two.path());
    let before = live.export_site().unwrap();

    let mut flipped = sealed.clone();
    flipped.chunks[0][10] ^= 1;
    let e = stage(two.path(), &flipped, &key).unwrap_err().to_string();
    assert!(e.contains("chunk 0 does not match its SHA-256"), "{e}");
    let mut short = sealed.clone();
    short.chunks.pop();
    assert!(stage(two.path(), &short, &key).is_err());
    let e = stage(two.path(), &sealed, &BackupKey::from_bytes([4; 32])).unwrap_err();
    assert!(matches!(e, crate::backup::BackupError::WrongKey), "{e}");
    // A manifest edited to point at another archive is caught by the archive's SHA-256.
    let mut lied = sealed.clone();
    lied.manifest.archive_sha256 = "00".repeat(32);
    assert!(stage(two.path(), &lied, &key).is_err());

    assert!(!pending(two.path()));
    assert!(!finish(two.path()).unwrap());
    assert_eq!(live.export_site().unwrap(), before);
}

#[test]
fn a_restore_cut_after_its_marker_completes_at_the_next_start() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = populated(one.path());
    let key = BackupKey::from_bytes([5; 32]);
    let sealed = backup::create(&store, one.path(), &key, "b1", 1).unwrap();
    {
        let old = open(two.path());
        old.apply_site(crate::site::SiteDoc::default(), "old").unwrap();
    }
    stage(two.path(), &sealed, &key).unwrap();
    // The first start moved the store, then died before the marker went.
    std::fs::rename(two.path().join(STAGING).join(DB), two.path().join(DB)).unwrap();
    assert!(finish(two.path()).unwrap());
    assert_eq!(open(two.path()).export_site().unwrap(), store.export_site().unwrap());
}
