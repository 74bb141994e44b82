//! Install, refusal and mark-good on the simulated board.

use std::path::{Path, PathBuf};

use board::sim::Simulated;
use board::slots::SlotId;
use board::Board;

use super::bundle::{self, BundleSpec, SigningKey};
use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    board: Simulated,
    key: SigningKey,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let board = Simulated::create(&dir.path().join("board"), "0.1.0").unwrap();
        let (key, _) = SigningKey::generate().unwrap();
        Self { dir, board, key }
    }

    fn opts(&self) -> InstallOptions {
        InstallOptions {
            force: false,
            tries: 3,
            running: Version::parse("0.1.0").unwrap(),
            public_key: hex::decode(self.key.public_hex()).unwrap(),
        }
    }

    fn bundle(&self, version: &str, min: Option<&str>, board: &str) -> PathBuf {
        let write = |name: &str, bytes: &[u8]| {
            let p = self.dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let root = write("root.squashfs", &vec![0x5a; 300_000]);
        let kernel = write("vmlinuz", b"kernel image");
        let initrd = write("initrd.img", b"initrd image");
        let spec = BundleSpec {
            version,
            min_version: min,
            board,
            created: 1_700_000_000,
            files: vec![(bundle::ROOT, &root), (bundle::KERNEL, &kernel), (bundle::INITRD, &initrd)],
        };
        let out = self.dir.path().join(format!("outpost-{version}.bundle"));
        bundle::create(&spec, &self.key, std::fs::File::create(&out).unwrap()).unwrap();
        out
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.board.esp().join("loader/entries"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn slot_b(&self) -> Vec<u8> {
        std::fs::read(&self.board.layout().root_b).unwrap()
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn install_sets_the_next_slot_with_tries_and_mark_good_keeps_it() {
    let f = Fixture::new();
    let path = f.bundle("0.2.0", Some("0.1.0"), "simulated");
    let done = install(&f.board, &path, &f.opts()).unwrap();
    assert_eq!((done.slot, done.manifest.version.as_str()), (SlotId::B, "0.2.0"));
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+3.conf"]);
    assert_eq!(f.slot_b(), vec![0x5a; 300_000]);
    assert_eq!(std::fs::read(f.board.esp().join("b/initrd.img")).unwrap(), b"initrd image");

    assert_eq!(f.board.boot().unwrap(), SlotId::B);
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+2-1.conf"]);
    assert_eq!(mark_good(&f.board, None, Duration::ZERO).unwrap(), "slot b marked good");
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b.conf"]);
    assert_eq!(mark_good(&f.board, None, Duration::ZERO).unwrap(), "slot b is good already");
    let text = status(&f.board).unwrap();
    assert!(text.contains("running:   slot b 0.2.0 (good)"), "{text}");
    assert!(text.contains("updates:   slot a 0.1.0 (good)"), "{text}");
}

#[test]
fn tampered_bundles_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    let path = f.bundle("0.2.0", None, "simulated");
    let before = f.entries();
    // The root image's bytes (after two 512-byte headers, the manifest and the signature).
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    flip_byte(&path, len / 2);
    let err = install(&f.board, &path, &f.opts()).unwrap_err();
    assert!(matches!(err, UpdateError::Bundle(bundle::BundleError::Digest { .. })), "{err}");
    assert_eq!(f.entries(), before);
    assert!(f.slot_b().is_empty(), "slot b untouched");

    // The manifest itself (first member's data, right after its 512-byte header).
    let path = f.bundle("0.2.0", None, "simulated");
    flip_byte(&path, 520);
    let err = install(&f.board, &path, &f.opts()).unwrap_err();
    assert!(err.to_string().contains("signature does not match"), "{err}");
    assert_eq!(f.entries(), before);
}

#[test]
fn another_key_is_refused() {
    let f = Fixture::new();
    let path = f.bundle("0.2.0", None, "simulated");
    let (other, _) = SigningKey::generate().unwrap();
    let opts = InstallOptions { public_key: hex::decode(other.public_hex()).unwrap(), ..f.opts() };
    let err = install(&f.board, &path, &opts).unwrap_err();
    assert!(matches!(err, UpdateError::Bundle(bundle::BundleError::BadSignature)), "{err}");
}

#[test]
fn downgrades_are_refused_unless_forced() {
    let f = Fixture::new();
    let path = f.bundle("0.0.9", None, "simulated");
    let err = install(&f.board, &path, &f.opts()).unwrap_err();
    assert!(err.to_string().contains("older than the running 0.1.0"), "{err}");
    assert_eq!(f.entries(), ["outpost-a.conf"]);
    let forced = InstallOptions { force: true, ..f.opts() };
    install(&f.board, &path, &forced).unwrap();
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+3.conf"]);
}

#[test]
fn min_version_and_board_are_checked() {
    let f = Fixture::new();
    let err = install(&f.board, &f.bundle("0.3.0", Some("0.2.0"), "simulated"), &f.opts()).unwrap_err();
    assert!(matches!(err, UpdateError::TooOld { .. }), "{err}");
    let err = install(&f.board, &f.bundle("0.3.0", None, "generic-x86_64"), &f.opts()).unwrap_err();
    assert!(matches!(err, UpdateError::WrongBoard { .. }), "{err}");
    assert_eq!(f.entries(), ["outpost-a.conf"]);
}

#[test]
fn a_broken_update_rolls_back_by_itself() {
    let f = Fixture::new();
    let opts = InstallOptions { tries: 2, ..f.opts() };
    install(&f.board, &f.bundle("0.2.0", None, "simulated"), &opts).unwrap();
    // Never marked good: two tries on b, then a again, and a stays good.
    let booted: Vec<_> = (0..4).map(|_| f.board.boot().unwrap()).collect();
    assert_eq!(booted, [SlotId::B, SlotId::B, SlotId::A, SlotId::A]);
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+0-2.conf"]);
    // The next install overwrites the bad slot.
    install(&f.board, &f.bundle("0.2.1", None, "simulated"), &f.opts()).unwrap();
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+3.conf"]);
}

#[test]
fn a_version_that_failed_is_not_retried_and_if_newer_skips() {
    let f = Fixture::new();
    let broken = f.bundle("0.2.0", None, "simulated");
    install(&f.board, &broken, &InstallOptions { tries: 1, ..f.opts() }).unwrap();
    assert_eq!(f.board.boot().unwrap(), SlotId::B);
    let err = mark_good(&f.board, None, Duration::ZERO);
    assert!(err.is_ok(), "no probes: marked good");
    // Now a slot on trial that fails its health check is marked bad at once.
    install(
        &f.board,
        &f.bundle("0.3.0", None, "simulated"),
        &InstallOptions { running: Version::parse("0.2.0").unwrap(), ..f.opts() },
    )
    .unwrap();
    assert_eq!(f.board.boot().unwrap(), SlotId::A);
    let dead =
        health::Probes { sip_udp: None, api: "127.0.0.1:1".parse().unwrap(), timeout: Duration::from_millis(50) };
    let err = mark_good(&f.board, Some(&dead), Duration::ZERO).unwrap_err();
    assert!(matches!(err, UpdateError::MarkedBad { slot: SlotId::A, .. }), "{err}");
    assert_eq!(f.board.boot().unwrap(), SlotId::B, "rolled back at once");
    let running = InstallOptions { running: Version::parse("0.2.0").unwrap(), ..f.opts() };
    let again = f.bundle("0.3.0", None, "simulated");
    assert!(matches!(install(&f.board, &again, &running), Err(UpdateError::FailedBefore(_))));
    assert!(install_if_newer(&f.board, &again, &running).unwrap().is_none());
    assert!(install_if_newer(&f.board, &f.bundle("0.1.5", None, "simulated"), &running).unwrap().is_none());
    assert!(install_if_newer(&f.board, &f.bundle("0.2.0", None, "simulated"), &running).unwrap().is_none());
    let done = install_if_newer(&f.board, &f.bundle("0.3.1", None, "simulated"), &running).unwrap().unwrap();
    assert_eq!(done.slot, SlotId::A);
}

#[test]
fn an_install_clears_a_damaged_entry_of_the_slot_it_writes() {
    // What a power cut on the ESP can leave: slot b's entry, empty (the image drill saw it).
    let f = Fixture::new();
    std::fs::write(f.board.esp().join("loader/entries/outpost-b.conf"), b"").unwrap();
    let path = f.bundle("0.2.0", None, "simulated");
    install(&f.board, &path, &f.opts()).unwrap();
    assert_eq!(f.entries(), ["outpost-a.conf", "outpost-b+3.conf"]);
    assert_eq!(f.board.boot().unwrap(), SlotId::B, "the new slot boots next");
}
