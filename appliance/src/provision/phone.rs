//! A device's settings, taken from the site config.
