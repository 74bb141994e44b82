-- DHCP leases, as the DHCP server writes them. 0001 had a placeholder table that no code ever
-- wrote (no DHCP server existed): it is replaced, with the vendor column and a checked state.
-- The address is the key: one address, one holder, whatever the driver does. Expired leases
-- stay (until the address is given to someone else) so that a client gets its address back.
-- Offers are not stored: an offer lost in a restart costs the client one more DISCOVER.
DROP INDEX IF EXISTS dhcp_leases_mac;
DROP TABLE IF EXISTS dhcp_leases;
CREATE TABLE dhcp_leases (
    ip         TEXT PRIMARY KEY,
    mac        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('bound', 'declined')),
    expires_at INTEGER NOT NULL,
    hostname   TEXT NOT NULL DEFAULT '',
    vendor     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dhcp_leases_mac ON dhcp_leases (mac);
