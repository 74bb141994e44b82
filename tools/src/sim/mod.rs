//! `phone-sim`: simulated desk phones for tests and load. Each does what a real phone does on
//! a cold boot — (DHCP →) TFTP bootstrap → HTTPS config file → REGISTER with the credentials
//! it found — using the same protocols on the wire, so the box cannot tell them from phones.

pub mod boot;
pub mod dhcp;
pub mod habits;
pub mod profile;
pub mod sip;
pub mod tftp;
