//! Cloud sync: the MQTT protocol between an Outpost box and the fleet service (`docs/sync-protocol.md`).
//!
//! This crate is the wire contract both sides share: it does no I/O (but `link`) and knows nothing of the
//! box's store. The site config travels as JSON with its revision; the box validates it.
//!
//! # Layout
//! - `topic`: box ids and the topics under `outpost/v1/<box-id>/`, built and parsed.
//! - `codec`: the `schema` rule: a document of a newer schema is refused, never misread.
//! - `config`: `Desired` (cloud → box) and `Reported` (box → cloud) with the revision rules.
//! - `status`: `Status` (retained, last will) and `StatusBoard` (the highest boot wins).
//! - `telemetry`, `command`: `Telemetry`; `Command`/`CommandResult` (idempotent by id).
//! - `backup`: the manifest of an encrypted, chunked backup and how its chunks are sealed.
//! - `claim`: the HTTP exchange that claims a box into a tenant (or as a dead box's replacement).
//! - `password`: password hashes and random secrets, one scheme for both sides.
//! - `link`: the one module with I/O: the MQTT client both sides use (MQTT 5, else 3.1.1).

pub mod backup;
pub mod claim;
pub mod codec;
pub mod command;
pub mod config;
pub mod link;
pub mod password;
pub mod status;
pub mod telemetry;
pub mod topic;

pub use codec::{decode, encode, DecodeError, SCHEMA};
pub use command::{Command, CommandKind, CommandOutcome, CommandResult, Ledger};
pub use config::{Desired, Outcome, Reason, Reported};
pub use status::{BoxState, Status, StatusBoard};
pub use telemetry::Telemetry;
pub use topic::{BoxId, Topic, TopicError};
