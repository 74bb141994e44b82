//! Which slot runs, which boots next, which an update writes: decided from the entry names and
//! the kernel command line alone, so that the rules are tested without a disk.

use embedded_svc::ota::SlotState;

use super::entry::{EntryConf, EntryName, SlotId};

/// One entry found on the ESP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: EntryName,
    pub conf: EntryConf,
}

/// The running slot, from `outpost.slot=` on the kernel command line.
pub fn running_slot(cmdline: &str) -> Option<SlotId> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix("outpost.slot=")).and_then(SlotId::parse)
}

/// The entries in systemd-boot's order (its `config_entry_compare` for entries that share a
/// sort-key): bad ones last, then the higher generation first, then the higher name first.
pub fn boot_order(entries: &[Found]) -> Vec<&Found> {
    let mut sorted: Vec<&Found> = entries.iter().collect();
    sorted.sort_by(|x, y| {
        x.name
            .is_bad()
            .cmp(&y.name.is_bad())
            .then(y.conf.generation.cmp(&x.conf.generation))
            .then(y.name.slot.cmp(&x.name.slot))
    });
    sorted
}

/// The slot systemd-boot boots next with no one at the menu: the first in [`boot_order`].
pub fn next_boot(entries: &[Found]) -> Option<SlotId> {
    boot_order(entries).first().map(|f| f.name.slot)
}

/// The state of a slot as the OTA traits name it.
pub fn state(entry: Option<&Found>) -> SlotState {
    match entry.map(|f| f.name) {
        None => SlotState::Invalid,
        Some(n) if n.is_bad() => SlotState::Invalid,
        Some(EntryName { tries_left: Some(_), .. }) => SlotState::Unverified,
        Some(_) => SlotState::Valid,
    }
}

/// The generation a new install gets: above every entry's, so it boots first.
pub fn next_generation(entries: &[Found]) -> u64 {
    entries.iter().map(|f| f.conf.generation).max().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, generation: u64) -> Found {
        let name = EntryName::parse(name).unwrap();
        Found { name, conf: EntryConf { slot: name.slot, version: "0.1.0".into(), generation } }
    }

    #[test]
    fn running_slot_comes_from_the_cmdline() {
        assert_eq!(running_slot("root=PARTLABEL=root-b ro outpost.slot=b quiet"), Some(SlotId::B));
        assert_eq!(running_slot("root=/dev/sda2 ro"), None);
        assert_eq!(running_slot("outpost.slot=c"), None);
    }

    #[test]
    fn newest_install_boots_first_until_it_runs_out_of_tries() {
        let a = found("outpost-a.conf", 1);
        assert_eq!(next_boot(&[a.clone(), found("outpost-b+3.conf", 2)]), Some(SlotId::B));
        assert_eq!(next_boot(&[a.clone(), found("outpost-b+1-2.conf", 2)]), Some(SlotId::B));
        assert_eq!(next_boot(&[a.clone(), found("outpost-b+0-3.conf", 2)]), Some(SlotId::A), "rollback");
        assert_eq!(next_boot(&[a.clone(), found("outpost-b.conf", 2)]), Some(SlotId::B));
        assert_eq!(next_boot(&[found("outpost-a+3.conf", 3), found("outpost-b.conf", 2)]), Some(SlotId::A));
        assert_eq!(next_boot(&[]), None);
    }

    #[test]
    fn states_and_generations() {
        assert_eq!(state(None), SlotState::Invalid);
        assert_eq!(state(Some(&found("outpost-a.conf", 1))), SlotState::Valid);
        assert_eq!(state(Some(&found("outpost-a+2-1.conf", 1))), SlotState::Unverified);
        assert_eq!(state(Some(&found("outpost-a+0-3.conf", 1))), SlotState::Invalid);
        assert_eq!(next_generation(&[found("outpost-a.conf", 4), found("outpost-b.conf", 2)]), 5);
        assert_eq!(next_generation(&[]), 1);
    }
}
