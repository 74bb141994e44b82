//! Trunks: health probing, outbound registration, DNS targets and survivable mode (being built).
