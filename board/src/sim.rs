//! The simulated board: every device is a file under one directory, and [`Simulated::boot`]
//! does what systemd-boot does at power-on (pick the first entry, count a try, write the
//! kernel command line), so update and rollback are tested without a disk or a VM.

use std::path::{Path, PathBuf};

use crate::slots::{select, EntryConf, SlotId};
use crate::{Board, Layout};

/// A board made of files.
#[derive(Clone, Debug)]
pub struct Simulated {
    layout: Layout,
}

impl Simulated {
    /// Lays out a board under `root` whose slot A holds `version`, booted and good, like a box
    /// fresh from the flasher.
    pub fn create(root: &Path, version: &str) -> std::io::Result<Self> {
        let p = |rel: &str| root.join(rel);
        let layout = Layout {
            dmi: p("sys/class/dmi/id"),
            net: p("sys/class/net"),
            watchdog: p("dev/watchdog"),
            status_led: Some(p("sys/class/leds/status")),
            reset_button: Some(p("dev/input/event0")),
            reset_key: 0x198,
            esp: p("efi"),
            root_a: p("dev/root-a"),
            root_b: p("dev/root-b"),
            cmdline: p("proc/cmdline"),
            wipe_flag: p("var/lib/outpost/factory-reset"),
            kernel_options: "console=ttyS0".into(),
            reboot_command: Vec::new(),
        };
        for dir in [&layout.dmi, &layout.net.join("eth0"), &p("sys/class/leds/status"), &p("dev/input"), &p("proc")] {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(layout.dmi.join("product_serial"), "SIM-0001\n")?;
        std::fs::write(layout.net.join("eth0/address"), "02:00:00:00:00:01\n")?;
        std::fs::write(&layout.watchdog, b"")?;
        std::fs::write(&layout.root_a, b"slot a")?;
        std::fs::write(&layout.root_b, b"")?;
        let conf = EntryConf { slot: SlotId::A, version: version.to_owned(), generation: 1 };
        crate::slots::write_initial_entry(&layout.esp, &conf, &layout.kernel_options).map_err(std::io::Error::other)?;
        let board = Self { layout };
        board.boot()?;
        Ok(board)
    }

    /// Power-on: systemd-boot's choice and try counting. Returns the slot that booted.
    pub fn boot(&self) -> std::io::Result<SlotId> {
        let ota = self.ota();
        let entries = ota.entries().map_err(std::io::Error::other)?;
        let first = select::boot_order(&entries)
            .first()
            .map(|f| f.name)
            .ok_or_else(|| std::io::Error::other("no boot entry"))?;
        let after = first.after_boot_attempt();
        let dir = self.layout.esp.join("loader/entries");
        std::fs::rename(dir.join(first.file_name()), dir.join(after.file_name()))?;
        std::fs::write(
            &self.layout.cmdline,
            format!("root=PARTLABEL=root-{s} ro outpost.slot={s} console=ttyS0\n", s = first.slot),
        )?;
        Ok(first.slot)
    }

    /// The directory everything lives under (for tests that look at files).
    pub fn esp(&self) -> PathBuf {
        self.layout.esp.clone()
    }
}

impl Board for Simulated {
    fn name(&self) -> &str {
        "simulated"
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }
}

#[cfg(test)]
mod tests {
    use embedded_svc::io::Write;
    use embedded_svc::ota::{Ota, OtaUpdate, SlotState};

    use super::*;
    use crate::slots::BootFiles;

    #[test]
    fn install_boots_the_other_slot_and_good_sticks() {
        let dir = tempfile::tempdir().unwrap();
        let board = Simulated::create(dir.path(), "0.1.0").unwrap();
        let mut ota = board.ota();
        assert_eq!(ota.get_running_slot().unwrap().label.as_str(), "a");
        assert_eq!(ota.get_running_slot().unwrap().state, SlotState::Valid);
        assert_eq!(ota.get_update_slot().unwrap().label.as_str(), "b");

        let mut w = ota.initiate_update().unwrap();
        w.set_version("0.2.0");
        w.set_tries(2);
        w.set_boot_files(BootFiles { kernel: b"kernel".to_vec(), initrd: b"initrd".to_vec() });
        w.write_all(b"new root").unwrap();
        w.complete().unwrap();
        assert_eq!(std::fs::read(dir.path().join("dev/root-b")).unwrap(), b"new root");
        assert_eq!(std::fs::read(board.esp().join("b/vmlinuz")).unwrap(), b"kernel");
        assert!(board.esp().join("loader/entries/outpost-b+2.conf").exists());
        let next = ota.get_boot_slot().unwrap();
        assert_eq!((next.label.as_str(), next.state), ("b", SlotState::Unverified));
        assert_eq!(next.firmware.unwrap().version.as_str(), "0.2.0");

        assert_eq!(board.boot().unwrap(), SlotId::B);
        ota.mark_running_slot_valid().unwrap();
        assert!(board.esp().join("loader/entries/outpost-b.conf").exists());
        assert_eq!(board.boot().unwrap(), SlotId::B, "stays on b");
        assert_eq!(board.boot().unwrap(), SlotId::B);
    }

    #[test]
    fn a_slot_never_marked_good_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let board = Simulated::create(dir.path(), "0.1.0").unwrap();
        let mut ota = board.ota();
        let mut w = ota.initiate_update().unwrap();
        w.set_tries(3);
        w.write_all(b"broken").unwrap();
        w.complete().unwrap();
        let booted: Vec<_> = (0..5).map(|_| board.boot().unwrap()).collect();
        assert_eq!(booted, [SlotId::B, SlotId::B, SlotId::B, SlotId::A, SlotId::A]);
        assert_eq!(ota.get_update_slot().unwrap().state, SlotState::Invalid);
    }

    #[test]
    fn invalid_and_aborted_slots_do_not_boot() {
        let dir = tempfile::tempdir().unwrap();
        let board = Simulated::create(dir.path(), "0.1.0").unwrap();
        let mut ota = board.ota();
        let w = ota.initiate_update().unwrap();
        w.abort().unwrap();
        assert_eq!(board.boot().unwrap(), SlotId::A);
        let mut w = ota.initiate_update().unwrap();
        w.write_all(b"root").unwrap();
        w.complete().unwrap();
        assert_eq!(board.boot().unwrap(), SlotId::B);
        let err = ota.mark_running_slot_invalid_and_reboot();
        assert!(err.to_string().contains("no reboot command"), "{err}");
        assert_eq!(board.boot().unwrap(), SlotId::A);
    }

    #[test]
    fn identity_led_and_factory_reset() {
        let dir = tempfile::tempdir().unwrap();
        let board = Simulated::create(dir.path(), "0.1.0").unwrap();
        let id = board.identity().unwrap();
        assert_eq!((id.serial.as_str(), id.mac_string().as_str()), ("SIM-0001", "02:00:00:00:00:01"));
        board.set_led(crate::LedState::Fault).unwrap();
        assert!(board.ota().is_factory_reset_supported().unwrap());
        board.request_factory_reset().unwrap();
        assert!(board.layout().wipe_flag.exists());
    }
}
