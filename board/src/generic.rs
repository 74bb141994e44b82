//! The generic x86-64 board: what qemu and most mini-PCs are. UEFI with systemd-boot, the ESP
//! mounted at `/efi`, root slots found by GPT partition label, a watchdog if the kernel found
//! one (qemu: `-device i6300esb`), and usually neither a status LED nor a reset button.

use std::path::PathBuf;

use crate::{Board, Layout};

/// The generic x86-64 board.
#[derive(Clone, Debug)]
pub struct GenericX86 {
    layout: Layout,
}

impl GenericX86 {
    /// The board with its standard paths. A status LED or reset button, where a box has them,
    /// is named by `OUTPOST_STATUS_LED` (a `/sys/class/leds/...` directory) and
    /// `OUTPOST_RESET_BUTTON` (a `/dev/input/...` device) in the daemon's environment.
    pub fn new() -> Self {
        let env_path = |name| std::env::var_os(name).map(PathBuf::from);
        Self {
            layout: Layout {
                dmi: "/sys/class/dmi/id".into(),
                net: "/sys/class/net".into(),
                watchdog: "/dev/watchdog".into(),
                status_led: env_path("OUTPOST_STATUS_LED"),
                reset_button: env_path("OUTPOST_RESET_BUTTON"),
                reset_key: 0x198,
                esp: "/efi".into(),
                root_a: "/dev/disk/by-partlabel/root-a".into(),
                root_b: "/dev/disk/by-partlabel/root-b".into(),
                cmdline: "/proc/cmdline".into(),
                wipe_flag: "/var/lib/outpost/factory-reset".into(),
                // tsc=reliable: the TSC stays the clock source (a box's CPU has an invariant TSC;
                // under qemu TCG the kernel would fall back to the HPET, whose every read leaves
                // the guest). cryptomgr.notests: the kernel's self-tests of its own crypto code
                // cost 0.6 s of each boot under TCG. The same options as image/build's first entry.
                kernel_options: "tsc=reliable cryptomgr.notests console=tty0 console=ttyS0,115200".into(),
                reboot_command: vec!["systemctl".into(), "reboot".into()],
            },
        }
    }
}

impl Default for GenericX86 {
    fn default() -> Self {
        Self::new()
    }
}

impl Board for GenericX86 {
    fn name(&self) -> &str {
        "generic-x86_64"
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }
}
