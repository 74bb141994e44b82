//! Which vendor, file kind and MAC a requested path names, with each vendor's own file names.
