//! Cloud sync: the MQTT protocol between box and fleet service, the box-side agent and the
//! fleet service (`outpost-fleet`).
//!
//! Not built yet: the cloud-sync issue fills this crate.
