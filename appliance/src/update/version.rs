//! Firmware versions (`major.minor.patch`), compared numerically so that 0.10.0 is newer than
//! 0.9.0. A pre-release or build suffix (`-rc1`, `+g1234`) is kept for display but ignored in
//! comparisons: two builds of one version are the same version, and re-installing it is allowed.

use std::cmp::Ordering;
use std::fmt;

/// A parsed version.
#[derive(Clone, Debug, Eq)]
pub struct Version {
    parts: [u64; 3],
    text: String,
}

/// Why a version string was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a version (expected major.minor.patch, e.g. 0.2.0)")]
pub struct BadVersion(pub String);

impl Version {
    /// Parses `1.2.3`, `1.2.3-rc1` or `1.2.3+build`.
    pub fn parse(text: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(text.to_owned());
        let core = text.trim().split(['-', '+']).next().ok_or_else(bad)?;
        let mut parts = [0u64; 3];
        let mut fields = core.split('.');
        for part in &mut parts {
            *part = fields.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        }
        if fields.next().is_some() {
            return Err(bad());
        }
        Ok(Self { parts, text: text.trim().to_owned() })
    }

    /// 0.0.0: what an unknown running version counts as (any bundle is an upgrade).
    pub fn zero() -> Self {
        Self { parts: [0; 3], text: "0.0.0".into() }
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("0.10.0") > v("0.9.9"));
        assert!(v("1.0.0") > v("0.99.99"));
        assert_eq!(v("0.2.0-rc1"), v("0.2.0+g12"));
        assert_eq!(v("0.2.0-rc1").as_str(), "0.2.0-rc1");
        for bad in ["", "1", "1.2", "1.2.3.4", "a.b.c", "1.2.x"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}
