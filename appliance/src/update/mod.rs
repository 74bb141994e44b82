//! Signed A/B updates: `outpost update install|mark-good|status`, and the daemon's health
//! monitor (systemd ready and watchdog notifications).
//!
//! Install is two passes over the bundle: the first checks the signature, the versions, the
//! board and every file's digest without touching a disk, so a tampered or wrong bundle is
//! refused with both slots as they were; the second writes the inactive slot through the
//! board's `embedded_svc::ota` implementation, hashing again (the file could change between
//! passes) and activating the slot only if everything matched. The new slot boots next with a
//! try counter; `mark-good`, run by `outpost-mark-good.service` after the health check passes,
//! drops the counter. A slot that never gets there runs out of tries and the old one boots.
//!
//! # Layout
//! - `bundle`: the format (signed manifest + members), create and verify.
//! - `version`: version parsing and ordering (downgrade checks).
//! - `health`: the probes (SIP OPTIONS, API port); `notify`: `sd_notify`.
//! - `requests`: a reboot or factory reset the unprivileged daemon asks root for.
//! - here: install, mark-good, status, and the daemon's monitor thread.

pub mod bundle;
pub mod health;
pub mod notify;
pub mod requests;
pub mod version;

#[cfg(test)]
mod tests;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use board::slots::{BootFiles, SlotError, SlotId};
use board::watchdog::{Decision, Policy};
use board::{Board, LedState};
use embedded_svc::ota::{Ota, OtaUpdate, SlotState};

use bundle::{BundleError, Manifest};
use version::Version;

/// Where the image keeps the public key that bundles must be signed with.
pub const PUBLIC_KEY: &str = "/usr/share/outpost/update.pub";
/// A kernel or initrd larger than this is not one (they are read into memory).
const MAX_BOOT_FILE: u64 = 256 * 1024 * 1024;

/// Why an update was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("refused: {bundle} is older than the running {running} (use --force to downgrade)")]
    Downgrade { bundle: String, running: String },
    #[error("refused: the bundle needs at least {min} running, this box runs {running}")]
    TooOld { min: String, running: String },
    #[error("refused: the bundle is for board {bundle}, this is {board}")]
    WrongBoard { bundle: String, board: String },
    #[error("refused: the slot image is {image} bytes, slot {slot} holds {capacity}")]
    TooBig { image: u64, slot: SlotId, capacity: u64 },
    #[error("the bundle changed while it was being installed")]
    Changed,
    #[error(transparent)]
    Slot(#[from] SlotError),
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("refused: {0} failed on this box before (it rolled back; use --force to try again)")]
    FailedBefore(String),
    #[error("the box is not healthy: {0}")]
    Unhealthy(String),
    #[error("slot {slot} is not healthy ({why}): marked bad, rebooting into slot {other} ({reboot})")]
    MarkedBad { slot: SlotId, other: SlotId, why: String, reboot: String },
}

/// How to install.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// Install even if the bundle is older than the running version.
    pub force: bool,
    /// Boots the new slot gets to become healthy.
    pub tries: u32,
    /// What runs now (see [`running_version`]).
    pub running: Version,
    /// The Ed25519 public key bundles must be signed with.
    pub public_key: Vec<u8>,
}

/// What an install did.
#[derive(Clone, Debug)]
pub struct Installed {
    pub slot: SlotId,
    pub manifest: Manifest,
}

/// The running firmware version: the image's `IMAGE_VERSION` (os-release), else this binary's.
pub fn running_version() -> Version {
    let from_image = std::fs::read_to_string("/usr/lib/os-release").ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("IMAGE_VERSION="))
            .and_then(|v| Version::parse(v.trim_matches('"')).ok())
    });
    from_image.or_else(|| Version::parse(env!("CARGO_PKG_VERSION")).ok()).unwrap_or_else(Version::zero)
}

fn open_file(path: &Path) -> Result<std::fs::File, UpdateError> {
    std::fs::File::open(path).map_err(|source| UpdateError::Open { path: path.display().to_string(), source })
}

/// The manifest checks that need no slot: board, versions.
pub fn check_manifest(manifest: &Manifest, board: &str, opts: &InstallOptions) -> Result<(), UpdateError> {
    if manifest.board != board {
        return Err(UpdateError::WrongBoard { bundle: manifest.board.clone(), board: board.to_owned() });
    }
    let new = Version::parse(&manifest.version).map_err(BundleError::from)?;
    if new < opts.running && !opts.force {
        return Err(UpdateError::Downgrade { bundle: new.to_string(), running: opts.running.to_string() });
    }
    if let Some(min) = &manifest.min_version {
        let min = Version::parse(min).map_err(BundleError::from)?;
        if opts.running < min && !opts.force {
            return Err(UpdateError::TooOld { min: min.to_string(), running: opts.running.to_string() });
        }
    }
    Ok(())
}

/// Checks a bundle completely without writing anything; returns its manifest.
pub fn verify(board: &dyn Board, path: &Path, opts: &InstallOptions) -> Result<Manifest, UpdateError> {
    bundle::read(open_file(path)?, &opts.public_key, |m| check_manifest(m, board.name(), opts), |_, _| Ok(()))
}

/// Whether the inactive slot holds this very version, marked bad: it was tried and rolled back.
fn failed_before(ota: &board::AbOta, manifest: &Manifest) -> Result<bool, UpdateError> {
    let slot = ota.get_update_slot()?;
    let same = slot.firmware.is_some_and(|f| f.version.as_str() == manifest.version);
    let update = ota.running()?.other();
    let bad = ota.entries()?.iter().any(|f| f.name.slot == update && f.name.is_bad());
    Ok(same && bad)
}

/// Installs only when the bundle is newer than what runs and did not fail here before (the
/// USB-stick path: the stick stays in while the box reboots into the update). `Ok(None)`:
/// nothing to do.
pub fn install_if_newer(
    board: &dyn Board,
    path: &Path,
    opts: &InstallOptions,
) -> Result<Option<Installed>, UpdateError> {
    let strict = InstallOptions { force: false, ..opts.clone() };
    let manifest = match verify(board, path, &strict) {
        Err(UpdateError::Downgrade { .. }) => return Ok(None),
        other => other?,
    };
    let newer = Version::parse(&manifest.version).map_err(BundleError::from)? > opts.running;
    if !newer || failed_before(&board.ota(), &manifest)? {
        return Ok(None);
    }
    install(board, path, &strict).map(Some)
}

/// The size of a slot's block device; `None` for a regular file (the simulated board).
fn slot_capacity(device: &Path) -> Option<u64> {
    let meta = std::fs::metadata(device).ok()?;
    if meta.is_file() {
        return None;
    }
    std::fs::File::open(device).and_then(|mut f| f.seek(SeekFrom::End(0))).ok()
}

/// Verifies a bundle, writes it to the inactive slot and makes that slot boot next.
pub fn install(board: &dyn Board, path: &Path, opts: &InstallOptions) -> Result<Installed, UpdateError> {
    let manifest = verify(board, path, opts)?;
    let mut ota = board.ota();
    let slot = ota.running()?.other();
    if failed_before(&ota, &manifest)? && !opts.force {
        return Err(UpdateError::FailedBefore(manifest.version));
    }
    let image = manifest.files.get(bundle::ROOT).map_or(0, |d| d.size);
    if let Some(capacity) = slot_capacity(ota.device(slot)) {
        if image > capacity {
            return Err(UpdateError::TooBig { image, slot, capacity });
        }
    }
    if let Err(e) = board.set_led(LedState::Update) {
        tracing::warn!(error = %e, "cannot show the update on the LED");
    }
    let result = write_slot(&mut ota, path, opts, &manifest);
    let led = if result.is_ok() { LedState::Running } else { LedState::Fault };
    if let Err(e) = board.set_led(led) {
        tracing::warn!(error = %e, "cannot set the LED");
    }
    result?;
    Ok(Installed { slot, manifest })
}

fn write_slot(
    ota: &mut board::AbOta,
    path: &Path,
    opts: &InstallOptions,
    manifest: &Manifest,
) -> Result<(), UpdateError> {
    let mut writer = ota.initiate_update()?;
    let (mut kernel, mut initrd) = (Vec::new(), Vec::new());
    let unchanged = |m: &Manifest| if m == manifest { Ok(()) } else { Err(UpdateError::Changed) };
    let written = bundle::read(open_file(path)?, &opts.public_key, unchanged, |name, reader| {
        let read_small = |reader: &mut dyn Read, into: &mut Vec<u8>| {
            reader
                .take(MAX_BOOT_FILE)
                .read_to_end(into)
                .map(|_| ())
                .map_err(|source| BundleError::Io { what: format!("cannot read {name}"), source })
        };
        match name {
            bundle::ROOT => copy_into_slot(reader, &mut writer),
            bundle::KERNEL => read_small(reader, &mut kernel),
            bundle::INITRD => read_small(reader, &mut initrd),
            _ => Ok(()),
        }
        .map_err(UpdateError::from)
    });
    match written {
        Ok(_) => {
            writer.set_boot_files(BootFiles { kernel, initrd });
            writer.set_version(&manifest.version);
            writer.set_tries(opts.tries);
            writer.complete()?;
            Ok(())
        }
        Err(e) => {
            writer.abort()?;
            Err(e)
        }
    }
}

fn copy_into_slot(reader: &mut dyn Read, writer: &mut board::slots::SlotWriter) -> Result<(), BundleError> {
    use embedded_svc::io::Write as _;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|source| BundleError::Io { what: "cannot read the slot image".into(), source })?;
        if n == 0 {
            return Ok(());
        }
        writer.write_all(&buf[..n]).map_err(|e| BundleError::Io {
            what: "cannot write the slot".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
}

/// Marks the running slot good once the box is healthy (`probes`, waited for until `wait`
/// passes). A slot that is good already stays so; one that is not healthy is left on trial, so
/// that a reboot (by the caller's unit, `FailureAction=reboot`) uses up its tries.
pub fn mark_good(board: &dyn Board, probes: Option<&health::Probes>, wait: Duration) -> Result<String, UpdateError> {
    let mut ota = board.ota();
    let running = ota.get_running_slot()?;
    if let Some(probes) = probes {
        if let Err(why) = probes.wait(Instant::now() + wait) {
            if running.state != SlotState::Unverified {
                return Err(UpdateError::Unhealthy(why));
            }
            // A slot on trial that ran and is not healthy is bad: no need to use up its other
            // tries (those are for boots that never get this far: a hang, a power cut).
            let slot = ota.running()?;
            let reboot = ota.mark_running_slot_invalid_and_reboot().to_string();
            return Err(UpdateError::MarkedBad { slot, other: slot.other(), why, reboot });
        }
    }
    if running.state == SlotState::Valid {
        return Ok(format!("slot {} is good already", running.label));
    }
    ota.mark_running_slot_valid()?;
    Ok(format!("slot {} marked good", running.label))
}

/// A human summary of both slots.
pub fn status(board: &dyn Board) -> Result<String, UpdateError> {
    let ota = board.ota();
    let describe = |s: embedded_svc::ota::Slot| {
        let version = s.firmware.map(|f| f.version.to_string()).unwrap_or_else(|| "-".into());
        format!("slot {} {} ({})", s.label, version, board::slots::describe_state(s.state))
    };
    Ok(format!(
        "board:     {}\nrunning:   {}\nnext boot: {}\nupdates:   {}\n",
        board.name(),
        describe(ota.get_running_slot()?),
        describe(ota.get_boot_slot()?),
        describe(ota.get_update_slot()?),
    ))
}

/// The public key to check bundles with: `--key`, else the image's.
pub fn public_key(path: Option<&PathBuf>) -> Result<Vec<u8>, UpdateError> {
    let path = path.map_or_else(|| PathBuf::from(PUBLIC_KEY), Clone::clone);
    Ok(bundle::load_public_key(&path)?)
}

/// Under systemd (`NOTIFY_SOCKET` set), starts a thread that probes the daemon's own
/// listeners: the first healthy probe sends `READY=1` and prints the ready line (the console
/// shows it), and `WATCHDOG=1` is sent only while the watchdog policy says so. Outside systemd
/// it does nothing.
pub fn spawn_monitor(config: &crate::config::Config) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let probes = health::Probes::of(config);
    let watchdog = notify::watchdog_interval();
    let every =
        watchdog.map_or(Duration::from_secs(5), |w| (w / 3).clamp(Duration::from_millis(200), Duration::from_secs(5)));
    let spawned = std::thread::Builder::new().name("health".into()).spawn(move || {
        let started = Instant::now();
        let mut policy = Policy::new(started, Duration::from_secs(120), Duration::from_secs(30));
        loop {
            let probe = probes.check();
            let was_ready = policy.ever_healthy();
            let decision = policy.decide(Instant::now(), probe.is_ok());
            if let Err(why) = &probe {
                // The first probes of a start find the listeners still opening: not news.
                if was_ready || started.elapsed() > Duration::from_secs(10) {
                    tracing::warn!(%why, "health probe failed");
                } else {
                    tracing::debug!(%why, "not healthy yet");
                }
            } else if !was_ready {
                notify::notify("READY=1");
                println!("Outpost is ready: SIP answers OPTIONS, API listening on {}", probes.api);
            }
            if watchdog.is_some() && decision == Decision::Pet && policy.ever_healthy() {
                notify::notify("WATCHDOG=1");
            }
            std::thread::sleep(if policy.ever_healthy() { every } else { Duration::from_millis(100) });
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the health monitor");
    }
}
