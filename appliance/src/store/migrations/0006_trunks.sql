-- Trunks and survivable routing (docs/trunks.md): the new fields of the site config, kept as
-- JSON next to the columns they belong with, the trunk that carried each call, and the log of
-- trunk state and survivable-mode changes.
ALTER TABLE site_meta ADD COLUMN survivable TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN routing TEXT NOT NULL DEFAULT '{}';      -- blocked, remote_sites, holidays
ALTER TABLE extensions ADD COLUMN caller_id TEXT;
ALTER TABLE trunks ADD COLUMN options TEXT NOT NULL DEFAULT '{}';       -- register, domain, caller_id, codecs, health

-- Several routes per DID now (by caller, days and hours, first open wins): no UNIQUE (tenant, did).
CREATE TABLE inbound_routes_new (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    did          TEXT NOT NULL,
    destination  TEXT NOT NULL,
    conditions   TEXT NOT NULL DEFAULT '{}'                             -- caller, days, hours
);
INSERT INTO inbound_routes_new (id, tenant_id, did, destination) SELECT id, tenant_id, did, destination FROM inbound_routes;
DROP TABLE inbound_routes;
ALTER TABLE inbound_routes_new RENAME TO inbound_routes;
CREATE INDEX inbound_routes_did ON inbound_routes (tenant_id, did);

ALTER TABLE cdrs ADD COLUMN trunk TEXT;

CREATE TABLE trunk_events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,                 -- Unix seconds
    tenant  TEXT,                             -- NULL for the site's mode
    trunk   TEXT,
    kind    TEXT NOT NULL,                    -- up, down, registered, unregistered, survivable, normal
    reason  TEXT NOT NULL
);
CREATE INDEX trunk_events_at ON trunk_events (at);
