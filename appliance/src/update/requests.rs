//! A reboot or a factory reset asked for by the daemon (web UI, API, a cloud command) and done
//! by root.
//!
//! The daemon runs unprivileged: it can neither reboot the box nor write the wipe flag on the
//! ESP. It leaves a request file in `<data_dir>/requests/`; on the image a path unit sees it
//! and starts `outpost update act-on-requests` as root, which removes every request and then
//! does the strongest (a factory reset includes the reboot). Outside the image nothing acts on
//! a request unless `[update] root_service` says a service of its own does: the pages and the
//! API say so.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of requests under the data directory.
pub const DIR: &str = "requests";

/// What root is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Request {
    Reboot,
    /// Wipe the data partition at the next boot (the reset button's flag), then reboot.
    FactoryReset,
}

impl Request {
    /// Strongest last.
    pub const ALL: [Request; 2] = [Request::Reboot, Request::FactoryReset];

    pub fn file_name(self) -> &'static str {
        match self {
            Request::Reboot => "reboot",
            Request::FactoryReset => "factory-reset",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Request::Reboot => "reboot",
            Request::FactoryReset => "factory reset",
        }
    }
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// Leaves `request` for root, naming who asked. Written under a temporary name beside the
/// folder, synced, then renamed into it: the path unit never starts on half a file.
pub fn place(data_dir: &Path, request: Request, by: &str) -> std::io::Result<()> {
    let folder = dir(data_dir);
    std::fs::create_dir_all(&folder)?;
    let temp = data_dir.join(format!(".request-{}.tmp", request.file_name()));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(format!("{by}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, folder.join(request.file_name()))?;
    crate::durable::sync_dir(&folder)
}

/// The requests waiting, strongest last.
pub fn pending(data_dir: &Path) -> Vec<Request> {
    Request::ALL.into_iter().filter(|r| dir(data_dir).join(r.file_name()).exists()).collect()
}

/// Removes every request and returns the strongest, with who asked: what root acts on. They
/// go before anything is done, so that the box never meets the same request after a reboot.
pub fn take(data_dir: &Path) -> std::io::Result<Option<(Request, String)>> {
    let folder = dir(data_dir);
    let mut strongest = None;
    for request in Request::ALL {
        let path = folder.join(request.file_name());
        let by = match std::fs::read_to_string(&path) {
            Ok(text) => text.lines().next().unwrap_or("").trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        std::fs::remove_file(&path)?;
        strongest = Some((request, if by.is_empty() { "someone".to_owned() } else { by }));
    }
    if strongest.is_some() {
        crate::durable::sync_dir(&folder)?;
    }
    Ok(strongest)
}

/// Whether this host runs the Outpost image, whose root service acts on requests (and
/// installs staged bundles). A development run of the daemon on a workstation must never
/// reboot the workstation.
pub fn on_outpost_image() -> bool {
    std::fs::read_to_string("/usr/lib/os-release").is_ok_and(|t| t.lines().any(|l| l.trim() == "IMAGE_ID=outpost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placed_request_waits_until_taken_once_with_who_asked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(pending(dir.path()).is_empty());
        assert_eq!(take(dir.path()).unwrap(), None, "nothing asked, nothing done");
        place(dir.path(), Request::Reboot, "ui:admin").unwrap();
        assert_eq!(pending(dir.path()), vec![Request::Reboot]);
        assert_eq!(take(dir.path()).unwrap(), Some((Request::Reboot, "ui:admin".to_owned())));
        assert!(pending(dir.path()).is_empty(), "taken means gone: a reboot does not meet it again");
        assert_eq!(take(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_factory_reset_wins_over_a_reboot_and_both_go() {
        let dir = tempfile::tempdir().unwrap();
        place(dir.path(), Request::FactoryReset, "api:admin").unwrap();
        place(dir.path(), Request::Reboot, "cloud").unwrap();
        assert_eq!(pending(dir.path()), vec![Request::Reboot, Request::FactoryReset]);
        assert_eq!(take(dir.path()).unwrap(), Some((Request::FactoryReset, "api:admin".to_owned())));
        assert!(pending(dir.path()).is_empty());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(DIR)], "no temporary file is left behind");
    }
}
