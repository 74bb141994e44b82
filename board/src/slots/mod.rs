//! A/B root slots for Linux with systemd-boot, behind `embedded_svc::ota`, so that the updater
//! is written against a known interface and a board with another scheme only swaps this part.
//!
//! The scheme: two root partitions (`root-a`, `root-b`) holding a squashfs each; the ESP holds
//! each slot's kernel and initrd (`/a/`, `/b/`) and one entry per slot in `loader/entries`
//! (see [`entry`]). Installing writes the inactive slot, then its entry with a try counter and
//! a higher generation, so systemd-boot boots it next; the health check marks it good; a slot
//! that runs out of tries sorts last and the old slot boots again. Everything is plain file
//! operations on the mounted ESP (no `bootctl`), so tests run it on a directory.

pub mod entry;
pub mod select;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use embedded_svc::io::{ErrorKind, ErrorType, Write};
use embedded_svc::ota::{FirmwareInfo, Ota, OtaUpdate, OtaUpdateFinished, SlotState};

pub use embedded_svc::ota::Slot;
pub use entry::{EntryConf, EntryName, SlotId};
pub use select::Found;

use crate::Layout;

/// How many boots a fresh slot gets to become healthy.
pub const DEFAULT_TRIES: u32 = 3;

/// Why a slot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("the running slot is unknown: no outpost.slot= on the kernel command line")]
    UnknownRunningSlot,
    #[error("the running slot {0} has no boot entry on the ESP")]
    NoEntry(SlotId),
    #[error("reboot failed: {0}")]
    Reboot(String),
}

impl embedded_svc::io::Error for SlotError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SlotError {
    let path = path.display().to_string();
    move |source| SlotError::Io { what, path, source }
}

/// The A/B slot control of a board.
#[derive(Clone, Debug)]
pub struct AbOta {
    layout: Layout,
}

impl AbOta {
    /// The slots of a board's layout.
    pub fn new(layout: Layout) -> Self {
        Self { layout }
    }

    fn entries_dir(&self) -> PathBuf {
        self.layout.esp.join("loader/entries")
    }

    /// The slot device (or simulated file) of `slot`.
    pub fn device(&self, slot: SlotId) -> &Path {
        match slot {
            SlotId::A => &self.layout.root_a,
            SlotId::B => &self.layout.root_b,
        }
    }

    /// Our entries on the ESP (files that are not ours are left alone).
    pub fn entries(&self) -> Result<Vec<Found>, SlotError> {
        let dir = self.entries_dir();
        let mut found = Vec::new();
        for item in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
            let item = item.map_err(io("cannot list", &dir))?;
            let file = item.file_name().to_string_lossy().into_owned();
            let Some(name) = EntryName::parse(&file) else { continue };
            let text = std::fs::read_to_string(item.path()).map_err(io("cannot read", &item.path()))?;
            match EntryConf::parse(name.slot, &text) {
                Some(conf) => found.push(Found { name, conf }),
                None => tracing::warn!(file, "ignoring a boot entry that is not Outpost's format"),
            }
        }
        Ok(found)
    }

    /// The running slot, from the kernel command line.
    pub fn running(&self) -> Result<SlotId, SlotError> {
        let path = &self.layout.cmdline;
        let cmdline = std::fs::read_to_string(path).map_err(io("cannot read", path))?;
        select::running_slot(&cmdline).ok_or(SlotError::UnknownRunningSlot)
    }

    fn describe(&self, slot: SlotId, entries: &[Found]) -> Slot {
        let found = entries.iter().find(|f| f.name.slot == slot);
        let firmware = found.map(|f| FirmwareInfo {
            version: truncated(&f.conf.version),
            released: heapless::String::new(),
            description: None,
            signature: None,
            download_id: None,
        });
        Slot { label: truncated(slot.letter()), state: select::state(found), firmware }
    }

    fn rename_entry(&self, from: EntryName, to: EntryName) -> Result<(), SlotError> {
        if from == to {
            return Ok(());
        }
        let dir = self.entries_dir();
        let (src, dst) = (dir.join(from.file_name()), dir.join(to.file_name()));
        std::fs::rename(&src, &dst).map_err(io("cannot rename", &src))?;
        sync_renamed(&dst)
    }

    fn running_entry(&self) -> Result<Found, SlotError> {
        let running = self.running()?;
        self.entries()?.into_iter().find(|f| f.name.slot == running).ok_or(SlotError::NoEntry(running))
    }
}

fn truncated<const N: usize>(text: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// Makes a rename to `path` survive a power cut. On the ESP's FAT, Linux writes the new
/// directory entry with size 0 and no first cluster and fills them in only when the file's own
/// inode is written back: syncing the directory alone left a marked-good entry empty after the
/// plug was pulled (the image drill caught it), and systemd-boot then skipped the slot. So the
/// file is synced after the rename, then its directory.
fn sync_renamed(path: &Path) -> Result<(), SlotError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(io("cannot sync", path))?;
    path.parent().map_or(Ok(()), sync_dir)
}

/// fsync of a directory, so that a removal or a new name in it survives a power cut.
fn sync_dir(dir: &Path) -> Result<(), SlotError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("cannot sync", dir))
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SlotError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io("cannot create", &tmp))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename", &tmp))?;
    sync_renamed(path)
}

impl ErrorType for AbOta {
    type Error = SlotError;
}

impl Ota for AbOta {
    type Update<'a> = SlotWriter;

    fn get_boot_slot(&self) -> Result<Slot, SlotError> {
        let entries = self.entries()?;
        let slot = select::next_boot(&entries).ok_or(SlotError::NoEntry(SlotId::A))?;
        Ok(self.describe(slot, &entries))
    }

    fn get_running_slot(&self) -> Result<Slot, SlotError> {
        Ok(self.describe(self.running()?, &self.entries()?))
    }

    fn get_update_slot(&self) -> Result<Slot, SlotError> {
        Ok(self.describe(self.running()?.other(), &self.entries()?))
    }

    fn is_factory_reset_supported(&self) -> Result<bool, SlotError> {
        Ok(true)
    }

    fn factory_reset(&mut self) -> Result<(), SlotError> {
        let flag = &self.layout.wipe_flag;
        crate::button::request_wipe(flag).map_err(io("cannot write", flag))
    }

    /// Makes the inactive slot unbootable (its entry and kernel go first, so that a power cut
    /// mid-write cannot boot half an image), then opens it for writing.
    fn initiate_update(&mut self) -> Result<SlotWriter, SlotError> {
        let slot = self.running()?.other();
        let dir = self.entries_dir();
        // By name, not through `entries()`: an entry whose text is damaged is not listed there
        // but would still be in systemd-boot's way.
        for item in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
            let item = item.map_err(io("cannot list", &dir))?;
            let ours = EntryName::parse(&item.file_name().to_string_lossy()).is_some_and(|n| n.slot == slot);
            if ours {
                std::fs::remove_file(item.path()).map_err(io("cannot remove", &item.path()))?;
            }
        }
        sync_dir(&dir)?;
        let device = self.device(slot).to_owned();
        // A block device is written in place; a simulated slot file is truncated first.
        let is_file = std::fs::metadata(&device).map(|m| m.is_file()).unwrap_or(true);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(is_file)
            .truncate(is_file)
            .open(&device)
            .map_err(io("cannot open", &device))?;
        tracing::info!(%slot, device = %device.display(), "writing the inactive slot");
        Ok(SlotWriter {
            ota: self.clone(),
            slot,
            file,
            written: 0,
            boot: None,
            version: String::from("unknown"),
            tries: DEFAULT_TRIES,
        })
    }

    /// Drops the running slot's try counter, so it is never counted again (systemd's
    /// `systemd-bless-boot` does the same; this works without it and in tests).
    fn mark_running_slot_valid(&mut self) -> Result<(), SlotError> {
        let found = self.running_entry()?;
        self.rename_entry(found.name, EntryName::good(found.name.slot))?;
        tracing::info!(slot = %found.name.slot, "slot marked good");
        Ok(())
    }

    fn mark_running_slot_invalid_and_reboot(&mut self) -> SlotError {
        let found = match self.running_entry() {
            Ok(found) => found,
            Err(e) => return e,
        };
        if let Err(e) = self.rename_entry(found.name, found.name.exhausted()) {
            return e;
        }
        match self.layout.reboot_command.split_first() {
            None => SlotError::Reboot("this board has no reboot command".into()),
            Some((cmd, args)) => match std::process::Command::new(cmd).args(args).status() {
                Ok(status) => SlotError::Reboot(format!("{cmd} returned {status}")),
                Err(e) => SlotError::Reboot(format!("{cmd}: {e}")),
            },
        }
    }
}

/// The kernel and initrd that boot a slot's root.
#[derive(Clone, Debug)]
pub struct BootFiles {
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
}

/// An update being written to the inactive slot (`embedded_svc::ota::OtaUpdate`).
pub struct SlotWriter {
    ota: AbOta,
    slot: SlotId,
    file: File,
    written: u64,
    boot: Option<BootFiles>,
    version: String,
    tries: u32,
}

impl SlotWriter {
    /// The slot being written.
    pub fn slot(&self) -> SlotId {
        self.slot
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The kernel and initrd that go to the slot's ESP directory on activation.
    pub fn set_boot_files(&mut self, boot: BootFiles) {
        self.boot = Some(boot);
    }

    /// The firmware version shown in the entry.
    pub fn set_version(&mut self, version: &str) {
        version.clone_into(&mut self.version);
    }

    /// Boots the new slot gets to become healthy (at least one).
    pub fn set_tries(&mut self, tries: u32) {
        self.tries = tries.max(1);
    }
}

impl ErrorType for SlotWriter {
    type Error = SlotError;
}

impl Write for SlotWriter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, SlotError> {
        let device = self.ota.device(self.slot);
        let n = self.file.write(buf).map_err(io("cannot write", device))?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), SlotError> {
        let device = self.ota.device(self.slot);
        self.file.flush().map_err(io("cannot flush", device))
    }
}

impl OtaUpdate for SlotWriter {
    type OtaUpdateFinished = Finished;

    fn finish(mut self) -> Result<Finished, SlotError> {
        Write::flush(&mut self)?;
        let device = self.ota.device(self.slot).to_owned();
        self.file.sync_all().map_err(io("cannot sync", &device))?;
        Ok(Finished { ota: self.ota, slot: self.slot, boot: self.boot, version: self.version, tries: self.tries })
    }

    fn complete(self) -> Result<(), SlotError> {
        self.finish()?.activate()
    }

    /// The slot stays without an entry: it is not bootable until a complete install.
    fn abort(self) -> Result<(), SlotError> {
        tracing::warn!(slot = %self.slot, "update aborted; the slot is left unbootable");
        Ok(())
    }
}

/// A slot written and synced, not yet bootable.
pub struct Finished {
    ota: AbOta,
    slot: SlotId,
    boot: Option<BootFiles>,
    version: String,
    tries: u32,
}

impl ErrorType for Finished {
    type Error = SlotError;
}

impl OtaUpdateFinished for Finished {
    /// Puts the kernel and initrd in place, then the entry with a try counter and the next
    /// generation: from here on the new slot boots first.
    fn activate(self) -> Result<(), SlotError> {
        let esp = &self.ota.layout.esp;
        if let Some(boot) = &self.boot {
            let dir = esp.join(self.slot.letter());
            std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
            write_atomic(&dir.join("vmlinuz"), &boot.kernel)?;
            write_atomic(&dir.join("initrd.img"), &boot.initrd)?;
        }
        let entries = self.ota.entries()?;
        let conf =
            EntryConf { slot: self.slot, version: self.version.clone(), generation: select::next_generation(&entries) };
        let name = EntryName::fresh(self.slot, self.tries);
        let path = self.ota.entries_dir().join(name.file_name());
        write_atomic(&path, conf.render(&self.ota.layout.kernel_options).as_bytes())?;
        tracing::info!(slot = %self.slot, version = %self.version, tries = self.tries, "slot boots next");
        Ok(())
    }
}

/// Writes the first entry of a slot (what the image build does for slot A), marked good.
pub fn write_initial_entry(esp: &Path, conf: &EntryConf, kernel_options: &str) -> Result<(), SlotError> {
    let dir = esp.join("loader/entries");
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    write_atomic(&dir.join(EntryName::good(conf.slot).file_name()), conf.render(kernel_options).as_bytes())
}

/// The state a slot would be given by the OTA traits, for `outpost update status`.
pub fn describe_state(state: SlotState) -> &'static str {
    match state {
        SlotState::Factory => "factory",
        SlotState::Valid => "good",
        SlotState::Invalid => "bad or empty",
        SlotState::Unverified => "on trial",
        SlotState::Unknown => "unknown",
    }
}
