//! The flasher's safety rules and plumbing (`outpost-flash IMAGE DEVICE`).
//!
//! The rules are pure, fed with what `/proc/self/mountinfo`, `/proc/swaps` and `/sys/block`
//! say, so they are tested without a disk: the target must be a whole disk, not hold the
//! running system, and have nothing of it mounted, used as swap or held by device-mapper.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why the flasher refuses (or failed).
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("no checksum file {0} (the image and its .sha256 come together; --no-checksum skips this)")]
    NoChecksum(String),
    #[error("{0} is not a checksum file (expected `<64 hex digits>  <file name>`)")]
    BadChecksumFile(String),
    #[error("the image does not match its checksum: expected {expected}, got {actual} (a damaged download?)")]
    Checksum { expected: String, actual: String },
    #[error("{0} is not a block device")]
    NotBlockDevice(String),
    #[error("{dev} is a partition; give the whole disk ({disk})")]
    Partition { dev: String, disk: String },
    #[error("refusing {0}: the running system is on it")]
    SystemDisk(String),
    #[error("refusing {disk}: {what} is mounted at {mountpoint}")]
    Mounted { disk: String, what: String, mountpoint: String },
    #[error("refusing {disk}: {what} is in use ({why})")]
    InUse { disk: String, what: String, why: String },
    #[error("the image ({image} bytes) does not fit on {disk} ({capacity} bytes)")]
    TooSmall { disk: String, image: u64, capacity: u64 },
    #[error("read-back differs from the image: the disk may be failing (expected {expected}, read {actual})")]
    Verify { expected: String, actual: String },
}

pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FlashError {
    let what = what.into();
    move |source| FlashError::Io { what, source }
}

/// The expected SHA-256 (lower-case hex) in a `sha256sum` line.
pub fn parse_checksum(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?;
    (word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit())).then(|| word.to_ascii_lowercase())
}

/// One line of mountinfo: the mounted device's `major:minor` and the mount point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub dev: String,
    pub mountpoint: String,
}

/// Parses `/proc/self/mountinfo` (fields: id, parent, major:minor, root, mount point, ...).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let dev = f.nth(2)?.to_owned();
            let mountpoint = f.nth(1)?.replace("\\040", " ");
            Some(Mount { dev, mountpoint })
        })
        .collect()
}

/// What `/sys` says about the target disk and its partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name (`sdb`).
    pub name: String,
    /// `major:minor` of the disk and of each partition, with their kernel names.
    pub devs: Vec<(String, String)>,
    /// Names of what holds the disk or a partition (device-mapper, md).
    pub holders: Vec<String>,
    pub size_bytes: u64,
}

/// The checks before writing: not the system disk (`root_devs`: the `major:minor` of `/`'s
/// device and of the disk it is on), nothing mounted, no swap, no holders.
pub fn check_target(
    disk: &Disk,
    mounts: &[Mount],
    swaps: &[String],
    root_devs: &BTreeSet<String>,
) -> Result<(), FlashError> {
    let shown = format!("/dev/{}", disk.name);
    if disk.devs.iter().any(|(dev, _)| root_devs.contains(dev)) {
        return Err(FlashError::SystemDisk(shown));
    }
    for (dev, name) in &disk.devs {
        if let Some(m) = mounts.iter().find(|m| &m.dev == dev) {
            return Err(FlashError::Mounted {
                disk: shown,
                what: format!("/dev/{name}"),
                mountpoint: m.mountpoint.clone(),
            });
        }
        if swaps.iter().any(|s| s == &format!("/dev/{name}")) {
            return Err(FlashError::InUse { disk: shown, what: format!("/dev/{name}"), why: "swap".into() });
        }
    }
    if let Some(h) = disk.holders.first() {
        return Err(FlashError::InUse { disk: shown, what: h.clone(), why: "held by device-mapper or RAID".into() });
    }
    Ok(())
}

/// The swap devices in `/proc/swaps`.
pub fn parse_swaps(text: &str) -> Vec<String> {
    text.lines().skip(1).filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect()
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// Reads `/sys/block/<name>` (under `sys`, normally `/sys`) for a target device path.
pub fn inspect(sys: &Path, device: &Path) -> Result<Disk, FlashError> {
    let shown = device.display().to_string();
    let real = std::fs::canonicalize(device).map_err(io(format!("cannot open {shown}")))?;
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let class = sys.join("class/block").join(&name);
    if !class.exists() {
        return Err(FlashError::NotBlockDevice(shown));
    }
    if class.join("partition").exists() {
        let parent = std::fs::canonicalize(&class)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()));
        return Err(FlashError::Partition { dev: shown, disk: format!("/dev/{}", parent.unwrap_or_default()) });
    }
    let block = sys.join("block").join(&name);
    let mut disk = Disk { name: name.clone(), ..Disk::default() };
    disk.size_bytes = read_trim(&block.join("size")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) * 512;
    let mut holders_of = |dir: &Path| {
        if let Ok(items) = std::fs::read_dir(dir.join("holders")) {
            disk.holders.extend(items.flatten().map(|h| h.file_name().to_string_lossy().into_owned()));
        }
    };
    holders_of(&block);
    let mut devs = vec![(read_trim(&block.join("dev")).unwrap_or_default(), name.clone())];
    if let Ok(items) = std::fs::read_dir(&block) {
        for item in items.flatten() {
            let part = item.path();
            if part.join("partition").exists() {
                devs.push((
                    read_trim(&part.join("dev")).unwrap_or_default(),
                    item.file_name().to_string_lossy().into_owned(),
                ));
                holders_of(&part);
            }
        }
    }
    disk.devs = devs;
    Ok(disk)
}

/// The `major:minor` of the device `/` is on and of the whole disk that holds it.
pub fn root_devs(sys: &Path, mounts: &[Mount]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in mounts.iter().filter(|m| m.mountpoint == "/" || m.mountpoint == "/boot" || m.mountpoint == "/efi") {
        out.insert(m.dev.clone());
        // /sys/dev/block/M:m → .../block/<disk>[/<part>]; a partition's parent is its disk.
        if let Ok(real) = std::fs::canonicalize(sys.join("dev/block").join(&m.dev)) {
            if real.join("partition").exists() {
                if let Some(dev) = real.parent().and_then(|p| read_trim(&p.join("dev"))) {
                    out.insert(dev);
                }
            }
            // A device-mapper or md root: the disks under it (slaves) count too.
            for slave in std::fs::read_dir(real.join("slaves")).into_iter().flatten().flatten() {
                if let Some(dev) = read_trim(&slave.path().join("dev")) {
                    out.insert(dev);
                }
                if let Ok(s) = std::fs::canonicalize(slave.path()) {
                    if let Some(dev) = s.parent().and_then(|p| read_trim(&p.join("dev"))) {
                        out.insert(dev);
                    }
                }
            }
        }
    }
    out
}

/// SHA-256 of the first `len` bytes of `reader` (all of it when `len` is `None`), calling
/// `progress(done)` as it goes.
pub fn sha256_of(mut reader: impl Read, len: Option<u64>, mut progress: impl FnMut(u64)) -> std::io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 4 << 20];
    let mut done = 0u64;
    loop {
        let want = len.map_or(buf.len() as u64, |l| (l - done).min(buf.len() as u64)) as usize;
        if want == 0 {
            break;
        }
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

/// The checksum file of an image: `IMAGE.sha256`.
pub fn checksum_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 8:17 / /media/usb\\040stick rw - vfat /dev/sdb1 rw
";

    fn disk(name: &str, devs: &[(&str, &str)]) -> Disk {
        Disk {
            name: name.into(),
            devs: devs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            holders: vec![],
            size_bytes: 1 << 30,
        }
    }

    #[test]
    fn checksum_lines() {
        let h = "A".repeat(64);
        assert_eq!(parse_checksum(&format!("{h}  outpost-0.1.0-x86_64.img\n")), Some("a".repeat(64)));
        assert_eq!(parse_checksum("abc  file"), None);
        assert_eq!(parse_checksum(""), None);
    }

    #[test]
    fn mountinfo_fields() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m[1], Mount { dev: "254:0".into(), mountpoint: "/".into() });
        assert_eq!(m[2].mountpoint, "/media/usb stick");
    }

    #[test]
    fn refuses_system_mounted_swap_and_held_disks() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let root: BTreeSet<String> = ["254:0".to_string()].into();
        let err = check_target(&disk("vda", &[("254:0", "vda")]), &mounts, &[], &root).unwrap_err();
        assert!(matches!(err, FlashError::SystemDisk(_)), "{err}");
        let sdb = disk("sdb", &[("8:16", "sdb"), ("8:17", "sdb1")]);
        let err = check_target(&sdb, &mounts, &[], &root).unwrap_err();
        assert!(err.to_string().contains("/dev/sdb1 is mounted at /media/usb stick"), "{err}");
        let sdc = disk("sdc", &[("8:32", "sdc"), ("8:33", "sdc1")]);
        assert!(check_target(&sdc, &mounts, &[], &root).is_ok());
        let err = check_target(&sdc, &mounts, &["/dev/sdc1".into()], &root).unwrap_err();
        assert!(err.to_string().contains("swap"), "{err}");
        let held = Disk { holders: vec!["dm-0".into()], ..sdc };
        assert!(check_target(&held, &mounts, &[], &root).is_err());
        assert_eq!(parse_swaps("Filename Type Size Used Priority\n/dev/zram0 partition 1 0 100\n"), ["/dev/zram0"]);
    }

    #[test]
    fn hashes_a_prefix() {
        let data = vec![7u8; 10_000];
        let all = sha256_of(data.as_slice(), None, |_| {}).unwrap();
        assert_eq!(sha256_of([data.clone(), vec![1, 2, 3]].concat().as_slice(), Some(10_000), |_| {}).unwrap(), all);
        assert_eq!(checksum_path(Path::new("/x/a.img")), PathBuf::from("/x/a.img.sha256"));
    }
}
