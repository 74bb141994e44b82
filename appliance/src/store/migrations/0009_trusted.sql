-- Trusted networks added on the box (the web UI's security page), beside the allowlists of
-- outpost.toml: never rate-limited or banned by SIP or provisioning.
CREATE TABLE trusted_networks (
    cidr      TEXT PRIMARY KEY,             -- as Cidr displays it: 192.168.10.0/24, fd00::/8
    note      TEXT NOT NULL DEFAULT '',
    added_at  INTEGER NOT NULL,             -- Unix seconds
    added_by  TEXT NOT NULL                 -- the audit log's actor
);
