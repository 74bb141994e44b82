//! The site config: one versioned document describing tenants, extensions, devices, ring
//! groups, trunks, routes and DHCP scopes. `outpost config apply/export`, the admin API and the
//! cloud all read and write this one document; see `docs/site-config.md`.

pub mod doc;
pub mod forwarding;
pub mod validate;

pub use doc::*;
pub use validate::{normalize_mac, validate, FieldError};

use std::fmt;

/// Why a document could not be read or accepted. Carries every problem, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The text is not a well-formed document (syntax, unknown field, wrong type).
    #[error("{0}")]
    Syntax(String),
    /// Well-formed, but it does not make sense.
    #[error("{}", Listed(.0))]
    Invalid(Vec<FieldError>),
    /// Edited from another revision than the box's.
    #[error("the document was edited from revision {base}, but the box is at revision {current}: export again and redo the change")]
    Conflict { base: u64, current: u64 },
}

impl SiteError {
    /// Each problem as (field, reason), for API answers and cloud reports.
    pub fn reasons(&self) -> Vec<FieldError> {
        match self {
            SiteError::Invalid(list) => list.clone(),
            SiteError::Syntax(why) => vec![FieldError { field: String::new(), reason: why.clone() }],
            SiteError::Conflict { .. } => vec![FieldError { field: "revision".into(), reason: self.to_string() }],
        }
    }
}

struct Listed<'a>(&'a [FieldError]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the site config:", self.0.len())?;
        for e in self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

/// Reads and validates a TOML document. Syntax errors name the line and column.
pub fn from_toml(text: &str) -> Result<SiteDoc, SiteError> {
    let mut doc: SiteDoc = toml::from_str(text).map_err(|e| SiteError::Syntax(e.to_string()))?;
    validate(&mut doc).map_err(SiteError::Invalid)?;
    Ok(doc)
}

/// Writes a document as TOML, the format of `outpost config export`.
pub fn to_toml(doc: &SiteDoc) -> String {
    // Serialising plain structs of strings, numbers and lists cannot fail; keep a readable
    // fallback rather than a panic all the same.
    toml::to_string_pretty(doc).unwrap_or_else(|e| format!("# export failed: {e}\n"))
}

#[cfg(test)]
mod tests;
