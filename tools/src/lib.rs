//! The pieces of `outpostctl`, the admin CLI that talks to a box over its HTTPS REST API, and
//! of `phone-sim`, the simulated phones.
//!
//! Layout:
//! - `pin`: trust exactly the box's own certificate (loaded from `--cacert`), nothing else.
//! - `client`: the HTTP client; turns API error answers into [`client::ClientError::Api`].
//! - `session`: where the login is kept between commands, and how it is written (0600).
//! - `cli`: the command line (clap), so the binary only dispatches.
//! - `table`: plain-text tables for the `list` commands.
//! - `sim`: phone-sim's protocols (SIP registration, TFTP; DHCP and HTTPS provisioning).
//! - `flash`: `outpost-flash`'s safety rules (which disks it refuses) and hashing.
//!
//! Errors here are `thiserror` enums; only the binary turns them into messages and exit codes.

pub mod cli;
pub mod client;
pub mod flash;
pub mod pin;
pub mod session;
pub mod sim;
pub mod table;
