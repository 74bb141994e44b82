//! Board support: what differs per hardware (identity, watchdog, status LED, factory-reset
//! button, A/B slots), behind one small interface, so that the daemon and the updater are
//! written once and a new box is a new [`Layout`] (docs/board.md).
//!
//! Boards differ mostly in *where* things are (which sysfs LED, which input device, which
//! partitions), so a board is a [`Layout`] of paths plus a name. The simulated board is the same
//! code on a directory tree, which is what the tests drive.
//!
//! # Layout
//! - [`identity`]: serial number and base MAC, from DMI and the first wired interface.
//! - [`watchdog`]: when to pet (pure policy) and `/dev/watchdog` with magic close.
//! - [`led`]: status LED states and the sysfs LED patterns that show them.
//! - [`button`]: the factory-reset button: evdev events, the 10 s hold, the wipe flag.
//! - [`slots`]: A/B root slots with systemd-boot boot counting, implementing
//!   `embedded_svc::ota` (entry names and selection are pure; the driver works on files).
//! - [`generic`]: the generic x86-64 board (qemu, most mini-PCs); [`sim`]: the simulated board.

pub mod button;
pub mod generic;
pub mod identity;
pub mod led;
pub mod sim;
pub mod slots;
pub mod watchdog;

use std::path::PathBuf;

pub use identity::Identity;
pub use led::LedState;
pub use slots::{AbOta, Slot};

/// Where a board keeps each of the things this crate drives. Every path is absolute on a real
/// board; on the simulated board they all live under one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// DMI identity directory (`/sys/class/dmi/id`): `product_serial`, `product_uuid`.
    pub dmi: PathBuf,
    /// Network interfaces (`/sys/class/net`): the base MAC is the first wired one's.
    pub net: PathBuf,
    /// The hardware watchdog device (`/dev/watchdog`).
    pub watchdog: PathBuf,
    /// The status LED's sysfs directory (`/sys/class/leds/<name>`), if the board has one.
    pub status_led: Option<PathBuf>,
    /// The evdev device of the factory-reset button, if the board has one.
    pub reset_button: Option<PathBuf>,
    /// The key code the reset button reports (`KEY_RESTART` = 0x198 on most boards).
    pub reset_key: u16,
    /// Where the ESP is mounted (`/efi`): systemd-boot's `loader/entries` and the slots' kernels.
    pub esp: PathBuf,
    /// The block devices (or, simulated, files) of root slot A and B.
    pub root_a: PathBuf,
    /// See `root_a`.
    pub root_b: PathBuf,
    /// The kernel command line (`/proc/cmdline`): `outpost.slot=` names the running slot.
    pub cmdline: PathBuf,
    /// The flag file that asks the data-partition setup to wipe data on the next boot: at the
    /// top of the data partition itself (the wipe takes it along), where the setup finds it
    /// before mounting. Not on the ESP: the setup would then wait for the ESP's check and
    /// mount, a second of every boot on the way to SIP-ready.
    pub wipe_flag: PathBuf,
    /// Kernel options every boot entry gets (console, quiet) after the slot's root options.
    pub kernel_options: String,
    /// The command that reboots the box (`systemctl reboot`); empty on the simulated board.
    pub reboot_command: Vec<String>,
}

/// One kind of hardware. The default methods read the [`Layout`]; a board whose hardware works
/// differently (a GPIO LED, an I2C EEPROM serial) overrides the method concerned.
pub trait Board {
    /// A short name for logs and `outpost update status` (`generic-x86_64`, `simulated`).
    fn name(&self) -> &str;

    /// Where this board keeps things.
    fn layout(&self) -> &Layout;

    /// Serial number and base MAC.
    fn identity(&self) -> Result<Identity, identity::IdentityError> {
        identity::read(self.layout())
    }

    /// Shows a state on the status LED; a board without one does nothing.
    fn set_led(&self, state: LedState) -> Result<(), led::LedError> {
        match &self.layout().status_led {
            Some(dir) => led::SysfsLed::new(dir.clone()).show(state),
            None => Ok(()),
        }
    }

    /// The A/B slot control (`embedded_svc::ota::Ota`).
    fn ota(&self) -> AbOta {
        AbOta::new(self.layout().clone())
    }

    /// Asks for the data partition to be wiped on the next boot (what a 10 s press does).
    fn request_factory_reset(&self) -> std::io::Result<()> {
        button::request_wipe(&self.layout().wipe_flag)
    }
}
