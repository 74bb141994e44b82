//! systemd-boot entries of the two slots, with boot counting in the file name (the Boot Loader
//! Specification's scheme): `outpost-a+3.conf` has three tries left and none done;
//! systemd-boot renames it `outpost-a+2-1.conf` when it boots it, and a slot whose tries reach
//! `+0-3` is "bad" and sorted after every good one, which is the rollback. Marking a slot good
//! renames it to `outpost-a.conf` (no counter: never counted again).
//!
//! Pure: names and contents in, names and contents out.

use std::fmt;

/// One of the two root slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlotId {
    A,
    B,
}

impl SlotId {
    /// The other slot (the one an update writes).
    pub fn other(self) -> Self {
        match self {
            SlotId::A => SlotId::B,
            SlotId::B => SlotId::A,
        }
    }

    /// `a` or `b`, as in partition labels (`root-a`), entry names and `outpost.slot=`.
    pub fn letter(self) -> &'static str {
        match self {
            SlotId::A => "a",
            SlotId::B => "b",
        }
    }

    /// Parses `a` or `b`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "a" => Some(SlotId::A),
            "b" => Some(SlotId::B),
            _ => None,
        }
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// A parsed entry file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryName {
    pub slot: SlotId,
    /// `None`: no counter (a slot marked good).
    pub tries_left: Option<u32>,
    pub tries_done: u32,
}

impl EntryName {
    /// The name of a freshly installed slot with `tries` boots to prove itself.
    pub fn fresh(slot: SlotId, tries: u32) -> Self {
        Self { slot, tries_left: Some(tries), tries_done: 0 }
    }

    /// The name of a slot marked good.
    pub fn good(slot: SlotId) -> Self {
        Self { slot, tries_left: None, tries_done: 0 }
    }

    /// Parses `outpost-<slot>[+<left>[-<done>]].conf`; other files in `loader/entries` are
    /// not ours and give `None`.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(".conf")?.strip_prefix("outpost-")?;
        let (slot, counter) = match stem.split_once('+') {
            Some((slot, counter)) => (slot, Some(counter)),
            None => (stem, None),
        };
        let slot = SlotId::parse(slot)?;
        let Some(counter) = counter else {
            return Some(Self::good(slot));
        };
        let (left, done) = match counter.split_once('-') {
            Some((l, d)) => (l, d.parse().ok()?),
            None => (counter, 0),
        };
        Some(Self { slot, tries_left: Some(left.parse().ok()?), tries_done: done })
    }

    /// The file name (`outpost-b+2-1.conf`).
    pub fn file_name(&self) -> String {
        match (self.tries_left, self.tries_done) {
            (None, _) => format!("outpost-{}.conf", self.slot),
            (Some(left), 0) => format!("outpost-{}+{left}.conf", self.slot),
            (Some(left), done) => format!("outpost-{}+{left}-{done}.conf", self.slot),
        }
    }

    /// Out of tries: systemd-boot sorts it last, so the other slot boots.
    pub fn is_bad(&self) -> bool {
        self.tries_left == Some(0)
    }

    /// What systemd-boot does when it boots this entry (one try used).
    pub fn after_boot_attempt(&self) -> Self {
        match self.tries_left {
            Some(left) if left > 0 => Self { tries_left: Some(left - 1), tries_done: self.tries_done + 1, ..*self },
            _ => *self,
        }
    }

    /// Out of tries now: what "mark invalid" does.
    pub fn exhausted(&self) -> Self {
        let done = self.tries_done + self.tries_left.unwrap_or(0);
        Self { tries_left: Some(0), tries_done: done.max(1), ..*self }
    }
}

/// What an entry file says besides its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryConf {
    pub slot: SlotId,
    /// The firmware version in the slot (shown in the boot menu's title).
    pub version: String,
    /// Install generation: each install takes the highest plus one, and systemd-boot puts the
    /// higher `version` field first among good entries, so the newest install boots first.
    pub generation: u64,
}

impl EntryConf {
    /// The entry file text. Kernel and initrd live in the slot's own ESP directory, so that an
    /// update carries its kernel with it. `options` are the board's kernel options.
    pub fn render(&self, options: &str) -> String {
        let s = self.slot;
        format!(
            "title Outpost {v} (slot {s})\nsort-key outpost\nversion {g}\nlinux /{s}/vmlinuz\ninitrd /{s}/initrd.img\n\
             options root=PARTLABEL=root-{s} rootfstype=squashfs ro outpost.slot={s} {options}\n",
            v = self.version,
            g = self.generation,
        )
    }

    /// Reads back an entry written by [`EntryConf::render`]; `None` for anything else.
    pub fn parse(slot: SlotId, text: &str) -> Option<Self> {
        let mut version = None;
        let mut generation = None;
        for line in text.lines() {
            match line.trim().split_once(' ') {
                Some(("title", t)) => {
                    version = t.strip_prefix("Outpost ")?.split_whitespace().next().map(str::to_owned)
                }
                Some(("version", g)) => generation = g.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Self { slot, version: version?, generation: generation? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_counting_names_round_trip() {
        for (name, left, done) in [
            ("outpost-a+3.conf", Some(3), 0),
            ("outpost-b+2-1.conf", Some(2), 1),
            ("outpost-b+0-3.conf", Some(0), 3),
            ("outpost-a.conf", None, 0),
        ] {
            let e = EntryName::parse(name).unwrap();
            assert_eq!((e.tries_left, e.tries_done), (left, done), "{name}");
            assert_eq!(e.file_name(), name);
        }
        for other in ["debian.conf", "outpost-c.conf", "outpost-a+x.conf", "outpost-a+1-.conf", "outpost-a"] {
            assert_eq!(EntryName::parse(other), None, "{other}");
        }
    }

    #[test]
    fn tries_count_down_to_bad() {
        let mut e = EntryName::fresh(SlotId::B, 3);
        let mut names = vec![e.file_name()];
        for _ in 0..4 {
            e = e.after_boot_attempt();
            names.push(e.file_name());
        }
        assert_eq!(
            names,
            [
                "outpost-b+3.conf",
                "outpost-b+2-1.conf",
                "outpost-b+1-2.conf",
                "outpost-b+0-3.conf",
                "outpost-b+0-3.conf"
            ]
        );
        assert!(e.is_bad());
        assert_eq!(EntryName::fresh(SlotId::A, 3).exhausted().file_name(), "outpost-a+0-3.conf");
        assert!(!EntryName::good(SlotId::A).after_boot_attempt().is_bad());
    }

    #[test]
    fn entry_text_round_trips() {
        let c = EntryConf { slot: SlotId::B, version: "0.2.0".into(), generation: 7 };
        let text = c.render("console=ttyS0,115200");
        assert!(text.contains("options root=PARTLABEL=root-b rootfstype=squashfs ro outpost.slot=b console=ttyS0"));
        assert!(text.contains("linux /b/vmlinuz\n"));
        assert_eq!(EntryConf::parse(SlotId::B, &text), Some(c));
        assert_eq!(EntryConf::parse(SlotId::B, "title Debian\n"), None);
    }
}
