//! Every document carries `schema`. A reader checks it before anything else, so that a document
//! written by a newer peer is refused with a reason instead of being half understood.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The schema version this build writes and the newest it reads.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("document of schema {found}: this build reads schema {supported} and older; upgrade it")]
    Newer { found: u32, supported: u32 },
    #[error("document without a `schema` field")]
    NoSchema,
    #[error("schema 0 is not a valid document version")]
    ZeroSchema,
    #[error("malformed document: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Head {
    schema: Option<u32>,
}

/// Decodes a document after checking its schema (unknown fields are refused by the types).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let head: Head = serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match head.schema {
        None => return Err(DecodeError::NoSchema),
        Some(0) => return Err(DecodeError::ZeroSchema),
        Some(found) if found > SCHEMA => return Err(DecodeError::Newer { found, supported: SCHEMA }),
        Some(_) => {}
    }
    serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Encodes a document as JSON. Our documents are plain structs: this cannot fail in practice,
/// and a failure yields an empty object that every reader refuses (no schema) rather than a panic.
pub fn encode<T: Serialize>(doc: &T) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn a_newer_schema_is_refused_with_its_number() {
        let bytes = br#"{"schema":2,"state":"online","boot_seq":1,"version":"9","at":1,"new_field":true}"#;
        assert_eq!(decode::<Status>(bytes), Err(DecodeError::Newer { found: 2, supported: 1 }));
    }

    #[test]
    fn missing_or_zero_schema_and_garbage_are_refused() {
        assert_eq!(decode::<Status>(br#"{"state":"online"}"#), Err(DecodeError::NoSchema));
        assert_eq!(decode::<Status>(br#"{"schema":0}"#), Err(DecodeError::ZeroSchema));
        assert!(matches!(decode::<Status>(b"\xff\x00"), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode::<Status>(br#"{"schema":1,"state":"asleep"}"#), Err(DecodeError::Malformed(_))));
    }
}
