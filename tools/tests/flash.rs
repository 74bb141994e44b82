//! `outpost-flash` on a loop device: writes and verifies, refuses a bad checksum and a mounted
//! disk. Needs root and losetup; skips (passing, with a message) otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const FLASH: &str = env!("CARGO_BIN_EXE_outpost-flash");

/// A loop device over a file, detached on drop.
struct Loop {
    dev: PathBuf,
}

impl Loop {
    fn new(backing: &Path) -> Option<Self> {
        let out = Command::new("losetup").args(["--find", "--show"]).arg(backing).output().ok()?;
        if !out.status.success() {
            eprintln!("skipped: losetup failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(Self { dev: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()) })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

fn can_run() -> bool {
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if !root {
        eprintln!("skipped: the flasher test needs root (loop devices)");
        return false;
    }
    if Command::new("losetup").arg("--version").output().is_err() {
        eprintln!("skipped: losetup is not installed (util-linux)");
        return false;
    }
    true
}

fn image(dir: &Path, len: usize) -> PathBuf {
    let path = dir.join("outpost-0.0.0-x86_64.img");
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let sum = Command::new("sha256sum").arg(&path).output().unwrap();
    std::fs::write(dir.join("outpost-0.0.0-x86_64.img.sha256"), sum.stdout).unwrap();
    path
}

fn flash(image: &Path, dev: &Path) -> std::process::Output {
    Command::new(FLASH).arg(image).arg(dev).arg("--yes").output().unwrap()
}

#[test]
fn writes_and_verifies_a_loop_device() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), 3 << 20);
    let backing = dir.path().join("disk");
    std::fs::write(&backing, vec![0u8; 8 << 20]).unwrap();
    let Some(lo) = Loop::new(&backing) else { return };
    let out = flash(&img, &lo.dev);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("written and verified") && stdout.contains("Next:"), "{stdout}");
    let written = std::fs::read(&backing).unwrap();
    assert_eq!(&written[..3 << 20], &std::fs::read(&img).unwrap()[..]);
    assert!(written[3 << 20..].iter().all(|b| *b == 0));
}

#[test]
fn refuses_a_damaged_image_and_a_mounted_disk() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), 1 << 20);
    let backing = dir.path().join("disk");
    std::fs::write(&backing, vec![0u8; 16 << 20]).unwrap();
    let Some(lo) = Loop::new(&backing) else { return };

    let mut damaged = std::fs::read(&img).unwrap();
    damaged[1000] ^= 1;
    std::fs::write(&img, damaged).unwrap();
    let out = flash(&img, &lo.dev);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match its checksum"));
    assert!(std::fs::read(&backing).unwrap().iter().all(|b| *b == 0), "nothing written");

    let img = image(dir.path(), 1 << 20);
    let mkfs = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&lo.dev).status();
    if !mkfs.map(|s| s.success()).unwrap_or(false) {
        eprintln!("skipped the mounted-disk half: mkfs.ext4 missing");
        return;
    }
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    assert!(Command::new("mount").arg(&lo.dev).arg(&mnt).status().unwrap().success());
    let out = flash(&img, &lo.dev);
    let _ = Command::new("umount").arg(&mnt).status();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is mounted at"), "{stderr}");
}
