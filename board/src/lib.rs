//! Board support: what differs per hardware (identity, watchdog, LEDs, reset button, A/B slots).
//!
//! Not built yet: the image issue fills this crate. It is in the workspace so that the layout
//! in `DESIGN.md` holds from the first commit.
