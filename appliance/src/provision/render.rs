//! The vendor templates.
